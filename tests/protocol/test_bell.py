"""Tests for diamp.protocol.bell: counts, CHSH, exact S_mu, accumulation and AB packing.

Oracles: ``np.bincount`` for counts, the DESIGN formulas evaluated directly with
``fractions.Fraction`` on joint frequencies, and ``np.packbits`` of the interleaved
a_i b_i bits for AB.
"""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from diamp.errors import ProtocolError
from diamp.protocol.bell import (
    AbPacker,
    BellAccumulator,
    BellCounts,
    abxy_key,
    count_trials,
    trial_value,
)

HYP = settings(derandomize=True, deadline=None, max_examples=60)

trial_arrays = hnp.arrays(np.uint8, st.integers(0, 5000), elements=st.integers(0, 15))


def v_of(a: int, b: int, x: int, y: int) -> int:
    return 8 * x + 4 * y + 2 * a + b


def bincount16(trials: np.ndarray) -> tuple[int, ...]:
    return tuple(int(c) for c in np.bincount(trials, minlength=16))


# --------------------------------------------------------------------------- count_trials


@HYP
@given(trial_arrays)
def test_count_trials_matches_bincount(trials: np.ndarray) -> None:
    counts = count_trials(trials)
    assert isinstance(counts, BellCounts)
    assert counts.counts == bincount16(trials)
    assert counts.n == trials.size


@pytest.mark.parametrize("n", [0, 1, 2, 3, 4, 5, 7, 8, 4097])
def test_count_trials_small_lengths(n: int) -> None:
    trials = np.random.default_rng(n).integers(0, 16, n, dtype=np.uint8)
    assert count_trials(trials).counts == bincount16(trials)


def test_count_trials_strided_and_readonly_inputs() -> None:
    trials = np.random.default_rng(3).integers(0, 16, 1001, dtype=np.uint8)
    view = trials[::3]
    assert count_trials(view).counts == bincount16(view)
    readonly = np.frombuffer(trials.tobytes(), dtype=np.uint8)
    assert not readonly.flags.writeable
    assert count_trials(readonly).counts == bincount16(trials)


@HYP
@given(
    trial_arrays.filter(lambda a: a.size > 0),
    st.data(),
    st.integers(16, 255),
    st.integers(0, 10**12),
)
def test_count_trials_invalid_value_names_trial(
    trials: np.ndarray, data: st.DataObject, bad: int, offset: int
) -> None:
    trials = trials.copy()
    index = data.draw(st.integers(0, trials.size - 1))
    trials[index] = bad
    # a later invalid value must not hide the first one
    if index + 1 < trials.size:
        trials[-1] = 255
    with pytest.raises(ProtocolError) as info:
        count_trials(trials, offset=offset)
    assert f"trial {offset + index}" in str(info.value)
    assert info.value.trial == offset + index


@pytest.mark.parametrize(
    "trials",
    [
        np.zeros(4, dtype=np.int64),
        np.zeros(4, dtype=np.int8),
        np.zeros((2, 2), dtype=np.uint8),
    ],
)
def test_count_trials_rejects_wrong_dtype_or_shape(trials: np.ndarray) -> None:
    with pytest.raises(ProtocolError):
        count_trials(trials)


# --------------------------------------------------------------------------- BellCounts


def test_trial_value_and_abxy_key() -> None:
    for a, b, x, y in itertools.product((0, 1), repeat=4):
        v = v_of(a, b, x, y)
        assert trial_value(a, b, x, y) == v
        assert abxy_key(v) == f"{a}{b}{x}{y}"
    assert abxy_key(5) == "0101"
    assert trial_value(0, 1, 0, 1) == 5


def test_as_abxy_keys_and_order() -> None:
    counts = BellCounts(tuple(100 + v for v in range(16)))
    table = counts.as_abxy()
    assert list(table) == sorted(table)
    assert len(table) == 16
    for a, b, x, y in itertools.product((0, 1), repeat=4):
        assert table[f"{a}{b}{x}{y}"] == 100 + 8 * x + 4 * y + 2 * a + b
        assert counts.n_abxy(a, b, x, y) == 100 + 8 * x + 4 * y + 2 * a + b
    assert table["0101"] == 105
    assert table["1010"] == 100 + 10
    assert table["0011"] == 100 + 12


def reference_s_mu(counts: tuple[int, ...], mu: Fraction) -> Fraction:
    """DESIGN: S_mu = mu_min·P(0000) − mu_max·(P(0101) + P(1010) + P(0011)), keys abxy."""
    n = sum(counts)

    def p(key: str) -> Fraction:
        a, b, x, y = (int(ch) for ch in key)
        return Fraction(counts[8 * x + 4 * y + 2 * a + b], n)

    mu_min = (Fraction(1, 2) - mu) ** 2
    mu_max = (Fraction(1, 2) + mu) ** 2
    return mu_min * p("0000") - mu_max * (p("0101") + p("1010") + p("0011"))


