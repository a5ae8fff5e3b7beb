"""The statistics dieharder 3.31.1 turns counts into p-values with.

* :func:`kstest` — its Kolmogorov–Smirnov p-value of a sample of p-values (the final
  p-value of every test): the statistic max |p_(i) − i/(n+1)|, Marsaglia, Tsang and Wang's
  exact distribution for n ≤ 4999 (with their tail shortcut), the asymptotic series above.
* :func:`pearson` — Pearson's chi-square over the cells whose expected count reaches 5,
  the cells below pooled into one that counts only when it reaches 5 as well
  (dieharder's ``Vtest``); degrees of freedom = cells counted − 1.
* :func:`normal_tail` — Φ((expected − observed)/σ), one-sided (dieharder's ``Xtest``).
* :func:`ks_uniform` — the standard one-sample KS test against U(0, 1) with the exact law
  of D_n (:func:`kolmogorov_sf`), which Marsaglia's overlapping-sums test uses.

Notes
-----
G. Marsaglia, W. W. Tsang, J. Wang, "Evaluating Kolmogorov's distribution", J. Stat.
Softw. 8(18), 2003. Incomplete gamma and normal functions come from
:mod:`diamp.analysis._special`.
"""

from __future__ import annotations

import math

import numpy as np

from diamp.analysis._special import chi2_sf, ndtr

__all__ = [
    "chisq_q",
    "kolmogorov_sf",
    "ks_uniform",
    "kstest",
    "normal_tail",
    "pearson",
    "poisson_pdf",
]

_KS_EXACT_MAX = 4999


def chisq_q(dof: float, chisq: float) -> float:
    """Upper tail Q(dof/2, chisq/2) of the chi-square distribution."""
    return chi2_sf(chisq, dof)


def poisson_pdf(k: int, lam: float) -> float:
    """P(K = k) for K ~ Poisson(lam)."""
    return math.exp(k * math.log(lam) - math.lgamma(k + 1) - lam)


def normal_tail(observed: float, expected: float, sigma: float) -> float:
    """Φ((expected − observed)/σ): small when the observed value is too large."""
    return ndtr((expected - observed) / sigma)


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


def ks_uniform(u: np.ndarray) -> float:
    """The standard one-sample Kolmogorov–Smirnov p-value of ``u`` against U(0, 1), exact.

    D = max(D⁺, D⁻) with D⁺ = max_i (i/n − u_(i)), D⁻ = max_i (u_(i) − (i − 1)/n), and the
    p-value P(D_n ≥ D) from :func:`kolmogorov_sf` (SciPy's ``kstest(u, "uniform",
    method="exact")``).
    """
    x = np.sort(np.asarray(u, dtype=float))
    n = x.size
    if n < 1:
        raise ValueError("ks_uniform needs at least one value")
    i = np.arange(1, n + 1)
    d = max(float(np.max(i / n - x)), float(np.max(x - (i - 1) / n)))
    return kolmogorov_sf(n, d)


def kolmogorov_sf(n: int, d: float) -> float:
    """P(D_n ≥ d) for the two-sided KS statistic D_n of n uniforms.

    Notes
    -----
    For n·d² ≤ 4 (and d < 1/2), 1 − K(n, d) with K from Marsaglia–Tsang–Wang's exact matrix
    power; above, 2·P(D_n⁺ ≥ d) with the exact one-sided law (Birnbaum–Tingey,
    :func:`_smirnov_sf`), which is exact for d ≥ 1/2 and leaves out P(D⁺ ≥ d and D⁻ ≥ d),
    below 4·10⁻¹¹ of the result for n·d² > 4 (asymptotically e^{−6nd²}). The same split as
    SciPy's ``kstwo.sf`` for n ≤ 140 (Simard and L'Ecuyer, J. Stat. Softw. 39(11), 2011).
    """
    if d <= 0.0:
        return 1.0
    if d >= 1.0:
        return 0.0
    if d >= 0.5 or n * d * d > 4.0:
        return min(1.0, 2.0 * _smirnov_sf(n, d))
    return min(1.0, max(0.0, 1.0 - _k_mtw(n, d)))


def _smirnov_sf(n: int, d: float) -> float:
    """P(D_n⁺ ≥ d), 0 < d < 1: d Σ_{j ≤ n(1−d)} C(n, j) (1 − d − j/n)^{n−j} (d + j/n)^{j−1}.

    Birnbaum and Tingey, Ann. Math. Stat. 22, 592 (1951); every term is positive.
    """
    terms = []
    for j in range(n + 1):
        base = ((n - j) - n * d) / n
        if base <= 0.0:
            break
        log_c = math.log(math.comb(n, j)) if n <= 1000 else _log_comb(n, j)
        terms.append(math.exp(log_c + (n - j) * math.log(base) + (j - 1) * math.log(d + j / n)))
    return d * math.fsum(terms)


def _log_comb(n: int, j: int) -> float:
    return math.lgamma(n + 1.0) - math.lgamma(j + 1.0) - math.lgamma(n - j + 1.0)


def _q_ks(x: float) -> float:
    terms = np.arange(1, 100, dtype=float)
    signs = np.where(terms % 2 == 1, 1.0, -1.0)
    return float(2.0 * np.sum(signs * np.exp(-2.0 * x * x * terms * terms)))


def _p_ks(n: int, d: float) -> float:
    """1 − K(n, d) by Marsaglia–Tsang–Wang, with their shortcut for the far tail."""
    s = d * d * n
    if s > 7.24 or (s > 3.76 and n > 99):
        return 2.0 * math.exp(-(2.000071 + 0.331 / math.sqrt(n) + 1.409 / n) * s)
    return 1.0 - _k_mtw(n, d)


def _k_mtw(n: int, d: float) -> float:
    """K(n, d) = P(D_n < d), exact (Marsaglia–Tsang–Wang's matrix power, no shortcut)."""
    k = int(n * d) + 1
    m = 2 * k - 1
    h = k - n * d
    i = np.arange(m)
    hmat = np.where(i[:, None] - i[None, :] + 1 >= 0, 1.0, 0.0)
    hmat[:, 0] -= h ** (i + 1.0)
    hmat[m - 1, :] -= h ** (m - i.astype(float))
    hmat[m - 1, 0] += (2 * h - 1) ** m if 2 * h - 1 > 0 else 0.0
    diff = i[:, None] - i[None, :] + 1
    # (i − j + 1)! as a double; above 170! it is inf and the entry 0, as it underflows in
    # Marsaglia's code (which divides step by step)
    fact = np.array([_factorial(int(v)) for v in diff.ravel()], float)
    hmat = hmat / fact.reshape(m, m)
    q, exponent = _matrix_power(hmat, n)
    value = q[k - 1, k - 1]
    for step in range(1, n + 1):
        value = value * step / n
        if value < 1e-140:
            value *= 1e140
            exponent -= 140
    return float(value) * 10.0**exponent


def _factorial(v: int) -> float:
    return float(math.factorial(v)) if 0 < v <= 170 else (1.0 if v <= 0 else math.inf)


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
