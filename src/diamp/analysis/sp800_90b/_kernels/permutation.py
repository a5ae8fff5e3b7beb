"""Kernels for the IID permutation tests (§5.1): shuffles and 18 of the 19 statistics.

Each permutation is an independent Fisher–Yates shuffle of the original samples driven by
xoshiro256** (the tool's generator) seeded through SplitMix64 from a 64-bit seed, with
Lemire's unbiased bounded integers (the tool's ``randomRange64``). The compression
statistic (bzip2) is computed in Python from the text :func:`decimal_text` writes.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange, types

_u8 = types.Array(types.uint8, 1, "C", readonly=True)
_u8w = types.Array(types.uint8, 1, "C")
_u8x2 = types.Array(types.uint8, 2, "C")
_u64a = types.Array(types.uint64, 1, "C", readonly=True)
_u64w = types.Array(types.uint64, 1, "C")
_f64a = types.Array(types.float64, 1, "C")
_f64x2 = types.Array(types.float64, 2, "C")
_bool = types.Array(types.boolean, 1, "C", readonly=True)
_u64, _i64, _f64 = types.uint64, types.int64, types.float64
_u64x2 = types.UniTuple(_u64, 2)  # type: ignore[no-untyped-call]
_f64_pair = types.UniTuple(_f64, 2)  # type: ignore[no-untyped-call]
_M32 = np.uint64(0xFFFFFFFF)
_S32 = np.uint64(32)

#: Statistic names in the tool's order; the last one (compression) is not computed here.
NAMES = (
    "excursion",
    "numDirectionalRuns",
    "lenDirectionalRuns",
    "numIncreasesDecreases",
    "numRunsMedian",
    "lenRunsMedian",
    "avgCollision",
    "maxCollision",
    "periodicity(1)",
    "periodicity(2)",
    "periodicity(8)",
    "periodicity(16)",
    "periodicity(32)",
    "covariance(1)",
    "covariance(2)",
    "covariance(8)",
    "covariance(16)",
    "covariance(32)",
    "compression",
)


@njit(_u64(_u64, _i64), cache=True, nogil=True, inline="always")
def _rotl(x, k):  # type: ignore[no-untyped-def]  # pragma: no cover
    return (x << np.uint64(k)) | (x >> np.uint64(64 - k))


@njit(_u64(_u64w), cache=True, nogil=True, inline="always")
def _next(s):  # type: ignore[no-untyped-def]  # pragma: no cover
    """xoshiro256** 1.0 (Blackman & Vigna), state in ``s[0:4]``."""
    result = _rotl(s[1] * np.uint64(5), 7) * np.uint64(9)
    t = s[1] << np.uint64(17)
    s[2] ^= s[0]
    s[3] ^= s[1]
    s[1] ^= s[2]
    s[0] ^= s[3]
    s[2] ^= t
    s[3] = _rotl(s[3], 45)
    return result


@njit(types.void(_u64w, _u64), cache=True, nogil=True)
def seed_state(s, seed):  # type: ignore[no-untyped-def]  # pragma: no cover
    """Fill the xoshiro state from ``seed`` with SplitMix64 (as its authors recommend)."""
    z = seed
    for i in range(4):
        z += np.uint64(0x9E3779B97F4A7C15)
        x = z
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        s[i] = x ^ (x >> np.uint64(31))


@njit(_u64x2(_u64, _u64), cache=True, nogil=True, inline="always")
def _mul128(a, b):  # type: ignore[no-untyped-def]  # pragma: no cover
    """(high, low) 64-bit halves of the 128-bit product a·b."""
    a_lo, a_hi = a & _M32, a >> _S32
    b_lo, b_hi = b & _M32, b >> _S32
    p0, p1, p2, p3 = a_lo * b_lo, a_lo * b_hi, a_hi * b_lo, a_hi * b_hi
    mid = (p0 >> _S32) + (p1 & _M32) + (p2 & _M32)
    return p3 + (p1 >> _S32) + (p2 >> _S32) + (mid >> _S32), a * b


@njit(_u64(_u64w, _u64), cache=True, nogil=True, inline="always")
def bounded(s, bound):  # type: ignore[no-untyped-def]  # pragma: no cover
    """Uniform integer in [0, bound) by Lemire's multiply-and-reject (no modulo bias)."""
    hi, lo = _mul128(_next(s), bound)
    if lo < bound:
        threshold = (np.uint64(0) - bound) % bound
        while lo < threshold:
            hi, lo = _mul128(_next(s), bound)
    return hi


@njit(types.void(_u8w, _u64), cache=True, nogil=True)
def shuffle(a, seed):  # type: ignore[no-untyped-def]  # pragma: no cover
    """Fisher–Yates shuffle of ``a`` in place from ``seed``."""
    s = np.empty(4, np.uint64)
    seed_state(s, seed)
    for i in range(a.shape[0] - 1, 0, -1):
        j = bounded(s, np.uint64(i + 1))
        t = a[i]
        a[i] = a[j]
        a[j] = t


@njit(_f64_pair(_u8, _i64), cache=True, nogil=True)
def _collisions(x, k):  # type: ignore[no-untyped-def]  # pragma: no cover
    """Mean and largest number of samples read until a value repeats (restarting after it)."""
    seen = np.full(k, -1, np.int64)
    total = 0
    count = 0
    largest = 0
    start = 0
    for i in range(x.shape[0]):
        v = x[i]
        if seen[v] >= start:
            length = i - start + 1
            total += length
            count += 1
            if length > largest:
                largest = length
            start = i + 1
        else:
            seen[v] = i
    if count == 0:
        return np.nan, 0.0
    return np.float64(total) / np.float64(count), np.float64(largest)


