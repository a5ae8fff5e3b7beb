"""SP 800-90B §6.3.1–6.3.4: most common value, collision, Markov and compression estimates.

Each function takes a contiguous ``uint8`` array (symbols ``0 .. k-1``; bits 0/1 for the
binary-only estimators) and returns a frozen result holding the intermediate values the
reference tool prints at ``-v -v`` and the min-entropy per sample (``h``), or ``None`` for an
estimator that cannot run on so little data (the tool's negative result, ignored).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from diamp.analysis.sp800_90b._kernels.counting import (
    collision_waits,
    compression_g,
    compression_sums,
    markov_counts,
)
from diamp.analysis.sp800_90b._search import ZALPHA, bisect_decreasing

__all__ = [
    "CollisionResult",
    "CompressionResult",
    "MarkovResult",
    "McvResult",
    "collision_estimate",
    "compression_estimate",
    "markov_estimate",
    "most_common_value",
]


@dataclass(frozen=True)
class McvResult:
    """Most common value estimate (§6.3.1): mode count, p̂, its 99 % upper bound p_u, h."""

    mode: int
    p_hat: float
    p_u: float
    h: float


def most_common_value(symbols: NDArray[np.uint8]) -> McvResult:
    """Most common value estimate of min-entropy per sample.

    Notes
    -----
    p̂ = mode/L, p_u = min(1, p̂ + 2.576·√(p̂(1 − p̂)/(L − 1))), h = −log₂ p_u
    (SP 800-90B §6.3.1).
    """
    n = symbols.shape[0]
    mode = int(np.bincount(symbols).max())
    p_hat = mode / n
    p_u = min(1.0, p_hat + ZALPHA * math.sqrt(p_hat * (1.0 - p_hat) / (n - 1.0)))
    return McvResult(mode, p_hat, p_u, -math.log2(p_u))


@dataclass(frozen=True)
class CollisionResult:
    """Collision estimate (§6.3.2) for binary data: v, Σt, X̄, σ̂, X̄' (clamped at 2), p, h."""

    v: int
    sum_t: int
    x_bar: float
    sigma: float
    x_bar_prime: float
    p: float
    found_p: bool
    h: float


def collision_estimate(bits: NDArray[np.uint8]) -> CollisionResult | None:
    """Collision estimate for a binary sequence, solved in closed form as the tool does.

    Notes
    -----
    With the binary F of the tool (Appendix G.1.1), step 7 of §6.3.2 reduces to
    X̄' = −2p² + 2p + 2, so p = 1/2 + √(5/4 − X̄'/2) for X̄' < 2.5 (else p = 1/2, h = 1).
    X̄' = X̄ − 2.576 σ̂/√v is clamped below at 2, its smallest meaningful value. These are the
    tool's departures from the 2018 text, which prescribes a numerical search.
    """
    v, sum_t, sum_sq = collision_waits(bits)
    if v < 2:
        return None
    x_bar = sum_t / v
    sigma = math.sqrt((float(sum_sq) - sum_t * x_bar) / (v - 1))
    x_prime = max(x_bar - ZALPHA * sigma / math.sqrt(v), 2.0)
    if x_prime < 2.5:
        p = 0.5 + math.sqrt(1.25 - 0.5 * x_prime)
        return CollisionResult(v, sum_t, x_bar, sigma, x_prime, p, True, -math.log2(p))
    return CollisionResult(v, sum_t, x_bar, sigma, x_prime, 0.5, False, 1.0)


@dataclass(frozen=True)
class MarkovResult:
    """Markov estimate (§6.3.3): initial and transition probabilities, p̂_max, h per bit."""

    p0: float
    p1: float
    p00: float
    p01: float
    p10: float
    p11: float
    p_max: float
    h: float


