"""Template-matching tests: Non-overlapping and Overlapping Template Matching.

Each function takes a sequence as a ``uint8`` array of 0/1 values in sequence order (bits
unpacked MSB-first from the input bytes) and returns the p-value(s) the NIST reference
implementation sts-2.1.2 reports. References: SP 800-22 Rev. 1a, sections 2.7 and 2.8.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

import diamp.analysis.sp800_22._kernels as _kernels
from diamp.analysis._special import gammaincc_array
from diamp.analysis.sp800_22._common import as_bits, igamc, require

__all__ = [
    "aperiodic_templates",
    "non_overlapping_template",
    "overlapping_probabilities",
    "overlapping_template",
    "reference_templates",
]

_MAX_TEMPLATES = 148  # the reference's MAXNUMOFTEMPLATES
_BLOCKS = 8  # Non-overlapping: N = 8 blocks of M = ⌊n/8⌋ bits
_OVERLAP_BLOCK = 1032  # Overlapping: blocks of M = 1032 bits
_CLASSES = 5


@lru_cache(maxsize=32)
def aperiodic_templates(m: int) -> np.ndarray:
    """All aperiodic m-bit templates in ascending order (first bit most significant).

    B is aperiodic when no proper shift of B overlaps itself: B[s:] ≠ B[:m−s] for
    s = 1 … m − 1. Two occurrences of such a template can never overlap.
    """
    require(1 <= m <= 24, f"template length must be in [1, 24], found {m}", "non_overlapping_m")
    values = np.arange(1 << m, dtype=np.int64)
    periodic = np.zeros(values.size, dtype=bool)
    for s in range(1, m):
        periodic |= (values & ((1 << (m - s)) - 1)) == (values >> s)
    out = values[~periodic]
    out.flags.writeable = False
    return out


def reference_templates(m: int) -> np.ndarray:
    """The templates the reference tests for length m (at most 148, evenly strided).

    The reference reads its template file in order and, when the file holds more than
    148 templates, keeps every ⌊count/148⌋-th one, at most 148.
    """
    every = aperiodic_templates(m)
    skip = 1 if every.size < _MAX_TEMPLATES else every.size // _MAX_TEMPLATES
    return every[::skip][: min(_MAX_TEMPLATES, every.size // skip)]


def template_counts(bits: np.ndarray, m: int, block: int, count: int) -> np.ndarray:
    """Occurrences of each :func:`reference_templates` template per block, shape (count, T).

    Counts all windows j = 0 … block − m of each block. The reference scans each block and
    skips m − 1 bits after a match; for an aperiodic template matches never overlap, so
    the two counts agree.
    """
    eps = as_bits(bits)
    templates = reference_templates(m)
    lookup = np.full(1 << m, -1, dtype=np.int32)
    lookup[templates] = np.arange(templates.size, dtype=np.int32)
    lookup.flags.writeable = False
    return np.asarray(_kernels.block_template_counts(eps, m, block, count, lookup, templates.size))


def non_overlapping_template(bits: np.ndarray, m: int = 9) -> np.ndarray:
    """Non-overlapping Template Matching test, SP 800-22 §2.7: one p-value per template.

    Templates are those of :func:`reference_templates` (148 for m = 9, ascending).

    Notes
    -----
    With N = 8 blocks of M = ⌊n/8⌋ bits, μ = (M − m + 1)/2^m and
    σ² = M (2^{−m} − (2m − 1) 2^{−2m}): χ² = Σ_j ((W_j − μ)/σ)², P = igamc(N/2, χ²/2).
    """
    eps = as_bits(bits)
    block = eps.size // _BLOCKS
    require(2 <= m <= 21, f"non_overlapping_m must be in [2, 21], found {m}", "non_overlapping_m")
    require(block >= m, f"NonOverlappingTemplate needs n/8 >= m = {m}", "non_overlapping_m")
    counts = template_counts(eps, m, block, _BLOCKS)
    mean = (block - m + 1) / 2.0**m
    sd = (block * (1.0 / 2.0**m - (2.0 * m - 1.0) / 2.0 ** (2.0 * m))) ** 0.5
    chi2 = np.zeros(counts.shape[1])
    for j in range(_BLOCKS):
        chi2 += ((counts[j] - mean) / sd) ** 2
    return gammaincc_array(_BLOCKS / 2.0, chi2 / 2.0)


def _class_probability(u: int, eta: float) -> float:
    """P(u occurrences) of the reference's ``Pr(u, eta)`` (the older SP 800-22 formula)."""
    if u == 0:
        return math.exp(-eta)
    total = 0.0
    for k in range(1, u + 1):
        total += math.exp(
            -eta - u * math.log(2) + k * math.log(eta) - math.lgamma(k + 1)
            + math.lgamma(u) - math.lgamma(k) - math.lgamma(u - k + 1)
        )  # fmt: skip
    return total


def overlapping_probabilities(m: int, block: int = _OVERLAP_BLOCK) -> tuple[float, ...]:
    """Class probabilities π_0 … π_5 the reference uses for the Overlapping test.

    For m = 9, M = 1032 they are 0.367879, 0.183940, 0.137955, 0.099634, 0.069935 and
    0.140657: the reference declares the corrected values of SP 800-22 Rev. 1a §3.8
    (0.364091, 0.185659, …) but overwrites them with this older approximation.
    """
    eta = (block - m + 1) / 2.0**m / 2.0
    probs = [_class_probability(u, eta) for u in range(_CLASSES)]
    return (*probs, 1 - _sequential_sum(probs))


def _sequential_sum(values: list[float]) -> float:
    total = 0.0
    for v in values:
        total += v
    return total


def overlapping_template(bits: np.ndarray, m: int = 9) -> float:
    """Overlapping Template Matching test with the all-ones template, SP 800-22 §2.8.

    Notes
    -----
    ν_k counts the N = ⌊n/1032⌋ blocks with k overlapping occurrences of m ones (k = 5:
    five or more); χ² = Σ (ν_k − Nπ_k)²/(Nπ_k) with :func:`overlapping_probabilities`,
    P = igamc(5/2, χ²/2).
    """
    eps = as_bits(bits)
    count = eps.size // _OVERLAP_BLOCK
    require(count >= 1, "OverlappingTemplate needs n >= 1032 bits", "bits")
    require(1 <= m <= 24, f"overlapping_m must be in [1, 24], found {m}", "overlapping_m")
    hits = _kernels.block_run_matches(eps, m, _OVERLAP_BLOCK, count)
    nu = np.bincount(np.minimum(hits, _CLASSES), minlength=_CLASSES + 1)
    chi2 = 0.0
    for k, p in enumerate(overlapping_probabilities(m)):
        chi2 += (float(nu[k]) - count * p) ** 2 / (count * p)
    return igamc(_CLASSES / 2.0, chi2 / 2.0)
