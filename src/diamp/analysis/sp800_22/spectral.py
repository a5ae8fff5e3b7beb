"""Discrete Fourier Transform (spectral) test, SP 800-22 Rev. 1a §2.6.

The function takes a sequence as a ``uint8`` array of 0/1 values in sequence order (bits
unpacked MSB-first from the input bytes) and returns the p-value the NIST reference
implementation sts-2.1.2 reports.
"""

from __future__ import annotations

import math

import numpy as np

from diamp.analysis.sp800_22._common import as_bits, erfc, require

__all__ = ["fft", "fft_magnitudes"]

# The reference's threshold constant: 2.995732274 ≈ ln(1/0.05), rounded (SP 800-22 §3.6).
_THRESHOLD_FACTOR = 2.995732274


def fft_magnitudes(bits: np.ndarray) -> np.ndarray:
    """|DFT_k| of X = 2ε − 1 for k = 0 … ⌊n/2⌋ − 1 (the DC term first)."""
    eps = as_bits(bits)
    x = 2.0 * eps - 1.0
    spectrum = np.fft.rfft(x)[: eps.size // 2]
    re, im = spectrum.real, spectrum.imag
    return np.asarray(np.sqrt(re * re + im * im))


def fft(bits: np.ndarray) -> float:
    """Discrete Fourier Transform test, SP 800-22 §2.6.

    Notes
    -----
    N_1 counts the moduli |DFT_k|, k = 0 … ⌊n/2⌋ − 1, below T = √(2.995732274 n); as in the
    reference the count includes the DC term k = 0 (the standard counts k = 1 … n/2).
    d = (N_1 − 0.95 n/2) / √(0.95 · 0.05 · n/4), P = erfc(|d| / √2).
    """
    eps = as_bits(bits)
    n = eps.size
    require(n >= 2, f"FFT needs n >= 2 bits, found {n}", "bits")
    count = int(np.count_nonzero(fft_magnitudes(eps) < math.sqrt(_THRESHOLD_FACTOR * n)))
    expected = 0.95 * n / 2.0
    d = (count - expected) / math.sqrt(n / 4.0 * 0.95 * 0.05)
    return erfc(abs(d) / math.sqrt(2.0))
