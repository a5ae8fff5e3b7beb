"""Frequency, Block Frequency, Runs, Longest Run, Cumulative Sums, Rank and DFT against
slow direct definitions (tests/analysis/_sp800_22_oracles.py) and hypothesis properties."""

from __future__ import annotations

import math

import _sp800_22_oracles as oracle
import numpy as np
import pytest
from _sp800_22_inputs import arr, bit_lists, random_bits
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from diamp.analysis.sp800_22 import (
    block_frequency,
    cumulative_sums,
    fft,
    frequency,
    longest_run,
    rank,
    runs,
)
from diamp.analysis.sp800_22.frequency import _LONGEST_RUN
from diamp.analysis.sp800_22.linear import matrix_ranks
from diamp.analysis.sp800_22.spectral import fft_magnitudes

PROPS = settings(
    max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)


@PROPS
@given(bit_lists(1, 400))
def test_frequency_matches_definition_and_is_symmetric(bits: list[int]) -> None:
    ours = frequency(arr(bits))
    assert ours == pytest.approx(oracle.frequency(bits), abs=1e-13)
    assert frequency(1 - arr(bits)) == ours


@PROPS
@given(st.integers(1, 40).flatmap(lambda m: st.tuples(st.just(m), bit_lists(m, 400))))
def test_block_frequency_matches_definition(case: tuple[int, list[int]]) -> None:
    m, bits = case
    assert block_frequency(arr(bits), m) == pytest.approx(
        oracle.block_frequency(bits, m), rel=1e-9, abs=1e-12
    )


@PROPS
@given(bit_lists(1, 400))
def test_runs_matches_definition_and_complement(bits: list[int]) -> None:
    ours = runs(arr(bits))
    assert ours == pytest.approx(oracle.runs(bits), abs=1e-13)
    assert runs(1 - arr(bits)) == pytest.approx(ours, abs=1e-14)


def test_runs_prerequisite_and_constant_short_sequences() -> None:
    assert runs(random_bits(1000, 1, p=0.6)) == 0.0  # |π − ½| > 2/√n: not run, P = 0
    assert runs(np.ones(16, dtype=np.uint8)) == 0.0  # passes the prerequisite, V = 1


@PROPS
@given(bit_lists(128, 1500))
def test_longest_run_matches_exact_probabilities_for_m8(bits: list[int]) -> None:
    assert longest_run(arr(bits)) == pytest.approx(oracle.longest_run(bits), abs=1e-12)


@pytest.mark.parametrize("seed", [1, 2])
def test_longest_run_m128_matches_exact_probabilities(seed: int) -> None:
    bits = random_bits(6272 + 3000 * seed, seed)
    # the reference's 10-digit class probabilities: agreement to ~1e-9
    assert longest_run(bits) == pytest.approx(oracle.longest_run(bits.tolist()), abs=1e-8)


def test_longest_run_m10000_uses_the_rounded_table() -> None:
    """Reference quirk: for M = 10^4 it uses §3.4's 4-decimal values, which are not the
    exact class probabilities (off by up to 0.0016)."""
    exact = oracle.longest_run_probabilities(10_000, 10, 16)
    table = _LONGEST_RUN[2][3]
    assert table == (0.0882, 0.2092, 0.2483, 0.1933, 0.1208, 0.0675, 0.0727)
    assert max(abs(a - b) for a, b in zip(exact, table, strict=True)) == pytest.approx(
        0.0016, abs=2e-4
    )
    for (m, first, last, probs), check in zip(_LONGEST_RUN[:2], (1e-15, 1e-9), strict=True):
        exact_small = oracle.longest_run_probabilities(m, first, last)
        assert max(abs(a - b) for a, b in zip(exact_small, probs, strict=True)) < check


@PROPS
@given(bit_lists(1, 400))
def test_cumulative_sums_matches_definition_with_truncating_bounds(bits: list[int]) -> None:
    fwd, rev = cumulative_sums(arr(bits))
    assert fwd == pytest.approx(oracle.cumulative_sums(bits, truncating=True), abs=1e-12)
    assert rev == pytest.approx(oracle.cumulative_sums(bits, True, truncating=True), abs=1e-12)
    assert cumulative_sums(arr(bits[::-1])) == pytest.approx((rev, fwd), abs=1e-15)


@PROPS
@given(bit_lists(100, 600))
def test_cumulative_sums_bounds_only_matter_for_short_sequences(bits: list[int]) -> None:
    """The standard's real-valued bounds add terms of size Φ(−√n): invisible for n >= 100."""
    fwd, rev = cumulative_sums(arr(bits))
    assert fwd == pytest.approx(oracle.cumulative_sums(bits), abs=1e-9)
    assert rev == pytest.approx(oracle.cumulative_sums(bits, True), abs=1e-9)


def low_rank_matrix(seed: int, rows: int, cols: int, r: int) -> list[int]:
    rng = np.random.default_rng(seed)
    basis = [int(v) for v in rng.integers(0, 2**cols, size=r, dtype=np.uint64)]
    out = []
    for _ in range(rows):
        mix = rng.integers(0, 2, size=r)
        v = 0
        for b, use in zip(basis, mix, strict=True):
            v ^= b if use else 0
        out.append(v)
    return out


@PROPS
@given(st.integers(1, 8), st.integers(1, 12), st.integers(0, 12), st.integers(0, 2**31))
def test_matrix_ranks_match_gaussian_elimination(rows: int, cols: int, r: int, seed: int) -> None:
    mats = [low_rank_matrix(seed + k, rows, cols, min(r, rows)) for k in range(3)]
    bits = [int(c) for m in mats for v in m for c in format(v, f"0{cols}b")]
    ours = matrix_ranks(arr(bits), rows, cols)
    assert ours.tolist() == [oracle.gf2_rank(m, cols) for m in mats]


def test_rank_test_matches_definition() -> None:
    bits = random_bits(1024 * 40 + 77, 3)
    assert rank(bits) == pytest.approx(oracle.rank_test(bits.tolist()), abs=1e-12)
    ranks = matrix_ranks(bits)
    assert ranks.tolist() == [
        oracle.gf2_rank(oracle.matrix_rows(bits.tolist(), k), 32) for k in range(40)
    ]


@PROPS
@given(bit_lists(2, 96))
def test_dft_moduli_and_pvalue_match_direct_dft(bits: list[int]) -> None:
    direct = oracle.dft_moduli(bits)
    np.testing.assert_allclose(fft_magnitudes(arr(bits)), direct, rtol=1e-9, atol=1e-9)
    threshold = math.sqrt(2.995732274 * len(bits))
    assume(all(abs(v - threshold) > 1e-6 for v in direct))
    assert fft(arr(bits)) == pytest.approx(oracle.dft(bits), abs=1e-13)


def test_dft_counts_the_dc_term() -> None:
    """Reference quirk: k = 0 is among the n/2 moduli compared with the threshold."""
    bits = np.zeros(64, dtype=np.uint8)  # |S_0| = 64 > T; every other modulus is 0 < T
    n = bits.size
    with_dc = n // 2 - 1
    d = (with_dc - 0.95 * n / 2) / math.sqrt(n / 4 * 0.95 * 0.05)
    assert fft(bits) == pytest.approx(math.erfc(abs(d) / math.sqrt(2)), abs=1e-15)
