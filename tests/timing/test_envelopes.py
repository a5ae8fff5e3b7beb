"""Tests for diamp.timing.envelopes (and the simulator in diamp.timing.synthetic)."""

from __future__ import annotations

import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from diamp.errors import DiampError, TimingError
from diamp.timing import synthetic
from diamp.timing.envelopes import (
    EdgeTiming,
    EnvelopeTrace,
    edge_timing,
    inter_node_offset,
    threshold_crossing,
)
from diamp.timing.synthetic import (
    SyntheticEdge,
    banded_envelopes,
    drifted_series,
    synthetic_envelopes,
)

AWG5014_GRANULARITY_NS = 1.66
DT_NS = 0.4
THRESHOLD_V = 0.25  # half of the default 0.5 V amplitude


def _mid(timing: EdgeTiming) -> float:
    return 0.5 * (timing.early_ns + timing.late_ns)


def _ramp_trace(early_ns: float, late_ns: float, device: str = "ramp") -> EnvelopeTrace:
    """Envelopes that are linear ramps (0.05 V/ns) through 0.5 V at early_ns and late_ns."""
    t = -20.0 + DT_NS * np.arange(101)
    high = np.clip(0.5 + 0.05 * (t - early_ns), 0.0, 1.0)
    low = np.clip(0.5 + 0.05 * (t - late_ns), 0.0, 1.0)
    return EnvelopeTrace(device, -20.0, DT_NS, low, high)


# --------------------------------------------------------------------------- threshold_crossing


def test_crossing_exact_on_piecewise_linear_signal() -> None:
    # segment k=1 -> 2 goes 0 -> 1 V; 0.25 V is a quarter of the way: 10 + 2 * 1.25 = 12.5 ns
    assert threshold_crossing(np.array([0.0, 0.0, 1.0, 1.0]), 10.0, 2.0, 0.25) == 12.5
    # uneven segment: 0.2 -> 0.6 V over [0.8, 1.2] ns, threshold 0.5 at 3/4 -> 1.1 ns
    values = np.array([0.0, 0.1, 0.2, 0.6, 0.7])
    assert threshold_crossing(values, 0.0, 0.4, 0.5) == pytest.approx(1.1, abs=1e-15)


def test_crossing_falling_edge() -> None:
    values = np.array([1.0, 1.0, 0.5, 0.0])
    # 0.5 -> 0 V between 2 and 3 samples; 0.25 V half-way: -1 + 0.5 * 2.5
    assert threshold_crossing(values, -1.0, 0.5, 0.25, edge="falling") == 0.25
    with pytest.raises(TimingError, match="no rising crossing"):
        threshold_crossing(values, -1.0, 0.5, 0.25, edge="rising")


def test_crossing_returns_first_of_several() -> None:
    values = np.array([0.0, 1.0, 0.0, 1.0, 0.0])
    assert threshold_crossing(values, 0.0, 1.0, 0.5) == 0.5
    assert threshold_crossing(values, 0.0, 1.0, 0.5, edge="falling") == 1.5


def test_crossing_at_a_sample_and_starting_above_threshold() -> None:
    assert threshold_crossing(np.array([0.0, 0.5, 1.0]), 3.0, 0.4, 0.5) == pytest.approx(3.4)
    # a signal that starts at/above the threshold has no rising crossing until it dips below
    assert threshold_crossing(np.array([0.6, 0.2, 0.6]), 0.0, 1.0, 0.4) == 1.5


def test_no_crossing_raises_naming_threshold() -> None:
    with pytest.raises(TimingError, match=r"threshold 0\.75") as info:
        threshold_crossing(np.linspace(0.0, 0.5, 10), 0.0, 0.4, 0.75)
    assert info.value.fields["threshold"] == 0.75
    with pytest.raises(TimingError, match="no rising crossing"):
        threshold_crossing(np.ones(5), 0.0, 0.4, 0.5)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_values_raise(bad: float) -> None:
    values = np.array([0.0, 0.1, bad, 0.9, 1.0])
    with pytest.raises(TimingError, match="non-finite"):
        threshold_crossing(values, 0.0, 0.4, 0.5)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"dt_ns": 0.0}, "dt_ns"),
        ({"dt_ns": -0.4}, "dt_ns"),
        ({"t0_ns": np.nan}, "t0_ns"),
        ({"threshold": np.nan}, "threshold"),
        ({"edge": "up"}, "edge"),
    ],
)
def test_crossing_rejects_bad_arguments(kwargs: dict[str, object], match: str) -> None:
    args: dict[str, object] = {"t0_ns": 0.0, "dt_ns": 0.4, "threshold": 0.5, "edge": "rising"}
    args.update(kwargs)
    with pytest.raises(TimingError, match=match):
        threshold_crossing(np.linspace(0, 1, 5), **args)  # type: ignore[arg-type]


