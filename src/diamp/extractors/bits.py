"""Bit strings: packed MSB-first storage with an explicit bit count.

In memory diamp holds bits either unpacked (``uint8`` 0/1) or packed MSB-first
(``numpy.packbits`` default: bit 0 of the string is the most significant bit of byte 0).
:class:`PackedBits` carries the bit count beside the bytes; bits past it must be zero.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from diamp.errors import ExtractionError

__all__ = ["BitSource", "PackedBits", "read_padded", "window"]


@runtime_checkable
class BitSource(Protocol):
    """A bit string that can be read in byte ranges without loading it whole.

    Implementations: :class:`PackedBits` (in memory), packed files and HDF5 datasets
    (:mod:`diamp.daq.bitfiles`), the AB string of a trial store (:mod:`diamp.daq.store`). Bytes hold
    bits MSB-first; bits past ``nbits`` read as zero. Sources that cross process boundaries
    (Dask) pickle as a description (path, dataset), not as data.
    """

    @property
    def nbits(self) -> int:
        """Number of bits in the string."""
        ...

    def read_bytes(self, start: int, stop: int) -> np.ndarray:
        """Packed bytes ``[start, stop)`` (clipped to ``ceil(nbits / 8)``), ``uint8``."""
        ...


def read_padded(source: BitSource, start: int, stop: int) -> np.ndarray:
    """Bytes ``[start, stop)`` of ``source``, zero beyond its end (and before 0)."""
    out = np.zeros(max(stop - start, 0), dtype=np.uint8)
    size = (source.nbits + 7) // 8
    lo, hi = max(start, 0), min(stop, size)
    if hi > lo:
        data = source.read_bytes(lo, hi)
        if data.size != hi - lo:
            raise ExtractionError(
                f"bit source returned {data.size} bytes for range [{lo}, {hi}), expected {hi - lo}"
            )
        out[lo - start : hi - start] = data
    return out


@dataclass(frozen=True, eq=False)
class PackedBits:
    """``nbits`` bits packed MSB-first into ``data`` (``uint8``, ``ceil(nbits / 8)`` bytes)."""

    data: np.ndarray
    nbits: int

    def __post_init__(self) -> None:
        if self.data.dtype != np.uint8 or self.data.ndim != 1:
            raise ExtractionError(
                f"packed bits must be 1-d uint8, found {self.data.dtype} {self.data.shape}"
            )
        if self.nbits < 0 or self.data.size != (self.nbits + 7) // 8:
            raise ExtractionError(
                f"packed bits: {self.nbits} bits need {(self.nbits + 7) // 8} bytes, "
                f"found {self.data.size}"
            )
        spare = 8 * self.data.size - self.nbits
        if spare and int(self.data[-1]) & ((1 << spare) - 1):
            raise ExtractionError(
                f"packed bits: the {spare} padding bits after bit {self.nbits} are not zero"
            )

    @classmethod
    def from_bits(cls, bits: np.ndarray) -> PackedBits:
        """Pack an unpacked 0/1 array."""
        arr = np.asarray(bits, dtype=np.uint8)
        if arr.size and int(arr.max()) > 1:
            raise ExtractionError("unpacked bits must be 0 or 1")
        return cls(np.packbits(arr), arr.size)

    def __len__(self) -> int:
        return self.nbits

    def read_bytes(self, start: int, stop: int) -> np.ndarray:
        """Packed bytes ``[start, stop)`` clipped to the string."""
        return self.data[max(start, 0) : min(stop, self.data.size)]

    def unpack(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Bits ``[start, stop)`` as ``uint8`` 0/1 (clipped to the string)."""
        stop = self.nbits if stop is None else min(stop, self.nbits)
        start = max(0, start)
        if stop <= start:
            return np.zeros(0, dtype=np.uint8)
        first, last = start // 8, (stop + 7) // 8
        bits = np.unpackbits(self.data[first:last])
        offset = start - 8 * first
        return bits[offset : offset + (stop - start)]

    def sha256(self) -> str:
        """SHA-256 of the packed bytes."""
        return hashlib.sha256(np.ascontiguousarray(self.data).data).hexdigest()

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, PackedBits)
            and self.nbits == other.nbits
            and bool(np.array_equal(self.data, other.data))
        )

    __hash__ = None  # type: ignore[assignment]


def _bit_kernels() -> Any:
    from diamp.extractors._native import load

    return load("diamp.extractors._bit_kernels")


def window(source: BitSource, start_bit: int, count: int) -> tuple[np.ndarray, int, int]:
    """Packed bytes covering bits [start_bit, start_bit + count), the offset, and the ones."""
    packed = read_padded(source, start_bit // 8, (start_bit + count + 7) // 8)
    return packed, start_bit % 8, int(_bit_kernels().count_bits(packed, start_bit % 8, count))
