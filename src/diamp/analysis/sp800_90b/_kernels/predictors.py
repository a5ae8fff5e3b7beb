"""Kernels for the MultiMMC (§6.3.9) and LZ78Y (§6.3.10) predictors.

Binary data use direct-indexed count tables (a context of j bits, newest bit least
significant, indexes a pair of counts), as the tool does; other alphabets use the hash
tables of :mod:`.tables`. Both reproduce the tool's dictionary caps: MultiMMC stops adding
(context, symbol) pairs to an order once it holds 100,000; LZ78Y stops adding contexts once
65,536 exist over all orders (a known context still gains new symbols).
"""

from __future__ import annotations

import numpy as np
from numba import njit, types

from diamp.analysis.sp800_90b._kernels.tables import (
    best_count,
    best_symbol,
    capacity_for,
    grow_pairs,
    pair_increment,
    prefix_insert,
    prefix_slot,
)

_u8 = types.Array(types.uint8, 1, "C", readonly=True)
_i64x2 = types.UniTuple(types.int64, 2)  # type: ignore[no-untyped-call]
D_MMC = 16
MMC_MAX_ENTRIES = 100_000
B_LZ = 16
LZ_MAX_DICT = 65_536


@njit(_i64x2(_u8), cache=True, nogil=True)
def mmc_binary(s):  # type: ignore[no-untyped-def]  # pragma: no cover
    """MultiMMC on bits: correct predictions C (out of n − 2) and the longest run.

    Order d (context of d + 1 bits, newest bit least significant) owns the slice
    ``off[d] : off[d + 1]`` of one count table, two counts per context.
    """
    n = s.shape[0]
    off = np.zeros(D_MMC + 1, np.int64)
    for d in range(D_MMC):
        off[d + 1] = off[d] + (1 << (d + 2))
    t = np.zeros(off[D_MMC], np.int32)
    elems = np.zeros(D_MMC, np.int64)
    score = np.zeros(D_MMC, np.int64)
    pattern = np.int64(0)
    for d in range(D_MMC):
        pattern = (pattern << 1) | np.int64(s[d] & 1)
        t[off[d] + ((pattern & ((1 << (d + 1)) - 1)) << 1) + np.int64(s[d + 1] & 1)] = 1
        elems[d] = 1
    winner = 0
    c = 0
    run = 0
    best = 0
    for i in range(2, n):
        y = np.int64(s[i] & 1)
        cur = winner
        pattern = np.int64(0)
        found = True
        for d in range(min(D_MMC, i - 1)):
            pattern |= np.int64(s[i - d - 1] & 1) << d
            base = off[d] + (pattern << 1)
            a = t[base]
            b = t[base + 1]
            if found:
                found = (a | b) != 0
            if found:
                hit = (b >= a) == (y == 1)  # the prediction is 1 unless count(0) > count(1)
                if hit:
                    score[d] += 1
                    if score[d] >= score[winner]:
                        winner = d
                if d == cur:
                    if hit:
                        c += 1
                        run += 1
                        if run > best:
                            best = run
                    else:
                        run = 0
                v = t[base + y]
                if v != 0:
                    t[base + y] = v + 1
                elif elems[d] < MMC_MAX_ENTRIES:
                    t[base + y] = 1
                    elems[d] += 1
            elif elems[d] < MMC_MAX_ENTRIES:
                t[base + y] = 1  # the tool sets (not adds) here
                elems[d] += 1
    return c, best


@njit(cache=True, nogil=True, inline="always")
def _pack(lo, hi, d, b):  # type: ignore[no-untyped-def]  # pragma: no cover
    if d < 8:
        return lo | (np.uint64(b) << np.uint64(8 * d)), hi
    return lo, hi | (np.uint64(b) << np.uint64(8 * (d - 8)))


@njit(_i64x2(_u8), cache=True, nogil=True)
def mmc_general(s):  # type: ignore[no-untyped-def]  # pragma: no cover
    """MultiMMC on symbols 0..k−1 (k > 2): correct predictions C (out of n − 2), longest run.

    Tables are sized up front for the largest possible dictionary (16 orders of at most
    100,000 entries, fewer for short inputs).
    """
    n = s.shape[0]
    most = D_MMC * min(MMC_MAX_ENTRIES, n) + D_MMC
    prefixes = np.zeros((capacity_for(most), 4), np.uint64)
    pairs = np.zeros((capacity_for(most), 2), np.uint64)
    n_prefixes = np.zeros(1, np.int64)
    n_pairs = np.zeros(1, np.int64)
    entries = np.zeros(D_MMC, np.int64)
    score = np.zeros(D_MMC, np.int64)
    for d in range(D_MMC):
        if d < n - 2:
            lo, hi = np.uint64(0), np.uint64(0)
            for j in range(d + 1):
                lo, hi = _pack(lo, hi, j, s[d - j])
            slot = prefix_slot(prefixes, d, lo, hi)
            prefix_insert(prefixes, n_prefixes, slot, d, lo, hi)
            pair_increment(prefixes, slot, pairs, n_pairs, np.int64(s[d + 1]), True)
            entries[d] = 1
    winner = 0
    c = 0
    run = 0
    best = 0
    for i in range(2, n):
        y = np.int64(s[i])
        cur_winner = winner
        found = False
        lo, hi = np.uint64(0), np.uint64(0)
        slot = np.int64(-1)
        for d in range(min(D_MMC, i - 1)):
            lo, hi = _pack(lo, hi, d, s[i - d - 1])
            looked = False
            if d == 0 or found:
                slot = prefix_slot(prefixes, d, lo, hi)
                looked = True
                found = prefixes[slot, 2] != 0
            if found:
                if best_symbol(prefixes, slot) == y:
                    score[d] += 1
                    if score[d] >= score[winner]:
                        winner = d
                    if d == cur_winner:
                        c += 1
                        run += 1
                        if run > best:
                            best = run
                elif d == cur_winner:
                    run = 0
                room = entries[d] < MMC_MAX_ENTRIES
                if pair_increment(prefixes, slot, pairs, n_pairs, y, room):
                    entries[d] += 1
            elif entries[d] < MMC_MAX_ENTRIES:
                if not looked:
                    slot = prefix_slot(prefixes, d, lo, hi)
                if prefixes[slot, 2] == 0:
                    prefix_insert(prefixes, n_prefixes, slot, d, lo, hi)
                pair_increment(prefixes, slot, pairs, n_pairs, y, True)
                entries[d] += 1  # counted even if the pair existed, as by the tool
    return c, best


