"""Blockwise parity correlations (Dodis, Toeplitz) as a Dask task graph.

One task computes the XOR-contribution of a group of x-blocks to one lag chunk
(:func:`diamp.extractors.correlate.correlation_partial`, at least ~100 ms of FFT work); a
pairwise tree of XOR tasks reduces the contributions on the workers, and only the final
m-bit result travels to the client. Inputs travel as descriptions: file-backed sources
pickle as their path and the workers read the blocks they need from that (shared) path; an
in-memory source is scattered to the workers once. Tasks are pure functions of their
inputs, so a task lost with a worker is recomputed by the scheduler and the result stays
bit-identical to the single-process one.

:func:`dask_client` is the one place a connection is made (to a scheduler, or to a new
LocalCluster); the task functions shipped to the workers are pure. ``dask`` and
``distributed`` are imported inside the functions, and so is each engine (its kernels), so
importing this module stays cheap.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from diamp.errors import ExtractionError
from diamp.extractors.bits import BitSource, PackedBits
from diamp.extractors.blocks import (
    DEFAULT_MAX_FFT_LENGTH,
    DEFAULT_MAX_MEMORY,
    CorrelationResult,
    PartialResult,
)
from diamp.progress import Progress

if TYPE_CHECKING:
    from distributed import Client

__all__ = [
    "MIN_TASK_SECONDS",
    "DaskTarget",
    "correlate_parity_dask",
    "correlate_parity_on_cluster",
    "dask_client",
]

MIN_TASK_SECONDS = 0.1
_SECONDS_PER_FFT_POINT = 3e-8  # conservative single-core estimate (numpy pocketfft)


@dataclass(frozen=True)
class DaskTarget:
    """Where Dask work runs: an existing scheduler (``tcp://host:port``) or a new LocalCluster.

    Exactly one of ``workers`` (worker processes of a LocalCluster, >= 1) and ``scheduler``.
    """

    workers: int | None = None
    scheduler: str | None = None

    def __post_init__(self) -> None:
        if (self.workers is None) == (self.scheduler is None):
            raise ExtractionError(
                "a Dask target needs either local workers or a scheduler address, found "
                f"workers = {self.workers}, scheduler = {self.scheduler}"
            )
        if self.workers is not None and self.workers < 1:
            raise ExtractionError(f"a local cluster needs workers >= 1, found {self.workers}")

    @property
    def label(self) -> str:
        """``tcp://host:port`` or ``local:K``, as reports show it."""
        return self.scheduler or f"local:{self.workers}"


@contextlib.contextmanager
def dask_client(workers: int | None = None, scheduler: str | None = None) -> Iterator[Client]:
    """A client of an existing scheduler (``tcp://host:port``) or of a new LocalCluster.

    A LocalCluster has ``workers`` single-threaded worker processes (each holds one FFT
    workspace at a time), no dashboard, and is closed on exit. Its scheduler's HTTP endpoint
    (metrics, health) takes a free port, so clusters started side by side on one machine do
    not compete for 8787.
    """
    from distributed import Client, LocalCluster

    if scheduler is not None:
        try:
            client = Client(scheduler, timeout="20s")
        except OSError as err:
            raise ExtractionError(f"cannot reach the Dask scheduler at {scheduler}: {err}") from err
        with client:
            yield client
        return
    if workers is None or workers < 1:
        raise ExtractionError(f"a local cluster needs workers >= 1, found {workers}")
    with (
        LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            host="127.0.0.1",
            scheduler_kwargs={"dashboard": False, "dashboard_address": "127.0.0.1:0"},
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


def _partial(x: BitSource, y: BitSource, plan: Any, chunk: int, first: int, stop: int) -> Any:
    from diamp.extractors.correlate import correlation_partial

    return correlation_partial(x, y, plan, chunk, range(first, stop))


def _exact_partial(x: BitSource, y: BitSource, plan: Any, chunk: int, first: int, stop: int) -> Any:
    from diamp.extractors.ntt import exact_partial

    return exact_partial(x, y, plan, chunk, range(first, stop))


def _xor(a: PartialResult, b: PartialResult) -> PartialResult:
    return PartialResult(
        a.chunk,
        np.bitwise_xor(a.bits, b.bits),
        max(a.error_bound, b.error_bound),
        max(a.max_residual, b.max_residual),
        a.flushes + b.flushes,
    )


def _tree_xor(client: Client, futures: list[Any], key: str) -> Any:
    level, depth = futures, 0
    while len(level) > 1:
        nxt = [
            client.submit(_xor, level[i], level[i + 1], key=f"{key}-xor-{depth}-{i}")
            for i in range(0, len(level) - 1, 2)
        ]
        if len(level) % 2:
            nxt.append(level[-1])
        level, depth = nxt, depth + 1
    return level[0]


def correlate_parity_dask(
    client: Client,
    x: BitSource,
    y: BitSource,
    m: int,
    *,
    workers_per_machine: int = 1,
    max_memory: int = DEFAULT_MAX_MEMORY,
    max_fft_length: int = DEFAULT_MAX_FFT_LENGTH,
    block_bits: int | None = None,
    progress: Progress | None = None,
    name: str = "correlate",
    engine: str = "exact",
) -> CorrelationResult:
    """Parities c_j = Σ_t x_t·y_{t+j} mod 2 (j < m) computed on a Dask cluster.

    ``max_memory`` is the budget of one machine, shared by ``workers_per_machine`` workers.
    ``engine`` is ``"fft"`` or ``"exact"`` (:mod:`diamp.extractors.ntt`, one thread per
    task). The result is bit-identical to :func:`diamp.extractors.correlate.correlate_parity`.
    """
    from distributed import as_completed

    workers = max(1, workers_per_machine)
    if engine == "exact":
        from diamp.extractors.ntt import MAX_NTT_LENGTH, max_ntt_for_memory, plan_exact

        cap = min(max_fft_length, MAX_NTT_LENGTH, max_ntt_for_memory(max_memory // workers))
        plan = plan_exact(x.nbits, m, block_bits=block_bits, max_length=cap)
        task: Any = _exact_partial
    else:
        from diamp.extractors.correlate import max_fft_for_memory, plan_correlation

        cap = min(max_fft_length, max_fft_for_memory(max_memory, workers))
        plan = plan_correlation(x.nbits, m, block_bits=block_bits, max_fft_length=cap)
        task = _partial
    block_seconds = 2 * plan.fft_length * math.log2(plan.fft_length) / 26 * _SECONDS_PER_FFT_POINT
    group = max(1, math.ceil(MIN_TASK_SECONDS / block_seconds))
    xs: Any = client.scatter(x, broadcast=True) if isinstance(x, PackedBits) else x
    ys: Any = client.scatter(y, broadcast=True) if isinstance(y, PackedBits) else y
    token = f"{name}-{abs(hash((x.nbits, m, plan, id(client)))):x}"
    leaves: list[list[Any]] = []
    for chunk in range(plan.n_chunks):
        leaves.append(
            [
                client.submit(
                    task,
                    xs,
                    ys,
                    plan,
                    chunk,
                    first,
                    min(first + group, plan.n_blocks),
                    key=f"{token}-c{chunk}-b{first}",
                )
                for first in range(0, plan.n_blocks, group)
            ]
        )
    roots = [_tree_xor(client, futures, f"{token}-c{c}") for c, futures in enumerate(leaves)]
    total = plan.n_blocks * plan.n_chunks
    done = 0
    for future in as_completed([f for futures in leaves for f in futures]):
        first = int(future.key.rsplit("-b", 1)[1])
        done += min(group, plan.n_blocks - first)
        if progress is not None:
            progress(done, total)
    parts: list[PartialResult] = client.gather(roots)
    output = np.zeros((m + 7) // 8, dtype=np.uint8)
    for part in parts:
        start = part.chunk * plan.lag_bits // 8
        output[start : start + part.bits.size] ^= part.bits
    return CorrelationResult(
        output=PackedBits(output, m),
        block_bits=plan.block_bits,
        lag_bits=plan.lag_bits,
        fft_length=plan.fft_length,
        error_bound=max(p.error_bound for p in parts),
        max_residual=max(p.max_residual for p in parts),
        exactness="exact" if engine == "exact" else "fft-bound",
    )


def correlate_parity_on_cluster(
    target: DaskTarget,
    x: BitSource,
    y: BitSource,
    m: int,
    *,
    max_memory: int = DEFAULT_MAX_MEMORY,
    max_fft_length: int = DEFAULT_MAX_FFT_LENGTH,
    progress: Progress | None = None,
    name: str = "correlate",
    engine: str = "exact",
) -> CorrelationResult:
    """:func:`correlate_parity_dask` on ``target``; a LocalCluster is closed afterwards.

    A local cluster's ``workers`` share one machine's ``max_memory``; an external cluster's
    workers are taken to run one per machine.
    """
    with dask_client(target.workers, target.scheduler) as client:
        return correlate_parity_dask(
            client,
            x,
            y,
            m,
            workers_per_machine=target.workers or 1,
            max_memory=max_memory,
            max_fft_length=max_fft_length,
            progress=progress,
            name=name,
            engine=engine,
        )
