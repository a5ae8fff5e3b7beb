"""The exact law of the two-sided KS statistic (diehard.stats) against mpmath and SciPy.

Oracle: Marsaglia–Tsang–Wang's matrix power written out here in mpmath at 40 digits (so
1 − K keeps its digits far into the tail), and SciPy's ``kstwo.sf`` / ``kstest(method=
"exact")`` from the ``test`` extra, which for n ≤ 140 is exact to rounding (for larger n it
switches to the Pelz–Good asymptotic series, about 1e-9 off).
"""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
from scipy import stats

from diamp.analysis.diehard.stats import _p_ks, kolmogorov_sf, ks_uniform, kstest


def k_mp(n: int, d: float) -> mpmath.mpf:
    """K(n, d) = P(D_n < d) by the MTW matrix power in mpmath (J. Stat. Softw. 8(18), 2003)."""
    with mpmath.workdps(40):
        dm = mpmath.mpf(d)
        k = int(mpmath.floor(n * dm)) + 1
        m = 2 * k - 1
        h = k - n * dm
        hm = mpmath.matrix(m, m)
        for i in range(m):
            for j in range(min(m, i + 2)):  # entries with i − j + 1 ≥ 0
                hm[i, j] = 1 / mpmath.factorial(i - j + 1)
        for i in range(m):
            hm[i, 0] -= h ** (i + 1) / mpmath.factorial(i + 1)
            hm[m - 1, i] -= h ** (m - i) / mpmath.factorial(m - i)
        if 2 * h - 1 > 0:
            hm[m - 1, 0] += (2 * h - 1) ** m / mpmath.factorial(m)
        return (hm**n)[k - 1, k - 1] * mpmath.factorial(n) / mpmath.mpf(n) ** n


CASES = [(2, 0.3), (2, 0.8), (5, 0.2), (5, 0.45), (5, 0.6), (5, 0.95), (10, 0.1), (10, 0.5),
         (10, 0.7), (20, 0.3), (20, 0.46), (20, 0.6), (30, 0.37), (50, 0.05), (50, 0.28),
         (50, 0.3), (50, 0.45), (100, 0.02), (100, 0.15), (100, 0.2), (100, 0.21),
         (100, 0.25)]  # fmt: skip


@pytest.mark.parametrize(("n", "d"), CASES)
def test_kolmogorov_sf_against_mpmath(n: int, d: float) -> None:
    """Below n·d² = 4 by the matrix, above by 2× the one-sided law: both to 1e-10 relative."""
    with mpmath.workdps(40):
        ref = 1 - k_mp(n, d)
        got = kolmogorov_sf(n, d)
        assert float(abs(got - ref) / ref) <= 1e-10, (n, d, n * d * d, got, ref)


def test_kolmogorov_sf_against_scipy() -> None:
    for n in (1, 2, 3, 7, 10, 33, 100, 140):
        for d in np.linspace(0.001, 0.999, 97):
            ref = float(stats.kstwo.sf(d, n))
            assert kolmogorov_sf(n, float(d)) == pytest.approx(ref, rel=1e-9, abs=1e-15)
    assert kolmogorov_sf(100, 0.0) == 1.0 and kolmogorov_sf(100, 1.0) == 0.0


def test_ks_uniform_is_scipys_exact_kstest() -> None:
    rng = np.random.default_rng(19)
    for n in (1, 2, 5, 100):
        for power in (1.0, 1.3, 3.0):  # uniform, then ever further from it
            u = rng.random(n) ** power
            ref = stats.kstest(u, "uniform", method="exact").pvalue
            assert ks_uniform(u) == pytest.approx(ref, rel=1e-9, abs=1e-15)
    with pytest.raises(ValueError, match="at least one"):
        ks_uniform(np.array([]))


def test_dieharder_kstest_past_170_factorial() -> None:
    """n = 3000 with n·d² = 2.7: the matrix has (i − j + 1)! beyond 170! (was OverflowError)."""
    for n, d in ((3000, 0.03), (4999, 0.025), (2000, 0.04)):
        assert _p_ks(n, d) == pytest.approx(float(stats.kstwo.sf(d, n)), abs=1e-8)
    p = np.sort(np.random.default_rng(20).random(3000)) ** 1.06
    assert 0.0 <= kstest(p) <= 1.0


def test_one_sided_law_is_half_the_far_tail() -> None:
    """For d ≥ 1/2 the two-sided tail is exactly twice the one-sided (Birnbaum–Tingey)."""
    for n in (3, 8, 40):
        for d in (0.5, 0.6, 0.9):
            assert kolmogorov_sf(n, d) == pytest.approx(2 * stats.ksone.sf(d, n), rel=1e-12)
    assert math.isclose(kolmogorov_sf(1, 0.75), 0.5)  # D_1 = max(u, 1 − u) ≥ 3/4 half the time
