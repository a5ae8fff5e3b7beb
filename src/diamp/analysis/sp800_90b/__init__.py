"""NIST SP 800-90B entropy assessment: non-IID and IID tracks, continuous health tests.

Behaviour follows the reference tool SP800-90B_EntropyAssessment 1.1.7 by default; every
place where the tool departs from the 2018 text of the standard is documented in the
module that implements it.
"""

from __future__ import annotations

from diamp.analysis.sp800_90b.noniid import ESTIMATORS, EstimatorSet, NonIidResult, assess_non_iid
from diamp.analysis.sp800_90b.samples import Samples, prepare_samples

__all__ = [
    "ESTIMATORS",
    "EstimatorSet",
    "NonIidResult",
    "Samples",
    "assess_non_iid",
    "prepare_samples",
]
