"""SP 800-90B §6.3.7–6.3.10: the MultiMCW, Lag, MultiMMC and LZ78Y prediction estimates.

Each predictor counts its correct predictions C out of N and the longest run of correct
predictions; :func:`prediction_estimate` turns these into min-entropy per sample exactly as
the reference tool does (``predictionEstimate`` in ``cpp/shared/utils.h``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from diamp.analysis.sp800_90b._kernels.counting import multi_mcw
from diamp.analysis.sp800_90b._kernels.lag import lag_binary, lag_predict
from diamp.analysis.sp800_90b._kernels.predictors import (
    lz78y_binary,
    lz78y_general,
    mmc_binary,
    mmc_general,
)
from diamp.analysis.sp800_90b._search import ZALPHA, bisect_decreasing

__all__ = [
    "PredictorResult",
    "lag_estimate",
    "lz78y_estimate",
    "multi_mcw_estimate",
    "multi_mmc_estimate",
    "prediction_estimate",
]

_LOG_99 = math.log(0.99)
_LDBL_EPSILON = 2.0**-63


@dataclass(frozen=True)
class PredictorResult:
    """A prediction estimate: C correct of N, r = longest run + 1, the bounds and h.

    ``p_local`` is ``None`` when the tool reports that P_local cannot change the result.
    """

    c: int
    n: int
    r: int
    p_global: float
    p_global_prime: float
    p_local: float | None
    h: float


def _log_run_probability(p: float, r: int, n: int) -> float:
    """Natural log of the probability that N predictions have no run of r successes.

    Notes
    -----
    SP 800-90B §6.3.7 step 8 (Feller's approximation): x solves x = 1 + q pʳ x^{r+1} by the
    tool's fixed-point iteration (at most 66 steps, stop when the step is below 2⁻⁶³ x), and
    the result is ln(1 − p x) − ln((r + 1 − r x) q) − (N + 1) ln x. The tool uses long
    double; here y = x − 1 is iterated in double so that ln x = log1p(y) keeps its
    relative precision (the tool's x carries 64 significant bits, y here 53 bits of the
    much smaller increment). When (r + 1) q < 1 the smallest root is x = 1/p, where the
    probability is 0: the iteration creeps up to it from below and 1 − p x may round to 0
    or below, which gives −inf here (and a huge negative number or −inf in the tool).
    """
    q = 1.0 - p
    pr = p**r
    y = 0.0
    last = -1.0
    for _ in range(66):
        if not (y - last) > _LDBL_EPSILON * (1.0 + y):
            break
        last = y
        y = q * pr * (1.0 + y) ** (r + 1)
    head = q - p * y
    if head <= 0.0:
        return -math.inf
    return math.log(head) - math.log((1.0 - r * y) * q) - (n + 1.0) * math.log1p(y)


def prediction_estimate(c: int, n: int, longest_run: int, k: int) -> PredictorResult:
    """Min-entropy from a predictor's success count and longest run (§6.3.7 steps 7–9).

    Parameters
    ----------
    c
        Number of correct predictions.
    n
        Number of predictions.
    longest_run
        Longest run of correct predictions; r = longest_run + 1.
    k
        Alphabet size; the estimate is capped at log₂ k (P ≥ 1/k), as in the tool.

    Returns
    -------
    PredictorResult
        h = −log₂ max(1/k, P_global', P_local).

    Notes
    -----
    P_global' = min(1, P̂ + 2.576 √(P̂(1 − P̂)/(N − 1))), or 1 − 0.01^{1/N} when C = 0.
    P_local is the p at which the run probability equals 0.99, found by bisection above the
    current maximum, and only computed when it could raise it.
    """
    r = longest_run + 1
    p_global = c / n
    if p_global > 0 and n == 1:
        prime = 1.0  # the tool's min(1, NaN)
    elif p_global > 0:
        prime = min(1.0, p_global + ZALPHA * math.sqrt(p_global * (1.0 - p_global) / (n - 1.0)))
    else:
        prime = 1.0 - 0.01 ** (1.0 / n)
    cur = max(1.0 / k, prime)
    p_local = None
    if cur < 1.0 and _log_run_probability(cur, r, n) > _LOG_99:
        p_local = bisect_decreasing(lambda p: _log_run_probability(p, r, n), _LOG_99, cur, 1.0, 1.0)
        cur = max(cur, p_local)
    return PredictorResult(c, n, r, p_global, prime, p_local, -math.log2(cur))


def _prepared(symbols: NDArray[np.uint8]) -> NDArray[np.uint8]:
    return np.ascontiguousarray(symbols, dtype=np.uint8)


def multi_mcw_estimate(symbols: NDArray[np.uint8], k: int) -> PredictorResult | None:
    """MultiMCW prediction estimate (§6.3.7); needs at least 4096 samples."""
    if symbols.shape[0] < 4096:
        return None
    c, n, run = multi_mcw(_prepared(symbols), k)
    return prediction_estimate(int(c), int(n), int(run), k)


def lag_estimate(symbols: NDArray[np.uint8], k: int) -> PredictorResult | None:
    """Lag prediction estimate with D = 128 (§6.3.8); needs at least 3 samples."""
    if symbols.shape[0] < 3:
        return None
    kernel = lag_binary if k == 2 else lag_predict
    c, run = kernel(_prepared(symbols))
    return prediction_estimate(int(c), symbols.shape[0] - 1, int(run), k)


def multi_mmc_estimate(symbols: NDArray[np.uint8], k: int) -> PredictorResult | None:
    """MultiMMC prediction estimate with D = 16 (§6.3.9); needs 4 bits or 3 symbols."""
    if symbols.shape[0] < (4 if k == 2 else 3):
        return None
    kernel = mmc_binary if k == 2 else mmc_general
    c, run = kernel(_prepared(symbols))
    return prediction_estimate(int(c), symbols.shape[0] - 2, int(run), k)


def lz78y_estimate(symbols: NDArray[np.uint8], k: int) -> PredictorResult | None:
    """LZ78Y prediction estimate with B = 16 (§6.3.10); needs 19 bits or 18 symbols."""
    if symbols.shape[0] < (19 if k == 2 else 18):
        return None
    kernel = lz78y_binary if k == 2 else lz78y_general
    c, run = kernel(_prepared(symbols))
    return prediction_estimate(int(c), symbols.shape[0] - 17, int(run), k)
