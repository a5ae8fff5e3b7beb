"""Entropy models of QRNG sources: how many random bits one raw sample carries.

Five models, one pure function each (numbers in, a frozen dataclass out):

* :func:`vacuum_min_entropy` and :func:`vacuum_min_entropy_worst_case`: homodyne measurement
  of vacuum fluctuations digitised by a b-bit ADC (seed 000 eqs. 4–6; spec §10.2);
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

import math
import numbers
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Final

import numpy as np
from scipy import special

from diamp.errors import ConfigError

__all__ = [
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

MAX_ADC_BITS: Final = 32
"""Largest ADC resolution accepted (the min-entropy needs only a few bins, never a table)."""
MAX_TABLE_BITS: Final = 24
"""Largest resolution for which :func:`vacuum_bin_probabilities` builds the full table."""
SUM_TOLERANCE: Final = 1e-8
"""How far detector click probabilities may sum from 1 (rounding of typed values)."""

_LN2: Final = math.log(2.0)
_SQRT2: Final = math.sqrt(2.0)


# --- parameter checks ---------------------------------------------------------------------


def _interval(lo: float, hi: float, lo_open: bool, allow_inf: bool) -> str:
    def fmt(v: float) -> str:
        return ("-∞" if v < 0 else "∞") if math.isinf(v) else f"{v:g}"

    left = "(" if lo_open or math.isinf(lo) else "["
    right = "]" if allow_inf or math.isfinite(hi) else ")"
    return f"{left}{fmt(lo)}, {fmt(hi)}{right}"


def _real(
    name: str,
    value: float,
    lo: float = -math.inf,
    hi: float = math.inf,
    *,
    lo_open: bool = False,
    allow_inf: bool = False,
) -> float:
    """``value`` as a float inside the interval, or ConfigError naming ``name`` and the range.

    The interval is [lo, hi] (lo excluded with ``lo_open``); +∞ is accepted only with
    ``allow_inf`` (then hi must be ∞), NaN never.
    """
    where = _interval(lo, hi, lo_open, allow_inf)
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ConfigError(f"{name} must be a real number in {where}, got {value!r}", parameter=name)
    x = float(value)
    ok = not math.isnan(x) and (allow_inf or math.isfinite(x))
    ok = ok and (x > lo if lo_open else x >= lo) and x <= hi
    if not ok:
        raise ConfigError(f"{name} must lie in {where}, got {name} = {x!r}", parameter=name)
    return x


def _integer(name: str, value: int, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ConfigError(
            f"{name} must be an integer in [{lo}, {hi}], got {value!r}", parameter=name
        )
    if not lo <= value <= hi:
        raise ConfigError(f"{name} must lie in [{lo}, {hi}], got {name} = {value}", parameter=name)
    return int(value)


def _bits_of(p_guess_complement: float) -> float:
    """−log₂(1 − x), accurate for small x; +0.0 turns a −0.0 into 0.0."""
    return -math.log1p(-p_guess_complement) / _LN2 + 0.0


def gamma_from_db(gamma_db: float) -> float:
    """Quantum-to-classical noise ratio γ from decibels: γ = 10^(dB/10) (5 dB → 3.1623)."""
    return math.pow(10.0, _real("gamma_db", gamma_db, -300.0, 300.0) / 10.0)


# --- vacuum fluctuations (seed 000) -------------------------------------------------------


@dataclass(frozen=True)
class _Adc:
    bits: int
    v_min: float
    v_max: float
    sigma_total: float
    gamma: float
    centre: float
    sigma_q: float
    sigma_c: float
    bin_width: float

    @property
    def nbins(self) -> int:
        return 1 << self.bits

    def edge(self, j: np.ndarray) -> np.ndarray:
        """Inner edges e_j = v_min + jΔ (j = 1 … 2^b − 1)."""
        return self.v_min + j * self.bin_width


def _adc(
    bits: int, v_min: float, v_max: float, gamma: float, sigma_total: float, centre: float
) -> _Adc:
    bits = _integer("bits", bits, 1, MAX_ADC_BITS)
    v_min = _real("v_min", v_min)
    v_max = _real("v_max", v_max)
    if not v_max > v_min:
        raise ConfigError(
            f"the ADC range needs v_min < v_max, got [{v_min!r}, {v_max!r}]", parameter="v_max"
        )
    sigma_total = _real("sigma_total", sigma_total, 0.0, lo_open=True)
    gamma = _real("gamma", gamma, 0.0, lo_open=True, allow_inf=True)
    centre = _real("centre", centre)
    sigma_q = sigma_total / math.sqrt(1.0 + 1.0 / gamma)  # σ_q² = σ_t² γ/(γ+1)
    sigma_c = sigma_total / math.sqrt(1.0 + gamma)  # σ_c² = σ_t²/(γ+1)
    width = (v_max - v_min) / (1 << bits)
    return _Adc(bits, v_min, v_max, sigma_total, gamma, centre, sigma_q, sigma_c, width)


_GL_NODES, _GL_WEIGHTS = np.polynomial.legendre.leggauss(10)


def _normal_mass(a: np.ndarray, b: np.ndarray, width: float | None = None) -> np.ndarray:
    """P(a ≤ Z < b) for a standard normal Z, to full relative precision for any bin.

    A bin over which the density changes little (width × max(1, |a|, |b|) ≤ 1) is integrated
    by 10-point Gauss–Legendre, which is exact to rounding there; a CDF difference would
    cancel. Wider bins use the difference of the CDF tails on their own side of 0, which
    cancels by at most a factor e/(e − 1). ``width``, if given, is the exact b − a of the
    finite bins (rounded edges far from 0 would otherwise perturb a narrow bin's width).
    """
    a, b = np.broadcast_arrays(np.asarray(a, np.float64), np.asarray(b, np.float64))
    right = special.ndtr(-a) - special.ndtr(-b)  # both upper tails: exact when a ≥ 0
    left = special.ndtr(b) - special.ndtr(a)  # both lower tails: exact when b ≤ 0
    middle = 0.5 * (special.erf(b / _SQRT2) - special.erf(a / _SQRT2))  # a sum when a < 0 < b
    mass = np.where(a >= 0, right, np.where(b <= 0, left, middle))
    with np.errstate(invalid="ignore"):  # inf − inf for the end bins: never narrow
        half = 0.5 * (b - a) if width is None else np.where(np.isfinite(b - a), 0.5 * width, np.inf)
        scale = np.maximum(1.0, np.maximum(np.abs(a), np.abs(b)))
        narrow = np.isfinite(half) & (2.0 * half * scale <= 1.0)
    if narrow.any():
        mid, h = 0.5 * (a[narrow] + b[narrow]), half[narrow]
        x = mid[:, None] + h[:, None] * _GL_NODES[None, :]
        density = np.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)
        mass[narrow] = h * (density @ _GL_WEIGHTS)
    return np.asarray(mass, dtype=np.float64)


def _bin_mass(adc: _Adc, j: np.ndarray, centre: float) -> np.ndarray:
    """P_j for the Gaussian N(centre, σ_q²); bin 0 and bin 2^b − 1 reach to ∓∞."""
    lo = np.where(j == 0, -np.inf, adc.edge(np.maximum(j, 1)))
    hi = np.where(j == adc.nbins - 1, np.inf, adc.edge(np.minimum(j + 1, adc.nbins - 1)))
    std = adc.sigma_q
    return _normal_mass((lo - centre) / std, (hi - centre) / std, adc.bin_width / std)


def vacuum_bin_probabilities(
    bits: int,
    v_min: float,
    v_max: float,
    gamma: float,
    *,
    sigma_total: float = 1.0,
    centre: float = 0.0,
) -> np.ndarray:
    """All 2^b ADC bin probabilities P_j of the quantum signal (spec §10.2).

    Parameters are those of :func:`vacuum_min_entropy`; ``bits`` ≤ :data:`MAX_TABLE_BITS`.

    Returns
    -------
    numpy.ndarray
        ``float64`` array of length 2^bits, P_0 … P_{2^b−1}; the end bins include the tails.
    """
    adc = _adc(_integer("bits", bits, 1, MAX_TABLE_BITS), v_min, v_max, gamma, sigma_total, centre)
    return _bin_mass(adc, np.arange(adc.nbins, dtype=np.int64), adc.centre)


@dataclass(frozen=True)
class VacuumEntropy:
    """Centred vacuum-fluctuation min-entropy and its intermediate quantities.

    Voltages (``v_min``, ``v_max``, ``centre``, ``sigma_*``, ``bin_width``) share the unit of
    ``sigma_total`` (σ_t = 1: units of σ_t). ``max_bin`` is the most probable bin j.
    """

    bits: int
    v_min: float
    v_max: float
    sigma_total: float
    gamma: float
    centre: float
    sigma_q: float
    sigma_c: float
    bin_width: float
    max_bin: int
    p_max: float
    min_entropy: float

    @property
    def min_entropy_per_bit(self) -> float:
        """H_min / b: min-entropy per raw output bit."""
        return self.min_entropy / self.bits

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields plus ``min_entropy_per_bit``."""
        return {**asdict(self), "min_entropy_per_bit": self.min_entropy_per_bit}


def vacuum_min_entropy(
    bits: int,
    v_min: float,
    v_max: float,
    gamma: float,
    *,
    sigma_total: float = 1.0,
    centre: float = 0.0,
) -> VacuumEntropy:
    """Min-entropy per sample of a vacuum-fluctuation QRNG read by a b-bit ADC.

    Parameters
    ----------
    bits
        ADC resolution b, 1 … :data:`MAX_ADC_BITS`; the ADC has 2^b bins.
    v_min, v_max
        ADC input range, v_min < v_max (e.g. −5, 5 for ±5 σ_t when ``sigma_total`` = 1).
    gamma
        Quantum-to-classical noise ratio γ = σ_q²/σ_c² in (0, ∞] (∞: no classical noise).
    sigma_total
        Measured standard deviation σ_t > 0, in the unit of the range (1: range in σ_t).
    centre
        Centre c of the quantum Gaussian (0 in seed 000 eq. 6).

    Returns
    -------
    VacuumEntropy
        ``min_entropy`` = −log₂ max_j P_j bits per sample, with σ_q, σ_c, Δ and the argmax.

    Notes
    -----
    Huang et al., npj Quantum Inf. 7, 107 (2021) (seed 000) eqs. 4–6 as fixed in spec §10.2:
    σ_t² = σ_q² + σ_c² (eq. 4), γ = σ_q²/σ_c² (eq. 5, garbled in print), so
    σ_q = σ_t √(γ/(γ+1)). With Δ = (v_max − v_min)/2^b and inner edges e_j = v_min + jΔ,
    P_0 = Φ((e_1 − c)/σ_q), P_j = Φ((e_{j+1} − c)/σ_q) − Φ((e_j − c)/σ_q) and
    P_{2^b−1} = 1 − Φ((e_{2^b−1} − c)/σ_q); H_min = −log₂ max_j P_j (eq. 6). The classical
    noise is treated as known to the adversary and centred. Only the two end bins and the
    three bins around c are evaluated: an interior bin's mass is unimodal in its position,
    peaking for the bin centred on c. Narrow bins are integrated by Gauss–Legendre and wide
    ones by same-side CDF tails, so no bin loses precision to cancellation (a 32-bit ADC's
    bins next to c are 10⁻⁹ σ wide).
    """
    adc = _adc(bits, v_min, v_max, gamma, sigma_total, centre)
    last = adc.nbins - 1
    j0 = math.floor((adc.centre - adc.v_min) / adc.bin_width) if last > 1 else 0
    j0 = min(max(j0, 1), max(last - 1, 1))
    candidates = np.unique(np.clip(np.array([0, last, j0 - 1, j0, j0 + 1]), 0, last))
    masses = _bin_mass(adc, candidates, adc.centre)
    k = int(np.argmax(masses))
    p_max = float(masses[k])
    return VacuumEntropy(
        bits=adc.bits,
        v_min=adc.v_min,
        v_max=adc.v_max,
        sigma_total=adc.sigma_total,
        gamma=adc.gamma,
        centre=adc.centre,
        sigma_q=adc.sigma_q,
        sigma_c=adc.sigma_c,
        bin_width=adc.bin_width,
        max_bin=int(candidates[k]),
        p_max=p_max,
        min_entropy=-math.log2(p_max) + 0.0,
    )


@dataclass(frozen=True)
class VacuumWorstCase:
    """Worst-case vacuum min-entropy over classical offsets |e| ≤ k σ_c.

    ``p_inner`` is the inner-bin bound erf(Δ/(2√2 σ_q)) (0 when b = 1: no inner bins),
    ``p_first``/``p_last`` the end bins shifted towards them by ``max_offset`` = k σ_c.
    """

    bits: int
    v_min: float
    v_max: float
    sigma_total: float
    gamma: float
    centre: float
    max_offset_sigma_c: float
    max_offset: float
    sigma_q: float
    sigma_c: float
    bin_width: float
    p_inner: float
    p_first: float
    p_last: float
    p_max: float
    min_entropy: float

    @property
    def min_entropy_per_bit(self) -> float:
        """H_min / b: min-entropy per raw output bit."""
        return self.min_entropy / self.bits

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields plus ``min_entropy_per_bit``."""
        return {**asdict(self), "min_entropy_per_bit": self.min_entropy_per_bit}


def vacuum_min_entropy_worst_case(
    bits: int,
    v_min: float,
    v_max: float,
    gamma: float,
    *,
    max_offset_sigma_c: float,
    sigma_total: float = 1.0,
    centre: float = 0.0,
) -> VacuumWorstCase:
    """Vacuum min-entropy when classical noise may shift the centre by up to k σ_c.

    Parameters
    ----------
    bits, v_min, v_max, gamma, sigma_total, centre
        As in :func:`vacuum_min_entropy`; ``centre`` is the nominal centre.
    max_offset_sigma_c
        k ≥ 0: the adversary's offset e satisfies |e| ≤ e_max = k σ_c (spec example: 5).

    Returns
    -------
    VacuumWorstCase
        ``min_entropy`` = −log₂ P_max bits per sample, with the three terms of P_max.

    Notes
    -----
    Spec §10.2, worst-case variant (Haw et al., PR Applied 3, 054004 (2015); seed 000 ref. 29):

        P_max = max{ erf(Δ/(2√2 σ_q)),  Φ((e_1 − c + e_max)/σ_q),
                     1 − Φ((e_{2^b−1} − c − e_max)/σ_q) }

    (c = 0 in the spec). The first term is the mass of a width-Δ window centred on the
    Gaussian, the largest any inner bin can hold for any offset, so the result is a lower
    bound on the min-entropy for every |e| ≤ e_max; it equals the exact worst case when
    some allowed offset centres an inner bin (e.g. c = 0, symmetric range, e_max ≥ Δ/2).
    Reading: for b = 1 there are no inner bins, so that term is left out (``p_inner`` = 0).
    """
    adc = _adc(bits, v_min, v_max, gamma, sigma_total, centre)
    k = _real("max_offset_sigma_c", max_offset_sigma_c, 0.0)
    e_max = k * adc.sigma_c
    p_inner = (
        float(special.erf(adc.bin_width / (2.0 * _SQRT2 * adc.sigma_q))) if adc.bits > 1 else 0.0
    )
    first = adc.v_min + adc.bin_width
    last = adc.v_max - adc.bin_width
    p_first = float(special.ndtr((first - adc.centre + e_max) / adc.sigma_q))
    p_last = float(special.ndtr((adc.centre + e_max - last) / adc.sigma_q))  # 1 − Φ(−x) = Φ(x)
    p_max = max(p_inner, p_first, p_last)
    return VacuumWorstCase(
        bits=adc.bits,
        v_min=adc.v_min,
        v_max=adc.v_max,
        sigma_total=adc.sigma_total,
        gamma=adc.gamma,
        centre=adc.centre,
        max_offset_sigma_c=k,
        max_offset=e_max,
        sigma_q=adc.sigma_q,
        sigma_c=adc.sigma_c,
        bin_width=adc.bin_width,
        p_inner=p_inner,
        p_first=p_first,
        p_last=p_last,
        p_max=p_max,
        min_entropy=-math.log2(p_max) + 0.0,
    )


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
    shannon = -math.fsum(special.xlogy(p, p).tolist()) / _LN2 + 0.0
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
        p_max = float(special.erf(z))
        bits = -math.log2(p_max)
    else:
        tail = float(special.erfc(z))
        p_max, bits = 1.0 - tail, _bits_of(tail)
    return PhaseFluctuationEntropy(lam=lam, tau=tau, ratio=x, p_max=p_max, min_entropy=bits)
