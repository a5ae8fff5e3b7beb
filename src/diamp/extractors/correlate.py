"""Exact parities of 0/1 correlations by blockwise FFT: the engine behind Dodis and Toeplitz.

For bit strings x (length n) and y (any length), ``correlate_parity`` computes

    c_j = Σ_{t=0}^{n−1} x_t · y_{t+j}  mod 2,   j = 0 … m−1,

with y read as zero past its end. Inputs are :class:`~diamp.extractors.bits.BitSource`
objects read a block at a time; the output is :class:`PackedBits`, MSB-first.

Method
------
x is cut into blocks [s, s+B) and the lags into chunks [j0, j0+J). For one block and chunk the
correlation of the block with the window y[s+j0, s+j0+B+J−1) is irfft(conj(X)·Y) at a
power-of-two FFT length L ≥ B + J − 1, so no term wraps around; both real transforms run in
place. The parity of a sum is the XOR of the parities, so the cross-spectra of several
blocks are summed in the frequency domain and inverted once ("flushed"); the parities of the
rounded sums of successive flushes are XORed. Work and memory per flush are O(L log L) and
O(L), whatever n is.

Exactness
---------
Every flush carries an a-priori bound on its absolute round-off error
(:class:`RoundoffBound`, after Higham's FFT error analysis). A block joins the running sum only
while the bound stays below 1/4, so rounding each sum to the nearest integer is exact. The
observed distance of every sum from its nearest integer is also checked against the bound (a
violated bound means the model does not describe this machine's FFT: the computation stops).
Callers recompute output bits at random positions from the definition afterwards
(:func:`correlation_bits_direct`), independently of the FFT.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from diamp.errors import ExtractionError
from diamp.extractors._native import load
from diamp.extractors.bits import BitSource, PackedBits, window
from diamp.extractors.blocks import (
    DEFAULT_MAX_FFT_LENGTH,
    DEFAULT_MAX_MEMORY,
    SHARED_BYTES_PER_POINT,
    WORKER_BYTES_PER_POINT,
    CorrelationPlan,
    CorrelationResult,
    PartialResult,
    _zeroed,
    with_checked,
)
from diamp.extractors.fft import fft_backend
from diamp.progress import Progress

__all__ = [
    "DEFAULT_MAX_FFT_LENGTH",
    "DEFAULT_MAX_MEMORY",
    "MAX_ERROR",
    "CorrelationPlan",
    "CorrelationResult",
    "RoundoffBound",
    "correlate_parity",
    "correlation_partial",
    "default_threads",
    "fft_error_bound",
    "max_fft_for_memory",
    "plan_correlation",
    "with_checked",
]

_fk = load("diamp.extractors._kernels")
UNIT_ROUNDOFF = 2.0**-53
MAX_ERROR = 0.25
MIN_AUTO_FFT_LENGTH = 2**20


def _gamma(k: int) -> float:
    return k * UNIT_ROUNDOFF / (1 - k * UNIT_ROUNDOFF)


def _stages(length: int) -> float:
    """Butterfly stages assumed for a transform of ``length`` (2^a or 3·2^a), plus margin."""
    radix3 = 0 if length & (length - 1) == 0 else 1
    return math.ceil(math.log2(length)) + 2 + radix3


def _eps_fft(length: int) -> float:
    u = UNIT_ROUNDOFF
    stages = _stages(length)
    mu = 2 * u  # twiddle factor error
    eta = mu + _gamma(4) * (math.sqrt(2) + mu)
    return stages * eta / (1 - stages * eta)


@dataclass
class RoundoffBound:
    """Running a-priori error bound of a sum of FFT correlations of 0/1 vectors.

    Notes
    -----
    Model: Higham, *Accuracy and Stability of Numerical Algorithms* (2nd ed.), Thm 24.2 — a
    computed length-L FFT satisfies ‖ŷ − y‖₂ ≤ ε_T‖y‖₂ with ε_T = Tη/(1 − Tη),
    η = μ + γ₄(√2 + μ), T butterfly stages and twiddle error μ (taken as 2u). T is
    ⌈log₂ L⌉ + 2 (+1 for a radix-3 stage): the real-input pre/post-processing adds a stage
    each way. For block k with w_a, w_b ones (A = F·a: ‖A‖₂ = √(L w_a), ‖A‖∞ ≤ w_a):

    * exact product norm p_k = ‖conj(A)·B‖₂ ≤ min(√L √w_a w_b, w_a √L √w_b);
    * product error d_k ≤ ε_T√L(√w_a w_b + w_a √w_b) + ε_T² L √(w_a w_b), plus the complex
      multiplication's relative error √2γ₂ on (p_k + d_k);
    * summing G spectra adds γ_{G−1} Σ(p_k + d_k) (recursive summation, componentwise);
    * the inverse transform (exact 1/L scaling for these lengths) adds ε_T‖ΣP‖ and divides
      by √L: error ≤ ((1 + ε_T)·D + ε_T·P)/√L with D, P the sums above.

    The ∞-norm error of the correlation sums is at most this 2-norm bound.
    """

    length: int
    blocks: int = 0
    d_sum: float = 0.0
    p_sum: float = 0.0

    def _terms(self, weight_x: int, weight_y: int) -> tuple[float, float]:
        eps = _eps_fft(self.length)
        wa, wb, root_l = float(weight_x), float(weight_y), math.sqrt(self.length)
        p = min(root_l * math.sqrt(wa) * wb, wa * root_l * math.sqrt(wb))
        d = eps * root_l * (math.sqrt(wa) * wb + wa * math.sqrt(wb))
        d += eps**2 * self.length * math.sqrt(wa * wb)
        d += math.sqrt(2) * _gamma(2) * (p + d)
        return d, p

    def _value(self, blocks: int, d_sum: float, p_sum: float) -> float:
        eps = _eps_fft(self.length)
        total_d = d_sum + _gamma(max(blocks - 1, 0)) * (p_sum + d_sum)
        return ((1 + eps) * total_d + eps * p_sum) / math.sqrt(self.length)

    def with_block(self, weight_x: int, weight_y: int) -> float:
        """The bound if a block with these weights were added."""
        d, p = self._terms(weight_x, weight_y)
        return self._value(self.blocks + 1, self.d_sum + d, self.p_sum + p)

    def add(self, weight_x: int, weight_y: int) -> None:
        """Account for one more block in the running sum."""
        d, p = self._terms(weight_x, weight_y)
        self.blocks += 1
        self.d_sum += d
        self.p_sum += p

    @property
    def value(self) -> float:
        """The bound for the blocks added so far."""
        return self._value(self.blocks, self.d_sum, self.p_sum)

    def reset(self) -> None:
        """Start a new sum."""
        self.blocks, self.d_sum, self.p_sum = 0, 0.0, 0.0


def fft_error_bound(length: int, weight_x: int, weight_y: int) -> float:
    """Worst-case absolute error of one FFT correlation of 0/1 vectors (see RoundoffBound)."""
    return RoundoffBound(length).with_block(weight_x, weight_y)


def _fast_length(value: int) -> int:
    """Smallest power of two >= value (MKL's complex transforms are slow at 3·2^a)."""
    return 1 << max(0, (value - 1).bit_length())


def _cheapest_block(n: int, lag: int, max_fft_length: int) -> int:
    """x-block size whose power-of-two transform minimises the modelled work.

    Work per transform of length L is modelled as L·log₂L, one transform per block plus
    an inverse (about half as costly) for every few blocks; larger L means fewer blocks but
    more memory, so ties go to the smaller transform.
    """
    best: tuple[float, int] | None = None
    # below ~2^20 points the per-block overhead (reads, kernel calls) dominates
    floor = min(MIN_AUTO_FFT_LENGTH, _fast_length(n + lag - 1), max_fft_length)
    length = _fast_length(max(2 * lag, 16, floor))
    while length <= max(max_fft_length, _fast_length(lag + 1)):
        block = min(n, length - lag + 1)
        blocks = -(-n // block)
        work = (blocks + 0.5 * (1 + blocks / 4)) * length * math.log2(length)
        if best is None or work < best[0] * 0.97:
            best = (work, block)
        if block == n:
            break
        length *= 2
    if best is None:
        raise ExtractionError(f"no FFT length <= {max_fft_length} fits a lag chunk of {lag}")
    block = best[1]
    return block - block % 64 if 128 <= block < n else block


def max_fft_for_memory(max_memory: int, workers: int) -> int:
    """Largest power-of-two FFT length whose workers fit in ``max_memory`` bytes."""
    budget = max_memory // (WORKER_BYTES_PER_POINT * workers + SHARED_BYTES_PER_POINT)
    if budget < 16:
        raise ExtractionError(f"a memory budget of {max_memory} bytes is too small")
    return 1 << (budget.bit_length() - 1)


def plan_correlation(
    n: int,
    m: int,
    *,
    block_bits: int | None = None,
    lag_bits: int | None = None,
    max_fft_length: int = DEFAULT_MAX_FFT_LENGTH,
) -> CorrelationPlan:
    """Choose block, lag chunk and FFT length for an n-bit x and m output bits.

    By default the lags are one chunk (up to ``max_fft_length / 2``) and the x-block size
    comes from a work model over power-of-two transforms (:func:`_cheapest_block`).
    An explicit ``block_bits`` also caps the lag chunk (``lag_bits`` defaults to
    ``min(m, block_bits)`` rounded up to whole bytes).
    """
    if n < 1 or m < 1:
        raise ExtractionError(f"need n >= 1 input bits and m >= 1 output bits, found {n}, {m}")
    if max_fft_length < 16:
        raise ExtractionError(f"max_fft_length must be >= 16, found {max_fft_length}")
    if lag_bits is not None and lag_bits % 8 and lag_bits < m:
        raise ExtractionError(f"lag_bits must be a multiple of 8 (or >= m), found {lag_bits}")
    if block_bits is not None:
        block = max(1, min(block_bits, n))
        lag = min(m, lag_bits or -(-block // 8) * 8)
    else:
        lag = min(m, lag_bits or max_fft_length // 2)
        block = _cheapest_block(n, lag, max_fft_length)
    length = _fast_length(block + lag - 1)
    worst = fft_error_bound(length, block, block + lag - 1)
    if worst >= MAX_ERROR:
        raise ExtractionError(
            f"block of {block} bits and lag chunk of {lag} (FFT length {length}) have round-off "
            f"bound {worst:.3g} >= {MAX_ERROR}; choose smaller blocks"
        )
    return CorrelationPlan(n=n, m=m, block_bits=block, lag_bits=lag, fft_length=length)


class _Workspace:
    """FFT buffers of one worker, allocated once per extraction.

    Real transforms run in place: a window is unpacked into the first L floats of its own
    half-spectrum buffer, so three buffers of L/2 + 1 complex numbers are all it takes.
    """

    def __init__(self, length: int) -> None:
        self.length = length
        self.fx = _zeroed(length // 2 + 1, np.complex128)
        self.fy = _zeroed(length // 2 + 1, np.complex128)
        self.acc = _zeroed(length // 2 + 1, np.complex128)

    def real(self, spectrum: np.ndarray) -> np.ndarray:
        """The first L floats of a spectrum buffer's memory (in-place transform input)."""
        return spectrum.view(np.float64)[: self.length]


def correlation_partial(
    x: BitSource,
    y: BitSource,
    plan: CorrelationPlan,
    chunk: int,
    blocks: Sequence[int],
    progress: Callable[[int], None] | None = None,
    workspace: _Workspace | None = None,
) -> PartialResult:
    """Parities contributed by x-blocks ``blocks`` to lag chunk ``chunk``.

    XORing the results over all blocks gives the chunk's output bits. This is the unit of
    work for threads and Dask tasks.
    """
    n, length = plan.n, plan.fft_length
    j0 = chunk * plan.lag_bits
    jl = min(plan.lag_bits, plan.m - j0)
    ws = workspace or _Workspace(length)
    fft = fft_backend()
    bound = RoundoffBound(length)
    out = np.zeros((jl + 7) // 8, dtype=np.uint8)
    scratch = np.empty_like(out)
    worst_bound = worst_residual = 0.0
    flushes = 0

    def flush() -> None:
        nonlocal worst_bound, worst_residual, flushes
        if bound.blocks == 0:
            return
        values = ws.real(ws.fx)
        fft.irfft(ws.acc, length, out=values)
        residual = float(_fk.parity_pack(values, jl, scratch))
        limit = bound.value
        if residual > limit or limit >= MAX_ERROR:
            raise ExtractionError(
                f"FFT residual {residual:.3g} exceeds the round-off bound {limit:.3g} (lags "
                f"{j0}..{j0 + jl - 1}): this FFT does not meet its error model; refusing an "
                "inexact result"
            )
        np.bitwise_xor(out, scratch, out=out)
        worst_bound, worst_residual = max(worst_bound, limit), max(worst_residual, residual)
        ws.acc[:] = 0
        bound.reset()
        flushes += 1

    ws.acc[:] = 0
    for k in blocks:
        s = k * plan.block_bits
        bl = min(plan.block_bits, n - s)
        ylen = min(bl + jl - 1, y.nbits - s - j0)
        if ylen > 0:
            xb, xoff, wa = window(x, s, bl)
            yb, yoff, wb = window(y, s + j0, ylen)
            if wa and wb:
                if bound.blocks and bound.with_block(wa, wb) >= MAX_ERROR:
                    flush()  # before fx is refilled: the inverse transform writes into fx
                _fk.unpack_to_float(xb, xoff, bl, ws.real(ws.fx))
                fft.rfft(ws.real(ws.fx), length, out=ws.fx)
                _fk.unpack_to_float(yb, yoff, ylen, ws.real(ws.fy))
                fft.rfft(ws.real(ws.fy), length, out=ws.fy)
                _fk.accumulate_product(ws.fx, ws.fy, ws.acc)
                bound.add(wa, wb)
        if progress is not None:
            progress(1)
    flush()
    return PartialResult(chunk, out, worst_bound, worst_residual, flushes)


def _split(count: int, parts: int) -> list[range]:
    edges = [count * i // parts for i in range(parts + 1)]
    return [range(edges[i], edges[i + 1]) for i in range(parts) if edges[i + 1] > edges[i]]


def correlate_parity(
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
    """Parities c_j = Σ_t x_t·y_{t+j} mod 2 for j < m, exact (see the module docs).

    ``threads`` workers each own an FFT workspace and a share of the x-blocks; numpy's FFT
    releases the GIL, so they run in parallel (default: one per core with numpy, one with
    MKL, which parallelises each transform itself). The FFT length is capped so the workspaces
    fit in ``max_memory`` bytes (``CorrelationPlan.memory_bytes``). ``progress`` is called with
    (blocks done, blocks total) over all lag chunks.

    Raises
    ------
    ExtractionError
        On invalid lengths or a sum whose residual exceeds its round-off bound.
    """
    threads = max(1, threads if threads is not None else default_threads())
    cap = min(max_fft_length, max_fft_for_memory(max_memory, threads))
    plan = plan_correlation(
        x.nbits, m, block_bits=block_bits, lag_bits=lag_bits, max_fft_length=cap
    )
    threads = min(threads, plan.n_blocks)
    total = plan.n_blocks * plan.n_chunks
    done = 0
    lock = threading.Lock()

    def tick(count: int) -> None:
        nonlocal done
        with lock:
            done += count
            current = done
        if progress is not None:
            progress(current, total)

    ranges = _split(plan.n_blocks, threads)
    workspaces = [_Workspace(plan.fft_length) for _ in ranges]
    output = np.zeros((m + 7) // 8, dtype=np.uint8)
    worst_bound = worst_residual = 0.0
    with ThreadPoolExecutor(max_workers=len(ranges)) as pool:
        for chunk in range(plan.n_chunks):
            futures = [
                pool.submit(correlation_partial, x, y, plan, chunk, r, tick, ws)
                for r, ws in zip(ranges, workspaces, strict=True)
            ]
            for future in futures:
                part = future.result()
                start = chunk * plan.lag_bits // 8  # lag_bits is a multiple of 8 or equals m
                region = output[start : start + part.bits.size]
                np.bitwise_xor(region, part.bits, out=region)
                worst_bound = max(worst_bound, part.error_bound)
                worst_residual = max(worst_residual, part.max_residual)
    return CorrelationResult(
        output=PackedBits(output, m),
        block_bits=plan.block_bits,
        lag_bits=plan.lag_bits,
        fft_length=plan.fft_length,
        error_bound=worst_bound,
        max_residual=worst_residual,
    )


def default_threads() -> int:
    """Worker threads that keep the cores busy with the active FFT backend."""
    return 1 if fft_backend().threaded else max(1, os.cpu_count() or 1)
