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
    new_pair_table,
    new_prefix_table,
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
    """MultiMMC on bits: correct predictions C (out of n − 2) and the longest run."""
    n = s.shape[0]
    tables = [np.zeros(1 << (d + 2), np.int64) for d in range(D_MMC)]
    elems = np.zeros(D_MMC, np.int64)
    score = np.zeros(D_MMC, np.int64)
    pattern = 0
    for d in range(D_MMC):
        pattern = (pattern << 1) | (s[d] & 1)
        tables[d][((pattern & ((1 << (d + 1)) - 1)) << 1) + (s[d + 1] & 1)] = 1
        elems[d] = 1
    winner = 0
    c = 0
    run = 0
    best = 0
    for i in range(2, n):
        y = s[i] & 1
        cur_winner = winner
        pattern = 0
        found = False
        top = min(D_MMC, i - 1)
        for d in range(top):
            pattern |= (s[i - d - 1] & 1) << d
            base = pattern << 1
            t = tables[d]
            if d == 0 or found:
                if t[base] > t[base + 1]:
                    pred, cnt = 0, t[base]
                else:
                    pred, cnt = 1, t[base + 1]
                found = cnt != 0
            if found:
                if pred == y:
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
                if t[base + y] != 0:
                    t[base + y] += 1
                elif elems[d] < MMC_MAX_ENTRIES:
                    t[base + y] = 1
                    elems[d] += 1
            elif elems[d] < MMC_MAX_ENTRIES:
                t[base + y] = 1
                elems[d] += 1
    return c, best


@njit(cache=True, nogil=True, inline="always")
def _pack(lo, hi, d, b):  # type: ignore[no-untyped-def]  # pragma: no cover
    if d < 8:
        return lo | (np.uint64(b) << np.uint64(8 * d)), hi
    return lo, hi | (np.uint64(b) << np.uint64(8 * (d - 8)))


@njit(_i64x2(_u8), cache=True, nogil=True)
def mmc_general(s):  # type: ignore[no-untyped-def]  # pragma: no cover
    """MultiMMC on symbols 0..k−1 (k > 2): correct predictions C (out of n − 2), longest run."""
    n = s.shape[0]
    prefixes = new_prefix_table(1 << 16)
    pairs = new_pair_table(1 << 16)
    entries = np.zeros(D_MMC, np.int64)
    score = np.zeros(D_MMC, np.int64)
    for d in range(D_MMC):
        if d < n - 2:
            lo, hi = np.uint64(0), np.uint64(0)
            for j in range(d + 1):
                lo, hi = _pack(lo, hi, j, s[d - j])
            slot = prefix_slot(prefixes, d, lo, hi)
            prefixes, slot = prefix_insert(prefixes, slot, d, lo, hi)
            pairs, _ = pair_increment(pairs, prefixes, slot, np.int64(s[d + 1]), True)
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
                found = prefixes[0][slot, 2] != 0
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
                pairs, made = pair_increment(pairs, prefixes, slot, y, entries[d] < MMC_MAX_ENTRIES)
                if made:
                    entries[d] += 1
            elif entries[d] < MMC_MAX_ENTRIES:
                if not looked:
                    slot = prefix_slot(prefixes, d, lo, hi)
                if prefixes[0][slot, 2] == 0:
                    prefixes, slot = prefix_insert(prefixes, slot, d, lo, hi)
                pairs, _ = pair_increment(pairs, prefixes, slot, y, True)
                entries[d] += 1
    return c, best


@njit(_i64x2(_u8), cache=True, nogil=True)
def lz78y_binary(s):  # type: ignore[no-untyped-def]  # pragma: no cover
    """LZ78Y on bits: correct predictions C (out of n − 17) and the longest run."""
    n = s.shape[0]
    tables = [np.zeros(1 << (j + 2), np.int64) for j in range(B_LZ)]
    elems = 0
    pattern = 0
    for j in range(B_LZ):
        pattern |= (s[B_LZ - j - 1] & 1) << j
        tables[j][((pattern & ((1 << (j + 1)) - 1)) << 1) + (s[B_LZ] & 1)] = 1
        elems += 1
    c = 0
    run = 0
    best = 0
    window = 0
    for i in range(B_LZ):
        window = (window << 1) | (s[i] & 1)
    for i in range(B_LZ + 1, n):
        window = ((window << 1) | (s[i - 1] & 1)) & ((1 << B_LZ) - 1)
        y = s[i] & 1
        have = False
        pred = 0
        max_count = 0
        for j in range(B_LZ, 0, -1):
            base = (window & ((1 << j) - 1)) << 1
            t = tables[j - 1]
            if t[base] > t[base + 1]:
                rp, cnt = 0, t[base]
            else:
                rp, cnt = 1, t[base + 1]
            if cnt != 0:
                if cnt > max_count:
                    max_count = cnt
                    have = True
                    pred = rp
                t[base + y] += 1
            elif elems < LZ_MAX_DICT:
                t[base + y] = 1
                elems += 1
        if have and pred == y:
            c += 1
            run += 1
            if run > best:
                best = run
        else:
            run = 0
    return c, best


@njit(_i64x2(_u8), cache=True, nogil=True)
def lz78y_general(s):  # type: ignore[no-untyped-def]  # pragma: no cover
    """LZ78Y on symbols 0..k−1 (k > 2): correct predictions C (out of n − 17), longest run."""
    n = s.shape[0]
    prefixes = new_prefix_table(1 << 16)
    pairs = new_pair_table(1 << 16)
    size = 0
    for j in range(1, B_LZ + 1):
        lo, hi = np.uint64(0), np.uint64(0)
        for m in range(j):
            lo, hi = _pack(lo, hi, m, s[B_LZ - 1 - m])
        slot = prefix_slot(prefixes, j - 1, lo, hi)
        prefixes, slot = prefix_insert(prefixes, slot, j - 1, lo, hi)
        pairs, _ = pair_increment(pairs, prefixes, slot, np.int64(s[B_LZ]), True)
        size += 1
    los = np.zeros(B_LZ, np.uint64)
    his = np.zeros(B_LZ, np.uint64)
    c = 0
    run = 0
    best = 0
    for i in range(B_LZ + 1, n):
        y = np.int64(s[i])
        lo, hi = np.uint64(0), np.uint64(0)
        for m in range(B_LZ):
            lo, hi = _pack(lo, hi, m, s[i - 1 - m])
            los[m] = lo
            his[m] = hi
        have = False
        pred = np.int64(0)
        max_count = np.int64(0)
        for j in range(B_LZ, 0, -1):
            slot = prefix_slot(prefixes, j - 1, los[j - 1], his[j - 1])
            if prefixes[0][slot, 2] != 0:
                cnt = best_count(prefixes, slot)
                if cnt > max_count:
                    max_count = cnt
                    pred = best_symbol(prefixes, slot)
                    have = True
                pairs, _ = pair_increment(pairs, prefixes, slot, y, True)
            elif size < LZ_MAX_DICT:
                prefixes, slot = prefix_insert(prefixes, slot, j - 1, los[j - 1], his[j - 1])
                pairs, _ = pair_increment(pairs, prefixes, slot, y, True)
                size += 1
        if have and pred == y:
            c += 1
            run += 1
            if run > best:
                best = run
        else:
            run = 0
    return c, best
