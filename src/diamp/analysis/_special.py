"""Special functions the tests of randomness and the entropy models need (private).

Pure Python and numpy (``math`` for scalars), so the core install needs no SciPy:

* :func:`gammaincc` / :func:`gammaincc_array` — the regularised upper incomplete gamma
  function Q(a, x) = Γ(a, x)/Γ(a) (Cephes ``igamc``, SciPy ``gammaincc``), and
  :func:`chi2_sf` = Q(df/2, x/2);
* :func:`erf_array`, :func:`erfc_array`, :func:`ndtr`, :func:`ndtr_array` — the error
  functions (the C library's, through :func:`math.erf` / :func:`math.erfc`) and the standard
  normal CDF Φ(x) = erfc(−x/√2)/2;
* :func:`xlogy` — x·log y with 0·log 0 = 0.

The binomial tails the health tests need are in :mod:`diamp.analysis._binomial`.

Notes
-----
Q(a, x) follows Numerical Recipes §6.2 (W. H. Press et al., 3rd ed., 2007): the series of
P(a, x) = 1 − Q(a, x) for x < a + 1, Legendre's continued fraction of Q (modified Lentz)
otherwise. Both are multiplied by the prefactor x^a e^{−x}/Γ(a), computed in logarithms; for
a ≥ 10 as a·(log(1 + t) − t) + ½ log(a/2π) − s(a) with t = (x − a)/a and Stirling's
correction s(a) = ln Γ(a) − (a − ½) ln a + a − ½ ln 2π, so that it keeps full relative
precision where x and a are both large (where Cephes' a·ln x − x − ln Γ(a) loses about
a·ε). Measured against mpmath at 50 digits (``tests/analysis/test_special.py``): relative
error below 1e-12 for 0.5 ≤ a ≤ 10^5 wherever Q > 1e-300 (largest seen 4.3e-13 over 236
points from Q ≈ 1 to Q ≈ 1e-299; SciPy 1.17's ``gammaincc`` 4.3e-12 on the same points).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "chi2_sf",
    "erf_array",
    "erfc_array",
    "gammaincc",
    "gammaincc_array",
    "ndtr",
    "ndtr_array",
    "xlogy",
]

_EPS = 2.0**-53
_MAX_TERMS = 100_000  # series and fraction take about 9√a terms at x ≈ a: a ≤ 10^8 fits
_LARGE_A = 10.0  # from here on the prefactor uses Stirling's series
_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)
_SQRT1_2 = math.sqrt(0.5)
# Stirling's series s(a) = Σ B_{2k}/(2k(2k − 1) a^{2k−1}): 1/12, −1/360, 1/1260, … (a ≥ 10:
# the first omitted term is below 3e-17 of s(a))
_STIRLING = (1 / 12, -1 / 360, 1 / 1260, -1 / 1680, 1 / 1188, -691 / 360360, 1 / 156)


def _stirling_correction(a: float) -> float:
    """s(a) = ln Γ(a) − (a − ½) ln a + a − ½ ln 2π, for a ≥ 10."""
    inv2 = 1.0 / (a * a)
    total = 0.0
    for c in reversed(_STIRLING):
        total = total * inv2 + c
    return total / a


def _log1pmx(x: float, a: float) -> float:
    """log(1 + t) − t for t = (x − a)/a, to full relative precision also for small |t|."""
    t = (x - a) / a
    if abs(t) >= 0.5:
        ratio = x / a
        return (math.log(ratio) if ratio > 0.0 else math.log(x) - math.log(a)) - t
    # −t²/2 + t³/3 − …, alternating and decreasing for |t| < 1/2
    total, power, k = 0.0, t * t, 2
    while True:
        term = power / k
        total += -term if k % 2 == 0 else term
        if abs(term) <= _EPS * abs(total):
            return total
        power *= t
        k += 1


def _log_prefactor(a: float, x: float) -> float:
    """ln(x^a e^{−x}/Γ(a)) for a > 0, x > 0."""
    if a < _LARGE_A:
        return a * math.log(x) - x - math.lgamma(a)
    return a * _log1pmx(x, a) + 0.5 * math.log(a) - _HALF_LOG_2PI - _stirling_correction(a)


def _series_p(a: float, x: float) -> float:
    """Σ_{n≥0} x^n/(a(a+1)…(a+n)), so that P(a, x) = prefactor · this sum."""
    term = total = 1.0 / a
    ap = a
    for _ in range(_MAX_TERMS):
        ap += 1.0
        term *= x / ap
        total += term
        if term < total * _EPS:
            return total
    raise ArithmeticError(f"incomplete gamma series did not converge for a={a!r}, x={x!r}")


def _fraction_q(a: float, x: float) -> float:
    """Legendre's continued fraction of Q(a, x)/prefactor (modified Lentz), x ≥ a + 1."""
    tiny = 1e-300
    b = x + 1.0 - a
    c = 1.0 / tiny
    d = 1.0 / b
    h = d
    for i in range(1, _MAX_TERMS):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) <= _EPS:
            return h
    raise ArithmeticError(f"incomplete gamma fraction did not converge for a={a!r}, x={x!r}")


