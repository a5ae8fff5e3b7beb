"""OPERM5's quadratic form: counts of overlapping 5-orderings against their covariance.

The 120 counts of the orderings of the n overlapping windows of five words are
asymptotically normal with mean n/120 and covariance n·C, where

    C[i, j] = Σ_{d=-4..4} ( P(window t has ordering i and window t+d has ordering j) − 1/120² )

(windows more than four apart share no word). P is exact: the 5+|d| words of two
windows are equally likely in each of their (5+|d|)! relative orders, so enumerating
them gives C in rationals, here in floating point. C has rank 96 (5! − 4!); the test
statistic is x·C⁺·x / n with x = counts − n/120 and C⁺ the Moore–Penrose inverse,
chi-square with 96 degrees of freedom. dieharder 3.31.1 uses a stored table of C⁺ in its
own ordering index; :func:`ordering_index` is that index, so the counts line up.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

import diamp.analysis.diehard.stats as stats
from diamp.analysis.diehard._kernels_bits import ordering_pairs

__all__ = ["operm5_chisq", "operm5_pvalue", "ordering_index", "pseudo_inverse"]

_RANK = 96


def ordering_index(windows: np.ndarray) -> np.ndarray:
    """Dieharder's index 0 … 119 of the ordering of each row of five distinct values.

    For i = 4 … 1 the position k of the largest of the first i+1 values (the last one on
    ties) is a digit of a mixed-radix number, and that value is swapped to position i.
    """
    w = np.array(windows, dtype=np.int64, copy=True)
    rows = np.arange(w.shape[0])
    index = np.zeros(w.shape[0], dtype=np.int64)
    for i in range(4, 0, -1):
        head = w[:, : i + 1]
        k = i - np.argmax(head[:, ::-1], axis=1)  # last position of the maximum
        index = (i + 1) * index + k
        top = w[rows, k].copy()
        w[rows, k] = w[:, i]
        w[:, i] = top
    return index


@lru_cache(maxsize=1)
def pseudo_inverse() -> np.ndarray:
    """C⁺ for one window (see the module notes), computed from exact enumeration."""
    cov = np.diag(np.full(120, 1.0 / 120)) - 1.0 / 120**2
    for lag in range(1, 5):
        joint = ordering_pairs(5 + lag, lag) / math.factorial(5 + lag)
        term = joint - 1.0 / 120**2
        cov += term + term.T
    values, vectors = np.linalg.eigh(cov)
    keep = np.argsort(values)[-_RANK:]
    inverse: np.ndarray = (vectors[:, keep] / values[keep]) @ vectors[:, keep].T
    return inverse


def operm5_chisq(counts: np.ndarray, windows: int) -> float:
    """The quadratic form x·C⁺·x / n of one repetition's counts over ``windows`` windows."""
    x = np.asarray(counts, dtype=float) - windows / 120.0
    return abs(float(x @ pseudo_inverse() @ x)) / windows


def operm5_pvalue(counts: np.ndarray, windows: int) -> float:
    """Chi-square (96 degrees of freedom) p-value of :func:`operm5_chisq`."""
    return stats.chisq_q(_RANK, operm5_chisq(counts, windows))
