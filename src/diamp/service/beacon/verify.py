"""Verify beacon pulses: signatures, output values, the hash chain, precommitments, times.

Every failure names the pulse (``chain C pulse P``, and the file it came from) and the NIST
Beacon 2.0 field at fault. Checks per pulse: version and cipherSuite, ``certificateId`` against
the certificate (SHA-512 of its DER) and against the trusted certificates when given,
``signatureValue``, ``outputValue``, ``uri``, ``timeStamp`` (on a period boundary, inside the
certificate's validity), ``statusCode`` bits, the ``external`` provenance keys. Between
consecutive pulses of a chain: ``listValues.previous`` equals the predecessor's output value,
SHA-512(``localRandomValue``) equals its ``precommitmentValue``, time stamps increase by exactly
one period unless the gap status is set (and only then by more), period and certificate stay
the same. The skip-list values (hour, day, month, year) are checked whenever the pulses they
name are available; otherwise the report lists them as not checked.

A pulse carrying diamp's simulated-source marker (``external.sourceId`` = SHA-512 of
``diamp:external:simulated-source:v1``, see :mod:`diamp.service.beacon.provenance`) may verify,
but its ``localRandomValue`` is not certified randomness: the report lists it under
``simulated`` with what the marker says and the sources it names.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from diamp.service.beacon.crypto import BeaconCertificate
from diamp.service.beacon.engine import period_start
from diamp.service.beacon.errors import PulseVerificationError
from diamp.service.beacon.provenance import check_external, simulated_marker
from diamp.service.beacon.pulse import (
    CIPHER_SUITE,
    HASH_BYTES,
    LIST_TYPES,
    STATUS_GAP,
    STATUS_NEW_CHAIN,
    VERSION,
    ZERO_HASH,
    Pulse,
)

__all__ = ["Failure", "Lookup", "VerificationReport", "verify_pulses"]

Lookup = Callable[[int, int], Pulse | None]


@dataclass(frozen=True)
class Failure:
    """One failed check: the pulse, the field and what was expected versus found."""

    pulse: str
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.pulse}: {self.field}: {self.message}"


@dataclass
class VerificationReport:
    """The outcome of verifying a set of pulses."""

    pulses: int = 0
    chains: set[int] = field(default_factory=set)
    failures: list[Failure] = field(default_factory=list)
    not_checked: list[str] = field(default_factory=list)
    simulated: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no check failed."""
        return not self.failures

    def fail(self, pulse: str, fld: str, message: str) -> None:
        """Record a failure."""
        self.failures.append(Failure(pulse, fld, message))

    def raise_for_failures(self) -> None:
        """Raise :class:`PulseVerificationError` naming the first failed pulse and field."""
        if self.failures:
            first = self.failures[0]
            more = f" (and {len(self.failures) - 1} more)" if len(self.failures) > 1 else ""
            raise PulseVerificationError(
                f"{first}{more}", pulse=first.pulse, field=first.field, count=len(self.failures)
            )

    def to_dict(self) -> dict[str, Any]:
        """JSON for ``diamp beacon verify --json``."""
        return {
            "ok": self.ok,
            "pulses": self.pulses,
            "chains": sorted(self.chains),
            "failures": [
                {"pulse": f.pulse, "field": f.field, "message": f.message} for f in self.failures
            ],
            "not_checked": self.not_checked,
            "simulated": self.simulated,
        }


def _hex(raw: bytes) -> str:
    return raw.hex().upper()


