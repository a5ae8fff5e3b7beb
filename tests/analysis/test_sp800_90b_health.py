"""Continuous health tests: cutoffs from their definitions, a direct oracle, chunking."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray
from scipy.stats import binom

from diamp.analysis.sp800_90b.health import (
    HealthFailure,
    HealthMonitor,
    adaptive_proportion_cutoff,
    repetition_count_cutoff,
)
from diamp.errors import AnalysisError


@pytest.mark.parametrize(("h", "cutoff"), [(1.0, 21), (0.5, 41), (2.0, 11), (8.0, 4), (0.3, 68)])
def test_repetition_count_cutoff(h: float, cutoff: int) -> None:
    assert repetition_count_cutoff(h) == cutoff == 1 + math.ceil(20 / h)


@pytest.mark.parametrize("h", [0.1, 0.2, 0.25, 1 / 3, 0.7, 1.0, 2.5, 5.0, 8.0])
def test_repetition_count_cutoff_is_the_smallest_with_probability_below_alpha(h: float) -> None:
    c = repetition_count_cutoff(h)
    assert 2.0 ** (-h * (c - 1)) <= 2.0**-20 < 2.0 ** (-h * (c - 2))


@pytest.mark.parametrize(
    ("h", "window", "formula"),
    [(0.5, 512, 410), (1.0, 512, 311), (2.0, 512, 177), (4.0, 512, 62), (8.0, 512, 13),
     (1.0, 1024, 589), (0.5, 1024, 793)],
)  # fmt: skip
def test_standard_formula_reproduces_its_table(h: float, window: int, formula: int) -> None:
    assert adaptive_proportion_cutoff(h, window, method="sp800-90b") == formula


@pytest.mark.parametrize("window", [512, 1024])
@pytest.mark.parametrize("h", [0.2, 0.4, 0.5, 1.0, 2.0, 3.0, 4.0, 6.0, 8.0])
def test_adaptive_proportion_cutoff_from_the_binomial_distribution(h: float, window: int) -> None:
    if window == 1024 and h > 1:
        return
    c = adaptive_proportion_cutoff(h, window)
    p = 2.0**-h

    def false_alarm(cut: int) -> float:  # P(1 + Binomial(W-1, p) >= cut)
        return float(binom.sf(cut - 2, window - 1, p))

    assert false_alarm(c) <= 2.0**-20 < false_alarm(c - 1)
    assert c - adaptive_proportion_cutoff(h, window, method="sp800-90b") in (0, 1)


def test_the_jitterentropy_cutoff_at_alpha_2_to_the_minus_30() -> None:
    assert adaptive_proportion_cutoff(1.0, 512, alpha=2.0**-30) == 325  # JENT_APT_CUTOFF


def test_invalid_parameters_are_refused() -> None:
    for bad in (0.0, -1.0, 8.5, math.nan):
        with pytest.raises(AnalysisError):
            repetition_count_cutoff(bad)
    with pytest.raises(AnalysisError, match="cannot detect"):
        adaptive_proportion_cutoff(0.005, 512)
    with pytest.raises(AnalysisError):
        HealthMonitor(2.0, 1)
    monitor = HealthMonitor(1.0, 1)
    with pytest.raises(AnalysisError):
        monitor.feed(np.array([0, 1, 2]))
    assert monitor.samples_seen == 0


def direct_health(x: list[int], rct: int, apt: int, window: int) -> list[tuple[str, int]]:
    """§4.4.1 and §4.4.2 read literally, one sample at a time."""
    out = []
    a, b = None, 0
    for i, v in enumerate(x):
        if v == a:
            b += 1
            if b == rct:
                out.append(("repetition_count", i))
        else:
            a, b = v, 1
    for start in range(0, len(x), window):
        w = x[start : start + window]
        count = 1
        for j in range(1, len(w)):
            if w[j] == w[0]:
                count += 1
                if count == apt:
                    out.append(("adaptive_proportion", start + j))
    return sorted(out, key=lambda f: (f[1], f[0] != "repetition_count"))


def faulty_stream(n: int, seed: int, width: int) -> NDArray[np.uint8]:
    """Random samples with stuck stretches and a biased stretch."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 1 << width, n)
    for start in rng.integers(0, n - 300, 4):
        x[start : start + int(rng.integers(5, 300))] = x[start]
    s = int(rng.integers(0, n // 2))
    x[s : s + 2000] = np.where(rng.random(2000) < 0.7, 0, x[s : s + 2000])
    return x.astype(np.uint8)


@pytest.mark.parametrize(("h", "width"), [(1.0, 1), (0.8, 1), (3.0, 4), (6.0, 8)])
def test_monitor_matches_the_direct_reading(h: float, width: int) -> None:
    x = faulty_stream(20_000, int(h * 10) + width, width)
    monitor = HealthMonitor(h, width)
    got = monitor.feed(x)
    want = direct_health(
        x.tolist(), monitor.repetition_cutoff, monitor.proportion_cutoff, monitor.window
    )
    assert [(f.test, f.index) for f in got] == want
    assert len(want) > 0  # the stream does trip the tests


def test_a_stuck_source_is_caught_at_the_cutoff() -> None:
    monitor = HealthMonitor(1.0, 8)
    x = np.random.default_rng(0).integers(0, 256, 1000).astype(np.uint8)
    x[500:600] = 7
    x[499] = 3
    failures = monitor.feed(x)
    assert HealthFailure("repetition_count", 500 + 21 - 1) in failures
    assert monitor.window == 512 and HealthMonitor(0.5, 1).window == 1024


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    seed=st.integers(0, 2**32 - 1),
    cuts=st.lists(st.integers(0, 6000), max_size=12),
    width=st.sampled_from([1, 2, 8]),
)
def test_failures_do_not_depend_on_chunking(seed: int, cuts: list[int], width: int) -> None:
    x = faulty_stream(6000, seed % 1000, width)
    h = min(0.7 * width, 6.0)
    whole = HealthMonitor(h, width)
    whole.feed(x)
    pieces = HealthMonitor(h, width)
    bounds = [0, *sorted(cuts), len(x)]
    for a, b in itertools.pairwise(bounds):
        pieces.feed(x[a:b])
    assert pieces.failures == whole.failures
    assert pieces.samples_seen == whole.samples_seen == len(x)


def _fed_in_two(x: NDArray[np.uint8], cut: int, h: float) -> HealthMonitor:
    monitor = HealthMonitor(h, 8, alpha=2.0**-40)
    assert monitor.feed(x[:cut]) == []  # nothing fails before the cut
    monitor.feed(x[cut:])
    return monitor


def test_a_repetition_run_across_two_chunks_is_counted_whole() -> None:
    h = 6.2571  # the shipped vacuum source's in-force value: C = 1 + ceil(40 / h) = 8
    x = np.arange(4000, dtype=np.int64).astype(np.uint8)  # no repeats, no APT hits
    cut = 1000
    probe = HealthMonitor(h, 8, alpha=2.0**-40)
    c = probe.repetition_cutoff
    assert c == 8
    x[cut - 3 : cut - 3 + c] = 42  # 3 samples in the first chunk, 5 in the second
    x[2000 : 2000 + c - 1] = 43  # one short of the cutoff, across a second cut at 2003
    x[cut - 4], x[cut - 3 + c], x[1999], x[2000 + c - 1] = 1, 2, 3, 4
    monitor = _fed_in_two(x, cut, h)
    want = direct_health(x.tolist(), c, monitor.proportion_cutoff, monitor.window)
    assert want == [("repetition_count", cut - 3 + c - 1)]
    assert [(f.test, f.index) for f in monitor.failures] == want
    second = HealthMonitor(h, 8, alpha=2.0**-40)
    for piece in (x[:cut], x[cut:2003], x[2003:]):  # the short run is cut too: still short
        second.feed(piece)
    assert [(f.test, f.index) for f in second.failures] == want


def test_an_adaptive_proportion_window_across_two_chunks_is_counted_whole() -> None:
    h = 6.2571
    rng = np.random.default_rng(12)
    x = rng.permutation(np.tile(np.arange(1, 256, dtype=np.uint8), 8))[:1536].copy()
    x[x == 7] = 8  # 7 only where placed below
    probe = HealthMonitor(h, 8, alpha=2.0**-40)
    c, w = probe.proportion_cutoff, probe.window
    window = np.arange(w, 2 * w)  # the second window, cut in the middle at 700
    spots = np.concatenate([[w], rng.choice(window[2::2], c - 1, replace=False)])
    x[spots] = 7
    x[spots[1:] - 1] = 9  # no repetition runs next to the planted values
    cut = 700
    before = int(np.sum(spots < cut))
    assert 0 < before < c  # the window's count reaches the cutoff only after the cut
    monitor = _fed_in_two(x, cut, h)
    want = direct_health(x.tolist(), probe.repetition_cutoff, c, w)
    assert want == [("adaptive_proportion", int(spots.max()))]
    assert [(f.test, f.index) for f in monitor.failures] == want
