"""The ANU QRNG JSON API: its query, its answers and its refusals, as pure functions.

The legacy ANU service answered ``GET /API/jsonI.php?length=L&type=T&size=S`` with::

    {"type": "uint8", "length": 3, "data": [17, 250, 3], "success": true}
    {"type": "string", "length": 2, "size": 4, "data": ["9b0e11fa", "03c4d2a7"], "success": true}

``diamp`` serves the same (``/API/jsonI.php`` and ``/v1/random/json``) from consecutive pool
bytes ``b_0 b_1 …`` of one draw, in order:

==========  =====================  ===========================================================
``type``    bytes per element      element ``i``
==========  =====================  ===========================================================
``uint8``   1                      the integer ``b_i`` (0–255)
``uint16``  2                      ``256·b_2i + b_2i+1`` (big-endian, 0–65535)
``hex16``   ``size``               the bytes ``b_(i·size)`` … as ``2·size`` lowercase hex
                                   digits, most significant nibble first (ANU: ``"type":
                                   "string"`` with ``"size"``)
``hex8``    ``size``               the same strings (the type of ANU's later API; answered
                                   with ``"type": "hex8"`` and ``"size"``)
==========  =====================  ===========================================================

``length`` is 1 … the server's ``max_json_length`` (ANU: 1024), ``size`` 1 … 1024 (checked
for every type, used by the hex types; ANU: 1–1024); ``type`` defaults to ``uint8`` and
``size`` to 1. Every refusal is ``{"success": false, "message": "…"}``.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import unquote_to_bytes

__all__ = [
    "MAX_LENGTH",
    "MAX_SIZE",
    "TYPES",
    "AnuQuery",
    "AnuRefusal",
    "anu_body",
    "anu_error",
    "parse_anu_query",
]

AnuType = Literal["uint8", "uint16", "hex16", "hex8"]
TYPES: tuple[AnuType, ...] = ("uint8", "uint16", "hex16", "hex8")
MAX_LENGTH = 1 << 16
"""Largest ``length`` any config allows (``[server] max_json_length`` is at most this)."""
MAX_SIZE = 1024
"""Largest ``size`` (ANU's limit)."""
_KEYS = ("length", "type", "size", "tier")
_TIER = re.compile(r"[A-Za-z0-9._-]{1,64}\Z")
_DIGITS = re.compile(r"[0-9]{1,9}\Z")


class AnuRefusal(ValueError):
    """A request the ANU API refuses: ``status`` (422 or 413) and a one-line ``message``."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.message, self.status = message, status


@dataclass(frozen=True)
class AnuQuery:
    """A valid ANU request: ``length`` elements of ``type``, ``size`` bytes per hex string."""

    length: int
    type: AnuType = "uint8"
    size: int = 1
    tier: str | None = None

    @property
    def nbytes(self) -> int:
        """Pool bytes the answer takes."""
        per = {"uint8": 1, "uint16": 2}.get(self.type, self.size)
        return self.length * per


def _shown(raw: str) -> str:
    return repr(raw if len(raw) <= 24 else raw[:24] + "…")


def _integer(name: str, raw: str, high: int) -> int:
    if _DIGITS.match(raw) is None or not 1 <= int(raw) <= high:
        raise AnuRefusal(f"{name} must be an integer from 1 to {high}, found {_shown(raw)}")
    return int(raw)


def _fields(query: bytes) -> dict[str, str]:
    if len(query) > 1024:
        raise AnuRefusal(f"query of {len(query)} bytes; an ANU query is at most 1024")
    found: dict[str, str] = {}
    for item in query.split(b"&"):
        if not item:  # "?length=1&": an empty item is nothing
            continue
        key_raw, _, value_raw = item.partition(b"=")
        try:
            key = unquote_to_bytes(key_raw.replace(b"+", b" ")).decode("ascii")
            value = unquote_to_bytes(value_raw.replace(b"+", b" ")).decode("ascii")
        except UnicodeDecodeError as err:
            raise AnuRefusal("query parameters must be ASCII") from err
        if key not in _KEYS:
            raise AnuRefusal(f"unknown parameter {_shown(key)}; parameters: {', '.join(_KEYS)}")
        if key in found:
            raise AnuRefusal(f"parameter {key!r} given twice")
        found[key] = value
    return found


def parse_anu_query(query: bytes, max_length: int) -> AnuQuery:
    """The request in a raw query string (as on the request line, percent-encoded).

    Raises
    ------
    AnuRefusal
        422 naming the parameter for a missing, repeated, unknown, non-integer or
        out-of-range one (``length`` above :data:`MAX_LENGTH`, ``size`` above
        :data:`MAX_SIZE`); 413 for a ``length`` within those but above ``max_length``.
    """
    found = _fields(query)
    if "length" not in found:
        raise AnuRefusal(f"length is required (an integer from 1 to {max_length})")
    length = _integer("length", found["length"], MAX_LENGTH)
    if length > max_length:
        raise AnuRefusal(f"length must be at most {max_length}, found {length}", 413)
    kind = found.get("type", "uint8")
    if kind not in TYPES:
        raise AnuRefusal(f"type must be one of {', '.join(TYPES)}, found {_shown(kind)}")
    size = _integer("size", found["size"], MAX_SIZE) if "size" in found else 1
    tier = found.get("tier")
    if tier is not None and _TIER.match(tier) is None:
        raise AnuRefusal(f"tier must be 1 to 64 of A-Za-z0-9._-, found {_shown(tier)}")
    return AnuQuery(length, kind, size, tier)


def anu_body(query: AnuQuery, data: bytes) -> dict[str, Any]:
    """The ANU answer made of ``data`` (exactly ``query.nbytes`` bytes; module docs).

    Raises
    ------
    ValueError
        If ``data`` is not ``query.nbytes`` long.
    """
    if len(data) != query.nbytes:
        raise ValueError(f"{query.nbytes} bytes needed, given {len(data)}")
    if query.type == "uint8":
        return {"type": "uint8", "length": query.length, "data": list(data), "success": True}
    if query.type == "uint16":
        values = list(struct.unpack(f">{query.length}H", data))
        return {"type": "uint16", "length": query.length, "data": values, "success": True}
    size = query.size
    strings = [data[i : i + size].hex() for i in range(0, len(data), size)]
    kind = "string" if query.type == "hex16" else "hex8"
    return {"type": kind, "length": query.length, "size": size, "data": strings, "success": True}


def anu_error(message: str) -> dict[str, Any]:
    """The ANU refusal body."""
    return {"success": False, "message": message}
