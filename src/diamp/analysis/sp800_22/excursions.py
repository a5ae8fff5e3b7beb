"""Random Excursions and Random Excursions Variant tests, SP 800-22 Rev. 1a §2.14–2.15.

Each function takes a sequence as a ``uint8`` array of 0/1 values in sequence order (bits
unpacked MSB-first from the input bytes) and returns the p-values the NIST reference
implementation sts-2.1.2 reports, or ``None`` when the test does not apply to the sequence
(too few cycles); the suite then records p = 0, as the reference does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

import diamp.analysis.sp800_22._kernels as _kernels
from diamp.analysis._special import gammaincc_array
from diamp.analysis.sp800_22._common import as_bits, require

__all__ = [
    "EXCURSION_STATES",
    "VARIANT_STATES",
    "ExcursionStats",
    "excursion_stats",
    "random_excursions",
    "random_excursions_variant",
]

EXCURSION_STATES = (-4, -3, -2, -1, 1, 2, 3, 4)
VARIANT_STATES = (-9, -8, -7, -6, -5, -4, -3, -2, -1, 1, 2, 3, 4, 5, 6, 7, 8, 9)

# π_k(x): probability that a cycle visits state |x| exactly k times (k = 5: five or more),
# the reference's 10-decimal table of SP 800-22 §3.14's closed forms (one entry, π_5(3) =
# 0.0803755143, is one unit off in the last decimal; p-values move by about 1e-9).
_PI = np.array([
    [0.5000000000, 0.25000000000, 0.12500000000, 0.06250000000, 0.03125000000, 0.0312500000],
    [0.7500000000, 0.06250000000, 0.04687500000, 0.03515625000, 0.02636718750, 0.0791015625],
    [0.8333333333, 0.02777777778, 0.02314814815, 0.01929012346, 0.01607510288, 0.0803755143],
    [0.8750000000, 0.01562500000, 0.01367187500, 0.01196289063, 0.01046752930, 0.0732727051],
])  # fmt: skip


@dataclass(frozen=True)
class ExcursionStats:
    """Cycle statistics of the ±1 walk of a sequence.

    Attributes
    ----------
    n
        Sequence length.
    cycles
        J: zeros of the walk, plus one if it does not end at zero.
    nu
        ``nu[k, i]``: cycles visiting ``EXCURSION_STATES[i]`` exactly k times (k = 5: ≥ 5).
    visits
        ``visits[s + 9]``: steps at which the walk is in state s, s = −9 … 9.
    """

    n: int
    cycles: int
    nu: np.ndarray
    visits: np.ndarray


def excursion_stats(bits: np.ndarray) -> ExcursionStats:
    """Cycle statistics of S_k = Σ_{i<=k} (2ε_i − 1), one pass."""
    eps = as_bits(bits)
    require(eps.size >= 1, "random excursions need at least one bit", "bits")
    cycles, nu, visits = _kernels.excursion_stats(eps)
    return ExcursionStats(eps.size, int(cycles), np.asarray(nu), np.asarray(visits))


def random_excursions(bits: np.ndarray, stats: ExcursionStats | None = None) -> np.ndarray | None:
    """Random Excursions test, SP 800-22 §2.14: p-values for x = −4 … −1, +1 … +4.

    Returns ``None`` (not applicable) when J < max(0.005 √n, 500), as the reference. The
    reference also stops, writing no p-values at all, when J > max(1000, n/100) (its cycle
    table is full); here such a sequence is reported as not applicable too.

    Notes
    -----
    χ²(x) = Σ_k (ν_k(x) − J π_k(x))² / (J π_k(x)), P = igamc(5/2, χ²/2).
    """
    st = stats if stats is not None else excursion_stats(bits)
    j = st.cycles
    if j < max(0.005 * math.sqrt(st.n), 500) or j > max(1000, st.n // 100):
        return None
    chi2 = np.zeros(len(EXCURSION_STATES))
    for i, x in enumerate(EXCURSION_STATES):
        total = 0.0
        for k in range(6):
            expected = j * _PI[abs(x) - 1, k]
            total += (float(st.nu[k, i]) - expected) ** 2 / expected
        chi2[i] = total
    return gammaincc_array(2.5, chi2 / 2.0)


def random_excursions_variant(
    bits: np.ndarray, stats: ExcursionStats | None = None
) -> np.ndarray | None:
    """Random Excursions Variant test, SP 800-22 §2.15: p-values for x = −9 … −1, +1 … +9.

    Returns ``None`` (not applicable) when J < ⌊max(0.005 √n, 500)⌋, as the reference.

    Notes
    -----
    ξ(x) counts the steps in state x; P = erfc(|ξ(x) − J| / √(2J(4|x| − 2))).
    """
    st = stats if stats is not None else excursion_stats(bits)
    j = st.cycles
    if j < int(max(0.005 * math.sqrt(st.n), 500)):
        return None
    out = np.empty(len(VARIANT_STATES))
    for i, x in enumerate(VARIANT_STATES):
        count = int(st.visits[x + 9])
        out[i] = math.erfc(abs(count - j) / math.sqrt(2.0 * j * (4.0 * abs(x) - 2)))
    return out