@njit(types.void(_u8, _f64a), cache=True, nogil=True)
def _directional(x, out):  # type: ignore[no-untyped-def]  # pragma: no cover
    """Statistics 1–3 from the signs of successive differences (+1 when x[i] <= x[i+1])."""
    n = x.shape[0]
    runs = 1 if n > 1 else 0
    longest = 0
    run = 1
    ups = 0
    for i in range(n - 1):
        up = x[i] <= x[i + 1]
        ups += up
        if i > 0:
            if up == (x[i - 1] <= x[i]):
                run += 1
            else:
                runs += 1
                longest = max(longest, run)
                run = 1
    out[1] = runs
    out[2] = max(longest, run)  # 1 for a single sample, as the tool
    out[3] = max(ups, n - 1 - ups)


@njit(types.void(_u8, _f64, _f64a), cache=True, nogil=True)
def _median_runs(x, median, out):  # type: ignore[no-untyped-def]  # pragma: no cover
    """Statistics 4–5: runs of samples below / not below the median."""
    n = x.shape[0]
    runs = 1
    longest = 0
    run = 1
    for i in range(1, n):
        if (x[i] < median) == (x[i - 1] < median):
            run += 1
        else:
            runs += 1
            longest = max(longest, run)
            run = 1
    out[4] = runs
    out[5] = max(longest, run)


@njit(types.void(_u8, _u8, _f64a, types.boolean), cache=True, nogil=True)
def _lagged(x, values, out, periodicity):  # type: ignore[no-untyped-def]  # pragma: no cover
    """Statistics 8–12 (equal pairs at lags 1, 2, 8, 16, 32) or 13–17 (Σ x_i x_{i+p})."""
    n = x.shape[0]
    lags = (1, 2, 8, 16, 32)
    for m in range(5):
        p = lags[m]
        t = np.int64(0)
        for i in range(n - p):
            if periodicity:
                t += x[i] == x[i + p]
            else:
                t += np.int64(values[i]) * np.int64(values[i + p])
        out[(8 if periodicity else 13) + m] = t


@njit(types.void(_u8, _u8, _u8w, _i64, _f64, _f64, _bool, _f64a), cache=True, nogil=True)
def statistics(raw, table, data, k, rawmean, median, active, out):  # type: ignore[no-untyped-def]  # pragma: no cover
    """Statistics 0–17 of ``raw`` (mapped through ``table`` to 0..k−1) into ``out``.

    Binary data (k = 2) are read through the tool's conversions: directional, periodicity
    and covariance statistics use the number of ones in each 8-bit block (conversion I),
    the collision statistics the blocks as bytes, MSB first (conversion II); a last partial
    block is kept. ``data`` (len(raw) bytes) receives the mapped samples.
    """
    n = raw.shape[0]
    if active[0]:
        total = 0.0
        worst = 0.0
        for i in range(n):
            total += raw[i]
            dev = abs(total - (i + 1) * rawmean)
            if dev > worst:
                worst = dev
        out[0] = worst
    for i in range(n):
        data[i] = table[raw[i]]
    if active[4] or active[5]:
        _median_runs(data, 0.5 if k == 2 else median, out)
    if k == 2:
        blocks = (n + 7) // 8
        ones = np.zeros(blocks, np.uint8)
        packed = np.zeros(blocks, np.uint8)
        for i in range(n):
            ones[i >> 3] += data[i]
            packed[i >> 3] += data[i] << (7 - (i & 7))
        if active[1] or active[2] or active[3]:
            _directional(ones, out)
        if active[6] or active[7]:
            out[6], out[7] = _collisions(packed, 256)
        if active[8:13].any():
            _lagged(ones, ones, out, True)
        if active[13:18].any():
            _lagged(ones, ones, out, False)
    else:
        if active[1] or active[2] or active[3]:
            _directional(data, out)
        if active[6] or active[7]:
            out[6], out[7] = _collisions(data, k)
        if active[8:13].any():
            _lagged(data, raw, out, True)
        if active[13:18].any():
            _lagged(data, raw, out, False)


@njit(
    types.void(_u8, _u8, _i64, _f64, _f64, _bool, _u64a, _f64x2, _u8x2, types.boolean),
    cache=True,
    nogil=True,
    parallel=True,
)
def permuted_statistics(raw, table, k, rawmean, median, active, seeds, out, keep, store):  # type: ignore[no-untyped-def]  # pragma: no cover
    """Statistics 0–17 of one shuffle of ``raw`` per seed, in parallel over the seeds.

    Row j of ``out`` gets the statistics of the shuffle seeded by ``seeds[j]``; when
    ``store`` is set the shuffled samples are kept in row j of ``keep`` (for bzip2).
    """
    n = raw.shape[0]
    for j in prange(seeds.shape[0]):
        a = raw.copy()
        shuffle(a, seeds[j])
        statistics(a, table, np.empty(n, np.uint8), k, rawmean, median, active, out[j])
        if store:
            keep[j, :] = a


@njit(_u8w(_u8), cache=True, nogil=True)
def decimal_text(raw):  # type: ignore[no-untyped-def]  # pragma: no cover
    """The samples written as ``"%u "`` without the final space (the tool's bzip2 input)."""
    n = raw.shape[0]
    buf = np.empty(4 * n, np.uint8)
    m = 0
    for i in range(n):
        v = raw[i]
        if v >= 100:
            buf[m] = 48 + v // 100
            m += 1
        if v >= 10:
            buf[m] = 48 + (v // 10) % 10
            m += 1
        buf[m] = 48 + v % 10
        buf[m + 1] = 32
        m += 2
    return buf[: max(m - 1, 0)].copy()
