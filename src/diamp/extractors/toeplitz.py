"""Toeplitz hashing, the seeded extractor of the single-source pipeline (seed 000).

Definition (DESIGN): raw r of n bits, seed s of n + m − 1 bits,

    out_i = Σ_{j=0}^{n−1} s_{i−j+n−1} · r_j  mod 2,   i = 0 … m−1.

Substituting k = n − 1 − j gives out_i = Σ_k r_{n−1−k} · s_{k+i}: the correlation of the
reversed raw string with the seed, computed by the exact blockwise-FFT engine of
:mod:`diamp.extractors.correlate`. Bits are MSB-first; inputs are bit sources, streamed.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from diamp.errors import ExtractionError
from diamp.extractors.bits import BitSource, PackedBits, read_padded
from diamp.extractors.correlate import (
    DEFAULT_MAX_MEMORY,
    CorrelationResult,
    correlate_parity,
)
from diamp.extractors.direct import check_output, correlation_bits_direct
from diamp.progress import Progress

__all__ = [
    "ReversedBits",
    "check_toeplitz_inputs",
    "toeplitz_bits_direct",
    "toeplitz_extract",
    "verify_toeplitz",
]


class ReversedBits:
    """The bits of ``source`` in reverse order (bit i is source bit n − 1 − i)."""

    def __init__(self, source: BitSource) -> None:
        self.source = source

    @property
    def nbits(self) -> int:
        """Number of bits (that of the source)."""
        return self.source.nbits

    def read_bytes(self, start: int, stop: int) -> np.ndarray:
        """Packed bytes ``[start, stop)`` of the reversed string."""
        n = self.nbits
        start, stop = max(start, 0), min(stop, (n + 7) // 8)
        if stop <= start:
            return np.zeros(0, dtype=np.uint8)
        lo, hi = n - 8 * stop, n - 8 * start  # source bits [lo, hi), lo may be negative
        first = lo // 8
        bits = np.unpackbits(read_padded(self.source, first, -(-hi // 8)))
        segment = bits[lo - 8 * first : hi - 8 * first]
        return np.packbits(segment[::-1])


def check_toeplitz_inputs(raw: BitSource, seed: BitSource, m: int) -> None:
    """Raise :class:`ExtractionError` unless n >= 1, m >= 1 and the seed has n + m − 1 bits."""
    if raw.nbits < 1 or m < 1:
        raise ExtractionError(f"Toeplitz needs n >= 1 raw bits and m >= 1, found {raw.nbits}, {m}")
    if seed.nbits != raw.nbits + m - 1:
        raise ExtractionError(
            f"Toeplitz seed must hold n + m - 1 = {raw.nbits + m - 1} bits "
            f"(n = {raw.nbits}, m = {m}), found {seed.nbits}"
        )


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
