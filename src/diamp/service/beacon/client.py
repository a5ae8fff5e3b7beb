"""Verify pulses from files or from a beacon's base URL (``diamp beacon verify``).

In URL mode the pulses of one chain are fetched one by one from
``/beacon/2.0/chain/{c}/pulse/{p}``, their certificates from ``/beacon/2.0/certificate/{id}``,
and neighbours and skip-list anchors on demand. Certificates given by the caller are the trust
anchors: every pulse must then be signed by one of them. Without them the served certificate
is only checked against ``certificateId``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx

from diamp.service.beacon.crypto import BeaconCertificate, load_certificate, parse_certificate
from diamp.service.beacon.errors import BeaconError, PulseFormatError
from diamp.service.beacon.pulse import Pulse
from diamp.service.beacon.verify import VerificationReport, verify_pulses

__all__ = ["load_pulse_files", "verify_files", "verify_url"]


def load_pulse_files(paths: Sequence[Path]) -> tuple[list[tuple[str, Pulse]], list[str]]:
    """Pulses from JSON files (one ``{"pulse": ...}``, or a list of them, per file).

    Returns the pulses with their labels and the problems of unreadable or malformed files.
    """
    pulses: list[tuple[str, Pulse]] = []
    problems: list[str] = []
    for path in paths:
        try:
            data: Any = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            problems.append(f"{path}: cannot read pulse JSON: {err}")
            continue
        items = data if isinstance(data, list) else [data]
        for i, item in enumerate(items):
            where = f"{path}" if len(items) == 1 else f"{path}[{i}]"
            try:
                pulse = Pulse.from_dict(item, where=where)
                pulses.append((f"{where} ({pulse.name})", pulse))
            except PulseFormatError as err:
                problems.append(str(err))
    return pulses, problems


def _trust(certificates: Sequence[Path]) -> dict[str, BeaconCertificate]:
    loaded = [load_certificate(p) for p in certificates]
    return {c.id_hex: c for c in loaded}


def verify_files(paths: Sequence[Path], certificates: Sequence[Path]) -> VerificationReport:
    """Verify pulses stored in files against the given PEM certificates."""
    pulses, problems = load_pulse_files(paths)
    trusted = _trust(certificates)
    report = verify_pulses(pulses, trusted, trusted=set(trusted))
    for problem in problems:
        report.fail(problem.split(":", 1)[0], "pulse", problem)
    return report


class _Remote:
    """Fetches pulses and certificates from a beacon, with a cache."""

    def __init__(self, base_url: str, client: httpx.Client) -> None:
        self.base = base_url.rstrip("/") + "/beacon/2.0"
        self.client = client
        self.pulses: dict[tuple[int, int], Pulse | None] = {}
        self.certs: dict[str, BeaconCertificate] = {}
        self.problems: list[tuple[str, str, str]] = []

    def get_json(self, path: str) -> Any | None:
        try:
            response = self.client.get(self.base + path)
        except httpx.HTTPError as err:
            raise BeaconError(f"{self.base}{path}: {err}", url=self.base + path) from err
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise BeaconError(f"{self.base}{path}: HTTP {response.status_code}")
        return response.json() if path.find("/certificate/") < 0 else response.content

    def pulse(self, chain: int, index: int) -> Pulse | None:
        if (chain, index) not in self.pulses:
            data = self.get_json(f"/chain/{chain}/pulse/{index}")
            where = f"{self.base}/chain/{chain}/pulse/{index}"
            try:
                found = None if data is None else Pulse.from_dict(data, where=where)
            except PulseFormatError as err:
                self.problems.append((where, str(err.fields.get("field")), str(err)))
                found = None
            self.pulses[(chain, index)] = found
        return self.pulses[(chain, index)]

    def certificate(self, cid: str) -> None:
        if cid in self.certs:
            return
        pem = self.get_json(f"/certificate/{cid}")
        if pem is not None:
            self.certs[cid] = parse_certificate(pem, f"{self.base}/certificate/{cid}")


def verify_url(
    base_url: str,
    chain: int | None = None,
    first: int | None = None,
    last: int | None = None,
    certificates: Sequence[Path] = (),
    timeout: float = 10.0,
) -> VerificationReport:
    """Verify pulses ``first``..``last`` (default: the whole chain) of ``chain`` (default: last)."""
    with httpx.Client(timeout=timeout) as client:
        remote = _Remote(base_url, client)
        path = "/chain/last/pulse/last" if chain is None else f"/chain/{chain}/pulse/last"
        newest = remote.get_json(path)
        if newest is None:
            raise BeaconError(f"{remote.base}{path}: no pulse published (HTTP 404)")
        top = Pulse.from_dict(newest, where=remote.base + path)
        chain = top.chain_index
        first, last = first or 1, top.pulse_index if last is None else last
        if not 1 <= first <= last:
            raise BeaconError(f"--from/--to: expected 1 <= from <= to, found {first}..{last}")
        labelled = []
        for index in range(first, last + 1):
            pulse = remote.pulse(chain, index)
            if pulse is None:
                remote.problems.append((f"chain {chain} pulse {index}", "pulseIndex", "missing"))
                continue
            remote.certificate(pulse.certificate_id.hex())
            labelled.append((pulse.name, pulse))
        trusted = _trust(certificates)
        certs = trusted or remote.certs
        report = verify_pulses(
            labelled, certs, trusted=set(trusted) if trusted else None, lookup=remote.pulse
        )
    for where, fld, message in remote.problems:
        report.fail(where, fld, message)
    return report
