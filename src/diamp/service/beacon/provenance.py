"""Where a pulse's randomness came from: the source protocol and the ``external`` block.

The engine takes its ``localRandomValue`` from a ``source(nbytes) -> Draw``; the service pool
satisfies :class:`RandomSource`. ``Draw.dira_certificates`` lists the SHA-512 (hex) of the
DIRA run certificate files whose keys contributed.

The DIRA evidence travels in the signed ``external`` block of the pulse that *reveals* the
value (the one whose ``localRandomValue`` it is):

- one DIRA certificate, no operator value: ``external.sourceId`` = :data:`DIRA_SOURCE_ID`
  (SHA-512 of ``b"diamp:external:dira-run-certificate:v1"``) and ``external.value`` = the
  certificate's SHA-512 itself, so ``GET /v1/certificates/{external.value}`` fetches the
  Bell-test evidence;
- several certificates and/or an operator's external value: ``sourceId`` =
  :data:`COMBINED_SOURCE_ID` and ``value`` = SHA-512(operator sourceId ‖ operator statusCode
  (4 bytes, big-endian) ‖ operator value ‖ d_1 ‖ … ‖ d_k), the operator part present only when
  there is one and d_i the raw 64-byte digests in the order the pool used them;
- operator value only: the operator's own ``sourceId``, ``statusCode`` and ``value``;
- neither: zeros, as NIST publishes.

The JSON ``external`` object then also lists ``diraCertificates`` (hex) and, when combined,
``operatorExternal``; these keys are not signed but are bound to the signed value, and the
verifier checks the binding.
"""

from __future__ import annotations

import hashlib
import os
import re
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from diamp.service.beacon.pulse import HASH_BYTES, External

__all__ = [
    "COMBINED_SOURCE_ID",
    "DIRA_SOURCE_ID",
    "Draw",
    "ExternalValue",
    "RandomSource",
    "SimpleDraw",
    "check_external",
    "external_block",
    "urandom_source",
]

DIRA_SOURCE_ID = hashlib.sha512(b"diamp:external:dira-run-certificate:v1").digest()
COMBINED_SOURCE_ID = hashlib.sha512(b"diamp:external:combined:v1").digest()
_DIGEST = re.compile(r"^[0-9a-f]{128}$")


class Draw(Protocol):
    """Bytes taken from the service pool and the DIRA certificates behind them."""

    @property
    def data(self) -> bytes:
        """The random bytes."""
        ...

    @property
    def dira_certificates(self) -> tuple[str, ...]:
        """SHA-512 (lower-case hex) of each contributing DIRA run certificate file."""
        ...


RandomSource = Callable[[int], Draw]


@dataclass(frozen=True)
class SimpleDraw:
    """A :class:`Draw` for tests and stand-alone beacons."""

    data: bytes
    dira_certificates: tuple[str, ...] = ()


def urandom_source(nbytes: int) -> SimpleDraw:
    """Operating-system randomness (no DIRA evidence): for tests and demos."""
    return SimpleDraw(os.urandom(nbytes))


@dataclass(frozen=True)
class ExternalValue:
    """An operator-supplied external value (NISTIR 8213 ``external``)."""

    source_id: bytes
    status_code: int
    value: bytes


def _digests(certificates: tuple[str, ...]) -> list[bytes]:
    for cert in certificates:
        if _DIGEST.match(cert) is None:
            raise ValueError(f"DIRA certificate digest is not 128 lower-case hex: {cert!r}")
    return [bytes.fromhex(c) for c in certificates]


def _combined(operator: ExternalValue | None, digests: list[bytes]) -> bytes:
    head = b""
    if operator is not None:
        head = operator.source_id + struct.pack(">I", operator.status_code) + operator.value
    return hashlib.sha512(head + b"".join(digests)).digest()


def external_block(certificates: tuple[str, ...], operator: ExternalValue | None) -> External:
    """The ``external`` block of a pulse whose value came with ``certificates``."""
    digests = _digests(certificates)
    extension: list[tuple[str, Any]] = []
    if certificates:
        extension.append(("diraCertificates", list(certificates)))
    if not digests:
        if operator is None:
            return External()
        return External(operator.source_id, operator.status_code, operator.value)
    if operator is None and len(digests) == 1:
        return External(DIRA_SOURCE_ID, 0, digests[0], tuple(extension))
    if operator is not None:
        extension.append(("operatorExternal", _operator_json(operator)))
    return External(COMBINED_SOURCE_ID, 0, _combined(operator, digests), tuple(extension))


def _operator_json(op: ExternalValue) -> dict[str, Any]:
    return {
        "sourceId": op.source_id.hex().upper(),
        "statusCode": op.status_code,
        "value": op.value.hex().upper(),
    }


def check_external(external: External) -> str | None:
    """Why diamp's helper keys do not match the signed ``external`` block (None if they do)."""
    ext = dict(external.extension)
    certs = ext.get("diraCertificates", [])
    if not isinstance(certs, list) or not all(isinstance(c, str) for c in certs):
        return "diraCertificates: expected a list of hex strings"
    try:
        digests = _digests(tuple(certs))
        operator = _parse_operator(ext.get("operatorExternal"))
    except ValueError as err:
        return str(err)
    if external.source_id == DIRA_SOURCE_ID:
        if len(digests) != 1 or external.value != digests[0]:
            return "value: is not the SHA-512 of the one listed DIRA certificate"
    elif external.source_id == COMBINED_SOURCE_ID:
        if external.value != _combined(operator, digests):
            return "value: does not match SHA-512 of the listed operator value and certificates"
    elif certs or operator is not None:
        return "sourceId: helper keys present but sourceId is not a diamp provenance id"
    if len(external.source_id) != HASH_BYTES or len(external.value) != HASH_BYTES:
        return f"sourceId/value: expected {HASH_BYTES} bytes each"
    return None


def _parse_operator(data: Any) -> ExternalValue | None:
    if data is None:
        return None
    try:
        return ExternalValue(
            bytes.fromhex(data["sourceId"]), int(data["statusCode"]), bytes.fromhex(data["value"])
        )
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(f"operatorExternal: malformed ({err})") from err
