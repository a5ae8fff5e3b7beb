from __future__ import annotations

import hashlib
import itertools
import json
import time
from dataclasses import replace
from pathlib import Path

import _nistir_oracle as nistir
import pytest

from diamp.service.beacon.crypto import load_certificate, load_signer
from diamp.service.beacon.engine import BeaconEngine, period_start
from diamp.service.beacon.errors import BeaconStoreError
from diamp.service.beacon.provenance import (
    COMBINED_SOURCE_ID,
    DIRA_SOURCE_ID,
    ExternalValue,
    SimpleDraw,
    check_external,
)
from diamp.service.beacon.pulse import STATUS_GAP, STATUS_NEW_CHAIN, STATUS_OK, Pulse
from diamp.service.beacon.store import PulseStore
from diamp.service.beacon.verify import verify_pulses

T0 = int(time.time()) // 3600 * 3_600_000  # the current hour: inside the certificate validity


class Clock:
    def __init__(self, ms: int) -> None:
        self.ms = ms

    def __call__(self) -> float:
        return self.ms / 1000


class CountingSource:
    """Distinct, reproducible 64-byte draws; every 3rd draw comes from a DIRA run."""

    def __init__(self) -> None:
        self.n = 0

    def __call__(self, nbytes: int) -> SimpleDraw:
        self.n += 1
        data = hashlib.sha512(self.n.to_bytes(8, "big")).digest()[:nbytes]
        certs = (hashlib.sha512(b"run %d" % self.n).hexdigest(),) if self.n % 3 == 0 else ()
        return SimpleDraw(data, certs)


def make_engine(
    tmp_path: Path, keys: tuple[Path, Path], clock: Clock, **kw: object
) -> BeaconEngine:
    store = PulseStore(tmp_path / "beacon.sqlite")
    signer = load_signer(*keys)
    return BeaconEngine(store, signer, kw.pop("source", CountingSource()), clock=clock, **kw)  # type: ignore[arg-type]


def emit_n(engine: BeaconEngine, clock: Clock, n: int) -> list[Pulse]:
    out = []
    for _ in range(n):
        slot = engine.next_slot()
        clock.ms = slot
        out.append(engine.emit(slot))
    return out


def test_chain_verifies_with_independent_oracle(tmp_path: Path, keypair: tuple[Path, Path]) -> None:
    clock = Clock(T0 + 1)
    engine = make_engine(tmp_path, keypair, clock, period_ms=1000)
    pulses = emit_n(engine, clock, 8)
    pem = keypair[1].read_bytes()
    dicts = [p.to_dict() for p in pulses]
    for d in dicts:
        nistir.check_pulse(d, pem)
    for a, b in itertools.pairwise(dicts):
        nistir.check_link(a, b)
    assert [p.pulse_index for p in pulses] == list(range(1, 9))
    assert pulses[0].status_code == STATUS_NEW_CHAIN
    assert all(p.status_code == STATUS_OK for p in pulses[1:])
    assert [p.time_ms for p in pulses] == [T0 + 1000 * k for k in range(1, 9)]
    cert = load_certificate(keypair[1])
    report = verify_pulses([(p.name, p) for p in pulses], {cert.id_hex: cert})
    assert report.ok, report.failures


def test_dira_certificate_is_in_the_signed_external_block(
    tmp_path: Path, keypair: tuple[Path, Path]
) -> None:
    clock = Clock(T0)
    engine = make_engine(tmp_path, keypair, clock, period_ms=1000)
    pulses = emit_n(engine, clock, 6)
    # draw k is revealed by pulse k (draw 1 = pulse 1, then draw k+1 committed by pulse k)
    for p in pulses:
        draw = p.pulse_index
        if draw % 3 == 0:
            expected = hashlib.sha512(b"run %d" % draw).digest()
            assert p.external.source_id == DIRA_SOURCE_ID
            assert p.external.value == expected
            assert dict(p.external.extension)["diraCertificates"] == [expected.hex()]
        else:
            assert p.external.value == bytes(64)
        assert check_external(p.external) is None


def test_operator_external_value_combines_with_dira(
    tmp_path: Path, keypair: tuple[Path, Path]
) -> None:
    op = ExternalValue(hashlib.sha512(b"op").digest(), 0, hashlib.sha512(b"value").digest())
    clock = Clock(T0)
    engine = make_engine(tmp_path, keypair, clock, period_ms=1000, external=lambda: op)
    pulses = emit_n(engine, clock, 3)
    assert pulses[0].external.value == op.value  # no DIRA evidence: the operator's block
    third = pulses[2].external
    assert third.source_id == COMBINED_SOURCE_ID
    d3 = hashlib.sha512(b"run 3").digest()
    oracle = hashlib.sha512(op.source_id + (0).to_bytes(4, "big") + op.value + d3).digest()
    assert third.value == oracle
    forged = replace(third, value=hashlib.sha512(b"x").digest())
    assert check_external(forged) is not None