MUS = [Fraction("0.0075"), Fraction(0), Fraction("0.25"), Fraction(1, 3), Fraction("0.4999")]

count_tuples = st.lists(st.integers(0, 10**12), min_size=16, max_size=16).filter(
    lambda c: sum(c) > 0
)


@HYP
@given(count_tuples, st.sampled_from(MUS))
def test_s_mu_exact(counts: list[int], mu: Fraction) -> None:
    value = BellCounts(tuple(counts)).s_mu(mu)
    assert isinstance(value, Fraction)
    assert value == reference_s_mu(tuple(counts), mu)


def test_s_mu_single_cells() -> None:
    mu = Fraction("0.0075")
    mu_min = Fraction(197, 400) ** 2  # (1/2 − 0.0075)²
    mu_max = Fraction(203, 400) ** 2  # (1/2 + 0.0075)²
    for v in range(16):
        counts = [1] * 16
        counts[v] += 15  # n = 31
        expected = (
            mu_min * counts[v_of(0, 0, 0, 0)]
            - mu_max
            * (counts[v_of(0, 1, 0, 1)] + counts[v_of(1, 0, 1, 0)] + counts[v_of(0, 0, 1, 1)])
        ) / 31
        assert BellCounts(tuple(counts)).s_mu(mu) == expected
    # only P(0000) counts positively; P(0101) = P(v=5), P(1010) = P(v=10), P(0011) = P(v=12)
    one_hot = [0] * 16
    one_hot[0] = 1
    assert BellCounts(tuple(one_hot)).s_mu(mu) == mu_min
    for v in (5, 10, 12):
        one_hot = [0] * 16
        one_hot[v] = 1
        assert BellCounts(tuple(one_hot)).s_mu(mu) == -mu_max
    for v in set(range(16)) - {0, 5, 10, 12}:
        one_hot = [0] * 16
        one_hot[v] = 1
        assert BellCounts(tuple(one_hot)).s_mu(mu) == 0


@pytest.mark.parametrize("mu", [Fraction(1, 2), Fraction(3, 4), Fraction(-1, 1000)])
def test_s_mu_rejects_mu_out_of_range(mu: Fraction) -> None:
    with pytest.raises(ProtocolError):
        BellCounts(tuple(range(16))).s_mu(mu)


def test_s_mu_rejects_empty_counts() -> None:
    with pytest.raises(ProtocolError):
        BellCounts.zero().s_mu(Fraction("0.0075"))


def reference_chsh(counts: tuple[int, ...]) -> float:
    e = {}
    for x, y in itertools.product((0, 1), repeat=2):
        cell = {(a, b): counts[v_of(a, b, x, y)] for a, b in itertools.product((0, 1), repeat=2)}
        total = sum(cell.values())
        e[x, y] = sum((-1) ** (a ^ b) * c for (a, b), c in cell.items()) / total
    return e[0, 0] + e[0, 1] + e[1, 0] - e[1, 1]


@HYP
@given(st.lists(st.integers(1, 10**9), min_size=16, max_size=16))
def test_chsh_matches_direct_formula(counts: list[int]) -> None:
    assert BellCounts(tuple(counts)).chsh() == pytest.approx(
        reference_chsh(tuple(counts)), abs=1e-12
    )


def test_chsh_extremes_and_empty_setting() -> None:
    # PR box in DESIGN orientation: a = b unless x = y = 1, where a != b → S = 4
    counts = [0] * 16
    for x, y, a in itertools.product((0, 1), repeat=3):
        b = a ^ (x & y)
        counts[v_of(a, b, x, y)] = 10
    assert BellCounts(tuple(counts)).chsh() == 4.0
    assert BellCounts(tuple(counts)).correlator(1, 1) == -1.0
    counts[v_of(0, 1, 1, 1)] = counts[v_of(1, 0, 1, 1)] = 0
    assert math.isnan(BellCounts(tuple(counts)).correlator(1, 1))


def test_bell_counts_validation_and_addition() -> None:
    with pytest.raises(ProtocolError):
        BellCounts((0,) * 15)
    with pytest.raises(ProtocolError):
        BellCounts((0,) * 15 + (-1,))
    a = BellCounts(tuple(range(16)))
    b = BellCounts(tuple(range(16, 32)))
    assert (a + b).counts == tuple(x + y for x, y in zip(range(16), range(16, 32), strict=True))
    assert (a + BellCounts.zero()) == a
    assert BellCounts.zero().n == 0


# --------------------------------------------------------------------------- BellAccumulator

block_lengths = st.lists(st.integers(0, 300), min_size=1, max_size=8)


