"""Each Diehard kernel against a slow direct definition (_diehard_oracles) on small inputs.

_diehard_oracles defines dieharder 3.31.1's behaviour, so the kernels of birthdays,
bitstream and DNA are checked here in ``compat`` mode; their default (Marsaglia's
definitions) is checked against _marsaglia_oracles in test_diehard_marsaglia.
"""

from __future__ import annotations

import itertools
import math

import _diehard_oracles as oracle
import numpy as np
import pytest
from scipy import linalg, special, stats

from diamp.analysis.diehard import _kernels_bits as kb
from diamp.analysis.diehard import _kernels_stream as ks
from diamp.analysis.diehard import words_from_bytes
from diamp.analysis.diehard.operm5 import ordering_index, pseudo_inverse
from diamp.analysis.diehard.stats import kstest
from diamp.analysis.diehard.sums import sums_pvalue, toeplitz_cholesky


def words(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 2**32, n, dtype=np.uint32)


def start() -> np.ndarray:
    return np.zeros(2, dtype=np.int64)


def test_words_are_little_endian_and_drop_trailing_bytes() -> None:
    w = words_from_bytes(bytes([1, 2, 3, 4, 0xFF, 0, 0, 0x80, 9]))
    assert w.tolist() == [0x04030201, 0x800000FF] and w.dtype == np.uint32


@pytest.mark.parametrize("seed", [1, 2])
def test_birthdays(seed: int) -> None:
    w = words(8 * 384, seed)
    w[:20] = 7  # force repeated spacings
    hist, done = kb.birthdays(w, start(), 1, -1, 8, 64, True)
    expected = oracle.birthdays(w.tolist(), 8)
    assert done == 1 and hist[0].tolist() == np.bincount(expected, minlength=64).tolist()


def test_repeat_count_quirk() -> None:
    """Spacings [1,1,2,2]: dieharder counts 1 (it skips the run after a run), Marsaglia 2."""
    assert kb._repeats_dieharder(np.array([1, 1, 2, 2], np.uint32)) == 1
    assert kb._repeats_dieharder(np.array([1, 1, 3, 2, 2], np.uint32)) == 2
    assert kb._repeats_dieharder(np.array([1, 1, 1, 2, 2, 2], np.uint32)) == 2
    assert kb._repeats(np.array([1, 1, 2, 2], np.uint32)) == 2
    assert kb._repeats(np.array([1, 1, 1, 2, 2, 5, 7, 7], np.uint32)) == 3
    assert kb._repeats(np.array([3], np.uint32)) == kb._repeats(np.array([1, 2], np.uint32)) == 0


def test_operm5_counts_and_ordering() -> None:
    w = words(5 + 3000, 3)
    counts, _ = kb.operm5(w, start(), 1, -1, 3000)
    assert counts[0].tolist() == oracle.operm5(w.tolist(), 3000)
    perms = np.array(
        sorted({tuple(p) for p in np.argsort(np.random.default_rng(4).random((4000, 5)))})
    )
    assert sorted(ordering_index(perms).tolist()) == list(range(120))


def test_ordering_pairs_against_itertools() -> None:
    perms = np.array(list(itertools.permutations(range(7))))
    joint = np.zeros((120, 120), np.int64)
    np.add.at(joint, (ordering_index(perms[:, :5]), ordering_index(perms[:, 2:7])), 1)
    assert np.array_equal(kb.ordering_pairs(7, 2), joint)


def test_operm5_covariance_inverse() -> None:
    p = pseudo_inverse()
    assert np.allclose(p, p.T) and np.linalg.matrix_rank(p, tol=1e-8) == 96
    assert np.allclose(p @ np.ones(120), 0.0, atol=1e-8)  # counts sum to n: no weight there


@pytest.mark.parametrize(("rows", "cols"), [(32, 32), (6, 8)])
def test_binary_rank(rows: int, cols: int) -> None:
    w = words(rows * 50, 5)
    w[:rows] &= 0xF  # some deficient matrices
    hist, _ = kb.binary_rank(w, start(), 1, -1, 50, rows, cols)
    ranks = [oracle.gf2_rank(w[rows * i : rows * (i + 1)].tolist(), cols) for i in range(50)]
    assert hist[0].tolist() == np.bincount(ranks, minlength=cols + 1).tolist()


def test_bitstream_missing_words() -> None:
    w = words(2000, 6)
    missing, _ = kb.bitstream(w, start(), 1, -1, 60_000, 2000, True)
    assert missing[0] == oracle.missing_bitstream(w.tolist(), 60_000)
    zeros = np.zeros(2000, np.uint32)  # one word 256·k times: dieharder's char wraps
    missing, _ = kb.bitstream(zeros, start(), 1, -1, 512, 2000, True)
    assert missing[0] == oracle.missing_bitstream(zeros.tolist(), 512) == 2**20
    missing, _ = kb.bitstream(zeros, start(), 1, -1, 512, 2000, False)
    assert missing[0] == 2**20 - 1  # Marsaglia: the word occurred, so it is not missing


def _dna_compat(*args: object) -> object:
    return kb.dna(*args, True)


@pytest.mark.parametrize(("kernel", "slow"), [(kb.opso, oracle.missing_opso),
                                              (kb.oqso, oracle.missing_oqso),
                                              (_dna_compat, oracle.missing_dna)])  # fmt: skip
