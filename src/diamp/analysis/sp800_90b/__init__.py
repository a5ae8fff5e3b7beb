"""NIST SP 800-90B entropy assessment: non-IID and IID tracks, continuous health tests.

Behaviour follows the reference tool SP800-90B_EntropyAssessment 1.1.7 by default. Its
behaviours that are easy to miss, each documented where it is implemented:

* input (:mod:`.samples`): one sample per byte; a sample wider than ``bits_per_sample`` is
  refused (the tool stops with "Incorrect bit width specification"; its masking step is
  then a no-op); values are mapped to 0..k−1, k the number present; the bitstring uses the
  unmapped values, MSB-first within the width; one distinct value: no entropy;
* combination (:mod:`.noniid`): collision, Markov and compression only on binary data;
  the bitstring track only when k > 2; a negative ("cannot run") result is left out;
  assessed = min(bits, H_original, bits · H_bitstring);
* collision (:mod:`.estimators`): p in closed form, X̄' clamped at 2; compression: the
  tool's bisection and G evaluation (Kahan sums, tail stopped at underflow);
* predictors (:mod:`.predictors`): capped at log₂ k, P_local by the tool's bisection;
  MultiMMC 100,000 (context, symbol) entries per order, LZ78Y 65,536 contexts (longest
  first), ties to the larger symbol, MultiMCW ties to the most recent value;
* t-tuple and LRS (:mod:`.tuples`): counts from the suffix array, final arithmetic in long
  double;
* IID track (:mod:`.iid`, :mod:`.permutation`, :mod:`.chisquare`): early settling of the
  19 statistics, the binary conversions, bzip2 level 5 on the decimal text, pooled chi-square
  bins, the LRS test in long double, MCV min-entropy.

Departures from the tool: permutation shuffles are independent and seeded (the tool
reshuffles one copy from ``/dev/urandom``); the IID min-entropy is always the combined
minimum (the tool writes it to its JSON only at ``-v -v``). The health tests are not in the
tool (:mod:`.health`): windows of 1024 (binary) and 512 samples as §4.4.2 says, cutoffs
taken directly from the binomial distribution.
"""

from __future__ import annotations

from diamp.analysis.sp800_90b.chisquare import ChiSquareResult, LrsTestResult
from diamp.analysis.sp800_90b.estimators import (
    CollisionResult,
    CompressionResult,
    MarkovResult,
    McvResult,
)
from diamp.analysis.sp800_90b.health import (
    HealthFailure,
    HealthMonitor,
    adaptive_proportion_cutoff,
    repetition_count_cutoff,
)
from diamp.analysis.sp800_90b.iid import IidResult, assess_iid
from diamp.analysis.sp800_90b.noniid import ESTIMATORS, EstimatorSet, NonIidResult, assess_non_iid
from diamp.analysis.sp800_90b.permutation import PermutationResult
from diamp.analysis.sp800_90b.predictors import PredictorResult
from diamp.analysis.sp800_90b.samples import Samples, prepare_samples
from diamp.analysis.sp800_90b.tuples import LrsResult, TupleResult

__all__ = [
    "ESTIMATORS",
    "ChiSquareResult",
    "CollisionResult",
    "CompressionResult",
    "EstimatorSet",
    "HealthFailure",
    "HealthMonitor",
    "IidResult",
    "LrsResult",
    "LrsTestResult",
    "MarkovResult",
    "McvResult",
    "NonIidResult",
    "PermutationResult",
    "PredictorResult",
    "Samples",
    "TupleResult",
    "adaptive_proportion_cutoff",
    "assess_iid",
    "assess_non_iid",
    "prepare_samples",
    "repetition_count_cutoff",
]
