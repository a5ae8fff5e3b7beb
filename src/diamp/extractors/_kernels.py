"""numba kernels of the FFT correlation engine (private; see :mod:`diamp.extractors.correlate`).

The kernels both engines share (bit counts, the direct definition's parity) live in
:mod:`diamp.extractors._bit_kernels`, so the exact engine never loads these.
"""

from __future__ import annotations

import numpy as np
from numba import njit, types

from diamp.extractors._jit import start_numba

start_numba()

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
_c128_1d_ro = types.Array(types.complex128, 1, "C", readonly=True)


@njit(types.void(_c128_1d_ro, _c128_1d_ro, _c128_1d), cache=True, nogil=True)
def accumulate_product(fx, fy, acc):  # type: ignore[no-untyped-def]  # pragma: no cover
    """acc_k += conj(fx_k)·fy_k, one pass (the cross-spectrum of a correlation)."""
    for k in range(acc.shape[0]):
        a = fx[k]
        b = fy[k]
        acc[k] += complex(a.real * b.real + a.imag * b.imag, a.real * b.imag - a.imag * b.real)
