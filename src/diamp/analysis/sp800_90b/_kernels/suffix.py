"""Suffix array (SA-IS), LCP array (Kasai) and tuple statistics from the LCP intervals.

The SA-IS recursion (Nong, Zhang & Chan, "Two efficient algorithms for linear time suffix
array construction", IEEE Trans. Computers 60(10), 2011) is split into two kernels; the
driver in :mod:`diamp.analysis.sp800_90b.tuples` recurses on the reduced string. A virtual
sentinel smaller than every symbol ends the text.
"""

from __future__ import annotations

import numpy as np
from numba import njit, types

_i32a = types.Array(types.int32, 1, "C", readonly=True)
_i32w = types.Array(types.int32, 1, "C")
_u8a = types.Array(types.uint8, 1, "C")
_i64a = types.Array(types.int64, 1, "C")
_i64, _b = types.int64, types.boolean
_u8r = types.Array(types.uint8, 1, "C", readonly=True)
_u64a = types.Array(types.uint64, 1, "C")


@njit(_u8a(_i32a), cache=True, nogil=True)
def _kinds(t):  # type: ignore[no-untyped-def]  # pragma: no cover
    """1 for S-type suffixes, 0 for L-type (the last suffix is L: the sentinel follows)."""
    n = t.shape[0]
    kind = np.zeros(n, np.uint8)
    for i in range(n - 2, -1, -1):
        if t[i] < t[i + 1] or (t[i] == t[i + 1] and kind[i + 1] == 1):
            kind[i] = 1
    return kind


@njit(_i64a(_i32a, _i64, _b), cache=True, nogil=True)
def _buckets(t, k, ends):  # type: ignore[no-untyped-def]  # pragma: no cover
    count = np.zeros(k, np.int64)
    for i in range(t.shape[0]):
        count[t[i]] += 1
    out = np.empty(k, np.int64)
    total = 0
    for c in range(k):
        total += count[c]
        out[c] = total if ends else total - count[c]
    return out


@njit(types.void(_i32a, _u8a, _i32w, _i64), cache=True, nogil=True)
def _induce(t, kind, sa, k):  # type: ignore[no-untyped-def]  # pragma: no cover
    """Induce L-type suffixes left to right, then S-type suffixes right to left."""
    n = t.shape[0]
    head = _buckets(t, k, False)
    sa[head[t[n - 1]]] = n - 1
    head[t[n - 1]] += 1
    for i in range(n):
        j = sa[i] - 1
        if j >= 0 and kind[j] == 0:
            sa[head[t[j]]] = j
            head[t[j]] += 1
    tail = _buckets(t, k, True)
    for i in range(n - 1, -1, -1):
        j = sa[i] - 1
        if j >= 0 and kind[j] == 1:
            tail[t[j]] -= 1
            sa[tail[t[j]]] = j


@njit(cache=True, nogil=True, inline="always")
def _is_lms(kind, i):  # type: ignore[no-untyped-def]  # pragma: no cover
    return i > 0 and kind[i] == 1 and kind[i - 1] == 0


