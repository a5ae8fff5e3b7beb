"""Binomial upper tails, decided exactly against a threshold (private).

The adaptive proportion cutoffs of SP 800-90B (:mod:`diamp.analysis.sp800_90b.health`) are
the smallest k with P(X > k) ≤ α for X ~ Binomial(n, p), with α as small as 2⁻⁴⁰ and p a
binary fraction (2^−h as a double). :func:`binom_isf` finds k from the tails computed in
logarithms (every tail, log-sum-exp from the top) and decides every comparison that lies
within a relative 10⁻⁶ of α exactly, in integers: p = M/2^e and α = A/2^f as doubles are
binary fractions, so P(X > k) ≤ α reads Σ_{j>k} C(n, j) M^j (2^e − M)^{n−j} · 2^f ≤
A · 2^{en}. Outside that band the logarithmic tail cannot be on the wrong side of α (its
relative error is about n·(ln n + |ln p|)·10⁻¹⁶, 2·10⁻¹² at n = 1024, p = 2⁻⁸), so every
cutoff is the exact one.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
from numpy.typing import NDArray

__all__ = ["binom_isf", "binom_log_sf", "binom_sf_exceeds"]

_BAND = 1e-6  # relative distance from α inside which a comparison is made exactly


def binom_log_sf(n: int, p: float) -> NDArray[np.float64]:
    """Log tails ln P(X > k), k = 0 … n − 1, X ~ Binomial(n, p), 0 < p < 1 (−inf where 0).

    Notes
    -----
    ln P(X = j) = ln C(n, j) + j ln p + (n − j) ln(1 − p) with ln C(n, j) from
    :func:`math.lgamma`; the tails are the log-sum-exp of the terms from j = n down.
    """
    if not (n >= 1 and 0.0 < p < 1.0):
        raise ValueError(f"binom_log_sf needs n >= 1 and 0 < p < 1, found n={n}, p={p!r}")
    log_p, log_q, lg_n = math.log(p), math.log1p(-p), math.lgamma(n + 1.0)
    j = np.arange(n + 1)
    log_c = np.array([lg_n - math.lgamma(k + 1.0) - math.lgamma(n - k + 1.0) for k in range(n + 1)])
    log_pmf = log_c + j * log_p + (n - j) * log_q
    tails = np.logaddexp.accumulate(log_pmf[::-1])[::-1]  # tails[k] = ln P(X ≥ k)
    out: NDArray[np.float64] = tails[1:]
    return out


def binom_sf_exceeds(k: int, n: int, p: float, alpha: float) -> bool:
    """Whether P(X > k) > α exactly, X ~ Binomial(n, p), for doubles 0 < p < 1 and α.

    In integers (see :func:`_exceeds_exact`): about 0.03 s at n = 4096 and p = 2^−0.5, 1.3 s
    at n = 8192 and p = 2^−7.3 (the work grows as n²; only comparisons in the band of
    :func:`binom_isf` come here).
    """
    if k < 0:
        return True  # P(X > −1) = 1 > α
    if k >= n:
        return False
    return _exceeds_exact(k, n, p, alpha)


def _exceeds_exact(k: int, n: int, p: float, alpha: float) -> bool:
    """P(X > k) > α in integers: p = m/d and α = A/B as fractions of integers (d, B powers of 2).

    With t_j = C(n, j) m^j (d − m)^{n−j} and ρ_j = t_j/t_{j+1} = (j + 1)(d − m)/((n − j) m),
    Σ_{j>k} t_j = t_n (1 + ρ_{n−1}(1 + ρ_{n−2}(… (1 + ρ_{k+1})))), nested as a/b from inside
    (each step multiplies by small integers only); P(X > k) = m^n a/(b d^n).
    """
    pf, af = Fraction(p), Fraction(alpha)
    m, d = pf.numerator, pf.denominator
    rest = d - m
    a = b = 1
    for j in range(k + 1, n):
        num, den = (j + 1) * rest, (n - j) * m
        a, b = den * b + num * a, den * b
    return bool(m**n * a * af.denominator > af.numerator * d**n * b)


def binom_isf(alpha: float, n: int, p: float) -> int:
    """The smallest k ≥ 0 with P(X > k) ≤ α for X ~ Binomial(n, p) (exact; see the module).

    Parameters
    ----------
    alpha
        Tail probability, 0 < α < 1.
    n
        Trials, n ≥ 1.
    p
        Success probability, 0 < p < 1.
    """
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"binom_isf needs 0 < alpha < 1, found {alpha!r}")
    if p <= 0.0 or p >= 1.0:
        return 0 if p <= 0.0 else n  # X = 0 or X = n surely
    log_sf = binom_log_sf(n, p)
    log_alpha = math.log(alpha)
    below = np.flatnonzero(log_sf <= log_alpha)
    k = int(below[0]) if below.size else n  # P(X > n) = 0 ≤ α
    near = math.log1p(_BAND)

    def exceeds(i: int) -> bool:
        if i >= n:
            return False
        if abs(float(log_sf[i]) - log_alpha) > near:
            return bool(log_sf[i] > log_alpha)
        return binom_sf_exceeds(i, n, p, alpha)

    while k > 0 and not exceeds(k - 1):
        k -= 1
    while exceeds(k):
        k += 1
    return k
