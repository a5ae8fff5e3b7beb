"""Spontaneous-emission QRNGs of seed 002: single-photon, arrival-time, spatial, phase."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from diamp.analysis._special import xlogy
from diamp.analysis.entropy_models._common import (
    _LN2,
    _SQRT2,
    SUM_TOLERANCE,
    _bits_of,
    _integer,
    _real,
)
from diamp.errors import ConfigError

__all__ = [
    "ArrivalTimeEntropy",
    "PhaseFluctuationEntropy",
    "SinglePhotonEntropy",
    "SpatialEntropy",
    "arrival_time_entropy",
    "phase_fluctuation_entropy",
    "phase_noise_lambda",
    "single_photon_entropy",
    "spatial_entropy",
]


# --- spontaneous emission (seed 002) ------------------------------------------------------


def _log_one_minus_exp(x: float) -> float:
    """ln(1 − e^{−x}) for x > 0 (Mächler's log1mexp: no cancellation at either end)."""
    return math.log(-math.expm1(-x)) if x <= _LN2 else math.log1p(-math.exp(-x))


def _decay_entropy(x: float) -> float:
    """h(1 − e^{−x}) in bits: binary entropy of 'emitted within a time of x/Γ'."""
    if x == 0.0:
        return 0.0
    p = -math.expm1(-x)
    return (-p * _log_one_minus_exp(x) + math.exp(-x) * x) / _LN2  # −q ln q = q·x


@dataclass(frozen=True)
class SinglePhotonEntropy:
    """Single-photon detection QRNG (click / no click in a window t), seed 002 §IV A.

    ``p_click`` = 1 − e^{−Γt} is the click probability given an excited atom.
    """

    excited_population: float
    gamma_t: float
    p_click: float
    intrinsic_randomness: float
    min_entropy: float


def _emission_inputs(excited_population: float, gamma_t: float) -> tuple[float, float]:
    rho11 = _real("excited_population", excited_population, 0.0, 1.0)
    x = _real("gamma_t", gamma_t, 0.0)
    return rho11, x


def single_photon_entropy(excited_population: float, gamma_t: float) -> SinglePhotonEntropy:
    """Randomness per detection window of a single-photon-detection QRNG.

    Parameters
    ----------
    excited_population
        ρ₁₁ ∈ [0, 1], the atom's excited-state population (from the emission rate I = Γρ₁₁).
    gamma_t
        Γt ≥ 0: decay rate times the detection window (dimensionless).

    Returns
    -------
    SinglePhotonEntropy
        ``intrinsic_randomness`` (eq. 19, bits per window, asymptotic i.i.d. rate) and
        ``min_entropy`` (single-shot, bits per window).

    Notes
    -----
    Li, Liu, Ma, "Randomness quantification in spontaneous emission" (seed 002), eq. 19:

        R ≥ ρ₁₁ [−(1 − e^{−Γt}) log(1 − e^{−Γt}) − e^{−Γt} log e^{−Γt}] = ρ₁₁ h(e^{−Γt}),

    the von Neumann intrinsic randomness against Adversary II (Eve holds a purification of
    the atom but not the atom; against Adversary I it is 0, Table I), at its minimum over
    the atom's coherence |ρ₀₁| = 0 (Proposition 1). [DERIVED here] In that incoherent case
    Eve's conditional states are orthogonal and diagonal, so she knows whether the atom was
    excited and her guessing probability is ρ₀₀ + ρ₁₁ max(e^{−Γt}, 1 − e^{−Γt}), giving
    H_min = −log₂[1 − ρ₁₁ min(e^{−Γt}, 1 − e^{−Γt})]. Coherence cannot help Eve: dephasing
    ρ_A is a mixture of ρ_A and Zρ_AZ, and Z commutes (up to sign) with the Kraus operators
    of eq. 15, so a purification of the dephased state gives Eve at least the same guess.
    H_min ≤ R always; both vanish when ρ₁₁ = 0 or Γt = 0.
    """
    rho11, x = _emission_inputs(excited_population, gamma_t)
    p_click = -math.expm1(-x)
    return SinglePhotonEntropy(
        excited_population=rho11,
        gamma_t=x,
        p_click=p_click,
        intrinsic_randomness=rho11 * _decay_entropy(x),
        min_entropy=_bits_of(rho11 * min(p_click, math.exp(-x))),
    )


@dataclass(frozen=True)
class ArrivalTimeEntropy:
    """Temporal-mode (arrival-time) QRNG with n equal time bins in [0, t], seed 002 §IV B.

    ``p_bin`` = 1 − e^{−Γt/n} is the decay probability per bin (eq. 20's p);
    ``p_no_detection`` = 1 − ρ₁₁(1 − e^{−Γt}) is Pr(0) of eq. 23.
    """

    excited_population: float
    gamma_t: float
    time_bins: int
    p_bin: float
    p_no_detection: float
    intrinsic_randomness: float
    min_entropy: float


def arrival_time_entropy(
    excited_population: float, gamma_t: float, time_bins: int
) -> ArrivalTimeEntropy:
    """Randomness per window of an arrival-time QRNG with ``time_bins`` bins.

    Parameters
    ----------
    excited_population
        ρ₁₁ ∈ [0, 1].
    gamma_t
        Γt ≥ 0 for the whole window [0, t] (each bin lasts t/n).
    time_bins
        n ≥ 1 equal time bins; the outcome is 0 (no detection) or the bin 1 … n.

    Returns
    -------
    ArrivalTimeEntropy
        ``intrinsic_randomness`` (eq. 28) and ``min_entropy`` in bits per window.

    Notes
    -----
    Seed 002 eq. 28 (Adversary II, |ρ₀₁| = 0), with p = 1 − e^{−Γt/n}:

        R ≥ ρ₁₁ (1 − (1−p)^n)/p · h(p) = ρ₁₁ (1 − e^{−Γt})/(1 − e^{−Γt/n}) · h(e^{−Γt/n}),

    the entropy of the outcome given that Eve knows whether the atom was excited (the
    closed form of eq. 27's sum); n = 1 is eq. 19. [DERIVED, as for eq. 19] The outcome
    probabilities given excitation are (1−p)^n (no click) and p(1−p)^{k−1} (bin k), so
    H_min = −log₂[1 − ρ₁₁ min(1 − e^{−Γt}, e^{−Γt/n})]. The ratio is evaluated with
    ``expm1``, so very many bins or a tiny Γt lose no precision. The bins are geometric,
    not uniform: R grows like ρ₁₁(1 − e^{−Γt}) log₂(e n/Γt) for n → ∞.
    """
    rho11, x = _emission_inputs(excited_population, gamma_t)
    n = _integer("time_bins", time_bins, 1, 2**62)
    y = x / n
    p = -math.expm1(-y)
    if x == 0.0:
        rate = 0.0
    elif p == 0.0:  # Γt/n underflowed: h(p)/p = log2(e/p) to first order, p = Γt/n
        rate = rho11 * x * (math.log2(math.e) + math.log2(n) - math.log2(x))
    else:
        rate = rho11 * -math.expm1(-x) * (_decay_entropy(y) / p)
    return ArrivalTimeEntropy(
        excited_population=rho11,
        gamma_t=x,
        time_bins=n,
        p_bin=p,
        p_no_detection=1.0 + rho11 * math.expm1(-x),
        intrinsic_randomness=rate,
        min_entropy=_bits_of(rho11 * min(-math.expm1(-x), math.exp(-y))),
    )


@dataclass(frozen=True)
class SpatialEntropy:
    """Spatial-mode QRNG: which of m detectors clicks, seed 002 §IV C."""

    probabilities: tuple[float, ...]
    intrinsic_randomness: float
    min_entropy: float


def spatial_entropy(click_probabilities: Sequence[float] | np.ndarray) -> SpatialEntropy:
    """Randomness per detected photon of a spatial-mode QRNG.

    Parameters
    ----------
    click_probabilities
        p_i = |c_i|², i = 1 … m: probability that the photon is collected by detector i.
        Each in [0, 1], summing to 1 within :data:`SUM_TOLERANCE` (not renormalised).

    Returns
    -------
    SpatialEntropy
        ``intrinsic_randomness`` = −Σ p_i log₂ p_i (eq. 34) and ``min_entropy`` =
        −log₂ max_i p_i, bits per detected photon.

    Notes
    -----
    Seed 002 eq. 34. The randomness is the Shannon entropy of the emission direction; it is
    intrinsic against both adversaries (the superposition over modes is made by the vacuum,
    not the atom), so Eve's best single-shot guess is the likeliest detector and the
    min-entropy is −log₂ max p_i [DERIVED]. Reading: eq. 33 conditions on one emitted photon
    in the m collected mode groups, so the p_i must form a distribution; if your numbers are
    clicks per emission with losses and the QRNG keeps only clicks, divide them by their sum
    yourself.
    """
    try:
        p = np.asarray(click_probabilities, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ConfigError(
            f"click_probabilities must be real numbers, got {click_probabilities!r}",
            parameter="click_probabilities",
        ) from err
    if p.ndim != 1 or p.size < 1:
        raise ConfigError(
            f"click_probabilities must be a non-empty 1-d list, got shape {p.shape}",
            parameter="click_probabilities",
        )
    bad = ~(np.isfinite(p) & (p >= 0.0) & (p <= 1.0))
    if bad.any():
        i = int(np.argmax(bad))
        raise ConfigError(
            f"click_probabilities[{i}] must lie in [0, 1], got {p[i]!r}",
            parameter="click_probabilities",
        )
    total = math.fsum(p.tolist())
    if abs(total - 1.0) > SUM_TOLERANCE:
        raise ConfigError(
            f"click_probabilities must sum to 1 (±{SUM_TOLERANCE:g}), got {total!r}; if they "
            "are per-emission click rates of a QRNG that keeps only clicks, divide by their sum",
            parameter="click_probabilities",
        )
    shannon = -math.fsum(xlogy(p, p).tolist()) / _LN2 + 0.0
    return SpatialEntropy(
        probabilities=tuple(float(v) for v in p),
        intrinsic_randomness=shannon,
        min_entropy=-math.log2(float(p.max())) + 0.0,
    )


@dataclass(frozen=True)
class PhaseFluctuationEntropy:
    """Laser phase-noise QRNG (delayed self-interference), seed 002 §IV D.

    ``ratio`` = λ/√τ; ``p_max`` = 2Φ(λ/√τ) − 1, the mass of the most likely voltage bin.
    """

    lam: float
    tau: float
    ratio: float
    p_max: float
    min_entropy: float


def phase_noise_lambda(
    interval_width: float, laser_power: float, coherence_time: float, a_const: float
) -> float:
    """λ of seed 002 eq. 39: λ = a/(4πP) · √(τ_c/A).

    Parameters
    ----------
    interval_width
        a > 0, the width of the voltage interval (ADC bin).
    laser_power
        P > 0, the laser output power.
    coherence_time
        τ_c > 0, the laser coherence time.
    a_const
        A > 0, the constant written A in eq. 39. Seed 002 does not define it (it comes from
        its ref. [30], Zhou, Yuan & Ma, PRA 91, 062316 (2015)); its units must make λ/√τ
        dimensionless.

    Returns
    -------
    float
        λ, in units of √(time) of τ.
    """
    a = _real("interval_width", interval_width, 0.0, lo_open=True)
    power = _real("laser_power", laser_power, 0.0, lo_open=True)
    tau_c = _real("coherence_time", coherence_time, 0.0, lo_open=True)
    big_a = _real("a_const", a_const, 0.0, lo_open=True)
    lam = a / (4.0 * math.pi * power) * math.sqrt(tau_c / big_a)
    if not (math.isfinite(lam) and lam > 0.0):
        raise ConfigError(f"eq. 39 gives λ = {lam!r}: out of floating-point range", parameter="lam")
    return lam


def phase_fluctuation_entropy(lam: float, tau: float) -> PhaseFluctuationEntropy:
    """Min-entropy per sample of a phase-fluctuation QRNG (seed 002 eq. 38).

    Parameters
    ----------
    lam
        λ > 0 of eq. 39 (see :func:`phase_noise_lambda`).
    tau
        τ > 0, the interferometer delay, in the time unit of λ².

    Returns
    -------
    PhaseFluctuationEntropy
        ``min_entropy`` = −log₂[2Φ(λ/√τ) − 1] bits per sample.

    Notes
    -----
    Seed 002 eq. 38, taken there from Zhou, Yuan & Ma, PRA 91, 062316 (2015):
    R = −log[2Φ(λ/√τ) − 1]. 2Φ(x) − 1 = erf(x/√2) is the probability that the Gaussian
    phase-diffusion signal lands in the central interval, so R is already a min-entropy
    (−log₂ P_max), valid against both adversaries. It assumes the linear (small phase
    noise) regime and an unbounded ADC: it grows without limit as λ/√τ → 0 and is not
    capped by any ADC's bit count. Near P_max → 1 it uses erfc to keep precision.
    """
    lam = _real("lam", lam, 0.0, lo_open=True)
    tau = _real("tau", tau, 0.0, lo_open=True)
    x = lam / math.sqrt(tau)
    if not (math.isfinite(x) and x > 0.0):
        raise ConfigError(
            f"lam/sqrt(tau) = λ/√τ = {x!r} is out of floating-point range "
            f"(lam = {lam!r}, tau = {tau!r})",
            parameter="lam",
        )
    z = x / _SQRT2
    if z < 1.0:
        p_max = math.erf(z)
        bits = -math.log2(p_max)
    else:
        tail = math.erfc(z)
        p_max, bits = 1.0 - tail, _bits_of(tail)
    return PhaseFluctuationEntropy(lam=lam, tau=tau, ratio=x, p_max=p_max, min_entropy=bits)