def _edge(a: float, x: float) -> float | None:
    """Q at the edges of its domain (SciPy's conventions), ``None`` inside it."""
    if math.isnan(a) or math.isnan(x) or a < 0.0 or x < 0.0:
        return math.nan
    if a == 0.0:
        return 0.0 if x > 0.0 else math.nan
    if math.isinf(a):
        return math.nan if math.isinf(x) else 1.0
    if math.isinf(x):
        return 0.0
    if x == 0.0:
        return 1.0
    return None


def gammaincc(a: float, x: float) -> float:
    """Regularised upper incomplete gamma function Q(a, x) = Γ(a, x)/Γ(a).

    Parameters
    ----------
    a
        Shape, a > 0 (a = 0 gives 0 for x > 0; negative a gives NaN, as in SciPy).
    x
        Argument, x ≥ 0 (negative x gives NaN; Q(a, 0) = 1, Q(a, ∞) = 0).

    Returns
    -------
    float
        Q(a, x); 1 − Q(a, x) = P(a, x) is the chi-square CDF at 2x with 2a degrees of freedom.

    Notes
    -----
    See the module notes (Numerical Recipes §6.2 with a Stirling-form prefactor).
    """
    a, x = float(a), float(x)
    edge = _edge(a, x)
    if edge is not None:
        return edge
    log_pre = _log_prefactor(a, x)
    if x < a + 1.0:
        p = math.exp(log_pre) * _series_p(a, x) if log_pre > -745.0 else 0.0
        return 1.0 - p
    return math.exp(log_pre + math.log(_fraction_q(a, x)))


def chi2_sf(x: float, df: float) -> float:
    """Upper tail P(χ²_df ≥ x) = Q(df/2, x/2) of the chi-square distribution."""
    return gammaincc(df / 2.0, x / 2.0)


def _log1pmx_array(x: NDArray[np.float64], a: float) -> NDArray[np.float64]:
    """Elementwise :func:`_log1pmx`."""
    t = (x - a) / a
    out = np.empty_like(t)
    big = np.abs(t) >= 0.5
    ratio = x[big] / a
    with np.errstate(divide="ignore"):
        logs = np.where(ratio > 0.0, np.log(ratio), np.log(x[big]) - math.log(a))
    out[big] = logs - t[big]
    small = t[~big]
    total = np.zeros_like(small)
    power = small * small
    for k in range(2, 200):  # |t| < 1/2: 2^−k/k < ε·t²/2 by k ≈ 55
        total += (-power if k % 2 == 0 else power) / k
        if not np.any(np.abs(power / k) > _EPS * np.abs(total)):
            break
        power = power * small
    out[~big] = total
    return out


def _log_prefactor_array(a: float, x: NDArray[np.float64]) -> NDArray[np.float64]:
    if a < _LARGE_A:
        out: NDArray[np.float64] = a * np.log(x) - x - math.lgamma(a)
        return out
    rest = 0.5 * math.log(a) - _HALF_LOG_2PI - _stirling_correction(a)
    return a * _log1pmx_array(x, a) + rest


