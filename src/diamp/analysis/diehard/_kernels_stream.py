"""numba kernels of the counting and floating-point tests (count-the-1s … craps).

Same contract as :mod:`._kernels_bits`: read through ``state``, stop after ``budget``
words (``budget < 0``: never), return raw statistics and ``done``. A word is floated
as word / UINT_MAX, the reference's file input (:func:`._reader.uniform`).
"""

# mypy: disable-error-code="no-untyped-def"

from __future__ import annotations

import math

import numba as nb
import numpy as np

from diamp.analysis.diehard._reader import UINT_MAX, die, take, uniform, uniform_pos


def _letter_table() -> np.ndarray:
    """Marsaglia's letter of each byte: 0-2 ones → 0, 3 → 1, 4 → 2, 5 → 3, 6-8 → 4."""
    ones = np.array([bin(b).count("1") for b in range(256)])
    table: np.ndarray = np.clip(ones - 2, 0, 4).astype(np.int64)
    return table


_LETTER = _letter_table()


@nb.njit(cache=True, nogil=True)
def _letter(byte):  # pragma: no cover - numba
    return _LETTER[byte]


@nb.njit(cache=True, nogil=True)
def count_1s_stream(words, state, psamples, budget, tsamples):  # pragma: no cover - numba
    """Counts of overlapping 4- and 5-letter words, letters from successive bytes.

    Bytes are taken least significant first within each word; the first word only
    primes the 5-letter window.
    """
    c4 = np.zeros((psamples, 625), np.int64)
    c5 = np.zeros((psamples, 3125), np.int64)
    done = 0
    for p in range(psamples):
        seg = take(words, state, 1 + (tsamples + 3) // 4)
        index = 0
        for b in range(4):
            index = index * 5 + _letter((np.int64(seg[0]) >> (8 * b)) & 0xFF)
        for t in range(tsamples):
            byte = (np.int64(seg[1 + t // 4]) >> (8 * (t % 4))) & 0xFF
            index = (index * 5 + _letter(byte)) % 3125
            c5[p, index] += 1
            c4[p, index % 625] += 1
        done = p + 1
        if 0 <= budget < state[1]:
            break
    return c4, c5, done


@nb.njit(cache=True, nogil=True)
def count_1s_byte(words, state, psamples, budget, tsamples):  # pragma: no cover - numba
    """As :func:`count_1s_stream`, one letter per word: the word rotated right by t mod 32."""
    c4 = np.zeros((psamples, 625), np.int64)
    c5 = np.zeros((psamples, 3125), np.int64)
    done = 0
    for p in range(psamples):
        index = 0
        seg = take(words, state, 5 * tsamples)
        for t in range(tsamples):
            shift = t % 32
            for i in range(5):
                w = np.int64(seg[5 * t + i])
                index = index * 5 + _letter(((w >> shift) | (w << (32 - shift))) & 0xFF)
            index %= 3125
            c5[p, index] += 1
            c4[p, index % 625] += 1
        done = p + 1
        if 0 <= budget < state[1]:
            break
    return c4, c5, done


@nb.njit(cache=True, nogil=True)
def parking_lot(words, state, psamples, budget, attempts):  # pragma: no cover - numba
    """Cars parked after ``attempts`` tries in a 100 × 100 lot (crash: both |Δ| ≤ 1)."""
    parked = np.zeros(psamples, np.int64)
    xs = np.empty(attempts)
    ys = np.empty(attempts)
    head = np.empty(100 * 100, np.int64)  # cars bucketed on a grid of unit cells
    link = np.empty(attempts, np.int64)
    done = 0
    for p in range(psamples):
        head[:] = -1
        k = 0
        seg = take(words, state, 2 * attempts)
        for a in range(attempts):
            x = 100.0 * (seg[2 * a] / UINT_MAX)
            y = 100.0 * (seg[2 * a + 1] / UINT_MAX)
            cx, cy = min(int(x), 99), min(int(y), 99)
            crashed = False
            for gx in range(max(cx - 1, 0), min(cx + 2, 100)):
                for gy in range(max(cy - 1, 0), min(cy + 2, 100)):
                    i = head[gx * 100 + gy]
                    while i >= 0 and not crashed:
                        crashed = abs(xs[i] - x) <= 1.0 and abs(ys[i] - y) <= 1.0
                        i = link[i]
            if not crashed:
                xs[k], ys[k] = x, y
                link[k] = head[cx * 100 + cy]
                head[cx * 100 + cy] = k
                k += 1
        parked[p] = k
        done = p + 1
        if 0 <= budget < state[1]:
            break
    return parked, done


@nb.njit(cache=True, nogil=True)
def min_distance_2d(words, state, psamples, budget, points):  # pragma: no cover - numba
    """Smallest distance between ``points`` points in a 10000 × 10000 square."""
    dmin = np.zeros(psamples)
    xy = np.empty((points, 2))
    done = 0
    for p in range(psamples):
        for t in range(points):
            xy[t, 0] = uniform_pos(words, state) * 10000
            xy[t, 1] = uniform_pos(words, state) * 10000
        order = np.argsort(xy[:, 0], kind="mergesort")
        best = 10000.0
        for a in range(points):
            i = order[a]
            for b in range(a + 1, points):
                j = order[b]
                if xy[j, 0] - xy[i, 0] > best:
                    break
                dx = xy[j, 0] - xy[i, 0]
                dy = xy[j, 1] - xy[i, 1]
                best = min(best, math.sqrt(dx * dx + dy * dy))
        dmin[p] = best
        done = p + 1
        if 0 <= budget < state[1]:
            break
    return dmin, done


@nb.njit(cache=True, nogil=True)
def min_distance_3d(words, state, psamples, budget, points):  # pragma: no cover - numba
    """Cube of the smallest distance between ``points`` points in a 1000³ cube."""
    r3min = np.zeros(psamples)
    c = np.empty((points, 3))
    done = 0
    for p in range(psamples):
        for t in range(points):
            for d in range(3):
                c[t, d] = 1000.0 * uniform_pos(words, state)
        order = np.argsort(c[:, 0], kind="mergesort")
        best = 2000.0
        best3 = 0.0
        for a in range(points):
            i = order[a]
            for b in range(a + 1, points):
                j = order[b]
                if c[j, 0] - c[i, 0] >= best:
                    break
                hi, lo = max(i, j), min(i, j)  # the reference subtracts the earlier point
                dx = c[hi, 0] - c[lo, 0]
                dy = c[hi, 1] - c[lo, 1]
                dz = c[hi, 2] - c[lo, 2]
                r2 = dx * dx + dy * dy + dz * dz
                r1 = math.sqrt(r2)
                if r1 < best:
                    best = r1
                    best3 = r2 * r1
        r3min[p] = best3
        done = p + 1
        if 0 <= budget < state[1]:
            break
    return r3min, done


@nb.njit(cache=True, nogil=True)
def squeeze(words, state, psamples, budget, tsamples):  # pragma: no cover - numba
    """Histogram of steps j (6 … 48) taking k = 2³¹ − 1 to 1 by k = ⌈k·U⌉."""
    hist = np.zeros((psamples, 43), np.int64)
    done = 0
    for p in range(psamples):
        for _ in range(tsamples):
            k = 2147483647
            j = 0
            while k != 1 and j < 48:
                k = math.ceil(k * uniform(words, state))
                j += 1
            hist[p, max(j, 6) - 6] += 1
        done = p + 1
        if 0 <= budget < state[1]:
            break
    return hist, done


@nb.njit(cache=True, nogil=True)
def sums(words, state, psamples, budget, m):  # pragma: no cover - numba
    """The ``m`` overlapping sums of ``m`` uniforms each (2m − 1 words), per repetition."""
    out = np.zeros((psamples, m))
    u = np.empty(2 * m - 1)
    done = 0
    for p in range(psamples):
        seg = take(words, state, 2 * m - 1)
        for i in range(2 * m - 1):
            u[i] = seg[i] / UINT_MAX
        total = 0.0
        for i in range(m):
            total += u[i]
        out[p, 0] = total
        for t in range(1, m):
            total = total - u[t - 1] + u[t - 1 + m]
            out[p, t] = total
        done = p + 1
        if 0 <= budget < state[1]:
            break
    return out, done


@nb.njit(cache=True, nogil=True)
def runs(words, state, psamples, budget, tsamples):  # pragma: no cover - numba
    """Histograms of runs up and runs down (lengths 1 … 6+, cyclic) in ``tsamples`` words."""
    up = np.zeros((psamples, 6), np.int64)
    down = np.zeros((psamples, 6), np.int64)
    done = 0
    for p in range(psamples):
        seg = take(words, state, tsamples)
        first = seg[0]
        last = first
        nxt = np.uint32(0)
        ucount = 1
        dcount = 1
        for t in range(tsamples):  # t < tsamples - 1: the next word; then the wrap-around
            if t < tsamples - 1:
                nxt = seg[t + 1]
                rise = nxt > last
                last = nxt
            else:
                rise = nxt > first  # the reference compares the last word with the first
            if rise:
                ucount = min(ucount + 1, 6)
                down[p, dcount - 1] += 1
                dcount = 1
            else:
                dcount = min(dcount + 1, 6)
                up[p, ucount - 1] += 1
                ucount = 1
        done = p + 1
        if 0 <= budget < state[1]:
            break
    return up, down, done


@nb.njit(cache=True, nogil=True)
def craps(words, state, psamples, budget, games):  # pragma: no cover - numba
    """Wins and the histogram of throws per game (1 … 21+) over ``games`` games."""
    wins = np.zeros(psamples, np.int64)
    throws = np.zeros((psamples, 21), np.int64)
    done = 0
    for p in range(psamples):
        for _ in range(games):
            point = die(words, state) + die(words, state)
            tries = 0
            if point == 7 or point == 11:
                wins[p] += 1
                throws[p, 0] += 1
            elif point == 2 or point == 3 or point == 12:
                throws[p, 0] += 1
            else:
                while True:
                    tries = min(tries + 1, 20)
                    throw = die(words, state) + die(words, state)
                    if throw == 7:
                        throws[p, tries] += 1
                        break
                    if throw == point:
                        throws[p, tries] += 1
                        wins[p] += 1
                        break
        done = p + 1
        if 0 <= budget < state[1]:
            break
    return wins, throws, done
