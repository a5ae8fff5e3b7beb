"""The Dodis et al. two-source extractor, computed exactly by blockwise FFT correlation.

Definition (DESIGN; seed 003 Theorem 2, non-cyclic shifts): for x, y ∈ {0,1}^N,

    Ext(x, y)_j = Σ_{t=0}^{N−1−j} x_t · y_{t+j}  mod 2,   j = 0 … m−1.

For DIRA, K = Ext(AB, Z): x = AB, y = Z. Inputs and output are :class:`PackedBits`
(MSB-first).

The correlation is split into x-blocks [s, s+B) and lag chunks [j0, j0+J); each pair is one
real FFT correlation of length L ≥ B + J − 1 (no wrap-around), the integer sums are rounded
and their parities XORed into the output. Exactness is enforced, not hoped for: see
:func:`fft_error_bound` for the a-priori round-off bound that every transform must satisfy
(< 1/4, so rounding to the nearest integer is exact), and every result is also checked at
run time (each sum must lie within that bound of an integer) and at sampled output bits
against the direct definition.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from diamp.errors import ExtractionError
from diamp.extractors._kernels import shifted_and_parity
from diamp.extractors.bits import PackedBits

__all__ = [
    "DodisResult",
    "dodis_bit",
    "dodis_extract",
    "fft_error_bound",
    "verify_output",
]

UNIT_ROUNDOFF = 2.0**-53
MAX_ERROR = 0.25
DEFAULT_BLOCK_BITS = 2**21

Progress = Callable[[int, int], None]


def _gamma(k: int) -> float:
    return k * UNIT_ROUNDOFF / (1 - k * UNIT_ROUNDOFF)


def fft_error_bound(length: int, weight_x: int, weight_y: int) -> float:
    """Worst-case absolute error of one FFT correlation of 0/1 vectors.

    Parameters
    ----------
    length
        FFT length L (a power of two).
    weight_x, weight_y
        Number of ones in the two inputs (their 1-norms; 2-norms are the square roots).

    Notes
    -----
    Model: Higham, *Accuracy and Stability of Numerical Algorithms* (2nd ed.), Thm 24.2 —
    a computed length-L FFT satisfies ‖ŷ − y‖₂ ≤ ε_T‖y‖₂ with ε_T = Tη/(1 − Tη),
    η = μ + γ₄(√2 + μ), where T is the number of butterfly stages and μ the twiddle error.
    We take T = log₂L + 2 (the real-input pre/post-processing adds a stage each way) and
    μ = 2u. With A = F·a, B = F·b: ‖A‖₂ = √(L·w_a), ‖A‖∞ ≤ w_a. The product conj(Â)·B̂
    then has error ≤ ε_T√L(√w_a·w_b + w_a·√w_b) + ε_T²L√(w_a w_b), plus the complex
    multiplication's relative error √2γ₂; the inverse transform (exact 1/L scaling) adds
    ε_T‖P̂‖₂ and divides by √L. The ∞-norm error of the correlation is bounded by the
    2-norm error computed here. Parities are exact when this is < 1/2; diamp requires
    < 1/4 and checks the observed residuals against it on every transform.
    """
    u = UNIT_ROUNDOFF
    stages = math.log2(length) + 2
    mu = 2 * u
    eta = mu + _gamma(4) * (math.sqrt(2) + mu)
    eps_t = stages * eta / (1 - stages * eta)
    wa, wb = float(weight_x), float(weight_y)
    sqrt_l = math.sqrt(length)
    exact_norm = min(sqrt_l * math.sqrt(wa) * wb, wa * sqrt_l * math.sqrt(wb))  # ‖P‖₂
    d_product = eps_t * sqrt_l * (
        math.sqrt(wa) * wb + wa * math.sqrt(wb)
    ) + eps_t**2 * length * math.sqrt(wa * wb)
    d_product += math.sqrt(2) * _gamma(2) * (exact_norm + d_product)
    return (d_product * (1 + eps_t) + eps_t * exact_norm) / sqrt_l


def _next_pow2(value: int) -> int:
    return 1 << max(0, (value - 1).bit_length())


def _words(bits: PackedBits, pad_words: int) -> np.ndarray:
    """Native uint64 words holding the bits MSB-first, followed by ``pad_words`` zero words."""
    nwords = (bits.data.size + 7) // 8
    buf = np.zeros(8 * (nwords + pad_words), dtype=np.uint8)
    buf[: bits.data.size] = bits.data
    return buf.view(">u8").astype(np.uint64)


def dodis_bit(x: PackedBits, y: PackedBits, j: int) -> int:
    """Output bit j from the definition: parity of Σ_t x_t·y_{t+j} (bit-packed AND, O(N))."""
    _check_inputs(x, y, 1)
    if not 0 <= j < len(x):
        raise ExtractionError(f"output bit index must satisfy 0 <= j < N = {len(x)}, found {j}")
    return int(shifted_and_parity(_words(x, 0), _words(y, 1), j))


@dataclass(frozen=True)
class DodisResult:
    """An extracted key with the evidence of its exactness."""

    output: PackedBits
    block_bits: int
    lag_bits: int
    fft_length: int
    error_bound: float
    max_residual: float
    checked_positions: tuple[int, ...] = field(default=())


def _check_inputs(x: PackedBits, y: PackedBits, m: int) -> None:
    if len(x) != len(y):
        raise ExtractionError(
            f"Dodis inputs must have equal length, found {len(x)} and {len(y)} bits"
        )
    if not 1 <= m <= len(x):
        raise ExtractionError(f"output length m must satisfy 1 <= m <= N = {len(x)}, found {m}")


def _plan(n: int, m: int, block_bits: int | None) -> tuple[int, int, int]:
    block = min(block_bits or DEFAULT_BLOCK_BITS, n)
    lag = min(m, block)
    length = _next_pow2(block + lag - 1)
    worst = fft_error_bound(length, block, block + lag - 1)
    if worst >= MAX_ERROR:
        raise ExtractionError(
            f"block of {block} bits (FFT length {length}) has round-off bound {worst:.3g} >= "
            f"{MAX_ERROR}; choose a smaller block"
        )
    return block, lag, length


def dodis_extract(
    x: PackedBits,
    y: PackedBits,
    m: int,
    *,
    block_bits: int | None = None,
    progress: Progress | None = None,
) -> DodisResult:
    """Ext(x, y) of length m, exact for every input (see module docs for the method).

    Raises
    ------
    ExtractionError
        On unequal input lengths, m outside 1..N, or a transform whose residual exceeds its
        proven round-off bound.
    """
    _check_inputs(x, y, m)
    n = len(x)
    block, lag, length = _plan(n, m, block_bits)
    out = np.zeros(m, dtype=np.uint8)
    steps = -(-n // block) * -(-m // lag)
    done = 0
    worst_bound = 0.0
    worst_residual = 0.0
    for s in range(0, n, block):
        xb = x.unpack(s, s + block)
        wx = int(np.count_nonzero(xb))
        if wx == 0:
            done += -(-m // lag)
            continue
        fx = np.conj(np.fft.rfft(xb.astype(np.float64), length))
        for j0 in range(0, m, lag):
            jl = min(lag, m - j0)
            yw = y.unpack(s + j0, s + xb.size + j0 + jl - 1)
            wy = int(np.count_nonzero(yw))
            if wy:
                corr = np.fft.irfft(fx * np.fft.rfft(yw.astype(np.float64), length), length)[:jl]
                rounded = np.rint(corr)
                residual = float(np.max(np.abs(corr - rounded)))
                bound = fft_error_bound(length, wx, wy)
                if residual > bound or bound >= MAX_ERROR:
                    raise ExtractionError(
                        f"FFT residual {residual:.3g} exceeds the round-off bound {bound:.3g} "
                        f"(block at bit {s}, lags {j0}..{j0 + jl - 1}): refusing an inexact result"
                    )
                worst_bound = max(worst_bound, bound)
                worst_residual = max(worst_residual, residual)
                out[j0 : j0 + jl] ^= (rounded.astype(np.int64) & 1).astype(np.uint8)
            done += 1
            if progress is not None:
                progress(done, steps)
    return DodisResult(PackedBits.from_bits(out), block, lag, length, worst_bound, worst_residual)


def verify_output(
    x: PackedBits, y: PackedBits, output: PackedBits, positions: Sequence[int]
) -> tuple[int, ...]:
    """Recompute output bits at ``positions`` from the definition; raise on any mismatch."""
    _check_inputs(x, y, len(output))
    xw, yw = _words(x, 0), _words(y, 1)
    checked = []
    for j in positions:
        if not 0 <= j < len(output):
            raise ExtractionError(
                f"self-check position {j} is outside the output (m = {len(output)})"
            )
        expected = int(shifted_and_parity(xw, yw, int(j)))
        found = int(output.unpack(j, j + 1)[0])
        if expected != found:
            raise ExtractionError(
                f"self-check failed at output bit {j}: direct definition gives {expected}, "
                f"extractor gave {found}",
                position=int(j),
            )
        checked.append(int(j))
    return tuple(checked)
