"""diamp.analysis._special against mpmath at 50 digits and SciPy (the ``test`` extra).

Targets: Q(a, x) to 1e-12 relative wherever Q > 1e-300 for 0.5 ≤ a ≤ 10^5 (the tests use
a = df/2 ≥ 1/2); erf, erfc and Φ to 1e-13 relative (Φ is erfc at an argument rounded once,
so its relative error grows as x²ε: 3e-13 at Φ ≈ 1e-300).
"""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import special as sp
from scipy import stats

from diamp.analysis._special import (
    chi2_sf,
    erf_array,
    erfc_array,
    gammaincc,
    gammaincc_array,
    ndtr,
    ndtr_array,
    xlogy,
)

HYP = settings(derandomize=True, deadline=None, max_examples=200)
SHAPES = (0.5, 1.0, 1.5, 2.5, 4.0, 7.5, 9.99, 10.0, 10.5, 31.0, 74.5, 100.0, 1000.0, 3906.0,
          32768.0, 1e5)  # fmt: skip
FACTORS = (1e-3, 0.1, 0.5, 0.9, 0.99, 1.0, 1.01, 1.1, 1.5, 2.0, 5.0, 20.0)


def q_mp(a: float, x: float) -> mpmath.mpf:
    with mpmath.workdps(50):
        return mpmath.gammainc(mpmath.mpf(a), mpmath.mpf(x), mpmath.inf, regularized=True)


def rel(value: float, ref: mpmath.mpf) -> float:
    with mpmath.workdps(50):
        return float(abs((mpmath.mpf(value) - ref) / ref))


def x_at_q(a: float, log10_q: float) -> float:
    """An x with Q(a, x) ≈ 10^log10_q (bisection on mpmath's log Q), far in the tail."""
    lo, hi = a, a + 50.0 * math.sqrt(a) + 800.0
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if mpmath.log10(q_mp(a, mid)) > log10_q else (lo, mid)
    return lo


def grid() -> list[tuple[float, float]]:
    points = [(a, a * f) for a in SHAPES for f in FACTORS]
    points += [(a, x) for a in (0.5, 1.0, 2.5, 4.0) for x in (1e-8, 1e-3, 0.3, 1.4, 1.6)]
    return points


@pytest.mark.parametrize(("a", "x"), grid())
def test_gammaincc_against_mpmath(a: float, x: float) -> None:
    ref = q_mp(a, x)
    if ref < mpmath.mpf("1e-300"):
        assert gammaincc(a, x) < 1e-290
        return
    assert rel(gammaincc(a, x), ref) <= 1e-12
    assert rel(float(gammaincc_array(a, np.array([x]))[0]), ref) <= 1e-12


@pytest.mark.parametrize("a", [0.5, 2.5, 4.0, 50.5, 3906.0, 32768.0])
@pytest.mark.parametrize("log10_q", [-20, -100, -250, -299])
def test_gammaincc_far_tail(a: float, log10_q: int) -> None:
    x = x_at_q(a, log10_q)
    ref = q_mp(a, x)
    assert rel(gammaincc(a, x), ref) <= 1e-12
    assert rel(float(gammaincc_array(a, np.array([x]))[0]), ref) <= 1e-12


def test_gammaincc_matches_scipy_and_chi2() -> None:
    rng = np.random.default_rng(18)
    for a in SHAPES:
        x = a * rng.uniform(0.0, 3.0, 300)
        ours = gammaincc_array(a, x)
        ref = sp.gammaincc(a, x)
        keep = ref > 1e-280
        # scipy's own error reaches 8e-12 in the tails (mpmath above: ours is within 1e-12)
        np.testing.assert_allclose(ours[keep], ref[keep], rtol=3e-11)
        assert [gammaincc(a, float(v)) for v in x[:20]] == pytest.approx(ours[:20], rel=1e-14)
    for df in (1, 2, 3, 8, 9, 255, 2047):
        for x in (0.01, 0.5 * df, df, 2.0 * df + 7):
            assert chi2_sf(x, df) == pytest.approx(stats.chi2.sf(x, df), rel=1e-12)


@given(st.floats(0.5, 1e5), st.floats(0.0, 2e5))
@HYP
def test_gammaincc_array_is_the_scalar(a: float, x: float) -> None:
    xs = np.array([x, x / 2, 2 * x])
    assert gammaincc_array(a, xs) == pytest.approx([gammaincc(a, v) for v in xs], rel=1e-13)
    assert 0.0 <= gammaincc(a, x) <= 1.0


def test_gammaincc_edges_are_scipys() -> None:
    cases = [(1.0, 0.0), (0.0, 1.0), (0.0, 0.0), (-1.0, 1.0), (1.0, -1.0), (2.0, math.inf),
             (math.inf, 3.0), (math.inf, math.inf), (math.nan, 1.0), (1.0, math.nan)]  # fmt: skip
    for a, x in cases:
        assert gammaincc(a, x) == pytest.approx(float(sp.gammaincc(a, x)), nan_ok=True)
        got = gammaincc_array(a, np.array([x, 1.0]))[0]
        assert got == pytest.approx(float(sp.gammaincc(a, x)), nan_ok=True)
    assert gammaincc_array(4.0, np.zeros((2, 3))).shape == (2, 3)
    for a, x in ((1e5, 5e-324), (20.0, 1e-300), (0.5, 1e-300)):  # P underflows: Q = 1
        assert gammaincc(a, x) == 1.0 == gammaincc_array(a, np.array([x]))[0]


def test_error_functions_against_mpmath() -> None:
    xs = np.concatenate([np.linspace(-6, 6, 121), [-27.0, -26.5, -20.0, -8.3, 0.0, 1e-300,
                                                  -1e-12, 8.3, 26.5, 27.0]])  # fmt: skip
    with mpmath.workdps(50):
        for v, e, c, n in zip(xs, erf_array(xs), erfc_array(xs), ndtr_array(xs), strict=True):
            x = mpmath.mpf(float(v))
            for got, ref in ((e, mpmath.erf(x)), (c, mpmath.erfc(x))):
                if abs(ref) > 1e-300:  # erfc(27) is subnormal: fewer digits exist
                    assert rel(float(got), ref) <= 1e-13
            ref_n = mpmath.ncdf(x)
            if ref_n > 1e-300:
                assert rel(float(n), ref_n) <= 1e-13 * max(1.0, float(x) ** 2)
            assert ndtr(float(v)) == float(n)
    np.testing.assert_allclose(ndtr_array(xs), sp.ndtr(xs), rtol=1e-12, atol=0)
    assert erfc_array(np.array([-np.inf, np.inf])).tolist() == [2.0, 0.0]
    assert erf_array(np.zeros((2, 2))).shape == (2, 2)


def test_xlogy_is_scipys() -> None:
    p = np.array([0.0, 1e-300, 0.25, 0.5, 1.0])
    np.testing.assert_array_equal(xlogy(p, p), sp.xlogy(p, p))
    assert xlogy(np.array([0.0, 2.0]), np.array([0.0, 0.0])).tolist() == [0.0, -np.inf]
