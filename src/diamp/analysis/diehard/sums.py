"""The overlapping-sums test as Marsaglia describes it (not as dieharder 3.31.1 codes it).

Marsaglia: "Integers are floated to get a sequence U(1), U(2), … of uniform [0,1)
variables. Then overlapping sums, S(1) = U(1)+…+U(100), S(2) = U(2)+…+U(101), … are
formed. The S's are virtually normal with a certain covariance matrix. A linear
transformation of the S's converts them to a sequence of independent standard normals,
which are converted to uniform variables for a KSTEST."

With y_t = (S_t − m/2)·√12 the covariance is the Toeplitz matrix T with diagonals
m, m−1, …, 1 (his "T"); with the Cholesky factor T = L·Lᵀ, x = L⁻¹·y are independent
standard normals, and Φ(x) are the uniforms given to the KS test (the standard one-sample
Kolmogorov–Smirnov test with the exact law of D_m, as Marsaglia's KSTEST; dieharder's own
statistic max |u_(i) − i/(m+1)| is kept for the final p-value over repetitions, as for
every other test). dieharder replaces L⁻¹
by a three-term recurrence that does not whiten y (its own documentation says the test's
p-values are not uniform, "Do Not Use"), so diamp's p-values for this test differ from
dieharder's by design; it reads the same 2m − 1 words per repetition as dieharder does.
:func:`sums_pvalue_dieharder` reproduces dieharder's recurrence, for comparison only.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from diamp.analysis._special import ndtr_array
from diamp.analysis.diehard.stats import ks_uniform, kstest

__all__ = ["sums_pvalue", "sums_pvalue_dieharder", "toeplitz_cholesky"]


@lru_cache(maxsize=4)
def toeplitz_cholesky(m: int) -> np.ndarray:
    """Lower Cholesky factor of the covariance T[i, j] = max(m − |i − j|, 0) of the y's."""
    lags = np.abs(np.subtract.outer(np.arange(m), np.arange(m)))
    return np.linalg.cholesky(np.maximum(m - lags, 0).astype(float))


def sums_pvalue(sums: np.ndarray) -> float:
    """KS p-value of the whitened overlapping sums S_1 … S_m of one repetition."""
    s = np.asarray(sums, dtype=float)
    m = s.size
    y = (s - 0.5 * m) * math.sqrt(12.0)
    x = _whitening(m) @ y
    return ks_uniform(ndtr_array(x))


@lru_cache(maxsize=4)
def _whitening(m: int) -> np.ndarray:
    """L⁻¹ of :func:`toeplitz_cholesky` (condition number 116 for m = 100), read-only."""
    inverse = np.linalg.inv(toeplitz_cholesky(m))
    inverse.flags.writeable = False
    return inverse


def sums_pvalue_dieharder(sums: np.ndarray) -> float:
    """The p-value dieharder 3.31.1 gives one repetition (for ``dieharder_compat`` only).

    With y_t = (S_t − m/2)·√12 (t = 0 … m − 1), dieharder sets x_0 = y_0/√m,
    x_1 = −x_0(m − 1)/√(2m − 1) + y_1·√(m/(2m − 1)), and for t ≥ 2 with a = 2m + 1 − t,
    b = 2a − 2: x_t = y_{t−2}/√(ab) − y_{t−1}·√((a − 1)/(b + 2)) + y_t·√(a/b) (its comments
    say this follows the original program). The x's are only roughly independent: for
    m = 100 their covariance differs from the identity by up to 0.068
    (``tests/analysis/diehard/test_diehard_marsaglia.py``). dieharder's own KS statistic
    max |u_(i) − i/(m + 1)| of Φ(x) then gives the p-value.
    """
    y = (np.asarray(sums, dtype=float) - 0.5 * sums.size) * math.sqrt(12.0)
    m = y.size
    x = np.empty(m)
    x[0] = y[0] / math.sqrt(m)
    x[1] = -x[0] * (m - 1) / math.sqrt(2.0 * m - 1.0) + y[1] * math.sqrt(m / (2.0 * m - 1.0))
    a = 2.0 * m + 1.0 - np.arange(2, m)
    b = 2.0 * a - 2.0
    x[2:] = (
        y[:-2] / np.sqrt(a * b) - y[1:-1] * np.sqrt((a - 1.0) / (b + 2.0)) + y[2:] * np.sqrt(a / b)
    )
    return kstest(ndtr_array(x))
