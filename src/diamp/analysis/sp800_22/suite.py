"""The SP 800-22 suite over many sequences: a process pool, or Dask when given a client.

Sequence i of a run is bits [i·L, (i+1)·L) of the packed input (bytes packed MSB-first),
as in the reference's input files. Work is split into chunks of consecutive sequences; a
chunk travels as its packed byte range (a Dask chunk is scattered to the workers first),
so the inputs are never unpacked in the parent.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from diamp.analysis.sp800_22.params import Sp80022Params
from diamp.analysis.sp800_22.sequence import evaluate_sequence, subtest_count
from diamp.errors import ConfigError
from diamp.progress import Progress

if TYPE_CHECKING:
    from distributed import Client

__all__ = ["Sp80022Result", "run_suite"]

"""Called with (sequences done, sequences in total) as chunks complete."""

_CHUNK_BITS = 2**20  # a chunk holds at least this many bits (or one sequence) ...
_CHUNKS_PER_WORKER = 4  # ... and there are up to this many chunks per worker


@dataclass(frozen=True)
class Sp80022Result:
    """P-values of an SP 800-22 run.

    Attributes
    ----------
    pvalues
        Test name → array of shape (sequences, sub-tests), in the reference's test order;
        sub-tests ordered as :func:`~diamp.analysis.sp800_22.run_sequence` documents.
    sequences, length
        Number of sequences K and bits per sequence n.
    params
        The parameters used.
    seconds
        Test name → compute seconds, summed over sequences (and workers).
    wall_seconds
        Elapsed time of the run.
    """

    pvalues: Mapping[str, np.ndarray]
    sequences: int
    length: int
    params: Sp80022Params
    seconds: Mapping[str, float]
    wall_seconds: float

    def sequence(self, index: int) -> dict[str, list[float]]:
        """The p-values of one sequence, as :func:`run_sequence` returns them."""
        return {name: p[index].tolist() for name, p in self.pvalues.items()}


@dataclass(frozen=True)
class _Chunk:
    first: int  # index of the first sequence
    count: int  # number of sequences
    data: np.ndarray  # the packed bytes that hold them
    offset: int  # bit offset of the first sequence in ``data``


def _run_chunk(
    data: np.ndarray, offset: int, length: int, count: int, params: Sp80022Params
) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """P-values (count × sub-tests per test) and summed seconds of one chunk."""
    bits = np.unpackbits(data)
    pvalues = {t: np.zeros((count, subtest_count(t, params))) for t in params.tests}
    seconds = dict.fromkeys(params.tests, 0.0)
    for i in range(count):
        start = offset + i * length
        values, spent = evaluate_sequence(bits[start : start + length], params)
        for name in params.tests:
            pvalues[name][i] = values[name]
            seconds[name] += spent[name]
    return pvalues, seconds


def _chunks(packed: np.ndarray, sequences: int, length: int, workers: int) -> list[_Chunk]:
    per = max(
        1,
        min(math.ceil(_CHUNK_BITS / length), math.ceil(sequences / (_CHUNKS_PER_WORKER * workers))),
    )
    out = []
    for first in range(0, sequences, per):
        count = min(per, sequences - first)
        start, stop = first * length, (first + count) * length
        out.append(_Chunk(first, count, packed[start // 8 : (stop + 7) // 8], start % 8))
    return out


def _check_inputs(packed: np.ndarray, sequences: int, length: int, workers: int | None) -> None:
    if not isinstance(packed, np.ndarray) or packed.ndim != 1 or packed.dtype != np.uint8:
        raise ConfigError("packed must be a 1-D uint8 array (bytes, MSB-first)", key="packed")
    if sequences < 1 or length < 1:
        raise ConfigError(
            f"need sequences >= 1 and length >= 1, found {sequences} and {length}", key="length"
        )
    if sequences * length > 8 * packed.size:
        raise ConfigError(
            f"{sequences:,} sequences of {length:,} bits need {sequences * length:,} bits; the "
            f"input holds {8 * packed.size:,}",
            key="sequences",
        )
    if workers is not None and workers < 1:
        raise ConfigError(f"workers must be >= 1, found {workers}", key="workers")


def _default_workers() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def run_suite(
    packed: np.ndarray,
    sequences: int,
    length: int,
    params: Sp80022Params | None = None,
    workers: int | None = None,
    dask_client: Client | None = None,
    progress: Progress | None = None,
) -> Sp80022Result:
    """Run the SP 800-22 suite on ``sequences`` consecutive sequences of ``length`` bits.

    Parameters
    ----------
    packed
        Input bytes (``uint8``), bits packed MSB-first; sequence i is bits
        [i·length, (i+1)·length). Extra bits at the end are ignored.
    sequences, length
        Number of sequences K and bits per sequence n.
    params
        Test parameters (default: the reference's, all 15 tests).
    workers
        Worker processes (default: one per available core; 1 runs in this process).
        Ignored when ``dask_client`` is given. Workers are started with ``spawn`` (safe
        while other threads run), so a calling script needs the usual
        ``if __name__ == "__main__":`` guard.
    dask_client
        A ``distributed.Client``: chunks are scattered to its workers and run there.
    progress
        Called with (sequences done, K) as chunks complete.

    Raises
    ------
    ConfigError
        If the input holds fewer than K·n bits, K or n is not positive, or a selected test
        cannot run on n-bit sequences (see :meth:`Sp80022Params.check_length`).
    """
    params = params if params is not None else Sp80022Params()
    _check_inputs(packed, sequences, length, workers)
    params.check_length(length)
    started = time.perf_counter()
    nworkers = workers if workers is not None else _default_workers()
    if dask_client is not None:
        nworkers = max(1, sum(dask_client.nthreads().values()))
    chunks = _chunks(packed, sequences, length, nworkers)
    pvalues = {t: np.zeros((sequences, subtest_count(t, params))) for t in params.tests}
    seconds = dict.fromkeys(params.tests, 0.0)
    done = 0
    for chunk, (values, spent) in _execute(chunks, length, params, nworkers, dask_client):
        for name in params.tests:
            pvalues[name][chunk.first : chunk.first + chunk.count] = values[name]
            seconds[name] += spent[name]
        done += chunk.count
        if progress is not None:
            progress(done, sequences)
    return Sp80022Result(pvalues, sequences, length, params, seconds, time.perf_counter() - started)


_Outcome = tuple[dict[str, np.ndarray], dict[str, float]]


def _execute(
    chunks: list[_Chunk],
    length: int,
    params: Sp80022Params,
    workers: int,
    client: Client | None,
) -> Iterable[tuple[_Chunk, _Outcome]]:
    """Run the chunks, yielding each with its outcome as it completes."""
    if client is not None:
        yield from _execute_dask(chunks, length, params, client)
        return
    if workers == 1 or len(chunks) == 1:
        for chunk in chunks:
            yield chunk, _run_chunk(chunk.data, chunk.offset, length, chunk.count, params)
        return
    context = multiprocessing.get_context("spawn")  # safe with threads (progress bars) running
    with ProcessPoolExecutor(max_workers=min(workers, len(chunks)), mp_context=context) as pool:
        futures: dict[Future[_Outcome], _Chunk] = {
            pool.submit(_run_chunk, c.data, c.offset, length, c.count, params): c for c in chunks
        }
        for future in as_completed(futures):
            yield futures[future], future.result()


def _execute_dask(
    chunks: list[_Chunk], length: int, params: Sp80022Params, client: Client
) -> Iterable[tuple[_Chunk, _Outcome]]:
    from distributed import as_completed as dask_completed

    data = client.scatter([c.data for c in chunks])
    futures: list[Any] = client.map(
        _run_chunk,
        data,
        [c.offset for c in chunks],
        [length] * len(chunks),
        [c.count for c in chunks],
        [params] * len(chunks),
        pure=False,
    )
    index = {f.key: c for f, c in zip(futures, chunks, strict=True)}
    for future in dask_completed(futures):
        yield index[future.key], future.result()
