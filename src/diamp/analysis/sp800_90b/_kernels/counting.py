"""Kernels for the counting estimators: collision, Markov, compression, MultiMCW."""

from __future__ import annotations

import math

import numpy as np
from numba import njit, types

_u8 = types.Array(types.uint8, 1, "C", readonly=True)
_i64x3 = types.UniTuple(types.int64, 3)  # type: ignore[no-untyped-call]
_f64x2 = types.UniTuple(types.float64, 2)  # type: ignore[no-untyped-call]


@njit(_i64x3(_u8), cache=True, nogil=True)
def collision_waits(bits):  # type: ignore[no-untyped-def]  # pragma: no cover
    """Number v of collisions, Σ t_i and Σ t_i² for a binary sequence (waits are 2 or 3)."""
    n = bits.shape[0]
    i = 0
    v = 0
    sq = 0
    while i < n - 1:
        if bits[i] == bits[i + 1]:
            t = 2
        elif i < n - 2:
            t = 3
        else:
            break
        v += 1
        sq += t * t
        i += t
    return v, i, sq


@njit(_i64x3(_u8), cache=True, nogil=True)
def markov_counts(bits):  # type: ignore[no-untyped-def]  # pragma: no cover
    """C_0, C_00 and C_10 over the first n − 1 bits (transitions into bit i + 1)."""
    n = bits.shape[0]
    c0 = 0
    c00 = 0
    c10 = 0
    for i in range(n - 1):
        if bits[i] == 0:
            c0 += 1
            if bits[i + 1] == 0:
                c00 += 1
        elif bits[i + 1] == 0:
            c10 += 1
    return c0, c00, c10


@njit(cache=True, nogil=True, inline="always")
def _kahan(total, comp, x):  # type: ignore[no-untyped-def]  # pragma: no cover
    y = x - comp
    t = total + y
    return t, (t - total) - y


@njit(_f64x2(_u8, types.int64, types.int64), cache=True, nogil=True)
def compression_sums(bits, block, d):  # type: ignore[no-untyped-def]  # pragma: no cover
    """Σ log2(distance) and Σ log2(distance)² over the test blocks (Kahan sums).

    Blocks of ``block`` bits are read MSB-first; the first ``d`` blocks fill the dictionary of
    last positions, the remaining blocks are tested against it.
    """
    last = np.zeros(1 << block, np.int64)
    num_blocks = bits.shape[0] // block
    x, xc, s, sc = 0.0, 0.0, 0.0, 0.0
    for i in range(num_blocks):
        word = 0
        for j in range(block):
            word = (word << 1) | (bits[i * block + j] & 1)
        if i >= d:
            lg = np.log2(np.float64(i + 1 - last[word]))
            x, xc = _kahan(x, xc, lg)
            s, sc = _kahan(s, sc, lg * lg)
        last[word] = i + 1
    return x, s


_RESCALE = 2.0**500


@njit(types.float64(types.float64, types.int64, types.int64), cache=True, nogil=True)
def compression_g(z, d, num_blocks):  # type: ignore[no-untyped-def]  # pragma: no cover
    """G(z) of SP 800-90B §6.3.4 step 9 with the tool's shared-term evaluation.

    B_i = (1 − z)^i is kept as a double times 2^−e (rescaled by exact powers of two) so that,
    like the tool's long double, it never sticks at the smallest subnormal; terms are
    rounded to double and Kahan-summed, and the tail stops once a term (N − i)·a_i rounds to
    zero in double, where the tool stops.
    """
    ai_sum, ai_c = 0.0, 0.0
    first, first_c = 0.0, 0.0
    bterm = 1.0 - z
    bi = bterm
    e = 0
    for i in range(2, d + 1):
        ai_sum, ai_c = _kahan(ai_sum, ai_c, math.ldexp(np.log2(np.float64(i)) * bi, -e))
        bi *= bterm
        if bi < 1.0 / _RESCALE:
            bi *= _RESCALE
            e += 500
    ad1 = ai_sum
    truncated = False
    for i in range(d + 1, num_blocks):
        base = np.log2(np.float64(i)) * bi
        ai_sum, ai_c = _kahan(ai_sum, ai_c, math.ldexp(base, -e))
        scaled = math.ldexp(np.float64(num_blocks - i) * base, -e)
        if scaled > 0.0:
            first, first_c = _kahan(first, first_c, scaled)
        else:
            truncated = True
            break
        bi *= bterm
        if bi < 1.0 / _RESCALE:
            bi *= _RESCALE
            e += 500
    first, first_c = _kahan(first, first_c, np.float64(num_blocks - d) * ad1)
    if not truncated:
        ai_sum, ai_c = _kahan(ai_sum, ai_c, math.ldexp(np.log2(np.float64(num_blocks)) * bi, -e))
    v = num_blocks - d
    return 1.0 / v * z * (z * first + (ai_sum - ad1))


@njit(_i64x3(_u8, types.int64), cache=True, nogil=True)
def multi_mcw(s, k):  # type: ignore[no-untyped-def]  # pragma: no cover
    """MultiMCW predictor (windows 63, 255, 1023, 4095): correct count C, N, longest run.

    The most common value in a window breaks ties towards the most recent occurrence, as the
    reference tool does.
    """
    wins = np.array([63, 255, 1023, 4095], np.int64)
    nw = 4
    n = s.shape[0]
    cnt = np.zeros((nw, k), np.int64)
    pos = np.zeros((nw, k), np.int64)
    maxc = np.zeros(nw, np.int64)
    freq = np.zeros(nw, np.int64)
    score = np.zeros(nw, np.int64)
    for i in range(wins[nw - 1]):
        x = s[i]
        for j in range(nw):
            if i < wins[j]:
                cnt[j, x] += 1
                if maxc[j] <= cnt[j, x]:
                    maxc[j] = cnt[j, x]
                    freq[j] = x
                pos[j, x] = i
    winner = 0
    c = 0
    run = 0
    best = 0
    for i in range(wins[0], n):
        x = s[i]
        if freq[winner] == x:
            c += 1
            run += 1
            if run > best:
                best = run
        else:
            run = 0
        for j in range(nw):
            if i >= wins[j] and freq[j] == x:
                score[j] += 1
                if score[j] >= score[winner]:
                    winner = j
        for j in range(nw):
            if i < wins[j]:
                continue
            old = s[i - wins[j]]
            cnt[j, old] -= 1
            cnt[j, x] += 1
            pos[j, x] = i
            if old != freq[j] and maxc[j] <= cnt[j, x]:
                maxc[j] = cnt[j, x]
                freq[j] = x
            elif old == freq[j]:
                maxc[j] -= 1
                mpos = i - wins[j]
                for y in range(k):
                    if maxc[j] < cnt[j, y] or (maxc[j] == cnt[j, y] and mpos <= pos[j, y]):
                        maxc[j] = cnt[j, y]
                        freq[j] = y
                        mpos = pos[j, y]
    return c, n - wins[0], best


@njit(
    types.Array(types.float64, 1, "C")(
        types.Array(types.int64, 1, "C", readonly=True), types.int64
    ),
    cache=True,
    nogil=True,
)
def accumulated_proportions(counts, n):  # type: ignore[no-untyped-def]  # pragma: no cover
    """p[v] as the tool computes it: 1.0/n added once per occurrence, in double."""
    step = 1.0 / n
    p = np.zeros(counts.shape[0], np.float64)
    for v in range(counts.shape[0]):
        acc = 0.0
        for _ in range(counts[v]):
            acc += step
        p[v] = acc
    return p
