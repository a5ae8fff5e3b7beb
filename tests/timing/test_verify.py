from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from diamp.cli import app
from diamp.daq.traces import read_traces, write_traces
from diamp.errors import TimingError
from diamp.timing.records import TimingCheck, TraceRecord
from diamp.timing.section import load_timing
from diamp.timing.simulate import simulated_checks
from diamp.timing.synthetic import SyntheticEdge, synthetic_envelopes
from diamp.timing.verify import verify_timing

ETH = Path(__file__).resolve().parents[2] / "configs" / "timing" / "eth-2024.toml"
runner = CliRunner()


def test_clean_run_passes_and_recovers_the_offset() -> None:
    section = load_timing(ETH)
    checks = simulated_checks(
        section, checks=5, hours=9, offset_ns=0.55, rng=np.random.default_rng(1)
    )
    result = verify_timing(section, checks)
    assert result.verdict == "pass", result.reasons
    offsets = [c.offset_ns for c in result.checks]
    assert all(o is not None and abs(o - 0.55) < 0.1 for o in offsets), offsets
    assert all(not e.jitter for c in result.checks for _, e in c.edges)
    json.dumps(result.to_dict())  # serialisable for the store and the certificate


def test_measured_offset_larger_than_declared_enters_the_budget() -> None:
    section = load_timing(ETH)
    checks = simulated_checks(
        section, checks=2, hours=1, offset_ns=2.0, rng=np.random.default_rng(2)
    )
    result = verify_timing(section, checks)
    assert abs(float(result.budget.ab.inter_node_offset_ns) - 2.0) < 0.1  # not the declared 0.55
    assert result.budget.t_protocol_ab_ns > load_timing(ETH).sync.inter_node_offset_ns.value + 106


def test_injected_jitter_fails_the_right_check_and_device() -> None:
    section = load_timing(ETH)
    checks = simulated_checks(
        section,
        checks=6,
        hours=5,
        jitter_device="awg5014",
        jitter_from=4,
        rng=np.random.default_rng(3),
    )
    result = verify_timing(section, checks)
    assert result.verdict == "fail"
    flagged = {(c.label, name) for c in result.checks for name, e in c.edges if e.jitter}
    assert flagged == {
        (label, f"{node}-awg5014") for label in ("after block 3", "after block 4") for node in "AB"
    }
    assert any("awg5014" in r and "after block 3" in r for r in result.reasons)


def test_drift_beyond_the_window_requires_resynchronisation() -> None:
    section = load_timing(ETH)
    checks = simulated_checks(section, checks=2, hours=70, rng=np.random.default_rng(4))
    result = verify_timing(section, checks)
    assert result.drift is not None and result.drift.resync_due
    assert any("re-synchronise" in r and "qrng" in r for r in result.reasons)


def test_undeclared_device_is_an_error() -> None:
    trace = synthetic_envelopes(SyntheticEdge("mystery", 5.0), rng=np.random.default_rng(5))
    check = TimingCheck(0.0, "before block 0", (TraceRecord("A-mystery", "A", "edge", trace),))
    with pytest.raises(TimingError, match="mystery"):
        verify_timing(load_timing(ETH), [check])


def test_trace_file_round_trip_and_malformed_files(tmp_path: Path) -> None:
    import h5py

    section = load_timing(ETH)
    checks = simulated_checks(section, checks=2, hours=1, rng=np.random.default_rng(6))
    path = tmp_path / "t.h5"
    write_traces(path, checks)
    back = read_traces(path)
    assert [c.label for c in back] == [c.label for c in checks]
    written = {r.name: r for r in checks[1].records}
    for rec in back[1].records:
        assert np.array_equal(rec.trace.low, written[rec.name].trace.low)
        assert np.array_equal(rec.trace.high, written[rec.name].trace.high)
        assert (rec.node, rec.role, rec.trace.dt_ns) == (
            written[rec.name].node,
            written[rec.name].role,
            written[rec.name].trace.dt_ns,
        )
    assert len(back[1].records) == len(written)
    with h5py.File(path, "r+") as f:
        del f["checks/000001/A-qrng"].attrs["dt_ns"]
    with pytest.raises(TimingError, match="000001/A-qrng"):
        read_traces(path)
    other = tmp_path / "o.h5"
    with h5py.File(other, "w") as f:
        f.attrs["schema"] = "something.else"
    with pytest.raises(TimingError, match=r"diamp\.traces"):
        read_traces(other)


def test_cli_simulate_and_check(tmp_path: Path) -> None:
    good, bad = tmp_path / "good.h5", tmp_path / "bad.h5"
    args = ["timing", "simulate", "--timing", str(ETH), "--checks", "4", "--hours", "3"]
    assert runner.invoke(app, [*args, "-o", str(good)]).exit_code == 0
    result = runner.invoke(app, ["timing", "check", str(good), "--timing", str(ETH), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["verdict"] == "pass" and len(data["checks"]) == 4
    jitter = [*args, "-o", str(bad), "--jitter-device", "qrng", "--jitter-from", "2"]
    assert runner.invoke(app, jitter).exit_code == 0
    failing = runner.invoke(app, ["timing", "check", str(bad), "--timing", str(ETH)])
    assert failing.exit_code == 4 and "jitter on A-qrng" in failing.output


def test_cli_report_writes_a_self_contained_page(tmp_path: Path) -> None:
    import base64
    import re

    traces = tmp_path / "run" / "timing.h5"
    traces.parent.mkdir()
    args = ["timing", "simulate", "--timing", str(ETH), "--checks", "5", "-o", str(traces)]
    assert (
        runner.invoke(app, [*args, "--jitter-device", "qrng", "--jitter-from", "3"]).exit_code == 0
    )
    result = runner.invoke(app, ["timing", "report", str(traces.parent), "--timing", str(ETH)])
    assert result.exit_code == 0, result.output
    page = (traces.parent / "timing.html").read_text()
    expected = verify_timing(load_timing(ETH), read_traces(traces)).budget
    assert f"{float(expected.t_protocol_ab_ns):.2f}" in page  # with the measured offset
    assert "109.83" in page and "fail" in page and "jitter on A-qrng" in page
    images = re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", page)
    assert len(images) == 2
    assert all(base64.b64decode(img).startswith(b"\x89PNG") for img in images)


def test_excluded_blocks_needs_both_bracketing_checks() -> None:
    from itertools import product

    from diamp.errors import TimingError
    from diamp.timing.verify import excluded_blocks

    for verdicts in product([True, False], repeat=5):  # every pattern over 4 blocks
        want = tuple(k for k in range(4) if verdicts[k] and verdicts[k + 1])
        kept = tuple(k for k in range(4) if k not in excluded_blocks(verdicts))
        assert kept == want
    assert excluded_blocks([True]) == ()  # no blocks
    with pytest.raises(TimingError):
        excluded_blocks([])


@pytest.mark.parametrize("hours", [float("nan"), float("inf"), -1.0])
def test_a_duration_that_is_not_a_finite_nonnegative_number_is_refused(hours: float) -> None:
    with pytest.raises(TimingError, match="finite hours >= 0"):
        simulated_checks(
            load_timing(ETH), checks=3, hours=hours, offset_ns=0.5, rng=np.random.default_rng(2)
        )
