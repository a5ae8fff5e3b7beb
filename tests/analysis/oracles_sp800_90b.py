"""Slow, direct pure-Python definitions of the SP 800-90B estimators (test oracles).

Each follows the text of SP 800-90B (2018) §6.3 step by step, with the reference tool's
documented choices where the text leaves room (tie-breaks, dictionary caps) — never the
production kernels' data structures. Use on small inputs only.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Sequence

import mpmath

Z = 2.5758293035489008


def upper(p: float, n: int) -> float:
    return min(1.0, p + Z * math.sqrt(p * (1.0 - p) / (n - 1)))


def mcv(s: Sequence[int]) -> float:
    return -math.log2(upper(max(Counter(s).values()) / len(s), len(s)))


def collision_p(s: Sequence[int]) -> float | None:
    """§6.3.2 for bits: collision times, X̄', then p from E[t] = 2 + 2p(1 − p) by bisection."""
    times: list[int] = []
    i = 0
    while True:
        seen: set[int] = set()
        j = i
        while j < len(s) and s[j] not in seen:
            seen.add(s[j])
            j += 1
        if j >= len(s):
            break
        times.append(j - i + 1)
        i = j + 1
    v = len(times)
    mean = sum(times) / v
    sd = math.sqrt(sum((t - mean) ** 2 for t in times) / (v - 1))
    x = max(mean - Z * sd / math.sqrt(v), 2.0)
    if x >= 2.5:
        return None
    lo, hi = 0.5, 1.0
    for _ in range(200):  # E[t] = 2 + 2p(1-p) decreases on [1/2, 1]
        mid = (lo + hi) / 2
        if 2 + 2 * mid * (1 - mid) > x:
            lo = mid
        else:
            hi = mid
    return lo


def markov(s: Sequence[int]) -> float:
    """§6.3.3 with the most likely 128-bit path found by dynamic programming."""
    n = len(s)
    first = Counter(s[: n - 1])
    pairs = Counter(itertools.pairwise(s))
    init = [Counter(s)[0] / n, 1 - Counter(s)[0] / n]
    trans = [[pairs[(a, b)] / first[a] if first[a] else 0.0 for b in (0, 1)] for a in (0, 1)]
    best = [init[0], init[1]]
    for _ in range(127):
        best = [max(best[a] * trans[a][b] for a in (0, 1)) for b in (0, 1)]
    return min(-math.log2(max(best)) / 128, 1.0)


def compression_g(z: float, d: int, num_blocks: int) -> float:
    """G(z) of §6.3.4 step 9: (1/v) Σ_{t=d+1}^{L} Σ_{u=1}^{t} log₂(u) F(z, t, u).

    F(z, t, u) = z²(1 − z)^{u−1} for u < t and z(1 − z)^{t−1} for u = t; the inner sum over
    u < t is carried from one t to the next.
    """
    total = 0.0
    inner = 0.0  # Σ_{u=1}^{t-1} log2(u) z² (1-z)^{u-1}
    for u in range(1, d + 1):
        inner += math.log2(u) * z * z * (1 - z) ** (u - 1)
    for t in range(d + 1, num_blocks + 1):
        total += inner + math.log2(t) * z * (1 - z) ** (t - 1)
        inner += math.log2(t) * z * z * (1 - z) ** (t - 1)
    return total / (num_blocks - d)


