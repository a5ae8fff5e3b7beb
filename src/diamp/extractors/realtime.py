"""Toeplitz hashing with a fixed seed, many blocks per call: the service pipeline's engine.

The definition is that of :mod:`diamp.extractors.toeplitz` (DESIGN): raw r of n bits, seed
s of n + m − 1 bits, out_i = Σ_j s_{i−j+n−1}·r_j mod 2, i.e. the correlation
c_i = Σ_t x_t·s_{t+i} of the reversed raw string x_t = r_{n−1−t} with the seed. Bits are
MSB-first.

The service hashes every raw block of a source with the same seed and the same (n, m), so
:class:`FixedSeedToeplitz` does once what the generic engine
(:func:`diamp.extractors.correlate.correlate_parity`) does per block: it transforms the seed
at one power-of-two length L ≥ n + m − 1 and keeps its half-spectrum S, and it keeps its
buffers (one set per thread and transform shape, shared by the engines). A call hashes a
whole batch of blocks: the reversed blocks are written as rows of one array, one 2-D real
FFT gives their spectra X, conj(X)·S, one 2-D inverse, and the parities of the rounded
first m values of each row are the outputs.
Since t + i ≤ n + m − 2 < L, no term wraps around.

Exactness is held to the generic engine's standard, block by block: the a-priori round-off
bound of :class:`~diamp.extractors.correlate.RoundoffBound` for the block's weight and the
seed's (one sum, one flush) must be below 1/4 and the observed distance of every value from
its nearest integer must not exceed it; otherwise the whole batch is refused. Then
``check_bits`` output bits of every block, at positions drawn at random per block, are
recomputed from the definition with bit-packed AND and parity
(:func:`diamp.extractors._bit_kernels.shifted_and_parity`, no floating point), as
:func:`diamp.extractors.checked.extract_checked` does; any mismatch refuses the batch.
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass

import numpy as np

from diamp.errors import ExtractionError
from diamp.extractors._realtime_kernels import (
    conj_times,
    direct_parities,
    fill_reversed,
    parity_rows,
)
from diamp.extractors.bits import BitSource, read_padded
from diamp.extractors.correlate import MAX_ERROR, _eps_fft, _gamma, fft_error_bound
from diamp.extractors.fft import fft_backend

__all__ = [
    "BatchExtraction",
    "FixedSeedToeplitz",
    "batch_positions",
    "block_bounds",
    "check_batch",
    "check_lengths",
    "seed_words",
    "self_check",
]

DEFAULT_BATCH_POINTS = 1 << 21  # rows × L per transform call: about 16 MiB of buffers
_REVERSE_BYTE = np.array([int(f"{v:08b}"[::-1], 2) for v in range(256)], dtype=np.uint8)


@dataclass(frozen=True)
class BatchExtraction:
    """Output of a batch of blocks, with the evidence of its exactness.

    ``output`` holds one row per block, m bits packed MSB-first; ``checked_positions`` one
    row per block of the (sorted, distinct) output positions recomputed from the definition.
    """

    output: np.ndarray
    error_bound: float
    max_residual: float
    checked_positions: np.ndarray


def batch_positions(rng: np.random.Generator, blocks: int, m: int, count: int) -> np.ndarray:
    """``count`` distinct positions of ``range(m)`` per block, sorted, shape (blocks, count)."""
    if not 0 <= count <= m:
        raise ExtractionError(f"cannot check {count} of {m} output bits")
    positions = np.sort(rng.integers(0, m, size=(blocks, count), dtype=np.int64), axis=1)
    for b in np.flatnonzero(np.any(np.diff(positions, axis=1) == 0, axis=1)):
        positions[b] = np.sort(rng.choice(m, size=count, replace=False))  # rare repeats
    return positions


def block_bounds(length: int, ones: np.ndarray, seed_ones: int) -> np.ndarray:
    """:func:`~diamp.extractors.correlate.fft_error_bound` for every block weight at once.

    One block per sum (no summation error): ((1 + ε_T)·d + ε_T·p)/√L with the product norm
    p and its error d of :class:`~diamp.extractors.correlate.RoundoffBound`.
    """
    eps, root_l = _eps_fft(length), np.sqrt(float(length))
    wa, wb = ones.astype(np.float64), float(seed_ones)
    p = np.minimum(root_l * np.sqrt(wa) * wb, wa * root_l * np.sqrt(wb))
    d = eps * root_l * (np.sqrt(wa) * wb + wa * np.sqrt(wb)) + eps**2 * length * np.sqrt(wa * wb)
    d = d + np.sqrt(2) * _gamma(2) * (p + d)
    bound: np.ndarray = ((1 + eps) * d + eps * p) / root_l
    return bound


def _words(packed: np.ndarray, words: int) -> np.ndarray:
    """Rows of MSB-first bytes as native uint64 words, zero-padded to ``words`` words."""
    buf = np.zeros((packed.shape[0], 8 * words), dtype=np.uint8)
    buf[:, : packed.shape[1]] = packed
    return np.ascontiguousarray(buf.view(">u8").astype(np.uint64))


def seed_words(packed: np.ndarray, nbits: int) -> np.ndarray:
    """The seed's MSB-first bytes as read-only uint64 words plus one zero padding word."""
    words: np.ndarray = _words(packed[None, :], -(-nbits // 64) + 1)[0]
    words.flags.writeable = False
    return words


def _reversed_words(raw: np.ndarray, n: int) -> np.ndarray:
    """Each row's n bits in reverse order, as MSB-first uint64 words."""
    if n % 8 == 0:
        reversed_bytes = _REVERSE_BYTE[raw[:, ::-1]]
    else:
        bits = np.unpackbits(raw, axis=1, count=n)[:, ::-1]
        reversed_bytes = np.packbits(bits, axis=1)
    return _words(reversed_bytes, -(-n // 64))


def check_lengths(seed: BitSource, n: int, m: int) -> None:
    """Refuse block lengths below 1 and a seed that is not n + m − 1 bits long."""
    if n < 1 or m < 1:
        raise ExtractionError(f"Toeplitz needs n >= 1 raw bits and m >= 1, found {n}, {m}")
    if seed.nbits != n + m - 1:
        raise ExtractionError(
            f"Toeplitz seed must hold n + m - 1 = {n + m - 1} bits (n = {n}, m = {m}), "
            f"found {seed.nbits}"
        )


def check_batch(packed: np.ndarray, n: int, check_bits: int) -> np.ndarray:
    """``packed`` as contiguous bytes, one row of ⌈n/8⌉ per block; refuse any other shape."""
    raw = np.ascontiguousarray(packed, dtype=np.uint8)
    if raw.ndim != 2 or raw.shape[1] != (n + 7) // 8:
        raise ExtractionError(
            f"a batch must have one row of {(n + 7) // 8} bytes per block "
            f"(n = {n} bits), found shape {raw.shape}"
        )
    if check_bits < 0:
        raise ExtractionError(f"the number of self-checked bits must be >= 0, found {check_bits}")
    return raw


def self_check(
    raw: np.ndarray,
    out: np.ndarray,
    n: int,
    m: int,
    seed: np.ndarray,
    check_bits: int,
    rng: np.random.Generator | int | None,
) -> np.ndarray:
    """Recompute ``check_bits`` random output bits of every block from the definition.

    ``raw``: blocks × ⌈n/8⌉ bytes, ``out``: blocks × ⌈m/8⌉ bytes (both MSB-first), ``seed``:
    :func:`seed_words`. Positions are drawn by ``rng`` (a generator, a seed, or None:
    seeded from :mod:`secrets`); returns them (blocks × count, sorted).

    Raises
    ------
    ExtractionError
        When a recomputed bit differs (``block`` and ``position`` name the first).
    """
    if not isinstance(rng, np.random.Generator):
        rng = np.random.default_rng(secrets.randbits(128) if rng is None else rng)
    positions = batch_positions(rng, raw.shape[0], m, min(check_bits, m))
    want = np.empty_like(positions)
    direct_parities(_reversed_words(raw, n), seed, positions, want)
    rows = np.arange(raw.shape[0])[:, None]
    got = (out[rows, positions >> 3] >> (7 - (positions & 7))) & 1
    bad = np.argwhere(got != want)
    if bad.size:
        b, k = (int(v) for v in bad[0])
        j = int(positions[b, k])
        raise ExtractionError(
            f"self-check failed at output bit {j} of block {b}: direct definition gives "
            f"{int(want[b, k])}, extractor gave {int(got[b, k])}",
            block=b,
            position=j,
        )
    return positions


class _Workspace:
    """One thread's transform buffers: ``rows`` blocks of L reals and L/2 + 1 complex."""

    def __init__(self, rows: int, length: int) -> None:
        self.real = np.zeros((rows, length), dtype=np.float64)
        self.spectrum = np.zeros((rows, length // 2 + 1), dtype=np.complex128)
        self.ones = np.zeros(rows, dtype=np.int64)


_THREAD = threading.local()  # per thread: (rows, L) -> _Workspace, shared by the engines


def _workspace(rows: int, length: int) -> _Workspace:
    spaces: dict[tuple[int, int], _Workspace] | None = getattr(_THREAD, "spaces", None)
    if spaces is None:
        spaces = _THREAD.spaces = {}
    if (rows, length) not in spaces:
        spaces[(rows, length)] = _Workspace(rows, length)
    return spaces[(rows, length)]


class FixedSeedToeplitz:
    """Toeplitz hashing of n-bit blocks to m bits with one seed (see the module docs).

    Parameters
    ----------
    seed
        The seed, exactly n + m − 1 bits (MSB-first).
    n, m
        Raw bits per block and output bits per block, both ≥ 1.
    batch_points
        Rows × L per transform call (the buffers' size); at least one row.

    Raises
    ------
    ExtractionError
        On invalid lengths, or when the round-off bound of a block of n ones would reach
        1/4 at this length (the generic engine, which splits blocks, must be used).
    """

    exactness = "fft-bound"
    """How an output's exactness is established: the round-off bound, then the self-check."""

    def __init__(
        self, seed: BitSource, n: int, m: int, *, batch_points: int = DEFAULT_BATCH_POINTS
    ) -> None:
        check_lengths(seed, n, m)
        self.n, self.m = n, m
        self.length = max(2, 1 << (n + m - 2).bit_length())  # smallest power of two >= n + m - 1
        self.rows = max(1, batch_points // self.length)
        self.fft = fft_backend()
        packed = read_padded(seed, 0, (seed.nbits + 7) // 8)
        bits = np.unpackbits(packed, count=seed.nbits)
        self.seed_ones = int(bits.sum())
        worst = fft_error_bound(self.length, n, self.seed_ones)
        if worst >= MAX_ERROR:
            raise ExtractionError(
                f"a block of {n} bits at FFT length {self.length} has round-off bound "
                f"{worst:.3g} >= {MAX_ERROR}: use the generic engine"
            )
        real = np.zeros(self.length, dtype=np.float64)
        real[: seed.nbits] = bits
        spectrum = np.empty(self.length // 2 + 1, dtype=np.complex128)
        self.fft.rfft(real, self.length, out=spectrum)
        spectrum.flags.writeable = False
        self.spectrum = spectrum
        self.seed_words = seed_words(packed, seed.nbits)

    def extract(
        self,
        packed: np.ndarray,
        *,
        check_bits: int,
        rng: np.random.Generator | int | None = None,
    ) -> BatchExtraction:
        """Hash every row of ``packed`` (blocks × ⌈n/8⌉ bytes, MSB-first) to m bits.

        ``check_bits`` output bits per block (at most m) are recomputed from the definition
        at positions drawn by ``rng`` (a generator, a seed, or None: seeded from
        :mod:`secrets`). Thread-safe: each thread uses its own buffers.

        Raises
        ------
        ExtractionError
            On a malformed batch, a residual above its round-off bound, or an output bit
            that differs from the definition (``block`` and ``position`` name it).
        """
        raw = check_batch(packed, self.n, check_bits)
        blocks = raw.shape[0]
        out = np.empty((blocks, (self.m + 7) // 8), dtype=np.uint8)
        bounds = np.zeros(blocks)
        residuals = np.zeros(blocks)
        ws = _workspace(self.rows, self.length)
        for start in range(0, blocks, self.rows):
            stop = min(start + self.rows, blocks)
            real, spectrum, ones = ws.real[: stop - start], ws.spectrum[: stop - start], ws.ones
            fill_reversed(raw[start:stop], self.n, real, ones)
            self.fft.rfft(real, self.length, axis=-1, out=spectrum)
            conj_times(spectrum, self.spectrum)
            self.fft.irfft(spectrum, self.length, axis=-1, out=real)
            parity_rows(real, self.m, out[start:stop], residuals[start:stop])
            bounds[start:stop] = block_bounds(self.length, ones[: stop - start], self.seed_ones)
        over = np.flatnonzero((residuals > bounds) | (bounds >= MAX_ERROR))
        if over.size:
            b = int(over[0])
            raise ExtractionError(
                f"FFT residual {residuals[b]:.3g} exceeds the round-off bound {bounds[b]:.3g} "
                f"(block {b}): this FFT does not meet its error model; refusing an inexact "
                "result",
                block=b,
            )
        positions = self_check(raw, out, self.n, self.m, self.seed_words, check_bits, rng)
        return BatchExtraction(out, float(bounds.max(initial=0.0)),
                               float(residuals.max(initial=0.0)), positions)  # fmt: skip
