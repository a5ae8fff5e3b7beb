"""Tests for diamp.protocol.security (and the eta module it re-exports).

Reference values are spec/dira-theory.md §12 (computed independently of this code). The
oracle ``_oracle_eta`` is a plain-float maximisation over a dense grid refined with scipy,
sharing no code with the mpmath candidate algorithm under test.
"""

from __future__ import annotations

import json
import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import brentq

from diamp.errors import ProtocolError
from diamp.protocol import security
from diamp.protocol.security import (
    BOUND_DESCRIPTIONS,
    ETA_CONSTRUCTION,
    break_even_rate,
    classical_dodis_max_m,
    dodis_error_chain,
    dodis_max_m,
    eta,
    g_prime,
    g_single_round,
    mu_bounds,
    output_length,
    output_length_adaptive,
    quantum_dodis_max_m,
    s_mu_quantum_max,
    to_fraction,
    z_min_entropy,
)

N_K24 = 20 * 2**26
MU = Fraction("0.0075")
S_OBS = Fraction("0.00296")
EPS = 1e-12


@pytest.fixture(scope="module")
def k24_paper() -> security.OutputLength:
    return output_length(N_K24, MU, S_OBS, EPS, bound="paper")


@pytest.fixture(scope="module")
def k24_strict() -> security.OutputLength:
    return output_length(N_K24, MU, S_OBS, EPS)


# --- §12 part 1-2: inputs and the single-round bound -------------------------------------


def test_mu_bounds_and_constants() -> None:
    mu_min, mu_max = mu_bounds(MU)
    assert (mu_min, mu_max) == (Fraction("0.24255625"), Fraction("0.25755625"))
    assert float(mu_min * mu_max) == pytest.approx(0.06247188, abs=5e-9)
    assert z_min_entropy(1, MU) == pytest.approx(0.97852027, abs=5e-9)
    # §12 prints 2,626,695,356: the value 2,626,695,355.778 rounded, not floored
    assert z_min_entropy(2 * N_K24, MU) == pytest.approx(2_626_695_355.778197, abs=1e-5)
    assert round(z_min_entropy(2 * N_K24, MU)) == 2_626_695_356
    assert break_even_rate(MU) == pytest.approx(0.04295945, abs=5e-9)
    assert break_even_rate(MU) == pytest.approx(2 - z_min_entropy(2, MU), rel=1e-14)
    assert s_mu_quantum_max(MU) == pytest.approx(0.0129383, abs=5e-8)
    assert mu_bounds(Fraction(0)) == (Fraction(1, 4), Fraction(1, 4))


def test_single_round_bound_at_k24_point() -> None:
    mu_min, mu_max = mu_bounds(MU)
    assert float(2 + 4 * S_OBS / (mu_min * mu_max)) == pytest.approx(2.189525, abs=5e-7)
    assert g_single_round(S_OBS, MU) == pytest.approx(0.14835051, abs=5e-9)
    assert g_prime(S_OBS, MU) == pytest.approx(54.3750, abs=5e-5)
    assert float(mu_max) * g_prime(S_OBS, MU) == pytest.approx(14.0046, abs=5e-5)


def test_g_limits_and_edges() -> None:
    mu_min, mu_max = mu_bounds(MU)
    right_limit = 4 / float(mu_min * mu_max) / (2 * math.log(2))
    assert g_prime(0.0, MU) == pytest.approx(right_limit, rel=1e-15)
    assert g_prime(1e-200, MU) == pytest.approx(right_limit, rel=1e-12)
    assert float(mu_max) * right_limit == pytest.approx(11.9, abs=0.05)
    assert g_prime(-0.001, MU) == 0.0
    assert g_single_round(0.0, MU) == 0.0
    assert g_single_round(-1.0, MU) == 0.0
    s_q = s_mu_quantum_max(MU)
    assert g_prime(s_q * (1 + 1e-12), MU) == math.inf
    assert g_single_round(s_q * (1 + 1e-12), MU) == 1.0
    assert g_single_round(s_q * (1 - 1e-9), MU) == pytest.approx(1.0, abs=1e-3)


