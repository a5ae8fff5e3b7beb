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

from diamp.analysis.diehard._reader import take

_MASK32 = 0xFFFFFFFF


@nb.njit(cache=True, nogil=True)
def birthdays(words, state, psamples, budget, tsamples, kmax, compat):  # pragma: no cover
    """Repeated-spacing histograms of 512 birthdays of 24 bits, ``tsamples`` per repetition.

    Birthday i is bits [24i, 24i + 24) of the word stream read as one little-endian number
    (the reference's bit buffer), so on a little-endian file it is bytes 3i … 3i + 2.
    The statistic is the number of spacing values that occur more than once (Marsaglia),
    or with ``compat`` dieharder's count of it (:func:`_repeats_dieharder`).
    """
    hist = np.zeros((psamples, kmax), np.int64)
    days = np.empty(512, np.uint32)
    gaps = np.empty(512, np.uint32)
    done = 0
    for p in range(psamples):
        seg = take(words, state, tsamples * 384)  # 512 · 24 bits = 384 words per sample
        acc = np.uint64(0)
        nacc = 0
        i = 0
        for _ in range(tsamples):
            for m in range(512):
                if nacc < 24:
                    acc |= np.uint64(seg[i]) << np.uint64(nacc)
                    i += 1
                    nacc += 32
                days[m] = np.uint32(acc & np.uint64(0xFFFFFF))
                acc >>= np.uint64(24)
                nacc -= 24
            days.sort()
            gaps[0] = days[0]
            for m in range(1, 512):
                gaps[m] = days[m] - days[m - 1]
            gaps.sort()
            k = _repeats_dieharder(gaps) if compat else _repeats(gaps)
            if k < kmax:
                hist[p, k] += 1
        done = p + 1
        if 0 <= budget < state[1]:
            break
    return hist, done


@nb.njit(cache=True, nogil=True)
def _repeats(gaps):  # pragma: no cover - numba
    """Marsaglia's j: how many distinct values occur more than once in the sorted ``gaps``."""
    k = 0
    for m in range(1, gaps.size):
        if gaps[m] == gaps[m - 1] and (m == 1 or gaps[m - 1] != gaps[m - 2]):
            k += 1
    return k