@njit(types.Tuple((_i32w, _i64a, _i64))(_i32a, _i64), cache=True, nogil=True)  # type: ignore[no-untyped-call]
def sais_reduce(t, k):  # type: ignore[no-untyped-def]  # pragma: no cover
    """Sort and name the LMS substrings: (reduced string, LMS positions, number of names)."""
    n = t.shape[0]
    kind = _kinds(t)
    sa = np.full(n, -1, np.int32)
    tail = _buckets(t, k, True)
    m = 0
    for i in range(1, n):
        if _is_lms(kind, i):
            tail[t[i]] -= 1
            sa[tail[t[i]]] = i
            m += 1
    _induce(t, kind, sa, k)
    lms = np.empty(m, np.int64)
    j = 0
    for i in range(n):
        if _is_lms(kind, sa[i]):
            lms[j] = sa[i]
            j += 1
    name_at = np.full(n // 2 + 1, -1, np.int64)
    names = 0
    prev = -1
    for idx in range(m):
        pos = lms[idx]
        differ = prev < 0
        d = 0
        while not differ:
            if pos + d == n or prev + d == n:
                differ = True
            elif t[pos + d] != t[prev + d] or kind[pos + d] != kind[prev + d]:
                differ = True
            elif d > 0 and _is_lms(kind, pos + d):
                break
            d += 1
        if differ:
            names += 1
            prev = pos
        name_at[pos // 2] = names - 1
    reduced = np.empty(m, np.int32)
    positions = np.empty(m, np.int64)
    j = 0
    for i in range(1, n):
        if _is_lms(kind, i):
            reduced[j] = name_at[i // 2]
            positions[j] = i
            j += 1
    return reduced, positions, names


@njit(_i32w(_i32a, _i64, _i64a, _i32a), cache=True, nogil=True)
def sais_expand(t, k, positions, reduced_sa):  # type: ignore[no-untyped-def]  # pragma: no cover
    """Suffix array of ``t`` from the sorted LMS suffixes (``reduced_sa`` over ``positions``)."""
    n = t.shape[0]
    kind = _kinds(t)
    sa = np.full(n, -1, np.int32)
    tail = _buckets(t, k, True)
    for idx in range(reduced_sa.shape[0] - 1, -1, -1):
        p = positions[reduced_sa[idx]]
        tail[t[p]] -= 1
        sa[tail[t[p]]] = p
    _induce(t, kind, sa, k)
    return sa


@njit(_i32w(_i32a, _i32a), cache=True, nogil=True)
def lcp_kasai(t, sa):  # type: ignore[no-untyped-def]  # pragma: no cover
    """lcp[i] = longest common prefix of suffixes sa[i−1] and sa[i] (lcp[0] = 0)."""
    n = t.shape[0]
    rank = np.empty(n, np.int32)
    for i in range(n):
        rank[sa[i]] = i
    lcp = np.zeros(n, np.int32)
    h = 0
    for i in range(n):
        r = rank[i]
        if r > 0:
            j = sa[r - 1]
            while i + h < n and j + h < n and t[i + h] == t[j + h]:
                h += 1
            lcp[r] = h
            if h > 0:
                h -= 1
        else:
            h = 0
    return lcp


@njit(types.Tuple((_i64a, _i64a))(_i32a), cache=True, nogil=True)  # type: ignore[no-untyped-call]
def tuple_statistics(lcp):  # type: ignore[no-untyped-def]  # pragma: no cover
    """From the LCP array: Q[t] (largest count of a t-tuple) and S[t] (Σ C(count, 2)).

    Suffixes sharing their first t symbols form a run of the suffix array in which adjacent
    LCPs are ≥ t; these runs are the lcp-intervals (Abouelhoda, Kurtz & Ohlebusch 2004). An
    interval of value h whose parent has value h_p is the group of one t-tuple for every t in
    (h_p, h]; its size is the tuple's count. Index 0 of both arrays is unused; the arrays
    run to v, the length of the longest repeated substring.
    """
    n = lcp.shape[0]
    v = 0
    for i in range(n):
        if lcp[i] > v:
            v = lcp[i]
    size_max = np.zeros(v + 2, np.int64)
    diff = np.zeros(v + 2, np.int64)
    stack_h = np.zeros(v + 2, np.int64)
    stack_lb = np.zeros(v + 2, np.int64)
    top = 0
    for i in range(1, n + 1):
        cur = lcp[i] if i < n else 0
        lb = i - 1
        while cur < stack_h[top]:
            h = stack_h[top]
            size = i - stack_lb[top]
            lb = stack_lb[top]
            top -= 1
            parent = stack_h[top] if stack_h[top] > cur else cur
            if size > size_max[h]:
                size_max[h] = size
            pairs = size * (size - 1) // 2
            diff[parent + 1] += pairs
            diff[h + 1] -= pairs
        if cur > stack_h[top]:
            top += 1
            stack_h[top] = cur
            stack_lb[top] = lb
    q = np.ones(v + 1, np.int64)
    s = np.zeros(v + 1, np.int64)
    best = 1
    for h in range(v, 0, -1):
        if size_max[h] > best:
            best = size_max[h]
        q[h] = best
    acc = 0
    for h in range(1, v + 1):
        acc += diff[h]
        s[h] = acc
    return q, s


@njit(types.void(_u64a, _u64a), cache=True, nogil=True)
def radix_sort_u64(keys, tmp):  # type: ignore[no-untyped-def]  # pragma: no cover
    """Sort ``keys`` in place (LSD radix, 8-bit digits, stable); ``tmp`` is scratch."""
    n = keys.shape[0]
    counts = np.zeros((8, 256), np.int64)
    for i in range(n):
        k = keys[i]
        for b in range(8):
            counts[b, (k >> np.uint64(8 * b)) & np.uint64(255)] += 1
    src, dst = keys, tmp
    swaps = 0
    for b in range(8):
        constant = False
        for v in range(256):
            if counts[b, v] == n:
                constant = True
        if constant:
            continue
        pos = np.zeros(256, np.int64)
        total = 0
        for v in range(256):
            pos[v] = total
            total += counts[b, v]
        shift = np.uint64(8 * b)
        for i in range(n):
            k = src[i]
            v = (k >> shift) & np.uint64(255)
            dst[pos[v]] = k
            pos[v] += 1
        src, dst = dst, src
        swaps += 1
    if swaps % 2 == 1:
        keys[:] = tmp[:]


@njit(_i64(types.uint64), cache=True, nogil=True, inline="always")
def _clz(x):  # type: ignore[no-untyped-def]  # pragma: no cover
    if x == 0:
        return 64
    n = 0
    for width in (32, 16, 8, 4, 2, 1):
        if x >> np.uint64(64 - width) == 0:
            n += width
            x <<= np.uint64(width)
    return n


@njit(types.Tuple((_i32w, _b))(_u8r), cache=True, nogil=True)  # type: ignore[no-untyped-call]
def binary_lcp(bits):  # type: ignore[no-untyped-def]  # pragma: no cover
    """LCP array of the suffixes of a bit sequence in sorted order, if every LCP is < 64.

    Each suffix of 64 bits or more is keyed by its first 64 bits (MSB first); the keys are
    radix-sorted and adjacent LCPs read from the leading zeros of their XOR. The (at most
    63) shorter suffixes, zero-padded, are merged in before equal keys, shorter first, which
    is their lexicographic place. Returns (lcp, False) as soon as two full keys are equal:
    their LCP is unknown and the caller falls back to the suffix array.
    """
    n = bits.shape[0]
    full = max(0, n - 63)
    keys = np.empty(full, np.uint64)
    key = np.uint64(0)
    for i in range(min(n, 64)):
        key = (key << np.uint64(1)) | np.uint64(bits[i] & 1)
    if n < 64:
        key <<= np.uint64(64 - n)
    for i in range(full):
        keys[i] = key
        nxt = np.uint64(bits[i + 64] & 1) if i + 64 < n else np.uint64(0)
        key = (key << np.uint64(1)) | nxt
    radix_sort_u64(keys, np.empty(full, np.uint64))
    short = n - full
    skeys = np.empty(short, np.uint64)
    slen = np.empty(short, np.int64)
    for m in range(short):
        k = np.uint64(0)
        for j in range(full + m, n):
            k = (k << np.uint64(1)) | np.uint64(bits[j] & 1)
        skeys[m] = k << np.uint64(64 - (n - full - m))
        slen[m] = n - full - m
    for a in range(1, short):
        kk, ll, b = skeys[a], slen[a], a - 1
        while b >= 0 and (skeys[b] > kk or (skeys[b] == kk and slen[b] > ll)):
            skeys[b + 1] = skeys[b]
            slen[b + 1] = slen[b]
            b -= 1
        skeys[b + 1] = kk
        slen[b + 1] = ll
    lcp = np.zeros(n, np.int32)
    ia, ib = 0, 0
    prev_key, prev_len = np.uint64(0), -1
    for r in range(n):
        if ib < short and (ia >= full or skeys[ib] <= keys[ia]):
            k, length = skeys[ib], slen[ib]
            ib += 1
        else:
            k, length = keys[ia], np.int64(64)
            ia += 1
        if prev_len >= 0:
            h = min(_clz(k ^ prev_key), length, prev_len)
            if h >= 64:
                return lcp, False
            lcp[r] = h
        prev_key, prev_len = k, length
    return lcp, True
