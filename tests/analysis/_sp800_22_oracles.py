"""Slow direct definitions of the SP 800-22 tests, written from the text of SP 800-22 Rev. 1a.

Pure Python over lists of ints, mpmath for the incomplete gamma function, no shared code
with diamp. Where the reference implementation departs from the text and diamp follows
the reference (documented in diamp), the oracle takes the reference's side explicitly and
says so in a comment: that choice is then tested against the published vectors instead.
"""

from __future__ import annotations

import cmath
import math
import sys
from itertools import groupby, pairwise

import mpmath
import numpy as np

Bits = list[int]


def igamc(a: float, x: float) -> float:
    return float(mpmath.gammainc(a, x, mpmath.inf, regularized=True))


def frequency(e: Bits) -> float:
    s = sum(2 * b - 1 for b in e)
    return math.erfc(abs(s) / math.sqrt(len(e)) / math.sqrt(2))


def block_frequency(e: Bits, m: int) -> float:
    blocks = [e[i * m : (i + 1) * m] for i in range(len(e) // m)]
    chi2 = 4 * m * sum((sum(b) / m - 0.5) ** 2 for b in blocks)
    return igamc(len(blocks) / 2, chi2 / 2)


def runs(e: Bits) -> float:
    """§2.3.4. The text skips the test when |π − ½| >= τ; the reference (and diamp) only
    when |π − ½| > τ, so the oracle does too. A constant sequence that still runs (n <= 16)
    has π(1 − π) = 0: P = erfc(∞) = 0."""
    n = len(e)
    pi = sum(e) / n
    if abs(pi - 0.5) > 2 / math.sqrt(n) or pi in (0.0, 1.0):
        return 0.0
    v = len([k for k, _ in groupby(e)])
    return math.erfc(abs(v - 2 * n * pi * (1 - pi)) / (2 * math.sqrt(2 * n) * pi * (1 - pi)))


def longest_run_in(block: Bits) -> int:
    return max((len(list(g)) for k, g in groupby(block) if k == 1), default=0)


def longest_run_probabilities(m: int, first: int, last: int) -> list[float]:
    """Exact class probabilities of the longest run of ones in m random bits (§3.4).

    g_k(t) = P(no run longer than k in t bits) obeys g_k(t) = Σ_{i=0..k} g_k(t−1−i)/2^{i+1}
    for t > k (the first zero sits at position i), g_k(t) = 1 for t <= k.
    """

    def at_most(k: int) -> float:
        g = [1.0] * (k + 1)
        for t in range(k + 1, m + 1):
            g.append(sum(g[t - 1 - i] / 2 ** (i + 1) for i in range(k + 1)))
        return g[m]

    cdf = [at_most(k) for k in range(first, last)]
    return [cdf[0], *(b - a for a, b in pairwise(cdf)), 1 - cdf[-1]]


_LR_CLASSES = {8: (1, 4), 128: (4, 9), 10_000: (10, 16)}  # §2.4.4


def longest_run(e: Bits) -> float:
    n = len(e)
    m = 8 if n < 6272 else 128 if n < 750_000 else 10_000
    first, last = _LR_CLASSES[m]
    probs = longest_run_probabilities(m, first, last)
    nu = [0] * len(probs)
    for i in range(n // m):
        v = min(max(longest_run_in(e[i * m : (i + 1) * m]), first), last)
        nu[v - first] += 1
    count = n // m
    chi2 = sum((nu[k] - count * p) ** 2 / (count * p) for k, p in enumerate(probs))
    return igamc((len(probs) - 1) / 2, chi2 / 2)


def _phi(x: float) -> float:
    return 0.5 * math.erfc(-x / math.sqrt(2))


def cumulative_sums(e: Bits, reverse: bool = False, truncating: bool = False) -> float:
    """§2.13.4: k runs over ⌊(−n/z + 1)/4⌋ … ⌊(n/z − 1)/4⌋ (and ⌊(−n/z − 3)/4⌋ … for the
    second sum). With ``truncating`` the bounds are the reference's C expressions
    (−n/z + 1)/4 etc. in integer arithmetic, which truncate toward zero."""
    seq = e[::-1] if reverse else e
    s, z = 0, 0
    for b in seq:
        s += 2 * b - 1
        z = max(z, abs(s))
    n = len(e)

    def bound(num: int, shift: int) -> int:  # ⌊(num/z + shift)/4⌋ or C's version of it
        if truncating:
            q = int(abs(num) // z) * (1 if num >= 0 else -1) + shift
            return int(q / 4)
        return math.floor((num / z + shift) / 4)

    total = 1.0
    for k in range(bound(-n, 1), bound(n, -1) + 1):
        total -= _phi((4 * k + 1) * z / math.sqrt(n)) - _phi((4 * k - 1) * z / math.sqrt(n))
    for k in range(bound(-n, -3), bound(n, -1) + 1):
        total += _phi((4 * k + 3) * z / math.sqrt(n)) - _phi((4 * k + 1) * z / math.sqrt(n))
    return total


def gf2_rank(rows: list[int], cols: int) -> int:
    """Rank over GF(2) of rows given as integers (Gaussian elimination)."""
    rows = list(rows)
    rank = 0
    for c in reversed(range(cols)):
        pivot = next((i for i in range(rank, len(rows)) if rows[i] >> c & 1), None)
        if pivot is None:
            continue
        rows[rank], rows[pivot] = rows[pivot], rows[rank]
        for i in range(len(rows)):
            if i != rank and rows[i] >> c & 1:
                rows[i] ^= rows[rank]
        rank += 1
    return rank


def matrix_rows(e: Bits, k: int, side: int = 32) -> list[int]:
    base = k * side * side
    return [
        int("".join(map(str, e[base + i * side : base + (i + 1) * side])), 2) for i in range(side)
    ]


def rank_test(e: Bits) -> float:
    count = len(e) // 1024
    ranks = [gf2_rank(matrix_rows(e, k), 32) for k in range(count)]

    def prob(r: int) -> float:  # §3.5: probability that a random 32x32 matrix has rank r
        p = 2.0 ** (r * (64 - r) - 1024)
        for i in range(r):
            p *= (1 - 2.0 ** (i - 32)) ** 2 / (1 - 2.0 ** (i - r))
        return p

    p32, p31 = prob(32), prob(31)
    f = [ranks.count(32), ranks.count(31), count - ranks.count(32) - ranks.count(31)]
    expected = [count * p32, count * p31, count * (1 - p32 - p31)]
    chi2 = sum((fi - ei) ** 2 / ei for fi, ei in zip(f, expected, strict=True))
    return math.exp(-chi2 / 2)


def dft_moduli(e: Bits) -> list[float]:
    n = len(e)
    x = [2 * b - 1 for b in e]
    return [
        abs(sum(x[j] * cmath.exp(-2j * math.pi * j * k / n) for j in range(n)))
        for k in range(n // 2)
    ]


def dft(e: Bits) -> float:
    """§2.6.4, counting k = 0 … n/2 − 1 with the reference's threshold (DC term included)."""
    n = len(e)
    count = sum(1 for v in dft_moduli(e) if v < math.sqrt(2.995732274 * n))
    d = (count - 0.95 * n / 2) / math.sqrt(n * 0.95 * 0.05 / 4)
    return math.erfc(abs(d) / math.sqrt(2))


def is_aperiodic(t: str) -> bool:
    return all(not t.startswith(t[s:]) for s in range(1, len(t)))


def templates(m: int) -> list[str]:
    return [t for t in (format(v, f"0{m}b") for v in range(2**m)) if is_aperiodic(t)]


def scan_count(block: Bits, template: str) -> int:
    """§2.7.4 step 2: slide the window; on a match skip past it."""
    s = "".join(map(str, block))
    j, hits = 0, 0
    while j <= len(s) - len(template):
        if s[j : j + len(template)] == template:
            hits += 1
            j += len(template)
        else:
            j += 1
    return hits


def non_overlapping(e: Bits, m: int) -> list[float]:
    nblocks = 8
    block = len(e) // nblocks
    mu = (block - m + 1) / 2**m
    var = block * (1 / 2**m - (2 * m - 1) / 2 ** (2 * m))
    out = []
    for t in templates(m)[:148]:
        w = [scan_count(e[i * block : (i + 1) * block], t) for i in range(nblocks)]
        chi2 = sum((wi - mu) ** 2 / var for wi in w)
        out.append(igamc(nblocks / 2, chi2 / 2))
    return out


def overlapping(e: Bits, m: int) -> float:
    """§2.8 with the older class probabilities the reference uses (SP 800-22, 2001 text):
    π_0 = e^{−η}, π_u = e^{−η} 2^{−u} Σ_{l=1..u} C(u−1, l−1) η^l / l!."""
    block = 1032
    count = len(e) // block
    eta = (block - m + 1) / 2**m / 2
    pis = [math.exp(-eta)] + [
        math.exp(-eta)
        / 2**u
        * sum(math.comb(u - 1, j - 1) * eta**j / math.factorial(j) for j in range(1, u + 1))
        for u in range(1, 5)
    ]
    pis.append(1 - sum(pis))
    ones = "1" * m
    nu = [0] * 6
    for i in range(count):
        s = "".join(map(str, e[i * block : (i + 1) * block]))
        hits = sum(1 for j in range(block - m + 1) if s[j : j + m] == ones)
        nu[min(hits, 5)] += 1
    chi2 = sum((nu[k] - count * p) ** 2 / (count * p) for k, p in enumerate(pis))
    return igamc(5 / 2, chi2 / 2)


def universal_fn(e: Bits, L: int, Q: int) -> float:
    k = len(e) // L - Q
    last: dict[int, int] = {}
    total = 0.0
    for i in range(1, Q + k + 1):
        v = int("".join(map(str, e[(i - 1) * L : i * L])), 2)
        if i > Q:
            total += math.log2(i - last.get(v, 0))
        last[v] = i
    return total / k


_UNIV = {7: (6.1962507, 3.125), 6: (5.2177052, 2.954), 8: (7.1836656, 3.238)}


def universal(e: Bits, L: int, Q: int) -> float:
    k = len(e) // L - Q
    expected, variance = _UNIV[L]
    c = 0.7 - 0.8 / L + (4 + 32 / L) * k ** (-3 / L) / 15
    sigma = c * math.sqrt(variance / k)
    return math.erfc(abs(universal_fn(e, L, Q) - expected) / (math.sqrt(2) * sigma))


def circular_counts(e: Bits, m: int) -> dict[str, int]:
    s = "".join(map(str, e))
    ext = s * (m // len(s) + 2)  # indices mod n, even when m > n
    counts: dict[str, int] = {}
    for i in range(len(s)):
        w = ext[i : i + m]
        counts[w] = counts.get(w, 0) + 1
    return counts


def approximate_entropy(e: Bits, m: int) -> float:
    n = len(e)

    def phi(k: int) -> float:
        return sum(c / n * math.log(c / n) for c in circular_counts(e, k).values())

    chi2 = 2 * n * (math.log(2) - (phi(m) - phi(m + 1)))
    return igamc(2 ** (m - 1), chi2 / 2)


def serial(e: Bits, m: int) -> tuple[float, float]:
    n = len(e)

    def psi2(k: int) -> float:
        if k <= 0:
            return 0.0
        return 2**k / n * sum(c * c for c in circular_counts(e, k).values()) - n

    d1 = psi2(m) - psi2(m - 1)
    d2 = psi2(m) - 2 * psi2(m - 1) + psi2(m - 2)
    return igamc(2 ** (m - 2), d1 / 2), igamc(2 ** (m - 3), d2 / 2)


def berlekamp_massey(s: Bits) -> int:
    """Textbook Berlekamp–Massey over GF(2) (Massey 1969)."""
    c, b = [1] + [0] * len(s), [1] + [0] * len(s)
    length, m = 0, -1
    for n in range(len(s)):
        d = s[n]
        for i in range(1, length + 1):
            d ^= c[i] & s[n - i]
        if d:
            t = c[:]
            for i in range(len(s) - (n - m) + 1):
                if b[i]:
                    c[i + n - m] ^= 1
            if 2 * length <= n:
                length, m, b = n + 1 - length, n, t
    return length


def linear_complexity_brute(s: Bits) -> int:
    """Shortest LFSR generating s, by trying every connection polynomial of each length."""
    n = len(s)
    for length in range(n + 1):
        for taps in range(2**length):
            c = [(taps >> i) & 1 for i in range(length)]  # s_j = Σ c_i s_{j−1−i}
            if all(
                s[j] == sum(c[i] & s[j - 1 - i] for i in range(length)) % 2
                for j in range(length, n)
            ):
                return length
    raise AssertionError("unreachable")


def linear_complexity(e: Bits, m: int) -> float:
    count = len(e) // m
    mu = m / 2 + (9 + (-1) ** (m + 1)) / 36 - (m / 3 + 2 / 9) / 2**m
    pis = [0.01047, 0.03125, 0.125, 0.5, 0.25, 0.0625, 0.020833]  # reference's rounding
    nu = [0] * 7
    for i in range(count):
        t = (-1) ** m * (berlekamp_massey(e[i * m : (i + 1) * m]) - mu) + 2 / 9
        edges = [-2.5, -1.5, -0.5, 0.5, 1.5, 2.5]
        nu[sum(1 for x in edges if t > x)] += 1
    chi2 = sum((nu[k] - count * p) ** 2 / (count * p) for k, p in enumerate(pis))
    return igamc(3, chi2 / 2)


def walk_cycles(e: Bits) -> list[list[int]]:
    """The cycles of S' = 0, S_1, …, S_n, 0: the states between consecutive zeros."""
    s, states = 0, []
    for b in e:
        s += 2 * b - 1
        states.append(s)
    padded = [0, *states, 0]
    zeros = [i for i, v in enumerate(padded) if v == 0]
    return [padded[a + 1 : b] for a, b in pairwise(zeros) if b > a + 1]


_RE_PI = {  # §3.14 closed forms: π_0 = 1 − 1/(2|x|), π_k = (1/(4x²))(1 − 1/(2|x|))^{k−1}
    x: [1 - 1 / (2 * x)]
    + [1 / (4 * x * x) * (1 - 1 / (2 * x)) ** (k - 1) for k in range(1, 5)]
    + [1 / (2 * x) * (1 - 1 / (2 * x)) ** 4]
    for x in (1, 2, 3, 4)
}


def random_excursions(e: Bits) -> list[float] | None:
    cycles = walk_cycles(e)
    j = len(cycles)
    if j < max(0.005 * math.sqrt(len(e)), 500):
        return None
    out = []
    for x in (-4, -3, -2, -1, 1, 2, 3, 4):
        nu = [0] * 6
        for c in cycles:
            nu[min(c.count(x), 5)] += 1
        pis = _RE_PI[abs(x)]
        chi2 = sum((nu[k] - j * pis[k]) ** 2 / (j * pis[k]) for k in range(6))
        out.append(igamc(2.5, chi2 / 2))
    return out


def random_excursions_variant(e: Bits) -> list[float] | None:
    cycles = walk_cycles(e)
    j = len(cycles)
    if j < 500:
        return None
    s, counts = 0, {}
    for b in e:
        s += 2 * b - 1
        counts[s] = counts.get(s, 0) + 1
    xs = [*range(-9, 0), *range(1, 10)]
    return [math.erfc(abs(counts.get(x, 0) - j) / math.sqrt(2 * j * (4 * abs(x) - 2))) for x in xs]


def e_bits(n: int) -> np.ndarray:
    """The first n bits of the binary expansion of e (10.1011011111…), by binary splitting."""
    sys.set_int_max_str_digits(0)

    def split(a: int, b: int) -> tuple[int, int]:  # Σ_{k=a+1..b} a!/k! = p/q
        if b - a == 1:
            return 1, b
        mid = (a + b) // 2
        p1, q1 = split(a, mid)
        p2, q2 = split(mid, b)
        return p1 * q2 + p2, q1 * q2

    terms = 16
    while math.lgamma(terms + 1) / math.log(2) < n + 64:  # remainder of the series < 2^-(n+64)
        terms += terms // 4
    p, q = split(0, terms)
    scaled = ((p + q) << (n + 62)) // q  # e · 2^(n+62), e = 1 + p/q
    digits = bin(scaled >> 64)[2:][:n].encode()
    return (np.frombuffer(digits, dtype=np.uint8) - ord("0")).astype(np.uint8)
