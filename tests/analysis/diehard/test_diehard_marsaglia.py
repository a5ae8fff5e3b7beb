"""Where dieharder departs from Marsaglia: default = Marsaglia (slow oracle), compat = dieharder.

Crafted inputs make each departure visible in the p-values: a bitstream psample in which
the 20-bit word 0 occurs exactly 256 times, a DNA psample in which the word AAAAAAAAAA
occurs exactly 256 times (dieharder's char counters wrap to 0: "missing"), birthday
samples whose sorted spacings hold a repeated value right after another repeated value
(dieharder's count skips it), and ordinary bytes for the sums test (dieharder's recurrence
does not whiten the sums). On each, diamp's default equals the pure-Python implementation
of Marsaglia's description (_marsaglia_oracles), differs from dieharder, and
``dieharder_compat`` equals dieharder within 1e-6.
"""

from __future__ import annotations

import itertools
import math
import os
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import _diehard_oracles as dieharder_style
import _marsaglia_oracles as marsaglia
import numpy as np
import pytest
from _dieharder import run_dieharder
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import special

from diamp.analysis.diehard import TESTS, DiehardOutcome, find_test, run_battery, words_from_bytes
from diamp.analysis.diehard import _kernels_bits as kb
from diamp.analysis.diehard.stats import kstest
from diamp.analysis.diehard.sums import sums_pvalue, sums_pvalue_dieharder

PAD = 16  # words past the end of what the tests read: neither tool needs to rewind


def start() -> np.ndarray:
    return np.zeros(2, dtype=np.int64)


def _bits(words: np.ndarray) -> np.ndarray:
    """The words' bits, most significant first within each word."""
    return np.unpackbits(words.astype(">u4").view(np.uint8))


def _zero_bitstream_windows(words: np.ndarray, windows: int = 2**21) -> int:
    ones = np.concatenate([[0], np.cumsum(_bits(words), dtype=np.int64)])
    t = np.arange(windows)
    return int(np.count_nonzero(ones[28 + t] - ones[8 + t] == 0))


def bitstream_with_a_word_256_times() -> np.ndarray:
    """One psample (262,146 words) where the 20-bit word 0 occurs exactly 256 times.

    A run of 275 zero bits between two ones holds 256 zero windows; seeds are tried until
    no zero window occurs elsewhere.
    """
    for seed in range(100):
        w = np.random.default_rng(seed).integers(0, 2**32, 262_146 + PAD, dtype=np.uint32)
        bits = _bits(w)
        bits[1000:1275] = 0
        bits[999] = bits[1275] = 1
        w = np.packbits(bits).view(">u4").astype(np.uint32)
        if _zero_bitstream_windows(w) == 256:
            return w
    raise AssertionError("no seed gave exactly 256 zero words")  # pragma: no cover


def _zero_dna_words(groups: np.ndarray) -> int:
    """Words AAAAAAAAAA (all letters 0) among the 32 of each group of ten words."""
    union = np.bitwise_or.reduce(groups.astype(np.uint64), axis=1)
    doubled = union | (union << np.uint64(32))
    return sum(int(np.count_nonzero((doubled >> np.uint64(s)) & np.uint64(3) == 0))
               for s in range(32))  # fmt: skip


def dna_with_a_word_256_times() -> np.ndarray:
    """One psample (655,371 words) where the word of ten 0-letters occurs exactly 256 times.

    Eight groups of ten zero words give it 32 times each; seeds are tried until the other
    65,528 groups never give it.
    """
    for seed in range(100):
        w = np.random.default_rng(seed).integers(0, 2**32, 655_371 + PAD, dtype=np.uint32)
        w[11:91] = 0
        if _zero_dna_words(w[11:655_371].reshape(-1, 10)) == 256:
            return w
    raise AssertionError("no seed gave exactly 256 zero words")  # pragma: no cover


def _spacing_counts(days: list[int]) -> dict[int, int]:
    ordered = sorted(days)
    spacings = [ordered[0]] + [b - a for a, b in itertools.pairwise(ordered)]
    return {v: spacings.count(v) for v in (1, 2)}