def markov_estimate(bits: NDArray[np.uint8]) -> MarkovResult | None:
    """Markov estimate for a binary sequence: the most likely 128-bit sequence.

    Notes
    -----
    The six candidate sequences of §6.3.3 step 4 (all zeros, all ones, alternating, one
    transition); h = min(−log₂ p̂_max / 128, 1). Transitions are counted over the first
    L − 1 bits, the initial probabilities over all L bits, as in the tool.
    """
    n = bits.shape[0]
    if n < 2:
        return None
    c0, c00, c10 = markov_counts(bits)
    c1 = n - 1 - c0
    p00 = c00 / c0 if c0 > 0 else 0.0
    p01 = 1.0 - p00 if c0 > 0 else 0.0
    p10 = c10 / c1 if c1 > 0 else 0.0
    p11 = 1.0 - p10 if c1 > 0 else 0.0
    if bits[n - 1] == 0:
        c0 += 1
    p0 = c0 / n
    p1 = 1.0 - p0
    lg = math.log2
    candidates = []
    if p00 > 0.0:
        candidates.append(-lg(p0) - 127.0 * lg(p00))
    if p01 > 0.0 and p10 > 0.0:
        candidates.append(-lg(p0) - 64.0 * lg(p01) - 63.0 * lg(p10))
    if p01 > 0.0 and p11 > 0.0:
        candidates.append(-lg(p0) - lg(p01) - 126.0 * lg(p11))
    if p10 > 0.0 and p00 > 0.0:
        candidates.append(-lg(p1) - lg(p10) - 126.0 * lg(p00))
    if p10 > 0.0 and p01 > 0.0:
        candidates.append(-lg(p1) - 64.0 * lg(p10) - 63.0 * lg(p01))
    if p11 > 0.0:
        candidates.append(-lg(p1) - 127.0 * lg(p11))
    h_min = min([128.0, *candidates])
    return MarkovResult(p0, p1, p00, p01, p10, p11, 2.0**-h_min, min(h_min / 128.0, 1.0))


@dataclass(frozen=True)
class CompressionResult:
    """Compression estimate (§6.3.4): X̄, σ̂, X̄', p, whether p was found, h per bit."""

    x_bar: float
    sigma: float
    x_bar_prime: float
    p: float
    found_p: bool
    h: float


_BLOCK = 6
_DICT = 1000


def _expected(p: float, num_blocks: int) -> float:
    q = (1.0 - p) / ((1 << _BLOCK) - 1.0)
    return float(
        compression_g(p, _DICT, num_blocks)
        + ((1 << _BLOCK) - 1.0) * compression_g(q, _DICT, num_blocks)
    )


def compression_estimate(bits: NDArray[np.uint8]) -> CompressionResult | None:
    """Compression (Maurer universal statistic) estimate for a binary sequence.

    Returns ``None`` (the tool's "not enough samples") unless there are more than 1000
    six-bit blocks.

    Notes
    -----
    Blocks of b = 6 bits, a dictionary of d = 1000 blocks (§6.3.4 steps 1–6); σ̂ carries the
    factor 0.5907; p solves E[X](p) = X̄' by bisection on [2⁻⁶, 1] (the tool's search,
    :func:`~diamp.analysis.sp800_90b._search.bisect_decreasing`), h = −log₂(p)/6, and h = 1
    when no p > 2⁻⁶ is found.
    """
    num_blocks = bits.shape[0] // _BLOCK
    if num_blocks <= _DICT:
        return None
    v = num_blocks - _DICT
    x_sum, s_sum = compression_sums(bits, _BLOCK, _DICT)
    x_bar = x_sum / v
    low = 1.0 / (1 << _BLOCK)
    if v < 2:  # σ̂ is undefined: the tool's search compares with NaN and finds no p
        return CompressionResult(x_bar, math.nan, math.nan, low, False, 1.0)
    sigma = 0.5907 * math.sqrt(s_sum / (v - 1.0) - x_bar * x_bar)
    x_prime = x_bar - ZALPHA * sigma / math.sqrt(v)
    p = -1.0
    if _expected(low, num_blocks) > x_prime:
        p = bisect_decreasing(lambda z: _expected(z, num_blocks), x_prime, low, 1.0, low)
    if p > low:
        return CompressionResult(x_bar, sigma, x_prime, p, True, -math.log2(p) / _BLOCK)
    return CompressionResult(x_bar, sigma, x_prime, low, False, 1.0)