def test_crossing_rejects_short_or_2d_input() -> None:
    with pytest.raises(TimingError, match=">= 2 samples"):
        threshold_crossing(np.array([0.0]), 0.0, 0.4, 0.5)
    with pytest.raises(TimingError, match="1-d"):
        threshold_crossing(np.zeros((2, 3)), 0.0, 0.4, 0.5)


@settings(max_examples=200, deadline=None)
@given(
    offset=st.floats(-5.0, 5.0),
    slope=st.floats(0.01, 10.0),
    falling=st.booleans(),
    t0=st.floats(-50.0, 50.0),
    dt=st.floats(0.01, 2.0),
    n=st.integers(2, 200),
    where=st.floats(0.05, 0.95),
)
def test_crossing_of_linear_ramp_matches_analytic(
    offset: float, slope: float, falling: bool, t0: float, dt: float, n: int, where: float
) -> None:
    b = -slope if falling else slope
    t = t0 + dt * np.arange(n)
    values = offset + b * t
    threshold = offset + b * (t0 + where * (n - 1) * dt)
    analytic = (threshold - offset) / b
    got = threshold_crossing(values, t0, dt, threshold, edge="falling" if falling else "rising")
    assert abs(got - analytic) <= 1e-9


# --------------------------------------------------------------------------- EnvelopeTrace


def test_trace_copies_to_read_only_float64() -> None:
    low = [0.0, 0.1, 0.2]
    trace = EnvelopeTrace("qrng", -1.0, 0.4, low, np.array([0, 1, 1]))  # type: ignore[arg-type]
    assert trace.low.dtype == np.float64
    assert trace.high.dtype == np.float64
    assert not trace.low.flags.writeable
    np.testing.assert_allclose(trace.times_ns, [-1.0, -0.6, -0.2])


@pytest.mark.parametrize(
    ("t0", "dt", "low", "high", "match"),
    [
        (0.0, 0.4, [0.0, 0.0, 0.0], [1.0, 1.0], "differ in length"),
        (0.0, 0.4, [0.0, 0.5, 0.0], [1.0, 0.4, 1.0], "below low envelope"),
        (0.0, 0.0, [0.0, 0.0], [1.0, 1.0], "dt_ns"),
        (0.0, -0.4, [0.0, 0.0], [1.0, 1.0], "dt_ns"),
        (0.0, np.nan, [0.0, 0.0], [1.0, 1.0], "dt_ns"),
        (np.inf, 0.4, [0.0, 0.0], [1.0, 1.0], "t0_ns"),
        (0.0, 0.4, [0.0, np.nan], [1.0, 1.0], "non-finite"),
        (0.0, 0.4, [0.0, 0.0], [1.0, np.inf], "non-finite"),
        (0.0, 0.4, [0.0], [1.0], ">= 2 samples"),
        (0.0, 0.4, [[0.0, 0.0]], [[1.0, 1.0]], "1-d"),
        (0.0, 0.4, ["a", "b"], [1.0, 1.0], "not numeric"),
    ],
)
def test_trace_validation_names_device(
    t0: float, dt: float, low: object, high: object, match: str
) -> None:
    with pytest.raises(TimingError, match=match) as info:
        EnvelopeTrace("awg5014-other-node", t0, dt, low, high)  # type: ignore[arg-type]
    assert "awg5014-other-node" in str(info.value)
    assert isinstance(info.value, DiampError)


