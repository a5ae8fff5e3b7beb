"""Each non-IID estimator against an independent oracle on small inputs.

Oracles (``oracles_sp800_90b``) are slow pure-Python definitions from the text of SP 800-90B
§6.3, plus closed forms where they exist.
"""

from __future__ import annotations

import math

import numpy as np
import oracles_sp800_90b as oracle
import pytest
from numpy.typing import NDArray

from diamp.analysis.sp800_90b.estimators import (
    collision_estimate,
    compression_estimate,
    markov_estimate,
    most_common_value,
)
from diamp.analysis.sp800_90b.predictors import (
    lag_estimate,
    lz78y_estimate,
    multi_mcw_estimate,
    multi_mmc_estimate,
    prediction_estimate,
)
from diamp.analysis.sp800_90b.tuples import tuple_estimates


def biased_bits(n: int, p1: float, seed: int) -> NDArray[np.uint8]:
    return (np.random.default_rng(seed).random(n) < p1).astype(np.uint8)


def markov_bits(n: int, stay: float, seed: int) -> NDArray[np.uint8]:
    """A two-state chain that repeats its last bit with probability ``stay``."""
    flips = np.random.default_rng(seed).random(n) >= stay
    return (np.cumsum(flips) % 2).astype(np.uint8)


def symbols(n: int, k: int, seed: int, skew: float = 0.0) -> NDArray[np.uint8]:
    weights = np.exp(-skew * np.arange(k))
    rng = np.random.default_rng(seed)
    return rng.choice(k, size=n, p=weights / weights.sum()).astype(np.uint8)


BIT_CASES = [
    biased_bits(5000, 0.5, 1),
    biased_bits(5000, 0.7, 2),
    biased_bits(5000, 0.93, 3),
    markov_bits(5000, 0.8, 4),
    markov_bits(5000, 0.3, 5),
]


def test_mcv_closed_form_on_exact_counts() -> None:
    # 700 ones among 1000 samples: p̂ = 0.7, p_u = 0.7 + 2.5758… √(0.21/999)
    s = np.zeros(1000, np.uint8)
    s[:700] = 1
    r = most_common_value(s)
    p_u = 0.7 + 2.5758293035489008 * math.sqrt(0.7 * 0.3 / 999)
    assert (r.mode, r.p_hat) == (700, 0.7)
    assert r.p_u == pytest.approx(p_u, rel=1e-15)
    assert r.h == pytest.approx(-math.log2(p_u), rel=1e-15)


def test_mcv_hand_computed_example() -> None:
    s = np.array([0, 1, 1, 2, 0, 1, 2, 2, 0, 1, 0, 1, 1, 0, 2, 2, 1, 0, 2, 1], np.uint8)
    r = most_common_value(s)
    assert r.mode == 8 and r.p_u == pytest.approx(0.6895, abs=1e-4)
    assert r.h == pytest.approx(0.5363, abs=1e-4)


@pytest.mark.parametrize("seed", range(4))
def test_mcv_matches_the_oracle(seed: int) -> None:
    s = symbols(3000, 6, seed, skew=0.4)
    assert most_common_value(s).h == pytest.approx(oracle.mcv(s.tolist()), rel=1e-12)


@pytest.mark.parametrize("bits", BIT_CASES, ids=range(len(BIT_CASES)))
def test_collision_p_solves_the_binary_expectation(bits: NDArray[np.uint8]) -> None:
    r = collision_estimate(bits)
    p = oracle.collision_p(bits.tolist())
    assert r is not None
    if p is None:
        assert not r.found_p and r.h == 1.0
    else:
        assert r.found_p and r.p == pytest.approx(p, rel=1e-9)


@pytest.mark.parametrize("bits", BIT_CASES, ids=range(len(BIT_CASES)))
def test_markov_equals_the_most_likely_path_by_dynamic_programming(
    bits: NDArray[np.uint8],
) -> None:
    r = markov_estimate(bits)
    assert r is not None and r.h == pytest.approx(oracle.markov(bits.tolist()), rel=1e-9)


@pytest.mark.parametrize("bits", BIT_CASES[:1] + BIT_CASES[2:4], ids=range(3))
def test_compression_matches_the_double_sum_definition(bits: NDArray[np.uint8]) -> None:
    data = np.concatenate([bits, bits[::-1], bits[:2000]])  # 12,000 bits: 2000 blocks
    r = compression_estimate(data)
    x_prime, h = oracle.compression(data.tolist())
    assert r is not None
    assert r.x_bar_prime == pytest.approx(x_prime, rel=1e-12)
    assert r.h == pytest.approx(h, rel=1e-7)


def test_compression_needs_more_than_1000_blocks() -> None:
    assert compression_estimate(biased_bits(6005, 0.5, 0)) is None
    one_test_block = compression_estimate(biased_bits(6006, 0.5, 0))  # σ̂ undefined: no p
    assert one_test_block is not None and not one_test_block.found_p and one_test_block.h == 1.0


TUPLE_CASES = [
    (biased_bits(3000, 0.6, 11), 2),
    (markov_bits(2000, 0.9, 12), 2),
    (symbols(3000, 4, 13, skew=0.5), 4),
    (symbols(4000, 40, 14, skew=0.1), 40),
    (np.tile(symbols(37, 5, 15), 20), 5),  # periodic: LRS of 703 symbols
]


