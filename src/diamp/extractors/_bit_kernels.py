"""numba kernels both correlation engines use (private): bit counts, windows, direct parity.

Kept apart from the FFT kernels (:mod:`diamp.extractors._kernels`) so that the exact engine
and the self-check load only what they call.
"""

from __future__ import annotations

import numpy as np
from numba import njit, types

from diamp.extractors._jit import start_numba

start_numba()

_u64_1d = types.Array(types.uint64, 1, "C", readonly=True)
_u8_1d_ro = types.Array(types.uint8, 1, "C", readonly=True)


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