def test_trace_allows_rounding_slack() -> None:
    EnvelopeTrace("awg70k", 0.0, 0.4, np.array([0.5, 0.5]), np.array([0.5 - 1e-13, 0.5]))


# --------------------------------------------------------------------------- edge_timing


def test_edge_timing_on_exact_ramps_and_resolution_allowance() -> None:
    timing = edge_timing(_ramp_trace(0.3, 1.57), 0.5, AWG5014_GRANULARITY_NS)
    assert timing.early_ns == pytest.approx(0.3, abs=1e-12)
    assert timing.late_ns == pytest.approx(1.57, abs=1e-12)
    assert timing.spread_ns == pytest.approx(1.27, abs=1e-12)
    # default allowance: one sample (0.4 ns) -> 1.27 >= 1.66 - 0.4 counts as jitter
    assert timing.jitter
    assert not edge_timing(_ramp_trace(0.3, 1.55), 0.5, AWG5014_GRANULARITY_NS).jitter
    # with no allowance only a full step counts
    assert not edge_timing(_ramp_trace(0.3, 1.57), 0.5, 1.66, resolution_ns=0.0).jitter
    assert edge_timing(_ramp_trace(0.3, 1.97), 0.5, 1.66, resolution_ns=0.0).jitter


def test_edge_timing_to_dict() -> None:
    timing = edge_timing(_ramp_trace(-2.0, -1.5, device="qrng"), 0.5, 2.0)
    assert timing.to_dict() == pytest.approx(
        {
            "device": "qrng",
            "early_ns": -2.0,
            "late_ns": -1.5,
            "spread_ns": 0.5,
            "granularity_ns": 2.0,
            "jitter": False,
        }
    )
    assert {type(v) for v in timing.to_dict().values()} == {str, float, bool}


@pytest.mark.parametrize(
    ("granularity", "resolution"), [(0.0, None), (-1.0, None), (1.66, 1.66), (1.66, -0.1)]
)
def test_edge_timing_rejects_bad_granularity(granularity: float, resolution: float | None) -> None:
    with pytest.raises(TimingError, match="ramp"):
        edge_timing(_ramp_trace(0.0, 0.1), 0.5, granularity, resolution_ns=resolution)


def test_edge_timing_missing_crossing_names_device_and_threshold() -> None:
    with pytest.raises(TimingError, match=r"ramp: no rising crossing of threshold 2\.0"):
        edge_timing(_ramp_trace(0.0, 0.1), 2.0, 1.66)


def test_edge_timing_out_of_order_crossings_raise() -> None:
    low = np.array([0.0, 0.6, 0.0, 0.0, 0.6])
    high = np.array([0.9, 0.9, 0.9, 0.4, 0.9])  # starts above threshold: no early crossing
    with pytest.raises(TimingError, match="qrng: rising edge crossings out of order"):
        edge_timing(EnvelopeTrace("qrng", 0.0, 1.0, low, high), 0.5, 2.0)


def test_falling_edge_mirrors_rising_edge() -> None:
    rising = synthetic_envelopes(
        SyntheticEdge("awg70k", 1.3, jitter_rms_ns=0.2), rng=np.random.default_rng(11)
    )
    mirrored = EnvelopeTrace("awg70k", rising.t0_ns, rising.dt_ns, -rising.high, -rising.low)
    assert edge_timing(mirrored, -THRESHOLD_V, 6.4, edge="falling") == edge_timing(
        rising, THRESHOLD_V, 6.4
    )


# --------------------------------------------------------------------------- synthetic envelopes


def test_no_jitter_edge_has_small_spread_and_recovers_arrival() -> None:
    trace = synthetic_envelopes(SyntheticEdge("awg5014", 3.17), rng=np.random.default_rng(1))
    timing = edge_timing(trace, THRESHOLD_V, AWG5014_GRANULARITY_NS)
    assert 0.0 <= timing.spread_ns < 1.0
    assert timing.spread_ns < AWG5014_GRANULARITY_NS
    assert not timing.jitter
    assert abs(_mid(timing) - 3.17) < DT_NS, f"mid-point {_mid(timing):.4f} ns, injected 3.17"


