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

Simulated randomness never passes for certified. When a source behind the value is simulated
or of unknown provenance (``Draw.simulated_sources`` is not empty), the rules above give way
to the simulated-source marker, in the signed fields themselves:

- ``external.sourceId`` = :data:`SIMULATED_SOURCE_ID`, the SHA-512 of
  ``b"diamp:external:simulated-source:v1"``;
- ``external.statusCode`` = :data:`EXTERNAL_SIMULATED` (1) if a source is simulated, plus
  :data:`EXTERNAL_UNKNOWN_PROVENANCE` (2) if one is of unknown provenance (so 1, 2 or 3);
- ``external.value`` = SHA-512 of the statement: the UTF-8 bytes of the JSON object
  ``{"diraCertificates": [...], "operatorExternal": {...} or null, "simulatedSources": [...],
  "statement": "diamp:external:simulated-source:v1"}`` written with sorted keys, no
  whitespace and ASCII escapes (Python's ``json.dumps(obj, sort_keys=True,
  separators=(",", ":"))``).

The JSON ``external`` object lists ``simulatedSources`` (each ``{"source", "kind",
"simulated": true or null}``, plus ``certificate`` for a DIRA run) and, when present,
``diraCertificates`` and ``operatorExternal``; the verifier rebuilds the statement from them
and checks its hash. A verifier that ignores diamp's helper keys still sees the marker: a
non-zero ``external.statusCode`` under the well-known ``sourceId``, covered by the signature.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from diamp.service.beacon.pulse import HASH_BYTES, External

__all__ = [
    "COMBINED_SOURCE_ID",
    "DIRA_SOURCE_ID",
    "EXTERNAL_SIMULATED",
    "EXTERNAL_UNKNOWN_PROVENANCE",
    "SIMULATED_SOURCE_ID",
    "SIMULATED_STATEMENT",
    "Draw",
    "ExternalValue",
    "RandomSource",
    "SimpleDraw",
    "check_external",
    "external_block",
    "simulated_marker",
    "simulated_statement",
    "urandom_source",
]

DIRA_SOURCE_ID = hashlib.sha512(b"diamp:external:dira-run-certificate:v1").digest()
COMBINED_SOURCE_ID = hashlib.sha512(b"diamp:external:combined:v1").digest()
SIMULATED_STATEMENT = "diamp:external:simulated-source:v1"
SIMULATED_SOURCE_ID = hashlib.sha512(SIMULATED_STATEMENT.encode()).digest()
EXTERNAL_SIMULATED = 1  # external.statusCode bit: a source behind the value is simulated
EXTERNAL_UNKNOWN_PROVENANCE = 2  # ... one does not say where its randomness came from
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

    @property
    def simulated_sources(self) -> tuple[Mapping[str, Any], ...]:
        """Contributing sources that are simulated or of unknown provenance (empty: none).

        Each: ``source`` (name), ``kind``, ``simulated`` (true, or None when unknown) and,
        for a DIRA run, ``certificate`` (SHA-512 hex of its certificate file).
        """
        ...


RandomSource = Callable[[int], Draw]


@dataclass(frozen=True)
class SimpleDraw:
    """A :class:`Draw` for tests and stand-alone beacons."""

    data: bytes
    dira_certificates: tuple[str, ...] = ()
    simulated_sources: tuple[Mapping[str, Any], ...] = ()


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


def _entry(item: Mapping[str, Any]) -> dict[str, Any]:
    """One ``simulatedSources`` entry, checked (raises ValueError)."""
    if not isinstance(item, Mapping):
        raise ValueError(f"simulatedSources: expected objects, found {item!r}")
    source, kind, flag = item.get("source"), item.get("kind"), item.get("simulated")
    if not isinstance(source, str) or not isinstance(kind, str) or flag not in (True, None):
        raise ValueError(
            "simulatedSources: each needs a string source and kind and simulated true or "
            f"null, found {dict(item)!r}"
        )
    allowed = {"source", "kind", "simulated", "certificate"}
    if set(item) - allowed:
        raise ValueError(f"simulatedSources: unknown keys {sorted(set(item) - allowed)}")
    entry = {"source": source, "kind": kind, "simulated": flag}
    if "certificate" in item:
        _digests((item["certificate"],))
        entry["certificate"] = item["certificate"]
    return entry


