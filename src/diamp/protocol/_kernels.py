"""numba kernels for Bell statistics (private: call through :mod:`diamp.protocol.bell`)."""

from __future__ import annotations

import numpy as np
from numba import njit, types

_u8_1d = types.Array(types.uint8, 1, "C", readonly=True)
_u8_1d_w = types.Array(types.uint8, 1, "C")
_i64_1d = types.Array(types.int64, 1, "C")


@njit(types.int64(_u8_1d, _i64_1d), cache=True, nogil=True)
def count_values(trials, counts):  # type: ignore[no-untyped-def]  # pragma: no cover
    """Add the histogram of byte values of ``trials`` to ``counts[0:256]``.

    Four interleaved tables break the store-to-load dependency of repeated values.
    Returns the index of the first value >= 16 (an invalid trial), or -1.
    """
    tables = np.zeros((4, 256), dtype=np.int64)
    n = trials.shape[0]
    n4 = n - n % 4
    for i in range(0, n4, 4):
        tables[0, trials[i]] += 1
        tables[1, trials[i + 1]] += 1
        tables[2, trials[i + 2]] += 1
        tables[3, trials[i + 3]] += 1
    for i in range(n4, n):
        tables[0, trials[i]] += 1
    bad = False
    for v in range(256):
        total = tables[0, v] + tables[1, v] + tables[2, v] + tables[3, v]
        counts[v] += total
        if v >= 16 and total > 0:
            bad = True
    if bad:
        for i in range(n):
            if trials[i] >= 16:
                return i
    return -1


@njit(types.void(_u8_1d, _u8_1d_w), cache=True, nogil=True)
def pack_ab(trials, out):  # type: ignore[no-untyped-def]  # pragma: no cover
    """Pack a_i b_i of each trial MSB-first: 4 trials per byte, ``len(trials) % 4 == 0``."""
    for k in range(out.shape[0]):
        i = 4 * k
        out[k] = (
            ((trials[i] & 3) << 6)
            | ((trials[i + 1] & 3) << 4)
            | ((trials[i + 2] & 3) << 2)
            | (trials[i + 3] & 3)
        )
