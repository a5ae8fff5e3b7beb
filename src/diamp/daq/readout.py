"""Qubit readout: the role every readout backend plays, and the pure discrimination maths.

A readout backend integrates the qubit's readout signal once per trial and turns each
integrated complex value into an outcome bit. :class:`QubitReadout` is the role (a
``typing.Protocol``); the Zurich Instruments backends live in
:mod:`diamp.daq.instruments.zurich`.

Discrimination is linear: a value ``v`` is rotated by ``exp(-i·angle)`` and its real part is
compared with ``threshold``; bit 1 (excited) when it lies above. :func:`calibrate` finds the
angle and threshold from reference shots of the two states, :func:`discriminate` applies them.
Both are pure (arrays and a frozen dataclass in, arrays and a frozen dataclass out).

Bits are ``uint8`` 0/1 arrays, one bit per shot in shot order (1 = excited state).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np

__all__ = ["Calibration", "QubitReadout", "assignment_fidelity", "calibrate", "discriminate"]

ThresholdMethod = Literal["midpoint", "max_fidelity"]


@runtime_checkable
class QubitReadout(Protocol):
    """One node's qubit readout: integrated values and discriminated outcome bits.

    Implementations validate a whole settings batch before any I/O, write it in one
    transaction, and raise :class:`~diamp.errors.InstrumentError` (naming the instrument and
    the node) for every device, timeout or count failure.
    """

    name: str

    def configure(self, settings: Mapping[str, Any]) -> None:
        """Validate every setting, then write them all in one transaction."""
        ...

    def arm(self, n_results: int) -> None:
        """Reset the result logger and enable it for ``n_results`` results."""
        ...

    def read_values(self, n_results: int, timeout_s: float) -> np.ndarray:
        """Exactly ``n_results`` integrated values (complex128), in shot order."""
        ...

    def read_outcomes(self, n_results: int, timeout_s: float) -> np.ndarray:
        """Exactly ``n_results`` outcome bits (uint8 0/1, 1 = excited), in shot order."""
        ...

    def recalibrate(self, ground: np.ndarray, excited: np.ndarray) -> Calibration:
        """New discrimination from reference shots, applied in one transaction."""
        ...

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """Every setting read back: ``{key: {value, unit, timestamp}}``."""
        ...

    def close(self) -> None:
        """Release the connection."""
        ...


@dataclass(frozen=True)
class Calibration:
    """A linear discrimination of readout values.

    Attributes
    ----------
    angle
        Direction of the discriminant axis in the IQ plane (rad, in (-π, π]); values are
        rotated by ``exp(-i·angle)`` before thresholding, so the excited mean lies to the
        right of the ground mean.
    threshold
        Decision level on the rotated real axis; above it is bit 1 (excited).
    fidelity
        Assignment fidelity F = 1 − (P(1|ground) + P(0|excited)) / 2 on the reference shots.
    ground_mean, excited_mean
        Mean integrated value of each reference set (the blob centres).
    """

    angle: float
    threshold: float
    fidelity: float = math.nan
    ground_mean: complex = complex(math.nan, math.nan)
    excited_mean: complex = complex(math.nan, math.nan)

    @property
    def rotation(self) -> complex:
        """The complex factor ``exp(-i·angle)`` applied to values (or folded into weights)."""
        return complex(math.cos(self.angle), -math.sin(self.angle))

    def as_dict(self) -> dict[str, float]:
        """Plain floats (complex means split into re/im) for snapshots and certificates."""
        return {
            "angle": self.angle,
            "threshold": self.threshold,
            "fidelity": self.fidelity,
            "ground_mean_re": self.ground_mean.real,
            "ground_mean_im": self.ground_mean.imag,
            "excited_mean_re": self.excited_mean.real,
            "excited_mean_im": self.excited_mean.imag,
        }


def _shots(name: str, values: np.ndarray) -> np.ndarray:
    """``values`` as a finite, non-empty, 1-d complex128 array (or ValueError)."""
    array = np.asarray(values)
    if array.ndim != 1 or array.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-d array, got shape {array.shape}")
    if not (np.issubdtype(array.dtype, np.number) and not np.issubdtype(array.dtype, np.bool_)):
        raise ValueError(f"{name} must hold numbers, got dtype {array.dtype}")
    array = array.astype(np.complex128)
    if not np.isfinite(array).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return array


def _project(values: np.ndarray, angle: float) -> np.ndarray:
    """Real part of ``values · exp(-i·angle)`` (the coordinate on the discriminant axis)."""
    return np.asarray((values * complex(math.cos(angle), -math.sin(angle))).real)


def assignment_fidelity(
    ground_projected: np.ndarray, excited_projected: np.ndarray, threshold: float
) -> float:
    """F = 1 − (P(1|ground) + P(0|excited)) / 2 for projected shots and a threshold.

    A shot is assigned 1 when its projection is strictly above ``threshold``.
    """
    p1_given_g = float(np.count_nonzero(ground_projected > threshold)) / ground_projected.size
    p0_given_e = float(np.count_nonzero(excited_projected <= threshold)) / excited_projected.size
    return 1.0 - (p1_given_g + p0_given_e) / 2.0


def _best_threshold(pg: np.ndarray, pe: np.ndarray, fallback: float) -> float:
    """The threshold maximising the empirical assignment fidelity.

    Candidates are the midpoints between consecutive distinct projections plus one value
    below and one above all of them; every other threshold assigns the shots like one of
    these. Ties go to the candidate nearest ``fallback`` (the midpoint threshold).
    """
    points = np.unique(np.concatenate([pg, pe]))
    inner = (points[:-1] + points[1:]) / 2.0
    candidates = np.concatenate([[points[0] - 1.0], inner, [points[-1] + 1.0]])
    sorted_g, sorted_e = np.sort(pg), np.sort(pe)
    ones_g = pg.size - np.searchsorted(sorted_g, candidates, side="right")
    zeros_e = np.searchsorted(sorted_e, candidates, side="right")
    fidelity = 1.0 - (ones_g / pg.size + zeros_e / pe.size) / 2.0
    best = np.flatnonzero(fidelity == fidelity.max())
    return float(candidates[best[np.argmin(np.abs(candidates[best] - fallback))]])


def calibrate(
    ground: np.ndarray, excited: np.ndarray, threshold: ThresholdMethod = "midpoint"
) -> Calibration:
    """Linear discrimination from reference shots of the ground and the excited state.

    Parameters
    ----------
    ground, excited
        Integrated readout values (complex) of shots prepared in ``|0⟩`` and ``|1⟩``.
    threshold
        ``"midpoint"``: halfway between the projected means (the default);
        ``"max_fidelity"``: the threshold that maximises the assignment fidelity on these
        shots (ties resolved towards the midpoint).

    Returns
    -------
    Calibration
        Axis angle, threshold, assignment fidelity on the reference shots, blob centres.

    Raises
    ------
    ValueError
        Empty, non-finite or non-numeric shots, identical means, or an unknown method.

    Notes
    -----
    The discriminant axis is the line through the two means, d = μ₁ − μ₀, angle = arg d.
    For two Gaussian blobs with the same isotropic covariance σ²·I and equal priors this is
    Fisher's linear discriminant (w ∝ Σ⁻¹ d = d / σ²; Fisher 1936) and the midpoint
    threshold is the maximum-likelihood boundary, giving F = Φ(|d| / 2σ) (Φ the standard
    normal CDF). The ``max_fidelity`` threshold is the empirical optimum along the same axis;
    it helps when the blobs have unequal widths (e.g. T1 decay during readout) but follows
    the noise of small reference sets, which is why the midpoint is the default.
    Assignment fidelity as in Walter et al., Phys. Rev. Applied 7, 054020 (2017), eq. (1).
    """
    g = _shots("ground", ground)
    e = _shots("excited", excited)
    mu_g, mu_e = complex(g.mean()), complex(e.mean())
    d = mu_e - mu_g
    if not abs(d) > 0.0:
        raise ValueError(
            f"ground and excited shots have the same mean {mu_g}: the states cannot be told apart"
        )
    angle = math.atan2(d.imag, d.real)
    pg, pe = _project(g, angle), _project(e, angle)
    midpoint = float((pg.mean() + pe.mean()) / 2.0)
    if threshold == "midpoint":
        level = midpoint
    elif threshold == "max_fidelity":
        level = _best_threshold(pg, pe, midpoint)
    else:
        raise ValueError(
            f"threshold method must be 'midpoint' or 'max_fidelity', not {threshold!r}"
        )
    return Calibration(
        angle=angle,
        threshold=level,
        fidelity=assignment_fidelity(pg, pe, level),
        ground_mean=mu_g,
        excited_mean=mu_e,
    )


def discriminate(values: np.ndarray, calibration: Calibration) -> np.ndarray:
    """Outcome bits of integrated values: 1 where Re(v·exp(−i·angle)) > threshold.

    Returns a ``uint8`` 0/1 array, one bit per value in the order given (1 = excited).
    """
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"values must be a 1-d array, got shape {array.shape}")
    if array.size == 0:
        return np.zeros(0, dtype=np.uint8)
    shots = _shots("values", array)
    return (_project(shots, calibration.angle) > calibration.threshold).astype(np.uint8)
