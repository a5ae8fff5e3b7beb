"""Entropy models of QRNG sources: how many random bits one raw sample carries.

Five models, one pure function each (numbers in, a frozen dataclass out):

* :func:`vacuum_min_entropy_worst_case` and :func:`vacuum_min_entropy`: homodyne measurement
  of vacuum fluctuations digitised by a b-bit ADC (seed 000 eqs. 4–6; spec §10.2); the worst
  case over classical offsets |e| ≤ k σ_c (k = :data:`DEFAULT_MAX_OFFSET_SIGMA_C` = 5 unless
  given) is the conservative value; the centred one assumes a zero offset (spec §11d: use it
  only when the offset is known to be zero, and only by name);
* :func:`single_photon_entropy` (seed 002 eq. 19), :func:`arrival_time_entropy` (eq. 28),
  :func:`spatial_entropy` (eq. 34) and :func:`phase_fluctuation_entropy` (eq. 38): the
  spontaneous-emission QRNGs of seed 002.

Every result has ``min_entropy``: −log₂ of the adversary's best guessing probability for one
sample, in bits per sample; it is the H_min that the leftover hash lemma (spec §10.1) needs.
Seed 002's eqs. 19, 28 and 34 are *von Neumann* (Shannon) rates, extractable only
asymptotically from many i.i.d. samples; those results give the equation's value as
``intrinsic_randomness`` next to a min-entropy derived from the same model (see each Notes).
All logarithms are base 2. Invalid parameters raise :class:`~diamp.errors.ConfigError` naming
the parameter and its allowed range; nothing is clamped.
"""

from __future__ import annotations

from diamp.analysis.entropy_models._common import MAX_ADC_BITS, MAX_TABLE_BITS, gamma_from_db
from diamp.analysis.entropy_models.emission import (
    ArrivalTimeEntropy,
    PhaseFluctuationEntropy,
    SinglePhotonEntropy,
    SpatialEntropy,
    arrival_time_entropy,
    phase_fluctuation_entropy,
    phase_noise_lambda,
    single_photon_entropy,
    spatial_entropy,
)
from diamp.analysis.entropy_models.vacuum import (
    DEFAULT_MAX_OFFSET_SIGMA_C,
    VacuumEntropy,
    VacuumWorstCase,
    vacuum_bin_probabilities,
    vacuum_min_entropy,
    vacuum_min_entropy_worst_case,
)

__all__ = [
    "DEFAULT_MAX_OFFSET_SIGMA_C",
    "MAX_ADC_BITS",
    "MAX_TABLE_BITS",
    "ArrivalTimeEntropy",
    "PhaseFluctuationEntropy",
    "SinglePhotonEntropy",
    "SpatialEntropy",
    "VacuumEntropy",
    "VacuumWorstCase",
    "arrival_time_entropy",
    "gamma_from_db",
    "phase_fluctuation_entropy",
    "phase_noise_lambda",
    "single_photon_entropy",
    "spatial_entropy",
    "vacuum_bin_probabilities",
    "vacuum_min_entropy",
    "vacuum_min_entropy_worst_case",
]
