"""NIST Randomness Beacon 2.0 pulses (NISTIR 8213): the model, JSON and signed bytes.

A pulse is serialised for signing as the concatenation, in this order, of: ``uri``,
``version`` (strings: 4-byte big-endian length, then UTF-8), ``cipherSuite``, ``period``
(4-byte big-endian unsigned), ``certificateId`` (byte string: 4-byte length, then the bytes
the hex text denotes), ``chainIndex``, ``pulseIndex`` (8-byte big-endian unsigned),
``timeStamp`` (string), ``localRandomValue``, ``external.sourceId`` (byte strings),
``external.statusCode`` (4 bytes), ``external.value``, the five ``listValues`` values in the
order previous, hour, day, month, year, ``precommitmentValue`` (byte strings) and
``statusCode`` (4 bytes). ``signatureValue`` is RSA PKCS#1 v1.5 with SHA-512 over these bytes
(cipherSuite 0) and ``outputValue`` = SHA-512(signed bytes ‖ signature), the signature
appended as raw bytes without a length prefix. The real NIST pulse in
``shared/vectors/`` pins every detail (tests/service/beacon/test_pulse.py).

JSON is NIST's shape, ``{"pulse": {...}}`` with keys in NIST's order; byte values are upper-case
hex, ``certificateId`` lower-case hex, as NIST publishes them. diamp adds unsigned helper keys
only inside ``external`` (see :mod:`diamp.service.beacon.provenance`); their content is bound
to the signed ``external.value``.
"""

from __future__ import annotations

import hashlib
import re
import struct
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from diamp.service.beacon.errors import PulseFormatError

__all__ = [
    "CIPHER_SUITE",
    "HASH_BYTES",
    "LIST_TYPES",
    "STATUS_GAP",
    "STATUS_NEW_CHAIN",
    "STATUS_OK",
    "VERSION",
    "ZERO_HASH",
    "External",
    "ListValue",
    "Pulse",
    "format_timestamp",
    "parse_timestamp",
    "pulse_name",
    "pulse_uri",
]

VERSION = "Version 2.0"
CIPHER_SUITE = 0  # RSA PKCS#1 v1.5 signatures with SHA-512, SHA-512 hashes
HASH_BYTES = 64
ZERO_HASH = bytes(HASH_BYTES)
STATUS_OK = 0
STATUS_NEW_CHAIN = 1  # first pulse of a chain: previous and the skip-list values are zeros
STATUS_GAP = 2  # time since the previous pulse exceeds the period; the chain is intact
LIST_TYPES = ("previous", "hour", "day", "month", "year")

_TIMESTAMP = re.compile(r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})\.(\d{3})Z$")
_HEX = re.compile(r"^[0-9a-fA-F]*$")
_U32 = 2**32
_U64 = 2**64


def format_timestamp(ms: int) -> str:
    """``timeStamp`` text of a time in ms since the epoch: ``YYYY-MM-DDTHH:MM:SS.mmmZ`` (UTC)."""
    t = datetime.fromtimestamp(ms // 1000, tz=UTC)
    return t.strftime("%Y-%m-%dT%H:%M:%S") + f".{ms % 1000:03d}Z"


def parse_timestamp(text: str, where: str = "pulse") -> int:
    """Milliseconds since the epoch of a ``timeStamp`` (exactly NIST's format, UTC)."""
    m = _TIMESTAMP.match(text)
    if m is None:
        raise PulseFormatError(
            f"{where}: timeStamp: expected YYYY-MM-DDTHH:MM:SS.mmmZ, found {text!r}",
            pulse=where,
            field="timeStamp",
        )
    year, month, day, hour, minute, second, milli = (int(g) for g in m.groups())
    try:
        t = datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    except ValueError as err:
        raise PulseFormatError(
            f"{where}: timeStamp: {text!r} is not a valid time: {err}",
            pulse=where,
            field="timeStamp",
        ) from err
    return int(t.timestamp()) * 1000 + milli


def pulse_uri(base: str, chain: int, pulse: int) -> str:
    """The ``uri`` of pulse ``pulse`` in chain ``chain`` of a beacon served at ``base``."""
    return f"{base.rstrip('/')}/beacon/2.0/chain/{chain}/pulse/{pulse}"


def pulse_name(chain: int, pulse: int) -> str:
    """How messages name a pulse: ``chain C pulse P``."""
    return f"chain {chain} pulse {pulse}"


@dataclass(frozen=True)
class External:
    """The ``external`` block: a source id, a status code and a 64-byte value.

    ``extension`` holds diamp's unsigned helper keys (e.g. ``diraCertificates``) in the JSON
    order; they are bound to ``value`` by :mod:`diamp.service.beacon.provenance`.
    """

    source_id: bytes = ZERO_HASH
    status_code: int = 0
    value: bytes = ZERO_HASH
    extension: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True)
