"""The 17 Diehard tests as dieharder 3.31.1 numbers them (``-d 0`` … ``-d 16``).

Each :class:`DiehardTest` knows its reference name, default sizes, how many words one
repetition (a "psample") reads, and turns its kernel's raw statistics into p-values with
dieharder's formulas (:mod:`.stats`). The sample sizes, expected values and sigmas are
dieharder's (most of them Marsaglia's); the rank and squeeze probabilities are Marsaglia's
published tables.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

import diamp.analysis.diehard._kernels_bits as kb
import diamp.analysis.diehard._kernels_stream as ks
import diamp.analysis.diehard.stats as stats
from diamp.analysis.diehard.operm5 import operm5_pvalue
from diamp.analysis.diehard.sums import sums_pvalue, sums_pvalue_dieharder

__all__ = ["TESTS", "DiehardTest", "find_test"]

Out = tuple[list[np.ndarray], int]
Runner = Callable[[np.ndarray, np.ndarray, int, int, bool], Out]
"""(words, state, psamples, budget, compat) → (p-values per statistic, repetitions done).

``compat`` reproduces dieharder 3.31.1 where it departs from Marsaglia's description
(the tests with ``differs`` set); the other runners ignore it.
"""


@dataclass(frozen=True)
class DiehardTest:
    """One Diehard test.

    Attributes
    ----------
    number, name, title
        dieharder's ``-d`` number, its output name and its description.
    tsamples, psamples
        dieharder's defaults: sample size of one repetition, and repetitions.
    words_first, words_each
        Words the first repetition and each later one read; for tests that read a
        data-dependent number (``exact`` False) the expected value.
    flag
        dieharder's own warning about the test ("suspect", "do not use"), if any.
    statistics
        p-values per repetition (2 for runs and craps).
    differs
        How dieharder 3.31.1 departs from Marsaglia's description of this test, when it
        does (diamp follows Marsaglia unless run with ``dieharder_compat``).
    """

    number: int
    name: str
    title: str
    tsamples: int
    psamples: int
    words_first: int
    words_each: int
    exact: bool
    flag: str | None
    statistics: int
    run: Runner
    differs: str | None = None

    def words_needed(self, psamples: int) -> int:
        """Words ``psamples`` repetitions read (the expected number when not ``exact``)."""
        return 0 if psamples < 1 else self.words_first + (psamples - 1) * self.words_each


def _each(values: np.ndarray, done: int, fn: Callable[[np.ndarray], float]) -> np.ndarray:
    return np.array([fn(v) for v in values[:done]], dtype=float)


def _birthdays(w: np.ndarray, s: np.ndarray, ps: int, budget: int, compat: bool) -> Out:
    lam, kmax = 512.0**3 / 2.0**26, 1
    while 100 * stats.poisson_pdf(kmax, lam) > 5:
        kmax += 1
    kmax += 1  # dieharder keeps one more cell and drops counts beyond it
    hist, done = kb.birthdays(w, s, ps, budget, 100, kmax, compat)
    exp = np.array([100 * stats.poisson_pdf(k, lam) for k in range(kmax)])
    q = _each(hist, done, lambda h: stats.chisq_q(kmax - 1, float(np.sum((h - exp) ** 2 / exp))))
    return [q], done


def _operm5(w: np.ndarray, s: np.ndarray, ps: int, budget: int, compat: bool) -> Out:
    counts, done = kb.operm5(w, s, ps, budget, 1_000_000)
    return [_each(counts, done, lambda c: operm5_pvalue(c, 1_000_000))], done


_RANK32 = {29: 0.0052854502, 30: 0.1283502644, 31: 0.5775761902, 32: 0.2887880952}
_RANK6X8 = {2: 0.149858e-06, 3: 0.808926e-04, 4: 0.936197e-02, 5: 0.217439, 6: 0.773118}


def _rank_runner(rows: int, cols: int, tsamples: int, probs: dict[int, float]) -> Runner:
    low = min(probs)
    expected = np.zeros(cols + 1)
    for rank, prob in probs.items():
        expected[rank] = tsamples * prob

    def run(w: np.ndarray, s: np.ndarray, ps: int, budget: int, compat: bool) -> Out:
        hist, done = kb.binary_rank(w, s, ps, budget, tsamples, rows, cols)
        pooled = hist.astype(float)
        pooled[:, low] = pooled[:, : low + 1].sum(axis=1)  # ranks ≤ low share one cell
        pooled[:, :low] = 0.0
        return [_each(pooled, done, lambda h: stats.pearson(h, expected))], done

    return run


def _missing_runner(kernel: Callable[..., tuple[np.ndarray, int]], mean: float, sigma: float,
                    *extra: int, wraps: bool = False) -> Runner:  # fmt: skip
    """``wraps``: the kernel takes ``compat`` (dieharder's counters that wrap at 256)."""

    def run(w: np.ndarray, s: np.ndarray, ps: int, budget: int, compat: bool) -> Out:
        tail = (*extra, compat) if wraps else extra
        missing, done = kernel(w, s, ps, budget, 2_097_152, *tail)
        return [_each(missing, done, lambda x: stats.normal_tail(float(x), mean, sigma))], done

    return run


def _letter_expectation(letters: int, tsamples: int) -> np.ndarray:
    probs = np.array([37, 56, 70, 56, 37]) / 256.0
    digits = np.arange(5**letters)
    out = np.full(5**letters, float(tsamples))
    for _ in range(letters):
        out *= probs[digits % 5]
        digits //= 5
    return out


def _count_1s_runner(kernel: Callable[..., tuple[np.ndarray, np.ndarray, int]]) -> Runner:
    exp4, exp5 = _letter_expectation(4, 256_000), _letter_expectation(5, 256_000)

    def run(w: np.ndarray, s: np.ndarray, ps: int, budget: int, compat: bool) -> Out:
        c4, c5, done = kernel(w, s, ps, budget, 256_000)
        q = [
            stats.normal_tail(
                stats.pearson_statistic(c5[i], exp5) - stats.pearson_statistic(c4[i], exp4),
                2500.0,
                math.sqrt(5000.0),
            )
            for i in range(done)
        ]
        return [np.array(q)], done

    return run


def _parking(w: np.ndarray, s: np.ndarray, ps: int, budget: int, compat: bool) -> Out:
    parked, done = ks.parking_lot(w, s, ps, budget, 12_000)
    return [_each(parked, done, lambda k: stats.normal_tail(float(k), 3523.0, 21.9))], done


def _circle(w: np.ndarray, s: np.ndarray, ps: int, budget: int, compat: bool) -> Out:
    dmin, done = ks.min_distance_2d(w, s, ps, budget, 8000)
    return [1.0 - np.exp(-(dmin[:done] ** 2) / 0.995)], done


def _sphere(w: np.ndarray, s: np.ndarray, ps: int, budget: int, compat: bool) -> Out:
    r3min, done = ks.min_distance_3d(w, s, ps, budget, 4000)
    return [1.0 - np.exp(-r3min[:done] / 30.0)], done


# Marsaglia's probabilities of j = 6 (or fewer), 7, …, 47, 48 (or more) squeeze steps
_SQUEEZE = np.array([
    0.00002103, 0.00005779, 0.00017554, 0.00046732, 0.00110783, 0.00236784, 0.00460944,
    0.00824116, 0.01362781, 0.02096849, 0.03017612, 0.04080197, 0.05204203, 0.06283828,
    0.07205637, 0.07869451, 0.08206755, 0.08191935, 0.07844008, 0.07219412, 0.06398679,
    0.05470931, 0.04519852, 0.03613661, 0.02800028, 0.02105567, 0.01538652, 0.01094020,
    0.00757796, 0.00511956, 0.00337726, 0.00217787, 0.00137439, 0.00084970, 0.00051518,
    0.00030666, 0.00017939, 0.00010324, 0.00005851, 0.00003269, 0.00001803, 0.00000982,
    0.00001121,
])  # fmt: skip


def _squeeze(w: np.ndarray, s: np.ndarray, ps: int, budget: int, compat: bool) -> Out:
    hist, done = ks.squeeze(w, s, ps, budget, 100_000)
    return [_each(hist, done, lambda h: stats.pearson(h, 100_000 * _SQUEEZE))], done


def _sums(w: np.ndarray, s: np.ndarray, ps: int, budget: int, compat: bool) -> Out:
    sums, done = ks.sums(w, s, ps, budget, 100)
    return [_each(sums, done, sums_pvalue_dieharder if compat else sums_pvalue)], done


# Knuth's covariance inverse for runs of length 1 … 5, 6+ (Grafton, AS 157) and the means
_RUNS_A = np.array([
    [4529.4, 9044.9, 13568.0, 18091.0, 22615.0, 27892.0],
    [9044.9, 18097.0, 27139.0, 36187.0, 45234.0, 55789.0],
    [13568.0, 27139.0, 40721.0, 54281.0, 67852.0, 83685.0],
    [18091.0, 36187.0, 54281.0, 72414.0, 90470.0, 111580.0],
    [22615.0, 45234.0, 67852.0, 90470.0, 113262.0, 139476.0],
    [27892.0, 55789.0, 83685.0, 111580.0, 139476.0, 172860.0],
])  # fmt: skip
_RUNS_B = np.array([1 / 6, 5 / 24, 11 / 120, 19 / 720, 29 / 5040, 1 / 840])


def _runs(w: np.ndarray, s: np.ndarray, ps: int, budget: int, compat: bool) -> Out:
    n = 100_000
    up, down, done = ks.runs(w, s, ps, budget, n)

    def q(h: np.ndarray) -> float:
        x = h - n * _RUNS_B
        return stats.chisq_q(6, float(x @ _RUNS_A @ x) / n)

    return [_each(up, done, q), _each(down, done, q)], done


def _craps_expected(games: int) -> np.ndarray:
    exp = np.zeros(21)
    exp[0] = 1.0 / 3.0
    for i in range(1, 20):
        exp[i] = (
            27.0 * (27.0 / 36.0) ** (i - 1)
            + 40.0 * (13.0 / 18.0) ** (i - 1)
            + 55.0 * (25.0 / 36.0) ** (i - 1)
        ) / 648.0
    exp[20] = 1.0 - float(np.sum(exp[:20]))
    return exp * games


def _craps(w: np.ndarray, s: np.ndarray, ps: int, budget: int, compat: bool) -> Out:
    games, p = 200_000, 244.0 / 495.0
    wins, throws, done = ks.craps(w, s, ps, budget, games)
    mean, sigma = games * p, math.sqrt(games * p * (1.0 - p))
    exp = _craps_expected(games)
    return [
        _each(wins, done, lambda x: stats.normal_tail(float(x), mean, sigma)),
        _each(throws, done, lambda h: stats.pearson(h, exp)),
    ], done


_WRAP = (
    "dieharder's cell counters are chars that wrap at 256: a word seen 256·k times "
    "counts as missing"
)
_T = DiehardTest
TESTS: tuple[DiehardTest, ...] = (
    _T(0, "diehard_birthdays", "Diehard Birthdays Test", 100, 100,
       38_400, 38_400, True, None, 1, _birthdays,
       "dieharder's repeat count skips the spacing after a repeated one, so it misses a "
       "value repeated twice right after another repeated value"),
    _T(1, "diehard_operm5", "Diehard OPERM5 Test", 1_000_000, 100,
       1_000_005, 1_000_005, True, None, 1, _operm5),
    _T(2, "diehard_rank_32x32", "Diehard 32x32 Binary Rank Test", 40_000, 100,
       1_280_000, 1_280_000, True, None, 1, _rank_runner(32, 32, 40_000, _RANK32)),
    _T(3, "diehard_rank_6x8", "Diehard 6x8 Binary Rank Test", 100_000, 100,
       600_000, 600_000, True, None, 1, _rank_runner(6, 8, 100_000, _RANK6X8)),
    _T(4, "diehard_bitstream", "Diehard Bitstream Test", 2_097_152, 100,
       262_146, 262_146, True, None, 1,
       _missing_runner(kb.bitstream, 141909.0, 428.0, 262_146, wraps=True), _WRAP),
    _T(5, "diehard_opso", "Diehard OPSO", 2_097_152, 100,
       2_097_152, 2_097_152, True, "suspect", 1,
       _missing_runner(kb.opso, 141909.3299550069, 290.4622634038)),
    _T(6, "diehard_oqso", "Diehard OQSO Test", 2_097_152, 100,
       1_398_104, 1_398_104, True, "suspect", 1,
       _missing_runner(kb.oqso, 141909.6005321316, 294.6558723658)),
    _T(7, "diehard_dna", "Diehard DNA Test", 2_097_152, 100,
       655_371, 655_371, True, "suspect", 1,
       _missing_runner(kb.dna, 141910.4026047629, 337.2901506904, wraps=True), _WRAP),
    _T(8, "diehard_count_1s_str", "Diehard Count the 1s (stream) Test", 256_000, 100,
       64_001, 64_001, True, None, 1, _count_1s_runner(ks.count_1s_stream)),
    _T(9, "diehard_count_1s_byt", "Diehard Count the 1s Test (byte)", 256_000, 100,
       1_280_000, 1_280_000, True, None, 1, _count_1s_runner(ks.count_1s_byte)),
    _T(10, "diehard_parking_lot", "Diehard Parking Lot Test", 12_000, 100,
       24_000, 24_000, True, None, 1, _parking),
    _T(11, "diehard_2dsphere", "Diehard Minimum Distance (2d Circle) Test", 8000, 100,
       16_000, 16_000, False, None, 1, _circle),
    _T(12, "diehard_3dsphere", "Diehard 3d Sphere (Minimum Distance) Test", 4000, 100,
       12_000, 12_000, False, None, 1, _sphere),
    _T(13, "diehard_squeeze", "Diehard Squeeze Test", 100_000, 100,
       2_310_000, 2_310_000, False, None, 1, _squeeze),
    _T(14, "diehard_sums", "Diehard Sums Test", 100, 100,
       199, 199, True, "do not use", 1, _sums,
       "dieharder replaces the whitening of the overlapping sums by a three-term recurrence "
       "that does not make them independent"),
    _T(15, "diehard_runs", "Diehard Runs Test", 100_000, 100,
       100_000, 100_000, True, None, 2, _runs),
    _T(16, "diehard_craps", "Diehard Craps Test", 200_000, 100,
       1_350_000, 1_350_000, False, None, 2, _craps),
)  # fmt: skip


def find_test(key: str) -> DiehardTest:
    """The test named by dieharder's number (``"5"``) or name (``"diehard_opso"``, ``"opso"``)."""
    text = key.strip().lower()
    for test in TESTS:
        if text in (str(test.number), test.name, test.name.removeprefix("diehard_")):
            return test
    raise KeyError(key)