def simulated_statement(
    sources: tuple[Mapping[str, Any], ...],
    certificates: tuple[str, ...],
    operator: ExternalValue | None,
) -> bytes:
    """The statement whose SHA-512 is ``external.value`` of a simulated pulse (module docs)."""
    statement = {
        "diraCertificates": list(certificates),
        "operatorExternal": None if operator is None else _operator_json(operator),
        "simulatedSources": [_entry(s) for s in sources],
        "statement": SIMULATED_STATEMENT,
    }
    return json.dumps(statement, sort_keys=True, separators=(",", ":")).encode()


def _marker_code(sources: tuple[Mapping[str, Any], ...]) -> int:
    flags = [s.get("simulated") for s in sources]
    code = EXTERNAL_SIMULATED if True in flags else 0
    return code | (EXTERNAL_UNKNOWN_PROVENANCE if None in flags else 0)


def _simulated_block(
    sources: tuple[Mapping[str, Any], ...],
    certificates: tuple[str, ...],
    operator: ExternalValue | None,
) -> External:
    statement = simulated_statement(sources, certificates, operator)
    extension: list[tuple[str, Any]] = [("simulatedSources", [_entry(s) for s in sources])]
    if certificates:
        extension.append(("diraCertificates", list(certificates)))
    if operator is not None:
        extension.append(("operatorExternal", _operator_json(operator)))
    return External(
        SIMULATED_SOURCE_ID, _marker_code(sources), hashlib.sha512(statement).digest(),
        tuple(extension),
    )  # fmt: skip


def external_block(
    certificates: tuple[str, ...],
    operator: ExternalValue | None,
    simulated: tuple[Mapping[str, Any], ...] = (),
) -> External:
    """The ``external`` block of a pulse whose value came with ``certificates``.

    ``simulated`` lists the sources behind the value that are simulated or of unknown
    provenance; any makes it the simulated-source marker (see the module docs).
    """
    digests = _digests(certificates)
    if simulated:
        return _simulated_block(simulated, certificates, operator)
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


def simulated_marker(external: External) -> str | None:
    """``"simulated"``, ``"unknown provenance"`` (no simulated source, one unknown) or None.

    Read from the signed ``sourceId`` and ``statusCode`` alone.
    """
    if external.source_id != SIMULATED_SOURCE_ID:
        return None
    if external.status_code & EXTERNAL_SIMULATED or not external.status_code:
        return "simulated"
    return "unknown provenance"


def _check_simulated(external: External, ext: dict[str, Any]) -> str | None:
    sources = ext.get("simulatedSources")
    if not isinstance(sources, list) or not sources:
        return "simulatedSources: expected a non-empty list under the simulated-source id"
    certs = ext.get("diraCertificates", [])
    if not isinstance(certs, list) or not all(isinstance(c, str) for c in certs):
        return "diraCertificates: expected a list of hex strings"
    try:
        _digests(tuple(certs))
        entries = tuple(_entry(s) for s in sources)
        operator = _parse_operator(ext.get("operatorExternal"))
        statement = simulated_statement(entries, tuple(certs), operator)
    except ValueError as err:
        return str(err)
    if external.status_code != _marker_code(entries):
        return (
            f"statusCode: expected {_marker_code(entries)} for the listed simulatedSources "
            f"(1: simulated, 2: unknown provenance), found {external.status_code}"
        )
    if external.value != hashlib.sha512(statement).digest():
        return (
            "value: is not the SHA-512 of the simulated-source statement (simulatedSources, "
            "diraCertificates, operatorExternal)"
        )
    return None


def check_external(external: External) -> str | None:
    """Why diamp's helper keys do not match the signed ``external`` block (None if they do)."""
    ext = dict(external.extension)
    if external.source_id == SIMULATED_SOURCE_ID:
        return _check_simulated(external, ext)
    if "simulatedSources" in ext:
        return "simulatedSources: listed but sourceId is not the simulated-source id"
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
