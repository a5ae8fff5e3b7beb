"""Run Diehard tests on a word stream: no word used twice unless asked, tests in parallel.

Every test starts at the first word of the input, as each ``dieharder -g 201 -d N`` run
does. Before a test runs, the words its requested repetitions read are compared with the
words the input holds: a test that would read past the end is reported as
``insufficient_data`` with the bits it needs, or (``allow_fewer``) run with as many
repetitions as fit. ``rewind`` reproduces dieharder's behaviour instead: the input is
read again from its first word, and the result says so.

Where dieharder 3.31.1 departs from Marsaglia's description of a test (the tests whose
``differs`` is set: birthdays, bitstream, DNA, sums), the default follows Marsaglia;
``dieharder_compat`` reproduces dieharder's behaviour for side-by-side comparison, and
every result records which mode ran.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from diamp.analysis.diehard.catalogue import TESTS, DiehardTest
from diamp.analysis.diehard.stats import kstest
from diamp.errors import ConfigError

if TYPE_CHECKING:
    from distributed import Client

__all__ = [
    "FAIL_BELOW",
    "WEAK_BELOW",
    "DiehardOutcome",
    "DiehardResult",
    "assess",
    "run_battery",
    "run_test",
    "words_from_bytes",
]

WEAK_BELOW = 0.005  # dieharder's Xweak: WEAK outside [0.005, 0.995]
FAIL_BELOW = 0.000001  # dieharder's Xfail: FAILED outside [1e-6, 1 - 1e-6]
MIN_WORDS = 16  # dieharder refuses a file of fewer words

Status = Literal["ok", "insufficient_data"]


def assess(pvalue: float) -> str:
    """Dieharder's assessment of a final p-value: PASSED, WEAK or FAILED."""
    if pvalue < FAIL_BELOW or pvalue > 1.0 - FAIL_BELOW:
        return "FAILED"
    if pvalue < WEAK_BELOW or pvalue > 1.0 - WEAK_BELOW:
        return "WEAK"
    return "PASSED"


def words_from_bytes(data: bytes | np.ndarray) -> np.ndarray:
    """The 32-bit words dieharder's raw file input reads: little-endian, trailing bytes dropped."""
    raw = np.frombuffer(data, dtype=np.uint8) if isinstance(data, bytes) else data
    count = raw.size // 4
    return raw[: 4 * count].view("<u4").astype(np.uint32)  # a writable native copy


@dataclass(frozen=True)
class DiehardOutcome:
    """The outcome of one test.

    Attributes
    ----------
    test
        The test.
    status
        ``"ok"``, or ``"insufficient_data"`` when the input was too short to run it.
    pvalues
        One array of per-repetition p-values for each statistic (two for runs and craps).
    final_pvalues
        The KS p-value of each array (dieharder's printed p-values).
    psamples_requested, psamples
        Repetitions asked for, and run.
    words_used
        Words read (counting re-read words under ``rewind``).
    bits_needed
        Bits the requested repetitions need (an estimate for tests whose reading depends
        on the data: 2-d and 3-d spheres, squeeze, craps).
    rewound
        Whether words were read again (only with ``rewind``).
    seconds
        Compute time.
    dieharder_compat
        Whether dieharder's behaviour was reproduced where it departs from Marsaglia's
        description (it changes nothing for tests whose ``differs`` is None).
    """

    test: DiehardTest
    status: Status
    pvalues: tuple[np.ndarray, ...]
    final_pvalues: tuple[float, ...]
    psamples_requested: int
    psamples: int
    words_used: int
    bits_needed: int
    rewound: bool
    seconds: float
    dieharder_compat: bool = False

    @property
    def follows(self) -> str:
        """``"dieharder"`` or ``"marsaglia"``: whose definition gave these p-values.

        Tests on which the two agree report ``"both"``.
        """
        if self.test.differs is None:
            return "both"
        return "dieharder" if self.dieharder_compat else "marsaglia"

    @property
    def assessments(self) -> tuple[str, ...]:
        """PASSED / WEAK / FAILED for each final p-value."""
        return tuple(assess(p) for p in self.final_pvalues)

    @property
    def assessment(self) -> str:
        """The worst assessment of the test, or ``"insufficient data"``."""
        if self.status != "ok":
            return "insufficient data"
        for verdict in ("FAILED", "WEAK"):
            if verdict in self.assessments:
                return verdict
        return "PASSED"


