"""`diamp run` with timing checks acquired from (simulated) oscilloscopes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from _runconfig import run_config, write_config
from diamp.cli import app
from diamp.config import LoadedConfig, load_config
from diamp.daq.sim.scope import scope_state
from diamp.daq.sim.scpi_server import LoopbackScpiServer
from diamp.daq.store import TrialStoreReader
from diamp.daq.traces import read_trace_file, read_traces, write_traces
from diamp.errors import StorageError
from diamp.protocol.acquire import Interrupted
from diamp.protocol.assemble import timing_context
from diamp.protocol.run import acquire
from diamp.protocol.timing_monitor import TimingMonitor
from diamp.timing.records import TimingCheck

runner = CliRunner()

SETTINGS = {
    "acquire_mode": "ENVELOPE",
    "envelope_count": 2000,
    "sample_rate": 2.5e9,
    "horizontal_scale": 1.6e-8,
    "horizontal_position": 12.5,
}
MAIN = {"ch1": "reference", "ch2": "remote", "ch3": "awg5014", "ch4": "awg70k"}


def scope(
    name: str, node: str, channels: dict[str, str], backend: str = "loopback", address: str = ""
) -> dict[str, Any]:
    return {
        "type": "scope",
        "backend": backend,
        "address": address or f"loopback:{name}",
        "node": node,
        "settings": SETTINGS,
        "channels": channels,
    }


def make_run(
    tmp_path: Path,
    simulate: dict[str, Any] | None = None,
    trials: int = 2_000_000,
    b2: tuple[str, str] = ("", ""),
) -> Path:
    """Config with four scopes; ``b2`` = (backend, address) puts scope-b2 elsewhere."""
    scopes = {
        "scope-a": scope("scope-a", "A", MAIN),
        "scope-a2": scope("scope-a2", "A", {"ch1": "qrng"}),
        "scope-b": scope("scope-b", "B", MAIN),
        "scope-b2": scope("scope-b2", "B", {"ch3": "qrng"}, *(b2 if b2[0] else ("loopback", ""))),
    }
    text = run_config(
        run={"seed": 9, "blocks": 4, "trials_per_block": trials},
        device={"visibility": 1.0},
        protocol={"s_mu_threshold": "0.008"},
        timing={
            "section": "timing/eth-2024.toml",
            "simulate": {"hours_per_block": 0.45, **(simulate or {})},
        },
        instruments=scopes,
    )
    return write_config(tmp_path, text)


def test_run_with_scope_checks_certifies_them(tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = runner.invoke(app, ["run", str(make_run(tmp_path)), "--out", str(out), "-q"])
    assert result.exit_code == 0, result.output
    cert = json.loads((out / "certificate.json").read_text())
    assert cert["status"] == "ok" and cert["m"] > 0
    timing = cert["timing"]
    assert timing["verdict"] == "pass" and len(timing["checks"]) == 5
    assert [c["time_h"] for c in timing["checks"]] == pytest.approx([0, 0.45, 0.9, 1.35, 1.8])
    assert all(abs(c["offset_ns"] - 0.55) < 0.05 for c in timing["checks"])
    checks = read_traces(out / "timing.h5")
    sources = {
        (r.name, r.source.instrument, r.source.channel) for r in checks[4].records if r.source
    }
    assert ("A-qrng", "scope-a2", 1) in sources and ("B-qrng", "scope-b2", 3) in sources
    assert len(sources) == 10  # every trace of the check came from a scope channel
    with TrialStoreReader(out / "trials.h5") as reader:
        snapshot = json.loads(reader.attribute("station_snapshot") or "{}")
    assert {"scope-a", "scope-a2", "scope-b", "scope-b2"} <= set(snapshot["instruments"])


def test_jitter_through_the_scopes_stops_after_the_right_block(tmp_path: Path) -> None:
    out = tmp_path / "run"
    config = make_run(tmp_path, {"jitter_device": "awg70k", "jitter_from_check": 2}, trials=200_000)
    result = runner.invoke(app, ["run", str(config), "--out", str(out), "-q"])
    assert result.exit_code == 3, result.output
    cert = json.loads((out / "certificate.json").read_text())
    assert cert["status"] == "abort" and cert["m"] == 0 and not (out / "key.bin").exists()
    reason = cert["abort_reason"]
    assert reason.startswith("timing verification failed: check after block 1 (0.90 h): ")
    assert "jitter on A-awg70k (awg70k)" in reason
    assert any("B-awg70k (awg70k)" in r for r in cert["timing"]["reasons"])
    assert not any("qrng" in r or "awg5014" in r for r in cert["timing"]["reasons"])
    with TrialStoreReader(out / "trials.h5") as reader:
        assert len(reader.blocks()) == 2  # check 2 (after block 1) failed: no block 2
    last = read_traces(out / "timing.h5")[-1]
    rec = {r.name: r for r in last.records}["A-awg70k"]
    assert rec.source is not None and (rec.source.instrument, rec.source.channel) == ("scope-a", 4)


@pytest.mark.parametrize(
    ("fault", "blocks", "needle"),
    [
        ({"fail_from": 3}, 3, r"timing check 'after block 2': scope-b2 \(DATA:SOU CH3; CURV\?\)"),
        ({"disconnect_at": 2}, 2, r"timing check 'after block 1': scope-b2 \(SYST:ERR\?\): no"),
    ],
)
def test_scope_failing_mid_run_ends_it_naming_the_scope(
    tmp_path: Path, fault: dict[str, int], blocks: int, needle: str
) -> None:
    """scope-b2 runs as a networked scope (backend "py") that reports an error or drops."""
    import re

    probe = load_config(make_run(tmp_path, trials=100_000))
    state = scope_state(
        "scope-b2",
        probe.config.instruments["scope-b2"],
        timing_context(probe),
        probe.config.run.seed,
    )
    for key, value in fault.items():
        setattr(state.emulation, key, value)
    out = tmp_path / "run"
    with LoopbackScpiServer(state) as server:
        config = make_run(tmp_path, trials=100_000, b2=("py", server.resource))
        result = runner.invoke(app, ["run", str(config), "--out", str(out), "-q"])
    assert result.exit_code == 1, result.output
    assert re.search(needle, " ".join(result.output.split())), result.output
    assert not (out / "certificate.json").exists()
    with TrialStoreReader(out / "trials.h5") as reader:
        kept = reader.blocks()
        assert len(kept) == blocks and all(b.status == "complete" for b in kept)
        for b in kept:
            reader.read_block(b)  # verified


def _same(a: list[TimingCheck], b: list[TimingCheck]) -> None:
    assert [c.label for c in a] == [c.label for c in b]
    for ca, cb in zip(a, b, strict=True):
        assert ca.time_h == cb.time_h
        for ra, rb in zip(
            sorted(ca.records, key=lambda r: r.name),
            sorted(cb.records, key=lambda r: r.name),
            strict=True,
        ):
            assert ra.name == rb.name and ra.source is not None and rb.source is not None
            assert (ra.source.instrument, ra.source.channel) == (
                rb.source.instrument,
                rb.source.channel,
            )
            assert np.array_equal(ra.trace.low, rb.trace.low)
            assert np.array_equal(ra.trace.high, rb.trace.high)


def _interrupted_after_two_blocks(loaded: LoadedConfig, part: Path) -> Path:
    """Acquire into ``part`` and stop (as Ctrl-C does) after two complete blocks."""
    part.parent.mkdir()
    calls = 0

    def stop_after_two() -> bool:
        nonlocal calls
        calls += 1
        return calls > 2

    with pytest.raises(Interrupted):
        acquire(loaded, part, "part", should_stop=stop_after_two)
    return part


def test_resume_restores_the_stored_scope_checks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    loaded = load_config(make_run(tmp_path, trials=50_000))
    full = tmp_path / "full" / "trials.h5"
    full.parent.mkdir()
    acquire(loaded, full, "full")
    taken: list[TimingCheck] = []
    original = TimingMonitor.check

    def spy(self: TimingMonitor, index: int) -> bool:
        ok = original(self, index)
        taken.append(self.done[-1])
        return ok

    monkeypatch.setattr(TimingMonitor, "check", spy)
    part = _interrupted_after_two_blocks(loaded, tmp_path / "part" / "trials.h5")
    seen = list(taken)
    assert [c.label for c in seen] == ["before block 0", "after block 0", "after block 1"]
    acquire(loaded, part, "part", resume=True)
    resumed = read_traces(part.with_name("timing.h5"))
    assert len(taken) == len(seen) + 2  # checks 0..2 restored from timing.h5, 3 and 4 taken
    _same(seen, resumed[:3])  # the stored checks are the ones the interrupted run took
    # the simulated scopes continue at acquisition 3, as the uninterrupted run's did
    _same(read_traces(full.with_name("timing.h5")), resumed)
    assert [c.time_h for c in resumed] == [
        c.time_h for c in read_traces(full.with_name("timing.h5"))
    ]


def test_resume_takes_only_the_check_a_crash_left_out(tmp_path: Path) -> None:
    loaded = load_config(make_run(tmp_path, trials=50_000))
    full = tmp_path / "full" / "trials.h5"
    full.parent.mkdir()
    acquire(loaded, full, "full")
    part = _interrupted_after_two_blocks(loaded, tmp_path / "part" / "trials.h5")
    traces = part.with_name("timing.h5")
    checks, run_id = read_trace_file(traces)
    write_traces(traces, checks[:2], run_id)  # killed after block 1 was stored, before its check
    acquire(loaded, part, "part", resume=True)
    _same(read_traces(full.with_name("timing.h5")), read_traces(traces))

    write_traces(traces, checks[:1], run_id)  # two checks of completed blocks lost: refuse
    with pytest.raises(StorageError, match=r"holds 1 timing checks, .* cannot be re-acquired"):
        acquire(loaded, part, "part", resume=True)
    write_traces(traces, checks, "another-run")
    with pytest.raises(StorageError, match="timing checks of run 'another-run'"):
        acquire(loaded, part, "part", resume=True)
