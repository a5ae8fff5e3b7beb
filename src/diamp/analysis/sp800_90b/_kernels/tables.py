"""Open-addressing hash tables for the context-model predictors (private).

Two tables serve MultiMMC and LZ78Y on non-binary data:

* a *prefix* table mapping (order, context) to a prefix. A context of up to 16 symbols is
  packed into two 64-bit words, byte j holding the symbol j places before the newest
  (``lo`` bytes 0–7, ``hi`` bytes 8–15), so the key is exact. Each slot is one row
  ``[lo, hi, meta, best]`` (one cache line per probe): ``meta = id·256 + order + 1`` (0 for
  an empty slot) and ``best = count·256 + symbol`` of the prefix's most frequent postfix, so
  that ``max`` breaks count ties towards the larger symbol, as the tool's
  ``PostfixDictionary`` does;
* a *pair* table mapping (prefix id, next symbol) to a count, rows ``[id·256 + y + 1, count]``.

The hot helpers are inlined and never reallocate: callers size the prefix table for its
largest possible content and grow the pair table (:func:`grow_pairs`) between samples, so
that no array is returned (and reference-counted) per probe.
"""

from __future__ import annotations

import numpy as np
from numba import njit, types

rows_t = types.Array(types.uint64, 2, "C")
used_t = types.Array(types.int64, 1, "C")
_i64, _u64, _b = types.int64, types.uint64, types.boolean

_M1 = np.uint64(0x9E3779B97F4A7C15)
_M2 = np.uint64(0xC2B2AE3D27D4EB4F)
_M3 = np.uint64(0x165667B19E3779F9)
_M4 = np.uint64(0xBF58476D1CE4E5B9)
_S29 = np.uint64(29)
_S32 = np.uint64(32)
_ONE = np.uint64(1)
_B = np.uint64(256)
_LOW8 = np.uint64(255)


@njit(_u64(_u64, _u64, _u64), cache=True, nogil=True, inline="always")
def _mix(lo, hi, tag):  # type: ignore[no-untyped-def]  # pragma: no cover
    h = (lo * _M1) ^ (hi * _M2) ^ (tag * _M3)
    h ^= h >> _S29
    h *= _M4
    h ^= h >> _S32
    return h


@njit(_i64(_i64), cache=True, nogil=True)
def capacity_for(entries):  # type: ignore[no-untyped-def]  # pragma: no cover
    """Smallest power of two holding ``entries`` at under 40 % load."""
    cap = 64
    while cap * 2 < entries * 5:
        cap *= 2
    return cap


@njit(_i64(rows_t, _i64, _u64, _u64), cache=True, nogil=True, inline="always")
def prefix_slot(rows, order, lo, hi):  # type: ignore[no-untyped-def]  # pragma: no cover
    """Slot holding (order, lo, hi), or the empty slot where it would go."""
    mask = np.uint64(rows.shape[0] - 1)
    tag = np.uint64(order + 1)
    s = _mix(lo, hi, tag) & mask
    while True:
        meta = rows[s, 2]
        if meta == 0 or ((meta & _LOW8) == tag and rows[s, 0] == lo and rows[s, 1] == hi):
            return np.int64(s)
        s = (s + _ONE) & mask


@njit(types.void(rows_t, used_t, _i64, _i64, _u64, _u64), cache=True, nogil=True, inline="always")
def prefix_insert(rows, used, slot, order, lo, hi):  # type: ignore[no-untyped-def]  # pragma: no cover
    """Fill the empty ``slot`` with a new prefix (the table must have room)."""
    rows[slot, 0] = lo
    rows[slot, 1] = hi
    rows[slot, 2] = np.uint64(used[0]) * _B + np.uint64(order + 1)
    rows[slot, 3] = 0
    used[0] += 1


@njit(_i64(rows_t, _u64), cache=True, nogil=True, inline="always")
def _pair_slot(rows, key):  # type: ignore[no-untyped-def]  # pragma: no cover
    mask = np.uint64(rows.shape[0] - 1)
    s = _mix(key, _ONE, _ONE) & mask
    while True:
        k = rows[s, 0]
        if k == 0 or k == key:
            return np.int64(s)
        s = (s + _ONE) & mask


@njit(rows_t(rows_t), cache=True, nogil=True)
def grow_pairs(rows):  # type: ignore[no-untyped-def]  # pragma: no cover
    """A pair table of twice the capacity holding the same pairs."""
    grown = np.zeros((rows.shape[0] * 2, 2), np.uint64)
    for s in range(rows.shape[0]):
        if rows[s, 0] != 0:
            t = _pair_slot(grown, rows[s, 0])
            grown[t, 0] = rows[s, 0]
            grown[t, 1] = rows[s, 1]
    return grown


@njit(_b(rows_t, _i64, rows_t, used_t, _i64, _b), cache=True, nogil=True, inline="always")
def pair_increment(prefixes, slot, pairs, used, y, allow_new):  # type: ignore[no-untyped-def]  # pragma: no cover
    """Count one (prefix at ``slot``, y); True if a new pair was made.

    When the pair is absent and ``allow_new`` is false nothing changes. The prefix's best
    postfix is updated. The pair table must have room for one more pair.
    """
    key = (prefixes[slot, 2] // _B) * _B + np.uint64(y) + _ONE
    s = _pair_slot(pairs, key)
    made = False
    if pairs[s, 0] == 0:
        if not allow_new:
            return False
        pairs[s, 0] = key
        pairs[s, 1] = _ONE
        used[0] += 1
        made = True
        c = _ONE
    else:
        c = pairs[s, 1] + _ONE
        pairs[s, 1] = c
    cand = c * _B + np.uint64(y)
    if cand > prefixes[slot, 3]:
        prefixes[slot, 3] = cand
    return made


@njit(_i64(rows_t, _i64), cache=True, nogil=True, inline="always")
def best_count(prefixes, slot):  # type: ignore[no-untyped-def]  # pragma: no cover
    """Count of the most frequent postfix of the prefix at ``slot``."""
    return np.int64(prefixes[slot, 3] // _B)


@njit(_i64(rows_t, _i64), cache=True, nogil=True, inline="always")
def best_symbol(prefixes, slot):  # type: ignore[no-untyped-def]  # pragma: no cover
    """The most frequent postfix (ties to the larger symbol) of the prefix at ``slot``."""
    return np.int64(prefixes[slot, 3] % _B)
