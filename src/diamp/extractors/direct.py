"""Correlation bits straight from the definition, with no floating point at all.

c_j = Σ_t x_t·y_{t+j} mod 2 is the parity of a bit-packed AND of x with y shifted by j; the
parity of a popcount is the parity of the XOR of the words, so each bit costs one streamed
pass over both inputs. This is the independent check behind every extraction's self-check.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from diamp.errors import ExtractionError
from diamp.extractors._native import load
from diamp.extractors.bits import BitSource, PackedBits, read_padded

__all__ = ["check_output", "correlation_bits_direct"]

_bits = load("diamp.extractors._bit_kernels")


def _words(packed: np.ndarray) -> np.ndarray:
    """Native uint64 words of MSB-first bytes (zero-padded to whole words)."""
    buf = np.zeros(8 * -(-packed.size // 8), dtype=np.uint8)
    buf[: packed.size] = packed
    return buf.view(">u8").astype(np.uint64)


def correlation_bits_direct(
    x: BitSource, y: BitSource, positions: Sequence[int], chunk_words: int = 2**17
) -> list[int]:
    """c_j at ``positions`` from the definition (bit-packed AND and parity, O(n) each).

    Streams both inputs in chunks of ``chunk_words`` 64-bit words; independent of the FFT.
    Positions whose word offsets lie within ``chunk_words`` of each other share one read
    of y (each takes its own slice of it, the same words a read of its own would give).
    """
    n = x.nbits
    for j in positions:
        if j < 0:
            raise ExtractionError(f"output bit index must be >= 0, found {j}")
    nwords = -(-n // 64)
    parities = [0] * len(positions)
    order = sorted(range(len(positions)), key=lambda i: int(positions[i]))
    for w0 in range(0, nwords, chunk_words):
        w1 = min(w0 + chunk_words, nwords)
        xw = _words(read_padded(x, 8 * w0, 8 * w1))
        first = 0
        while first < len(order):
            base = int(positions[order[first]]) // 64  # the smallest word offset of a group
            stop = first
            while stop < len(order) and int(positions[order[stop]]) // 64 < base + chunk_words:
                stop += 1
            top = int(positions[order[stop - 1]]) // 64
            yw = _words(read_padded(y, 8 * (w0 + base), 8 * (w1 + top + 1)))
            for i in order[first:stop]:
                q, r = divmod(int(positions[i]), 64)
                window = yw[q - base : q - base + w1 - w0 + 1]
                parities[i] ^= int(_bits.shifted_and_parity(xw, window, r))
            first = stop
    return parities


def check_output(
    x: BitSource, y: BitSource, output: PackedBits, positions: Sequence[int]
) -> tuple[int, ...]:
    """Recompute output bits at ``positions`` from the definition; raise on any mismatch."""
    for j in positions:
        if not 0 <= j < len(output):
            raise ExtractionError(
                f"self-check position {j} is outside the output (m = {len(output)})"
            )
    expected = correlation_bits_direct(x, y, positions)
    for j, want in zip(positions, expected, strict=True):
        found = int(output.unpack(j, j + 1)[0])
        if want != found:
            raise ExtractionError(
                f"self-check failed at output bit {j}: direct definition gives {want}, "
                f"extractor gave {found}",
                position=int(j),
            )
    return tuple(int(j) for j in positions)
