"""Exact binomial cutoffs (diamp.analysis._binomial) against Fractions, mpmath and SciPy.

Oracles: the tail summed in exact rational arithmetic (small n), mpmath at 60 digits
(n up to 3000), and SciPy's ``binom`` (the ``test`` extra), with which the SP 800-90B
adaptive proportion cutoffs were computed before: identical for every h on a fine grid
at W = 512 and 1024 and α = 2⁻²⁰, 2⁻³⁰, 2⁻⁴⁰.
"""

from __future__ import annotations

import math
from fractions import Fraction

import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import binom

from diamp.analysis import _binomial
from diamp.analysis._binomial import binom_isf, binom_log_sf, binom_sf_exceeds
from diamp.analysis.sp800_90b import adaptive_proportion_cutoff
from diamp.errors import AnalysisError

HYP = settings(derandomize=True, deadline=None, max_examples=150)


def isf_fraction(alpha: float, n: int, p: float) -> int:
    """Smallest k with Σ_{j>k} C(n, j) p^j (1 − p)^{n−j} ≤ α, all in Fractions."""
    pf, af = Fraction(p), Fraction(alpha)
    pmf = [math.comb(n, j) * pf**j * (1 - pf) ** (n - j) for j in range(n + 1)]
    tail = Fraction(0)
    k = n
    for j in range(n, 0, -1):  # tail = P(X ≥ j) = P(X > j − 1)
        tail += pmf[j]
        if tail > af:
            break
        k = j - 1
    return k


def tail_mp(k: int, n: int, p: float) -> mpmath.mpf:
    with mpmath.workdps(60):
        mp = mpmath.mpf(p)
        return mpmath.fsum(
            mpmath.binomial(n, j) * mp**j * (1 - mp) ** (n - j) for j in range(k + 1, n + 1)
        )


@given(
    st.integers(1, 60),
    st.floats(1e-3, 0.999),
    st.floats(1e-15, 0.9),
)
@HYP
def test_isf_is_the_exact_rational_one(n: int, p: float, alpha: float) -> None:
    assert binom_isf(alpha, n, p) == isf_fraction(alpha, n, p)


@given(st.integers(1, 40), st.floats(1e-3, 0.999), st.integers(-1, 41))
@HYP
def test_exceeds_is_exact_at_alpha_equal_to_a_tail(n: int, p: float, k: int) -> None:
    """α set to the double nearest a tail and its neighbours: only exact arithmetic decides."""
    exact = sum(
        (math.comb(n, j) * Fraction(p) ** j * (1 - Fraction(p)) ** (n - j))
        for j in range(k + 1, n + 1)
    ) if k >= 0 else Fraction(1)  # fmt: skip
    nearest = float(exact)
    for alpha in (np.nextafter(nearest, 0.0), nearest, np.nextafter(nearest, 1.0)):
        if 0.0 < alpha < 1.0:
            assert binom_sf_exceeds(k, n, p, float(alpha)) == (exact > Fraction(float(alpha)))


@pytest.mark.parametrize(("n", "h"), [(512, 0.5), (1024, 1.0), (1024, 7.3), (3000, 2.2)])
def test_isf_in_the_band_against_mpmath(n: int, h: float, monkeypatch: pytest.MonkeyPatch) -> None:
    """α within a few ulps of the tail at the cutoff: the exact comparison gives mpmath's answer."""
    p = 2.0**-h
    k = binom_isf(2.0**-40, n, p)
    tail = tail_mp(k, n, p)
    calls: list[int] = []
    exact = _binomial._exceeds_exact
    monkeypatch.setattr(_binomial, "_exceeds_exact", lambda *a: calls.append(1) or exact(*a))
    for alpha in (float(tail), float(np.nextafter(float(tail), 1.0))):
        expected = k if tail <= alpha else k + 1
        assert binom_isf(alpha, n, p) == expected
    assert calls  # decided in integers, not by the logarithmic tails
    assert tail_mp(k - 1, n, p) > 2.0**-40 >= tail_mp(k, n, p)


def test_log_sf_against_scipy() -> None:
    for n, p in ((1, 0.5), (20, 0.01), (512, 2.0**-8), (1024, 0.75), (1023, 2.0**-0.3)):
        ours = binom_log_sf(n, p)
        ref = binom.logsf(np.arange(n), n, p)
        keep = ref > -700.0
        np.testing.assert_allclose(ours[keep], ref[keep], rtol=1e-11, atol=1e-11)
    with pytest.raises(ValueError, match="0 < p < 1"):
        binom_log_sf(10, 1.0)
    assert binom_isf(0.1, 10, 1.0) == 10 and binom_isf(0.1, 10, 0.0) == 0


def _scipy_cutoff(h: float, window: int, alpha: float, method: str) -> int:
    """The cutoff as computed with scipy.stats.binom before (float comparisons)."""
    p = 2.0**-h
    if method == "sp800-90b":
        k = int(binom.ppf(1.0 - alpha, window, p))
        while k > 0 and binom.cdf(k - 1, window, p) >= 1.0 - alpha:
            k -= 1
        while binom.cdf(k, window, p) < 1.0 - alpha:
            k += 1
        return 1 + k
    k = int(binom.isf(alpha, window - 1, p))
    while k > 0 and binom.sf(k - 1, window - 1, p) <= alpha:
        k -= 1
    while binom.sf(k, window - 1, p) > alpha:
        k += 1
    return k + 2


@pytest.mark.parametrize("alpha", [2.0**-20, 2.0**-30, 2.0**-40])
@pytest.mark.parametrize("window", [512, 1024])
@pytest.mark.parametrize("method", ["binomial", "sp800-90b"])
def test_cutoffs_unchanged_from_scipy(alpha: float, window: int, method: str) -> None:
    for h in np.linspace(0.05, 8.0, 160):
        ref = _scipy_cutoff(float(h), window, alpha, method)
        if ref > window:
            with pytest.raises(AnalysisError):
                adaptive_proportion_cutoff(float(h), window, alpha, method)  # type: ignore[arg-type]
        else:
            got = adaptive_proportion_cutoff(float(h), window, alpha, method)  # type: ignore[arg-type]
            assert got == ref, (h, window, alpha, method)


def test_cutoff_where_scipy_rounded_below_alpha() -> None:
    """W = 3000, h = 0.01, α = 2⁻³⁰: P(X = 3000) = p^3000 exceeds α by 8e-14 (relative).

    1 − CDF in doubles rounded it to α, so the float formula accepted C = 3000; exactly, no
    C ≤ W reaches α and the cutoff is refused.
    """
    p = 2.0**-0.01
    with mpmath.workdps(60):
        assert mpmath.mpf(p) ** 3000 > mpmath.mpf(2) ** -30
    assert _scipy_cutoff(0.01, 3000, 2.0**-30, "sp800-90b") == 3000
    with pytest.raises(AnalysisError, match="cannot detect"):
        adaptive_proportion_cutoff(0.01, 3000, 2.0**-30, "sp800-90b")
