"""The Dodis et al. two-source extractor (non-cyclic shifts), exact at any size.

Definition (DESIGN; seed 003 Theorem 2): for x, y ∈ {0,1}^N,

    Ext(x, y)_j = Σ_{t=0}^{N−1−j} x_t · y_{t+j}  mod 2,   j = 0 … m−1.

For DIRA, K = Ext(AB, Z): x = AB, y = Z. This is a correlation of two equal-length strings,
computed by the exact blockwise-FFT engine of :mod:`diamp.extractors.correlate` (see there
for the method and the round-off proof); inputs are bit sources (bits MSB-first) that are
never loaded whole, the output is :class:`PackedBits`.
"""

from __future__ import annotations

from collections.abc import Sequence

from diamp.errors import ExtractionError
from diamp.extractors.bits import BitSource, PackedBits
from diamp.extractors.correlate import (
    DEFAULT_MAX_FFT_LENGTH,
    DEFAULT_MAX_MEMORY,
    MAX_ERROR,
    CorrelationPlan,
    CorrelationResult,
    RoundoffBound,
    correlate_parity,
    correlation_partial,
    fft_error_bound,
    max_fft_for_memory,
    plan_correlation,
    with_checked,
)
from diamp.extractors.direct import check_output, correlation_bits_direct
from diamp.progress import Progress

__all__ = [
    "DEFAULT_MAX_FFT_LENGTH",
    "MAX_ERROR",
    "DodisPlan",
    "DodisResult",
    "RoundoffBound",
    "check_dodis_inputs",
    "dodis_bit",
    "dodis_bits_direct",
    "dodis_extract",
    "dodis_partial",
    "fft_error_bound",
    "max_fft_for_memory",
    "plan_dodis",
    "verify_output",
    "with_checked",
]

DodisPlan = CorrelationPlan
DodisResult = CorrelationResult
dodis_partial = correlation_partial


def check_dodis_inputs(x: BitSource, y: BitSource, m: int) -> None:
    """Raise :class:`ExtractionError` unless x and y have equal length N and 1 <= m <= N."""
    if x.nbits != y.nbits:
        raise ExtractionError(
            f"Dodis inputs must have equal length, found {x.nbits} and {y.nbits} bits"
        )
    if not 1 <= m <= x.nbits:
        raise ExtractionError(f"output length m must satisfy 1 <= m <= N = {x.nbits}, found {m}")


def plan_dodis(
    n: int,
    m: int,
    *,
    block_bits: int | None = None,
    lag_bits: int | None = None,
    max_fft_length: int = DEFAULT_MAX_FFT_LENGTH,
) -> CorrelationPlan:
    """The blockwise plan of an N-bit, m-output extraction (see ``plan_correlation``)."""
    if not 1 <= m <= n:
        raise ExtractionError(f"output length m must satisfy 1 <= m <= N = {n}, found {m}")
    return plan_correlation(
        n, m, block_bits=block_bits, lag_bits=lag_bits, max_fft_length=max_fft_length
    )


def dodis_extract(
    x: BitSource,
    y: BitSource,
    m: int,
    *,
    block_bits: int | None = None,
    lag_bits: int | None = None,
    max_fft_length: int = DEFAULT_MAX_FFT_LENGTH,
    max_memory: int = DEFAULT_MAX_MEMORY,
    threads: int | None = None,
    progress: Progress | None = None,
) -> CorrelationResult:
    """Ext(x, y) of length m, exact for every input.

    ``threads`` workers share the x-blocks; ``max_memory`` caps their FFT workspaces;
    ``progress`` receives (blocks done, blocks total).

    Raises
    ------
    ExtractionError
        On unequal input lengths, m outside 1..N, or a sum whose residual exceeds its
        round-off bound.
    """
    check_dodis_inputs(x, y, m)
    return correlate_parity(
        x,
        y,
        m,
        block_bits=block_bits,
        lag_bits=lag_bits,
        max_fft_length=max_fft_length,
        max_memory=max_memory,
        threads=threads,
        progress=progress,
    )


def dodis_bits_direct(x: BitSource, y: BitSource, positions: Sequence[int]) -> list[int]:
    """Output bits at ``positions`` from the definition (bit-packed AND, O(N) each)."""
    check_dodis_inputs(x, y, 1)
    for j in positions:
        if not 0 <= j < x.nbits:
            raise ExtractionError(
                f"output bit index must satisfy 0 <= j < N = {x.nbits}, found {j}"
            )
    return correlation_bits_direct(x, y, positions)


def dodis_bit(x: BitSource, y: BitSource, j: int) -> int:
    """Output bit j from the definition: parity of Σ_t x_t·y_{t+j}."""
    return dodis_bits_direct(x, y, [j])[0]


def verify_output(
    x: BitSource, y: BitSource, output: PackedBits, positions: Sequence[int]
) -> tuple[int, ...]:
    """Recompute output bits at ``positions`` from the definition; raise on any mismatch."""
    check_dodis_inputs(x, y, len(output))
    return check_output(x, y, output, positions)
