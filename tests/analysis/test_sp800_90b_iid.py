"""The IID track: statistics against direct definitions, reproducibility and verdicts."""

from __future__ import annotations

import bz2
import ctypes
import ctypes.util
import itertools
import math
from collections import Counter

import mpmath
import numpy as np
import pytest
from numpy.typing import NDArray
from scipy.stats import chi2

from diamp.analysis.sp800_90b.chisquare import (
    chi_square_goodness_of_fit,
    chi_square_independence,
    lrs_test,
)
from diamp.analysis.sp800_90b.iid import assess_iid
from diamp.analysis.sp800_90b.permutation import (
    NAMES,
    _Context,
    compression_statistic,
    permutation_test,
)
from diamp.analysis.sp800_90b.samples import prepare_samples

LAGS = (1, 2, 8, 16, 32)


def runs(signs: list[int]) -> tuple[int, int]:
    """Number of runs and the longest run of a ±1 sequence."""
    count, longest, run = 1, 1, 1
    for a, b in itertools.pairwise(signs):
        run = run + 1 if a == b else 1
        count += a != b
        longest = max(longest, run)
    return count, longest


def collisions(x: list[int]) -> list[int]:
    out, seen, start = [], set(), 0
    for i, v in enumerate(x):
        if v in seen:
            out.append(i - start + 1)
            seen, start = set(), i + 1
        else:
            seen.add(v)
    return out


