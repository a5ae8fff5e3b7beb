"""Ext(AB, Z) is strong in Z: K stays uniform given the public Z (issue 14, item 8).

Dodis et al. (2004, Lemma 4): if every non-empty sum A_S of the matrices A_1 … A_m has rank
>= N - m + 1 over GF(2), then Ext(x, y)_i = xᵀA_i y is a (k₁, k₂, ε_D) extractor strong in the
conditioned input, ε_D = 2^(−(k₁+k₂−N−2m)/2). Ext is strong in y because xᵀA_S y = yᵀA_Sᵀ x
and A_Sᵀ has the rank of A_S. These tests check, independently of the FFT engine:

- the matrices of the DESIGN convention reproduce the library's definition bit for bit;
- the rank condition for every non-empty sum of the shifts and of their transposes;
- the exact statistical distance of (K, Z) and of (K, AB) from uniform K on flat sources of
  the stated min-entropies stays below ε_D, and the same measure flags a function of Z alone.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from diamp.extractors.bits import PackedBits
from diamp.extractors.dodis import dodis_bits_direct


def shift(n: int, i: int) -> np.ndarray:
    """(A_i)_{t,u} = 1 iff u = t + i − 1: the non-cyclic right shift by i − 1 (i >= 1)."""
    return np.eye(n, k=i - 1, dtype=np.uint8)


def gf2_rank(matrix: np.ndarray) -> int:
    """Rank over GF(2) by Gaussian elimination (a plain oracle, no library code)."""
    a = matrix.copy() % 2
    rank = 0
    rows, cols = a.shape
    for col in range(cols):
        pivot = next((r for r in range(rank, rows) if a[r, col]), None)
        if pivot is None:
            continue
        a[[rank, pivot]] = a[[pivot, rank]]
        for r in range(rows):
            if r != rank and a[r, col]:
                a[r] ^= a[rank]
        rank += 1
    return rank


def packed(bits: np.ndarray) -> PackedBits:
    return PackedBits(np.packbits(bits.astype(np.uint8)), bits.size)


def test_shift_matrices_are_the_library_definition() -> None:
    rng = np.random.default_rng(14)
    for n in (1, 2, 7, 16, 33):
        for _ in range(5):
            x, y = rng.integers(0, 2, n), rng.integers(0, 2, n)
            want = [int(x @ shift(n, j + 1) @ y) % 2 for j in range(n)]
            assert dodis_bits_direct(packed(x), packed(y), range(n)) == want


@pytest.mark.parametrize("n", [4, 7, 10, 12])
def test_rank_condition_holds_for_the_shifts_and_their_transposes(n: int) -> None:
    for m in range(1, min(n, 5) + 1):
        for size in range(1, m + 1):
            for subset in itertools.combinations(range(1, m + 1), size):
                total = sum(shift(n, i) for i in subset) % 2
                assert gf2_rank(total) >= n - m + 1, (n, m, subset)
                assert gf2_rank(total.T) == gf2_rank(total)


def outputs(xs: np.ndarray, zs: np.ndarray, m: int) -> np.ndarray:
    """K as integers for every pair (x in xs, z in zs): K_j = Σ_t x_t z_{t+j} mod 2."""
    n = xs.shape[1]
    k = np.zeros((len(xs), len(zs)), dtype=np.int64)
    for j in range(m):
        bit = (xs[:, : n - j].astype(np.int64) @ zs[:, j:].T.astype(np.int64)) % 2
        k = (k << 1) | bit
    return k


def distance_given(k: np.ndarray, m: int, axis: int) -> float:
    """Exact ½‖P(K, W) − U_m ⊗ P(W)‖₁ for flat (uniform) x and z, W the input along ``axis``."""
    per_w = k if axis == 1 else k.T  # rows: values of the other input; columns: values of W
    total = 0.0
    for column in per_w.T:
        freq = np.bincount(column, minlength=2**m) / column.size
        total += 0.5 * float(np.abs(freq - 2.0**-m).sum())
    return total / per_w.shape[1]


def flat_source(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    """A uniformly random set of 2^k strings of n bits: a flat source of min-entropy k."""
    values = rng.choice(2**n, size=2**k, replace=False)
    return ((values[:, None] >> np.arange(n - 1, -1, -1)) & 1).astype(np.uint8)


@pytest.mark.parametrize(("n", "k", "m"), [(10, 9, 1), (10, 9, 2), (12, 11, 2), (12, 10, 1)])
def test_output_is_close_to_uniform_given_z_and_given_ab(n: int, k: int, m: int) -> None:
    eps_d = 2.0 ** (-(2 * k - n - 2 * m) / 2)
    rng = np.random.default_rng(n * 100 + k * 10 + m)
    for _ in range(3):
        ab, z = flat_source(rng, n, k), flat_source(rng, n, k)
        k_out = outputs(ab, z, m)
        assert distance_given(k_out, m, axis=1) <= eps_d  # strong in Z: what DIRA publishes
        assert distance_given(k_out, m, axis=0) <= eps_d  # and, symmetrically, in AB


def test_the_distance_flags_an_output_that_depends_on_z() -> None:
    """Negative control: K = z_0 is uniform on its own but determined by Z."""
    rng = np.random.default_rng(1)
    ab, z = flat_source(rng, 8, 7), flat_source(rng, 8, 7)
    k_out = np.broadcast_to(z[:, 0].astype(np.int64), (len(ab), len(z)))
    assert distance_given(k_out, 1, axis=0) < 0.1  # given AB it looks uniform
    assert distance_given(k_out, 1, axis=1) == pytest.approx(0.5)  # given Z it is known
