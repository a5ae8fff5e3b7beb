"""Extract, then re-check sampled output bits from the definition: the one path for both.

Every extraction that produces bits for use (the run's key, ``diamp extract``, the service's
Toeplitz blocks) goes through :func:`extract_checked`: the correlation by one of two engines
(in this process or on a Dask cluster) — ``"fft"``, the blockwise FFT with its round-off bound
(:mod:`diamp.extractors.correlate`), or ``"exact"``, the number-theoretic transform with no
rounding at all (:mod:`diamp.extractors.ntt`); the result records which as ``exactness``
(``"fft-bound"`` or ``"exact"``) — then ``check_bits`` output positions drawn at random
recomputed from the definition with bit-packed AND and parity
(:func:`diamp.extractors.direct.check_output`), which shares no arithmetic with the FFT. Any
mismatch raises :class:`~diamp.errors.ExtractionError` naming the position, and the caller
never sees the output.

Both extractors are correlations c_j = Σ_t x_t·y_{t+j} mod 2 (bits MSB-first):

* ``"dodis"``: x = the first input, y = the second (DESIGN; for DIRA x = AB, y = Z);
* ``"toeplitz"``: x = the raw string reversed, y = the seed (DESIGN:
  out_i = Σ_j s_{i−j+n−1}·r_j, substituting k = n − 1 − j).

The positions are not secret but must not be predictable by whatever could corrupt the
output; by default they come from a generator seeded with 128 bits from :mod:`secrets`.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from diamp.errors import ExtractionError
from diamp.extractors.bits import BitSource, PackedBits
from diamp.extractors.blocks import (
    DEFAULT_MAX_FFT_LENGTH,
    DEFAULT_MAX_MEMORY,
    ENGINES,
    CorrelationResult,
    Engine,
    with_checked,
)
from diamp.extractors.direct import check_output
from diamp.extractors.inputs import ExtractorKind, correlation_inputs
from diamp.progress import NullProgress, Progress, ProgressSink

if TYPE_CHECKING:
    from diamp.extractors.distributed import DaskTarget

__all__ = [
    "ENGINES",
    "CheckedExtraction",
    "Engine",
    "ExtractorKind",
    "extract_checked",
    "sample_positions",
]

Positions = np.random.Generator | int | None


@dataclass(frozen=True)
class CheckedExtraction:
    """An extraction whose output bits at ``result.checked_positions`` match the definition."""

    result: CorrelationResult
    extract_seconds: float
    check_seconds: float

    @property
    def output(self) -> PackedBits:
        """The extracted bits, packed MSB-first."""
        return self.result.output

    @property
    def checked_positions(self) -> tuple[int, ...]:
        """Output positions recomputed from the definition (sorted)."""
        return self.result.checked_positions


def sample_positions(m: int, count: int, rng: Positions = None) -> list[int]:
    """``count`` distinct positions of ``range(m)``, sorted.

    ``rng`` is a generator, a seed, or None for a generator seeded from :mod:`secrets`.
    """
    if not 0 <= count <= m:
        raise ExtractionError(f"cannot check {count} of {m} output bits")
    if not isinstance(rng, np.random.Generator):
        rng = np.random.default_rng(secrets.randbits(128) if rng is None else rng)
    return sorted(int(p) for p in rng.choice(m, size=count, replace=False))


def correlate_parity(x: BitSource, y: BitSource, m: int, **options: Any) -> CorrelationResult:
    """The FFT engine (:func:`diamp.extractors.correlate.correlate_parity`), imported on use.

    Importing it here only when called keeps its kernels out of a process that runs the
    exact engine.
    """
    from diamp.extractors.correlate import correlate_parity as fft_engine

    return fft_engine(x, y, m, **options)


def extract_checked(
    kind: ExtractorKind,
    x: BitSource,
    y: BitSource,
    m: int,
    *,
    check_bits: int,
    rng: Positions = None,
    threads: int | None = None,
    max_memory: int = DEFAULT_MAX_MEMORY,
    max_fft_length: int = DEFAULT_MAX_FFT_LENGTH,
    dask: DaskTarget | None = None,
    progress: ProgressSink | None = None,
    engine: Engine = "exact",
) -> CheckedExtraction:
    """Extract m bits with ``kind``, then recompute ``min(check_bits, m)`` of them directly.

    Parameters
    ----------
    kind
        ``"dodis"`` (x, y: equal-length inputs) or ``"toeplitz"`` (x: raw string of n bits,
        y: seed of n + m − 1 bits).
    check_bits
        Output bits recomputed from the definition at positions drawn by ``rng``
        (a generator, a seed, or None: seeded from :mod:`secrets`).
    threads, max_memory, max_fft_length
        As for :func:`~diamp.extractors.correlate.correlate_parity`; ``threads`` is unused
        on Dask. ``max_fft_length`` caps the exact engine's transform length too.
    dask
        Run the correlation on this Dask cluster instead of in this process; the output is
        bit-identical.
    progress
        Receives two steps: the extraction and the self-check.
    engine
        ``"exact"`` (default) or ``"fft"``; the output bits are identical.

    Raises
    ------
    ExtractionError
        On invalid inputs or lengths, ``check_bits < 0``, a round-off bound exceeded, or an
        output bit that differs from the definition (``position`` names it).
    """
    cx, cy, label = correlation_inputs(kind, x, y, m)
    if engine not in ENGINES:
        raise ExtractionError(f"unknown extraction engine {engine!r}: expected 'fft' or 'exact'")
    if check_bits < 0:
        raise ExtractionError(f"the number of self-checked bits must be >= 0, found {check_bits}")
    sink = progress or NullProgress()
    update = sink.start(label, 1)
    tick: Progress | None = None if progress is None else (lambda d, t: update(d / t))
    started = time.perf_counter()
    if engine == "exact" and dask is None:
        from diamp.extractors.ntt import MAX_NTT_LENGTH, correlate_parity_exact  # its kernels

        result = correlate_parity_exact(
            cx,
            cy,
            m,
            threads=threads,
            max_memory=max_memory,
            max_length=min(max_fft_length, MAX_NTT_LENGTH),
            progress=tick,
        )
    elif dask is None:
        result = correlate_parity(
            cx,
            cy,
            m,
            threads=threads,
            max_memory=max_memory,
            max_fft_length=max_fft_length,
            progress=tick,
        )
    else:
        from diamp.extractors.distributed import correlate_parity_on_cluster

        result = correlate_parity_on_cluster(
            dask,
            cx,
            cy,
            m,
            max_memory=max_memory,
            max_fft_length=max_fft_length,
            progress=tick,
            name=kind,
            engine=engine,
        )
    extracted = time.perf_counter()
    positions = sample_positions(m, min(check_bits, m), rng)
    done = sink.start(f"Self-check ({len(positions)} bits from the definition)", 1)
    checked = check_output(cx, cy, result.output, positions)
    done(1)
    return CheckedExtraction(
        with_checked(result, checked), extracted - started, time.perf_counter() - extracted
    )
