"""numba kernels of the table-driven GF(2) Toeplitz engine (private): no floating point."""

from __future__ import annotations

import numpy as np
from numba import njit, types

from diamp.extractors._jit import start_numba

start_numba()

_u8_2d_ro = types.Array(types.uint8, 2, "C", readonly=True)
_u8_2d = types.Array(types.uint8, 2, "C")


@njit(types.uint8(types.uint8), cache=True, nogil=True, inline="always")
def _reverse8(v):  # type: ignore[no-untyped-def]  # pragma: no cover
    """The bits of one byte in reverse order."""
    v = ((v & 0xF0) >> 4) | ((v & 0x0F) << 4)
    v = ((v & 0xCC) >> 2) | ((v & 0x33) << 2)
    return ((v & 0xAA) >> 1) | ((v & 0x55) << 1)


@njit(types.void(_u8_2d_ro, types.int64, _u8_2d_ro, types.uint8, _u8_2d), cache=True, nogil=True)
def table_hash(raw, nbits, table, last_mask, out):  # type: ignore[no-untyped-def]  # pragma: no cover
    """out[b] = XOR over the bytes j of block b's reversed string x of table[x_j, j : j + M].

    ``raw[b]``: n = ``nbits`` raw bits, MSB-first (bits past n ignored); x_t = r_{n−1−t},
    packed MSB-first into ⌈n/8⌉ bytes with zeros past t = n − 1. ``table[v]`` is the window
    table of the seed (``window_table``): bit k is ⊕_{u: bit 7−u of v} s_{k+u}, so that byte
    j of x contributes bits 8j … 8j + m − 1 of its row, i.e. bytes j … j + M − 1, to the
    correlation c_i = ⊕_t x_t s_{t+i}. ``out`` has M = ⌈m/8⌉ bytes per row; the last byte is
    ANDed with ``last_mask`` (output bits past m are zero). Row 0 of the table is zero, so
    zero bytes need no test; four bytes of x share one pass over the accumulator.
    """
    nb = raw.shape[1]
    count = out.shape[1]
    pad = 8 * nb - nbits
    x = np.zeros(nb + 1, dtype=np.uint8)
    acc = np.zeros(count, dtype=np.uint8)
    for b in range(raw.shape[0]):
        for j in range(nb):
            x[j] = _reverse8(raw[b, nb - 1 - j])
        if pad:
            for j in range(nb):  # drop the pad bits that now lead: x_t = reversed_{t+pad}
                x[j] = np.uint8(((x[j] << pad) | (x[j + 1] >> (8 - pad))) & 0xFF)
        acc[:] = 0
        j = 0
        while j + 4 <= nb:  # four rows per pass over the accumulator: fewer loads and stores
            r0, r1, r2, r3 = table[x[j]], table[x[j + 1]], table[x[j + 2]], table[x[j + 3]]
            for k in range(count):
                acc[k] ^= r0[j + k] ^ r1[j + 1 + k] ^ r2[j + 2 + k] ^ r3[j + 3 + k]
            j += 4
        while j < nb:
            row = table[x[j]]
            for k in range(count):
                acc[k] ^= row[j + k]
            j += 1
        acc[count - 1] &= last_mask
        out[b, :] = acc
