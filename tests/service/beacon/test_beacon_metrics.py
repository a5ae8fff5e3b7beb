"""The beacon's metrics: pulses published, late (after the tolerance) and missed, last pulse."""

from __future__ import annotations

import itertools
import threading
import time
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families
from test_beacon_engine import T0, Clock, CountingSource, make_engine

from diamp.service.beacon.errors import BeaconError
from diamp.service.beacon.provenance import SimpleDraw
from diamp.service.beacon.pulse import STATUS_GAP
from diamp.service.metrics import Metrics, late_tolerance


def _values(metrics: Metrics) -> dict[str, float]:
    text = metrics.render().decode()
    return {
        s.name: s.value
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
        if s.name.startswith("diamp_beacon_")
    }


def test_late_tolerance_is_a_quarter_period_at_most_five_seconds() -> None:
    assert late_tolerance(60.0) == 5.0
    assert late_tolerance(4.0) == 1.0
    assert late_tolerance(20.0) == 5.0


def test_a_pulse_published_after_the_tolerance_is_late(
    tmp_path: Path, keypair: tuple[Path, Path]
) -> None:
    clock = Clock(T0)
    engine = make_engine(tmp_path, keypair, clock, period_ms=4000)  # tolerance 1 s
    metrics = Metrics()
    metrics.watch_beacon(engine)
    assert "diamp_beacon_last_pulse_timestamp_seconds" not in _values(metrics)  # none yet
    delays = [0, 1000, 1001, 3999]  # ms after the slot: on time, on time, late, late
    for i, delay in enumerate(delays):
        slot = T0 + 4000 * (i + 1)
        clock.ms = slot + delay
        engine.emit(slot)
    v = _values(metrics)
    assert v["diamp_beacon_pulses_published_total"] == 4
    assert v["diamp_beacon_pulses_late_total"] == 2
    assert v["diamp_beacon_pulses_missed_total"] == 0
    assert v["diamp_beacon_last_pulse_timestamp_seconds"] == (T0 + 16000) / 1000
    assert v["diamp_beacon_period_seconds"] == 4.0
    assert v["diamp_beacon_running"] == 0  # never started


class _StallingSource(CountingSource):
    """Draws as usual; the 2nd draw moves the clock 3.5 periods on, the 4th fails."""

    def __init__(self, shift: list[float], period_s: float) -> None:
        super().__init__()
        self.shift, self.period_s = shift, period_s

    def __call__(self, nbytes: int) -> SimpleDraw:
        if self.n == 1:
            self.shift[0] += 3.5 * self.period_s  # a draw that stalls for 3.5 periods
        if self.n == 3:
            self.n += 1
            raise BeaconError("no fresh bytes")
        return super().__call__(nbytes)


def test_slots_passed_over_and_failed_draws_are_missed(
    tmp_path: Path, keypair: tuple[Path, Path]
) -> None:
    period = 0.5
    shift = [0.0]
    lock = threading.Lock()

    def clock() -> float:
        with lock:
            return time.time() + shift[0]

    source = _StallingSource(shift, period)
    engine = make_engine(tmp_path, keypair, clock, period_ms=500, source=source)  # type: ignore[arg-type]
    metrics = Metrics()
    metrics.watch_beacon(engine)
    engine.start()
    try:
        deadline = time.monotonic() + 30
        while _values(metrics)["diamp_beacon_pulses_published_total"] < 3:
            assert time.monotonic() < deadline, "the beacon published too few pulses"
            time.sleep(0.05)
        assert _values(metrics)["diamp_beacon_running"] == 1
    finally:
        engine.stop()
    v = _values(metrics)
    # pulse 1 is published 3.5 periods after its slot (late); the 3 slots the stall passed
    # over and the slot whose draw failed are missed (more only if this host stalls too)
    assert v["diamp_beacon_pulses_late_total"] >= 1
    assert v["diamp_beacon_pulses_missed_total"] >= 4
    got = [engine.store.pulse(engine.chain.chain_index, i) for i in (1, 2, 3)]
    pulses = [p for p in got if p is not None]
    assert len(pulses) == 3
    # a pulse after a passed-over slot says so (statusCode GAP), one right after its
    # predecessor does not; the stall's 3 slots and the failed draw's slot are all gaps
    # (where they fall depends on this host's timing, not what they are)
    for before, after in itertools.pairwise(pulses):
        gap = after.time_ms - before.time_ms > 500
        assert after.status_code == (STATUS_GAP if gap else 0), (before, after)
    skipped = sum((b.time_ms - a.time_ms) // 500 - 1 for a, b in itertools.pairwise(pulses))
    assert skipped >= 3
    assert v["diamp_beacon_running"] == 0


def test_a_failing_pulse_store_leaves_the_scrape_answering(
    tmp_path: Path, keypair: tuple[Path, Path]
) -> None:
    clock = Clock(T0)
    engine = make_engine(tmp_path, keypair, clock, period_ms=4000)
    metrics = Metrics()
    metrics.watch_beacon(engine)
    clock.ms = T0 + 4000
    engine.emit(T0 + 4000)
    assert _values(metrics)["diamp_beacon_last_pulse_timestamp_seconds"] == (T0 + 4000) / 1000
    engine.store.close()  # every query now fails with BeaconStoreError
    v = _values(metrics)
    assert "diamp_beacon_last_pulse_timestamp_seconds" not in v
    assert v["diamp_beacon_pulses_published_total"] == 1