def test_g_prime_matches_finite_difference() -> None:
    for s in (1e-5, 0.001, 0.00296, 0.01):
        h = s * 1e-6
        numeric = (g_single_round(s + h, MU) - g_single_round(s - h, MU)) / (2 * h)
        assert g_prime(s, MU) == pytest.approx(numeric, rel=1e-6)


# --- §12 part 3: eta and m at the K24 point -----------------------------------------------


def test_k24_eta(k24_paper: security.OutputLength) -> None:
    result = eta(EPS / 12, EPS, S_OBS, N_K24, MU)
    assert result.eta == pytest.approx(0.13621490, abs=1e-8)
    assert result.t_star == pytest.approx(0.0029543, abs=5e-8)
    assert result.grad_ceiling == 14
    # the optimum sits at the right end of the stretch where ceil(mu_max g') = 14
    assert float(mu_bounds(MU)[1]) * g_prime(result.t_star, MU) == pytest.approx(14, abs=1e-9)
    assert k24_paper.eta == result.eta
    assert k24_paper.t_star == result.t_star


def test_k24_paper_bound(k24_paper: security.OutputLength) -> None:
    assert k24_paper.m == 20_860_847
    assert k24_paper.chain_error == pytest.approx(3.801e-07, rel=1e-3)


def test_k24_strict_bound(k24_strict: security.OutputLength) -> None:
    assert k24_strict.bound == "strict"
    assert k24_strict.m == 20_860_818
    assert k24_strict.chain_error == pytest.approx(9.411e-13, rel=1e-3)
    assert k24_strict.chain_error <= EPS
    # the strict rule is dodis_max_m with k1 = n eta, k2 = 2n log2(1/(1/2+mu)), N = 2n
    m = dodis_max_m(k24_strict.k1, k24_strict.k2, 2 * N_K24, EPS, delta1=EPS / 12)
    assert m == k24_strict.m
    # one more bit breaks the eps budget
    over = dodis_error_chain(
        k24_strict.k1, k24_strict.k2, 2 * N_K24, m + 1, *(2 * [(EPS - EPS / 2) / 6]), EPS / 12, 0
    )
    assert over > EPS


@pytest.mark.parametrize(
    ("eps_s", "eps_ea", "eta_ref", "m_ref"),
    [
        (EPS / 12, EPS, 0.13621490, 20_860_847),
        (EPS / 12, EPS / 12, 0.13595808, 20_803_396),
        (EPS / 7, EPS, 0.13627133, 20_873_468),
        (EPS / 60, EPS, 0.13604795, 20_823_501),
        (EPS / 12, 1e-6, 0.13775573, 21_205_524),
        (EPS / 12, 1e-20, 0.13442316, 20_460_041),
    ],
)
def test_eps_splits(eps_s: float, eps_ea: float, eta_ref: float, m_ref: int) -> None:
    result = output_length(N_K24, MU, S_OBS, EPS, eps_s=eps_s, eps_ea=eps_ea, bound="paper")
    assert result.eta == pytest.approx(eta_ref, abs=5e-9)
    assert result.m == m_ref


def test_threshold_reproducing_published_length() -> None:
    # §12 part 4: S_mu = 0.00292466 (printed to 8 digits) gives the published 20,431,465;
    # dm/dS ~ 1.2e10, so pin the bracket of the printed rounding.
    low = output_length(N_K24, MU, Fraction("0.002924655"), EPS, bound="paper").m
    high = output_length(N_K24, MU, Fraction("0.002924665"), EPS, bound="paper").m
    assert low <= 20_431_465 <= high


# --- §12 part 4: Theorem 6 ------------------------------------------------------------------

THM6_ROWS = [
    ("0.01", 100, 1e-14, "0.002955", "0.0029", 19_925_017),
    ("0.01", 100, 1e-14, "0.00296", "0.0029", 19_925_017),
    ("0.01", 100, 1e-14, "0.002964", "0.0029", 19_925_017),
    ("0.01", 1000, 1e-15, "0.002955", "0.00295", 20_433_654),
    ("0.01", 1000, 1e-15, "0.00296", "0.00296", 20_555_242),
    ("0.01", 1000, 1e-15, "0.002964", "0.00296", 20_555_242),
    ("0.01", 10000, 1e-16, "0.002955", "0.002955", 20_399_231),
    ("0.01", 10000, 1e-16, "0.00296", "0.00296", 20_460_028),
    ("0.01", 10000, 1e-16, "0.002964", "0.002964", 20_508_666),
    ("0.005", 100, 1e-14, "0.002955", "0.00295", 20_531_969),
    ("0.005", 100, 1e-14, "0.00296", "0.00295", 20_531_969),
    ("0.005", 100, 1e-14, "0.002964", "0.00295", 20_531_969),
    ("1/16", 10000, 1e-16, "0.002955", "0.00295", 20_338_440),
    ("1/16", 10000, 1e-16, "0.00296", "0.00295625", 20_414_430),
    ("1/16", 10000, 1e-16, "0.002964", "0.0029625", 20_490_427),
]