@njit(_i64x2(_u8), cache=True, nogil=True)
def lz78y_binary(s):  # type: ignore[no-untyped-def]  # pragma: no cover
    """LZ78Y on bits: correct predictions C (out of n − 17) and the longest run.

    Length j (newest bit least significant) owns the slice ``off[j-1] : off[j]`` of one
    count table. A context with both counts 0 is absent: it is added (if the dictionary has
    room) by setting the count of the next bit to 1.
    """
    n = s.shape[0]
    off = np.zeros(B_LZ + 1, np.int64)
    for j in range(B_LZ):
        off[j + 1] = off[j] + (1 << (j + 2))
    t = np.zeros(off[B_LZ], np.int32)
    elems = 0
    pattern = np.int64(0)
    for j in range(B_LZ):
        pattern |= np.int64(s[B_LZ - j - 1] & 1) << j
        t[off[j] + ((pattern & ((1 << (j + 1)) - 1)) << 1) + np.int64(s[B_LZ] & 1)] = 1
        elems += 1
    c = 0
    run = 0
    best = 0
    window = np.int64(0)
    for i in range(B_LZ):
        window = (window << 1) | np.int64(s[i] & 1)
    for i in range(B_LZ + 1, n):
        window = ((window << 1) | np.int64(s[i - 1] & 1)) & ((1 << B_LZ) - 1)
        y = np.int64(s[i] & 1)
        pred = -1
        max_count = 0
        for j in range(B_LZ, 0, -1):
            base = off[j - 1] + ((window & ((1 << j) - 1)) << 1)
            a = t[base]
            b = t[base + 1]
            cnt = max(a, b)
            if cnt > max_count:  # strictly: the longest context wins ties
                max_count = cnt
                pred = 1 if b >= a else 0
            if cnt != 0:
                t[base + y] += 1
            elif elems < LZ_MAX_DICT:
                t[base + y] = 1
                elems += 1
        if pred == y:
            c += 1
            run += 1
            if run > best:
                best = run
        else:
            run = 0
    return c, best


@njit(_i64x2(_u8), cache=True, nogil=True)
def lz78y_general(s):  # type: ignore[no-untyped-def]  # pragma: no cover
    """LZ78Y on symbols 0..k−1 (k > 2): correct predictions C (out of n − 17), longest run.

    The prefix table is sized for the largest dictionary (65,536 contexts), the pair table
    grows between samples.
    """
    n = s.shape[0]
    prefixes = np.zeros((capacity_for(min(LZ_MAX_DICT, B_LZ * n) + B_LZ), 4), np.uint64)
    pairs = np.zeros((1 << 16, 2), np.uint64)
    n_prefixes = np.zeros(1, np.int64)
    n_pairs = np.zeros(1, np.int64)
    size = 0
    for j in range(1, B_LZ + 1):
        lo, hi = np.uint64(0), np.uint64(0)
        for m in range(j):
            lo, hi = _pack(lo, hi, m, s[B_LZ - 1 - m])
        slot = prefix_slot(prefixes, j - 1, lo, hi)
        prefix_insert(prefixes, n_prefixes, slot, j - 1, lo, hi)
        pair_increment(prefixes, slot, pairs, n_pairs, np.int64(s[B_LZ]), True)
        size += 1
    los = np.zeros(B_LZ + 1, np.uint64)
    his = np.zeros(B_LZ + 1, np.uint64)
    c = 0
    run = 0
    best = 0
    for i in range(B_LZ + 1, n):
        if 5 * (n_pairs[0] + B_LZ) >= 2 * pairs.shape[0]:
            pairs = grow_pairs(pairs)
        y = np.int64(s[i])
        lo, hi = np.uint64(0), np.uint64(0)
        for m in range(B_LZ):
            lo, hi = _pack(lo, hi, m, s[i - 1 - m])
            los[m + 1] = lo
            his[m + 1] = hi
        have = False
        pred = np.int64(0)
        max_count = np.int64(0)
        for j in range(B_LZ, 0, -1):  # longest context first
            slot = prefix_slot(prefixes, j - 1, los[j], his[j])
            if prefixes[slot, 2] != 0:
                cnt = best_count(prefixes, slot)
                if cnt > max_count:  # strictly: the longest context wins ties
                    max_count = cnt
                    pred = best_symbol(prefixes, slot)
                    have = True
                pair_increment(prefixes, slot, pairs, n_pairs, y, True)
            elif size < LZ_MAX_DICT:
                prefix_insert(prefixes, n_prefixes, slot, j - 1, los[j], his[j])
                pair_increment(prefixes, slot, pairs, n_pairs, y, True)
                size += 1
        if have and pred == y:
            c += 1
            run += 1
            if run > best:
                best = run
        else:
            run = 0
    return c, best