def birthdays_with_adjacent_repeats(psamples: int = 2) -> np.ndarray:
    """Birthday samples where spacing 1 occurs twice (or three times) and 2 twice.

    Samples 3k get days x, x+1, x+2 and y, y+2, y+4; samples 3k+1 get x … x+3 and the
    same y's (a triple then a pair); samples 3k+2 are left alone. In sorted order the two
    repeated values are neighbours, so dieharder's count misses the 2s; Marsaglia's j
    counts both. Birthday i of a sample is bytes 3i … 3i+2, little-endian.
    """
    rng = np.random.default_rng(19)
    out = bytearray()
    for t in range(100 * psamples):
        while True:
            days = [int(d) for d in rng.integers(0, 2**24, 512)]
            if t % 3 == 2:
                break
            x, y = int(rng.integers(0, 2**23 - 8)), int(rng.integers(2**23, 2**24 - 8))
            ones = 2 if t % 3 == 0 else 3
            days[: ones + 1] = [x + i for i in range(ones + 1)]
            days[ones + 1 : ones + 4] = [y, y + 2, y + 4]
            if _spacing_counts(days) == {1: ones, 2: 2}:
                break
        out += b"".join(d.to_bytes(3, "little") for d in days)
    return np.concatenate([words_from_bytes(bytes(out)), np.zeros(PAD, np.uint32)])


def _uniform_words() -> np.ndarray:
    return words_from_bytes(os.urandom(4 * (3 * 199 + PAD)))


# (test name, psamples, words of one psample, input, Marsaglia's p-value of one psample)
Case = tuple[str, int, int, Callable[[], np.ndarray], Callable[[list[int]], float]]
CASES: list[Case] = [
    ("diehard_birthdays", 2, 38_400, birthdays_with_adjacent_repeats, marsaglia.birthdays_pvalue),
    ("diehard_bitstream", 1, 262_146, bitstream_with_a_word_256_times, marsaglia.bitstream_pvalue),
    ("diehard_dna", 1, 655_371, dna_with_a_word_256_times, marsaglia.dna_pvalue),
    ("diehard_sums", 3, 199, _uniform_words, marsaglia.sums_pvalue),
]


def _both(words: np.ndarray, name: str, psamples: int) -> tuple[DiehardOutcome, DiehardOutcome]:
    test = find_test(name)
    default = run_battery(words, [test], psamples, workers=1).results[0]
    compat = run_battery(words, [test], psamples, dieharder_compat=True, workers=1).results[0]
    return default, compat


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=lambda c: c[0])
def test_default_is_marsaglia_and_compat_is_dieharder(case: Case, tmp_path: Path) -> None:
    name, psamples, each, make, oracle = case
    words = make()
    path = tmp_path / f"{name}.bin"
    path.write_bytes(words.astype("<u4").tobytes())
    default, compat = _both(words, name, psamples)
    assert default.follows == "marsaglia" and compat.follows == "dieharder"
    assert default.status == compat.status == "ok" and not default.rewound

    expected = [oracle(words[k * each : (k + 1) * each].tolist()) for k in range(psamples)]
    np.testing.assert_allclose(default.pvalues[0], expected, rtol=0, atol=1e-9)

    ref = run_dieharder(path, find_test(name).number, psamples)
    np.testing.assert_allclose(np.sort(compat.pvalues[0]), ref.pvalues[0], rtol=0, atol=1e-6)
    np.testing.assert_allclose(compat.final_pvalues, ref.final, rtol=0, atol=1e-6)
    assert np.max(np.abs(np.sort(default.pvalues[0]) - ref.pvalues[0])) > 1e-4


def test_crafted_bitstream_and_dna_differ_by_exactly_the_wrapped_word() -> None:
    """dieharder's count is Marsaglia's plus one: the word seen 256 times."""
    w = bitstream_with_a_word_256_times()
    counts = [kb.bitstream(w, start(), 1, -1, 2**21, 262_146, c)[0][0] for c in (False, True)]
    assert counts[1] == counts[0] + 1
    w = dna_with_a_word_256_times()
    counts = [kb.dna(w, start(), 1, -1, 2**21, c)[0][0] for c in (False, True)]
    assert counts[1] == counts[0] + 1


def test_crafted_birthdays_differ_in_two_thirds_of_the_samples() -> None:
    """dieharder's count is lower by at least one in each of the 67 crafted samples."""
    w = birthdays_with_adjacent_repeats(1)
    hists = [kb.birthdays(w, start(), 1, -1, 100, 64, c)[0][0] for c in (False, True)]
    js = [marsaglia.birthday_j(_days(w, t)) for t in range(100)]
    assert hists[0].tolist() == np.bincount(js, minlength=64).tolist()
    dieharders = dieharder_style.birthdays(w[: 100 * 384].tolist(), 100)
    assert hists[1].tolist() == np.bincount(dieharders, minlength=64).tolist()
    missed = [j - k for j, k in zip(js, dieharders, strict=True)]
    assert all(d >= 1 for t, d in enumerate(missed) if t % 3 != 2) and min(missed) == 0