def _series_p_array(a: float, x: NDArray[np.float64]) -> NDArray[np.float64]:
    term = np.full_like(x, 1.0 / a)
    total = term.copy()
    ap = a
    active = np.ones(x.shape, dtype=bool)
    for _ in range(_MAX_TERMS):
        ap += 1.0
        term = np.where(active, term * (x / ap), 0.0)
        total += term
        active &= term >= total * _EPS
        if not active.any():
            return total
    raise ArithmeticError(f"incomplete gamma series did not converge for a={a!r}")


def _fraction_q_array(a: float, x: NDArray[np.float64]) -> NDArray[np.float64]:
    tiny = 1e-300
    b = x + 1.0 - a
    c = np.full_like(x, 1.0 / tiny)
    d = 1.0 / b
    h = d.copy()
    active = np.ones(x.shape, dtype=bool)
    for i in range(1, _MAX_TERMS):
        an = -i * (i - a)
        b = b + 2.0
        d = an * d + b
        d = np.where(np.abs(d) < tiny, tiny, d)
        c = b + an / c
        c = np.where(np.abs(c) < tiny, tiny, c)
        d = 1.0 / d
        delta = np.where(active, d * c, 1.0)
        h *= delta
        active &= np.abs(delta - 1.0) > _EPS
        if not active.any():
            return h
    raise ArithmeticError(f"incomplete gamma fraction did not converge for a={a!r}")


def gammaincc_array(a: float, x: ArrayLike) -> NDArray[np.float64]:
    """Q(a, x) of :func:`gammaincc` for one shape ``a`` and an array of ``x`` (vectorised)."""
    a = float(a)
    xs = np.array(x, dtype=np.float64, ndmin=1)
    out = np.empty_like(xs)
    inside = np.isfinite(xs) & (xs > 0.0) & (0.0 < a < math.inf)
    for i in np.flatnonzero(~inside.ravel()):
        out.flat[i] = _edge(a, float(xs.flat[i]))
    low = inside & (xs < a + 1.0)
    high = inside & ~low
    if low.any():
        v = xs[low]
        log_pre = _log_prefactor_array(a, v)
        with np.errstate(under="ignore"):
            out[low] = 1.0 - np.exp(log_pre) * _series_p_array(a, v)
    if high.any():
        v = xs[high]
        with np.errstate(under="ignore"):
            out[high] = np.exp(_log_prefactor_array(a, v) + np.log(_fraction_q_array(a, v)))
    return out.reshape(np.shape(x))


def _map(fn: Callable[[float], float], x: ArrayLike) -> NDArray[np.float64]:
    xs = np.asarray(x, dtype=np.float64)
    flat = np.fromiter(map(fn, xs.ravel().tolist()), dtype=np.float64, count=xs.size)
    return flat.reshape(xs.shape)


def erf_array(x: ArrayLike) -> NDArray[np.float64]:
    """Elementwise error function (the C library's ``erf``, about 0.15 µs per element)."""
    return _map(math.erf, x)


def erfc_array(x: ArrayLike) -> NDArray[np.float64]:
    """Elementwise complementary error function (the C library's ``erfc``)."""
    return _map(math.erfc, x)


def ndtr(x: float) -> float:
    """Standard normal CDF Φ(x) = erfc(−x/√2)/2, to full relative precision in both tails."""
    return 0.5 * math.erfc(-x * _SQRT1_2)


def ndtr_array(x: ArrayLike) -> NDArray[np.float64]:
    """Elementwise :func:`ndtr`."""
    return 0.5 * erfc_array(-np.asarray(x, dtype=np.float64) * _SQRT1_2)


def xlogy(x: ArrayLike, y: ArrayLike) -> NDArray[np.float64]:
    """Elementwise x·ln y, 0 where x = 0 (whatever y), as SciPy's ``xlogy``."""
    xs, ys = np.broadcast_arrays(np.asarray(x, np.float64), np.asarray(y, np.float64))
    out = np.zeros(xs.shape, dtype=np.float64)
    keep = xs != 0.0
    with np.errstate(divide="ignore"):
        out[keep] = xs[keep] * np.log(ys[keep])
    return out
