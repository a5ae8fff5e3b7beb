"""Template, Universal, Approximate Entropy, Serial, Linear Complexity and Random Excursion
tests against slow direct definitions (tests/analysis/_sp800_22_oracles.py)."""

from __future__ import annotations

import _sp800_22_oracles as oracle
import numpy as np
import pytest
from _sp800_22_inputs import arr, bit_lists, random_bits
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from diamp.analysis.sp800_22 import (
    aperiodic_templates,
    approximate_entropy,
    linear_complexity,
    non_overlapping_template,
    overlapping_probabilities,
    overlapping_template,
    random_excursions,
    random_excursions_variant,
    serial,
    universal,
)
from diamp.analysis.sp800_22.excursions import _PI, excursion_stats
from diamp.analysis.sp800_22.linear import linear_complexities
from diamp.analysis.sp800_22.patterns import pattern_counts
from diamp.analysis.sp800_22.templates import reference_templates, template_counts

PROPS = settings(
    max_examples=40, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)


@pytest.mark.parametrize("m", range(2, 13))
def test_aperiodic_templates_match_brute_force(m: int) -> None:
    ours = [format(int(v), f"0{m}b") for v in aperiodic_templates(m)]
    assert ours == oracle.templates(m)
    counts = {2: 2, 3: 4, 4: 6, 5: 12, 6: 20, 7: 40, 8: 74, 9: 148, 10: 284, 11: 568, 12: 1116}
    assert len(ours) == counts[m]  # the reference's numOfTemplates table


def test_reference_template_selection() -> None:
    assert reference_templates(9).size == 148 and reference_templates(8).size == 74
    assert np.array_equal(reference_templates(10), aperiodic_templates(10)[:148])  # skip 1
    assert np.array_equal(reference_templates(11), aperiodic_templates(11)[::3][:148])  # skip 3


@PROPS
@given(st.integers(2, 5), bit_lists(16, 480))
def test_non_overlapping_matches_literal_scan(m: int, bits: list[int]) -> None:
    if len(bits) // 8 < m:
        bits = bits + [0] * (8 * m)
    ours = non_overlapping_template(arr(bits), m)
    assert ours == pytest.approx(oracle.non_overlapping(bits, m), rel=1e-9, abs=1e-12)


def test_non_overlapping_m9_matches_literal_scan() -> None:
    bits = random_bits(8 * 500 + 5, 11)
    ours = non_overlapping_template(bits, 9)
    assert ours.shape == (148,)
    np.testing.assert_allclose(
        ours, oracle.non_overlapping(bits.tolist(), 9), rtol=1e-9, atol=1e-12
    )


def test_non_overlapping_counts_section_2_7_4_example() -> None:
    """§2.7.4: ε = 10100100101110010110, B = 001, two blocks of 10 bits: W = (2, 1)."""
    bits = arr([int(c) for c in "10100100101110010110"])
    index = int(np.flatnonzero(reference_templates(3) == 0b001)[0])
    assert template_counts(bits, 3, 10, 2)[:, index].tolist() == [2, 1]


@pytest.mark.parametrize(("m", "seed"), [(2, 1), (5, 2), (9, 3), (12, 4)])
def test_overlapping_matches_definition(m: int, seed: int) -> None:
    bits = random_bits(1032 * 30 + 11, seed, p=0.5 if m < 9 else 0.7)
    assert overlapping_template(bits, m) == pytest.approx(
        oracle.overlapping(bits.tolist(), m), rel=1e-9, abs=1e-12
    )


def test_overlapping_uses_the_older_class_probabilities() -> None:
    """Reference quirk: sts-2.1.2 overwrites the corrected probabilities of §3.8."""
    ours = overlapping_probabilities(9)
    assert [round(p, 6) for p in ours] == [
        0.367879,
        0.183940,
        0.137955,
        0.099634,
        0.069935,
        0.140657,
    ]
    corrected = [0.364091, 0.185659, 0.139381, 0.100571, 0.0704323, 0.139865]
    assert max(abs(a - b) for a, b in zip(ours, corrected, strict=True)) > 3e-3


@pytest.mark.parametrize(
    ("n", "block", "init", "seed"), [(400_000, 6, 640, 1), (300_000, 7, 1280, 2)]
)
def test_universal_matches_definition(n: int, block: int, init: int, seed: int) -> None:
    bits = random_bits(n, seed)
    expected = oracle.universal(bits.tolist(), block, init)
    assert universal(bits, block, init) == pytest.approx(expected, rel=1e-9, abs=1e-12)