@nb.njit(cache=True, nogil=True)
def _repeats_dieharder(gaps):  # pragma: no cover - numba
    """Values occurring more than once, counted as dieharder 3.31.1 does.

    After a run of equal values the scan resumes two places past the run's last element,
    so a run of two that starts right after another run is not counted (a deviation from
    Marsaglia's "number of values that occur more than once"; reproduced for comparison).
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
def _kperm(values, first, w):  # pragma: no cover - numba
    """Index 0 … 119 of the ordering of values[first : first + 5] (signed comparisons).

    For i = 4 … 1 the (last) largest of w[0..i] is a mixed-radix digit and is swapped to
    w[i] (dieharder's ``kperm``, which compares the words as signed 32-bit integers).
    """
    for i in range(5):
        w[i] = values[first + i]
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
    scratch = np.empty(5, np.int64)
    done = 0
    for p in range(psamples):
        seg = take(words, state, tsamples + 5)  # the word after the last window is read too
        signed = np.empty(seg.size, np.int64)
        for i in range(seg.size):
            x = np.int64(seg[i])
            signed[i] = x - 4294967296 if x >= 2147483648 else x
        for t in range(tsamples):
            counts[p, _kperm(signed, t, scratch)] += 1
        done = p + 1
        if 0 <= budget < state[1]:
            break
    return counts, done


@nb.njit(cache=True, nogil=True)
def _rank(rows, ncols):  # pragma: no cover - numba
    """GF(2) rank of the rows' low ``ncols`` bits (rows, int64, is modified).

    Gauss–Jordan: the pivot row of column j clears bit j from every other row with a
    mask instead of a branch, so the inner loop vectorises.
    """
    nrows = rows.size
    rank = 0
    for j in range(ncols):
        if rank == nrows:
            break
        pivot = -1
        for k in range(rank, nrows):
            if (rows[k] >> j) & 1:
                pivot = k
                break
        if pivot < 0:
            continue
        top = rows[pivot]
        rows[pivot] = rows[rank]
        rows[rank] = top
        for k in range(nrows):
            rows[k] ^= top & -((rows[k] >> j) & 1)
        rows[rank] = top
        rank += 1
    return rank


@nb.njit(cache=True, nogil=True)
def binary_rank(words, state, psamples, budget, tsamples, nrows, ncols):  # pragma: no cover
    """Histogram of GF(2) ranks of ``nrows`` consecutive words (their low ``ncols`` bits)."""
    hist = np.zeros((psamples, ncols + 1), np.int64)
    rows = np.empty(nrows, np.int64)
    done = 0
    for p in range(psamples):
        seg = take(words, state, tsamples * nrows)
        for t in range(tsamples):
            for i in range(nrows):
                rows[i] = np.int64(seg[t * nrows + i])
            hist[p, _rank(rows, ncols)] += 1
        done = p + 1
        if 0 <= budget < state[1]:
            break
    return hist, done


@nb.njit(cache=True, nogil=True)
def bitstream(words, state, psamples, budget, tsamples, nwords, compat):  # pragma: no cover
    """Missing 20-bit words among ``tsamples`` overlapping ones (bits MSB-first per word).

    A word is missing when it never occurs (Marsaglia); with ``compat``, also when it
    occurs a multiple of 256 times (dieharder's ``char`` counters wrap).
    """
    missing = np.zeros(psamples, np.int64)
    seen = np.empty(1 << 20, np.uint8)
    done = 0
    for p in range(psamples):
        buf = take(words, state, nwords)
        seen[:] = 0
        scratch = np.int64(buf[0])
        for t in range(tsamples):
            if t % 8 == 0:  # shift in the next byte, most significant byte of a word first
                byte = (np.int64(buf[t // 32 + 1]) >> (24 - 8 * ((t % 32) // 8))) & 0xFF
                scratch = ((scratch << 8) & _MASK32) | byte
            w20 = ((scratch << (t % 8)) & _MASK32) >> 12
            if compat:
                seen[w20] += np.uint8(1)  # dieharder's char counter, wrapping at 256
            else:
                seen[w20] = 1
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
        seg = take(words, state, 2 * ((tsamples + 1) // 2))
        for t in range(tsamples):
            a = np.int64(seg[2 * (t // 2)]) >> (10 * (t % 2))
            b = np.int64(seg[2 * (t // 2) + 1]) >> (10 * (t % 2))
            seen[((a & 0x3FF) << 10) | (b & 0x3FF)] = 1
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
    done = 0
    for p in range(psamples):
        seen[:] = 0
        seg = take(words, state, 4 * ((tsamples + 5) // 6))
        for t in range(tsamples):
            base, shift = 4 * (t // 6), 5 * (t % 6)
            index = np.int64(0)
            for i in range(4):
                index = (index << 5) | ((np.int64(seg[base + i]) >> shift) & 0x1F)
            seen[index] = 1
        missing[p] = np.sum(seen == 0)
        done = p + 1
        if 0 <= budget < state[1]:
            break
    return missing, done


@nb.njit(cache=True, nogil=True)
def dna(words, state, psamples, budget, tsamples, compat):  # pragma: no cover - numba
    """Missing 10-letter words; letter s of a group of ten words is bits s, s+1 (cyclic).

    ``compat``: a word seen a multiple of 256 times also counts as missing (dieharder).
    """
    missing = np.zeros(psamples, np.int64)
    seen = np.empty(1 << 20, np.uint8)
    index = np.empty(32, np.int64)
    done = 0
    for p in range(psamples):
        seg = take(words, state, 11 + 10 * ((tsamples + 31) // 32))  # 11 read, never used
        seen[:] = 0
        for g in range((tsamples + 31) // 32):  # the 32 words of a group of ten at once
            index[:] = 0
            for i in range(10):
                x = np.int64(seg[11 + 10 * g + i])
                doubled = x | (x << 32)  # (doubled >> s) & 3 is bits s, s+1 of x, cyclic
                for s in range(32):
                    index[s] = (index[s] << 2) | ((doubled >> s) & 3)
            for s in range(min(32, tsamples - 32 * g)):
                if compat:
                    seen[index[s]] += np.uint8(1)  # dieharder's char counter, wrapping at 256
                else:
                    seen[index[s]] = 1
        missing[p] = np.sum(seen == 0)
        done = p + 1
        if 0 <= budget < state[1]:
            break
    return missing, done


@nb.njit(cache=True, nogil=True)
def ordering_pairs(size, lag):  # pragma: no cover - numba
    """Counts of (ordering of a[0:5], ordering of a[lag:lag+5]) over permutations a.

    Every permutation of range(size) is visited once (Heap's algorithm); OPERM5's
    covariance is made from these counts.
    """
    a = np.arange(size).astype(np.int64)
    c = np.zeros(size, np.int64)
    w = np.empty(5, np.int64)
    joint = np.zeros((120, 120), np.int64)
    joint[_kperm(a, 0, w), _kperm(a, lag, w)] += 1
    i = 0
    while i < size:
        if c[i] < i:
            j = 0 if i % 2 == 0 else c[i]
            a[j], a[i] = a[i], a[j]
            joint[_kperm(a, 0, w), _kperm(a, lag, w)] += 1
            c[i] += 1
            i = 0
        else:
            c[i] = 0
            i += 1
    return joint