def verify_pulses(
    pulses: Iterable[tuple[str, Pulse]],
    certificates: Mapping[str, BeaconCertificate],
    *,
    trusted: set[str] | None = None,
    lookup: Lookup | None = None,
) -> VerificationReport:
    """Verify ``(label, pulse)`` pairs; ``label`` names the pulse's origin in messages.

    ``certificates`` maps a ``certificateId`` (lower-case hex) to the certificate offered for
    it; ``trusted`` (ids) restricts which certificates may sign. ``lookup(chain, index)``
    supplies pulses outside the set (neighbours, skip-list anchors), or None.
    """
    report = VerificationReport()
    known: dict[tuple[int, int], tuple[str, Pulse]] = {}
    for label, pulse in pulses:
        key = (pulse.chain_index, pulse.pulse_index)
        if key in known and known[key][1] != pulse:
            report.fail(label, "pulseIndex", f"{pulse.name} appears twice with different content")
        known[key] = (label, pulse)
    report.pulses, report.chains = len(known), {c for c, _ in known}

    def find(chain: int, index: int) -> Pulse | None:
        if (chain, index) in known:
            return known[(chain, index)][1]
        return None if lookup is None else lookup(chain, index)

    for key in sorted(known):
        label, pulse = known[key]
        _check_pulse(report, label, pulse, certificates, trusted)
        previous = find(pulse.chain_index, pulse.pulse_index - 1) if pulse.pulse_index > 1 else None
        if previous is not None:
            _check_link(report, label, previous, pulse)
        elif pulse.pulse_index > 1:
            report.not_checked.append(f"{label}: links to pulse {pulse.pulse_index - 1}")
        if previous is not None:
            for unit in LIST_TYPES[1:]:
                _check_anchor(report, label, pulse, previous, unit, find)
    return report


def _check_pulse(
    report: VerificationReport,
    label: str,
    p: Pulse,
    certificates: Mapping[str, BeaconCertificate],
    trusted: set[str] | None,
) -> None:
    if p.version != VERSION:
        report.fail(label, "version", f"expected {VERSION!r}, found {p.version!r}")
    if p.cipher_suite != CIPHER_SUITE:
        report.fail(label, "cipherSuite", f"expected {CIPHER_SUITE}, found {p.cipher_suite}")
        return
    for name, raw in (
        ("localRandomValue", p.local_random_value),
        ("precommitmentValue", p.precommitment_value),
        ("outputValue", p.output_value),
    ):
        if len(raw) != HASH_BYTES:
            report.fail(label, name, f"expected {HASH_BYTES} bytes, found {len(raw)}")
    _check_signature(report, label, p, certificates, trusted)
    if p.output_value != p.computed_output():
        report.fail(
            label,
            "outputValue",
            f"expected SHA-512(signed bytes ‖ signature) = {_hex(p.computed_output())[:32]}…, "
            f"found {_hex(p.output_value)[:32]}…",
        )
    suffix = f"/beacon/2.0/chain/{p.chain_index}/pulse/{p.pulse_index}"
    if not p.uri.endswith(suffix):
        report.fail(label, "uri", f"expected …{suffix}, found {p.uri!r}")
    _check_time_and_status(report, label, p)
    problem = check_external(p.external)
    if problem is not None:
        report.fail(label, "external", problem)
    marker = simulated_marker(p.external)
    if marker is not None:
        listed = dict(p.external.extension).get("simulatedSources")
        names = [s.get("source") for s in listed if isinstance(s, dict)] if listed else []
        report.simulated.append(
            {"pulse": label, "marker": marker, "statusCode": p.external.status_code,
             "sources": [n for n in names if isinstance(n, str)]}
        )  # fmt: skip


def _check_signature(
    report: VerificationReport,
    label: str,
    p: Pulse,
    certificates: Mapping[str, BeaconCertificate],
    trusted: set[str] | None,
) -> None:
    cid = p.certificate_id.hex()
    if trusted is not None and cid not in trusted:
        report.fail(label, "certificateId", f"{cid[:32]}… is not a trusted certificate's id")
        return
    cert = certificates.get(cid)
    if cert is None:
        report.fail(label, "certificateId", f"no certificate with id {cid[:32]}… was given")
        return
    if cert.id != p.certificate_id:
        report.fail(
            label,
            "certificateId",
            f"expected SHA-512 of the certificate {cert.id_hex[:32]}…, found {cid[:32]}…",
        )
        return
    if not cert.verify(p.signed_bytes(), p.signature_value):
        report.fail(label, "signatureValue", "RSA PKCS#1 v1.5 SHA-512 signature does not verify")
    try:
        ms = p.time_ms
    except ValueError:
        return
    if not cert.not_before_ms() <= ms <= cert.not_after_ms():
        report.fail(label, "timeStamp", f"{p.time_stamp} is outside the certificate's validity")