def test_step_jitter_is_detected() -> None:
    edge = SyntheticEdge("awg5014", -0.8, jitter_steps_ns=AWG5014_GRANULARITY_NS, p_step=0.05)
    timing = edge_timing(
        synthetic_envelopes(edge, triggers=2000, rng=np.random.default_rng(2)),
        THRESHOLD_V,
        AWG5014_GRANULARITY_NS,
    )
    assert abs(timing.spread_ns - AWG5014_GRANULARITY_NS) < DT_NS, f"spread {timing.spread_ns}"
    assert timing.jitter
    assert abs(timing.early_ns - -0.8) < DT_NS  # unjumped triggers still arrive on time


def test_step_jitter_on_falling_edge() -> None:
    edge = SyntheticEdge("awg70k", 2.0, amplitude_v=-0.5, jitter_steps_ns=1.66, p_step=0.05)
    trace = synthetic_envelopes(edge, rng=np.random.default_rng(3))
    timing = edge_timing(trace, -THRESHOLD_V, 1.66, edge="falling")
    assert abs(timing.spread_ns - 1.66) < DT_NS
    assert timing.jitter
    assert not edge_timing(trace, -THRESHOLD_V, 6.4, edge="falling").jitter  # AWG70k steps


def test_gaussian_jitter_widens_spread() -> None:
    sigma = 0.3
    trace = synthetic_envelopes(
        SyntheticEdge("qrng", 0.0, jitter_rms_ns=sigma), rng=np.random.default_rng(4)
    )
    timing = edge_timing(trace, THRESHOLD_V, 2.0)
    # the range of 2000 normal draws is about 7 sigma
    assert 2 * sigma < timing.spread_ns < 8 * sigma, f"spread {timing.spread_ns / sigma:.2f} sigma"


def test_inter_node_offset_recovers_published_offset() -> None:
    rng = np.random.default_rng(5)
    local = synthetic_envelopes(SyntheticEdge("reference", 0.0), rng=rng)
    remote = synthetic_envelopes(SyntheticEdge("awg5014-other-node", 7.5, offset_ns=0.55), rng=rng)
    offset = inter_node_offset(local, remote, THRESHOLD_V, expected_delay_ns=7.5)
    assert abs(offset - 0.55) < 0.2, f"recovered t_dAB = {offset:.4f} ns, injected 0.55 ns"


def test_drifted_series_recovers_drift_slope() -> None:
    hours = np.linspace(0.0, 60.0, 13)
    traces = drifted_series(SyntheticEdge("qrng", 0.0), 16.9, hours, rng=np.random.default_rng(6))
    assert len(traces) == hours.size
    mids = [_mid(edge_timing(t, THRESHOLD_V, 2.0)) for t in traces]
    slope_ps_per_h = 1e3 * np.polyfit(hours, mids, 1)[0]
    assert abs(slope_ps_per_h - 16.9) < 0.1 * 16.9, f"fitted {slope_ps_per_h:.3f} ps/h"


def test_synthetic_matches_slow_definition(monkeypatch: pytest.MonkeyPatch) -> None:
    """Oracle: a per-trigger loop replaying the same draws, across a chunk boundary."""
    monkeypatch.setattr(synthetic, "_CHUNK_ELEMENTS", 3 * 21)  # 3 triggers per chunk
    edge = SyntheticEdge("x", 0.5, rise_time_ns=0.8, jitter_rms_ns=0.2, jitter_steps_ns=1.0,
                         p_step=0.3, offset_ns=0.1)  # fmt: skip
    trace = synthetic_envelopes(
        edge, triggers=10, window_ns=(-4.0, 4.0), noise_v=0.01, rng=np.random.default_rng(7)
    )
    rng = np.random.default_rng(7)
    t = -4.0 + 0.4 * np.arange(21)
    tau = 0.8 / (2 * np.log(3.0))
    rows = []
    for m in (3, 3, 3, 1):
        z, u, noise = rng.standard_normal(m), rng.random(m), rng.standard_normal((m, t.size))
        for j in range(m):
            arrival = 0.6 + 0.2 * z[j] + (1.0 if u[j] < 0.3 else 0.0)
            rows.append(0.25 * (1 + np.tanh((t - arrival) / tau)) + 0.01 * noise[j])
    np.testing.assert_allclose(trace.low, np.min(rows, axis=0), rtol=0, atol=1e-15)
    np.testing.assert_allclose(trace.high, np.max(rows, axis=0), rtol=0, atol=1e-15)
    np.testing.assert_allclose(trace.times_ns, t, atol=1e-12)


