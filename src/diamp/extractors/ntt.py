"""Exact parities of 0/1 correlations by a number-theoretic transform: no floating point.

Computes the same thing as :func:`diamp.extractors.correlate.correlate_parity`,

    c_j = Σ_{t=0}^{n−1} x_t · y_{t+j}  mod 2,   j = 0 … m−1

(y read as zero past its end; bits MSB-first in the sources and in the packed output),
with the same blockwise cut (x-blocks of B bits, lag chunks of J, transform length
L >= B + J − 1, cross-spectra of several blocks summed before one inverse), but over the
prime field F_P, P = 3·2^30 + 1, instead of the complex numbers.

Why this is exact
-----------------
The transform over F_P is a ring isomorphism onto pointwise products, so the inverse of the
summed cross-spectra is the cyclic correlation *modulo P*, computed without any rounding.
Each block's x-part is stored mirrored, which turns the correlation into a convolution
whose entries B − 1 + j (j < J) are c_j restricted to the block; L >= B + J − 1 keeps the
wrapped-around terms away from those entries. The true value of each summed entry is an
integer in [0, S] where S is the sum over the summed blocks of min(ones in the x-block,
ones in the y-window) (each term is a product of two 0/1 values). Blocks are summed only
while S <= P − 1, so the residue in [0, P) *is* the integer and its lowest bit is the
parity. Since P > 2^31, a whole correlation of up to 2^31 terms fits in one sum; longer
inputs simply take several sums, whose parities are XORed. As a guard against broken
arithmetic (not a rounding model: there is no rounding), every output value is compared
with S and the computation stops if one exceeds it.

Why this prime
--------------
P = 3·2^30 + 1 is prime, has 2-adicity 30 (transforms of every power-of-two length up to
2^30) and primitive root 5. It exceeds 2^31, the largest N the engine is specified for, yet
fits in 32 bits: data are stored as ``uint32`` (4 bytes per point, a quarter of a complex
spectrum point), and every product of two elements (< P² < 2^64) fits in a native 64-bit
integer, so numba multiplies with Montgomery reduction (R = 2^32, signed variant) and needs
neither 128-bit arithmetic nor a second prime and CRT. A 62/63-bit prime would need
64×64→128-bit products (emulated in numba with four multiplications) and twice the memory,
for a dynamic range the blockwise sums never use.

Speed: one forward transform is decimation in frequency, the inverse decimation in time, so
no bit-reversal pass; large strides run one stage per pass over memory, the last stages run
section by section inside the cache. Each pass is split over ``threads`` threads (the
kernels release the GIL), so a single large block also uses every core.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from typing import Any

import numpy as np

from diamp.errors import ExtractionError
from diamp.extractors._native import load
from diamp.extractors._ntt_field import GENERATOR, R_MOD_P, P
from diamp.extractors.bits import BitSource, PackedBits, window
from diamp.extractors.blocks import (
    CorrelationPlan,
    CorrelationResult,
    PartialResult,
    _zeroed,
)
from diamp.progress import Progress

__all__ = [
    "DEFAULT_MAX_NTT_LENGTH",
    "MAX_NTT_LENGTH",
    "PRIME",
    "correlate_parity_exact",
    "exact_partial",
    "max_ntt_for_memory",
    "plan_exact",
]

k = load("diamp.extractors._ntt_kernels")
PRIME = P
SUM_LIMIT = PRIME - 1  # the largest value a summed entry may reach (its residue is itself)
MAX_NTT_LENGTH = 2**30  # the 2-adicity of P
DEFAULT_MAX_NTT_LENGTH = 2**27
MIN_NTT_LENGTH = 16
BYTES_PER_POINT = 16  # x, y, accumulator and twiddle table, uint32 each
SECTION = 2**14  # elements per in-cache section (64 KiB of data)
PARALLEL_MIN = 2**15  # below this, one thread does a whole pass
_BLOCK_OVERHEAD = 2**17  # per-block fixed cost in the work model, in L·log2(L) units


def _pow2_at_least(value: int) -> int:
    return 1 << max(0, (value - 1).bit_length())


def max_ntt_for_memory(max_memory: int) -> int:
    """Largest power-of-two transform length whose buffers fit in ``max_memory`` bytes."""
    budget = max_memory // BYTES_PER_POINT
    if budget < MIN_NTT_LENGTH:
        raise ExtractionError(f"a memory budget of {max_memory} bytes is too small")
    return min(MAX_NTT_LENGTH, 1 << (budget.bit_length() - 1))


def _cheapest(n: int, m: int, max_length: int) -> tuple[int, int]:
    """(block, lag chunk) minimising the modelled work over power-of-two lengths.

    A chunk of lags costs two forward transforms per x-block and one inverse; per length
    the lag chunk is min(m, L/2), the block fills the rest of the transform.
    """
    best: tuple[float, int, int] | None = None
    length = MIN_NTT_LENGTH
    while length <= max_length:
        lag = min(m, length // 2)
        block = min(n, length - lag + 1)
        blocks, chunks = -(-n // block), -(-m // lag)
        unit = length * math.log2(length)
        work = chunks * ((2 * blocks + 1) * unit + blocks * _BLOCK_OVERHEAD)
        if best is None or work < best[0] * 0.97:
            best = (work, block, lag)
        if block == n and lag == m:
            break
        length *= 2
    if best is None:
        raise ExtractionError(f"max_length must be >= {MIN_NTT_LENGTH}, found {max_length}")
    return best[1], best[2]


def plan_exact(
    n: int,
    m: int,
    *,
    block_bits: int | None = None,
    lag_bits: int | None = None,
    max_length: int = DEFAULT_MAX_NTT_LENGTH,
) -> CorrelationPlan:
    """Block, lag chunk and transform length (``fft_length``) for n input bits, m outputs.

    By default both come from a work model (:func:`_cheapest`); an explicit ``block_bits``
    makes the lag chunk ``lag_bits`` or ``min(m, block_bits)`` rounded up to whole bytes.
    """
    if n < 1 or m < 1:
        raise ExtractionError(f"need n >= 1 input bits and m >= 1 output bits, found {n}, {m}")
    if not MIN_NTT_LENGTH <= max_length <= MAX_NTT_LENGTH:
        raise ExtractionError(
            f"max_length must be in [{MIN_NTT_LENGTH}, {MAX_NTT_LENGTH}], found {max_length}"
        )
    if lag_bits is not None and (lag_bits < 1 or (lag_bits % 8 and lag_bits < m)):
        raise ExtractionError(f"lag_bits must be a multiple of 8 (or >= m), found {lag_bits}")
    if block_bits is None and lag_bits is None:
        block, lag = _cheapest(n, m, max_length)
    else:
        if lag_bits is not None:
            lag = min(m, lag_bits)
        else:
            lag = min(m, -(-max(1, block_bits or 1) // 8) * 8)
        block = min(n, block_bits) if block_bits is not None else min(n, max_length - lag + 1)
        if block < 1:
            raise ExtractionError(f"block_bits must be >= 1, found {block_bits}")
    length = max(MIN_NTT_LENGTH, _pow2_at_least(block + lag - 1))
    if length > max_length:
        raise ExtractionError(
            f"block of {block} bits and lag chunk of {lag} need a transform of length "
            f"{length} > {max_length}; choose smaller blocks"
        )
    return CorrelationPlan(n=n, m=m, block_bits=block, lag_bits=lag, fft_length=length)


@lru_cache(maxsize=2)
def _twiddles(length: int, threads: int) -> np.ndarray:
    """The read-only twiddle table of a length-``length`` transform (see ``_ntt_kernels``)."""
    table = _zeroed(length, np.uint32)
    top = length // 2
    omega = pow(GENERATOR, (PRIME - 1) // length, PRIME)  # a primitive length-th root
    step = omega * R_MOD_P % PRIME
    with _Pool(threads) as pool:

        def fill(lo: int, hi: int) -> None:
            first = pow(omega, lo, PRIME) * R_MOD_P % PRIME
            k.fill_top(table, top, lo, hi, np.uint64(first), np.uint64(step))

        pool.run(fill, top)
        h = top // 2
        while h >= 1:
            pool.run(k.fill_stage, h, table, top, h)
            h //= 2
    table.flags.writeable = False
    return table


class _Pool:
    """Splits an index range over threads and waits for all of them (kernels drop the GIL)."""

    def __init__(self, threads: int) -> None:
        self.threads = max(1, threads)
        self._executor = ThreadPoolExecutor(self.threads - 1) if self.threads > 1 else None

    def __enter__(self) -> _Pool:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._executor is not None:
            self._executor.shutdown()

    def run(self, fn: Callable[..., Any], total: int, *args: Any, unit: int = 1) -> None:
        """``fn(*args, lo, hi)`` over a partition of ``range(total)`` into [lo, hi).

        Each index stands for ``unit`` elements (a section of a transform for the in-cache
        stages): a range of fewer than ``PARALLEL_MIN`` elements runs on one thread. The
        calling thread runs the last part itself.
        """
        if self._executor is None or total < 2 or total * unit < PARALLEL_MIN:
            fn(*args, 0, total)
            return
        parts = min(self.threads, total)
        edges = [total * i // parts for i in range(parts + 1)]
        futures = [
            self._executor.submit(fn, *args, edges[i], edges[i + 1]) for i in range(parts - 1)
        ]
        fn(*args, edges[parts - 1], edges[parts])
        for future in futures:
            future.result()


def _forward(a: np.ndarray, tw: np.ndarray, pool: _Pool) -> None:
    """In-place forward transform (natural order in, bit-reversed out)."""
    length = a.size
    size = min(length, SECTION)
    h = length // 2
    while h >= 2 * size:  # two stages per pass over memory
        pool.run(k.dif_stage2, length // 4, a, tw, h)
        h //= 4
    if h >= size:
        pool.run(k.dif_stage, length // 2, a, tw, h)
    pool.run(k.dif_tail, length // size, a, tw, size, size // 2, unit=size)


def _inverse(a: np.ndarray, tw: np.ndarray, pool: _Pool) -> None:
    """In-place unscaled inverse transform (bit-reversed in, natural order out, times L)."""
    length = a.size
    size = min(length, SECTION)
    pool.run(k.dit_head, length // size, a, tw, size, size // 2, unit=size)
    h = size
    if (length // size).bit_length() % 2 == 0:  # an odd number of stages left: one alone
        pool.run(k.dit_stage, length // 2, a, tw, h)
        h *= 2
    while h < length:  # stages h and 2h per pass over memory
        pool.run(k.dit_stage2, length // 4, a, tw, 2 * h)
        h *= 4


class _Workspace:
    """Transform buffers of one extraction: x-block, y-window and the summed spectra."""

    def __init__(self, length: int, threads: int) -> None:
        self.length = length
        self.tw = _twiddles(length, threads)
        self.x = _zeroed(length, np.uint32)
        self.y = _zeroed(length, np.uint32)
        self.acc = _zeroed(length, np.uint32)


def exact_partial(
    x: BitSource,
    y: BitSource,
    plan: CorrelationPlan,
    chunk: int,
    blocks: Sequence[int],
    progress: Callable[[int], None] | None = None,
    threads: int = 1,
) -> PartialResult:
    """Parities contributed by x-blocks ``blocks`` to lag chunk ``chunk``, exactly.

    XORing the results over all blocks gives the chunk's output bits (packed MSB-first).
    ``error_bound`` and ``max_residual`` of the result are 0: nothing is rounded.
    """
    with _Pool(threads) as pool:
        ws = _Workspace(plan.fft_length, threads)
        return _partial(x, y, plan, chunk, blocks, progress, pool, ws)


def _partial(
    x: BitSource,
    y: BitSource,
    plan: CorrelationPlan,
    chunk: int,
    blocks: Sequence[int],
    progress: Callable[[int], None] | None,
    pool: _Pool,
    ws: _Workspace,
) -> PartialResult:
    n, length, span = plan.n, plan.fft_length, plan.block_bits
    j0 = chunk * plan.lag_bits
    jl = min(plan.lag_bits, plan.m - j0)
    out = np.zeros((jl + 7) // 8, dtype=np.uint8)
    scratch = np.empty_like(out)
    # acc holds (Σ c)·L·R^{-1} after the inverse; this Montgomery factor multiplies by R/L
    factor = np.uint64(R_MOD_P * R_MOD_P % PRIME * pow(length, -1, PRIME) % PRIME)
    ceiling = flushes = 0  # ceiling: the largest value any summed entry can have

    def flush() -> None:
        nonlocal ceiling, flushes
        if ceiling == 0:
            return
        _inverse(ws.acc, ws.tw, pool)
        largest = k.scaled_parities(ws.acc, span - 1, jl, factor, np.uint64(ceiling), scratch)
        if largest < 0:
            raise ExtractionError(
                f"exact correlation at lag {j0 - 1 - largest} exceeds its a-priori maximum "
                f"{ceiling}: the modular arithmetic is broken; refusing the result"
            )
        np.bitwise_xor(out, scratch, out=out)
        ws.acc.fill(0)
        ceiling, flushes = 0, flushes + 1

    ws.acc.fill(0)
    for b in blocks:
        s = b * span
        bl = min(span, n - s)
        ylen = min(bl + jl - 1, y.nbits - s - j0)
        if ylen > 0:
            xb, xoff, wa = window(x, s, bl)
            yb, yoff, wb = window(y, s + j0, ylen)
            if wa and wb:
                if ceiling + min(wa, wb) > SUM_LIMIT:
                    flush()
                pool.run(k.unpack_bits, length, xb, xoff, bl, span, True, ws.x)
                _forward(ws.x, ws.tw, pool)
                pool.run(k.unpack_bits, length, yb, yoff, ylen, 0, False, ws.y)
                _forward(ws.y, ws.tw, pool)
                pool.run(k.multiply_accumulate, length, ws.x, ws.y, ws.acc)
                ceiling += min(wa, wb)
        if progress is not None:
            progress(1)
    flush()
    return PartialResult(chunk, out, 0.0, 0.0, flushes)


def correlate_parity_exact(
    x: BitSource,
    y: BitSource,
    m: int,
    *,
    block_bits: int | None = None,
    lag_bits: int | None = None,
    max_length: int = DEFAULT_MAX_NTT_LENGTH,
    max_memory: int = 5 * 2**30,
    threads: int | None = None,
    progress: Progress | None = None,
) -> CorrelationResult:
    """Parities c_j = Σ_t x_t·y_{t+j} mod 2 for j < m, exact by construction (module docs).

    ``threads`` (default: one per core) split every pass of every transform; the transform
    length is capped so that its buffers fit in ``max_memory`` bytes. ``progress`` is called
    with (blocks done, blocks total) over all lag chunks. The result's ``fft_length`` is the
    transform length, its round-off fields are 0 and ``exactness`` is ``"exact"``.

    Raises
    ------
    ExtractionError
        On invalid lengths or (never expected) a value above its a-priori maximum.
    """
    threads = max(1, threads if threads is not None else os.cpu_count() or 1)
    cap = min(max_length, max_ntt_for_memory(max_memory))
    plan = plan_exact(x.nbits, m, block_bits=block_bits, lag_bits=lag_bits, max_length=cap)
    total, done = plan.n_blocks * plan.n_chunks, 0

    def tick(count: int) -> None:
        nonlocal done
        done += count
        if progress is not None:
            progress(done, total)

    output = np.zeros((m + 7) // 8, dtype=np.uint8)
    with _Pool(threads) as pool:
        ws = _Workspace(plan.fft_length, threads)
        for chunk in range(plan.n_chunks):
            part = _partial(x, y, plan, chunk, range(plan.n_blocks), tick, pool, ws)
            start = chunk * plan.lag_bits // 8  # lag_bits is a multiple of 8 or equals m
            region = output[start : start + part.bits.size]
            np.bitwise_xor(region, part.bits, out=region)
    return CorrelationResult(
        output=PackedBits(output, m),
        block_bits=plan.block_bits,
        lag_bits=plan.lag_bits,
        fft_length=plan.fft_length,
        error_bound=0.0,
        max_residual=0.0,
        exactness="exact",
    )
