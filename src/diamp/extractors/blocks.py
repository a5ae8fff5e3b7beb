"""The blockwise cut both correlation engines share, and what they return (no kernels).

Both engines (:mod:`diamp.extractors.correlate`, the FFT; :mod:`diamp.extractors.ntt`, the
exact transform) cut x into blocks and the lags into chunks (:class:`CorrelationPlan`),
XOR the parities contributed by groups of blocks (:class:`PartialResult`) and return
:class:`CorrelationResult`. This module holds those types and the zeroed buffers both
allocate, apart from every numba kernel, so that importing a result type, checking options
or running one engine loads only the kernels that engine calls.
"""

from __future__ import annotations

import mmap
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np

from diamp.extractors.bits import PackedBits

__all__ = [
    "DEFAULT_MAX_FFT_LENGTH",
    "DEFAULT_MAX_MEMORY",
    "ENGINES",
    "CorrelationPlan",
    "CorrelationResult",
    "Engine",
    "PartialResult",
    "with_checked",
]

DEFAULT_MAX_FFT_LENGTH = 2**26
DEFAULT_MAX_MEMORY = 5 * 2**30
WORKER_BYTES_PER_POINT = 24  # three half spectra (x, y in place, and the accumulator)
SHARED_BYTES_PER_POINT = 16  # the FFT library's own buffers and cached plans

Engine = Literal["fft", "exact"]
ENGINES: tuple[Engine, ...] = ("fft", "exact")
"""The correlation engines: ``fft`` (blockwise FFT, round-off bound) and ``exact`` (NTT)."""


@dataclass(frozen=True)
class CorrelationPlan:
    """How a correlation is cut: x-blocks of ``block_bits``, lag chunks of ``lag_bits``."""

    n: int
    m: int
    block_bits: int
    lag_bits: int
    fft_length: int

    @property
    def n_blocks(self) -> int:
        """Number of x-blocks."""
        return -(-self.n // self.block_bits)

    @property
    def n_chunks(self) -> int:
        """Number of lag chunks."""
        return -(-self.m // self.lag_bits)

    def memory_bytes(self, workers: int = 1) -> int:
        """Estimated peak working memory of ``workers`` workers in one process."""
        return (WORKER_BYTES_PER_POINT * workers + SHARED_BYTES_PER_POINT) * self.fft_length


@dataclass(frozen=True)
class PartialResult:
    """XOR-contribution of some x-blocks to one lag chunk (``bits`` packed MSB-first)."""

    chunk: int
    bits: np.ndarray
    error_bound: float
    max_residual: float
    flushes: int


def _zeroed(count: int, dtype: type[np.generic]) -> np.ndarray:
    """A zeroed array in pre-faulted anonymous memory (4 KiB pages).

    numpy asks the kernel for transparent huge pages on large arrays; when memory is
    fragmented the first write into them stalls in direct compaction (measured: 2.5 s per
    GiB, against 0.25 s for a populated mapping), which at experiment scale costs more than
    the FFTs. Falls back to ``np.zeros`` where ``MAP_POPULATE`` does not exist.
    """
    nbytes = count * np.dtype(dtype).itemsize
    populate = getattr(mmap, "MAP_POPULATE", None)
    if populate is None or nbytes < 2**24:
        return np.zeros(count, dtype=dtype)
    region = mmap.mmap(-1, nbytes, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | populate)
    return np.frombuffer(region, dtype=dtype, count=count)  # keeps the mapping alive


@dataclass(frozen=True)
class CorrelationResult:
    """Output bits with the evidence of their exactness.

    ``exactness`` says what that evidence is: ``"fft-bound"`` (this engine: every sum's
    round-off bound < 1/4 and its residual checked) or ``"exact"`` (the NTT engine of
    :mod:`diamp.extractors.ntt`, no rounding at all).
    """

    output: PackedBits
    block_bits: int
    lag_bits: int
    fft_length: int
    error_bound: float
    max_residual: float
    checked_positions: tuple[int, ...] = field(default=())
    exactness: str = "fft-bound"  # "exact" from the NTT engine (diamp.extractors.ntt)


def with_checked(result: CorrelationResult, positions: tuple[int, ...]) -> CorrelationResult:
    """``result`` recording the positions that were self-checked."""
    return replace(result, checked_positions=positions)