@pytest.mark.parametrize(
    ("edge", "window", "triggers"),
    [
        (SyntheticEdge("a", 10.0, jitter_rms_ns=0.3, jitter_steps_ns=1.66, p_step=0.05),
         (-20, 130), 700),
        (SyntheticEdge("b", 110.0, amplitude_v=-0.5, offset_ns=0.55), (-20, 130), 300),
        (SyntheticEdge("c", 129.5, rise_time_ns=2.0), (-20, 130), 50),  # edge leaves the window
        (SyntheticEdge("d", -40.0), (-20, 20), 20),  # whole edge before the window
        (SyntheticEdge("e", 60.0), (-20, 20), 20),  # whole edge after the window
        (SyntheticEdge("f", 0.0, jitter_rms_ns=0.5), (-5, 5), 1),
    ],
)  # fmt: skip
def test_banded_equals_synthetic_without_noise(
    edge: SyntheticEdge, window: tuple[float, float], triggers: int
) -> None:
    """Oracle: with no voltage noise both draw the same arrivals, so the envelopes are equal."""
    args = {"triggers": triggers, "window_ns": window, "noise_v": 0.0}
    full = synthetic_envelopes(edge, rng=np.random.default_rng(3), **args)  # type: ignore[arg-type]
    banded = banded_envelopes(edge, rng=np.random.default_rng(3), **args)  # type: ignore[arg-type]
    np.testing.assert_array_equal(banded.low, full.low)
    np.testing.assert_array_equal(banded.high, full.high)
    assert (banded.t0_ns, banded.dt_ns, banded.device) == (full.t0_ns, full.dt_ns, full.device)


@pytest.mark.parametrize("triggers", [1, 2, 40, 400])
@pytest.mark.parametrize("rms", [0.2, 0.0])  # 0: few distinct arrivals, the grouped band path
def test_banded_noise_is_distributed_as_the_full_simulation(triggers: int, rms: float) -> None:
    """Two-sample KS tests against synthetic_envelopes (seeded): flat low/high, range, band."""
    from scipy.stats import ks_2samp

    edge = SyntheticEdge("q", 10.0, jitter_rms_ns=rms, jitter_steps_ns=2.0, p_step=0.1)
    args = {"triggers": triggers, "window_ns": (-20.0, 60.0), "noise_v": 0.01}
    full = [synthetic_envelopes(edge, rng=np.random.default_rng(s), **args) for s in range(60)]  # type: ignore[arg-type]
    fast = [banded_envelopes(edge, rng=np.random.default_rng(10**6 + s), **args) for s in range(60)]  # type: ignore[arg-type]

    def pooled(traces: list[EnvelopeTrace], what: str, where: slice) -> np.ndarray:
        def values(t: EnvelopeTrace) -> np.ndarray:
            return {"low": t.low, "high": t.high, "range": t.high - t.low}[what][where]

        return np.concatenate([values(t) for t in traces])

    before, after = slice(0, 60), slice(120, None)  # -20 .. 3.6 ns and 28 .. 60 ns: flat
    for what, where in [("low", before), ("high", before), ("range", after), ("low", after)]:
        result = ks_2samp(pooled(full, what, where), pooled(fast, what, where))
        assert result.pvalue > 1e-3, (what, where, result)
    edge_band = slice(72, 90)  # the rising edge, 8.8 .. 16 ns
    for what in ("low", "high", "range"):
        result = ks_2samp(pooled(full, what, edge_band), pooled(fast, what, edge_band))
        assert result.pvalue > 1e-3, (what, result)
    if triggers > 1:  # the test has the power to tell a minimum from a maximum
        assert ks_2samp(pooled(full, "low", before), pooled(fast, "high", before)).pvalue < 1e-6


