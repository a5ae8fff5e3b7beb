"""All selected SP 800-22 tests on one sequence, with per-test timings."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from diamp.analysis.sp800_22._common import as_bits
from diamp.analysis.sp800_22.excursions import (
    EXCURSION_STATES,
    VARIANT_STATES,
    ExcursionStats,
    excursion_stats,
    random_excursions,
    random_excursions_variant,
)
from diamp.analysis.sp800_22.frequency import (
    block_frequency,
    cumulative_sums,
    frequency,
    longest_run,
    runs,
)
from diamp.analysis.sp800_22.linear import linear_complexity, rank
from diamp.analysis.sp800_22.params import Sp80022Params
from diamp.analysis.sp800_22.patterns import approximate_entropy, pattern_counts, serial, universal
from diamp.analysis.sp800_22.spectral import fft
from diamp.analysis.sp800_22.templates import (
    non_overlapping_template,
    overlapping_template,
    reference_templates,
)

__all__ = ["evaluate_sequence", "run_sequence", "subtest_count"]

_Shared = dict[str, Any]
_Runner = Callable[[np.ndarray, Sp80022Params, _Shared], list[float]]


def subtest_count(name: str, params: Sp80022Params) -> int:
    """Number of p-values test ``name`` reports per sequence."""
    fixed = {
        "CumulativeSums": 2,
        "Serial": 2,
        "RandomExcursions": len(EXCURSION_STATES),
        "RandomExcursionsVariant": len(VARIANT_STATES),
    }
    if name == "NonOverlappingTemplate":
        return int(reference_templates(params.non_overlapping_m).size)
    return fixed.get(name, 1)


def _counts(eps: np.ndarray, params: Sp80022Params, shared: _Shared) -> dict[int, np.ndarray]:
    """Pattern counts up to the longest pattern Serial and ApEn need, computed once."""
    if "counts" not in shared:
        top = max(
            params.serial_m if "Serial" in params.tests else 0,
            params.approximate_entropy_m + 1 if "ApproximateEntropy" in params.tests else 0,
        )
        shared["counts"] = pattern_counts(eps, top)
    counts: dict[int, np.ndarray] = shared["counts"]
    return counts


def _walk(eps: np.ndarray, shared: _Shared) -> ExcursionStats:
    if "walk" not in shared:
        shared["walk"] = excursion_stats(eps)
    stats: ExcursionStats = shared["walk"]
    return stats


def _excursions(eps: np.ndarray, params: Sp80022Params, shared: _Shared) -> list[float]:
    p = random_excursions(eps, _walk(eps, shared))
    return [0.0] * len(EXCURSION_STATES) if p is None else p.tolist()


def _variant(eps: np.ndarray, params: Sp80022Params, shared: _Shared) -> list[float]:
    p = random_excursions_variant(eps, _walk(eps, shared))
    return [0.0] * len(VARIANT_STATES) if p is None else p.tolist()


def _universal(eps: np.ndarray, params: Sp80022Params, shared: _Shared) -> list[float]:
    block, init, _ = params.universal_blocks(eps.size)
    return [universal(eps, block, init)]


_RUNNERS: dict[str, _Runner] = {
    "Frequency": lambda e, p, s: [frequency(e)],
    "BlockFrequency": lambda e, p, s: [block_frequency(e, p.block_frequency_m)],
    "CumulativeSums": lambda e, p, s: list(cumulative_sums(e)),
    "Runs": lambda e, p, s: [runs(e)],
    "LongestRun": lambda e, p, s: [longest_run(e)],
    "Rank": lambda e, p, s: [rank(e)],
    "FFT": lambda e, p, s: [fft(e)],
    "NonOverlappingTemplate": lambda e, p, s: non_overlapping_template(
        e, p.non_overlapping_m
    ).tolist(),
    "OverlappingTemplate": lambda e, p, s: [overlapping_template(e, p.overlapping_m)],
    "Universal": _universal,
    "ApproximateEntropy": lambda e, p, s: [
        approximate_entropy(e, p.approximate_entropy_m, _counts(e, p, s))
    ],
    "RandomExcursions": _excursions,
    "RandomExcursionsVariant": _variant,
    "Serial": lambda e, p, s: list(serial(e, p.serial_m, _counts(e, p, s))),
    "LinearComplexity": lambda e, p, s: [linear_complexity(e, p.linear_complexity_m)],
}


def evaluate_sequence(
    bits: np.ndarray, params: Sp80022Params
) -> tuple[dict[str, list[float]], dict[str, float]]:
    """P-values and seconds spent per test for one sequence (lengths already checked)."""
    eps = as_bits(bits)
    shared: _Shared = {}
    pvalues: dict[str, list[float]] = {}
    seconds: dict[str, float] = {}
    for name in params.tests:
        started = time.perf_counter()
        pvalues[name] = [float(p) for p in _RUNNERS[name](eps, params, shared)]
        seconds[name] = time.perf_counter() - started
    return pvalues, seconds


def run_sequence(bits: np.ndarray, params: Sp80022Params | None = None) -> dict[str, list[float]]:
    """Run the selected SP 800-22 tests on one sequence.

    Parameters
    ----------
    bits
        The sequence: 1-D ``uint8`` array of 0/1 values in sequence order (for packed data,
        unpacked MSB-first from each byte, ``np.unpackbits`` order).
    params
        Test parameters (default: the reference's defaults, all 15 tests).

    Returns
    -------
    dict
        Test name (as in the reference's reports, in its order) → list of p-values:
        CumulativeSums (forward, reverse); NonOverlappingTemplate one per template in
        ascending order; RandomExcursions x = −4 … −1, +1 … +4; RandomExcursionsVariant
        x = −9 … −1, +1 … +9 (all 0 where the excursion tests do not apply);
        Serial (∇ψ², ∇²ψ²); every other test a single value.

    Raises
    ------
    ConfigError
        If ``bits`` is not a 0/1 array or a selected test cannot run on its length.
    """
    params = params if params is not None else Sp80022Params()
    eps = as_bits(bits)
    params.check_length(eps.size)
    return evaluate_sequence(eps, params)[0]
