"""The final analysis report: how the reference reads, bins and judges p-values."""

from __future__ import annotations

import math
from fractions import Fraction

import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from diamp.analysis.sp800_22 import (
    Sp80022Params,
    Sp80022Result,
    final_analysis_report,
    format_final_report,
    reread_pvalues,
)
from diamp.analysis.sp800_22.report import pass_range
from diamp.errors import ConfigError


def result_of(pvalues: dict[str, np.ndarray], params: Sp80022Params | None = None) -> Sp80022Result:
    params = params or Sp80022Params(tests=tuple(pvalues))
    k = next(iter(pvalues.values())).shape[0]
    return Sp80022Result(pvalues, k, 1_000_000, params, dict.fromkeys(pvalues, 0.0), 0.0)


def nearest_float32(x: Fraction) -> np.float32:
    """Correctly rounded float32 of an exact rational (ties to even), by brute comparison."""
    guess = np.float32(float(x))
    candidates = [np.nextafter(guess, np.float32(-1)), guess, np.nextafter(guess, np.float32(2))]
    best = min(candidates, key=lambda c: (abs(Fraction(float(c)) - x), int(c.view(np.uint32)) & 1))
    return np.float32(best)


def test_reread_rounds_to_six_decimals_then_float32() -> None:
    got = reread_pvalues(np.array([0.1, 0.7, 0.0099996, 0.01, 0.123456789, 1.0, 0.0]))
    assert got[0] == float(np.float32(0.1)) > 0.1  # lands in C2
    assert got[1] == float(np.float32(0.7)) < 0.7  # lands in C7
    assert got[2] == got[3] == float(np.float32(0.01)) < 0.01  # both read as failures
    assert got[4] == float(np.float32(0.123457))
    assert (got[5], got[6]) == (1.0, 0.0)
    with pytest.raises(ConfigError):
        reread_pvalues(np.array([math.nan]))


def test_no_six_decimal_value_is_a_float32_midpoint() -> None:
    """Justifies rounding k/10^6 to float32 through the nearest double (exhaustive)."""
    doubles = np.arange(1_000_001) / 1e6
    low_bits = doubles.view(np.uint64) & np.uint64(2**29 - 1)
    assert not np.any(low_bits == np.uint64(2**28))
    sample = np.random.default_rng(7).integers(0, 1_000_001, 3000)
    for k in sample:
        assert np.float32(k / 1e6) == nearest_float32(Fraction(int(k), 10**6))


@settings(max_examples=50, deadline=None, derandomize=True)
@given(st.lists(st.floats(0.0, 1.0), min_size=1, max_size=60))
def test_histogram_uniformity_and_proportion_follow_definition(values: list[float]) -> None:
    p = np.array(values)[:, None]
    row = final_analysis_report(result_of({"Frequency": p})).rows[0]
    read = [float(np.float32(float(f"{v:.6f}"))) for v in values]
    assert row.histogram == tuple(
        sum(1 for v in read if min(int(v * 10), 9) == b) for b in range(10)
    )
    assert row.sample_size == len(values) and row.passed == sum(v >= 0.01 for v in read)
    expected = len(values) // 10
    if expected == 0:
        assert row.uniformity_pvalue is None
    else:
        chi2 = sum((c - expected) ** 2 / expected for c in row.histogram)
        exact = float(mpmath.gammainc(4.5, chi2 / 2, mpmath.inf, regularized=True))
        assert row.uniformity_pvalue == pytest.approx(exact, rel=1e-10, abs=1e-14)


def test_pass_range_is_truncated_like_the_reference() -> None:
    assert pass_range(5) == (4, 5)
    assert pass_range(100) == (96, 101)  # 0.99 ± 3·√(0.0099/100) = 0.960151 … 1.019849
    assert pass_range(1000) == (980, 999)


def test_excursion_rows_leave_out_zero_pvalues() -> None:
    p = np.zeros((12, 8))
    p[:10] = np.linspace(0.05, 0.95, 10)[:, None]
    p[10] = 4e-7  # a real p-value below 5e-7 prints as 0.000000: left out as well (quirk)
    report = final_analysis_report(result_of({"RandomExcursions": p}))
    assert all(r.sample_size == 10 and r.passed == 10 for r in report.rows)
    assert report.excursion_sample_size == 10 and report.sample_size is None


def test_flags_and_layout() -> None:
    p = np.full((20, 1), 0.005)  # everything fails and sits in C1: both flags
    p[:2] = 0.5
    report = final_analysis_report(result_of({"Runs": p}))
    row = report.rows[0]
    assert row.proportion_flagged and row.uniformity_flagged and row.passed == 2
    lines = format_final_report(report, "g").splitlines()
    assert lines[3] == "   generator is <g>"
    assert lines[7] == " 18   0   0   0   0   2   0   0   0   0  0.000000 *    2/20   *  Runs"
    assert lines[12] == "random excursion (variant) test is approximately = 18 for a"
    assert "random excursion (variant) test\n" not in "\n".join(lines)
