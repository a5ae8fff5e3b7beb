"""Growable open-addressing hash tables for the context-model predictors (private).

Two tables serve MultiMMC and LZ78Y on non-binary data:

* a *prefix* table mapping (order, context) to a dense prefix id. A context of up to 16
  symbols is packed into two 64-bit words, byte j holding the symbol j places before the
  newest (``lo`` bytes 0–7, ``hi`` bytes 8–15), so the key is exact. Each slot is one row
  ``[lo, hi, meta, best]`` (one cache line per probe): ``meta = id·256 + order + 1`` (0 for
  an empty slot) and ``best = count·256 + symbol`` of the prefix's most frequent postfix, so
  that ``max`` breaks count ties towards the larger symbol, as the tool's
  ``PostfixDictionary`` does;
* a *pair* table mapping (prefix id, next symbol) to a count, rows ``[id·256 + y + 1, count]``.

A table is a tuple (rows, [used]); an insertion reaching half load returns a grown copy.
"""

from __future__ import annotations

import numpy as np
from numba import njit, types

_rows = types.Array(types.uint64, 2, "C")
_used = types.Array(types.int64, 1, "C")
#: (rows [lo, hi, meta, best], [number of prefixes])
prefix_t = types.Tuple((_rows, _used))  # type: ignore[no-untyped-call]
#: (rows [key, count], [number of pairs])
pair_t = types.Tuple((_rows, _used))  # type: ignore[no-untyped-call]
_i64, _u64 = types.int64, types.uint64

_M1 = np.uint64(0x9E3779B97F4A7C15)
_M2 = np.uint64(0xC2B2AE3D27D4EB4F)
_M3 = np.uint64(0x165667B19E3779F9)
_M4 = np.uint64(0xBF58476D1CE4E5B9)
_S29 = np.uint64(29)
_S32 = np.uint64(32)
_ONE = np.uint64(1)
_B = np.uint64(256)


@njit(_u64(_u64, _u64, _u64), cache=True, nogil=True, inline="always")
def _mix(lo, hi, tag):  # type: ignore[no-untyped-def]  # pragma: no cover
    h = (lo * _M1) ^ (hi * _M2) ^ (tag * _M3)
    h ^= h >> _S29
    h *= _M4
    h ^= h >> _S32
    return h


@njit(prefix_t(_i64), cache=True, nogil=True)
def new_prefix_table(capacity):  # type: ignore[no-untyped-def]  # pragma: no cover
    """Empty prefix table with ``capacity`` slots (a power of two)."""
    return np.zeros((capacity, 4), np.uint64), np.zeros(1, np.int64)


@njit(_i64(prefix_t, _i64, _u64, _u64), cache=True, nogil=True)
def prefix_slot(table, order, lo, hi):  # type: ignore[no-untyped-def]  # pragma: no cover
    """Slot holding (order, lo, hi), or the empty slot where it would go."""
    rows = table[0]
    mask = np.uint64(rows.shape[0] - 1)
    tag = np.uint64(order + 1)
    s = _mix(lo, hi, tag) & mask
    while True:
        meta = rows[s, 2]
        if meta == 0 or ((meta & np.uint64(255)) == tag and rows[s, 0] == lo and rows[s, 1] == hi):
            return np.int64(s)
        s = (s + _ONE) & mask


@njit(prefix_t(prefix_t), cache=True, nogil=True)
def _grow_prefix(table):  # type: ignore[no-untyped-def]  # pragma: no cover
    rows = table[0]
    grown = new_prefix_table(rows.shape[0] * 2)
    for s in range(rows.shape[0]):
        meta = rows[s, 2]
        if meta != 0:
            order = np.int64(meta & np.uint64(255)) - 1
            t = prefix_slot(grown, order, rows[s, 0], rows[s, 1])
            grown[0][t, :] = rows[s, :]
    grown[1][0] = table[1][0]
    return grown