@dataclass(frozen=True)
class DiehardResult:
    """Results of a battery run, in the order of the tests asked for."""

    results: tuple[DiehardOutcome, ...]
    words: int
    rewind: bool
    wall_seconds: float
    dieharder_compat: bool = False

    @property
    def mode(self) -> str:
        """``"dieharder-compat"`` or ``"marsaglia"`` (the default)."""
        return "dieharder-compat" if self.dieharder_compat else "marsaglia"

    @property
    def failed(self) -> bool:
        """Whether a test that ran was assessed FAILED."""
        return any(r.assessment == "FAILED" for r in self.results)


def _fit(test: DiehardTest, available: int) -> int:
    """Repetitions whose words fit in ``available`` (exact-count tests)."""
    if available < test.words_first:
        return 0
    return 1 + (available - test.words_first) // test.words_each


def run_test(
    words: np.ndarray, test: DiehardTest, psamples: int | None = None, *,
    rewind: bool = False, allow_fewer: bool = False, offset: int = 0,
    dieharder_compat: bool = False,
) -> DiehardOutcome:  # fmt: skip
    """Run one test from word ``offset`` (modulo the length) of ``words`` (see the module notes).

    ``dieharder_compat`` reproduces dieharder 3.31.1 where it departs from Marsaglia's
    description of the test (``test.differs``).

    dieharder's default output measures the generator's speed first, reading psamples ×
    10^6 words (psamples × tsamples with ``-t``) without rewinding the file afterwards;
    ``offset`` set to that count reproduces such a run (``-D`` flags without the rate
    display skip the measurement: offset 0).
    """
    started = time.perf_counter()
    requested = test.psamples if psamples is None else psamples
    first = offset % int(words.size)
    available = int(words.size) - first
    need = test.words_needed(requested)
    count, budget = requested, -1
    if not rewind and test.exact and need > available:
        count = _fit(test, available) if allow_fewer else 0
    elif not rewind and not test.exact:
        budget = available  # stop once the input is exhausted
    if count == 0:
        return _insufficient(test, requested, 32 * need, started, dieharder_compat)
    state = np.array([first, 0], dtype=np.int64)
    pvalues, done = test.run(words, state, count, budget, dieharder_compat)
    used = int(state[1])
    if budget >= 0 and used > available:  # the last repetition wrapped: drop it
        done -= 1
        pvalues = [p[:done] for p in pvalues]
        estimate = math.ceil(used / (done + 1) * requested)
        if done == 0 or (done < requested and not allow_fewer):
            return _insufficient(test, requested, 32 * max(estimate, need), started,
                                 dieharder_compat)  # fmt: skip
        used = min(used, available)
    finals = tuple(kstest(p) for p in pvalues)
    return DiehardOutcome(
        test, "ok", tuple(np.asarray(p) for p in pvalues), finals, requested, done, used,
        32 * need if test.exact else 32 * math.ceil(used / done * requested),
        used > available, time.perf_counter() - started, dieharder_compat,
    )  # fmt: skip


def _insufficient(
    test: DiehardTest, requested: int, bits: int, started: float, compat: bool
) -> DiehardOutcome:
    return DiehardOutcome(
        test, "insufficient_data", (), (), requested, 0, 0, bits, False,
        time.perf_counter() - started, compat,
    )  # fmt: skip


