"""The simulated-source marker: a pulse whose value came from a simulated or unknown-provenance
source says so in its signed ``external`` block, and the verifier reports it.

The statement and its hash are recomputed here from the documented convention (docs/service.md),
not with diamp's code; the signature over the block is checked by the independent NISTIR 8213
oracle.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import _nistir_oracle as nistir

from diamp.service.beacon.crypto import load_certificate, load_signer
from diamp.service.beacon.engine import BeaconEngine
from diamp.service.beacon.provenance import (
    DIRA_SOURCE_ID,
    ExternalValue,
    SimpleDraw,
    check_external,
)
from diamp.service.beacon.pulse import External, Pulse
from diamp.service.beacon.store import PulseStore
from diamp.service.beacon.verify import VerificationReport, verify_pulses

T0 = int(time.time()) // 3600 * 3_600_000
MARKER_ID = hashlib.sha512(b"diamp:external:simulated-source:v1").digest()
SIM = {"source": "vac", "kind": "simulated", "simulated": True}
UNKNOWN = {"source": "file", "kind": "file", "simulated": None}


class Source:
    """Distinct 64-byte draws, each with the given provenance."""

    def __init__(self, simulated: tuple[dict[str, Any], ...], certs: tuple[str, ...] = ()):
        self.n, self.simulated, self.certs = 0, simulated, certs

    def __call__(self, nbytes: int) -> SimpleDraw:
        self.n += 1
        data = hashlib.sha512(b"draw %d" % self.n).digest()[:nbytes]
        return SimpleDraw(data, self.certs, self.simulated)


def engine_for(tmp: Path, keys: tuple[Path, Path], source: Any, **kw: Any) -> BeaconEngine:
    clock = kw.pop("clock", lambda: T0 / 1000)
    return BeaconEngine(
        PulseStore(tmp / "beacon.sqlite"), load_signer(*keys), source, period_ms=1000,
        clock=clock, **kw,
    )  # fmt: skip


def emit(engine: BeaconEngine, first: int, n: int) -> list[Pulse]:
    return [engine.emit(T0 + 1000 * (first + k)) for k in range(n)]


def statement_hash(sources: list[Any], certs: list[str], operator: Any = None) -> bytes:
    """SHA-512 of the statement, as docs/service.md defines it."""
    doc = {
        "diraCertificates": certs,
        "operatorExternal": operator,
        "simulatedSources": sources,
        "statement": "diamp:external:simulated-source:v1",
    }
    return hashlib.sha512(json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()).digest()


def report_for(pulses: list[Pulse], keys: tuple[Path, Path]) -> VerificationReport:
    cert = load_certificate(keys[1])
    return verify_pulses([(p.name, p) for p in pulses], {cert.id_hex: cert})


def test_simulated_sources_set_the_signed_marker(
    tmp_path: Path, keypair: tuple[Path, Path]
) -> None:
    pulses = emit(engine_for(tmp_path, keypair, Source((SIM,))), 1, 3)
    pem = keypair[1].read_bytes()
    for p in pulses:
        d = p.to_dict()
        nistir.check_pulse(d, pem)  # the signature covers sourceId, statusCode and value
        ext = d["external"]
        assert bytes.fromhex(ext["sourceId"]) == MARKER_ID
        assert ext["statusCode"] == 1
        assert ext["simulatedSources"] == [SIM]
        assert bytes.fromhex(ext["value"]) == statement_hash([SIM], [])
        assert check_external(p.external) is None
    report = report_for(pulses, keypair)
    assert report.ok, report.failures
    assert [s["pulse"] for s in report.simulated] == [p.name for p in pulses]
    assert report.simulated[0] == {
        "pulse": pulses[0].name, "marker": "simulated", "statusCode": 1, "sources": ["vac"]
    }  # fmt: skip
    assert report.to_dict()["simulated"] == report.simulated


def test_unknown_provenance_and_both_have_their_own_codes(
    tmp_path: Path, keypair: tuple[Path, Path]
) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    unknown = emit(engine_for(tmp_path / "a", keypair, Source((UNKNOWN,))), 1, 2)
    both = emit(engine_for(tmp_path / "b", keypair, Source((SIM, UNKNOWN))), 1, 2)
    assert {p.external.status_code for p in unknown} == {2}
    assert {p.external.status_code for p in both} == {3}
    assert report_for(unknown, keypair).simulated[0]["marker"] == "unknown provenance"
    assert report_for(both, keypair).simulated[0]["marker"] == "simulated"


def test_dira_certificates_and_operator_value_are_bound_into_the_statement(
    tmp_path: Path, keypair: tuple[Path, Path]
) -> None:
    cert = hashlib.sha512(b"a simulated run's certificate").hexdigest()
    entry = {"source": "lab", "kind": "dira", "simulated": True, "certificate": cert}
    op = ExternalValue(hashlib.sha512(b"op").digest(), 7, hashlib.sha512(b"v").digest())
    engine = engine_for(tmp_path, keypair, Source((entry,), (cert,)), external=lambda: op)
    (p,) = emit(engine, 1, 1)
    ext = p.to_dict()["external"]
    operator = {"sourceId": op.source_id.hex().upper(), "statusCode": 7,
                "value": op.value.hex().upper()}  # fmt: skip
    assert p.external.source_id == MARKER_ID and p.external.source_id != DIRA_SOURCE_ID
    assert ext["diraCertificates"] == [cert] and ext["operatorExternal"] == operator
    assert p.external.value == statement_hash([entry], [cert], operator)
    assert check_external(p.external) is None


def test_editing_or_stripping_the_marker_is_caught(
    tmp_path: Path, keypair: tuple[Path, Path]
) -> None:
    (p,) = emit(engine_for(tmp_path, keypair, Source((SIM, UNKNOWN))), 1, 1)
    only_sim = dict(p.external.extension)
    only_sim["simulatedSources"] = [SIM]  # hide the unknown source: the hash no longer holds
    edited = replace(p.external, extension=tuple(only_sim.items()))
    assert check_external(edited) is not None
    # drop the marker from the signed fields: the signature no longer verifies
    stripped = replace(p, external=External())
    report = report_for([stripped], keypair)
    assert ("signatureValue" in {f.field for f in report.failures}) and not report.simulated
    # the helper keys under another sourceId are refused
    moved = replace(p.external, source_id=DIRA_SOURCE_ID)
    assert "simulatedSources" in (check_external(moved) or "")


def test_the_marker_survives_a_restart_through_the_commitment(
    tmp_path: Path, keypair: tuple[Path, Path]
) -> None:
    emit(engine_for(tmp_path, keypair, Source((SIM,))), 1, 1)
    engine = engine_for(tmp_path, keypair, Source(()))  # now from hardware
    (second, third) = emit(engine, 2, 2)
    assert second.external.source_id == MARKER_ID  # committed by pulse 1, drawn as simulated
    assert third.external == External()  # drawn after the restart: nothing simulated


def test_a_commitment_stored_before_the_marker_existed_reads_as_unknown(
    tmp_path: Path, keypair: tuple[Path, Path]
) -> None:
    engine = engine_for(tmp_path, keypair, Source(()))
    emit(engine, 1, 1)
    db = sqlite3.connect(tmp_path / "beacon.sqlite")
    db.execute("UPDATE commitments SET dira = '[]' WHERE pulse_index = 2")  # the old format
    db.commit()
    db.close()
    (second,) = emit(engine, 2, 1)
    assert second.external.source_id == MARKER_ID and second.external.status_code == 2
    assert dict(second.external.extension)["simulatedSources"][0]["kind"] == "unknown"


def test_the_documented_marker_is_the_one_diamp_signs() -> None:
    from diamp.service.beacon.provenance import (
        EXTERNAL_SIMULATED,
        EXTERNAL_UNKNOWN_PROVENANCE,
        SIMULATED_SOURCE_ID,
    )

    doc = (Path(__file__).parents[3] / "docs" / "service.md").read_text()
    block = doc.split("```\n54F5", 1)[1].split("```", 1)[0]
    assert "54F5" + "".join(block.split()) == SIMULATED_SOURCE_ID.hex().upper()
    assert SIMULATED_SOURCE_ID == MARKER_ID
    assert (EXTERNAL_SIMULATED, EXTERNAL_UNKNOWN_PROVENANCE) == (1, 2)
