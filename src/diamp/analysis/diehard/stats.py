"""The statistics dieharder 3.31.1 turns counts into p-values with.

* :func:`kstest` — its Kolmogorov–Smirnov p-value of a sample of p-values (the final
  p-value of every test): the statistic max |p_(i) − i/(n+1)|, Marsaglia, Tsang and Wang's
  exact distribution for n ≤ 4999 (with their tail shortcut), the asymptotic series above.
* :func:`pearson` — Pearson's chi-square over the cells whose expected count reaches 5,
  the cells below pooled into one that counts only when it reaches 5 as well
  (dieharder's ``Vtest``); degrees of freedom = cells counted − 1.
* :func:`normal_tail` — Φ((expected − observed)/σ), one-sided (dieharder's ``Xtest``).

Notes
-----
G. Marsaglia, W. W. Tsang, J. Wang, "Evaluating Kolmogorov's distribution", J. Stat.
Softw. 8(18), 2003. Incomplete gamma and normal functions come from scipy.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import special

__all__ = ["chisq_q", "kstest", "normal_tail", "pearson", "poisson_pdf"]

_KS_EXACT_MAX = 4999


def chisq_q(dof: float, chisq: float) -> float:
    """Upper tail Q(dof/2, chisq/2) of the chi-square distribution."""
    return float(special.gammaincc(dof / 2.0, chisq / 2.0))


def poisson_pdf(k: int, lam: float) -> float:
    """P(K = k) for K ~ Poisson(lam)."""
    return math.exp(k * math.log(lam) - math.lgamma(k + 1) - lam)


def normal_tail(observed: float, expected: float, sigma: float) -> float:
    """Φ((expected − observed)/σ): small when the observed value is too large."""
    return float(special.ndtr((expected - observed) / sigma))


def pearson(observed: np.ndarray, expected: np.ndarray, cutoff: float = 5.0) -> float:
    """Chi-square p-value of ``observed`` against ``expected`` cell counts (dieharder's rule)."""
    chisq, cells = _pearson_sum(np.asarray(observed, float), np.asarray(expected, float), cutoff)
    return chisq_q(cells - 1, chisq)


def pearson_statistic(observed: np.ndarray, expected: np.ndarray, cutoff: float = 5.0) -> float:
    """The chi-square sum of :func:`pearson`, without the p-value."""
    return _pearson_sum(np.asarray(observed, float), np.asarray(expected, float), cutoff)[0]


def _pearson_sum(obs: np.ndarray, exp: np.ndarray, cutoff: float) -> tuple[float, int]:
    keep = exp >= cutoff
    chisq = float(np.sum((obs[keep] - exp[keep]) ** 2 / exp[keep]))
    cells = int(np.count_nonzero(keep))
    tail_exp = float(np.sum(exp[~keep]))
    if np.any(~keep) and tail_exp >= cutoff:
        tail_obs = float(np.sum(obs[~keep]))
        chisq += (tail_obs - tail_exp) ** 2 / tail_exp
        cells += 1
    return chisq, cells


def kstest(pvalues: np.ndarray) -> float:
    """Dieharder's KS p-value of a sample of p-values (the sample itself if n = 1)."""
    p = np.sort(np.asarray(pvalues, dtype=float))
    n = p.size
    if n < 1:
        raise ValueError("kstest needs at least one p-value")
    if n == 1:
        return float(p[0])
    dmax = float(np.max(np.abs(p - np.arange(1, n + 1) / (n + 1.0))))
    if n > _KS_EXACT_MAX:
        root = math.sqrt(n)
        return _q_ks((root + 0.12 + 0.11 / root) * dmax)
    return _p_ks(n, dmax)


def _q_ks(x: float) -> float:
    terms = np.arange(1, 100, dtype=float)
    signs = np.where(terms % 2 == 1, 1.0, -1.0)
    return float(2.0 * np.sum(signs * np.exp(-2.0 * x * x * terms * terms)))


def _p_ks(n: int, d: float) -> float:
    """1 − K(n, d) by Marsaglia–Tsang–Wang, with their shortcut for the far tail."""
    s = d * d * n
    if s > 7.24 or (s > 3.76 and n > 99):
        return 2.0 * math.exp(-(2.000071 + 0.331 / math.sqrt(n) + 1.409 / n) * s)
    k = int(n * d) + 1
    m = 2 * k - 1
    h = k - n * d
    i = np.arange(m)
    hmat = np.where(i[:, None] - i[None, :] + 1 >= 0, 1.0, 0.0)
    hmat[:, 0] -= h ** (i + 1.0)
    hmat[m - 1, :] -= h ** (m - i.astype(float))
    hmat[m - 1, 0] += (2 * h - 1) ** m if 2 * h - 1 > 0 else 0.0
    diff = i[:, None] - i[None, :] + 1
    fact = np.array([math.factorial(int(v)) if v > 0 else 1 for v in diff.ravel()], float)
    hmat = hmat / fact.reshape(m, m)
    q, exponent = _matrix_power(hmat, n)
    value = q[k - 1, k - 1]
    for step in range(1, n + 1):
        value = value * step / n
        if value < 1e-140:
            value *= 1e140
            exponent -= 140
    return 1.0 - float(value) * 10.0**exponent


def _matrix_power(a: np.ndarray, n: int) -> tuple[np.ndarray, int]:
    """a**n as (mantissa matrix, decimal exponent), rescaled by 1e-140 as it grows."""
    if n == 1:
        return a.copy(), 0
    half, exponent = _matrix_power(a, n // 2)
    square = half @ half
    exponent *= 2
    if n % 2:
        square = a @ square
    if np.any(square > 1e140):
        square *= 1e-140
        exponent += 140
    return square, exponent
