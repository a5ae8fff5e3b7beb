"""Vacuum-fluctuation QRNGs: min-entropy of a homodyne sample digitised by an ADC (seed 000)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from diamp.analysis._special import erf_array, ndtr, ndtr_array
from diamp.analysis.entropy_models._common import (
    _SQRT2,
    MAX_ADC_BITS,
    MAX_TABLE_BITS,
    _integer,
    _real,
)
from diamp.errors import ConfigError

__all__ = [
    "DEFAULT_MAX_OFFSET_SIGMA_C",
    "VacuumEntropy",
    "VacuumWorstCase",
    "vacuum_bin_probabilities",
    "vacuum_min_entropy",
    "vacuum_min_entropy_worst_case",
]


# --- vacuum fluctuations (seed 000) -------------------------------------------------------

DEFAULT_MAX_OFFSET_SIGMA_C = 5.0
"""Classical offset bound k (|e| ≤ k σ_c) used when none is given: spec §10.2's example.

Haw et al., PR Applied 3, 054004 (2015) (seed 000 ref. 29) bound the classical offset by
5 σ_c; a Gaussian classical noise exceeds 5 σ with probability 5.7 × 10⁻⁷. The centred model
(k = 0, :func:`vacuum_min_entropy`) is never a default: callers ask for it by name.
"""


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
    with np.errstate(invalid="ignore"):  # inf − inf for the end bins: never narrow
        half = 0.5 * (b - a) if width is None else np.where(np.isfinite(b - a), 0.5 * width, np.inf)
        scale = np.maximum(1.0, np.maximum(np.abs(a), np.abs(b)))
        narrow = np.isfinite(half) & (2.0 * half * scale <= 1.0)
    mass = np.empty(a.shape, dtype=np.float64)
    right = ~narrow & (a >= 0)  # both upper tails: exact when a ≥ 0
    mass[right] = ndtr_array(-a[right]) - ndtr_array(-b[right])
    left = ~narrow & (b <= 0) & ~right  # both lower tails: exact when b ≤ 0
    mass[left] = ndtr_array(b[left]) - ndtr_array(a[left])
    middle = ~(narrow | right | left)  # a sum when a < 0 < b
    mass[middle] = 0.5 * (erf_array(b[middle] / _SQRT2) - erf_array(a[middle] / _SQRT2))
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


class _PerBit:
    """``min_entropy_per_bit`` and ``to_dict`` of the vacuum results (frozen dataclasses)."""

    bits: int
    min_entropy: float

    @property
    def min_entropy_per_bit(self) -> float:
        """H_min / b: min-entropy per raw output bit."""
        return self.min_entropy / self.bits

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields plus ``min_entropy_per_bit``."""
        fields = asdict(self)  # type: ignore[call-overload]  # subclasses are dataclasses
        return {**fields, "min_entropy_per_bit": self.min_entropy_per_bit}


@dataclass(frozen=True)
class VacuumEntropy(_PerBit):
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
class VacuumWorstCase(_PerBit):
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


def vacuum_min_entropy_worst_case(
    bits: int,
    v_min: float,
    v_max: float,
    gamma: float,
    *,
    max_offset_sigma_c: float = DEFAULT_MAX_OFFSET_SIGMA_C,
    sigma_total: float = 1.0,
    centre: float = 0.0,
) -> VacuumWorstCase:
    """Vacuum min-entropy when classical noise may shift the centre by up to k σ_c.

    Parameters
    ----------
    bits, v_min, v_max, gamma, sigma_total, centre
        As in :func:`vacuum_min_entropy`; ``centre`` is the nominal centre.
    max_offset_sigma_c
        k ≥ 0: the adversary's offset e satisfies |e| ≤ e_max = k σ_c (default
        :data:`DEFAULT_MAX_OFFSET_SIGMA_C` = 5, the spec's example).

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
    p_inner = math.erf(adc.bin_width / (2.0 * _SQRT2 * adc.sigma_q)) if adc.bits > 1 else 0.0
    first = adc.v_min + adc.bin_width
    last = adc.v_max - adc.bin_width
    p_first = ndtr((first - adc.centre + e_max) / adc.sigma_q)
    p_last = ndtr((adc.centre + e_max - last) / adc.sigma_q)  # 1 − Φ(−x) = Φ(x)
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