def test_noise_extremes_match_direct_minimum_and_maximum() -> None:
    """Oracle for the order-statistic sampler: min/max of N normals drawn directly."""
    from scipy.stats import ks_2samp

    for n in (1, 2, 5, 1000):
        low, high = synthetic._noise_extremes(4000, n, np.random.default_rng(n))
        z = np.random.default_rng(100 + n).standard_normal((4000, n))
        assert ks_2samp(low, z.min(axis=1)).pvalue > 1e-3, n
        assert ks_2samp(high, z.max(axis=1)).pvalue > 1e-3, n
        assert ks_2samp(high - low, np.ptp(z, axis=1)).pvalue > 1e-3, n  # joint law
        assert np.all(high >= low) and np.all(np.isfinite(low))
    assert np.array_equal(*synthetic._noise_extremes(10, 1, np.random.default_rng(0)))


def test_banded_whole_screen_record_is_fast() -> None:
    edge = SyntheticEdge("awg5014", 10.0, jitter_rms_ns=0.05)
    start = time.perf_counter()
    trace = banded_envelopes(
        edge, triggers=5000, window_ns=(-20.0, 140.0), rng=np.random.default_rng(4)
    )
    elapsed = time.perf_counter() - start
    assert trace.low.size == 401
    assert not edge_timing(trace, THRESHOLD_V, AWG5014_GRANULARITY_NS).jitter
    assert elapsed < 0.5, f"{elapsed:.3f} s for 5000 triggers x 401 samples"


def test_synthetic_edge_waveform_rise_time() -> None:
    edge = SyntheticEdge("x", 1.0, rise_time_ns=0.5, amplitude_v=2.0)
    t = np.linspace(-2.0, 4.0, 600_001)
    v = edge.waveform(t, 1.0)
    t10 = threshold_crossing(v, -2.0, 1e-5, 0.2)
    t90 = threshold_crossing(v, -2.0, 1e-5, 1.8)
    assert t90 - t10 == pytest.approx(0.5, abs=1e-6)
    assert threshold_crossing(v, -2.0, 1e-5, 1.0) == pytest.approx(1.0, abs=1e-6)


def test_synthetic_is_reproducible_and_fast() -> None:
    edge = SyntheticEdge("awg5014", 0.0, jitter_rms_ns=0.1)
    start = time.perf_counter()
    a = synthetic_envelopes(edge, triggers=2000, rng=np.random.default_rng(8))
    elapsed = time.perf_counter() - start
    b = synthetic_envelopes(edge, triggers=2000, rng=np.random.default_rng(8))
    assert a.low.size == 101
    assert a.t0_ns == -20.0
    np.testing.assert_array_equal(a.low, b.low)
    np.testing.assert_array_equal(a.high, b.high)
    assert elapsed < 1.0, f"{elapsed:.3f} s for 2000 triggers x 101 samples"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"rise_time_ns": 0.0},
        {"amplitude_v": 0.0},
        {"jitter_rms_ns": -0.1},
        {"jitter_steps_ns": np.nan},
        {"p_step": 1.5},
        {"arrival_ns": np.inf},
    ],
)
def test_synthetic_edge_validation_names_device(kwargs: dict[str, float]) -> None:
    args = {"arrival_ns": 0.0, **kwargs}
    with pytest.raises(TimingError, match="qrng: invalid synthetic edge"):
        SyntheticEdge("qrng", **args)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"triggers": 0}, "triggers"),
        ({"triggers": 2.5}, "triggers"),
        ({"noise_v": -1.0}, "noise_v"),
        ({"dt_ns": 0.0}, "dt_ns"),
        ({"window_ns": (5.0, -5.0)}, "window_ns"),
        ({"window_ns": (0.0, 0.1)}, "fewer than 2 samples"),
    ],
)
def test_synthetic_envelopes_validation(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(TimingError, match=match):
        synthetic_envelopes(
            SyntheticEdge("qrng", 0.0),
            rng=np.random.default_rng(9),
            **kwargs,  # type: ignore[arg-type]
        )


def test_drifted_series_validation() -> None:
    with pytest.raises(TimingError, match="qrng: hours"):
        drifted_series(SyntheticEdge("qrng", 0.0), 16.9, [[0.0]], rng=np.random.default_rng(10))