@njit(types.Tuple((prefix_t, _i64))(prefix_t, _i64, _i64, _u64, _u64), cache=True, nogil=True)  # type: ignore[no-untyped-call]
def prefix_insert(table, slot, order, lo, hi):  # type: ignore[no-untyped-def]  # pragma: no cover
    """Insert a new prefix at an empty ``slot``; returns (table, its slot), grown if needed."""
    rows, used = table
    new_id = used[0]
    rows[slot, 0] = lo
    rows[slot, 1] = hi
    rows[slot, 2] = np.uint64(new_id) * _B + np.uint64(order + 1)
    rows[slot, 3] = 0
    used[0] = new_id + 1
    if 2 * (new_id + 1) >= rows.shape[0]:
        table = _grow_prefix(table)
        slot = prefix_slot(table, order, lo, hi)
    return table, slot


@njit(pair_t(_i64), cache=True, nogil=True)
def new_pair_table(capacity):  # type: ignore[no-untyped-def]  # pragma: no cover
    """Empty pair table with ``capacity`` slots (a power of two)."""
    return np.zeros((capacity, 2), np.uint64), np.zeros(1, np.int64)


@njit(_i64(_rows, _u64), cache=True, nogil=True)
def _pair_slot(rows, key):  # type: ignore[no-untyped-def]  # pragma: no cover
    mask = np.uint64(rows.shape[0] - 1)
    s = _mix(key, _ONE, _ONE) & mask
    while True:
        k = rows[s, 0]
        if k == 0 or k == key:
            return np.int64(s)
        s = (s + _ONE) & mask


@njit(pair_t(pair_t), cache=True, nogil=True)
def _grow_pairs(pairs):  # type: ignore[no-untyped-def]  # pragma: no cover
    rows = pairs[0]
    grown = new_pair_table(rows.shape[0] * 2)
    for s in range(rows.shape[0]):
        if rows[s, 0] != 0:
            t = _pair_slot(grown[0], rows[s, 0])
            grown[0][t, 0] = rows[s, 0]
            grown[0][t, 1] = rows[s, 1]
    grown[1][0] = pairs[1][0]
    return grown


@njit(
    types.Tuple((pair_t, types.boolean))(pair_t, prefix_t, _i64, _i64, types.boolean),  # type: ignore[no-untyped-call]
    cache=True,
    nogil=True,
)
def pair_increment(pairs, prefixes, slot, y, allow_new):  # type: ignore[no-untyped-def]  # pragma: no cover
    """Count one (prefix at ``slot``, y); returns (pairs, new entry made).

    When the pair is absent and ``allow_new`` is false nothing changes. The prefix's best
    postfix is updated.
    """
    prows = prefixes[0]
    pid = prows[slot, 2] // _B
    key = pid * _B + np.uint64(y) + _ONE
    rows, used = pairs
    s = _pair_slot(rows, key)
    made = False
    if rows[s, 0] == 0:
        if not allow_new:
            return pairs, False
        rows[s, 0] = key
        rows[s, 1] = _ONE
        used[0] += 1
        made = True
        c = _ONE
    else:
        c = rows[s, 1] + _ONE
        rows[s, 1] = c
    cand = c * _B + np.uint64(y)
    if cand > prows[slot, 3]:
        prows[slot, 3] = cand
    if made and 2 * used[0] >= rows.shape[0]:
        pairs = _grow_pairs(pairs)
    return pairs, made


@njit(_i64(prefix_t, _i64), cache=True, nogil=True, inline="always")
def best_count(prefixes, slot):  # type: ignore[no-untyped-def]  # pragma: no cover
    """Count of the most frequent postfix of the prefix at ``slot``."""
    return np.int64(prefixes[0][slot, 3] // _B)


@njit(_i64(prefix_t, _i64), cache=True, nogil=True, inline="always")
def best_symbol(prefixes, slot):  # type: ignore[no-untyped-def]  # pragma: no cover
    """The most frequent postfix (ties to the larger symbol) of the prefix at ``slot``."""
    return np.int64(prefixes[0][slot, 3] % _B)