def _default_workers() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _check(words: np.ndarray, psamples: int | None, workers: int | None, offset: int) -> None:
    if not isinstance(words, np.ndarray) or words.ndim != 1 or words.dtype != np.uint32:
        raise ConfigError("words must be a 1-D uint32 array", key="words")
    if words.size < MIN_WORDS:
        raise ConfigError(
            f"the input holds {4 * words.size} whole bytes; Diehard needs at least "
            f"{4 * MIN_WORDS} (16 words of 32 bits)",
            key="input",
        )
    if psamples is not None and psamples < 1:
        raise ConfigError(f"psamples must be >= 1, found {psamples}", key="psamples")
    if workers is not None and workers < 1:
        raise ConfigError(f"workers must be >= 1, found {workers}", key="workers")
    if offset < 0:
        raise ConfigError(f"offset must be >= 0, found {offset}", key="offset")


def run_battery(
    words: np.ndarray,
    tests: Sequence[DiehardTest] = TESTS,
    psamples: int | None = None,
    *,
    rewind: bool = False,
    allow_fewer: bool = False,
    offset: int = 0,
    dieharder_compat: bool = False,
    workers: int | None = None,
    dask_client: Client | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> DiehardResult:
    """Run ``tests`` on ``words`` (see :func:`words_from_bytes`), each from the first word.

    Parameters
    ----------
    words
        The input as dieharder reads it: 32-bit words.
    tests
        Tests to run (default: all 17), reported in this order.
    psamples
        Repetitions of every test (default: each test's dieharder default, 100).
    rewind
        Read the input again from its start when a test needs more (dieharder's behaviour).
    allow_fewer
        Run a test that does not fit with as many repetitions as fit, instead of
        reporting it as ``insufficient_data``.
    offset
        Word every test starts at (see :func:`run_test`; default 0, the first word).
    dieharder_compat
        Reproduce dieharder 3.31.1 where it departs from Marsaglia's description
        (birthdays, bitstream, DNA, sums; see ``DiehardTest.differs``), for comparison
        with dieharder. Default: Marsaglia's definitions.
    workers
        Tests run at once in threads (the kernels release the GIL; default: one per core).
    dask_client
        Run the tests on a Dask cluster instead (the words are scattered once).
    progress
        Called with (tests done, tests) as tests complete.

    Raises
    ------
    ConfigError
        If the input has fewer than 16 words, or ``psamples`` or ``workers`` is below 1.
    """
    _check(words, psamples, workers, offset)
    started = time.perf_counter()
    order = sorted(range(len(tests)), key=lambda i: -tests[i].words_needed(100))  # big first
    results: dict[int, DiehardOutcome] = {}
    options = {"rewind": rewind, "allow_fewer": allow_fewer, "offset": offset,
               "dieharder_compat": dieharder_compat}  # fmt: skip
    for index, result in _execute(words, tests, order, psamples, options,
                                  workers or _default_workers(), dask_client):  # fmt: skip
        results[index] = result
        if progress is not None:
            progress(len(results), len(tests))
    ordered = tuple(results[i] for i in range(len(tests)))
    return DiehardResult(ordered, int(words.size), rewind, time.perf_counter() - started,
                         dieharder_compat)  # fmt: skip


def _execute(
    words: np.ndarray, tests: Sequence[DiehardTest], order: list[int], psamples: int | None,
    options: dict[str, Any], workers: int, client: Client | None,
) -> Iterable[tuple[int, DiehardOutcome]]:  # fmt: skip
    if client is not None:
        from distributed import as_completed as dask_completed

        data = client.scatter(words, broadcast=True)
        futures: list[Any] = [
            client.submit(run_test, data, tests[i], psamples, pure=False, **options) for i in order
        ]
        index = {f.key: i for f, i in zip(futures, order, strict=True)}
        for future in dask_completed(futures):
            yield index[future.key], future.result()
        return
    if workers == 1:
        for i in order:
            yield i, run_test(words, tests[i], psamples, **options)
        return
    with ThreadPoolExecutor(max_workers=workers) as pool:
        running: dict[Future[DiehardOutcome], int] = {
            pool.submit(run_test, words, tests[i], psamples, **options): i for i in order
        }
        for future in as_completed(running):
            yield running[future], future.result()
