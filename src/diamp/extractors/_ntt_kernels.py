"""numba kernels of the exact NTT correlation engine (private; see :mod:`diamp.extractors.ntt`).

Arithmetic modulo the prime P = 3·2^30 + 1. Field elements are ``uint32`` in [0, P); every
intermediate is a ``uint64``: a product of two elements is below P² < 2^64, a sum below
2P < 2^33, so nothing overflows. Multiplication is Montgomery's with R = 2^32 in its signed
form (t = a·b; k = (t mod R)·P^{-1} mod R; (t − k·P)/R ∈ (−P, P), then one conditional
addition), which needs no 128-bit product. Twiddle factors are stored in Montgomery form
(w·R mod P), so ``_mont(a, wR) = a·w mod P`` keeps the data in the ordinary form.

Transform layout: the forward transform is decimation in frequency (natural order in,
bit-reversed order out), the inverse is decimation in time with inverse roots (bit-reversed
in, natural out, unscaled), so no permutation pass is needed; products of two spectra are
taken elementwise in the bit-reversed order. The twiddle table ``tw`` of a length-L transform
has L entries: ``tw[h + j] = ω_{2h}^j · R mod P`` for every half-size h = 1, 2, …, L/2 and
0 <= j < h (ω_{2h} a primitive 2h-th root of unity); the inverse uses ω_{2h}^{-j} =
−ω_{2h}^{h−j}.

Every kernel works on an index range so that the caller can split one transform over
threads (all kernels release the GIL).
"""

from __future__ import annotations

import numpy as np
from numba import njit, types

from diamp.extractors._jit import start_numba
from diamp.extractors._ntt_field import GENERATOR, P_INV, R_MOD_P, P

start_numba()

__all__ = ["GENERATOR", "P_INV", "R_MOD_P", "P"]

_P = np.uint64(P)
_PINV = np.uint64(P_INV)
_LO = np.uint64(0xFFFFFFFF)
_S32 = np.uint64(32)

_u32 = types.Array(types.uint32, 1, "C")
_u32_ro = types.Array(types.uint32, 1, "C", readonly=True)
_u8_ro = types.Array(types.uint8, 1, "C", readonly=True)
_u8 = types.Array(types.uint8, 1, "C")
_i64 = types.int64
_u64 = types.uint64


# The helpers below are inlined into the typed kernels at numba's IR level: with an explicit
# signature numba would call them out of line, which kept the loops from vectorising.


@njit(inline="always", nogil=True)
def _mont(a, b):  # type: ignore[no-untyped-def]  # pragma: no cover
    """a·b·2^{-32} mod P for a, b < P, in [0, P)."""
    t = a * b
    k = ((t & _LO) * _PINV) & _LO
    hi = t >> _S32
    sub = (k * _P) >> _S32
    return hi - sub if hi >= sub else hi + _P - sub


@njit(inline="always", nogil=True)
def _add(a, b):  # type: ignore[no-untyped-def]  # pragma: no cover
    s = a + b
    return s - _P if s >= _P else s


@njit(inline="always", nogil=True)
def _sub(a, b):  # type: ignore[no-untyped-def]  # pragma: no cover
    return a - b if a >= b else a + _P - b


@njit(types.void(_u32, _i64, _i64, _i64, _u64, _u64), cache=True, nogil=True)
def fill_top(tw, h, start, stop, first, step):  # type: ignore[no-untyped-def]  # pragma: no cover
    """tw[h + j] for j in [start, stop): ``first`` (Montgomery form of ω^start) times ω^(j−start).

    ``step`` is the Montgomery form of ω = ω_{2h}; each entry is the previous one times ω.
    """
    w = first
    for j in range(np.uint64(h + start), np.uint64(h + stop)):
        tw[j] = np.uint32(w)
        w = _mont(w, step)


