"""numba kernels of the bit-pattern tests (birthdays, OPERM5, ranks, bitstream, OPSO, OQSO, DNA).

Every kernel reads words through :mod:`._reader` from ``state`` (next index, words read),
runs up to ``psamples`` repetitions of its test and stops early once more than ``budget``
words have been read (``budget < 0``: never). It returns the raw statistic of each
repetition (counts, histograms) and ``done``, the repetitions completed; p-values are made
from the statistics in Python (:mod:`.tests`). Bit orders are those of dieharder 3.31.1,
stated in each kernel.
"""

# mypy: disable-error-code="no-untyped-def"

from __future__ import annotations

import numba as nb
import numpy as np

from diamp.analysis.diehard._reader import next_word

# ruff: noqa: D103  (private kernels, documented by the module and the callers)

_MASK32 = 0xFFFFFFFF


@nb.njit(cache=True, nogil=True)
def birthdays(words, state, psamples, budget, tsamples, kmax):  # pragma: no cover - numba
    """Repeated-spacing histograms of 512 birthdays of 24 bits, ``tsamples`` per repetition.

    Birthday i is bits [24i, 24i + 24) of the word stream read as one little-endian number
    (the reference's bit buffer), so on a little-endian file it is bytes 3i … 3i + 2.
    """
    hist = np.zeros((psamples, kmax), np.int64)
    acc = np.uint64(0)
    nacc = 0
    days = np.empty(512, np.uint32)
    gaps = np.empty(512, np.uint32)
    done = 0
    for p in range(psamples):
        for _ in range(tsamples):
            for m in range(512):
                if nacc < 24:
                    acc |= np.uint64(next_word(words, state)) << np.uint64(nacc)
                    nacc += 32
                days[m] = np.uint32(acc & np.uint64(0xFFFFFF))
                acc >>= np.uint64(24)
                nacc -= 24
            days.sort()
            gaps[0] = days[0]
            for m in range(1, 512):
                gaps[m] = days[m] - days[m - 1]
            gaps.sort()
            k = _repeats(gaps)
            if k < kmax:
                hist[p, k] += 1
        done = p + 1
        if 0 <= budget < state[1]:
            break
    return hist, done


@nb.njit(cache=True, nogil=True)
def _repeats(gaps):  # pragma: no cover - numba
    """Values occurring more than once, counted as the reference does.

    After a run of equal values the scan resumes two places past the run's last element,
    so a run that starts right after another one is not counted (dieharder 3.31.1).
    """
    n = gaps.size
    k = 0
    m = 0
    while m < n - 1:
        nxt = m + 1
        while nxt < n and gaps[m] == gaps[nxt]:
            if nxt == m + 1:
                k += 1
            nxt += 1
        if nxt != m + 1:
            m = nxt
        m += 1
    return k


@nb.njit(cache=True, nogil=True)
def _kperm(v, first):  # pragma: no cover - numba
    """Index 0 … 119 of the ordering of five words (compared as signed 32-bit integers)."""
    w = np.empty(5, np.int32)
    for i in range(5):
        w[i] = np.int32(v[(i + first) % 5])
    index = 0
    for i in range(4, 0, -1):
        top = w[0]
        k = 0
        for j in range(1, i + 1):
            if top <= w[j]:
                top = w[j]
                k = j
        index = (i + 1) * index + k
        w[i], w[k] = w[k], w[i]
    return index


@nb.njit(cache=True, nogil=True)
def operm5(words, state, psamples, budget, tsamples):  # pragma: no cover - numba
    """Counts of the 120 orderings of overlapping 5-word windows, ``tsamples`` per repetition."""
    counts = np.zeros((psamples, 120), np.int64)
    v = np.empty(5, np.uint32)
    done = 0
    for p in range(psamples):
        for i in range(5):
            v[i] = next_word(words, state)
        first = 0
        for _ in range(tsamples):
            counts[p, _kperm(v, first)] += 1
            v[first] = next_word(words, state)
            first = (first + 1) % 5
        done = p + 1
        if 0 <= budget < state[1]:
            break
    return counts, done


@nb.njit(cache=True, nogil=True)
def _rank(rows, ncols):  # pragma: no cover - numba
    """GF(2) rank of the rows' low ``ncols`` bits (rows is modified)."""
    nrows = rows.size
    rank = 0
    for j in range(ncols):
        if rank == nrows:
            break
        mask = np.uint32(1) << np.uint32(j)
        pivot = -1
        for k in range(rank, nrows):
            if rows[k] & mask:
                pivot = k
                break
        if pivot < 0:
            continue
        rows[rank], rows[pivot] = rows[pivot], rows[rank]
        for k in range(rank + 1, nrows):
            if rows[k] & mask:
                rows[k] ^= rows[rank]
        rank += 1
    return rank


