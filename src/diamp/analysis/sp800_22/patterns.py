"""Pattern-count tests: Serial, Approximate Entropy and Maurer's Universal test.

Each function takes a sequence as a ``uint8`` array of 0/1 values in sequence order (bits
unpacked MSB-first from the input bytes) and returns the p-value(s) the NIST reference
implementation sts-2.1.2 reports. References: SP 800-22 Rev. 1a, sections 2.9, 2.11, 2.12.
"""

from __future__ import annotations

import math

import numpy as np

import diamp.analysis.sp800_22._kernels as _kernels
from diamp.analysis.sp800_22._common import as_bits, erfc, igamc, require

__all__ = ["approximate_entropy", "pattern_counts", "serial", "universal"]

# Universal: expected value and variance of the statistic for L = 6 … 16 (SP 800-22 §2.9.4).
_UNIVERSAL_EXPECTED = {
    6: 5.2177052, 7: 6.1962507, 8: 7.1836656, 9: 8.1764248, 10: 9.1723243, 11: 10.170032,
    12: 11.168765, 13: 12.168070, 14: 13.167693, 15: 14.167488, 16: 15.167379,
}  # fmt: skip
_UNIVERSAL_VARIANCE = {
    6: 2.954, 7: 3.125, 8: 3.238, 9: 3.311, 10: 3.356, 11: 3.384,
    12: 3.401, 13: 3.410, 14: 3.416, 15: 3.419, 16: 3.421,
}  # fmt: skip


def pattern_counts(bits: np.ndarray, top: int) -> dict[int, np.ndarray]:
    """Counts of the n circular overlapping k-bit patterns for k = 0 … ``top``.

    ``counts[k][v]`` is the number of positions i whose pattern ε_i … ε_{i+k−1} (indices
    mod n, ε_i most significant) has value v. One pass at k = ``top``; a (k − 1)-bit count
    is the sum of the two k-bit counts that extend it (each circular position has exactly
    one extension).
    """
    eps = as_bits(bits)
    require(eps.size >= 1 and 0 <= top <= 25, "pattern_counts needs n >= 1, top <= 25", "m")
    counts = {top: np.asarray(_kernels.circular_window_counts(eps, top))}
    for k in range(top, 0, -1):
        counts[k - 1] = counts[k][0::2] + counts[k][1::2]
    return counts


def _psi2(counts: dict[int, np.ndarray], m: int, n: int) -> float:
    """ψ²_m = 2^m/n Σ ν_v² − n (0 for m <= 0), summed in pattern order as the reference."""
    if m <= 0:
        return 0.0
    squares = counts[m].astype(np.float64) ** 2
    return (float(np.cumsum(squares)[-1]) * 2.0**m / n) - n


def serial(
    bits: np.ndarray, m: int = 16, counts: dict[int, np.ndarray] | None = None
) -> tuple[float, float]:
    """Serial test, SP 800-22 §2.11: the p-values of ∇ψ²_m and ∇²ψ²_m.

    ``counts`` may pass :func:`pattern_counts` of the same bits with ``top >= m``.

    Notes
    -----
    ∇ψ² = ψ²_m − ψ²_{m−1}, ∇²ψ² = ψ²_m − 2ψ²_{m−1} + ψ²_{m−2};
    P1 = igamc(2^{m−2}, ∇ψ²/2), P2 = igamc(2^{m−3}, ∇²ψ²/2).
    """
    eps = as_bits(bits)
    n = eps.size
    require(m >= 2 and n >= 1, f"Serial needs m >= 2 and n >= 1, found m={m}", "serial_m")
    if counts is None or max(counts) < m:
        counts = pattern_counts(eps, m)
    psim0, psim1, psim2 = _psi2(counts, m, n), _psi2(counts, m - 1, n), _psi2(counts, m - 2, n)
    del1 = psim0 - psim1
    del2 = psim0 - 2.0 * psim1 + psim2
    return igamc(2.0 ** (m - 1) / 2, del1 / 2.0), igamc(2.0 ** (m - 2) / 2, del2 / 2.0)


def approximate_entropy(
    bits: np.ndarray, m: int = 10, counts: dict[int, np.ndarray] | None = None
) -> float:
    """Approximate Entropy test, SP 800-22 §2.12 (circular m- and (m+1)-bit patterns).

    ``counts`` may pass :func:`pattern_counts` of the same bits with ``top >= m + 1``.

    Notes
    -----
    Φ_k = Σ_v (C_v/n) log(C_v/n); ApEn = Φ_m − Φ_{m+1}; χ² = 2n(ln 2 − ApEn),
    P = igamc(2^{m−1}, χ²/2).
    """
    eps = as_bits(bits)
    n = eps.size
    require(
        m >= 1 and n >= 1, f"ApproximateEntropy needs m >= 1, found {m}", "approximate_entropy_m"
    )
    if counts is None or max(counts) < m + 1:
        counts = pattern_counts(eps, m + 1)
    phi_m = _kernels.apen_phi(_readonly(counts[m]), float(n))
    phi_m1 = _kernels.apen_phi(_readonly(counts[m + 1]), float(n))
    chi2 = 2.0 * n * (math.log(2) - (phi_m - phi_m1))
    return igamc(2.0 ** (m - 1), chi2 / 2.0)


def _readonly(a: np.ndarray) -> np.ndarray:
    out = np.ascontiguousarray(a, dtype=np.int64).view()
    out.flags.writeable = False
    return out


def universal(bits: np.ndarray, block: int, init: int) -> float:
    """Maurer's Universal Statistical test, SP 800-22 §2.9, with L = ``block``, Q = ``init``.

    K = ⌊n/L⌋ − Q test blocks follow the Q initialisation blocks (the reference's K, e.g.
    141,577 for n = 10^6, L = 7, Q = 1280; the tail is discarded).
    :meth:`Sp80022Params.universal_blocks` gives the reference's L (from n) and Q = 10·2^L.

    Notes
    -----
    f_n = (1/K) Σ log2(i − T_{b_i}); c = 0.7 − 0.8/L + (4 + 32/L) K^{−3/L}/15;
    σ = c √(var(L)/K); P = erfc(|f_n − E(L)| / (√2 σ)).
    """
    eps = as_bits(bits)
    test = eps.size // block - init if block >= 1 else 0
    require(6 <= block <= 16, f"Universal needs 6 <= L <= 16, found {block}", "universal_l")
    require(init >= 10 * 2**block, f"Universal needs Q >= 10·2^L, found {init}", "universal_q")
    require(test >= 1, f"Universal needs n >= (Q + 1)·L bits, found {eps.size}", "bits")
    total = _kernels.universal_sum(eps, block, init, test)
    phi = total / float(test)
    c = 0.7 - 0.8 / block + (4 + 32 / block) * test ** (-3 / block) / 15
    sigma = c * math.sqrt(_UNIVERSAL_VARIANCE[block] / float(test))
    return erfc(abs(phi - _UNIVERSAL_EXPECTED[block]) / (math.sqrt(2) * sigma))