@pytest.mark.parametrize(("s_max", "bins", "eps_bin", "s_obs", "s_used", "m_ref"), THM6_ROWS)
def test_theorem6_rows(
    s_max: str, bins: int, eps_bin: float, s_obs: str, s_used: str, m_ref: int
) -> None:
    result = output_length_adaptive(
        N_K24, MU, Fraction(s_obs), Fraction(s_max), bins, eps_bin, bound="paper"
    )
    assert result.s_used == Fraction(s_used)
    assert result.result.s_mu == Fraction(s_used)
    assert result.result.m == m_ref
    assert result.result.eps_ea == eps_bin
    assert result.result.eps_s == eps_bin / 12
    assert result.eps_total == pytest.approx(bins * eps_bin)


def test_theorem6_exact_grid_floor_and_bin_zero() -> None:
    # 0.00296 / 1e-5 is 295.999... in floats; the exact floor is 296
    result = output_length_adaptive(N_K24, MU, S_OBS, Fraction("0.01"), 1000, 1e-15)
    assert result.bin_index == 296
    assert result.delta_s == Fraction(1, 100_000)
    for s_obs in (Fraction("0.000009"), Fraction(0), Fraction("-0.001")):
        empty = output_length_adaptive(N_K24, MU, s_obs, Fraction("0.01"), 1000, 1e-15)
        assert empty.bin_index == 0
        assert empty.s_used == 0
        assert empty.result.m == 0
        assert math.isnan(empty.result.chain_error)
    top = output_length_adaptive(N_K24, MU, Fraction("0.0125"), Fraction("0.01"), 10, 1e-13)
    assert (top.bin_index, top.s_used) == (10, Fraction("0.01"))


# --- §12 part 5: m versus n -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "eta_ref", "m_ref"),
    [
        (10_000_000, 0.013662, 0),
        (30_000_000, 0.069377, 132_046),
        (100_000_000, 0.103951, 1_016_488),
        (300_000_000, 0.122682, 3_986_071),
        (1_000_000_000, 0.134291, 15_221_902),
        (N_K24, 0.136215, 20_860_847),
        (10_000_000_000, 0.143905, 168_241_712),
        (100_000_000_000, 0.146945, 1_733_084_459),
    ],
)
def test_m_versus_n(n: int, eta_ref: float, m_ref: int) -> None:
    result = output_length(n, MU, S_OBS, EPS, bound="paper")
    assert result.eta == pytest.approx(eta_ref, abs=5e-7)
    assert result.m == m_ref


# --- §12 part 8: extractor special cases ----------------------------------------------------


def test_extractor_special_cases(k24_paper: security.OutputLength) -> None:
    k1, k2, big_n = k24_paper.k1, k24_paper.k2, 2 * N_K24
    assert classical_dodis_max_m(k1, k2, big_n, EPS) == 62_582_633
    assert quantum_dodis_max_m(k1, k2, big_n, EPS) == 20_860_838


def test_error_chain_log_domain() -> None:
    # 2**m overflows a float; the chain must not
    big = dodis_error_chain(1e9, 1e9, 10**9, 10**9, 1e-13, 1e-13, 0.0, 0.0)
    assert big == math.inf or big > 1
    small = dodis_error_chain(1.9e9, 1.9e9, 2 * 10**9, 1000, 1e-13, 1e-13, 0.0, 0.0)
    assert small == pytest.approx(4e-13, rel=1e-9)


def test_dodis_max_m_may_be_nonpositive() -> None:
    assert dodis_max_m(10.0, 10.0, 100, 1e-6) < 0


