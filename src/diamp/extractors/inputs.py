"""The two extractors' inputs, checked, as the correlation both engines compute (no kernels).

Both extractors are correlations c_j = Σ_t x_t·y_{t+j} mod 2 (bits MSB-first):

* Dodis: x = the first input, y = the second (DESIGN; for DIRA x = AB, y = Z);
* Toeplitz: x = the raw string reversed (:class:`ReversedBits`), y = the seed (DESIGN:
  out_i = Σ_j s_{i−j+n−1}·r_j, substituting k = n − 1 − j).

Kept apart from :mod:`diamp.extractors.dodis` and :mod:`diamp.extractors.toeplitz`, which
run the FFT engine, so that checking inputs never loads an engine's kernels.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from diamp.errors import ExtractionError
from diamp.extractors.bits import BitSource, read_padded

__all__ = [
    "ExtractorKind",
    "ReversedBits",
    "check_dodis_inputs",
    "check_toeplitz_inputs",
    "correlation_inputs",
]

ExtractorKind = Literal["dodis", "toeplitz"]


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


def check_dodis_inputs(x: BitSource, y: BitSource, m: int) -> None:
    """Raise :class:`ExtractionError` unless x and y have equal length N and 1 <= m <= N."""
    if x.nbits != y.nbits:
        raise ExtractionError(
            f"Dodis inputs must have equal length, found {x.nbits} and {y.nbits} bits"
        )
    if not 1 <= m <= x.nbits:
        raise ExtractionError(f"output length m must satisfy 1 <= m <= N = {x.nbits}, found {m}")


def check_toeplitz_inputs(raw: BitSource, seed: BitSource, m: int) -> None:
    """Raise :class:`ExtractionError` unless n >= 1, m >= 1 and the seed has n + m − 1 bits."""
    if raw.nbits < 1 or m < 1:
        raise ExtractionError(f"Toeplitz needs n >= 1 raw bits and m >= 1, found {raw.nbits}, {m}")
    if seed.nbits != raw.nbits + m - 1:
        raise ExtractionError(
            f"Toeplitz seed must hold n + m - 1 = {raw.nbits + m - 1} bits "
            f"(n = {raw.nbits}, m = {m}), found {seed.nbits}"
        )


def correlation_inputs(
    kind: ExtractorKind, x: BitSource, y: BitSource, m: int
) -> tuple[BitSource, BitSource, str]:
    """Validated inputs of the correlation that computes ``kind``, and a progress label."""
    if kind == "dodis":
        check_dodis_inputs(x, y, m)
        return x, y, f"Dodis extraction (N = {x.nbits:,}, m = {m:,})"
    if kind == "toeplitz":
        check_toeplitz_inputs(x, y, m)
        return ReversedBits(x), y, f"Toeplitz (n = {x.nbits:,}, m = {m:,})"
    raise ExtractionError(f"unknown extractor {kind!r}: expected 'dodis' or 'toeplitz'")
