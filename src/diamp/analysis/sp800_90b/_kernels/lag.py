"""Kernels for the Lag predictor (§6.3.8, D = 128 lags).

After each sample, every lag d whose sample d places back equals it scores a point, shortest
lag first; a lag whose score reaches the running high score becomes the winner (the tool's
order, equivalent to its per-symbol ring buffers). On bits, scores far below the high score
cannot win within the next 64 samples: they are brought up to date once per block of 64
with popcounts of XOR-ed bit windows, and only the others are followed sample by sample.
"""

from __future__ import annotations

import numpy as np
from numba import njit, types

_u8 = types.Array(types.uint8, 1, "C", readonly=True)
_u64a = types.Array(types.uint64, 1, "C")
_i64x2 = types.UniTuple(types.int64, 2)  # type: ignore[no-untyped-call]
_U1 = np.uint64(1)
D_LAG = 128


@njit(_i64x2(_u8), cache=True, nogil=True)
def lag_predict(s):  # type: ignore[no-untyped-def]  # pragma: no cover
    """Lag predictor on any alphabet: correct count C (out of n − 1) and the longest run."""
    n = s.shape[0]
    score = np.zeros(D_LAG, np.int64)
    winner = 0
    high = 0
    c = 0
    run = 0
    best = 0
    for i in range(1, n):
        x = s[i]
        if x == s[i - winner - 1]:
            c += 1
            run += 1
            if run > best:
                best = run
        else:
            run = 0
        top = D_LAG if i >= D_LAG else i
        for d in range(top):
            if s[i - d - 1] == x:
                score[d] += 1
                if score[d] >= high:
                    winner = d
                    high = score[d]
    return c, best


@njit(types.uint64(types.uint64), cache=True, nogil=True, inline="always")
def _popcount(x):  # type: ignore[no-untyped-def]  # pragma: no cover
    x = x - ((x >> np.uint64(1)) & np.uint64(0x5555555555555555))
    x = (x & np.uint64(0x3333333333333333)) + ((x >> np.uint64(2)) & np.uint64(0x3333333333333333))
    x = (x + (x >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    return (x * np.uint64(0x0101010101010101)) >> np.uint64(56)


@njit(types.uint64(_u64a, types.int64), cache=True, nogil=True, inline="always")
def _window(words, p):  # type: ignore[no-untyped-def]  # pragma: no cover
    """Bits p .. p + 63 (bit p least significant) of LSB-first packed ``words``."""
    w = p >> 6
    r = np.uint64(p & 63)
    out = words[w] >> r
    if r != 0:
        out |= words[w + 1] << (np.uint64(64) - r)
    return out


@njit(_i64x2(_u8), cache=True, nogil=True)
def lag_binary(s):  # type: ignore[no-untyped-def]  # pragma: no cover
    """Lag predictor on bits 0/1; the same counts as :func:`lag_predict`."""
    n = s.shape[0]
    words = np.zeros((n >> 6) + 2, np.uint64)
    for i in range(n):
        words[i >> 6] |= np.uint64(s[i] & 1) << np.uint64(i & 63)
    score = np.zeros(D_LAG, np.int64)
    active = np.zeros(D_LAG, np.int64)
    winner = 0
    high = 0
    c = 0
    run = 0
    best = 0
    head = min(n, D_LAG + 1)
    i = 1
    while i < n:
        length = 1 if i < head else min(64, n - i)
        na = 0
        for d in range(D_LAG if i >= D_LAG else i):
            if i < head or score[d] + length >= high:  # may reach the high score in this block
                active[na] = d
                na += 1
        for j in range(i, i + length):
            x = s[j]
            if x == s[j - winner - 1]:
                c += 1
                run += 1
                if run > best:
                    best = run
            else:
                run = 0
            for m in range(na):
                d = active[m]
                if s[j - d - 1] == x:
                    sc = score[d] + 1
                    score[d] = sc
                    if sc >= high:
                        winner = d
                        high = sc
        if i >= head and na < D_LAG:
            mask = ~np.uint64(0) if length == 64 else (_U1 << np.uint64(length)) - _U1
            cur = _window(words, i)
            m = 0
            for d in range(D_LAG):
                if m < na and active[m] == d:
                    m += 1
                    continue
                diff = (cur ^ _window(words, i - d - 1)) & mask
                score[d] += length - np.int64(_popcount(diff))
        i += length
    return c, best
