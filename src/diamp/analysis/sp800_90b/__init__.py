"""NIST SP 800-90B entropy assessment: non-IID and IID tracks, continuous health tests.

Behaviour follows the reference tool SP800-90B_EntropyAssessment 1.1.7 by default; every
place where the tool departs from the 2018 text of the standard, and every place where
this package departs from the tool, is documented in the module that implements it.
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