@HYP
@given(block_lengths, st.integers(1, 64), st.integers(0, 2**32 - 1))
def test_accumulator_totals_blocks_and_segments(
    lengths: list[int], segment: int, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    blocks = [rng.integers(0, 16, n, dtype=np.uint8) for n in lengths]
    acc = BellAccumulator(segment_trials=segment)
    for block in blocks:
        returned = acc.add_block(block)
        assert returned.counts == bincount16(block)
    everything = np.concatenate(blocks)
    assert acc.total.counts == bincount16(everything)
    assert acc.total.n == everything.size
    assert [c.counts for c in acc.blocks] == [bincount16(b) for b in blocks]
    # segments restart at every block boundary and tile each block exactly
    expected_segments = [
        bincount16(block[start : start + segment])
        for block in blocks
        for start in range(0, block.size, segment)
    ]
    assert [s.counts for s in acc.segments] == expected_segments
    assert sum(s.n for s in acc.segments) == everything.size
    assert all(0 < s.n <= segment for s in acc.segments)


def test_accumulator_segment_boundaries_explicit() -> None:
    acc = BellAccumulator(segment_trials=4)
    acc.add_block(np.zeros(10, dtype=np.uint8))  # segments 4, 4, 2
    acc.add_block(np.ones(5, dtype=np.uint8))  # restarts: 4, 1 (not 2 + 3)
    assert [s.n for s in acc.segments] == [4, 4, 2, 4, 1]
    assert [s.counts[1] for s in acc.segments] == [0, 0, 0, 4, 1]


def test_accumulator_error_names_global_trial_index() -> None:
    acc = BellAccumulator(segment_trials=7)
    acc.add_block(np.zeros(30, dtype=np.uint8))
    block = np.zeros(20, dtype=np.uint8)
    block[17] = 200
    with pytest.raises(ProtocolError) as info:
        acc.add_block(block)
    assert info.value.trial == 30 + 17
    assert "trial 47" in str(info.value)


# --------------------------------------------------------------------------- AbPacker


def reference_ab(trials: np.ndarray) -> np.ndarray:
    ab = np.empty(2 * trials.size, dtype=np.uint8)
    ab[0::2] = (trials >> 1) & 1
    ab[1::2] = trials & 1
    return np.packbits(ab)


@HYP
@given(st.lists(st.integers(0, 40), min_size=0, max_size=12), st.integers(0, 2**32 - 1))
def test_ab_packer_matches_packbits(lengths: list[int], seed: int) -> None:
    rng = np.random.default_rng(seed)
    blocks = [rng.integers(0, 16, n, dtype=np.uint8) for n in lengths]
    total = sum(lengths)
    packer = AbPacker(total)
    for block in blocks:
        packer.add(block)
    packed = packer.finish()
    assert packed.dtype == np.uint8
    assert packed.size == (2 * total + 7) // 8
    expected = reference_ab(np.concatenate([np.zeros(0, dtype=np.uint8), *blocks]))
    np.testing.assert_array_equal(packed, expected)


@pytest.mark.parametrize(
    "lengths",
    [[1], [1] * 9, [3, 1], [5, 6, 7], [4, 4], [2, 0, 2, 1], [1, 2, 3, 4, 5, 6, 7], [1001], [0, 13]],
)
def test_ab_packer_explicit_lengths(lengths: list[int]) -> None:
    rng = np.random.default_rng(sum(lengths))
    blocks = [rng.integers(0, 16, n, dtype=np.uint8) for n in lengths]
    packer = AbPacker(sum(lengths))
    for block in blocks:
        packer.add(block)
    np.testing.assert_array_equal(packer.finish(), reference_ab(np.concatenate(blocks)))


def test_ab_packer_bit_order() -> None:
    # trial (a, b) = (1, 0), (0, 1), (1, 1) → bits 10 01 11 + padding 00 → 0b10011100
    trials = np.array([v_of(1, 0, 0, 1), v_of(0, 1, 1, 1), v_of(1, 1, 0, 0)], dtype=np.uint8)
    packer = AbPacker(3)
    packer.add(trials)
    assert packer.finish().tolist() == [0b10011100]


@pytest.mark.parametrize(("n_trials", "lengths"), [(5, [6]), (5, [3, 3]), (8, [4, 4, 1]), (0, [1])])
def test_ab_packer_too_many_trials(n_trials: int, lengths: list[int]) -> None:
    packer = AbPacker(n_trials)
    with pytest.raises(ProtocolError):
        for n in lengths:
            packer.add(np.zeros(n, dtype=np.uint8))
        packer.finish()


@pytest.mark.parametrize(("n_trials", "lengths"), [(5, [4]), (5, []), (9, [3, 3, 2]), (1, [0])])
def test_ab_packer_too_few_trials(n_trials: int, lengths: list[int]) -> None:
    packer = AbPacker(n_trials)
    for n in lengths:
        packer.add(np.zeros(n, dtype=np.uint8))
    with pytest.raises(ProtocolError):
        packer.finish()