@PROPS
@given(bit_lists(1, 300), st.integers(0, 6))
def test_pattern_counts_match_circular_windows(bits: list[int], top: int) -> None:
    counts = pattern_counts(arr(bits), top)
    for k in range(1, top + 1):
        direct = oracle.circular_counts(bits, k)
        assert {format(v, f"0{k}b"): int(c) for v, c in enumerate(counts[k]) if c} == direct
    assert int(counts[0][0]) == len(bits)


@PROPS
@given(bit_lists(8, 400), st.integers(1, 4))
def test_approximate_entropy_matches_definition(bits: list[int], m: int) -> None:
    ours = approximate_entropy(arr(bits), m)
    assert ours == pytest.approx(oracle.approximate_entropy(bits, m), rel=1e-9, abs=1e-11)


@PROPS
@given(bit_lists(8, 400), st.integers(2, 5))
def test_serial_matches_definition_and_complement(bits: list[int], m: int) -> None:
    ours = serial(arr(bits), m)
    assert ours == pytest.approx(oracle.serial(bits, m), rel=1e-9, abs=1e-11)
    assert serial(1 - arr(bits), m) == pytest.approx(ours, abs=1e-12)  # counts permuted


@PROPS
@given(bit_lists(1, 10))
def test_linear_complexity_matches_brute_force_lfsr_search(bits: list[int]) -> None:
    got = linear_complexities(arr(bits), len(bits))
    assert got.tolist() == [oracle.linear_complexity_brute(bits)]


@PROPS
@given(st.integers(1, 200).flatmap(lambda m: st.tuples(st.just(m), bit_lists(m, 700))))
def test_linear_complexities_match_textbook_berlekamp_massey(case: tuple[int, list[int]]) -> None:
    m, bits = case
    expected = [oracle.berlekamp_massey(bits[i * m : (i + 1) * m]) for i in range(len(bits) // m)]
    assert linear_complexities(arr(bits), m).tolist() == expected


def test_linear_complexity_section_2_10_4_example() -> None:
    assert linear_complexities(arr([int(c) for c in "1101011110001"]), 13).tolist() == [4]


def test_linear_complexity_pvalue_matches_definition() -> None:
    bits = random_bits(137 * 150 + 29, 5)
    assert linear_complexity(bits, 137) == pytest.approx(
        oracle.linear_complexity(bits.tolist(), 137), rel=1e-9, abs=1e-12
    )


@PROPS
@given(bit_lists(1, 300))
def test_excursion_statistics_match_cycle_definition(bits: list[int]) -> None:
    stats = excursion_stats(arr(bits))
    cycles = oracle.walk_cycles(bits)
    assert stats.cycles == len(cycles)
    states = (-4, -3, -2, -1, 1, 2, 3, 4)
    nu = [[sum(1 for c in cycles if min(c.count(x), 5) == k) for x in states] for k in range(6)]
    assert stats.nu.tolist() == nu
    walk = np.cumsum(2 * arr(bits).astype(np.int64) - 1)
    assert stats.visits.tolist() == [int(np.count_nonzero(walk == s)) for s in range(-9, 10)]


def test_random_excursions_match_definition() -> None:
    for seed in range(100):  # the first seeded walk with enough cycles (J >= 500)
        bits = random_bits(1_000_000, seed)
        if excursion_stats(bits).cycles >= 500:
            break
    ours = random_excursions(bits)
    theirs = oracle.random_excursions(bits.tolist())
    assert ours is not None and theirs is not None
    # the oracle uses the exact π_k(x) of §3.14; the reference's table has 10 decimals
    np.testing.assert_allclose(ours, theirs, rtol=1e-7, atol=1e-9)
    variant = random_excursions_variant(bits)
    assert variant is not None
    np.testing.assert_allclose(variant, oracle.random_excursions_variant(bits.tolist()), atol=1e-13)


def test_random_excursion_probabilities_are_the_closed_forms_to_10_decimals() -> None:
    """The reference's table: 10 decimals, rounded or truncated (π_5(3) = 0.0803755143)."""
    exact = np.array([oracle._RE_PI[x] for x in (1, 2, 3, 4)])
    np.testing.assert_allclose(_PI, exact, rtol=0, atol=1.1e-10)  # one unit in the 10th decimal
    assert np.max(np.abs(_PI - exact)) > 1e-12  # rounded, not exact


def test_random_excursions_not_applicable_below_500_cycles() -> None:
    bits = random_bits(10_000, 1)
    assert excursion_stats(bits).cycles < 500
    assert random_excursions(bits) is None and random_excursions_variant(bits) is None
    alternating = np.tile(np.array([0, 1], dtype=np.uint8), 50_000)  # J = 50,000 > n/100
    assert random_excursions(alternating) is None  # the reference aborts; documented
    assert random_excursions_variant(alternating) is not None
