"""Toeplitz hashing, the seeded extractor of the single-source pipeline (seed 000).

Definition (DESIGN): raw r of n bits, seed s of n + m − 1 bits,

    out_i = Σ_{j=0}^{n−1} s_{i−j+n−1} · r_j  mod 2,   i = 0 … m−1.

Substituting k = n − 1 − j gives out_i = Σ_k r_{n−1−k} · s_{k+i}: the correlation of the
reversed raw string with the seed, computed by the exact blockwise-FFT engine of
:mod:`diamp.extractors.correlate`. Bits are MSB-first; inputs are bit sources, streamed.
"""

from __future__ import annotations

from collections.abc import Sequence

from diamp.errors import ExtractionError
from diamp.extractors.bits import BitSource, PackedBits
from diamp.extractors.correlate import (
    DEFAULT_MAX_MEMORY,
    CorrelationResult,
    correlate_parity,
)
from diamp.extractors.direct import check_output, correlation_bits_direct
from diamp.extractors.inputs import ReversedBits, check_toeplitz_inputs
from diamp.progress import Progress

__all__ = [
    "ReversedBits",
    "check_toeplitz_inputs",
    "toeplitz_bits_direct",
    "toeplitz_extract",
    "verify_toeplitz",
]


def toeplitz_extract(
    raw: BitSource,
    seed: BitSource,
    m: int,
    *,
    threads: int | None = None,
    max_memory: int = DEFAULT_MAX_MEMORY,
    progress: Progress | None = None,
) -> CorrelationResult:
    """Toeplitz hash of ``raw`` with ``seed`` (n + m − 1 bits), m output bits, exact."""
    check_toeplitz_inputs(raw, seed, m)
    return correlate_parity(
        ReversedBits(raw), seed, m, threads=threads, max_memory=max_memory, progress=progress
    )


def toeplitz_bits_direct(raw: BitSource, seed: BitSource, positions: Sequence[int]) -> list[int]:
    """Output bits at ``positions`` from the definition (bit-packed, O(n) each)."""
    for i in positions:
        if not 0 <= i <= seed.nbits - raw.nbits:
            raise ExtractionError(f"output bit index {i} is outside the output")
    return correlation_bits_direct(ReversedBits(raw), seed, positions)


def verify_toeplitz(
    raw: BitSource, seed: BitSource, output: PackedBits, positions: Sequence[int]
) -> tuple[int, ...]:
    """Recompute output bits at ``positions`` from the definition; raise on any mismatch."""
    check_toeplitz_inputs(raw, seed, len(output))
    return check_output(ReversedBits(raw), seed, output, positions)
