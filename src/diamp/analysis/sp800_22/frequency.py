"""Frequency-type tests: Frequency, Block Frequency, Runs, Longest Run, Cumulative Sums.

Each function takes a sequence as a ``uint8`` array of 0/1 values in sequence order (bits
unpacked MSB-first from the input bytes) and returns the p-value(s) the NIST reference
implementation sts-2.1.2 reports. References: SP 800-22 Rev. 1a, sections 2.1–2.4 and 2.13.
"""

from __future__ import annotations

import math

import numpy as np

import diamp.analysis.sp800_22._kernels as _kernels
from diamp.analysis.sp800_22._common import as_bits, erfc, igamc, require

__all__ = ["block_frequency", "cumulative_sums", "frequency", "longest_run", "runs"]

# Longest Run classes: (block length M, first and last class value v, class probabilities).
# The M = 10,000 probabilities are the reference's 4-decimal roundings (SP 800-22 §3.4).
_LONGEST_RUN = (
    (8, 1, 4, (0.21484375, 0.3671875, 0.23046875, 0.1875)),
    (128, 4, 9, (0.1174035788, 0.242955959, 0.249363483, 0.17517706, 0.102701071, 0.112398847)),
    (10_000, 10, 16, (0.0882, 0.2092, 0.2483, 0.1933, 0.1208, 0.0675, 0.0727)),
)


def frequency(bits: np.ndarray) -> float:
    """Frequency (monobit) test, SP 800-22 §2.1.

    Notes
    -----
    S_n = Σ (2ε_i − 1), s_obs = |S_n| / √n, P = erfc(s_obs / √2).
    """
    eps = as_bits(bits)
    require(eps.size >= 1, "Frequency needs at least one bit", "bits")
    n = eps.size
    s = 2 * int(np.count_nonzero(eps)) - n
    return erfc(abs(s) / math.sqrt(n) / math.sqrt(2.0))


def block_frequency(bits: np.ndarray, m: int = 128) -> float:
    """Frequency test within a block, SP 800-22 §2.2 (block length ``m``; tail discarded).

    Notes
    -----
    χ² = 4M Σ_i (π_i − ½)² over the N = ⌊n/M⌋ blocks, P = igamc(N/2, χ²/2).
    """
    eps = as_bits(bits)
    count = eps.size // m
    require(m >= 1 and count >= 1, f"BlockFrequency needs n >= M = {m}", "block_frequency_m")
    sums = eps[: count * m].reshape(count, m).sum(axis=1, dtype=np.int64)
    v = sums / float(m) - 0.5
    chi2 = 4.0 * m * float(np.cumsum(v * v)[-1])  # cumsum adds in block order, as the reference
    return igamc(count / 2.0, chi2 / 2.0)


def runs(bits: np.ndarray) -> float:
    """Runs test, SP 800-22 §2.3.

    Notes
    -----
    If the prerequisite frequency test fails the reference reports P = 0; it skips the test
    when |π − ½| > 2/√n (the text says >= τ; equality only occurs for n <= 16). Otherwise
    V_obs is the number of runs and P = erfc(|V_obs − 2nπ(1 − π)| / (2√(2n) π(1 − π))); a
    constant sequence that still qualifies gets P = 0 (the reference's x/0 = ∞).
    """
    eps = as_bits(bits)
    require(eps.size >= 1, "Runs needs at least one bit", "bits")
    n = eps.size
    pi = np.count_nonzero(eps) / n
    if abs(pi - 0.5) > 2.0 / math.sqrt(n):
        return 0.0
    v = 1 + int(np.count_nonzero(eps[1:] != eps[:-1]))
    scale = 2.0 * pi * (1 - pi) * math.sqrt(2 * n)
    if scale == 0.0:  # a constant sequence short enough to pass the prerequisite (n <= 16):
        return 0.0  # the reference divides by zero, erfc(+inf) = 0
    return erfc(abs(v - 2.0 * n * pi * (1 - pi)) / scale)


def longest_run(bits: np.ndarray) -> float:
    """Longest run of ones in a block, SP 800-22 §2.4.

    The block length follows the reference: M = 8 for n < 6,272, M = 128 for n < 750,000,
    else M = 10,000. For M = 10,000 the reference uses the 4-decimal class probabilities of
    SP 800-22 §3.4 (0.0882, 0.2092, …), which differ from the exact ones (0.0866, 0.2082,
    …) by up to 0.0016; they are used here too. M = 8 and M = 128 use the exact values.

    Notes
    -----
    ν_k counts blocks whose longest run falls in class k (the first class collects runs
    ≤ v_0, the last runs ≥ v_K); χ² = Σ (ν_k − Nπ_k)² / (Nπ_k), P = igamc(K/2, χ²/2).
    """
    eps = as_bits(bits)
    n = eps.size
    require(n >= 128, f"LongestRun needs n >= 128 bits, found {n}", "bits")
    m, first, last, probs = _LONGEST_RUN[0 if n < 6272 else 1 if n < 750_000 else 2]
    count = n // m
    longest = _kernels.longest_runs(eps, m, count)
    classes = np.clip(longest, first, last) - first
    nu = np.bincount(classes, minlength=len(probs))
    chi2 = 0.0
    for k, p in enumerate(probs):
        dev = int(nu[k]) - count * p
        chi2 += dev * dev / (count * p)
    return igamc((len(probs) - 1) / 2.0, chi2 / 2.0)


def cumulative_sums(bits: np.ndarray) -> tuple[float, float]:
    """Cumulative Sums test, SP 800-22 §2.13: (forward, reverse) p-values.

    Notes
    -----
    z is the largest |S_k| of the ±1 walk (forward) or of the walk run backwards (reverse);
    P = 1 − Σ_k [Φ((4k+1)z/√n) − Φ((4k−1)z/√n)] + Σ_k [Φ((4k+3)z/√n) − Φ((4k+1)z/√n)],
    with the summation bounds ⌊(±n/z − 1)/4⌋ … evaluated with C's truncating integer
    division, as the reference does.
    """
    eps = as_bits(bits)
    n = eps.size
    require(n >= 1, "CumulativeSums needs at least one bit", "bits")
    final, sup, inf = _kernels.walk_extremes(eps)
    forward = max(sup, -inf)
    reverse = max(sup - final, final - inf)
    return _kernels.cusum_pvalue(n, forward), _kernels.cusum_pvalue(n, reverse)