def _days(words: np.ndarray, t: int) -> list[int]:
    data = words.astype("<u4").tobytes()[1536 * t : 1536 * (t + 1)]
    return [int.from_bytes(data[3 * i : 3 * i + 3], "little") for i in range(512)]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(0, 12), min_size=1, max_size=40))
def test_repeat_counts_on_any_sorted_list(values: list[int]) -> None:
    """Marsaglia's count is the number of values seen twice or more; dieharder's never
    exceeds it and equals it when no repeated value directly follows another."""
    gaps = np.array(sorted(values), np.uint32)
    marsaglias = sum(1 for c in Counter(values).values() if c > 1)
    assert kb._repeats(gaps) == marsaglias
    assert kb._repeats_dieharder(gaps) <= marsaglias
    distinct = sorted(set(values))
    neighbours = any(
        values.count(a) > 1 and values.count(b) > 1 for a, b in itertools.pairwise(distinct)
    )
    if not neighbours:
        assert kb._repeats_dieharder(gaps) == marsaglias


@pytest.mark.parametrize("seed", [21, 22])
def test_birthday_count_on_random_samples(seed: int) -> None:
    w = np.random.default_rng(seed).integers(0, 2**32, 40 * 384, dtype=np.uint32)
    w[::7] &= 0xFF  # small birthdays: more repeated spacings
    hist, _ = kb.birthdays(w, start(), 1, -1, 40, 64, False)
    js = [marsaglia.birthday_j(_days(w, t)) for t in range(40)]
    assert hist[0].tolist() == np.bincount(js, minlength=64).tolist()


def test_small_bitstream_and_dna_against_marsaglia() -> None:
    w = np.random.default_rng(23).integers(0, 2**32, 4000, dtype=np.uint32)
    w[100:140] = 0  # one word many times (more than 256)
    missing, _ = kb.bitstream(w, start(), 1, -1, 100_000, 4000, False)
    assert missing[0] == marsaglia.bitstream_missing(w.tolist(), 100_000)
    missing, _ = kb.dna(w, start(), 1, -1, 12_000, False)
    assert missing[0] == marsaglia.dna_missing(w.tolist(), 12_000)


@pytest.mark.parametrize("seed", [24, 25, 26])
def test_sums_against_the_pure_python_cholesky(seed: int) -> None:
    w = np.random.default_rng(seed).integers(0, 2**32, 199, dtype=np.uint32)
    u = w / 4294967295.0
    sums = np.array([math.fsum(u[t : t + 100]) for t in range(100)])
    assert sums_pvalue(sums) == pytest.approx(marsaglia.sums_pvalue(w.tolist()), abs=1e-9)


def test_dieharders_sums_recurrence_does_not_whiten() -> None:
    """Its covariance M·T·Mᵀ is off the identity by 0.068 (the figure in the docs)."""
    m = 100
    t = np.maximum(m - np.abs(np.subtract.outer(np.arange(m), np.arange(m))), 0).astype(float)
    mat = np.zeros((m, m))
    mat[0, 0] = 1 / math.sqrt(m)
    mat[1, :2] = [-(m - 1) / math.sqrt((2 * m - 1) * m), math.sqrt(m / (2 * m - 1))]
    for i in range(2, m):
        a = 2 * m + 1 - i
        b = 2 * a - 2
        mat[i, i - 2 : i + 1] = [1 / math.sqrt(a * b), -math.sqrt((a - 1) / (b + 2)),
                                 math.sqrt(a / b)]  # fmt: skip
    assert np.max(np.abs(mat @ t @ mat.T - np.eye(m))) == pytest.approx(0.068, abs=5e-4)
    inverse = np.linalg.inv(np.linalg.cholesky(t))
    assert np.max(np.abs(inverse @ t @ inverse.T - np.eye(m))) < 1e-9
    sums = np.convolve(np.random.default_rng(27).random(199), np.ones(m), "valid")
    y = (sums - m / 2) * math.sqrt(12.0)
    assert sums_pvalue_dieharder(sums) == pytest.approx(kstest(special.ndtr(mat @ y)), abs=1e-12)


def test_every_departure_is_named() -> None:
    differing = {t.name for t in TESTS if t.differs is not None}
    assert differing == {c[0] for c in CASES}
