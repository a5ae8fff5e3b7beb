"""QRNG entropy models against the spec's reference values and independent oracles.

Oracles used here and nowhere in the module: mpmath's normal CDF at 30 digits and scipy's
adaptive quadrature of the Gaussian density for ADC bin probabilities; scipy.stats for the
brute-force worst case over classical offsets; density matrices built from seed 002's Kraus
operators (eqs. 15 and 22) for the spontaneous-emission rates; plain Taylor series for the
hand computations.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import mpmath
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy import integrate, stats

from diamp.analysis.entropy_models import (
    MAX_ADC_BITS,
    arrival_time_entropy,
    gamma_from_db,
    phase_fluctuation_entropy,
    phase_noise_lambda,
    single_photon_entropy,
    spatial_entropy,
    vacuum_bin_probabilities,
    vacuum_min_entropy,
    vacuum_min_entropy_worst_case,
)
from diamp.errors import ConfigError

HYP = settings(derandomize=True, deadline=None, max_examples=60)
SQRT_5DB = 10**0.5  # γ = 5 dB

# --- spec §12 part 9 (and §10.2), every printed value ------------------------------------
# "ADC  8 bit, range +-5.0 sigma_t, gamma =  10.000: H_min = 5.9355 bits/sample (0.7419/bit);
#  worst-case |e|<=5 sigma_c: 5.9352"   ... and the three lines after it.
SPEC_LINES = [
    # bits, ±R (σ_t), γ, H_min, per bit, worst case |e| ≤ 5σ_c
    (8, 5.0, 10.0, "5.9355", "0.7419", "5.9352"),
    (8, 4.0, SQRT_5DB, "6.1279", "0.7660", "4.6154"),  # printed "3.162": γ = 5 dB, see below
    (12, 5.0, 10.0, "9.9351", "0.8279", "9.9351"),
    (16, 5.0, 100.0, "13.9966", "0.8748", "13.9966"),
]


@pytest.mark.parametrize(("bits", "half", "gamma", "h", "per_bit", "worst"), SPEC_LINES)
def test_spec_reference_lines(
    bits: int, half: float, gamma: float, h: str, per_bit: str, worst: str
) -> None:
    centred = vacuum_min_entropy(bits, -half, half, gamma)
    wc = vacuum_min_entropy_worst_case(bits, -half, half, gamma, max_offset_sigma_c=5.0)
    assert f"{centred.min_entropy:.4f}" == h
    assert f"{centred.min_entropy_per_bit:.4f}" == per_bit
    assert f"{wc.min_entropy:.4f}" == worst


def test_spec_gamma_3_162_is_5_db_rounded() -> None:
    # The line prints "gamma = 3.162", but γ = 3.162 exactly gives H_min = 6.12784…, which
    # rounds to 6.1278, not the printed 6.1279; γ = 10^0.5 (5 dB, as §10.2 says) gives
    # 6.12785… So the printed γ is 5 dB shown to three decimals.
    assert f"{vacuum_min_entropy(8, -4, 4, 3.162).min_entropy:.4f}" == "6.1278"
    assert f"{vacuum_min_entropy(8, -4, 4, SQRT_5DB).min_entropy:.4f}" == "6.1279"


def test_spec_text_example_5db() -> None:
    # §10.2: "for an 8-bit ADC at ±4σ_t with γ = 5 dB, H_min is 6.13 bits centred but
    # 4.62 bits worst case" (the end bin, shifted by 5σ_c, dominates).
    gamma = gamma_from_db(5.0)
    assert gamma == pytest.approx(3.16227766, rel=1e-9)
    assert f"{vacuum_min_entropy(8, -4, 4, gamma).min_entropy:.2f}" == "6.13"
    wc = vacuum_min_entropy_worst_case(8, -4, 4, gamma, max_offset_sigma_c=5)
    assert f"{wc.min_entropy:.2f}" == "4.62"
    assert wc.p_max == wc.p_first == wc.p_last > wc.p_inner


def test_spec_lhl_line_uses_the_per_bit_rate() -> None:
    # §12: "LHL/Toeplitz, n = 1e6 raw bits at 0.7419/bit, eps = 2^-100: m = 741,733";
    # §10.1: m = floor(n H_min - 2 log2(1/eps)) with H_min per raw bit.
    per_bit = vacuum_min_entropy(8, -5, 5, 10).min_entropy_per_bit
    assert math.floor(10**6 * per_bit - 2 * 100) == 741_733


# --- vacuum: independent bin probabilities ------------------------------------------------


def _mp_bins(
    bits: int, v_min: float, v_max: float, sigma_q: float, centre: float, dps: int = 30
) -> list[Any]:
    """All 2^b bin probabilities as mpmath numbers: CDF differences at ``dps`` digits."""
    with mpmath.workdps(dps):
        n = 2**bits
        width = (mpmath.mpf(v_max) - mpmath.mpf(v_min)) / n
        cdf = [mpmath.mpf(0)]
        cdf += [mpmath.ncdf(mpmath.mpf(v_min) + j * width, centre, sigma_q) for j in range(1, n)]
        cdf.append(mpmath.mpf(1))
        return [cdf[j + 1] - cdf[j] for j in range(n)]


@pytest.mark.parametrize(("bits", "half", "gamma"), [(8, 5, 10), (8, 4, SQRT_5DB), (12, 5, 10)])
def test_vacuum_matches_mpmath_over_all_bins(bits: int, half: float, gamma: float) -> None:
    sigma_q = math.sqrt(gamma / (gamma + 1))
    bins = _mp_bins(bits, -half, half, sigma_q, 0.0)
    k = max(range(len(bins)), key=lambda j: bins[j])
    res = vacuum_min_entropy(bits, -half, half, gamma)
    assert res.max_bin == k
    assert res.min_entropy == pytest.approx(float(-mpmath.log(bins[k], 2)), rel=1e-13)
    table = vacuum_bin_probabilities(bits, -half, half, gamma)
    assert np.allclose(table, [float(b) for b in bins], rtol=1e-12, atol=1e-300)
    assert math.fsum(table.tolist()) == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize(
    ("bits", "v_min", "v_max", "centre"),
    [
        (10, 4.0, 4.01, 0.0),  # 1e-5 σ wide bins four σ out: Gauss–Legendre path
        (12, -1e-6, 1e-6, 0.0),  # 5e-10 σ wide bins at the centre
        (3, 3.0, 19.0, 0.0),  # 2 σ wide bins in the far tail: same-side CDF differences
        (3, -19.0, -3.0, 0.0),  # ... and in the lower tail
        (8, -2.0, 2.0, 1e-7),  # a centre just off an edge
    ],
)
def test_bin_table_keeps_relative_precision_everywhere(
    bits: int, v_min: float, v_max: float, centre: float
) -> None:
    table = vacuum_bin_probabilities(bits, v_min, v_max, math.inf, centre=centre)
    exact = [float(b) for b in _mp_bins(bits, v_min, v_max, 1.0, centre, dps=100)]
    assert np.allclose(table, exact, rtol=1e-12, atol=0.0)


def test_vacuum_bins_match_quadrature_of_the_density() -> None:
    # The Gaussian density integrated bin by bin (first and last bins to -inf / +inf), with an
    # off-centre Gaussian and a range in volts (sigma_t = 0.02 V, range [-0.07, 0.05] V).
    bits, v_min, v_max, sigma_t, gamma, centre = 6, -0.07, 0.05, 0.02, 4.0, 0.013
    sigma_q = sigma_t * math.sqrt(gamma / (gamma + 1))
    edges = [-math.inf, *(v_min + j * (v_max - v_min) / 2**bits for j in range(1, 2**bits))]
    edges.append(math.inf)
    pdf = stats.norm(loc=centre, scale=sigma_q).pdf
    quad = [integrate.quad(pdf, lo, hi, epsabs=1e-14)[0] for lo, hi in itertools.pairwise(edges)]
    table = vacuum_bin_probabilities(bits, v_min, v_max, gamma, sigma_total=sigma_t, centre=centre)
    assert np.allclose(table, quad, rtol=1e-9, atol=1e-14)
    res = vacuum_min_entropy(bits, v_min, v_max, gamma, sigma_total=sigma_t, centre=centre)
    assert res.max_bin == int(np.argmax(quad))
    assert res.min_entropy == pytest.approx(-math.log2(max(quad)), rel=1e-10)


def test_vacuum_hand_computation_8bit_and_16bit() -> None:
    # Centred Gaussian, symmetric range: 0 is an ADC edge, so the likeliest bin is [0, Δ),
    # P = Φ(u) - 1/2 with u = Δ/σ_q, and Φ(u) - 1/2 = φ(0)(u - u³/6 + u⁵/40 - u⁷/336 + …).
    # 8 bit, ±5σ_t, γ = 10: Δ = 10/256 = 0.0390625, σ_q = √(10/11) = 0.9534626,
    #   u = 0.0409688, P = 0.3989423 × 0.0409688 × (1 - 0.0002797) = 0.0163399,
    #   H = -log2 P = 5.93547 bits.
    # 16 bit, ±5σ_t, γ = 100: Δ = 10/65536 = 1.525879e-4, σ_q = √(100/101) = 0.9950372,
    #   u = 1.533489e-4, P = 6.117747e-5, H = 13.99664 bits.
    for bits, gamma, expected in [(8, 10.0, 5.93547), (16, 100.0, 13.99664)]:
        u = (10 / 2**bits) / math.sqrt(gamma / (gamma + 1))
        p = (u - u**3 / 6 + u**5 / 40 - u**7 / 336) / math.sqrt(2 * math.pi)
        res = vacuum_min_entropy(bits, -5, 5, gamma)
        assert res.max_bin in (2 ** (bits - 1) - 1, 2 ** (bits - 1))  # [-Δ, 0) and [0, Δ) tie
        assert res.min_entropy == pytest.approx(-math.log2(p), rel=1e-12)
        assert res.min_entropy == pytest.approx(expected, abs=5e-6)


# --- vacuum: closed-form limits -----------------------------------------------------------


@pytest.mark.parametrize("gamma", [1e-6, 0.3, 10.0, math.inf])
def test_one_bit_adc_centred_gives_one_bit(gamma: float) -> None:
    # b = 1, symmetric range: the only edge is at the centre, P_0 = P_1 = 1/2.
    res = vacuum_min_entropy(1, -3, 3, gamma)
    assert res.min_entropy == 1.0
    assert res.p_max == 0.5


@pytest.mark.parametrize("gamma", [2.0, math.inf])
def test_two_bit_adc_quartile_matched_range_gives_two_bits(gamma: float) -> None:
    # b = 2: edges at -R/2, 0, R/2. With R/2 = σ_q z_{3/4} every bin holds exactly 1/4.
    sigma_q = 1 / math.sqrt(1 + 1 / gamma)
    half = 2 * sigma_q * float(stats.norm.ppf(0.75))
    res = vacuum_min_entropy(2, -half, half, gamma)
    assert res.min_entropy == pytest.approx(2.0, abs=1e-12)
    assert vacuum_bin_probabilities(2, -half, half, gamma) == pytest.approx([0.25] * 4, abs=1e-13)


def test_gamma_to_infinity_is_the_pure_quantum_limit() -> None:
    # γ → ∞: σ_q → σ_t (no classical noise). The γ = ∞ value is the mpmath one with σ_q = 1.
    exact = float(-mpmath.log(max(_mp_bins(8, -4, 4, 1.0, 0.0)), 2))
    assert vacuum_min_entropy(8, -4, 4, math.inf).min_entropy == pytest.approx(exact, rel=1e-13)
    assert vacuum_min_entropy(8, -4, 4, 1e12).min_entropy == pytest.approx(exact, rel=1e-11)
    wc = vacuum_min_entropy_worst_case(8, -4, 4, math.inf, max_offset_sigma_c=5)
    assert wc.sigma_c == 0.0
    assert wc.max_offset == 0.0


def test_gamma_to_zero() -> None:
    # γ → 0: σ_q → 0. A centre inside a bin puts all mass in it (H → 0); a centre on an
    # edge (the symmetric default) splits it between two bins (H → 1 bit). The worst case
    # (offset of up to 5σ_c ≈ 5σ_t) always goes to 0.
    width = 10 / 256
    inside = vacuum_min_entropy(8, -5, 5, 1e-12, centre=width / 2)
    assert inside.min_entropy == pytest.approx(0.0, abs=1e-12)
    assert vacuum_min_entropy(8, -5, 5, 1e-12).min_entropy == pytest.approx(1.0, abs=1e-12)
    wc = vacuum_min_entropy_worst_case(8, -5, 5, 1e-12, max_offset_sigma_c=5)
    assert wc.min_entropy == pytest.approx(0.0, abs=1e-12)


def test_fine_adc_limit() -> None:
    # b → ∞ with the range fixed: P_max → Δ φ(0)/σ_q, H → log2(2^b σ_q √(2π) / (v_max - v_min)).
    for bits in (20, 24, 32):
        res = vacuum_min_entropy(bits, -6, 6, 50.0)
        limit = math.log2(2**bits * res.sigma_q * math.sqrt(2 * math.pi) / 12)
        assert res.min_entropy == pytest.approx(limit, abs=1e-9)
        assert res.min_entropy < bits


def test_off_centre_and_out_of_range_centres_use_the_right_bins() -> None:
    # Centre beyond the range: the end bin holds most of the mass.
    res = vacuum_min_entropy(8, -1, 1, 10.0, centre=3.0)
    assert res.max_bin == 255
    assert res.p_max == pytest.approx(float(stats.norm.sf(1 - 2 / 256, loc=3, scale=res.sigma_q)))
    # Centre in the middle of bin 200, σ_q ≈ 1.2 bins: that bin is the likeliest.
    width = 2 / 256
    res = vacuum_min_entropy(8, -1, 1, 10.0, sigma_total=0.01, centre=-1 + 200.5 * width)
    assert res.max_bin == 200
    assert res.p_max == pytest.approx(
        float(
            stats.norm.cdf(width / 2, scale=res.sigma_q)
            - stats.norm.cdf(-width / 2, scale=res.sigma_q)
        )
    )


# --- vacuum: worst case against a brute-force maximum over offsets ------------------------


def _brute_worst_p_max(bits: int, half: float, gamma: float, k: float) -> float:
    """max over |e| ≤ kσ_c of max_j P_j(e), scipy.stats CDFs, exact critical offsets + grid."""
    sigma_q = math.sqrt(gamma / (gamma + 1))
    e_max = k / math.sqrt(gamma + 1)
    width = 2 * half / 2**bits
    inner = -half + np.arange(1, 2**bits) * width
    mids = -half + (np.arange(1, 2**bits - 1) + 0.5) * width
    offsets = np.concatenate(
        [[-e_max, e_max], mids[np.abs(mids) <= e_max], np.linspace(-e_max, e_max, 2001)]
    )
    best = 0.0
    for e in offsets:
        cdf = stats.norm.cdf(inner, loc=e, scale=sigma_q)
        p = np.diff(np.concatenate([[0.0], cdf, [1.0]]))
        best = max(best, float(p.max()))
    return best


@pytest.mark.parametrize(
    ("bits", "half", "gamma", "k"),
    [(8, 5, 10, 5), (8, 4, SQRT_5DB, 5), (6, 3, 1.0, 2), (4, 2.5, 0.5, 3), (10, 5, 30, 1)],
)
def test_worst_case_equals_brute_force_when_offsets_reach_a_bin_centre(
    bits: int, half: float, gamma: float, k: float
) -> None:
    wc = vacuum_min_entropy_worst_case(bits, -half, half, gamma, max_offset_sigma_c=k)
    assert wc.max_offset >= wc.bin_width / 2
    assert wc.p_max == pytest.approx(_brute_worst_p_max(bits, half, gamma, k), rel=1e-9)


def test_worst_case_formula_is_conservative_for_tiny_offsets() -> None:
    # e_max < Δ/2: no offset centres a bin, the erf term over-counts: H(formula) ≤ H(brute).
    bits, half, gamma, k = 4, 4, 100.0, 0.5
    wc = vacuum_min_entropy_worst_case(bits, -half, half, gamma, max_offset_sigma_c=k)
    assert wc.max_offset < wc.bin_width / 2
    brute = _brute_worst_p_max(bits, half, gamma, k)
    assert wc.p_max > brute
    assert wc.min_entropy < -math.log2(brute)


def test_worst_case_one_bit_adc_has_no_inner_term() -> None:
    # b = 1: bins (-∞, 0) and [0, ∞); the adversary shifts by e_max: P_max = Φ(e_max/σ_q).
    wc = vacuum_min_entropy_worst_case(1, -2, 2, 3.0, max_offset_sigma_c=1)
    assert wc.p_inner == 0.0
    e_max, sigma_q = 1 / math.sqrt(4), math.sqrt(3 / 4)
    assert wc.p_max == pytest.approx(float(stats.norm.cdf(e_max / sigma_q)), rel=1e-14)


# --- vacuum: properties -------------------------------------------------------------------

bits_st = st.integers(1, 16)
half_st = st.floats(0.5, 10.0)
gamma_st = st.floats(1e-3, 1e4)
k_st = st.floats(0.0, 8.0)


@HYP
@given(bits=bits_st, half=half_st, gamma=gamma_st, k=k_st, centre=st.floats(-1.0, 1.0))
def test_vacuum_bounded_and_worst_case_below_centred(
    bits: int, half: float, gamma: float, k: float, centre: float
) -> None:
    c = vacuum_min_entropy(bits, -half, half, gamma, centre=centre)
    w = vacuum_min_entropy_worst_case(bits, -half, half, gamma, max_offset_sigma_c=k, centre=centre)
    assert 0.0 <= w.min_entropy <= c.min_entropy <= bits


@HYP
@given(bits=st.integers(1, 15), half=half_st, gamma=gamma_st, centre=st.floats(-1.0, 1.0))
def test_vacuum_one_more_adc_bit_never_loses_entropy(
    bits: int, half: float, gamma: float, centre: float
) -> None:
    # 2^(b+1) bins refine the 2^b bins of the same range, so max_j P_j cannot grow.
    coarse = vacuum_min_entropy(bits, -half, half, gamma, centre=centre)
    fine = vacuum_min_entropy(bits + 1, -half, half, gamma, centre=centre)
    assert fine.min_entropy >= coarse.min_entropy - 1e-12


@HYP
@given(bits=bits_st, half=half_st, gamma=gamma_st, k1=k_st, k2=k_st)
def test_worst_case_non_increasing_in_the_offset_bound(
    bits: int, half: float, gamma: float, k1: float, k2: float
) -> None:
    lo, hi = sorted((k1, k2))
    a = vacuum_min_entropy_worst_case(bits, -half, half, gamma, max_offset_sigma_c=lo)
    b = vacuum_min_entropy_worst_case(bits, -half, half, gamma, max_offset_sigma_c=hi)
    assert b.min_entropy <= a.min_entropy


@HYP
@given(bits=st.integers(2, 16), half=half_st, g1=gamma_st, g2=gamma_st)
def test_more_quantum_noise_more_entropy_while_the_central_bin_dominates(
    bits: int, half: float, g1: float, g2: float
) -> None:
    # The central bin shrinks as σ_q grows and the end bins grow; while the central bin is
    # the likeliest even at σ_q = σ_t (γ = ∞), H_min increases with γ.
    assume(vacuum_min_entropy(bits, -half, half, math.inf).max_bin not in (0, 2**bits - 1))
    lo, hi = sorted((g1, g2))
    a = vacuum_min_entropy(bits, -half, half, lo).min_entropy
    b = vacuum_min_entropy(bits, -half, half, hi).min_entropy
    assert b >= a - 1e-12


# --- single photon (eq. 19) and arrival time (eq. 28): density-matrix oracle --------------


def _entropy_bits(rho: np.ndarray) -> float:
    w = np.linalg.eigvalsh(rho)
    w = w[w > 1e-15]
    return float(-(w * np.log2(w)).sum())


def _kraus_temporal(gamma_t: float, n: int) -> list[np.ndarray]:
    """Seed 002 eq. 22 (n = 1: eq. 15): Kraus operators on the atom, outcomes 0 … n."""
    p = 1 - math.exp(-gamma_t / n)
    ops = [np.diag([1.0, math.sqrt((1 - p) ** n)])]
    ops += [
        np.array([[0.0, math.sqrt(p * (1 - p) ** (k - 1))], [0.0, 0.0]]) for k in range(1, n + 1)
    ]
    return ops


def _cq_oracle(rho11: float, gamma_t: float, n: int) -> tuple[float, float]:
    """H(X|E) and H_min(X|E) with E the purification of the incoherent atom diag(ρ00, ρ11)."""
    psi = np.zeros((2, 2))  # |Ψ> = Σ_i √ρ_ii |i>_A |i>_E, stored as psi[a, e]
    psi[0, 0], psi[1, 1] = math.sqrt(1 - rho11), math.sqrt(rho11)
    states = []
    for m in _kraus_temporal(gamma_t, n):
        post = m @ psi
        states.append(post.T @ post.conj())  # Tr_A of (M ⊗ I)|Ψ><Ψ|(M ⊗ I)†
    for s in states:  # Eve's conditional states are diagonal: her guess is classical
        assert abs(s[0, 1]) < 1e-15
    joint = np.zeros((2 * len(states), 2 * len(states)))
    for x, s in enumerate(states):
        joint[2 * x : 2 * x + 2, 2 * x : 2 * x + 2] = s
    h_cond = _entropy_bits(joint) - _entropy_bits(sum(states))
    p_guess = sum(max(s[e, e] for s in states) for e in range(2))
    return h_cond, -math.log2(p_guess)


@pytest.mark.parametrize(
    ("rho11", "gamma_t", "n"),
    [(1.0, 0.7, 1), (0.5, 2.0, 1), (0.3, 0.05, 1), (0.8, 1.3, 4), (0.5, 3.0, 16), (1.0, 0.2, 7)],
)
def test_emission_models_match_the_kraus_oracle(rho11: float, gamma_t: float, n: int) -> None:
    h_cond, h_min = _cq_oracle(rho11, gamma_t, n)
    res = arrival_time_entropy(rho11, gamma_t, n)
    assert res.intrinsic_randomness == pytest.approx(h_cond, rel=1e-10, abs=1e-14)
    assert res.min_entropy == pytest.approx(h_min, rel=1e-10, abs=1e-14)
    if n == 1:
        sp = single_photon_entropy(rho11, gamma_t)
        assert sp.intrinsic_randomness == pytest.approx(h_cond, rel=1e-10, abs=1e-14)
        assert sp.min_entropy == pytest.approx(h_min, rel=1e-10, abs=1e-14)


def test_single_photon_perfect_and_hand_computed() -> None:
    # Fully excited atom and Γt = ln 2: click and no-click are equally likely, 1 bit each way.
    ideal = single_photon_entropy(1.0, math.log(2))
    assert ideal.intrinsic_randomness == pytest.approx(1.0, abs=1e-15)
    assert ideal.min_entropy == pytest.approx(1.0, abs=1e-15)
    # ρ11 = 0.5, Γt = 2: e^-2 = 0.1353353, -log2 e^-2 = 2/ln 2 = 2.8853901,
    #   -log2(0.8646647) = 0.1454135/0.6931472 = 0.2097873,
    #   h = 0.1353353 × 2.8853901 + 0.8646647 × 0.2097873 = 0.3904951 + 0.1813957 = 0.5718907,
    #   R = 0.5 × 0.5718907 = 0.2859454 (eq. 19).
    # Eve's guess 0.5 + 0.5 × max(0.1353353, 0.8646647) = 0.9323324, H_min = 0.1010838.
    res = single_photon_entropy(0.5, 2.0)
    assert res.intrinsic_randomness == pytest.approx(0.2859454, abs=2e-7)
    assert res.min_entropy == pytest.approx(0.1010838, abs=2e-7)
    assert res.p_click == pytest.approx(0.8646647, abs=1e-7)


def test_emission_zero_limits() -> None:
    for zero in (single_photon_entropy(0.0, 1.0), single_photon_entropy(0.7, 0.0)):
        assert zero.intrinsic_randomness == zero.min_entropy == 0.0
    for zero_t in (arrival_time_entropy(0.0, 1.0, 8), arrival_time_entropy(0.7, 0.0, 8)):
        assert zero_t.intrinsic_randomness == zero_t.min_entropy == 0.0
    # Γt → ∞: the photon is always in the first bin; nothing to guess.
    assert single_photon_entropy(1.0, 800.0).intrinsic_randomness == pytest.approx(0.0, abs=1e-300)
    assert arrival_time_entropy(1.0, 800.0, 4).intrinsic_randomness == pytest.approx(0.0, abs=1e-80)


def test_arrival_time_closed_form_against_the_direct_sum() -> None:
    # Eq. 27 first line (|ρ01| = 0) summed term by term at 40 digits, many bins and tiny Γt.
    for rho11, gamma_t, n in [(0.6, 1.5, 1000), (1.0, 1e-6, 64), (0.25, 40.0, 333)]:
        with mpmath.workdps(40):
            r, x = mpmath.mpf(rho11), mpmath.mpf(gamma_t)
            p = -mpmath.expm1(-x / n)
            probs = [(1 - p) ** (k - 1) * p * r for k in range(1, n + 1)]
            # μ1 = ρ00 and μ2 = (1-p)^n ρ11: the eigenvalues of the no-click block (eq. 26)
            mus = [m for m in (1 - r, (1 - p) ** n * r) if m > 0]
            total = -sum(q * mpmath.log(q, 2) for q in probs + mus)
            s_rho = -sum(v * mpmath.log(v, 2) for v in (r, 1 - r) if v > 0)
            expected = float(total - s_rho)  # eq. 27, first line
        res = arrival_time_entropy(rho11, gamma_t, n)
        assert res.intrinsic_randomness == pytest.approx(expected, rel=1e-12)


def test_arrival_time_many_bins_asymptote() -> None:
    # p = 1 - e^{-x/n} → x/n: R → ρ11 (1 - e^{-x}) log2(e n / x).
    rho11, x, n = 0.9, 1.0, 10**9
    res = arrival_time_entropy(rho11, x, n)
    asymptote = rho11 * (1 - math.exp(-x)) * math.log2(math.e * n / x)
    assert res.intrinsic_randomness == pytest.approx(asymptote, rel=1e-6)


rho_st = st.floats(0.0, 1.0)
gt_st = st.floats(0.0, 50.0)


@HYP
@given(rho11=rho_st, gamma_t=gt_st, n=st.integers(1, 10**6))
def test_arrival_time_bounds(rho11: float, gamma_t: float, n: int) -> None:
    res = arrival_time_entropy(rho11, gamma_t, n)
    assert 0.0 <= res.min_entropy <= res.intrinsic_randomness + 1e-12
    assert res.intrinsic_randomness <= math.log2(n + 1) + 1e-12


@HYP
@given(rho11=rho_st, gamma_t=gt_st)
def test_single_photon_equals_one_time_bin_and_is_at_most_one_bit(
    rho11: float, gamma_t: float
) -> None:
    sp = single_photon_entropy(rho11, gamma_t)
    t1 = arrival_time_entropy(rho11, gamma_t, 1)
    assert sp.intrinsic_randomness == pytest.approx(t1.intrinsic_randomness, rel=1e-12, abs=1e-300)
    assert sp.min_entropy == pytest.approx(t1.min_entropy, rel=1e-12, abs=1e-300)
    assert 0.0 <= sp.min_entropy <= sp.intrinsic_randomness + 1e-12 <= 1.0 + 2e-12


@HYP
@given(rho11=rho_st, gamma_t=st.floats(1e-6, 50.0), n=st.integers(1, 10**5), f=st.integers(2, 8))
def test_finer_time_bins_never_lose_randomness(
    rho11: float, gamma_t: float, n: int, f: int
) -> None:
    # n·f bins refine n bins (each coarse bin is a union of f fine ones).
    coarse = arrival_time_entropy(rho11, gamma_t, n)
    fine = arrival_time_entropy(rho11, gamma_t, n * f)
    assert fine.intrinsic_randomness >= coarse.intrinsic_randomness * (1 - 1e-12)
    assert fine.min_entropy >= coarse.min_entropy * (1 - 1e-12)


@HYP
@given(r1=rho_st, r2=rho_st, gamma_t=gt_st, n=st.integers(1, 1000))
def test_more_excited_population_more_randomness(
    r1: float, r2: float, gamma_t: float, n: int
) -> None:
    lo, hi = sorted((r1, r2))
    a, b = arrival_time_entropy(lo, gamma_t, n), arrival_time_entropy(hi, gamma_t, n)
    assert b.intrinsic_randomness >= a.intrinsic_randomness * (1 - 1e-12)
    assert b.min_entropy >= a.min_entropy * (1 - 1e-12)


# --- spatial (eq. 34) ---------------------------------------------------------------------


@pytest.mark.parametrize("m", [1, 2, 3, 8, 100])
def test_symmetric_detectors_give_log2_m(m: int) -> None:
    res = spatial_entropy([1 / m] * m)
    assert res.intrinsic_randomness == pytest.approx(math.log2(m), abs=1e-12)
    assert res.min_entropy == pytest.approx(math.log2(m), abs=1e-12)


def test_spatial_hand_computed() -> None:
    # p = (1/2, 1/4, 1/4): R = 1/2·1 + 2·(1/4·2) = 1.5 bits; H_min = -log2(1/2) = 1 bit.
    res = spatial_entropy(np.array([0.5, 0.25, 0.25]))
    assert res.intrinsic_randomness == 1.5
    assert res.min_entropy == 1.0
    # A dead detector (p = 0) contributes nothing.
    assert spatial_entropy([0.5, 0.5, 0.0]).intrinsic_randomness == 1.0


@HYP
@given(st.lists(st.floats(0.0, 1.0), min_size=1, max_size=40), st.randoms(use_true_random=False))
def test_spatial_bounds_and_permutation_invariance(weights: list[float], rnd: Any) -> None:
    total = math.fsum(weights)
    assume(total > 1e-3)
    p = [w / total for w in weights]
    res = spatial_entropy(p)
    assert 0.0 <= res.min_entropy <= res.intrinsic_randomness + 1e-12
    assert res.intrinsic_randomness <= math.log2(len(p)) + 1e-12
    shuffled = list(p)
    rnd.shuffle(shuffled)
    other = spatial_entropy(shuffled)
    assert other.intrinsic_randomness == pytest.approx(res.intrinsic_randomness, abs=1e-12)
    assert other.min_entropy == res.min_entropy


# --- phase fluctuation (eq. 38) -----------------------------------------------------------


def test_phase_hand_computed() -> None:
    # λ/√τ = z_{3/4} = 0.6744898: 2Φ - 1 = 1/2, one bit. λ = 1.3489795, τ = 4: the same.
    z = float(stats.norm.ppf(0.75))
    assert phase_fluctuation_entropy(z, 1.0).min_entropy == pytest.approx(1.0, abs=1e-14)
    assert phase_fluctuation_entropy(2 * z, 4.0).min_entropy == pytest.approx(1.0, abs=1e-14)
    # Eq. 39: a = 1, P = 1/(4π), τ_c = 4, A = 1: λ = 1/(4π · 1/(4π)) · √4 = 2.
    assert phase_noise_lambda(1.0, 1 / (4 * math.pi), 4.0, 1.0) == pytest.approx(2.0, rel=1e-15)


@pytest.mark.parametrize("x", [1e-9, 1e-3, 0.2, 1.0, 1.4142, 3.0, 6.0, 8.5])
def test_phase_against_mpmath(x: float) -> None:
    with mpmath.workdps(50):
        expected = float(-mpmath.log(2 * mpmath.ncdf(mpmath.mpf(x)) - 1, 2))
    res = phase_fluctuation_entropy(x, 1.0)
    assert res.min_entropy == pytest.approx(expected, rel=1e-12)
    assert res.ratio == x


@HYP
@given(l1=st.floats(1e-6, 20.0), l2=st.floats(1e-6, 20.0), tau=st.floats(1e-6, 1e6))
def test_phase_wider_interval_less_entropy_longer_delay_more(
    l1: float, l2: float, tau: float
) -> None:
    lo, hi = sorted((l1, l2))
    a = phase_fluctuation_entropy(lo, tau).min_entropy
    b = phase_fluctuation_entropy(hi, tau).min_entropy
    assert 0.0 <= b <= a
    assert phase_fluctuation_entropy(lo, 2 * tau).min_entropy >= a


# --- parameter validation: fail closed, name the parameter and its range ------------------

VACUUM = {"bits": 8, "v_min": -5.0, "v_max": 5.0, "gamma": 10.0}
BAD = [
    (vacuum_min_entropy, {**VACUUM, "bits": 0}, "bits", "[1, 32]"),
    (vacuum_min_entropy, {**VACUUM, "bits": MAX_ADC_BITS + 1}, "bits", "[1, 32]"),
    (vacuum_min_entropy, {**VACUUM, "bits": 8.0}, "bits", "integer"),
    (vacuum_min_entropy, {**VACUUM, "bits": True}, "bits", "integer"),
    (vacuum_min_entropy, {**VACUUM, "gamma": 0.0}, "gamma", "(0, ∞]"),
    (vacuum_min_entropy, {**VACUUM, "gamma": -1.0}, "gamma", "(0, ∞]"),
    (vacuum_min_entropy, {**VACUUM, "gamma": math.nan}, "gamma", "(0, ∞]"),
    (vacuum_min_entropy, {**VACUUM, "gamma": "10"}, "gamma", "real number"),
    (vacuum_min_entropy, {**VACUUM, "v_max": -5.0}, "v_max", "v_min < v_max"),
    (vacuum_min_entropy, {**VACUUM, "v_min": math.inf}, "v_min", "(-∞, ∞)"),
    (vacuum_min_entropy, {**VACUUM, "sigma_total": 0.0}, "sigma_total", "(0, ∞)"),
    (vacuum_min_entropy, {**VACUUM, "centre": math.nan}, "centre", "(-∞, ∞)"),
    (
        vacuum_min_entropy_worst_case,
        {**VACUUM, "max_offset_sigma_c": -0.1},
        "max_offset_sigma_c",
        "[0, ∞)",
    ),
    (vacuum_bin_probabilities, {**VACUUM, "bits": 25}, "bits", "[1, 24]"),
    (
        single_photon_entropy,
        {"excited_population": 1.2, "gamma_t": 1.0},
        "excited_population",
        "[0, 1]",
    ),
    (single_photon_entropy, {"excited_population": 0.5, "gamma_t": -1.0}, "gamma_t", "[0, ∞)"),
    (single_photon_entropy, {"excited_population": 0.5, "gamma_t": math.inf}, "gamma_t", "[0, ∞)"),
    (
        arrival_time_entropy,
        {"excited_population": 0.5, "gamma_t": 1.0, "time_bins": 0},
        "time_bins",
        "[1, ",
    ),
    (spatial_entropy, {"click_probabilities": [0.5, 0.4]}, "click_probabilities", "sum to 1"),
    (spatial_entropy, {"click_probabilities": [1.5, -0.5]}, "click_probabilities", "[0, 1]"),
    (spatial_entropy, {"click_probabilities": []}, "click_probabilities", "non-empty"),
    (spatial_entropy, {"click_probabilities": [[0.5, 0.5]]}, "click_probabilities", "1-d"),
    (spatial_entropy, {"click_probabilities": ["a"]}, "click_probabilities", "real numbers"),
    (phase_fluctuation_entropy, {"lam": 0.0, "tau": 1.0}, "lam", "(0, ∞)"),
    (phase_fluctuation_entropy, {"lam": 1.0, "tau": -2.0}, "tau", "(0, ∞)"),
    (phase_fluctuation_entropy, {"lam": 1e-300, "tau": 1e300}, "lam", "out of floating-point"),
    (
        phase_noise_lambda,
        {"interval_width": 1.0, "laser_power": 0.0, "coherence_time": 1.0, "a_const": 1.0},
        "laser_power",
        "(0, ∞)",
    ),
    (gamma_from_db, {"gamma_db": math.nan}, "gamma_db", "[-300, 300]"),
]


@pytest.mark.parametrize(("func", "kwargs", "name", "fragment"), BAD)
def test_invalid_parameters_raise_config_error(
    func: Any, kwargs: dict[str, Any], name: str, fragment: str
) -> None:
    with pytest.raises(ConfigError) as info:
        func(**kwargs)
    assert info.value.fields["parameter"] == name
    assert name in str(info.value)
    assert fragment in str(info.value)
    assert isinstance(info.value, ValueError)
