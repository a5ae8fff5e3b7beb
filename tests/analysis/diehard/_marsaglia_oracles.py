"""Slow pure-Python Diehard tests written from Marsaglia's descriptions (the DIEHARD docs).

Four tests where dieharder 3.31.1 departs from those descriptions: birthday spacings,
bitstream, DNA and overlapping sums. Each function takes one psample's 32-bit words as
dieharder's raw file input reads them (the reading order, which Marsaglia's text leaves to
the program, is dieharder's and is stated per function) and returns that psample's
p-value. Nothing here is shared with the kernels or with _diehard_oracles; the numbers
come from scipy (distributions, exact KS law) and plain Python.

Marsaglia's definitions used:

- Birthday spacings: "If j is the number of values that occur more than once in that
  list [of spacings], then j is asymptotically Poisson distributed with mean m³/(4n)."
- Bitstream and DNA: "counts the number of missing words", a missing word being one that
  does not appear in the sequence.
- Overlapping sums: "A linear transformation of the S's converts them to a sequence of
  independent standard normals, which are converted to uniform variables for a KSTEST."
"""

from __future__ import annotations

import itertools
import math
from collections import Counter

from scipy import stats

UINT_MAX = 4294967295.0


def _stream_24(words: list[int]) -> bytes:
    return b"".join(w.to_bytes(4, "little") for w in words)


def birthday_j(days: list[int]) -> int:
    """Marsaglia's j: distinct spacing values that occur more than once.

    The spacings are those of the sorted days, the first measured from 0 (dieharder's
    list of m = 512 spacings).
    """
    ordered = sorted(days)
    spacings = [ordered[0]] + [b - a for a, b in itertools.pairwise(ordered)]
    return sum(1 for count in Counter(spacings).values() if count > 1)


def birthdays_pvalue(words: list[int], tsamples: int = 100) -> float:
    """Chi-square p-value of j over ``tsamples`` samples of 512 birthdays of 24 bits.

    Birthday i is bytes 3i … 3i+2 of the file, little-endian (dieharder's bit buffer).
    Cells are j = 0 … 5 with expected counts tsamples·P(Poisson(2) = j); a sample with
    j ≥ 6 is not counted (dieharder's cells, kept by diamp in both modes).
    """
    data = _stream_24(words)
    cells = 6
    observed = [0] * cells
    for t in range(tsamples):
        chunk = data[1536 * t : 1536 * (t + 1)]
        days = [int.from_bytes(chunk[3 * i : 3 * i + 3], "little") for i in range(512)]
        j = birthday_j(days)
        if j < cells:
            observed[j] += 1
    expected = [tsamples * stats.poisson.pmf(j, 2.0) for j in range(cells)]
    chisq = sum((o - e) ** 2 / e for o, e in zip(observed, expected, strict=True))
    return float(stats.chi2.sf(chisq, cells - 1))


def bitstream_missing(words: list[int], tsamples: int = 2**21) -> int:
    """20-bit words that never occur among ``tsamples`` overlapping ones.

    The stream is the words' bits, most significant first, starting at bit 8 of the first
    word (dieharder's reading).
    """
    bits = "".join(f"{w:032b}" for w in words)
    seen = {bits[8 + t : 28 + t] for t in range(tsamples)}
    return 2**20 - len(seen)


def bitstream_pvalue(words: list[int]) -> float:
    """Φ((141909 − missing)/428), Marsaglia's mean and sigma."""
    return float(stats.norm.cdf((141909.0 - bitstream_missing(words)) / 428.0))


def dna_missing(words: list[int], tsamples: int = 2**21) -> int:
    """10-letter words (4-letter alphabet) that never occur among ``tsamples``.

    dieharder's reading: 11 words are read first and not used; then each group of ten
    words gives 32 words, the s-th made of bits s and s+1 (cyclically) of each of the ten.
    """
    seen: set[tuple[int, ...]] = set()
    for t in range(tsamples):
        group = words[11 + 10 * (t // 32) : 21 + 10 * (t // 32)]
        s = t % 32
        seen.add(tuple((((w >> s) | (w << (32 - s))) & 3) for w in group))
    return 4**10 - len(seen)


def dna_pvalue(words: list[int]) -> float:
    """Φ((μ − missing)/σ) with dieharder's exact μ and σ for the overlapping words."""
    return float(stats.norm.cdf((141910.4026047629 - dna_missing(words)) / 337.2901506904))


def _cholesky(a: list[list[float]]) -> list[list[float]]:
    n = len(a)
    low = [[0.0] * n for _ in range(n)]
    for i in range(n):
        for j in range(i + 1):
            s = a[i][j] - math.fsum(low[i][k] * low[j][k] for k in range(j))
            low[i][j] = math.sqrt(s) if i == j else s / low[j][j]
    return low


def sums_pvalue(words: list[int], m: int = 100) -> float:
    """KS p-value of the m overlapping sums of m uniforms, made independent normals.

    U_i = word_i/(2³² − 1); S_t = U_t + … + U_{t+m−1}; y_t = (S_t − m/2)·√12 has covariance
    T_ij = m − |i − j|; with T = LLᵀ, x = L⁻¹y are independent standard normals, and the
    Φ(x) get the standard KS test (exact law).
    """
    u = [w / UINT_MAX for w in words[: 2 * m - 1]]
    y = [(math.fsum(u[t : t + m]) - m / 2.0) * math.sqrt(12.0) for t in range(m)]
    low = _cholesky([[float(m - abs(i - j)) for j in range(m)] for i in range(m)])
    x: list[float] = []
    for i in range(m):
        x.append((y[i] - math.fsum(low[i][k] * x[k] for k in range(i))) / low[i][i])
    uniforms = [0.5 * math.erfc(-v / math.sqrt(2.0)) for v in x]
    return float(stats.kstest(uniforms, "uniform", method="exact").pvalue)