class ListValue:
    """One entry of ``listValues``: the output value of an earlier pulse and its uri."""

    uri: str
    type: str
    value: bytes


@dataclass(frozen=True)
class Pulse:
    """One NIST Beacon 2.0 pulse; byte fields are raw bytes, the time stamp is kept as text."""

    uri: str
    version: str
    cipher_suite: int
    period: int
    certificate_id: bytes
    chain_index: int
    pulse_index: int
    time_stamp: str
    local_random_value: bytes
    external: External
    list_values: tuple[ListValue, ...]
    precommitment_value: bytes
    status_code: int
    signature_value: bytes = b""
    output_value: bytes = b""

    @property
    def name(self) -> str:
        """``chain C pulse P``, for messages."""
        return pulse_name(self.chain_index, self.pulse_index)

    @property
    def time_ms(self) -> int:
        """``timeStamp`` in milliseconds since the epoch."""
        return parse_timestamp(self.time_stamp, self.name)

    def list_value(self, kind: str) -> ListValue:
        """The ``listValues`` entry of type ``kind`` (previous, hour, day, month, year)."""
        for item in self.list_values:
            if item.type == kind:
                return item
        raise PulseFormatError(
            f"{self.name}: listValues: no entry of type {kind!r}",
            pulse=self.name,
            field=f"listValues.{kind}",
        )

    def signed_bytes(self) -> bytes:
        """The bytes the signature covers (NISTIR 8213 field order; see the module notes)."""
        parts = [
            _string(self.uri),
            _string(self.version),
            _u32(self.cipher_suite),
            _u32(self.period),
            _bytes(self.certificate_id),
            _u64(self.chain_index),
            _u64(self.pulse_index),
            _string(self.time_stamp),
            _bytes(self.local_random_value),
            _bytes(self.external.source_id),
            _u32(self.external.status_code),
            _bytes(self.external.value),
        ]
        parts += [_bytes(self.list_value(kind).value) for kind in LIST_TYPES]
        parts += [_bytes(self.precommitment_value), _u32(self.status_code)]
        return b"".join(parts)

    def computed_output(self) -> bytes:
        """SHA-512(signed bytes ‖ signatureValue): what ``outputValue`` must be."""
        return hashlib.sha512(self.signed_bytes() + self.signature_value).digest()

    def to_dict(self) -> dict[str, Any]:
        """The pulse as NIST's JSON object (the value of the ``"pulse"`` key)."""
        external: dict[str, Any] = {
            "sourceId": self.external.source_id.hex().upper(),
            "statusCode": self.external.status_code,
            "value": self.external.value.hex().upper(),
        }
        external.update(self.external.extension)
        return {
            "uri": self.uri,
            "version": self.version,
            "cipherSuite": self.cipher_suite,
            "period": self.period,
            "certificateId": self.certificate_id.hex(),
            "chainIndex": self.chain_index,
            "pulseIndex": self.pulse_index,
            "timeStamp": self.time_stamp,
            "localRandomValue": self.local_random_value.hex().upper(),
            "external": external,
            "listValues": [
                {"uri": v.uri, "type": v.type, "value": v.value.hex().upper()}
                for v in self.list_values
            ],
            "precommitmentValue": self.precommitment_value.hex().upper(),
            "statusCode": self.status_code,
            "signatureValue": self.signature_value.hex().upper(),
            "outputValue": self.output_value.hex().upper(),
        }

    @classmethod
    def from_dict(cls, data: Any, where: str = "pulse") -> Pulse:
        """Parse NIST's JSON (with or without the ``{"pulse": ...}`` wrapper), strictly.

        Raises :class:`PulseFormatError` naming ``where`` and the field for a missing key, a
        wrong type, bad hex or an out-of-range integer.
        """
        return _Parser(where).pulse(data)


