"""SP 800-90B §5.1: the permutation tests (11 tests, 19 statistics, 10,000 shuffles).

Matches the reference tool's procedure (``cpp/iid/permutation_tests.h``): for every
statistic, C₀ counts shuffles scoring above the original, C₁ equal, C₂ below; a statistic
is settled (and no longer computed) once C₀ + C₁ > 5 and C₁ + C₂ > 5, and the whole test
stops when all 19 are settled; the data pass when every statistic is settled.

Departures, all documented in :func:`permutation_test`: the tool seeds its shuffles from
``/dev/urandom`` and shuffles its working copy again and again; here shuffle j is an
independent Fisher–Yates shuffle of the original samples, seeded by the j-th 64-bit number
of ``numpy.random.default_rng(seed)``. Both give uniformly random permutations; this way a
run is reproducible and its counts do not depend on the batch size or the thread count.
"""

from __future__ import annotations

import bz2
import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from diamp.analysis.sp800_90b._kernels.permutation import (
    NAMES,
    decimal_text,
    permuted_statistics,
    statistics,
)
from diamp.analysis.sp800_90b.samples import Samples

if TYPE_CHECKING:
    from diamp.progress import ProgressSink

__all__ = ["NAMES", "PermutationResult", "compression_statistic", "permutation_test"]

_SETTLED = 5
_BZIP2_LEVEL = 5


@dataclass(frozen=True)
class PermutationResult:
    """Outcome of the permutation tests.

    Attributes
    ----------
    names
        The 19 statistic names, in the tool's order.
    original
        Each statistic on the unpermuted samples.
    counts
        (19, 3) array: shuffles scoring above, equal to and below the original.
    passed
        Per statistic: settled (C₀ + C₁ > 5 and C₁ + C₂ > 5).
    permutations
        Shuffles generated before every statistic was settled (at most the requested number).
    seed
        Seed of the generator of the shuffle seeds.
    """

    names: tuple[str, ...]
    original: tuple[float, ...]
    counts: NDArray[np.int64]
    passed: tuple[bool, ...]
    permutations: int
    seed: int

    @property
    def all_passed(self) -> bool:
        """True when every statistic is settled: the data pass the permutation tests."""
        return all(self.passed)

    def to_json(self) -> dict[str, Any]:
        """Per statistic: original value (``None`` if undefined), counts and verdict."""
        return {
            "permutations": self.permutations,
            "seed": self.seed,
            "passed": self.all_passed,
            "statistics": {
                name: {
                    "original": None if math.isnan(value) else value,
                    "above": int(row[0]),
                    "equal": int(row[1]),
                    "below": int(row[2]),
                    "passed": ok,
                }
                for name, value, row, ok in zip(
                    self.names, self.original, self.counts, self.passed, strict=True
                )
            },
        }


def compression_statistic(raw: NDArray[np.uint8]) -> int:
    """Length in bytes of the bzip2 (level 5) compression of the samples as decimal text.

    Notes
    -----
    Statistic 19 (§5.1.11): the samples written ``"%u "`` and joined, without the final
    space, compressed as by ``BZ2_bzBuffToBuffCompress(…, 5, 0, 0)`` in the tool.
    """
    return len(bz2.compress(decimal_text(raw).tobytes(), _BZIP2_LEVEL))


def _median(samples: Samples) -> float:
    if samples.k == 2:
        return 0.5
    s = np.sort(samples.symbols)
    half = s.shape[0] // 2
    return float(s[half]) if s.shape[0] % 2 else (float(s[half]) + float(s[half - 1])) / 2.0


class _Context:
    """Everything the statistics of a shuffle need, computed once."""

    def __init__(self, samples: Samples) -> None:
        limit = 1 << samples.bits_per_sample
        present = np.bincount(samples.raw, minlength=limit) > 0
        self.table = (np.cumsum(present) - 1).astype(np.uint8)
        self.raw = samples.raw
        self.k = samples.k
        self.rawmean = float(int(samples.raw.sum(dtype=np.int64)) / samples.raw.shape[0])
        self.median = _median(samples)

    def original(self) -> NDArray[np.float64]:
        out = np.full(len(NAMES), np.nan)
        active = np.ones(len(NAMES), np.bool_)
        data = np.empty_like(self.raw)
        statistics(self.raw, self.table, data, self.k, self.rawmean, self.median, active, out)
        out[18] = compression_statistic(self.raw)
        return out

    def batch(
        self, seeds: NDArray[np.uint64], active: NDArray[np.bool_], pool: ThreadPoolExecutor
    ) -> NDArray[np.float64]:
        n = self.raw.shape[0]
        out = np.full((seeds.shape[0], len(NAMES)), np.nan)
        store = bool(active[18])
        keep = np.empty((seeds.shape[0] if store else 0, n), np.uint8)
        permuted_statistics(
            self.raw, self.table, self.k, self.rawmean, self.median, active, seeds, out, keep, store
        )
        if store:
            out[:, 18] = list(pool.map(compression_statistic, keep))
        return out


def _tally(
    counts: NDArray[np.int64], active: NDArray[np.bool_], t: NDArray[np.float64], row: Any
) -> None:
    """Count one shuffle for the statistics still open, closing those now settled."""
    for j in np.flatnonzero(active):
        if row[j] > t[j]:
            counts[j, 0] += 1
        elif row[j] == t[j]:
            counts[j, 1] += 1
        else:
            counts[j, 2] += 1
        c0, c1, c2 = counts[j]
        if c0 + c1 > _SETTLED and c1 + c2 > _SETTLED:
            active[j] = False


def permutation_test(
    samples: Samples,
    *,
    seed: int,
    permutations: int = 10_000,
    batch: int = 64,
    workers: int = 2,
    progress: ProgressSink | None = None,
) -> PermutationResult:
    """Run the 19-statistic permutation tests on prepared samples.

    Parameters
    ----------
    samples
        Samples from :func:`~diamp.analysis.sp800_90b.samples.prepare_samples`.
    seed
        Seed of ``numpy.random.default_rng``, which draws one 64-bit seed per shuffle.
    permutations
        Number of shuffles (10,000 in SP 800-90B).
    batch
        Most shuffles computed together (in parallel) between checks of the settled
        statistics; it changes the run time only, never the result.
    workers
        Threads compressing shuffles with bzip2 (numba uses its own thread pool).
    progress
        Optional sink for one step counting shuffles.

    Returns
    -------
    PermutationResult
        Counts and verdicts per statistic.
    """
    context = _Context(samples)
    t = context.original()
    seeds = np.random.default_rng(seed).integers(0, 2**64, size=permutations, dtype=np.uint64)
    counts = np.zeros((len(NAMES), 3), np.int64)
    active = np.ones(len(NAMES), np.bool_)
    update = progress.start("SP 800-90B permutation tests", permutations) if progress else None
    done = 0
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        while done < permutations and active.any():
            size = min(batch, max(4, done))  # small first: IID data settle in a few dozen
            chunk = seeds[done : done + size]
            rows = context.batch(chunk, active.copy(), pool)
            for row in rows:
                if not active.any():
                    break
                _tally(counts, active, t, row)
                done += 1
            if update is not None:
                update(done)
    passed = tuple(bool(c0 + c1 > _SETTLED and c1 + c2 > _SETTLED) for c0, c1, c2 in counts)
    return PermutationResult(NAMES, tuple(float(x) for x in t), counts, passed, done, seed)
