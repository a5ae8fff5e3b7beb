"""numba kernels of the fixed-seed Toeplitz engine (private), one call per batch of blocks."""

from __future__ import annotations

import numpy as np
from numba import njit, types

from diamp.extractors._bit_kernels import shifted_and_parity

_u8_2d_ro = types.Array(types.uint8, 2, "C", readonly=True)
_f64_2d = types.Array(types.float64, 2, "C")
_f64_2d_ro = types.Array(types.float64, 2, "C", readonly=True)
_c128_2d = types.Array(types.complex128, 2, "C")
_c128_1d_ro = types.Array(types.complex128, 1, "C", readonly=True)
_u8_2d = types.Array(types.uint8, 2, "C")
_i64_1d = types.Array(types.int64, 1, "C")
_f64_1d = types.Array(types.float64, 1, "C")
_u64_2d_ro = types.Array(types.uint64, 2, "C", readonly=True)
_u64_1d_ro = types.Array(types.uint64, 1, "C", readonly=True)
_i64_2d_ro = types.Array(types.int64, 2, "C", readonly=True)
_i64_2d = types.Array(types.int64, 2, "C")


@njit(types.void(_u8_2d_ro, types.int64, _f64_2d, _i64_1d), cache=True, nogil=True)
def fill_reversed(packed, nbits, out, ones):  # type: ignore[no-untyped-def]  # pragma: no cover
    """Row b of ``out``: bit n − 1 − t of MSB-first row b of ``packed`` at t < n, then zeros.

    ``ones[b]`` receives the number of ones of row b (the 1-norm of the round-off bound).
    """
    for b in range(packed.shape[0]):
        count = 0
        for t in range(nbits):
            i = nbits - 1 - t
            v = (packed[b, i >> 3] >> (7 - (i & 7))) & 1
            out[b, t] = v
            count += v
        for t in range(nbits, out.shape[1]):
            out[b, t] = 0.0
        ones[b] = count


@njit(types.void(_c128_2d, _c128_1d_ro), cache=True, nogil=True)
def conj_times(spectra, seed):  # type: ignore[no-untyped-def]  # pragma: no cover
    """spectra[b, k] ← conj(spectra[b, k]) · seed[k] (the cross-spectrum of a correlation)."""
    for b in range(spectra.shape[0]):
        for k in range(spectra.shape[1]):
            a = spectra[b, k]
            s = seed[k]
            spectra[b, k] = complex(
                a.real * s.real + a.imag * s.imag, a.real * s.imag - a.imag * s.real
            )


@njit(types.void(_f64_2d_ro, types.int64, _u8_2d, _f64_1d), cache=True, nogil=True)
def parity_rows(values, count, out, residual):  # type: ignore[no-untyped-def]  # pragma: no cover
    """Pack the parities of the rounded ``values[b, :count]`` MSB-first into ``out[b]``.

    ``residual[b]`` receives the largest distance of a value of row b from its nearest
    integer (the observed round-off, checked against the a-priori bound by the caller).
    """
    for b in range(values.shape[0]):
        for k in range(out.shape[1]):
            out[b, k] = 0
        worst = 0.0
        for i in range(count):
            v = values[b, i]
            r = np.rint(v)
            d = abs(v - r)
            if d > worst:
                worst = d
            if np.int64(r) & 1:
                out[b, i >> 3] |= np.uint8(1 << (7 - (i & 7)))
        residual[b] = worst


@njit(types.void(_u64_2d_ro, _u64_1d_ro, _i64_2d_ro, _i64_2d), cache=True, nogil=True)
def direct_parities(xwords, ywords, positions, out):  # type: ignore[no-untyped-def]  # pragma: no cover
    """out[b, k] = Σ_t x_{b,t} · y_{t + positions[b, k]} mod 2, from the bit-packed definition.

    Row b of ``xwords`` is block b's reversed raw string as MSB-first 64-bit words; ``ywords``
    is the seed with one zero padding word. No floating point (see ``shifted_and_parity``).
    """
    for b in range(positions.shape[0]):
        for k in range(positions.shape[1]):
            out[b, k] = shifted_and_parity(xwords[b], ywords, positions[b, k])
