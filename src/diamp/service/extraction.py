"""The pipeline's extraction workers: raw blocks hashed on every configured core, in order.

Each raw source's full blocks are handed to a shared pool of ``[extractor] workers`` threads
as one job per read (:meth:`Extraction.submit`); a job hashes its blocks with the source's
fixed-seed engine and re-checks ``check_bits`` output bits of every block from the
definition. The engine is built once per (n, m) and shared by every source with that block
shape; ``[extractor] engine`` picks it (:meth:`Extraction.choice`): the exact GF(2) table
engine :class:`~diamp.extractors.gf2.TableToeplitz` (its window table computed once) or the
FFT engine :class:`~diamp.extractors.realtime.FixedSeedToeplitz` (the seed's spectrum
computed once), by default the GF(2) one up to :data:`AUTO_GF2_MAX_BITS` raw bits per block,
where it is the faster. The heavy work (numba kernels, FFT) releases the GIL, so the threads
run in parallel.

Fairness: jobs run first in, first out, and a source may have at most ``workers`` jobs in
flight (:meth:`Extraction.full`); the pipeline visits every source once per step. A fast
source therefore never holds more than its share of the queue: another source's job waits
behind at most ``workers`` jobs of each other source.
"""

from __future__ import annotations

import os
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from diamp.errors import DiampError
from diamp.extractors.bits import PackedBits
from diamp.extractors.gf2 import TableToeplitz
from diamp.extractors.params import ToeplitzParams
from diamp.extractors.realtime import FixedSeedToeplitz
from diamp.service.errors import ServiceConfigError

__all__ = [
    "AUTO_GF2_MAX_BITS",
    "ENGINES",
    "KEPT_ENGINES",
    "Extraction",
    "Job",
    "Jobs",
    "available_cores",
    "packed_blocks",
]

AUTO_GF2_MAX_BITS = 1 << 17
"""``engine = "auto"``: the GF(2) engine up to this block length, the FFT engine above (the
measured crossover: ``benchmarks/bench_pipeline.py``, docs/service.md)."""
KEPT_ENGINES = 16
"""Engines (window tables, seed spectra) kept at once; see :meth:`Extraction.engine`."""
ENGINES: dict[str, type[TableToeplitz] | type[FixedSeedToeplitz]] = {
    "gf2": TableToeplitz,
    "fft": FixedSeedToeplitz,
}


def available_cores() -> int:
    """Cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def packed_blocks(samples: np.ndarray, bits: int) -> np.ndarray:
    """Rows of samples (blocks × samples) as rows of raw bits packed MSB-first.

    Each sample contributes its ``bits`` low bits, most significant first.
    """
    if bits == 8:
        return np.ascontiguousarray(samples, dtype=np.uint8)
    if bits == 1:
        return np.packbits(samples, axis=1)
    unpacked = np.unpackbits(samples[:, :, None], axis=2)[:, :, 8 - bits :]
    return np.packbits(unpacked.reshape(samples.shape[0], -1), axis=1)


@dataclass
class Job:
    """Blocks of one source in flight; the future gives (blocks × ⌊m/8⌋) output bytes."""

    future: Future[np.ndarray]
    params: ToeplitzParams
    blocks: int


@dataclass
class Jobs:
    """A source's jobs in submission order."""

    queue: deque[Job] = field(default_factory=deque)

    def __len__(self) -> int:
        return len(self.queue)

    def cancel(self) -> None:
        """Drop every job (results of running ones are never looked at)."""
        for job in self.queue:
            job.future.cancel()
        self.queue.clear()


class Extraction:
    """Extraction jobs of every raw source on ``workers`` threads (see the module docs)."""

    def __init__(
        self,
        material: np.ndarray,
        check_bits: int,
        workers: int,
        rng: np.random.Generator,
        engine: str = "auto",
    ) -> None:
        if engine != "auto" and engine not in ENGINES:
            raise ServiceConfigError(
                f"extractor.engine must be one of 'auto', {', '.join(map(repr, ENGINES))}, "
                f"found {engine!r}",
                key="extractor.engine",
            )
        self.material, self.check_bits, self.workers = material, check_bits, workers
        self.setting = engine
        self._rng = rng
        self._engines: dict[tuple[int, int], TableToeplitz | FixedSeedToeplitz] = {}
        self._pool: ThreadPoolExecutor | None = None

    def choice(self, n: int) -> str:
        """The engine (a key of :data:`ENGINES`) that hashes blocks of ``n`` raw bits."""
        if self.setting != "auto":
            return self.setting
        return "gf2" if n <= AUTO_GF2_MAX_BITS else "fft"

    def describe(self, params: ToeplitzParams) -> dict[str, str]:
        """The engine of ``params`` and how its exactness is established (status, provenance)."""
        name = self.choice(params.n)
        return {"engine": name, "exactness": ENGINES[name].exactness}

    def engine(self, params: ToeplitzParams) -> TableToeplitz | FixedSeedToeplitz:
        """The fixed-seed engine of ``params`` (built once per (n, m)).

        At most :data:`KEPT_ENGINES` are kept, the least recently built dropped first (every
        assessment may set a new m; a job in flight holds its own reference).
        """
        key = (params.n, params.m)
        if key not in self._engines:
            while len(self._engines) >= KEPT_ENGINES:
                del self._engines[next(iter(self._engines))]
            seed = PackedBits.from_bits(np.unpackbits(self.material)[: params.seed_bits])
            name = self.choice(params.n)
            try:
                self._engines[key] = ENGINES[name](seed, params.n, params.m)
            except DiampError as err:
                where = "extractor.block_bits" if self.setting == "auto" else "extractor.engine"
                raise ServiceConfigError(f"extractor ({name} engine): {err}", key=where) from err
        return self._engines[key]

    def full(self, jobs: Jobs) -> bool:
        """True when a source already has its share (``workers``) of jobs in flight."""
        return len(jobs) >= self.workers

    def submit(self, jobs: Jobs, samples: np.ndarray, bits: int, params: ToeplitzParams) -> None:
        """Queue the hashing of ``samples`` (blocks × samples per block) for a source."""
        engine = self.engine(params)
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="diamp-extract")
        rng = self._rng.spawn(1)[0]  # one generator per job: threads never share one
        future = self._pool.submit(_hash, engine, samples, bits, self.check_bits, rng)
        jobs.queue.append(Job(future, params, samples.shape[0]))

    def close(self) -> None:
        """Stop the threads (queued jobs are cancelled, running ones finish)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


def _hash(
    engine: TableToeplitz | FixedSeedToeplitz,
    samples: np.ndarray,
    bits: int,
    check_bits: int,
    rng: np.random.Generator,
) -> np.ndarray:
    result = engine.extract(packed_blocks(samples, bits), check_bits=check_bits, rng=rng)
    return np.ascontiguousarray(result.output[:, : engine.m // 8])
