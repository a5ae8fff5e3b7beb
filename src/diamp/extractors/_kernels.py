"""numba kernels for the extractors (private)."""

from __future__ import annotations

import numpy as np
from numba import njit, types

_u64_1d = types.Array(types.uint64, 1, "C", readonly=True)


@njit(types.int64(_u64_1d, _u64_1d, types.int64), cache=True, nogil=True)
def shifted_and_parity(x, y, shift):  # type: ignore[no-untyped-def]  # pragma: no cover
    """Parity of Σ_t x_t · y_{t+shift} over 64-bit words holding bits MSB-first.

    Word w holds bits 64w … 64w + 63 with bit 64w in the most significant position. ``y``
    ends with one zero padding word; words past its end count as zero, so terms with
    t + shift past the end of y vanish. The parity of a popcount is the parity of the XOR of
    the words, so the sum folds into one accumulator.
    """
    q = shift // 64
    r = np.uint64(shift % 64)
    acc = np.uint64(0)
    if r == 0:
        for w in range(min(x.shape[0], y.shape[0] - q)):
            acc ^= x[w] & y[w + q]
    else:
        back = np.uint64(64) - r
        for w in range(min(x.shape[0], y.shape[0] - q - 1)):
            acc ^= x[w] & ((y[w + q] << r) | (y[w + q + 1] >> back))
    acc ^= acc >> np.uint64(32)
    acc ^= acc >> np.uint64(16)
    acc ^= acc >> np.uint64(8)
    acc ^= acc >> np.uint64(4)
    acc ^= acc >> np.uint64(2)
    acc ^= acc >> np.uint64(1)
    return np.int64(acc & np.uint64(1))


_u8_1d_ro = types.Array(types.uint8, 1, "C", readonly=True)
_f64_1d = types.Array(types.float64, 1, "C")


@njit(types.int64(_u8_1d_ro, types.int64, types.int64, _f64_1d), cache=True, nogil=True)
def unpack_to_float(packed, bit_offset, nbits, out):  # type: ignore[no-untyped-def]  # pragma: no cover
    """Write bits [bit_offset, bit_offset + nbits) of MSB-first ``packed`` into ``out[:nbits]``.

    Bits past the end of ``packed`` read as zero; ``out[nbits:]`` is zeroed. Returns the
    number of ones written (the 1-norm used by the round-off bound).
    """
    ones = 0
    avail = packed.shape[0] * 8
    for i in range(nbits):
        b = bit_offset + i
        v = 0
        if b < avail:
            v = (packed[b >> 3] >> (7 - (b & 7))) & 1
        out[i] = v
        ones += v
    for i in range(nbits, out.shape[0]):
        out[i] = 0.0
    return ones


_f64_1d_ro = types.Array(types.float64, 1, "C", readonly=True)
_u8_1d = types.Array(types.uint8, 1, "C")


@njit(types.float64(_f64_1d_ro, types.int64, _u8_1d), cache=True, nogil=True)
def parity_pack(values, count, out):  # type: ignore[no-untyped-def]  # pragma: no cover
    """Pack parities of the rounded ``values[:count]`` MSB-first into ``out``.

    Returns the largest distance of a value from its nearest integer (the observed round-off).
    """
    for k in range(out.shape[0]):
        out[k] = 0
    worst = 0.0
    for i in range(count):
        r = np.rint(values[i])
        d = abs(values[i] - r)
        if d > worst:
            worst = d
        if np.int64(r) & 1:
            out[i >> 3] |= np.uint8(1 << (7 - (i & 7)))
    return worst


_c128_1d = types.Array(types.complex128, 1, "C")


@njit(types.int64(_u8_1d_ro, types.int64, types.int64), cache=True, nogil=True)
def count_bits(packed, bit_offset, nbits):  # type: ignore[no-untyped-def]  # pragma: no cover
    """Number of ones in bits [bit_offset, bit_offset + nbits) of MSB-first ``packed``."""
    ones = 0
    avail = packed.shape[0] * 8
    stop = min(bit_offset + nbits, avail)
    b = bit_offset
    while b < stop and (b & 7):
        ones += (packed[b >> 3] >> (7 - (b & 7))) & 1
        b += 1
    while b + 8 <= stop:
        v = packed[b >> 3]
        v = (v & 0x55) + ((v >> 1) & 0x55)
        v = (v & 0x33) + ((v >> 2) & 0x33)
        ones += (v & 0x0F) + (v >> 4)
        b += 8
    while b < stop:
        ones += (packed[b >> 3] >> (7 - (b & 7))) & 1
        b += 1
    return ones


_c128_1d_ro = types.Array(types.complex128, 1, "C", readonly=True)


@njit(types.void(_c128_1d_ro, _c128_1d_ro, _c128_1d), cache=True, nogil=True)
def accumulate_product(fx, fy, acc):  # type: ignore[no-untyped-def]  # pragma: no cover
    """acc_k += conj(fx_k)·fy_k, one pass (the cross-spectrum of a correlation)."""
    for k in range(acc.shape[0]):
        a = fx[k]
        b = fy[k]
        acc[k] += complex(a.real * b.real + a.imag * b.imag, a.real * b.imag - a.imag * b.real)