@pytest.mark.parametrize(("s", "k"), TUPLE_CASES, ids=range(len(TUPLE_CASES)))
def test_t_tuple_and_lrs_match_explicit_tuple_counts(s: NDArray[np.uint8], k: int) -> None:
    t_result, lrs_result = tuple_estimates(s, k)
    h_tuple, h_lrs = oracle.t_tuple_and_lrs(s.tolist())
    assert (t_result is None) == (h_tuple is None)
    assert (lrs_result is None) == (h_lrs is None)
    if t_result is not None:
        assert t_result.h == pytest.approx(h_tuple, rel=1e-10)
    if lrs_result is not None:
        assert lrs_result.h == pytest.approx(h_lrs, rel=1e-10)


def test_t_tuple_needs_a_value_seen_35_times() -> None:
    t_result, lrs_result = tuple_estimates(symbols(300, 200, 3), 200)
    assert t_result is None and lrs_result is not None


PREDICTOR_CASES = [
    (biased_bits(4500, 0.5, 21), 2),
    (biased_bits(4500, 0.8, 22), 2),
    (markov_bits(4500, 0.85, 23), 2),
    (symbols(4500, 4, 24, skew=0.7), 4),
    (symbols(4500, 200, 25, skew=0.02), 200),
    (np.tile(symbols(100, 30, 26), 45), 30),
]


@pytest.mark.parametrize(("s", "k"), PREDICTOR_CASES, ids=range(len(PREDICTOR_CASES)))
def test_predictor_counts_match_the_oracles(s: NDArray[np.uint8], k: int) -> None:
    seq = s.tolist()
    mcw, lag, mmc, lz = (
        multi_mcw_estimate(s, k),
        lag_estimate(s, k),
        multi_mmc_estimate(s, k),
        lz78y_estimate(s, k),
    )
    assert mcw is not None and lag is not None and mmc is not None and lz is not None
    c, n, run = oracle.multi_mcw(seq)
    assert (mcw.c, mcw.n, mcw.r) == (c, n, run + 1)
    assert (lag.c, lag.n, lag.r - 1) == (*oracle.lag(seq)[:1], len(seq) - 1, oracle.lag(seq)[1])
    assert (mmc.c, mmc.r - 1) == oracle.multi_mmc(seq)
    assert (lz.c, lz.r - 1) == oracle.lz78y(seq)
    assert (mmc.n, lz.n) == (len(seq) - 2, len(seq) - 17)


@pytest.mark.parametrize(
    ("c", "n", "run", "k"),
    [
        (599_458, 999_937, 25, 2),  # the vector's MultiMCW: P_local cannot matter
        (520, 1000, 40, 2),  # a long run lifts P_local above P_global'
        (30, 5000, 12, 256),  # few successes, a run of 12 out of 256 symbols
        (0, 1000, 0, 4),  # no success: 1/k bound
        (4990, 5000, 400, 2),
    ],
)
def test_prediction_estimate_matches_the_50_digit_oracle(c: int, n: int, run: int, k: int) -> None:
    r = prediction_estimate(c, n, run, k)
    assert r.h == pytest.approx(oracle.prediction(c, n, run, k), rel=1e-9)
    assert 0.0 <= r.h <= math.log2(k)


def test_p_local_is_reported_when_it_decides() -> None:
    r = prediction_estimate(520, 1000, 40, 2)
    assert r.p_local is not None and r.p_local > r.p_global_prime
    assert r.h == pytest.approx(-math.log2(r.p_local))


def random_then_periodic(n: int, k: int, period: int, repeats: int, seed: int) -> NDArray[np.uint8]:
    """Random samples that fill the dictionaries, then a repeated pattern to be learnt."""
    head = symbols(n, k, seed)
    return np.concatenate([head, np.tile(symbols(period, k, seed + 1), repeats)])


def test_lz78y_dictionary_cap_on_bytes() -> None:
    s = random_then_periodic(5000, 256, 50, 40, 31)  # 16 contexts a sample fill 65,536
    r = lz78y_estimate(s, 256)
    assert r is not None and (r.c, r.r - 1) == oracle.lz78y(s.tolist())
    assert (r.c, r.r - 1) != oracle.lz78y(s.tolist(), max_dict=10**9)  # the cap matters here


@pytest.mark.parametrize("seed", [40, 41, 42])
def test_lz78y_contexts_added_as_the_dictionary_fills_are_found_again(seed: int) -> None:
    # the contexts added in the step that fills the dictionary lack some shorter suffixes;
    # repeating the data makes them recur
    head = symbols(5000, 256, seed)
    s = np.concatenate([head, head])
    r = lz78y_estimate(s, 256)
    assert r is not None and (r.c, r.r - 1) == oracle.lz78y(s.tolist())


def test_lz78y_dictionary_cap_on_bits() -> None:
    s = biased_bits(30_000, 0.5, 32)
    r = lz78y_estimate(s, 2)
    size: list[int] = []
    assert r is not None and (r.c, r.r - 1) == oracle.lz78y(s.tolist(), stats=size)
    assert size == [65_536]  # the cap was reached


@pytest.mark.slow
def test_multi_mmc_entry_cap_on_bytes() -> None:
    s = random_then_periodic(101_000, 256, 60, 30, 33)  # orders ≥ 3 reach 100,000 entries
    r = multi_mmc_estimate(s, 256)
    assert r is not None and (r.c, r.r - 1) == oracle.multi_mmc(s.tolist())
    assert (r.c, r.r - 1) != oracle.multi_mmc(s.tolist(), max_entries=10**9)


@pytest.mark.slow
def test_multi_mmc_entry_cap_on_bits() -> None:
    s = biased_bits(200_000, 0.5, 34)
    r = multi_mmc_estimate(s, 2)
    entries: list[int] = []
    assert r is not None and (r.c, r.r - 1) == oracle.multi_mmc(s.tolist(), stats=entries)
    assert entries[15] == 100_000  # the 16-bit contexts reached the cap