@njit(types.void(_u32, _i64, _i64, _i64, _i64), cache=True, nogil=True)
def fill_stage(tw, top, h, lo, hi):  # type: ignore[no-untyped-def]  # pragma: no cover
    """tw[h + j], lo <= j < hi, from the top stage: ω_{2h}^j = ω_{2·top}^(j·top/h)."""
    stride = np.uint64(top // h)
    base, src = np.uint64(h), np.uint64(top)
    for j in range(np.uint64(lo), np.uint64(hi)):
        tw[base + j] = tw[src + j * stride]


# Loop indices below are uint64 on purpose: numba then needs no negative-index wraparound
# and vectorises the loops (signed indices made them three to four times slower).


@njit(inline="always", nogil=True)
def _dif_run(a, tw, lo, hi, tw0, n):  # type: ignore[no-untyped-def]  # pragma: no cover
    """DIF butterflies (a[lo+j], a[hi+j]) with twiddle tw[tw0+j], j < n (all uint64)."""
    for j in range(n):
        u = np.uint64(a[lo + j])
        v = np.uint64(a[hi + j])
        a[lo + j] = np.uint32(_add(u, v))
        a[hi + j] = np.uint32(_mont(_sub(u, v), np.uint64(tw[tw0 + j])))


@njit(inline="always", nogil=True)
def _dit_run(a, tw, lo, hi, tw1, n):  # type: ignore[no-untyped-def]  # pragma: no cover
    """DIT butterflies (a[lo+j], a[hi+j]), j < n, with inverse twiddle −tw[tw1 − j].

    At half-size h and butterfly offset j' >= 1 the inverse root is ω_{2h}^{-j'} = −tw[2h − j'],
    so the caller passes tw1 = 2h − (offset of the first butterfly); all arguments uint64.
    """
    for j in range(n):
        u = np.uint64(a[lo + j])
        v = _mont(np.uint64(a[hi + j]), np.uint64(tw[tw1 - j]))
        a[lo + j] = np.uint32(_sub(u, v))
        a[hi + j] = np.uint32(_add(u, v))


@njit(inline="always", nogil=True)
def _dit_zero(a, lo, hi):  # type: ignore[no-untyped-def]  # pragma: no cover
    """The twiddle-free DIT butterfly (j = 0)."""
    u = np.uint64(a[lo])
    v = np.uint64(a[hi])
    a[lo] = np.uint32(_add(u, v))
    a[hi] = np.uint32(_sub(u, v))


@njit(types.void(_u32, _u32_ro, _i64, _i64, _i64), cache=True, nogil=True)
def dif_stage(a, tw, h, lo, hi):  # type: ignore[no-untyped-def]  # pragma: no cover
    """One forward (DIF) stage of half-size h on butterflies lo … hi−1 of len(a)/2.

    Butterfly b pairs a[i] and a[i + h] with i = 2h·(b // h) + b % h:
    (u, v) -> (u + v, (u − v)·ω_{2h}^{b % h}).
    """
    b = lo
    while b < hi:
        g = b // h
        j0 = b - g * h
        j1 = min(h, j0 + hi - b)
        i = np.uint64(2 * h * g + j0)
        _dif_run(a, tw, i, i + np.uint64(h), np.uint64(h + j0), np.uint64(j1 - j0))
        b += j1 - j0


@njit(inline="always", nogil=True)
def _dif_last3(a, g, w8a, w8b, w8c, w4):  # type: ignore[no-untyped-def]  # pragma: no cover
    """Forward stages h = 4, 2, 1 on a[g … g+7] (twiddles ω_8^1..3 and ω_4, Montgomery)."""
    e0 = np.uint64(a[g])
    e1 = np.uint64(a[g + np.uint64(1)])
    e2 = np.uint64(a[g + np.uint64(2)])
    e3 = np.uint64(a[g + np.uint64(3)])
    e4 = np.uint64(a[g + np.uint64(4)])
    e5 = np.uint64(a[g + np.uint64(5)])
    e6 = np.uint64(a[g + np.uint64(6)])
    e7 = np.uint64(a[g + np.uint64(7)])
    e0, e4 = _add(e0, e4), _sub(e0, e4)
    e1, e5 = _add(e1, e5), _mont(_sub(e1, e5), w8a)
    e2, e6 = _add(e2, e6), _mont(_sub(e2, e6), w8b)
    e3, e7 = _add(e3, e7), _mont(_sub(e3, e7), w8c)
    e0, e2 = _add(e0, e2), _sub(e0, e2)
    e1, e3 = _add(e1, e3), _mont(_sub(e1, e3), w4)
    e4, e6 = _add(e4, e6), _sub(e4, e6)
    e5, e7 = _add(e5, e7), _mont(_sub(e5, e7), w4)
    a[g] = np.uint32(_add(e0, e1))
    a[g + np.uint64(1)] = np.uint32(_sub(e0, e1))
    a[g + np.uint64(2)] = np.uint32(_add(e2, e3))
    a[g + np.uint64(3)] = np.uint32(_sub(e2, e3))
    a[g + np.uint64(4)] = np.uint32(_add(e4, e5))
    a[g + np.uint64(5)] = np.uint32(_sub(e4, e5))
    a[g + np.uint64(6)] = np.uint32(_add(e6, e7))
    a[g + np.uint64(7)] = np.uint32(_sub(e6, e7))


@njit(inline="always", nogil=True)
def _dit_first3(a, g, v8a, v8b, v8c, v4):  # type: ignore[no-untyped-def]  # pragma: no cover
    """Inverse stages h = 1, 2, 4 on a[g … g+7]; v* = tw[7], tw[6], tw[5], tw[3] (ω^{-j} = −v)."""
    e0 = np.uint64(a[g])
    e1 = np.uint64(a[g + np.uint64(1)])
    e2 = np.uint64(a[g + np.uint64(2)])
    e3 = np.uint64(a[g + np.uint64(3)])
    e4 = np.uint64(a[g + np.uint64(4)])
    e5 = np.uint64(a[g + np.uint64(5)])
    e6 = np.uint64(a[g + np.uint64(6)])
    e7 = np.uint64(a[g + np.uint64(7)])
    e0, e1 = _add(e0, e1), _sub(e0, e1)
    e2, e3 = _add(e2, e3), _sub(e2, e3)
    e4, e5 = _add(e4, e5), _sub(e4, e5)
    e6, e7 = _add(e6, e7), _sub(e6, e7)
    e0, e2 = _add(e0, e2), _sub(e0, e2)
    t = _mont(e3, v4)
    e1, e3 = _sub(e1, t), _add(e1, t)
    e4, e6 = _add(e4, e6), _sub(e4, e6)
    t = _mont(e7, v4)
    e5, e7 = _sub(e5, t), _add(e5, t)
    a[g] = np.uint32(_add(e0, e4))
    a[g + np.uint64(4)] = np.uint32(_sub(e0, e4))
    t = _mont(e5, v8a)
    a[g + np.uint64(1)] = np.uint32(_sub(e1, t))
    a[g + np.uint64(5)] = np.uint32(_add(e1, t))
    t = _mont(e6, v8b)
    a[g + np.uint64(2)] = np.uint32(_sub(e2, t))
    a[g + np.uint64(6)] = np.uint32(_add(e2, t))
    t = _mont(e7, v8c)
    a[g + np.uint64(3)] = np.uint32(_sub(e3, t))
    a[g + np.uint64(7)] = np.uint32(_add(e3, t))


@njit(types.void(_u32, _u32_ro, _i64, _i64, _i64), cache=True, nogil=True)
def _dif_section_stage(a, tw, base, size, h):  # type: ignore[no-untyped-def]  # pragma: no cover
    """Forward stage of half-size h on a[base : base + size].

    A function of its own (called, not inlined, per section and stage): inside the section
    loop LLVM optimised the butterfly loop far worse (measured: 2.4x slower).
    """
    hu = np.uint64(h)
    for g in range(base, base + size, 2 * h):
        gu = np.uint64(g)
        _dif_run(a, tw, gu, gu + hu, hu, hu)


@njit(types.void(_u32, _u32_ro, _i64, _i64, _i64, _i64), cache=True, nogil=True)
def dif_tail(a, tw, size, top, lo, hi):  # type: ignore[no-untyped-def]  # pragma: no cover
    """Forward stages h = top … 1 inside each of the sections lo … hi−1 of ``size`` elements.

    A section fits in the cache, so all its remaining stages run before the next is read.
    The last three stages (h = 4, 2, 1) run fused, eight elements at a time. ``size`` >= 8.
    """
    w8a, w8b, w8c = np.uint64(tw[5]), np.uint64(tw[6]), np.uint64(tw[7])
    w4 = np.uint64(tw[3])
    for s in range(lo, hi):
        base = s * size
        h = top
        while h >= 8:
            _dif_section_stage(a, tw, base, size, h)
            h //= 2
        for g in range(np.uint64(base), np.uint64(base + size), np.uint64(8)):
            _dif_last3(a, g, w8a, w8b, w8c, w4)


@njit(types.void(_u32, _u32_ro, _i64, _i64, _i64), cache=True, nogil=True)
def dif_stage2(a, tw, h, lo, hi):  # type: ignore[no-untyped-def]  # pragma: no cover
    """Forward stages h and h/2 in one pass, on quadruples lo … hi−1 of len(a)/4 (h >= 2).

    Quadruple b (q = h/2, j = b % q, i = 2h·(b // q) + j) holds a[i], a[i+q], a[i+2q],
    a[i+3q]: stage h pairs the first and the second half, stage q each half's two quarters.
    """
    q = h // 2
    qu, hu = np.uint64(q), np.uint64(h)
    b = lo
    while b < hi:
        g = b // q
        j0 = b - g * q
        j1 = min(q, j0 + hi - b)
        i = np.uint64(2 * h * g)
        for j in range(np.uint64(j0), np.uint64(j1)):
            i0 = i + j
            i1 = i0 + qu
            i2 = i1 + qu
            i3 = i2 + qu
            x0, x1 = np.uint64(a[i0]), np.uint64(a[i1])
            x2, x3 = np.uint64(a[i2]), np.uint64(a[i3])
            y0 = _add(x0, x2)
            y2 = _mont(_sub(x0, x2), np.uint64(tw[hu + j]))
            y1 = _add(x1, x3)
            y3 = _mont(_sub(x1, x3), np.uint64(tw[hu + qu + j]))
            w = np.uint64(tw[qu + j])
            a[i0] = np.uint32(_add(y0, y1))
            a[i1] = np.uint32(_mont(_sub(y0, y1), w))
            a[i2] = np.uint32(_add(y2, y3))
            a[i3] = np.uint32(_mont(_sub(y2, y3), w))
        b += j1 - j0


@njit(types.void(_u32, _u32_ro, _i64, _i64, _i64), cache=True, nogil=True)
def dit_stage2(a, tw, h, lo, hi):  # type: ignore[no-untyped-def]  # pragma: no cover
    """Inverse stages h/2 and h in one pass, on quadruples lo … hi−1 of len(a)/4 (h >= 2).

    The quadruples are those of :func:`dif_stage2`; ω^{-j} = −tw[2k − j] at half-size k.
    """
    q = h // 2
    qu, hu = np.uint64(q), np.uint64(h)
    b = lo
    while b < hi:
        g = b // q
        j0 = b - g * q
        j1 = min(q, j0 + hi - b)
        i = np.uint64(2 * h * g)
        if j0 == 0:
            x0, x1 = np.uint64(a[i]), np.uint64(a[i + qu])
            x2, x3 = np.uint64(a[i + qu + qu]), np.uint64(a[i + hu + qu])
            y0, y1 = _add(x0, x1), _sub(x0, x1)
            y2, y3 = _add(x2, x3), _sub(x2, x3)
            a[i] = np.uint32(_add(y0, y2))
            a[i + hu] = np.uint32(_sub(y0, y2))
            t = _mont(y3, np.uint64(tw[hu + qu]))
            a[i + qu] = np.uint32(_sub(y1, t))
            a[i + hu + qu] = np.uint32(_add(y1, t))
            j0 += 1
            b += 1
        for j in range(np.uint64(j0), np.uint64(j1)):
            i0 = i + j
            i1 = i0 + qu
            i2 = i1 + qu
            i3 = i2 + qu
            w = np.uint64(tw[qu + qu - j])
            t = _mont(np.uint64(a[i1]), w)
            x0 = np.uint64(a[i0])
            y0, y1 = _sub(x0, t), _add(x0, t)
            t = _mont(np.uint64(a[i3]), w)
            x2 = np.uint64(a[i2])
            y2, y3 = _sub(x2, t), _add(x2, t)
            t = _mont(y2, np.uint64(tw[hu + hu - j]))
            a[i0] = np.uint32(_sub(y0, t))
            a[i2] = np.uint32(_add(y0, t))
            t = _mont(y3, np.uint64(tw[hu + qu - j]))
            a[i1] = np.uint32(_sub(y1, t))
            a[i3] = np.uint32(_add(y1, t))
        b += j1 - j0


@njit(types.void(_u32, _u32_ro, _i64, _i64, _i64), cache=True, nogil=True)
def dit_stage(a, tw, h, lo, hi):  # type: ignore[no-untyped-def]  # pragma: no cover
    """One inverse (DIT) stage of half-size h on butterflies lo … hi−1 of len(a)/2.

    (u, v) -> (u + v·ω^{-j}, u − v·ω^{-j}) with ω^{-j} = −tw[2h − j] for j > 0.
    """
    b = lo
    while b < hi:
        g = b // h
        j0 = b - g * h
        j1 = min(h, j0 + hi - b)
        base = 2 * h * g
        if j0 == 0:
            _dit_zero(a, np.uint64(base), np.uint64(base + h))
            j0 += 1
            b += 1
        if j1 > j0:
            i = np.uint64(base + j0)
            _dit_run(a, tw, i, i + np.uint64(h), np.uint64(2 * h - j0), np.uint64(j1 - j0))
        b += j1 - j0


@njit(types.void(_u32, _u32_ro, _i64, _i64, _i64), cache=True, nogil=True)
def _dit_section_stage(a, tw, base, size, h):  # type: ignore[no-untyped-def]  # pragma: no cover
    """Inverse stage of half-size h on a[base : base + size].

    Below the top stage all h butterflies of a group run in one aligned loop: for j = 0 it
    reads tw[2h] (the next stage's ω^0, i.e. 1), which yields (u − v, u + v), so the pair
    is swapped after (measured: 1.5x faster than starting the loop at j = 1).
    """
    hu = np.uint64(h)
    one = np.uint64(1)
    aligned = 2 * h < tw.shape[0]
    for g in range(base, base + size, 2 * h):
        gu = np.uint64(g)
        if aligned:
            _dit_run(a, tw, gu, gu + hu, hu + hu, hu)
            a[gu], a[gu + hu] = a[gu + hu], a[gu]
        else:
            _dit_zero(a, gu, gu + hu)
            _dit_run(a, tw, gu + one, gu + hu + one, hu + hu - one, hu - one)


@njit(types.void(_u32, _u32_ro, _i64, _i64), cache=True, nogil=True)
def _dit_section_first3(a, tw, base, size):  # type: ignore[no-untyped-def]  # pragma: no cover
    """Inverse stages h = 1, 2, 4 on a[base : base + size], eight elements at a time."""
    v8a, v8b, v8c = np.uint64(tw[7]), np.uint64(tw[6]), np.uint64(tw[5])
    v4 = np.uint64(tw[3])
    for g in range(np.uint64(base), np.uint64(base + size), np.uint64(8)):
        _dit_first3(a, g, v8a, v8b, v8c, v4)


@njit(types.void(_u32, _u32_ro, _i64, _i64, _i64, _i64), cache=True, nogil=True)
def dit_head(a, tw, size, top, lo, hi):  # type: ignore[no-untyped-def]  # pragma: no cover
    """Inverse stages h = 1 … top inside each of the sections lo … hi−1 of ``size`` elements.

    The first three stages (h = 1, 2, 4) run fused, eight elements at a time. ``size`` >= 8.
    """
    for s in range(lo, hi):
        base = s * size
        _dit_section_first3(a, tw, base, size)
        h = 8
        while h <= top:
            _dit_section_stage(a, tw, base, size, h)
            h *= 2


@njit(types.void(_u32_ro, _u32_ro, _u32, _i64, _i64), cache=True, nogil=True)
def multiply_accumulate(fx, fy, acc, lo, hi):  # type: ignore[no-untyped-def]  # pragma: no cover
    """acc[k] += fx[k]·fy[k]·2^{-32} mod P for k in [lo, hi) (the R^{-1} is undone later)."""
    for i in range(np.uint64(lo), np.uint64(hi)):
        acc[i] = np.uint32(_add(np.uint64(acc[i]), _mont(np.uint64(fx[i]), np.uint64(fy[i]))))


@njit(types.void(_u8_ro, _i64, _i64, _i64, types.boolean, _u32, _i64, _i64), cache=True, nogil=True)
def unpack_bits(packed, bit_offset, nbits, span, reverse, out, lo, hi):  # type: ignore[no-untyped-def]  # pragma: no cover
    """Fill out[lo:hi] with bits bit_offset … bit_offset + nbits − 1 of MSB-first ``packed``.

    Forward: out[k] = bit (bit_offset + k) for k < nbits. Reversed (``reverse``), mirrored in
    ``span`` >= nbits places: out[span − 1 − i] = bit (bit_offset + i) for i < nbits.
    Every other entry is 0. ``packed`` must hold bits up to bit_offset + nbits − 1.
    """
    k0 = span - nbits if reverse else 0  # the entries [k0, k0 + nbits) hold bits
    first, stop = max(lo, k0), min(hi, k0 + nbits)
    for k in range(np.uint64(lo), np.uint64(max(lo, min(first, hi)))):
        out[k] = np.uint32(0)
    for k in range(np.uint64(max(lo, stop)), np.uint64(hi)):
        out[k] = np.uint32(0)
    seven, three = np.uint64(7), np.uint64(3)
    if reverse:
        top = np.uint64(bit_offset + span - 1)
        for k in range(np.uint64(first), np.uint64(max(first, stop))):
            b = top - k
            out[k] = np.uint32((np.uint64(packed[b >> three]) >> (seven - (b & seven))) & 1)
    else:
        off = np.uint64(bit_offset)
        for k in range(np.uint64(first), np.uint64(max(first, stop))):
            b = off + k
            out[k] = np.uint32((np.uint64(packed[b >> three]) >> (seven - (b & seven))) & 1)


@njit(_i64(_u32_ro, _i64, _i64, _u64, _u64, _u8), cache=True, nogil=True)
def scaled_parities(values, first, count, factor, bound, out):  # type: ignore[no-untyped-def]  # pragma: no cover
    """Pack the parities of c_i = values[first + i]·factor·2^{-32} mod P, i < count, MSB-first.

    ``out`` (ceil(count / 8) bytes) is overwritten. Returns the largest c_i, or −1 − i for
    the first i whose c_i exceeds ``bound`` (the a-priori largest possible sum): then the
    arithmetic is not what this module says and the caller refuses the result.
    """
    largest = np.uint64(0)
    base = np.uint64(first)
    one = np.uint64(1)
    for byte in range(np.uint64((count + 7) // 8)):
        packed = np.uint64(0)
        for t in range(np.uint64(8)):
            i = byte * np.uint64(8) + t
            c = np.uint64(0)
            if i < np.uint64(count):
                c = _mont(np.uint64(values[base + i]), factor)
            largest = max(largest, c)
            packed = (packed << one) | (c & one)
        out[byte] = np.uint8(packed)
    if largest <= bound:
        return np.int64(largest)
    for k in range(count):
        if _mont(np.uint64(values[first + k]), factor) > bound:
            return -1 - k
    return -1  # not reached