def compression(s: Sequence[int]) -> tuple[float, float]:
    """§6.3.4: (X̄', h per bit) with b = 6, d = 1000, p by bisection on E(p) = X̄'."""
    b, d = 6, 1000
    blocks = [int("".join(map(str, s[i * b : (i + 1) * b])), 2) for i in range(len(s) // b)]
    last: dict[int, int] = {}
    for i in range(d):
        last[blocks[i]] = i + 1
    logs = []
    for i in range(d, len(blocks)):
        logs.append(math.log2(i + 1 - last.get(blocks[i], 0)))
        last[blocks[i]] = i + 1
    v = len(logs)
    mean = sum(logs) / v
    sd = 0.5907 * math.sqrt(sum(x * x for x in logs) / (v - 1) - mean * mean)
    x = mean - Z * sd / math.sqrt(v)

    def expected(p: float) -> float:
        q = (1 - p) / 63
        return compression_g(p, d, len(blocks)) + 63 * compression_g(q, d, len(blocks))

    lo, hi = 1 / 64, 1.0
    if expected(lo) <= x:
        return x, 1.0
    for _ in range(60):
        mid = (lo + hi) / 2
        if expected(mid) > x:
            lo = mid
        else:
            hi = mid
    return x, -math.log2(lo) / b


def tuple_counts(s: Sequence[int], t: int) -> Counter[bytes]:
    """Counts of the overlapping t-tuples (as byte strings: values are below 256)."""
    data = bytes(s)
    return Counter(data[i : i + t] for i in range(len(data) - t + 1))


def t_tuple_and_lrs(s: Sequence[int]) -> tuple[float | None, float | None]:
    """§6.3.5 and §6.3.6 from explicit overlapping tuple counts."""
    n = len(s)
    q: dict[int, int] = {}
    t = 1
    while True:
        counts = tuple_counts(s, t)
        q[t] = max(counts.values())
        if q[t] < 35:
            break
        t += 1
    u = t
    h_tuple = None
    if u > 1:
        p = max((q[i] / (n - i + 1)) ** (1 / i) for i in range(1, u))
        h_tuple = -math.log2(upper(p, n))
    v = 0
    while max(tuple_counts(s, v + 1).values()) > 1:
        v += 1
    h_lrs = None
    if v >= u:
        best = 0.0
        for i in range(u, v + 1):
            pairs = sum(c * (c - 1) // 2 for c in tuple_counts(s, i).values())
            best = max(best, (pairs / math.comb(n - i + 1, 2)) ** (1 / i))
        h_lrs = -math.log2(upper(best, n))
    return h_tuple, h_lrs


def run_probability(p: float, r: int, n: int) -> mpmath.mpf:
    """P(no run of r correct predictions in N) by §6.3.7 step 8, at 50 digits.

    x is the smallest root of x = 1 + q pʳ x^{r+1} in [1, 1/p]: 1/p itself (where the
    probability is 0) when (r + 1) q ≤ 1, else the root below the minimum of the difference.
    """
    with mpmath.workdps(50):
        p_, q = mpmath.mpf(p), 1 - mpmath.mpf(p)
        if (r + 1) * q <= 1:
            return mpmath.mpf(0)
        f = lambda x: 1 + q * p_**r * x ** (r + 1) - x  # noqa: E731
        lo, hi = mpmath.mpf(1), (1 / (q * p_**r * (r + 1))) ** (mpmath.mpf(1) / r)
        for _ in range(200):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if f(mid) > 0 else (lo, mid)
        x = lo
        return (1 - p_ * x) / ((r + 1 - r * x) * q) / x ** (n + 1)


def prediction(c: int, n: int, run: int, k: int) -> float:
    """§6.3.7 steps 7–9 with P_local found by bisection on the 50-digit run probability."""
    pg = c / n
    prime = upper(pg, n) if pg > 0 else 1 - 0.01 ** (1 / n)
    cur = max(1 / k, prime)
    r = run + 1
    if cur < 1 and run_probability(cur, r, n) > 0.99:
        lo, hi = cur, 1.0
        for _ in range(80):
            mid = (lo + hi) / 2
            if run_probability(mid, r, n) > 0.99:
                lo = mid
            else:
                hi = mid
        cur = max(cur, lo)
    return -math.log2(cur)


def _score(outcomes: list[int]) -> tuple[int, int]:
    best = run = 0
    for hit in outcomes:
        run = run + 1 if hit else 0
        best = max(best, run)
    return sum(outcomes), best


def multi_mcw(s: Sequence[int]) -> tuple[int, int, int]:
    """§6.3.7: C, N, longest run. Ties in a window go to the most recent value."""
    wins = (63, 255, 1023, 4095)
    counts: list[Counter[int]] = [Counter() for _ in wins]
    last: dict[int, int] = {}  # last position of each value (inside any window it counts in)
    score = [0] * 4
    winner = 0
    outcomes = []
    for i in range(len(s)):
        if i >= wins[0]:
            frequent: list[int | None] = []
            for j, w in enumerate(wins):
                if i < w:
                    frequent.append(None)
                    continue
                top = max(counts[j].values())
                tied = [v for v, c in counts[j].items() if c == top]
                frequent.append(max(tied, key=lambda v: last[v]))
            outcomes.append(int(frequent[winner] == s[i]))
            for j in range(4):
                if frequent[j] is not None and frequent[j] == s[i]:
                    score[j] += 1
                    if score[j] >= score[winner]:
                        winner = j
        for j, w in enumerate(wins):  # slide: window j is now s[i-w+1 .. i]
            counts[j][s[i]] += 1
            if i >= w:
                counts[j][s[i - w]] -= 1
                if counts[j][s[i - w]] == 0:
                    del counts[j][s[i - w]]
        last[s[i]] = i
    c, run = _score(outcomes)
    return c, len(outcomes), run


def lag(s: Sequence[int], depth: int = 128) -> tuple[int, int]:
    """§6.3.8: C (of L − 1) and the longest run."""
    score = [0] * (depth + 1)
    winner = 1
    outcomes = []
    for i in range(1, len(s)):
        outcomes.append(int(s[i - winner] == s[i]))
        for d in range(1, depth + 1):
            if d <= i and s[i - d] == s[i]:
                score[d] += 1
                if score[d] >= score[winner]:
                    winner = d
    return _score(outcomes)


def _argmax(counts: dict[int, int]) -> tuple[int, int]:
    """Most frequent next value (ties to the larger value) and its count."""
    y = max(counts, key=lambda v: (counts[v], v))
    return y, counts[y]


def multi_mmc(
    s: Sequence[int], depth: int = 16, max_entries: int = 100_000, stats: list[int] | None = None
) -> tuple[int, int]:
    """§6.3.9: C (of L − 2) and the longest run; at most ``max_entries`` (x, y) per order.

    ``stats``, if given, receives the final number of entries of each order 1..D.
    """
    models: list[dict[tuple[int, ...], dict[int, int]]] = [{} for _ in range(depth + 1)]
    entries = [0] * (depth + 1)
    score = [0] * (depth + 1)
    winner = 1
    outcomes = []
    for i in range(2, len(s)):
        for d in range(1, depth + 1):  # add the transition ending at s[i-1]
            if d <= i - 1:
                x = tuple(s[i - 1 - d : i - 1])
                row = models[d].get(x)
                if row is not None and s[i - 1] in row:
                    row[s[i - 1]] += 1
                elif entries[d] < max_entries:
                    models[d].setdefault(x, {})[s[i - 1]] = 1
                    entries[d] += 1
        predictions: dict[int, int] = {}
        for d in range(1, depth + 1):
            x = tuple(s[i - d : i])
            if d > i or x not in models[d]:
                break
            predictions[d] = _argmax(models[d][x])[0]
        outcomes.append(int(predictions.get(winner) == s[i]))
        for d, y in predictions.items():
            if y == s[i]:
                score[d] += 1
                if score[d] >= score[winner]:
                    winner = d
    if stats is not None:
        stats.extend(entries[1:])
    return _score(outcomes)


def lz78y(
    s: Sequence[int], depth: int = 16, max_dict: int = 65_536, stats: list[int] | None = None
) -> tuple[int, int]:
    """§6.3.10: C (of L − B − 1) and the longest run; at most ``max_dict`` contexts.

    ``stats``, if given, receives the final number of contexts.
    """
    table: dict[tuple[int, ...], dict[int, int]] = {}
    outcomes = []
    for i in range(depth + 1, len(s)):
        for j in range(depth, 0, -1):  # add the transition ending at s[i-1]
            x = tuple(s[i - 1 - j : i - 1])
            if x in table:
                table[x][s[i - 1]] = table[x].get(s[i - 1], 0) + 1
            elif len(table) < max_dict:
                table[x] = {s[i - 1]: 1}
        best, prediction = 0, None
        for j in range(depth, 0, -1):
            x = tuple(s[i - j : i])
            if x in table:
                y, count = _argmax(table[x])
                if count > best:
                    best, prediction = count, y
        outcomes.append(int(prediction == s[i]))
    if stats is not None:
        stats.append(len(table))
    return _score(outcomes)
