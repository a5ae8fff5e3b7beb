"""SP 800-90B §5.2: chi-square independence and goodness-of-fit tests, and the LRS test.

Computed as by the reference tool (``cpp/iid/chi_square_tests.h``, ``len_LRS_test`` in
``cpp/shared/lrs_test.h``): proportions are accumulated as 1/L per occurrence in double,
expected counts are pooled into bins of at least 5 after sorting by (expectation, value),
a test passes when its p-value is at least 0.001. p-values are the regularised upper
incomplete gamma function Q(df/2, T/2) (:func:`diamp.analysis._special.chi2_sf`; the tool
uses Cephes ``igamc``); df ≤ 0 gives p = 1, as in Cephes.

Known behaviour of the tool's independence test for k > 2, kept here: when the pair cells
p_a p_b ⌊L/2⌋ are mostly below 5 and pooled, the statistic's mean is close to bins − 1
while df = bins − k, so IID data fail far more often than 1 in 1000 (61 % of 300 uniform
samples of 20,000 bytes; none of three of 200,000). At the 1,000,000 samples SP 800-90B
asks for, 8-bit cells hold about 7.6 expected pairs and need no pooling.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from diamp.analysis._special import chi2_sf
from diamp.analysis.sp800_90b._kernels.counting import accumulated_proportions
from diamp.analysis.sp800_90b.tuples import longest_common_prefixes, suffix_array

__all__ = [
    "ChiSquareResult",
    "LrsTestResult",
    "chi_square_goodness_of_fit",
    "chi_square_independence",
    "lrs_test",
]

_ALPHA = 0.001


@dataclass(frozen=True)
class ChiSquareResult:
    """A chi-square test: statistic T, degrees of freedom, p-value and verdict."""

    statistic: float
    df: int
    p_value: float
    passed: bool


def _result(statistic: float, df: int) -> ChiSquareResult:
    p = 1.0 if df <= 0 or statistic <= 0 else chi2_sf(float(statistic), float(df))
    return ChiSquareResult(float(statistic), int(df), p, p >= _ALPHA)


def _proportions(symbols: NDArray[np.uint8], k: int) -> NDArray[np.float64]:
    counts = np.bincount(symbols, minlength=k).astype(np.int64)
    p: NDArray[np.float64] = accumulated_proportions(counts, symbols.shape[0])
    return p


def _bins(expected: NDArray[np.float64]) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """Pool categories, sorted by (expectation, category), into bins of expectation ≥ 5.

    A last bin short of 5 is merged into the one before it. Returns the bin of every
    category and the expectation of every bin.
    """
    order = np.lexsort((np.arange(expected.shape[0]), expected))
    bin_of = np.zeros(expected.shape[0], np.int64)
    sums: list[float] = []
    current, total = 0, 0.0
    for c in order:
        if total >= 5.0:
            sums.append(total)
            current += 1
            total = 0.0
        bin_of[c] = current
        total += float(expected[c])
    if current != 0 and total < 5.0:
        bin_of[bin_of == current] = current - 1
        sums[current - 1] += total
    else:
        sums.append(total)
    return bin_of, np.array(sums)


def _statistic(observed: NDArray[np.int64], expected: NDArray[np.float64]) -> float:
    return float(sum((float(o) - e) ** 2 / e for o, e in zip(observed, expected, strict=True)))


def chi_square_independence(symbols: NDArray[np.uint8], k: int) -> ChiSquareResult:
    """Chi-square test of independence of successive samples (§5.2.1, §5.2.3).

    Notes
    -----
    k > 2: non-overlapping pairs (s₂ᵢ, s₂ᵢ₊₁) against p_a p_b ⌊L/2⌋, df = bins − k.
    k = 2: m-bit blocks (m ≤ 11, the largest with p_min^m ⌊L/m⌋ ≥ 5) against the binomial
    expectation p₁^w p₀^{m−w} ⌊L/m⌋ for a block of weight w, df = 2^m − 2; with m < 2 the
    test is not run and passes (T = 0, df = 0), as in the tool.
    """
    n = symbols.shape[0]
    if k == 2:
        p1 = float(np.count_nonzero(symbols)) / n
        p0 = 1.0 - p1
        m = 11
        while m > 1 and math.pow(min(p0, p1), m) * (n // m) < 5:
            m -= 1
        if m < 2:
            return _result(0.0, 0)
        blocks = n // m
        weights = 1 << np.arange(m - 1, -1, -1)
        words = symbols[: blocks * m].reshape(blocks, m).astype(np.int64) @ weights
        occ = np.bincount(words, minlength=1 << m)
        t = 0.0
        for v in range(1 << m):
            w = bin(v).count("1")
            e = math.pow(p1, w) * math.pow(p0, m - w) * blocks
            t += (float(occ[v]) - e) ** 2 / e
        return _result(t, (1 << m) - 2)
    p = _proportions(symbols, k)
    expected = np.outer(p, p).ravel() * math.floor(n * 0.5)
    bin_of, bin_exp = _bins(expected)
    pairs = symbols[: n - n % 2].reshape(-1, 2).astype(np.int64)
    observed = np.bincount(bin_of[pairs[:, 0] * k + pairs[:, 1]], minlength=bin_exp.shape[0])
    return _result(_statistic(observed, bin_exp), bin_exp.shape[0] - k)


def chi_square_goodness_of_fit(symbols: NDArray[np.uint8], k: int) -> ChiSquareResult:
    """Chi-square test that ten consecutive sub-sequences share one distribution (§5.2.2, §5.2.4).

    Notes
    -----
    Sub-sequences of ⌊L/10⌋ samples (any remainder is not used). k > 2: bins pooled from
    p_v ⌊L/10⌋, df = 9 (bins − 1). k = 2: counts of zeros and ones, df = 9.
    """
    n = symbols.shape[0]
    sub = n // 10
    if k == 2:
        p = float(np.count_nonzero(symbols)) / n
        e0, e1 = (1.0 - p) * sub, p * sub
        t = 0.0
        for i in range(10):
            o1 = int(np.count_nonzero(symbols[i * sub : (i + 1) * sub]))
            t += (sub - o1 - e0) ** 2 / e0 + (o1 - e1) ** 2 / e1
        return _result(t, 9)
    expected = _proportions(symbols, k) * math.floor(n / 10.0)
    bin_of, bin_exp = _bins(expected)
    t = 0.0
    for i in range(10):
        part = bin_of[symbols[i * sub : (i + 1) * sub]]
        t += _statistic(np.bincount(part, minlength=bin_exp.shape[0]), bin_exp)
    return _result(t, 9 * (bin_exp.shape[0] - 1))


@dataclass(frozen=True)
class LrsTestResult:
    """Length-of-longest-repeated-substring test (§5.2.5).

    ``w`` is the LRS length, ``p_col`` the collision probability Σ p_v², ``pairs`` the
    number N of pairs of W-tuples and ``probability`` Pr(X ≥ 1) = 1 − (1 − p_col^W)^N
    (long double; may round to 0 or 1). The test passes when Pr(X ≥ 1) ≥ 1/1000.
    """

    w: int
    p_col: float
    pairs: int
    probability: float
    passed: bool


def lrs_test(symbols: NDArray[np.uint8], k: int) -> LrsTestResult:
    """The LRS test on samples ``0 .. k-1``, in long double as the tool computes it."""
    n = symbols.shape[0]
    p = _proportions(symbols, k).astype(np.longdouble)
    p_col = np.sum(p * p)
    text = np.ascontiguousarray(symbols, dtype=np.int32)
    w = int(longest_common_prefixes(text, suffix_array(text, k)).max(initial=0))
    pairs = (n - w + 1) * (n - w) // 2
    if p_col > 1 - np.finfo(np.longdouble).eps:
        return LrsTestResult(w, float(p_col), pairs, 1.0, True)
    log_none = np.log1p(-np.power(p_col, np.longdouble(w)))
    exponent = np.longdouble(pairs) * log_none
    probability = float(-np.expm1(exponent))
    passed = bool(np.log(np.longdouble("0.999")) >= exponent)
    return LrsTestResult(w, float(p_col), pairs, probability, passed)
