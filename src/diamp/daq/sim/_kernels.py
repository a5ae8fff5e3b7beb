"""numba kernels for the simulated lab (private: call through ``diamp.daq`` modules)."""

from __future__ import annotations

import numpy as np
from numba import njit, types

_u8_1d = types.Array(types.uint8, 1, "C")
_u32_1d = types.Array(types.uint32, 1, "C")
_u64_2d = types.Array(types.uint64, 2, "C")


@njit(types.void(_u8_1d, _u8_1d, _u32_1d, _u64_2d, _u8_1d), cache=True, nogil=True)
def bell_trials(x, y, u, thresholds, out):  # type: ignore[no-untyped-def]  # pragma: no cover
    """Encode trials v = 8x + 4y + 2a + b, drawing (a, b) from per-(x, y) thresholds.

    ``thresholds[xy, k]`` is the cumulative probability of outcomes 0..k (outcome index
    2a + b) scaled by 2**32; a uniform 32-bit word ``u`` selects the outcome.
    """
    for i in range(x.shape[0]):
        xy = 2 * x[i] + y[i]
        w = np.uint64(u[i])
        k = (w >= thresholds[xy, 0]) + (w >= thresholds[xy, 1]) + (w >= thresholds[xy, 2])
        out[i] = np.uint8(4 * xy + k)


@njit(types.uint8(_u32_1d, types.uint64, types.uint64, types.uint8, _u8_1d), cache=True, nogil=True)
def markov_bits(u, thr_after0, thr_after1, previous, out):  # type: ignore[no-untyped-def]  # pragma: no cover
    """History-dependent SV bits: P(1 | previous bit) = threshold / 2**32; returns the last bit."""
    prev = previous
    for i in range(u.shape[0]):
        thr = thr_after1 if prev == 1 else thr_after0
        prev = np.uint8(1) if np.uint64(u[i]) < thr else np.uint8(0)
        out[i] = prev
    return prev