# --- oracle: plain floats, dense grid + scipy -----------------------------------------------


def _oracle_eta(eps_s: float, eps_ea: float, s: float, n: int, mu: float) -> float:
    mu_min, mu_max = (0.5 - mu) ** 2, (0.5 + mu) ** 2
    scale = mu_min * mu_max
    coef = 2 / math.sqrt(n) * math.sqrt(1 - 2 * math.log2(eps_s * eps_ea))

    def parts(t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        s_prime = 2 + 4 * t / scale
        root = np.sqrt(s_prime**2 / 4 - 1)
        p = 0.5 + 0.5 * root
        g = 1 + p * np.log2(p) + (1 - p) * np.log2(1 - p)
        slope = (4 / scale) * np.log2(p / (1 - p)) * s_prime / (8 * root)
        return g + slope * (s - t), mu_max * slope

    def bracket(t: np.ndarray, ceiling: np.ndarray) -> np.ndarray:
        return parts(t)[0] - coef * (math.log2(9) + ceiling)

    grid = np.linspace(s / 200_000, s, 200_000)
    tangent, grad = parts(grid)
    ceilings = np.ceil(grad)
    best = float(np.max(tangent - coef * (math.log2(9) + ceilings)))
    for i in np.flatnonzero(np.diff(ceilings)):
        level = ceilings[i]
        t_jump = brentq(
            lambda t, lv=level: float(parts(np.array([t]))[1][0] - lv),
            grid[i],
            grid[i + 1],
            xtol=1e-20,
            rtol=1e-15,
        )
        best = max(best, float(bracket(np.array([t_jump]), np.array([level]))[0]))
    return best


@settings(max_examples=50, derandomize=True, deadline=None)
@given(
    n=st.integers(10**5, 10**12),
    mu_bp=st.integers(0, 200),
    s_frac=st.integers(20, 500),
    eps_exp=st.floats(3.0, 15.0),
    ea_exp=st.floats(1.0, 20.0),
)
def test_eta_matches_oracle(n: int, mu_bp: int, s_frac: int, eps_exp: float, ea_exp: float) -> None:
    mu = Fraction(mu_bp, 10_000)
    s_mu = Fraction(s_frac, 1000) * to_fraction(s_mu_quantum_max(mu))
    eps_s, eps_ea = 10.0**-eps_exp, 10.0**-ea_exp
    result = eta(eps_s, eps_ea, s_mu, n, mu)
    expected = _oracle_eta(eps_s, eps_ea, float(s_mu), n, float(mu))
    assert result.eta == pytest.approx(expected, abs=1e-9)
    assert result.eta >= expected - 1e-12 * max(1.0, abs(expected)) - 1e-12


# --- properties -------------------------------------------------------------------------------

_params = {
    "n": st.integers(10**6, 10**11),
    "mu_bp": st.integers(0, 150),
    "s_milli": st.integers(1, 600),
    "eps_exp": st.floats(4.0, 16.0),
}


def _case(mu_bp: int, s_milli: int) -> tuple[Fraction, Fraction]:
    mu = Fraction(mu_bp, 10_000)
    return mu, Fraction(s_milli, 1000) * to_fraction(s_mu_quantum_max(mu))


@settings(max_examples=20, derandomize=True, deadline=None)
@given(**_params, step=st.integers(1, 200), n_factor=st.integers(2, 10))
def test_m_monotone(
    n: int, mu_bp: int, s_milli: int, eps_exp: float, step: int, n_factor: int
) -> None:
    mu, s_mu = _case(mu_bp, s_milli)
    eps = 10.0**-eps_exp
    base = output_length(n, mu, s_mu, eps, bound="paper").m
    more_s = output_length(n, mu, s_mu * (1 + Fraction(step, 1000)), eps, bound="paper").m
    more_n = output_length(n * n_factor, mu, s_mu, eps, bound="paper").m
    assert base <= more_s
    assert base <= more_n


@settings(max_examples=30, derandomize=True, deadline=None)
@given(**_params, split=st.integers(7, 1000))
def test_strict_below_paper_and_within_eps(
    n: int, mu_bp: int, s_milli: int, eps_exp: float, split: int
) -> None:
    mu, s_mu = _case(mu_bp, s_milli)
    eps = 10.0**-eps_exp
    eps_s = eps / split
    strict = output_length(n, mu, s_mu, eps, eps_s=eps_s)
    paper = output_length(n, mu, s_mu, eps, eps_s=eps_s, bound="paper")
    assert strict.m <= paper.m
    assert strict.eta == paper.eta
    if strict.m > 0:
        assert strict.chain_error <= eps
        assert strict.m == dodis_max_m(strict.k1, strict.k2, 2 * n, eps, delta1=eps_s)
    else:
        assert math.isnan(strict.chain_error)


# --- conversions, records, validation ---------------------------------------------------------


def test_to_fraction() -> None:
    assert to_fraction(0.0075) == Fraction(3, 400)
    assert to_fraction("0.0075") == Fraction(3, 400)
    assert to_fraction("1/16") == Fraction(1, 16)
    assert to_fraction(3) == 3
    assert to_fraction(np.float64(0.1)) == Fraction(1, 10)
    for bad in (math.nan, math.inf, -math.inf, True, "nan", "abc", None):
        with pytest.raises(ProtocolError):
            to_fraction(bad)  # type: ignore[arg-type]


def test_records_are_json_ready(k24_strict: security.OutputLength) -> None:
    data = k24_strict.to_dict()
    assert data["eta_construction"] == ETA_CONSTRUCTION == "recon-kaf-thm4-tangent-dfr/1"
    assert data["bound_description"] == BOUND_DESCRIPTIONS["strict"]
    assert data["mu"] == "3/400"
    assert data["s_mu"] == "37/12500"
    assert data["m"] == 20_860_818
    json.dumps(data, allow_nan=False)
    aborted = output_length(N_K24, MU, Fraction(0), EPS)
    assert aborted.m == 0
    assert aborted.eta == -math.inf
    assert json.loads(json.dumps(aborted.to_dict(), allow_nan=False))["eta"] == "-inf"
    adaptive = output_length_adaptive(N_K24, MU, S_OBS, Fraction("0.01"), 1000, 1e-15).to_dict()
    assert adaptive["s_used"] == "37/12500"
    json.dumps(adaptive, allow_nan=False)
    assert set(BOUND_DESCRIPTIONS) == {"strict", "paper"}


def test_eta_abort_below_zero() -> None:
    result = eta(1e-13, 1e-12, Fraction(-1, 1000), 1000, MU)
    assert result.eta == -math.inf
    assert math.isnan(result.t_star)
    assert result.grad_ceiling == 0


def _raises(parameter: str, func: object, *args: object, **kwargs: object) -> None:
    with pytest.raises(ProtocolError, match=parameter) as info:
        func(*args, **kwargs)  # type: ignore[operator]
    assert info.value.fields.get("parameter") == parameter


def test_invalid_parameters() -> None:
    _raises("eps", output_length, N_K24, MU, S_OBS, 0.0)
    _raises("eps", output_length, N_K24, MU, S_OBS, 1.0)
    _raises("eps_s", output_length, N_K24, MU, S_OBS, EPS, eps_s=EPS / 6)
    _raises("eps_s", output_length, N_K24, MU, S_OBS, EPS, eps_s=EPS)
    _raises("eps_s", output_length, N_K24, MU, S_OBS, EPS, eps_s=0.0)
    _raises("eps_ea", output_length, N_K24, MU, S_OBS, EPS, eps_ea=0.0)
    _raises("mu", output_length, N_K24, Fraction(1, 2), S_OBS, EPS)
    _raises("mu", output_length, N_K24, Fraction(-1, 100), S_OBS, EPS)
    _raises("n", output_length, 0, MU, S_OBS, EPS)
    _raises("bound", output_length, N_K24, MU, S_OBS, EPS, bound="loose")
    _raises("s_mu", output_length, N_K24, MU, Fraction(13, 1000), EPS)  # above S_mu^Q
    adaptive = (N_K24, MU, S_OBS)
    _raises("bins", output_length_adaptive, *adaptive, Fraction("0.01"), 0, 1e-15)
    _raises("s_mu_max", output_length_adaptive, *adaptive, Fraction(0), 1000, 1e-15)
    _raises("s_mu_max", output_length_adaptive, *adaptive, Fraction(-1, 100), 1000, 1e-15)
    _raises("eps_per_bin", output_length_adaptive, *adaptive, Fraction("0.01"), 1000, 0.0)
    _raises("eps_s", output_length_adaptive, *adaptive, Fraction("0.01"), 100, 1e-14, 1e-14)
    _raises(
        "s_mu_obs", output_length_adaptive, N_K24, MU, Fraction(2, 100), Fraction(2, 100), 1, 1e-14
    )
    _raises("mu", mu_bounds, Fraction(1, 2))
    _raises("eps_s", eta, 0.0, 1e-12, S_OBS, N_K24, MU)
    _raises("n", eta, 1e-13, 1e-12, S_OBS, 0, MU)
    _raises("delta1", dodis_max_m, 1e6, 1e6, 10**6, 1e-12, delta1=1e-12)
    _raises("m", dodis_error_chain, 1e6, 1e6, 10**6, 0, 1e-13, 1e-13, 0.0, 0.0)


def test_protocol_error_pickles() -> None:
    import pickle

    with pytest.raises(ProtocolError) as info:
        output_length(0, MU, S_OBS, EPS)
    clone = pickle.loads(pickle.dumps(info.value))
    assert clone.message == info.value.message
    assert clone.fields == {"parameter": "n"}


# --- spec §11b: choosing blocks after the data (post-selection) --------------------------------


def test_post_selection_pins_the_published_point() -> None:
    """B = 20 blocks of the published run: eta with eps_EA 2^-20 (spec §11b: about 20,554,228)."""
    paid = output_length(N_K24, MU, S_OBS, EPS, post_selection_blocks=20)
    assert paid.post_selection_blocks == 20
    assert paid.eta == pytest.approx(0.134844337, abs=1e-9)
    assert paid.m == 20_554_228  # 306,590 bits below the unselected 20,860,818
    assert paid.m < 20_760_818
    assert paid.chain_error <= EPS  # the extractor chain and eps are unchanged
    # oracle: the same as stating eps_EA * 2^-20 directly (representable in a float here)
    direct = output_length(N_K24, MU, S_OBS, EPS, eps_ea=EPS * 2.0**-20)
    assert (direct.eta, direct.m) == (paid.eta, paid.m)
    assert _oracle_eta(EPS / 12, EPS * 2.0**-20, float(S_OBS), N_K24, float(MU)) == (
        pytest.approx(paid.eta, abs=1e-9)
    )


def test_post_selection_costs_more_with_more_blocks_and_never_underflows() -> None:
    lengths = [
        output_length(N_K24, MU, S_OBS, EPS, post_selection_blocks=b).m for b in (0, 1, 20, 200)
    ]
    assert lengths == sorted(lengths, reverse=True) and len(set(lengths)) == 4
    # 2^-5000 is 0.0 as a float: the log-space cost must stay finite and only shrink m
    huge = output_length(N_K24, MU, S_OBS, EPS, post_selection_blocks=5000)
    assert 0 <= huge.m < lengths[-1] and math.isfinite(huge.eta)
    adaptive = [
        output_length_adaptive(
            N_K24, MU, S_OBS, Fraction("0.004"), 40, EPS, post_selection_blocks=b
        ).m
        for b in (0, 20)
    ]
    assert adaptive[1] < adaptive[0]


def test_post_selection_blocks_must_be_a_count() -> None:
    for bad in (-1, True, 2.5, "20"):
        _raises(
            "post_selection_blocks", output_length, N_K24, MU, S_OBS, EPS, post_selection_blocks=bad
        )


# --- spec §11c: what eps means under each bound ---------------------------------------------------


def test_paper_bound_states_its_true_error(
    k24_paper: security.OutputLength, k24_strict: security.OutputLength
) -> None:
    assert k24_paper.chain_error >= 1e-7 and not k24_paper.certified
    assert "NOT a certified epsilon" in k24_paper.eps_statement
    assert "3.8e-07" in k24_paper.eps_statement
    assert k24_strict.certified and k24_strict.eps_statement.startswith("certified")
    record = k24_paper.to_dict()
    assert record["chain_error"] == k24_paper.chain_error and record["certified"] is False
    assert "not a certified epsilon" in BOUND_DESCRIPTIONS["paper"]