def test_sparse_occupancy(kernel: object, slow: object) -> None:
    w = words(40_000, 7)
    missing, _ = kernel(w, start(), 1, -1, 30_000)  # type: ignore[operator]
    assert missing[0] == slow(w.tolist(), 30_000)  # type: ignore[operator]


@pytest.mark.parametrize(
    ("kernel", "slow", "n"),
    [
        (ks.count_1s_stream, oracle.count_1s_stream, 4000),
        (ks.count_1s_byte, oracle.count_1s_byte, 800),
    ],
)
def test_count_the_ones(kernel: object, slow: object, n: int) -> None:
    w = words(5000, 8)
    c4, c5, _ = kernel(w, start(), 1, -1, n)  # type: ignore[operator]
    e4, e5 = slow(w.tolist(), n)  # type: ignore[operator]
    assert c4[0].tolist() == e4 and c5[0].tolist() == e5


def test_parking_lot_grid_equals_brute_force() -> None:
    w = words(2 * 3000, 9)
    parked, _ = ks.parking_lot(w, start(), 1, -1, 3000)
    assert parked[0] == oracle.parking(w.tolist(), 3000)


def test_minimum_distances() -> None:
    w = words(3 * 400 + 10, 10)
    w[3] = 0  # a zero word is skipped by uniform_pos
    d2, _ = ks.min_distance_2d(w, start(), 1, -1, 400)
    assert d2[0] == pytest.approx(oracle.min_distance(w.tolist(), 400, 2, 10000.0), rel=1e-12)
    r3, _ = ks.min_distance_3d(w, start(), 1, -1, 300)
    assert r3[0] == pytest.approx(oracle.min_distance(w.tolist(), 300, 3, 1000.0) ** 3, rel=1e-9)


def test_squeeze() -> None:
    w = words(20_000, 11)
    hist, _ = ks.squeeze(w, start(), 1, -1, 500)
    js = oracle.squeeze(w.tolist(), 500)
    assert hist[0].tolist() == np.bincount(np.array(js) - 6, minlength=43).tolist()


def test_runs() -> None:
    w = words(5000, 12)
    up, down, _ = ks.runs(w, start(), 1, -1, 5000)
    assert (up[0].tolist(), down[0].tolist()) == oracle.runs(w.tolist())


def test_craps() -> None:
    w = words(40_000, 13)
    w[::97] = 0xFFFFFFFE  # rejected die words
    wins, throws, _ = ks.craps(w, start(), 1, -1, 3000)
    assert (int(wins[0]), throws[0].tolist()) == oracle.craps(w.tolist(), 3000)


def test_reader_wraps_and_counts() -> None:
    w = words(20, 14)
    state = start()
    kb.opso(w, state, 1, -1, 30)
    assert state.tolist() == [10, 30]  # 30 words read from 20: wrapped to word 10


def test_sums_whitening_against_numpy() -> None:
    """x = L⁻¹y has |x|² = yᵀT⁻¹y (an independent solve), and the sums are the direct ones."""
    w = words(199, 15)
    s, _ = ks.sums(w, start(), 1, -1, 100)
    u = w / 4294967295.0
    direct = np.array([math.fsum(u[t : t + 100]) for t in range(100)])
    np.testing.assert_allclose(s[0], direct, rtol=0, atol=1e-10)
    y = (direct - 50.0) * math.sqrt(12.0)
    lags = np.abs(np.subtract.outer(np.arange(100), np.arange(100)))
    t = np.maximum(100 - lags, 0).astype(float)
    x = np.linalg.solve(np.linalg.cholesky(t), y)
    assert float(x @ x) == pytest.approx(float(y @ np.linalg.solve(t, y)), rel=1e-9)
    ks_exact = stats.kstest(special.ndtr(x), "uniform", method="exact").pvalue
    assert sums_pvalue(direct) == pytest.approx(ks_exact, abs=1e-12)
    assert np.allclose(linalg.cholesky(t, lower=True) @ linalg.cholesky(t, lower=True).T, t)


def test_sums_pvalues_are_uniform_for_uniform_input() -> None:
    """Marsaglia's transform done exactly gives uniform p-values (dieharder's does not)."""
    rng = np.random.default_rng(16)
    sums = [np.convolve(rng.random(199), np.ones(100), "valid") for _ in range(2000)]
    pvalues = [sums_pvalue(s) for s in sums[:400]]
    assert stats.kstest(pvalues, "uniform").pvalue > 1e-3
    chol = toeplitz_cholesky(100)
    x = np.array(
        [linalg.solve_triangular(chol, (s - 50) * math.sqrt(12), lower=True) for s in sums]
    )
    assert np.max(np.abs(np.cov(x.T) - np.eye(100))) < 0.2  # whitened: identity covariance


def test_kstest_is_the_exact_kolmogorov_distribution() -> None:
    """dieharder's statistic max|p(i) − i/(n+1)| with the exact law of D_n (scipy's kstwo)."""
    rng = np.random.default_rng(17)
    for n in (2, 3, 10, 100):
        for _ in range(20):
            p = np.sort(rng.random(n))
            d = float(np.max(np.abs(p - np.arange(1, n + 1) / (n + 1))))
            if d * d * n > 3.76:
                continue  # the far-tail shortcut, checked below
            assert kstest(p) == pytest.approx(stats.kstwo.sf(d, n), abs=1e-9)
    assert kstest(np.array([0.3])) == 0.3
    far = np.full(100, 0.999)
    assert kstest(far) == pytest.approx(stats.kstwo.sf(0.999 - 1 / 101, 100), rel=1e-3, abs=1e-12)
