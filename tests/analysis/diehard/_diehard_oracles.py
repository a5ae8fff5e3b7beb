"""Slow, direct definitions of the Diehard statistics, for small inputs.

Written from Marsaglia's descriptions with dieharder 3.31.1's reading order (stated per
function), in plain Python on lists of 32-bit words, sharing no code with the kernels.
Birthdays, bitstream and DNA reproduce dieharder's departures from Marsaglia (the
kernels' ``compat`` mode); Marsaglia's own definitions are in _marsaglia_oracles.
"""

from __future__ import annotations

import math
from itertools import pairwise

M32 = 0xFFFFFFFF
UINT_MAX = 4294967295.0


def birthdays(words: list[int], tsamples: int) -> list[int]:
    """Per sample, the number of distinct spacings seen more than once, dieharder-style."""
    stream = int.from_bytes(b"".join(w.to_bytes(4, "little") for w in words), "little")
    out = []
    for t in range(tsamples):
        days = sorted((stream >> (24 * (512 * t + i))) & 0xFFFFFF for i in range(512))
        gaps = sorted([days[0]] + [b - a for a, b in pairwise(days)])
        k, m = 0, 0
        while m < 511:  # a run of repeats makes the scan skip the element after it
            end = m + 1
            while end < 512 and gaps[end] == gaps[m]:
                end += 1
            if end > m + 1:
                k += 1
                m = end
            m += 1
        out.append(k)
    return out


def signed(w: int) -> int:
    return w - (1 << 32) if w >= 1 << 31 else w


def ordering(values: list[int]) -> int:
    """dieharder's permutation index: repeatedly move the (last) maximum to the end."""
    w = [signed(v) for v in values]
    index = 0
    for i in range(4, 0, -1):
        k = max(j for j in range(i + 1) if w[j] == max(w[: i + 1]))
        index = (i + 1) * index + k
        w[i], w[k] = w[k], w[i]
    return index


def operm5(words: list[int], tsamples: int) -> list[int]:
    """Counts of orderings of windows words[t : t + 5], t < tsamples (one repetition)."""
    counts = [0] * 120
    for t in range(tsamples):
        counts[ordering(words[t : t + 5])] += 1
    return counts


def gf2_rank(rows: list[int], ncols: int) -> int:
    """Rank over GF(2) of the rows' low ncols bits."""
    basis: list[int] = []
    for r in rows:
        r &= (1 << ncols) - 1
        for b in basis:
            r = min(r, r ^ b)
        if r:
            basis.append(r)
    return len(basis)


def bits_msb_first(words: list[int]) -> str:
    return "".join(f"{w:032b}" for w in words)


def missing_bitstream(words: list[int], tsamples: int) -> int:
    """Missing 20-bit words among overlapping ones starting 8 bits into the stream."""
    bits = bits_msb_first(words)
    seen = [0] * (1 << 20)
    for t in range(tsamples):
        seen[int(bits[8 + t : 28 + t], 2)] += 1
    return sum(1 for c in seen if c % 256 == 0)


def missing_opso(words: list[int], tsamples: int) -> int:
    seen = set()
    for t in range(tsamples):
        a, b = words[2 * (t // 2)], words[2 * (t // 2) + 1]
        shift = 10 * (t % 2)
        seen.add(((a >> shift) & 1023, (b >> shift) & 1023))
    return (1 << 20) - len(seen)


def missing_oqso(words: list[int], tsamples: int) -> int:
    seen = set()
    for t in range(tsamples):
        group = words[4 * (t // 6) : 4 * (t // 6) + 4]
        seen.add(tuple((w >> (5 * (t % 6))) & 31 for w in group))
    return (1 << 20) - len(seen)


def rotr(w: int, s: int) -> int:
    return ((w >> s) | (w << (32 - s))) & M32


def missing_dna(words: list[int], tsamples: int) -> int:
    counts: dict[tuple[int, ...], int] = {}
    for t in range(tsamples):
        group = words[11 + 10 * (t // 32) : 21 + 10 * (t // 32)]
        key = tuple(rotr(w, t % 32) & 3 for w in group)
        counts[key] = counts.get(key, 0) + 1
    return (1 << 20) - sum(1 for c in counts.values() if c % 256)


def letter(byte: int) -> int:
    return min(max(bin(byte).count("1") - 2, 0), 4)


def count_1s_stream(words: list[int], tsamples: int) -> tuple[list[int], list[int]]:
    letters = [letter((w >> (8 * b)) & 255) for w in words for b in range(4)]
    c4, c5 = [0] * 625, [0] * 3125
    for t in range(tsamples):
        index = 0
        for x in letters[t : t + 5]:
            index = 5 * index + x
        c5[index] += 1
        c4[index % 625] += 1
    return c4, c5


def count_1s_byte(words: list[int], tsamples: int) -> tuple[list[int], list[int]]:
    c4, c5 = [0] * 625, [0] * 3125
    for t in range(tsamples):
        index = 0
        for w in words[5 * t : 5 * t + 5]:
            index = 5 * index + letter(rotr(w, t % 32) & 255)
        c5[index] += 1
        c4[index % 625] += 1
    return c4, c5


def parking(words: list[int], attempts: int) -> int:
    cars: list[tuple[float, float]] = []
    for t in range(attempts):
        x, y = 100 * words[2 * t] / UINT_MAX, 100 * words[2 * t + 1] / UINT_MAX
        if not any(abs(x - a) <= 1 and abs(y - b) <= 1 for a, b in cars):
            cars.append((x, y))
    return len(cars)


def positives(words: list[int], count: int) -> list[float]:
    out = [w / UINT_MAX for w in words if w]
    return out[:count]


def min_distance(words: list[int], points: int, dim: int, side: float) -> float:
    u = positives(words, points * dim)
    pts = [[side * u[dim * i + d] for d in range(dim)] for i in range(points)]
    return min(math.dist(p, q) for i, p in enumerate(pts) for q in pts[i + 1 :])


def squeeze(words: list[int], tsamples: int) -> list[int]:
    it = iter(words)
    out = []
    for _ in range(tsamples):
        k, j = 2147483647, 0
        while k != 1 and j < 48:
            k = math.ceil(k * (next(it) / UINT_MAX))
            j += 1
        out.append(max(j, 6))
    return out


def runs(words: list[int]) -> tuple[list[int], list[int]]:
    """Runs up and down of the cyclic sequence (the last step compares last with first)."""
    n = len(words)
    rises = [words[i + 1] > words[i] for i in range(n - 1)] + [words[-1] > words[0]]
    up, down = [0] * 6, [0] * 6
    ucount = dcount = 1
    for rise in rises:
        if rise:
            ucount = min(ucount + 1, 6)
            down[dcount - 1] += 1
            dcount = 1
        else:
            dcount = min(dcount + 1, 6)
            up[ucount - 1] += 1
            ucount = 1
    return up, down


def craps(words: list[int], games: int) -> tuple[int, list[int]]:
    dice = (1 + w // 715827882 for w in words if w // 715827882 < 6)
    wins, throws = 0, [0] * 21
    for _ in range(games):
        point = next(dice) + next(dice)
        if point in (7, 11, 2, 3, 12):
            wins += point in (7, 11)
            throws[0] += 1
            continue
        n = 0
        while True:
            n += 1
            roll = next(dice) + next(dice)
            if roll in (7, point):
                wins += roll == point
                throws[min(n, 20)] += 1
                break
    return wins, throws