def _check_time_and_status(report: VerificationReport, label: str, p: Pulse) -> None:
    if p.period <= 0:
        report.fail(label, "period", f"expected a positive period, found {p.period}")
    elif p.time_ms % p.period:
        report.fail(label, "timeStamp", f"{p.time_stamp} is not on a {p.period} ms boundary")
    if p.status_code & ~(STATUS_NEW_CHAIN | STATUS_GAP):
        report.fail(label, "statusCode", f"unknown status bits in {p.status_code}")
    first = p.pulse_index == 1
    if first != bool(p.status_code & STATUS_NEW_CHAIN):
        report.fail(
            label,
            "statusCode",
            f"new-chain bit {'missing on' if first else 'set on'} pulse {p.pulse_index}",
        )
    if first:
        for item in p.list_values:
            if item.value != ZERO_HASH:
                report.fail(
                    label, f"listValues.{item.type}", "expected zeros in a chain's first pulse"
                )


def _check_link(report: VerificationReport, label: str, prev: Pulse, p: Pulse) -> None:
    link = p.list_value("previous")
    if link.value != prev.output_value:
        report.fail(
            label,
            "listValues.previous",
            f"expected the output value of {prev.name} {_hex(prev.output_value)[:32]}…, "
            f"found {_hex(link.value)[:32]}…",
        )
    if link.uri != prev.uri:
        report.fail(label, "listValues.previous", f"uri: expected {prev.uri!r}, found {link.uri!r}")
    if hashlib.sha512(p.local_random_value).digest() != prev.precommitment_value:
        report.fail(
            label,
            "localRandomValue",
            f"SHA-512 of it is not the precommitmentValue of {prev.name}",
        )
    for name, mine, theirs in (
        ("period", p.period, prev.period),
        ("certificateId", p.certificate_id.hex(), prev.certificate_id.hex()),
    ):
        if mine != theirs:
            report.fail(label, name, f"changed within the chain (was {theirs}, found {mine})")
    _check_step(report, label, prev, p)


def _check_step(report: VerificationReport, label: str, prev: Pulse, p: Pulse) -> None:
    step = p.time_ms - prev.time_ms
    gap = bool(p.status_code & STATUS_GAP)
    if step <= 0:
        report.fail(label, "timeStamp", f"{p.time_stamp} is not after {prev.time_stamp}")
    elif step == p.period and gap:
        report.fail(label, "statusCode", "gap bit set but the pulse follows after one period")
    elif step != p.period and not gap:
        report.fail(
            label,
            "timeStamp",
            f"expected {prev.name} + {p.period} ms, found + {step} ms without the gap status",
        )
    elif step % p.period:
        report.fail(label, "timeStamp", f"+ {step} ms is not a multiple of the period")


def _check_anchor(
    report: VerificationReport,
    label: str,
    p: Pulse,
    prev: Pulse,
    unit: str,
    find: Callable[[int, int], Pulse | None],
) -> None:
    item = p.list_value(unit)
    index = _index_from_uri(item.uri)
    anchor = None if index is None else find(p.chain_index, index)
    if index is None or anchor is None:
        report.not_checked.append(f"{label}: listValues.{unit}")
        return
    before = None if index == 1 else find(p.chain_index, index - 1)
    if index > 1 and before is None:
        report.not_checked.append(f"{label}: listValues.{unit}")
        return
    start = period_start(prev.time_ms, unit)
    first = anchor.time_ms >= start and (before is None or before.time_ms < start)
    if not first or anchor.time_ms > prev.time_ms:
        report.fail(
            label,
            f"listValues.{unit}",
            f"{anchor.name} is not the chain's first pulse in the {unit} of {prev.name}",
        )
    elif anchor.output_value != item.value:
        report.fail(label, f"listValues.{unit}", f"value is not the output value of {anchor.name}")


def _index_from_uri(uri: str) -> int | None:
    tail = uri.rsplit("/pulse/", 1)
    return int(tail[1]) if len(tail) == 2 and tail[1].isdigit() else None