@nb.njit(cache=True, nogil=True)
def binary_rank(words, state, psamples, budget, tsamples, nrows, ncols):  # pragma: no cover
    """Histogram of GF(2) ranks of ``nrows`` consecutive words (their low ``ncols`` bits)."""
    hist = np.zeros((psamples, ncols + 1), np.int64)
    rows = np.empty(nrows, np.uint32)
    done = 0
    for p in range(psamples):
        for _ in range(tsamples):
            for i in range(nrows):
                rows[i] = next_word(words, state)
            hist[p, _rank(rows, ncols)] += 1
        done = p + 1
        if 0 <= budget < state[1]:
            break
    return hist, done


@nb.njit(cache=True, nogil=True)
def bitstream(words, state, psamples, budget, tsamples, nwords):  # pragma: no cover - numba
    """Missing 20-bit words among ``tsamples`` overlapping ones (bits MSB-first per word)."""
    missing = np.zeros(psamples, np.int64)
    buf = np.empty(nwords, np.uint32)
    seen = np.empty(1 << 20, np.uint8)
    done = 0
    for p in range(psamples):
        for i in range(nwords):
            buf[i] = next_word(words, state)
        seen[:] = 0
        scratch = np.int64(buf[0])
        for t in range(tsamples):
            if t % 8 == 0:  # shift in the next byte, most significant byte of a word first
                byte = (np.int64(buf[t // 32 + 1]) >> (24 - 8 * ((t % 32) // 8))) & 0xFF
                scratch = ((scratch << 8) & _MASK32) | byte
            w20 = ((scratch << (t % 8)) & _MASK32) >> 12
            seen[w20] += np.uint8(1)  # a char counter, wrapping at 256 as the reference's
        missing[p] = np.sum(seen == 0)
        done = p + 1
        if 0 <= budget < state[1]:
            break
    return missing, done


@nb.njit(cache=True, nogil=True)
def opso(words, state, psamples, budget, tsamples):  # pragma: no cover - numba
    """Missing 2-letter words, letters = bits 0-9 then 10-19 of a pair of words."""
    missing = np.zeros(psamples, np.int64)
    seen = np.empty(1 << 20, np.uint8)
    done = 0
    for p in range(psamples):
        seen[:] = 0
        a = np.int64(0)
        b = np.int64(0)
        for t in range(tsamples):
            if t % 2 == 0:
                a = np.int64(next_word(words, state))
                b = np.int64(next_word(words, state))
                j, k = a & 0x3FF, b & 0x3FF
            else:
                j, k = (a >> 10) & 0x3FF, (b >> 10) & 0x3FF
            seen[(j << 10) | k] = 1
        missing[p] = np.sum(seen == 0)
        done = p + 1
        if 0 <= budget < state[1]:
            break
    return missing, done


@nb.njit(cache=True, nogil=True)
def oqso(words, state, psamples, budget, tsamples):  # pragma: no cover - numba
    """Missing 4-letter words; letters are bits 5s … 5s+4 of four words, s = 0 … 5."""
    missing = np.zeros(psamples, np.int64)
    seen = np.empty(1 << 20, np.uint8)
    four = np.zeros(4, np.int64)
    done = 0
    for p in range(psamples):
        seen[:] = 0
        shift = 0
        for t in range(tsamples):
            if t % 6 == 0:
                for i in range(4):
                    four[i] = np.int64(next_word(words, state))
                shift = 0
            index = 0
            for i in range(4):
                index = (index << 5) | ((four[i] >> shift) & 0x1F)
            seen[index] = 1
            shift += 5
        missing[p] = np.sum(seen == 0)
        done = p + 1
        if 0 <= budget < state[1]:
            break
    return missing, done


@nb.njit(cache=True, nogil=True)
def dna(words, state, psamples, budget, tsamples):  # pragma: no cover - numba
    """Missing 10-letter words; letter s of a group of ten words is bits s, s+1 (cyclic)."""
    missing = np.zeros(psamples, np.int64)
    seen = np.empty(1 << 20, np.uint8)
    ten = np.zeros(10, np.int64)
    done = 0
    for p in range(psamples):
        for _ in range(11):  # read and never used by the reference
            next_word(words, state)
        seen[:] = 0
        shift = 0
        for t in range(tsamples):
            if t % 32 == 0:
                for i in range(10):
                    ten[i] = np.int64(next_word(words, state))
                shift = 0
            index = 0
            for i in range(10):
                x = ten[i]
                letter = ((x >> shift) | (x << (32 - shift))) & 3 if shift else x & 3
                index = (index << 2) | letter
            seen[index] += np.uint8(1)  # a char counter, wrapping at 256 as the reference's
            shift += 1
        missing[p] = np.sum(seen == 0)
        done = p + 1
        if 0 <= budget < state[1]:
            break
    return missing, done