def _string(text: str) -> bytes:
    raw = text.encode("utf-8")
    return struct.pack(">I", len(raw)) + raw


def _bytes(raw: bytes) -> bytes:
    return struct.pack(">I", len(raw)) + raw


def _u32(value: int) -> bytes:
    return struct.pack(">I", value)


def _u64(value: int) -> bytes:
    return struct.pack(">Q", value)


class _Parser:
    """Field-by-field checks that name the pulse and the field."""

    def __init__(self, where: str) -> None:
        self.where = where

    def fail(self, key: str, message: str) -> PulseFormatError:
        return PulseFormatError(f"{self.where}: {key}: {message}", pulse=self.where, field=key)

    def get(self, obj: dict[str, Any], key: str, prefix: str = "") -> Any:
        if key not in obj:
            raise self.fail(prefix + key, "missing")
        return obj[key]

    def text(self, obj: dict[str, Any], key: str, prefix: str = "") -> str:
        value = self.get(obj, key, prefix)
        if not isinstance(value, str):
            raise self.fail(prefix + key, f"expected a string, found {value!r}")
        return value

    def integer(self, obj: dict[str, Any], key: str, bound: int, prefix: str = "") -> int:
        value = self.get(obj, key, prefix)
        if type(value) is not int or not 0 <= value < bound:
            raise self.fail(prefix + key, f"expected an integer in [0, {bound}), found {value!r}")
        return value

    def hexbytes(self, obj: dict[str, Any], key: str, prefix: str = "") -> bytes:
        value = self.text(obj, key, prefix)
        if len(value) % 2 or _HEX.match(value) is None:
            raise self.fail(prefix + key, f"expected hex bytes, found {value[:40]!r}")
        return bytes.fromhex(value)

    def pulse(self, data: Any) -> Pulse:
        if isinstance(data, dict) and set(data) == {"pulse"}:
            data = data["pulse"]
        if not isinstance(data, dict):
            raise self.fail("pulse", f"expected a JSON object, found {type(data).__name__}")
        chain = self.integer(data, "chainIndex", _U64)
        index = self.integer(data, "pulseIndex", _U64)
        name = pulse_name(chain, index)
        self.where = name if self.where == "pulse" else f"{self.where} ({name})"
        pulse = Pulse(
            uri=self.text(data, "uri"),
            version=self.text(data, "version"),
            cipher_suite=self.integer(data, "cipherSuite", _U32),
            period=self.integer(data, "period", _U32),
            certificate_id=self.hexbytes(data, "certificateId"),
            chain_index=chain,
            pulse_index=index,
            time_stamp=self.text(data, "timeStamp"),
            local_random_value=self.hexbytes(data, "localRandomValue"),
            external=self.external(self.get(data, "external")),
            list_values=self.list_values(self.get(data, "listValues")),
            precommitment_value=self.hexbytes(data, "precommitmentValue"),
            status_code=self.integer(data, "statusCode", _U32),
            signature_value=self.hexbytes(data, "signatureValue"),
            output_value=self.hexbytes(data, "outputValue"),
        )
        parse_timestamp(pulse.time_stamp, self.where)
        return pulse

    def external(self, data: Any) -> External:
        if not isinstance(data, dict):
            raise self.fail("external", f"expected a JSON object, found {data!r}")
        known = ("sourceId", "statusCode", "value")
        return External(
            source_id=self.hexbytes(data, "sourceId", "external."),
            status_code=self.integer(data, "statusCode", _U32, "external."),
            value=self.hexbytes(data, "value", "external."),
            extension=tuple((k, v) for k, v in data.items() if k not in known),
        )

    def list_values(self, data: Any) -> tuple[ListValue, ...]:
        if not isinstance(data, list):
            raise self.fail("listValues", f"expected a JSON array, found {data!r}")
        items = []
        for i, item in enumerate(data):
            prefix = f"listValues[{i}]."
            if not isinstance(item, dict):
                raise self.fail(f"listValues[{i}]", f"expected a JSON object, found {item!r}")
            items.append(
                ListValue(
                    uri=self.text(item, "uri", prefix),
                    type=self.text(item, "type", prefix),
                    value=self.hexbytes(item, "value", prefix),
                )
            )
        types = [v.type for v in items]
        if sorted(types) != sorted(LIST_TYPES):
            raise self.fail("listValues", f"expected one each of {LIST_TYPES}, found {types}")
        return tuple(items)