def direct_statistics(raw: list[int], mapped: list[int], binary: bool) -> list[float]:
    """§5.1.1–5.1.10 from their definitions, with Conversions I and II for binary data."""
    n = len(raw)
    mean = sum(raw) / n
    total, excursion = 0.0, 0.0
    for i, v in enumerate(raw):
        total += v
        excursion = max(excursion, abs(total - (i + 1) * mean))
    if binary:
        blocks = [mapped[i : i + 8] for i in range(0, n, 8)]
        conv1 = [sum(b) for b in blocks]
        conv2 = [sum(bit << (7 - j) for j, bit in enumerate(b)) for b in blocks]
        lagged, values, col, median = conv1, conv1, conv2, 0.5
    else:
        srt = sorted(mapped)
        median = srt[n // 2] if n % 2 else (srt[n // 2] + srt[n // 2 - 1]) / 2
        lagged, values, col = mapped, raw, mapped
    signs = [1 if a <= b else -1 for a, b in itertools.pairwise(lagged)]
    n_dir, len_dir = runs(signs)
    ups = signs.count(1)
    n_med, len_med = runs([-1 if v < median else 1 for v in mapped])
    cols = collisions(col)
    stats = [excursion, n_dir, len_dir, max(ups, len(signs) - ups), n_med, len_med]
    stats += [sum(cols) / len(cols), max(cols)]
    stats += [sum(lagged[i] == lagged[i + p] for i in range(len(lagged) - p)) for p in LAGS]
    stats += [sum(values[i] * values[i + p] for i in range(len(values) - p)) for p in LAGS]
    return [float(s) for s in stats]


CASES = [
    (np.random.default_rng(1).integers(0, 2, 3001).astype(np.uint8), 1),
    ((np.random.default_rng(2).random(2003) < 0.3).astype(np.uint8) * 5 + 2, 3),  # {2, 7}
    (np.random.default_rng(3).integers(0, 256, 2500).astype(np.uint8), 8),
    (np.random.default_rng(4).choice([1, 4, 9, 13], 2000).astype(np.uint8), 4),
]


@pytest.mark.parametrize(("raw", "width"), CASES, ids=range(len(CASES)))
def test_unpermuted_statistics_match_their_definitions(raw: NDArray[np.uint8], width: int) -> None:
    samples = prepare_samples(raw, width)
    got = _Context(samples).original()
    want = direct_statistics(raw.tolist(), samples.symbols.tolist(), samples.binary)
    assert got[:18] == pytest.approx(want, rel=1e-12)
    assert got[18] == compression_statistic(raw)


def tool_bzip2_length(text: bytes) -> int:
    """BZ2_bzBuffToBuffCompress(dest, &len, text, n, 5, 0, 0) through libbz2, as the tool."""
    lib = ctypes.CDLL(ctypes.util.find_library("bz2") or "libbz2.so.1")
    dest_len = ctypes.c_uint(int(len(text) * 1.01) + 600)
    dest = ctypes.create_string_buffer(dest_len.value)
    rc = lib.BZ2_bzBuffToBuffCompress(dest, ctypes.byref(dest_len), text, len(text), 5, 0, 0)
    assert rc == 0
    return dest_len.value


@pytest.mark.parametrize(("raw", "width"), CASES, ids=range(len(CASES)))
def test_compression_statistic_is_libbz2_on_the_decimal_text(
    raw: NDArray[np.uint8], width: int
) -> None:
    text = " ".join(str(v) for v in raw.tolist()).encode()
    assert compression_statistic(raw) == tool_bzip2_length(text)
    assert compression_statistic(raw) == len(bz2.compress(text, 5))


def test_a_seeded_run_is_reproducible_and_independent_of_batch_size() -> None:
    samples = prepare_samples(np.random.default_rng(5).integers(0, 16, 4000), 4)
    a = permutation_test(samples, seed=123, permutations=300, batch=7)
    b = permutation_test(samples, seed=123, permutations=300, batch=64)
    c = permutation_test(samples, seed=124, permutations=300)
    assert a.permutations == b.permutations and (a.counts == b.counts).all()
    assert a.original == c.original  # only the counts depend on the seed
    assert not (a.counts == c.counts).all()


def test_iid_data_from_a_seeded_generator_pass() -> None:
    # 4-bit samples: 10,000 pairs fill all 256 pair cells, so no pooling is needed (with
    # 8-bit samples the tool's independence test needs about a million of them)
    raw = np.random.default_rng(2024).integers(0, 16, 20_000).astype(np.uint8)
    r = assess_iid(raw, 4, seed=7)
    assert r.iid
    assert r.permutation.permutations < 10_000  # every statistic settled early
    assert r.min_entropy == pytest.approx(min(r.mcv_literal.h, 4 * r.mcv_bitstring.h))  # type: ignore[union-attr]
    assert 3.8 < r.min_entropy <= 4


def test_the_pooled_independence_test_needs_many_samples() -> None:
    # documented tool behaviour: with most pair cells pooled, df = bins − k is too small
    fails = sum(
        not chi_square_independence(
            np.random.default_rng(s).integers(0, 256, 20_000).astype(np.uint8), 256
        ).passed
        for s in range(40)
    )
    assert fails > 10


def test_strongly_correlated_data_fail() -> None:
    steps = np.random.default_rng(9).integers(0, 3, 5000)
    raw = (np.cumsum(steps) % 256).astype(np.uint8)  # a slow random walk
    r = assess_iid(raw, 8, seed=7, permutations=2000)
    assert not r.iid
    failed = {name for name, ok in zip(NAMES, r.permutation.passed, strict=True) if not ok}
    assert {"numDirectionalRuns", "periodicity(1)", "covariance(1)"} <= failed
    assert r.permutation.permutations == 2000
    assert not r.chi_square_independence.passed


@pytest.mark.slow
def test_strongly_correlated_bits_fail_the_full_10000_shuffles() -> None:
    flips = np.random.default_rng(10).random(8_000) < 0.1  # bits that repeat 90 % of the time
    raw = (np.cumsum(flips) % 2).astype(np.uint8)
    r = assess_iid(raw, 1, seed=3)
    assert not r.iid and r.permutation.permutations == 10_000
    assert not r.permutation.passed[NAMES.index("numRunsMedian")]


def test_binary_chi_square_statistics_by_hand() -> None:
    bits = (np.random.default_rng(11).random(50_000) < 0.4).astype(np.uint8)
    p1 = bits.mean()
    m = 11
    while m > 1 and min(p1, 1 - p1) ** m * (len(bits) // m) < 5:
        m -= 1
    blocks = len(bits) // m
    words = Counter(int("".join(map(str, bits[i * m : (i + 1) * m])), 2) for i in range(blocks))
    t = 0.0
    for v in range(2**m):
        w = bin(v).count("1")
        e = p1**w * (1 - p1) ** (m - w) * blocks
        t += (words[v] - e) ** 2 / e
    r = chi_square_independence(bits, 2)
    assert (r.df, r.statistic) == (2**m - 2, pytest.approx(t, rel=1e-10))
    assert r.p_value == pytest.approx(chi2.sf(t, 2**m - 2), rel=1e-9)
    sub = len(bits) // 10
    t = 0.0
    for i in range(10):
        o1 = int(bits[i * sub : (i + 1) * sub].sum())
        t += (sub - o1 - (1 - p1) * sub) ** 2 / ((1 - p1) * sub) + (o1 - p1 * sub) ** 2 / (p1 * sub)
    g = chi_square_goodness_of_fit(bits, 2)
    assert (g.df, g.statistic) == (9, pytest.approx(t, rel=1e-10))
    assert g.p_value == pytest.approx(chi2.sf(t, 9), rel=1e-9)


def test_chi_square_without_pooling_equals_pearson() -> None:
    s = np.random.default_rng(12).choice(4, 20_000, p=[0.4, 0.3, 0.2, 0.1]).astype(np.uint8)
    p = np.bincount(s) / len(s)  # every pair expectation is far above 5: one bin each
    pairs = Counter(zip(s[0::2].tolist(), s[1::2].tolist(), strict=True))
    t = sum((pairs[(a, b)] - p[a] * p[b] * 10_000) ** 2 / (p[a] * p[b] * 10_000)
            for a in range(4) for b in range(4))  # fmt: skip
    r = chi_square_independence(s, 4)
    assert (r.df, r.statistic) == (16 - 4, pytest.approx(t, rel=1e-9))
    assert r.p_value == pytest.approx(chi2.sf(t, 12), rel=1e-9) and r.passed
    t = 0.0
    for i in range(10):
        counts = np.bincount(s[i * 2000 : (i + 1) * 2000], minlength=4)
        t += sum((counts[v] - p[v] * 2000) ** 2 / (p[v] * 2000) for v in range(4))
    g = chi_square_goodness_of_fit(s, 4)
    assert (g.df, g.statistic) == (27, pytest.approx(t, rel=1e-9))


def test_goodness_of_fit_fails_when_the_distribution_drifts() -> None:
    rng = np.random.default_rng(13)
    early = rng.choice(4, 10_000, p=[0.4, 0.3, 0.2, 0.1])
    late = rng.choice(4, 10_000, p=[0.1, 0.2, 0.3, 0.4])
    s = np.concatenate([early, late]).astype(np.uint8)
    assert not chi_square_goodness_of_fit(s, 4).passed


def test_lrs_test_against_a_direct_computation() -> None:
    s = np.random.default_rng(14).integers(0, 3, 400).astype(np.uint8)
    text = bytes(s.tolist())
    w = max(t for t in range(1, 400) if len({text[i : i + t] for i in range(401 - t)}) < 401 - t)
    p_col = sum((c / 400) ** 2 for c in Counter(s.tolist()).values())
    pairs = math.comb(400 - w + 1, 2)
    with mpmath.workdps(40):
        prob = 1 - (1 - mpmath.mpf(p_col) ** w) ** pairs
    r = lrs_test(s, 3)
    assert (r.w, r.pairs) == (w, pairs)
    assert r.p_col == pytest.approx(p_col, rel=1e-12)
    assert r.probability == pytest.approx(float(prob), rel=1e-9)
    assert r.passed == (prob >= 0.001)


def test_a_repeated_block_fails_the_lrs_test() -> None:
    block = np.random.default_rng(15).integers(0, 256, 3000).astype(np.uint8)
    s = np.concatenate([block, np.random.default_rng(16).integers(0, 256, 3000), block])
    r = lrs_test(s.astype(np.uint8), 256)
    assert r.w >= 3000 and not r.passed
