"""Combining and debiasing: XOR of equal-length sources, von Neumann debiasing.

* XOR (seed 000 eq. 1): out_t = s1_t ⊕ s2_t ⊕ … ⊕ sk_t; uniform if any one input is uniform
  and independent of the others.
* Von Neumann (DESIGN): pairs (r_2k, r_2k+1); 10 → 1, 01 → 0, 00 and 11 dropped. A trailing
  odd bit is dropped.

Bits are MSB-first; both work on streams (bit sources in, chunks out).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from diamp.errors import ExtractionError
from diamp.extractors.bits import BitSource, PackedBits

__all__ = ["XorBits", "von_neumann", "von_neumann_chunks", "xor_bits"]


class XorBits:
    """The bitwise XOR of equal-length bit sources, itself a (lazy) bit source."""

    def __init__(self, sources: Sequence[BitSource]) -> None:
        if len(sources) < 2:
            raise ExtractionError(f"XOR needs at least 2 sources, found {len(sources)}")
        lengths = {s.nbits for s in sources}
        if len(lengths) != 1:
            raise ExtractionError(
                "XOR sources must have equal length, found "
                + ", ".join(str(s.nbits) for s in sources)
            )
        self.sources = list(sources)
        self._nbits = lengths.pop()

    @property
    def nbits(self) -> int:
        """Number of bits."""
        return self._nbits

    def read_bytes(self, start: int, stop: int) -> np.ndarray:
        """Packed bytes ``[start, stop)`` of the XOR."""
        out = np.array(self.sources[0].read_bytes(start, stop), dtype=np.uint8, copy=True)
        for source in self.sources[1:]:
            np.bitwise_xor(out, source.read_bytes(start, stop), out=out)
        return out


def xor_bits(sources: Sequence[BitSource]) -> PackedBits:
    """The XOR of equal-length sources, in memory."""
    combined = XorBits(sources)
    return PackedBits(combined.read_bytes(0, (combined.nbits + 7) // 8), combined.nbits)


def von_neumann_chunks(source: BitSource, chunk_bytes: int = 2**22) -> Iterator[np.ndarray]:
    """Von Neumann output of ``source`` as unpacked ``uint8`` chunks, in order."""
    size = (source.nbits + 7) // 8
    for start in range(0, size, chunk_bytes):
        stop = min(start + chunk_bytes, size)
        bits = np.unpackbits(source.read_bytes(start, stop))[: source.nbits - 8 * start]
        pairs = bits[: bits.size - bits.size % 2].reshape(-1, 2)
        yield pairs[pairs[:, 0] != pairs[:, 1], 0]


def von_neumann(source: BitSource) -> PackedBits:
    """Von Neumann debiasing of ``source``, in memory."""
    chunks = list(von_neumann_chunks(source))
    bits = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.uint8)
    return PackedBits.from_bits(bits)
