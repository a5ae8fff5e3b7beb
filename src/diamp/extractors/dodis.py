"""The Dodis et al. two-source extractor (non-cyclic shifts), exact at any size.

Definition (DESIGN; seed 003 Theorem 2): for x, y ∈ {0,1}^N,

    Ext(x, y)_j = Σ_{t=0}^{N−1−j} x_t · y_{t+j}  mod 2,   j = 0 … m−1.

For DIRA, K = Ext(AB, Z): x = AB, y = Z.

Which input is strong, and why K stays uniform given Z. With (A_i)_{t,u} = 1 iff u = t + i − 1
(non-cyclic right shift by i − 1), Ext(x, y)_i = xᵀA_i y. Dodis et al. (2004, Lemma 4) need
only that every non-empty sum A_S = Σ_{i∈S} A_i has rank ≥ N − m + 1 over GF(2); the family is
then a (k₁, k₂, ε_D) extractor with ε_D = 2^(−(k₁+k₂−N−2m)/2), strong in the input that is
conditioned on. The statement is symmetric: xᵀA_S y = yᵀA_Sᵀ x, and A_Sᵀ (a sum of left
shifts) has the same rank as A_S, so the same lemma applied to the transposed family makes
Ext strong in y with the same ε_D (the bound is symmetric in k₁, k₂). DIRA uses it strong in
y = Z, the public SV bits: K is ε-close to uniform given Z (and X, Y, E), which is what lets
Z be published (privatisation, spec §4); the quantum-proof step (APS16 Thm 2, Lemma 17 in
their strong version) keeps the symmetric form, so m and ε do not depend on which input is
named X₁. ``tests/extractors/test_strong_input.py`` checks the rank condition of both
families exhaustively at small N and the exact distance of (K, Z) from (U, Z).

This is a correlation of two equal-length strings,
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
from diamp.extractors.inputs import check_dodis_inputs
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