def test_gap_after_downtime_continues_the_chain(tmp_path: Path, keypair: tuple[Path, Path]) -> None:
    clock = Clock(T0)
    engine = make_engine(tmp_path, keypair, clock, period_ms=1000)
    first = emit_n(engine, clock, 3)
    engine.store.close()
    clock.ms += 5500  # down for 5.5 periods
    engine2 = make_engine(tmp_path, keypair, clock, period_ms=1000)
    after = emit_n(engine2, clock, 2)
    assert engine2.chain.chain_index == 1
    assert after[0].pulse_index == 4 and after[0].status_code == STATUS_GAP
    assert after[0].time_ms == first[-1].time_ms + 6000
    assert after[1].status_code == STATUS_OK
    cert = load_certificate(keypair[1])
    pulses = first + after
    assert verify_pulses([(p.name, p) for p in pulses], {cert.id_hex: cert}).ok


def test_key_or_period_change_starts_a_new_chain(
    tmp_path: Path, keypair: tuple[Path, Path], other_keypair: tuple[Path, Path]
) -> None:
    clock = Clock(T0)
    emit_n(make_engine(tmp_path, keypair, clock, period_ms=1000), clock, 2)
    e2 = make_engine(tmp_path, other_keypair, clock, period_ms=1000)
    p = emit_n(e2, clock, 1)[0]
    assert (p.chain_index, p.pulse_index, p.status_code) == (2, 1, STATUS_NEW_CHAIN)
    e3 = make_engine(tmp_path, other_keypair, clock, period_ms=500)
    assert e3.chain.chain_index == 3
    # both certificates stay available for verifying old chains
    for keys in (keypair, other_keypair):
        cert = load_certificate(keys[1])
        assert e3.store.certificate(cert.id_hex) == keys[1].read_bytes()


def test_store_refuses_reissue_with_different_content(
    tmp_path: Path, keypair: tuple[Path, Path]
) -> None:
    clock = Clock(T0)
    engine = make_engine(tmp_path, keypair, clock, period_ms=1000)
    (p,) = emit_n(engine, clock, 1)
    engine.store.persist(p, None)  # same content: a no-op
    with pytest.raises(BeaconStoreError, match="never issued twice"):
        engine.store.persist(replace(p, status_code=0), None)
    assert engine.store.pulse(1, 1) == p


def test_crash_between_persist_and_publish_republishes_same_pulse(
    tmp_path: Path, keypair: tuple[Path, Path]
) -> None:
    clock = Clock(T0)

    def crash(pulse: Pulse) -> None:
        if pulse.pulse_index == 3:
            raise KeyboardInterrupt  # stands in for a kill after the commit

    engine = make_engine(tmp_path, keypair, clock, period_ms=1000, after_persist=crash)
    emit_n(engine, clock, 2)
    with pytest.raises(KeyboardInterrupt):
        emit_n(engine, clock, 1)
    persisted = json.loads(engine.store._rows("SELECT json FROM pulses WHERE pulse_index=3")[0][0])
    assert engine.store.pulse(1, 3) is None  # not published
    engine.store.close()
    clock.ms += 3000
    engine2 = make_engine(tmp_path, keypair, clock, period_ms=1000)
    assert engine2.store.pulse(1, 3) == Pulse.from_dict(persisted)
    (p4,) = emit_n(engine2, clock, 1)
    assert p4.pulse_index == 4 and p4.status_code == STATUS_GAP


def test_list_values_follow_nist_rule_across_an_hour(
    tmp_path: Path, keypair: tuple[Path, Path]
) -> None:
    hour = 3_600_000
    start = (T0 // hour + 1) * hour - 3 * 60_000  # three minutes before an hour boundary
    clock = Clock(start - 1)
    engine = make_engine(tmp_path, keypair, clock, period_ms=60_000)
    pulses = emit_n(engine, clock, 6)  # :57 :58 :59 :00 :01 :02
    by_index = {p.pulse_index: p for p in pulses}
    assert pulses[3].time_ms % hour == 0
    # the first pulse of an hour points at the first pulse of the previous hour (NIST rule)
    assert pulses[3].list_value("hour").value == by_index[1].output_value
    assert pulses[4].list_value("hour").value == by_index[4].output_value
    assert pulses[5].list_value("hour").value == by_index[4].output_value
    assert period_start(pulses[3].time_ms, "hour") == pulses[3].time_ms
    cert = load_certificate(keypair[1])
    report = verify_pulses([(p.name, p) for p in pulses], {cert.id_hex: cert})
    assert report.ok and not [n for n in report.not_checked if "pulse 6" in n]


def test_period_start_against_datetime() -> None:
    import datetime as dt

    ms = 1_709_251_199_999  # 2024-02-29T23:59:59.999Z (leap day)
    t = dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC)
    for unit, expect in (
        ("hour", t.replace(minute=0, second=0, microsecond=0)),
        ("day", t.replace(hour=0, minute=0, second=0, microsecond=0)),
        ("month", t.replace(day=1, hour=0, minute=0, second=0, microsecond=0)),
        ("year", t.replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0)),
    ):
        assert period_start(ms, unit) == int(expect.timestamp() * 1000)
