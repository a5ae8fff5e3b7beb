"""numba kernels for the SP 800-22 tests (private).

Every kernel takes a sequence as a ``uint8`` array of 0/1 values, one bit per element, in
sequence order (bit 0 is the most significant bit of the first input byte: the input is
packed MSB-first). Where a kernel reproduces a floating-point sum of the reference
implementation (NIST sts-2.1.2) it adds the same terms in the same order with the same
operations, so that its result agrees with the reference to the last few ulps.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, types

_bits = types.Array(types.uint8, 1, "C", readonly=True)
_i64_1d = types.Array(types.int64, 1, "C")
_i64_1d_ro = types.Array(types.int64, 1, "C", readonly=True)
_i64_2d = types.Array(types.int64, 2, "C")
_i32_1d_ro = types.Array(types.int32, 1, "C", readonly=True)
_u64_2d_ro = types.Array(types.uint64, 2, "C", readonly=True)
_SQRT2 = math.sqrt(2.0)


@njit(_i64_1d(_bits, types.int64, types.int64), cache=True, nogil=True)
def longest_runs(bits, block, count):  # type: ignore[no-untyped-def]  # pragma: no cover
    """Longest run of ones in each of ``count`` consecutive blocks of ``block`` bits."""
    out = np.zeros(count, dtype=np.int64)
    for b in range(count):
        base = b * block
        best = 0
        run = 0
        for j in range(block):
            if bits[base + j]:
                run += 1
                if run > best:
                    best = run
            else:
                run = 0
        out[b] = best
    return out


_walk_sig = types.UniTuple(types.int64, 3)(_bits)  # type: ignore[no-untyped-call]


@njit(_walk_sig, cache=True, nogil=True)
def walk_extremes(bits):  # type: ignore[no-untyped-def]  # pragma: no cover
    """(S_n, max(0, max_k S_k), min(0, min_k S_k)) of the ±1 walk S_k = Σ_{i<=k} (2ε_i − 1)."""
    s = 0
    sup = 0
    inf = 0
    for i in range(bits.shape[0]):
        s += 2 * int(bits[i]) - 1
        if s > sup:
            sup = s
        if s < inf:
            inf = s
    return s, sup, inf


@njit(types.int64(types.int64, types.int64), cache=True, nogil=True)
def _cdiv(a, b):  # type: ignore[no-untyped-def]  # pragma: no cover
    """C integer division (truncates toward zero; numba's ``//`` floors)."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


@njit(types.float64(types.float64), cache=True, nogil=True)
def _normal(x):  # type: ignore[no-untyped-def]  # pragma: no cover
    """Standard normal CDF through erf, as the reference's ``cephes_normal``."""
    if x > 0:
        return 0.5 * (1.0 + math.erf(x / _SQRT2))
    return 0.5 * (1.0 - math.erf(-x / _SQRT2))


@njit(types.float64(types.int64, types.int64), cache=True, nogil=True)
def cusum_pvalue(n, z):  # type: ignore[no-untyped-def]  # pragma: no cover
    """P-value of a maximal excursion ``z`` of an ``n``-step walk (SP 800-22 §2.13.4 (4)).

    The summation bounds use C's truncating integer division, as the reference does.
    """
    sq = math.sqrt(n)
    nz = _cdiv(n, z)
    sum1 = 0.0
    for k in range(_cdiv(-nz + 1, 4), _cdiv(nz - 1, 4) + 1):
        sum1 += _normal(((4 * k + 1) * z) / sq)
        sum1 -= _normal(((4 * k - 1) * z) / sq)
    sum2 = 0.0
    for k in range(_cdiv(-nz - 3, 4), _cdiv(nz - 1, 4) + 1):
        sum2 += _normal(((4 * k + 3) * z) / sq)
        sum2 -= _normal(((4 * k + 1) * z) / sq)
    return 1.0 - sum1 + sum2


@njit(_i64_1d(_u64_2d_ro, types.int64), cache=True, nogil=True)
def gf2_ranks(rows, cols):  # type: ignore[no-untyped-def]  # pragma: no cover
    """Rank over GF(2) of each matrix (Gaussian elimination on bit-packed rows).

    ``rows[k, i]`` is row i of matrix k; column j is bit ``cols − 1 − j`` (the first column
    is the most significant of the ``cols`` low bits).
    """
    count, nrows = rows.shape
    out = np.zeros(count, dtype=np.int64)
    work = np.empty(nrows, dtype=np.uint64)
    for k in range(count):
        for i in range(nrows):
            work[i] = rows[k, i]
        rank = 0
        for col in range(cols):
            if rank == nrows:
                break
            bit = np.uint64(1) << np.uint64(cols - 1 - col)
            pivot = -1
            for i in range(rank, nrows):
                if work[i] & bit:
                    pivot = i
                    break
            if pivot < 0:
                continue
            tmp = work[pivot]
            work[pivot] = work[rank]
            work[rank] = tmp
            for i in range(rank + 1, nrows):
                if work[i] & bit:
                    work[i] ^= tmp
            rank += 1
        out[k] = rank
    return out


@njit(types.uint64(types.uint64), cache=True, nogil=True)
def _parity(x):  # type: ignore[no-untyped-def]  # pragma: no cover
    x ^= x >> np.uint64(32)
    x ^= x >> np.uint64(16)
    x ^= x >> np.uint64(8)
    x ^= x >> np.uint64(4)
    x ^= x >> np.uint64(2)
    x ^= x >> np.uint64(1)
    return x & np.uint64(1)


_u64_1d = types.Array(types.uint64, 1, "C")


@njit(types.void(_u64_1d, types.int64, types.uint64), cache=True, nogil=True)
def _push_bit(r, top, bit):  # type: ignore[no-untyped-def]  # pragma: no cover
    """Shift ``r`` up one bit (words 0 … ``top``) and put ``bit`` in bit 0."""
    for w in range(top, 0, -1):
        r[w] = (r[w] << np.uint64(1)) | (r[w - 1] >> np.uint64(63))
    r[0] = (r[0] << np.uint64(1)) | bit


@njit(types.uint64(_u64_1d, _u64_1d, types.int64), cache=True, nogil=True)
def _and_parity(c, r, top):  # type: ignore[no-untyped-def]  # pragma: no cover
    """Parity of the popcount of ``c & r`` over words 0 … ``top``."""
    acc = np.uint64(0)
    for w in range(top + 1):
        acc ^= c[w] & r[w]
    return _parity(acc)


@njit(types.void(_u64_1d, _u64_1d, types.int64), cache=True, nogil=True)
def _xor_shifted(c, b, shift):  # type: ignore[no-untyped-def]  # pragma: no cover
    """XOR ``b`` shifted up by ``shift`` bits into ``c`` (bits past the last word drop)."""
    q = shift >> 6
    s = np.uint64(shift & 63)
    for w in range(c.shape[0] - 1, q - 1, -1):
        v = b[w - q] << s
        if s != 0 and w - q - 1 >= 0:
            v |= b[w - q - 1] >> (np.uint64(64) - s)
        c[w] ^= v


_bm_sig = types.int64(_bits, types.int64, types.int64, _u64_1d, _u64_1d, _u64_1d, _u64_1d)


@njit(_bm_sig, cache=True, nogil=True)
def _berlekamp_massey(bits, start, length, c, b, t, r):  # type: ignore[no-untyped-def]  # pragma: no cover
    """Linear complexity of bits[start : start + length] (Massey 1969, bit-packed).

    Word arrays hold bit i at word i >> 6, position i & 63. ``c`` and ``b`` are connection
    polynomials (bit i = coefficient of x^i); ``r`` is the reversed window, bit i = s_{n−i},
    so the discrepancy s_n + Σ_{i=1..L} c_i s_{n−i} is the parity of ``c & r``.
    """
    c[:] = 0
    b[:] = 0
    r[:] = 0
    c[0] = np.uint64(1)
    b[0] = np.uint64(1)
    lc = 0
    m = -1
    for n in range(length):
        top = (n >> 6) + 1
        _push_bit(r, top, np.uint64(bits[start + n]))
        if _and_parity(c, r, top) == 0:
            continue
        t[:] = c
        _xor_shifted(c, b, n - m)
        if 2 * lc <= n:
            lc = n + 1 - lc
            m = n
            b[:] = t
    return lc


@njit(_i64_1d(_bits, types.int64, types.int64), cache=True, nogil=True)
def linear_complexities(bits, block, count):  # type: ignore[no-untyped-def]  # pragma: no cover
    """Linear complexity (Berlekamp–Massey) of each of ``count`` blocks of ``block`` bits."""
    words = block // 64 + 2
    out = np.zeros(count, dtype=np.int64)
    c = np.zeros(words, dtype=np.uint64)
    b = np.zeros(words, dtype=np.uint64)
    t = np.zeros(words, dtype=np.uint64)
    r = np.zeros(words, dtype=np.uint64)
    for blk in range(count):
        out[blk] = _berlekamp_massey(bits, blk * block, block, c, b, t, r)
    return out


@njit(_i64_1d(_bits, types.int64), cache=True, nogil=True)
def circular_window_counts(bits, m):  # type: ignore[no-untyped-def]  # pragma: no cover
    """Counts of the n overlapping m-bit windows of the sequence extended circularly.

    Window i is ε_i … ε_{i+m−1} (indices mod n) read as an integer with ε_i most significant.
    """
    n = bits.shape[0]
    counts = np.zeros(1 << m, dtype=np.int64)
    mask = (1 << m) - 1
    v = 0
    for j in range(m - 1):
        v = (v << 1) | int(bits[j % n])
    for i in range(n):
        j = i + m - 1
        while j >= n:
            j -= n
        v = ((v << 1) | int(bits[j])) & mask
        counts[v] += 1
    return counts


@njit(types.float64(_i64_1d_ro, types.float64), cache=True, nogil=True)
def apen_phi(counts, n):  # type: ignore[no-untyped-def]  # pragma: no cover
    """Φ = Σ_v (C_v / n)·log(C_v / n) over nonzero counts, summed as the reference does."""
    total = 0.0
    for v in range(counts.shape[0]):
        p = counts[v]
        if p > 0:
            total += p * math.log(p / n)
    return total / n


_template_sig = _i64_2d(_bits, types.int64, types.int64, types.int64, _i32_1d_ro, types.int64)


@njit(_template_sig, cache=True, nogil=True)
def block_template_counts(bits, m, block, count, lookup, ntemp):  # type: ignore[no-untyped-def]  # pragma: no cover
    """Occurrences of each template in each block.

    ``out[i, t]`` counts the windows j = 0 … block − m of block i whose m-bit value v (first
    bit most significant) has ``lookup[v] == t``.
    """
    out = np.zeros((count, ntemp), dtype=np.int64)
    mask = (1 << m) - 1
    for i in range(count):
        base = i * block
        v = 0
        for j in range(m - 1):
            v = (v << 1) | int(bits[base + j])
        for j in range(m - 1, block):
            v = ((v << 1) | int(bits[base + j])) & mask
            t = lookup[v]
            if t >= 0:
                out[i, t] += 1
    return out


@njit(_i64_1d(_bits, types.int64, types.int64, types.int64), cache=True, nogil=True)
def block_run_matches(bits, m, block, count):  # type: ignore[no-untyped-def]  # pragma: no cover
    """Overlapping occurrences of m consecutive ones in each of ``count`` blocks."""
    out = np.zeros(count, dtype=np.int64)
    for i in range(count):
        base = i * block
        run = 0
        hits = 0
        for j in range(block):
            if bits[base + j]:
                run += 1
                if run >= m:
                    hits += 1
            else:
                run = 0
        out[i] = hits
    return out


@njit(types.float64(_bits, types.int64, types.int64, types.int64), cache=True, nogil=True)
def universal_sum(bits, block, init, test):  # type: ignore[no-untyped-def]  # pragma: no cover
    """Σ log2(i − T[b_i]) over the ``test`` blocks after ``init`` initialisation blocks.

    T[v] is the 1-based index of the last block with value v; log2 is taken as
    log(x) / log(2) and summed in block order, as the reference does.
    """
    last = np.zeros(1 << block, dtype=np.int64)
    ln2 = math.log(2.0)
    total = 0.0
    for i in range(1, init + test + 1):
        v = 0
        base = (i - 1) * block
        for j in range(block):
            v = (v << 1) | int(bits[base + j])
        if i > init:
            total += math.log(np.float64(i - last[v])) / ln2
        last[v] = i
    return total


_excursion_sig = types.Tuple((types.int64, _i64_2d, _i64_1d))(_bits)  # type: ignore[no-untyped-call]


@njit(_excursion_sig, cache=True, nogil=True)
def excursion_stats(bits):  # type: ignore[no-untyped-def]  # pragma: no cover
    """Cycle statistics of the walk S_k = Σ_{i<=k} (2ε_i − 1).

    Returns (J, nu, visits): J is the number of cycles (zeros of the walk, plus one if the
    walk does not end at zero); ``nu[k, x]`` counts cycles that visit state
    (−4, −3, −2, −1, 1, 2, 3, 4)[x] exactly k times (k = 5: five or more); ``visits[s + 9]``
    is the number of k with S_k = s for s = −9 … 9.
    """
    nu = np.zeros((6, 8), dtype=np.int64)
    visits = np.zeros(19, dtype=np.int64)
    counter = np.zeros(8, dtype=np.int64)
    s = 0
    cycles = 0
    for i in range(bits.shape[0]):
        s += 2 * int(bits[i]) - 1
        if -9 <= s <= 9:
            visits[s + 9] += 1
        if s == 0:
            cycles += 1
            for x in range(8):
                nu[min(counter[x], 5), x] += 1
                counter[x] = 0
        elif -4 <= s <= 4:
            counter[s + 4 if s < 0 else s + 3] += 1
    if s != 0:
        cycles += 1
        for x in range(8):
            nu[min(counter[x], 5), x] += 1
    return cycles, nu, visits
