"""GF(2) linear-algebra tests: Binary Matrix Rank and Linear Complexity.

Each function takes a sequence as a ``uint8`` array of 0/1 values in sequence order (bits
unpacked MSB-first from the input bytes) and returns the p-value the NIST reference
implementation sts-2.1.2 reports. References: SP 800-22 Rev. 1a, sections 2.5 and 2.10.
"""

from __future__ import annotations

import math

import numpy as np

import diamp.analysis.sp800_22._kernels as _kernels
from diamp.analysis.sp800_22._common import as_bits, igamc, require

__all__ = ["linear_complexity", "matrix_ranks", "rank"]

_SIDE = 32
# Linear Complexity class probabilities; the first is the reference's rounded 0.01047
# (the exact value is 0.010417), see SP 800-22 §3.10.
_LC_PROBS = (0.01047, 0.03125, 0.12500, 0.50000, 0.25000, 0.06250, 0.020833)
_LC_EDGES = np.array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5])


def matrix_ranks(bits: np.ndarray, rows: int = _SIDE, cols: int = _SIDE) -> np.ndarray:
    """GF(2) ranks of the consecutive ``rows`` × ``cols`` matrices filled row by row.

    Matrix k takes bits [k·rows·cols, (k+1)·rows·cols); row i of it is the next ``cols``
    bits. Bits after the last complete matrix are discarded.
    """
    eps = as_bits(bits)
    require(1 <= cols <= 64 and rows >= 1, "matrix_ranks needs 1 <= cols <= 64", "cols")
    count = eps.size // (rows * cols)
    grid = eps[: count * rows * cols].reshape(count * rows, cols)
    octets = np.zeros((count * rows, 8), dtype=np.uint8)  # each row MSB-first in 64 bits
    octets[:, : (cols + 7) // 8] = np.packbits(grid, axis=1)
    words = octets.view(">u8")[:, 0] >> np.uint64(64 - cols)
    packed = np.ascontiguousarray(words, dtype=np.uint64).reshape(count, rows)
    packed.flags.writeable = False
    return np.asarray(_kernels.gf2_ranks(packed, cols))


def _rank_probability(r: int) -> float:
    """P(rank = r) of a random 32 × 32 matrix, evaluated as the reference does."""
    product = 1.0
    for i in range(r):
        product *= ((1.0 - 2.0 ** (i - 32)) * (1.0 - 2.0 ** (i - 32))) / (1.0 - 2.0 ** (i - r))
    return 2.0 ** (r * (2 * _SIDE - r) - _SIDE * _SIDE) * product


def rank(bits: np.ndarray) -> float:
    """Binary Matrix Rank test with 32 × 32 matrices, SP 800-22 §2.5.

    Notes
    -----
    F_32, F_31 count the N = ⌊n/1024⌋ matrices of full and full-minus-one rank;
    χ² = Σ (F_r − N p_r)² / (N p_r) over r = 32, 31, ≤ 30; P = exp(−χ²/2).
    """
    eps = as_bits(bits)
    count = eps.size // (_SIDE * _SIDE)
    require(count >= 1, f"Rank needs n >= 1024 bits, found {eps.size}", "bits")
    ranks = matrix_ranks(eps)
    p32, p31 = _rank_probability(32), _rank_probability(31)
    p30 = 1 - (p32 + p31)
    f32 = float(np.count_nonzero(ranks == 32))
    f31 = float(np.count_nonzero(ranks == 31))
    f30 = count - (f32 + f31)
    chi2 = (
        (f32 - count * p32) ** 2 / (count * p32)
        + (f31 - count * p31) ** 2 / (count * p31)
        + (f30 - count * p30) ** 2 / (count * p30)
    )
    return math.exp(-chi2 / 2.0)


def linear_complexities(bits: np.ndarray, m: int) -> np.ndarray:
    """Linear complexity (Berlekamp–Massey) of each complete block of ``m`` bits."""
    eps = as_bits(bits)
    require(m >= 1, f"block length must be >= 1, found {m}", "linear_complexity_m")
    return np.asarray(_kernels.linear_complexities(eps, m, eps.size // m))


def linear_complexity(bits: np.ndarray, m: int = 500) -> float:
    """Linear Complexity test, SP 800-22 §2.10 (block length ``m``; tail discarded).

    Notes
    -----
    With μ = M/2 + (9 + (−1)^{M+1})/36 − (M/3 + 2/9)/2^M, each block's complexity L_i gives
    T_i = (−1)^M (L_i − μ) + 2/9, binned at ±0.5, ±1.5, ±2.5; χ² over the 7 classes with the
    reference's probabilities (first one rounded to 0.01047) and P = igamc(3, χ²/2).
    """
    eps = as_bits(bits)
    count = eps.size // m if m >= 1 else 0
    require(count >= 1, f"LinearComplexity needs n >= M = {m}", "linear_complexity_m")
    lc = linear_complexities(eps, m)
    sign = -1 if (m + 1) % 2 == 0 else 1
    tail = 0.0 if m > 1023 else 1.0 / 2.0**m
    mean = m / 2.0 + (9.0 + sign) / 36.0 - tail * (m / 3.0 + 2.0 / 9.0)
    t = (1 if m % 2 == 0 else -1) * (lc - mean) + 2.0 / 9.0
    nu = np.bincount(np.searchsorted(_LC_EDGES, t, side="left"), minlength=7)
    chi2 = 0.0
    for k, p in enumerate(_LC_PROBS):
        chi2 += (float(nu[k]) - count * p) ** 2 / (count * p)
    return igamc(3.0, chi2 / 2.0)
