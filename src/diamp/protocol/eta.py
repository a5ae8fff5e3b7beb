"""Single-round entropy bound g(S_μ) and the EAT rate η of DIRA.

Everything here follows ``spec/dira-theory.md`` §3, which is a **reconstruction** ([RECON]) of
Kessler & Arnon-Friedman, arXiv:1705.04148, Theorem 4: that text could not be retrieved, so η
is the standard construction that fits everything the seed paper (K24, arXiv:2412.17931)
says. The construction and its version are named by :data:`ETA_CONSTRUCTION`; every result
that depends on η must record it so that a run can be re-judged if the reconstruction is ever
corrected.

All maximisations and every quantity that feeds a floor run in a private mpmath context at
:data:`WORKING_DPS` significant digits (independent of the global ``mpmath.mp`` precision, so
the results do not depend on what other code does with it); only the public return values
are rounded to ``float``.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Final

from diamp.errors import ProtocolError
from diamp.exact import exact_fraction
from diamp.extractors._precision import _MP, WORKING_DPS, _check_count, _check_unit

__all__ = [
    "ETA_CONSTRUCTION",
    "WORKING_DPS",
    "EtaResult",
    "break_even_rate",
    "eta",
    "g_prime",
    "g_single_round",
    "mu_bounds",
    "s_mu_quantum_max",
    "to_fraction",
    "z_min_entropy",
]

ETA_CONSTRUCTION: Final = "recon-kaf-thm4-tangent-dfr/1"
"""Name and version of the η construction: spec §3 [RECON] (CHSH-reduction tangent
min-tradeoff function, DFR second-order term with d_O = 4, gradient ⌈μ_max g′⌉, tangent point
optimised exactly)."""

_BISECTION_STEPS: Final = 175  # 2**-175 ~ 2e-53: below the resolution of the context
_HALF: Final = Fraction(1, 2)
_LOG2_9: Final[Any] = _MP.log(9, 2)  # log2(1 + 2 d_O) with d_O = 4


def to_fraction(value: str | float | int | Fraction) -> Fraction:
    """Convert a parameter to an exact rational.

    Parameters
    ----------
    value
        A decimal or ``p/q`` string (``"0.0075"``, ``"1/16"``, ``"1e-3"``), an ``int``, a
        :class:`~fractions.Fraction`, or a ``float``. A float goes through its shortest
        ``repr``, so ``0.0075`` becomes ``3/400`` (the decimal the user typed), not the
        binary value ``0.007499999999999999722…``.

    Returns
    -------
    Fraction
        The exact value.

    Raises
    ------
    ProtocolError
        For ``bool``, NaN, infinities, unparsable strings and unsupported types.
    """
    try:
        return exact_fraction(value)
    except ValueError as err:
        raise ProtocolError(str(err)) from err


def _param_fraction(name: str, value: str | float | int | Fraction) -> Fraction:
    try:
        return to_fraction(value)
    except ProtocolError as err:
        raise ProtocolError(f"{name}: {err.message}", parameter=name) from err


def _check_mu(mu: str | float | int | Fraction) -> Fraction:
    value = _param_fraction("mu", mu)
    if not 0 <= value < _HALF:
        raise ProtocolError(f"mu must satisfy 0 <= mu < 1/2, got mu = {value}", parameter="mu")
    return value


def _mpq(value: Fraction) -> Any:
    return _MP.mpf(value.numerator) / value.denominator


def mu_bounds(mu: Fraction) -> tuple[Fraction, Fraction]:
    """Return the bounds (μ_min, μ_max) on P(x_i y_i | past, E) for an SV bias μ.

    Parameters
    ----------
    mu
        Santha–Vazirani bias, ``0 <= mu < 1/2`` (exact).

    Returns
    -------
    tuple of Fraction
        ``((1/2 - mu)**2, (1/2 + mu)**2)``, exact.

    Notes
    -----
    Spec §1: each SV bit lies in [½ − μ, ½ + μ] given everything before it, so the pair
    (x_i, y_i) has probability in [μ_min, μ_max].
    """
    value = _check_mu(mu)
    return (_HALF - value) ** 2, (_HALF + value) ** 2


def _mdl_scale(mu: Fraction) -> tuple[Any, Any]:
    """Return (μ_min μ_max, μ_max) as context numbers."""
    mu_min, mu_max = mu_bounds(mu)
    return _mpq(mu_min * mu_max), _mpq(mu_max)


def _r_squared(t: Any, scale: Any) -> Any:
    """S′²/4 − 1 with S′ = 2 + 4t/scale, written as u(2 + u), u = 2t/scale (no cancellation)."""
    u = 2 * t / scale
    return u * (2 + u)


def _g(t: Any, scale: Any) -> Any:
    """Return g(t) in the context; 0 for t <= 0 and 1 at or above the quantum maximum."""
    if t <= 0:
        return _MP.zero
    r2 = _r_squared(t, scale)
    if r2 >= 1:
        return _MP.one
    r = _MP.sqrt(r2)
    # 1 - h((1+r)/2) = [(1+r)ln(1+r) + (1-r)ln(1-r)] / (2 ln 2)
    return (_MP.log1p(-r2) + 2 * r * _MP.atanh(r)) / (2 * _MP.ln2)


def _g_prime(t: Any, scale: Any) -> Any:
    """Return g′(t) per unit S_μ; the right limit at t <= 0, +inf at or above S_μ^Q."""
    if t <= 0:
        return 2 / (scale * _MP.ln2)  # (4/(μ_min μ_max)) · 1/(2 ln 2)
    r2 = _r_squared(t, scale)
    if r2 >= 1:
        return _MP.inf
    r = _MP.sqrt(r2)
    # (4/scale)·log2(p/(1-p))·S′/(8r) with log2(p/(1-p)) = 2 atanh(r)/ln 2, S′ = 2(1+u)
    return 2 * _MP.atanh(r) * (1 + 2 * t / scale) / (scale * r * _MP.ln2)


def _at_or_above_quantum_max(s_mu: Fraction, mu: Fraction) -> bool:
    """Exact test S_μ >= S_μ^Q, i.e. S′ >= 2√2, i.e. u(2 + u) >= 1 with u = 2 S_μ/(μ_min μ_max)."""
    mu_min, mu_max = mu_bounds(mu)
    u = 2 * s_mu / (mu_min * mu_max)
    return u * (2 + u) >= 1


def _exact_real(name: str, value: float | Fraction) -> Fraction:
    """Exact value of a float or Fraction argument (a float keeps its binary value)."""
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, Fraction)):
        raise ProtocolError(f"{name} must be a real number, got {value!r}", parameter=name)
    if isinstance(value, float) and not math.isfinite(value):
        raise ProtocolError(f"{name} must be finite, got {value!r}", parameter=name)
    return Fraction(value)


def s_mu_quantum_max(mu: Fraction) -> float:
    """Return the largest MDL value S_μ^Q reachable by quantum devices.

    Parameters
    ----------
    mu
        Santha–Vazirani bias, ``0 <= mu < 1/2``.

    Returns
    -------
    float
        ``(2√2 − 2) μ_min μ_max / 4`` (0.0129383 at μ = 0.0075).

    Notes
    -----
    Spec §3.1: S′ = 2 + 4 S_μ/(μ_min μ_max) is at most the Tsirelson bound 2√2.
    """
    scale, _ = _mdl_scale(mu)
    return float((2 * _MP.sqrt(2) - 2) * scale / 4)


def g_single_round(s_mu: float | Fraction, mu: Fraction) -> float:
    """Single-round entropy bound g(S_μ) in bits per round [RECON].

    Parameters
    ----------
    s_mu
        MDL value S_μ (a float is taken at its exact binary value).
    mu
        Santha–Vazirani bias, ``0 <= mu < 1/2``.

    Returns
    -------
    float
        ``g_CHSH(2 + 4 S_μ/(μ_min μ_max))``; 0 for S_μ <= 0 and 1 (= g_CHSH(2√2)) at or
        above the quantum maximum S_μ^Q, where no quantum device can be.

    Notes
    -----
    Spec §3.1 (tagged [RECON], KAF Theorem 4 not verified): S′ := 2 + 4S_μ/(μ_min μ_max) ≤
    E_e[S_e], and g_CHSH(S) = 1 − h(½ + ½√(S²/4 − 1)) [Acín et al. 2007; Pironio et al. 2010]
    is convex and increasing, so H(AB|XYE) ≥ H(A|XYE) ≥ g(S_μ).
    """
    scale, _ = _mdl_scale(mu)
    return float(_g(_mpq(_exact_real("s_mu", s_mu)), scale))


def g_prime(s_mu: float | Fraction, mu: Fraction) -> float:
    """Return the derivative g′(S_μ) of the single-round bound, per unit S_μ [RECON].

    Parameters
    ----------
    s_mu
        MDL value S_μ (a float is taken at its exact binary value).
    mu
        Santha–Vazirani bias, ``0 <= mu < 1/2``.

    Returns
    -------
    float
        g′(S_μ); 0 for S_μ < 0, the right derivative g′(0⁺) = (4/(μ_min μ_max))·1/(2 ln 2) at
        S_μ = 0, and ``+inf`` at or above the quantum maximum S_μ^Q.

    Notes
    -----
    Spec §3.1: g′(S_μ) = (4/(μ_min μ_max)) · log₂(p/(1−p)) · S′/(8√(S′²/4 − 1)) with
    p = ½ + ½√(S′²/4 − 1); evaluated as 2 atanh(r)/ln 2 for log₂(p/(1−p)), r = √(S′²/4 − 1),
    which is stable as S′ → 2⁺.
    """
    value = _exact_real("s_mu", s_mu)
    if value < 0:
        return 0.0
    scale, _ = _mdl_scale(mu)
    return float(_g_prime(_mpq(value), scale))


@dataclass(frozen=True)
class EtaResult:
    """The rate η and where its maximisation landed.

    Attributes
    ----------
    eta
        η in bits per round; ``-inf`` when S_μ <= 0 (abort).
    t_star
        Tangent point t of the maximising min-tradeoff function; NaN when S_μ <= 0.
    grad_ceiling
        ⌈μ_max g′(t*)⌉, the gradient norm used in the second-order term; 0 when S_μ <= 0.
    """

    eta: float
    t_star: float
    grad_ceiling: int


@dataclass(frozen=True)
class _EtaExact:
    eta: Any  # context number, or -inf
    t_star: Any
    grad_ceiling: int


def _eta_exact(
    eps_s: float, eps_ea: float, s_mu: Fraction, n: int, mu: Fraction, post_selection: int = 0
) -> _EtaExact:
    """Exact candidate maximisation of spec §3.2 (arguments already validated).

    ``post_selection`` = B charges a union bound over 2^B chosen block sets to ε_EA
    (spec §11b): the EAT runs with ε_EA·2^(−B), computed in log space so that no B underflows.
    """
    if s_mu <= 0:
        return _EtaExact(-_MP.inf, _MP.nan, 0)
    if _at_or_above_quantum_max(s_mu, mu):
        raise ProtocolError(
            f"s_mu = {s_mu} is at or above the quantum maximum S_mu^Q = "
            f"{s_mu_quantum_max(mu):.10g}: no quantum device reaches it and the tangent "
            "construction is unbounded there; use a threshold below S_mu^Q",
            parameter="s_mu",
        )
    scale, mu_max = _mdl_scale(mu)
    s = _mpq(s_mu)
    log_eps = _MP.log(_MP.mpf(eps_s) * _MP.mpf(eps_ea), 2) - post_selection
    coef = 2 * _MP.sqrt(1 - 2 * log_eps) / _MP.sqrt(n)

    def bracket(t: Any) -> tuple[Any, int]:
        slope = _g_prime(t, scale)
        ceiling = int(_MP.ceil(mu_max * slope))
        return _g(t, scale) + slope * (s - t) - coef * (_LOG2_9 + ceiling), ceiling

    value, ceiling = bracket(s)
    best = _EtaExact(value, s, ceiling)
    level_floor = mu_max * _g_prime(_MP.zero, scale)
    for level in range(ceiling - 1, int(_MP.floor(level_floor)) - 1, -1):
        if level_floor > level:
            continue  # mu_max g' > level everywhere: the stretch is empty
        t = _tangent_point(level, s, scale, mu_max)
        if t > 0:
            value, at_t = bracket(t)
            if value > best.eta:
                best = _EtaExact(value, t, at_t)
    return best


def _tangent_point(level: int, t_hi: Any, scale: Any, mu_max: Any) -> Any:
    """Bisection for μ_max g′(t) = level, returning the end where μ_max g′(t) <= level."""
    lo, hi = _MP.zero, t_hi
    for _ in range(_BISECTION_STEPS):
        mid = (lo + hi) / 2
        if mu_max * _g_prime(mid, scale) <= level:
            lo = mid
        else:
            hi = mid
    return lo


def eta(eps_s: float, eps_ea: float, s_mu: float | Fraction, n: int, mu: Fraction) -> EtaResult:
    """Rate η(ε_s, ε_EA, S_μ, n, μ) of smooth min-entropy per round [RECON].

    Parameters
    ----------
    eps_s
        Smoothing parameter ε_s, ``0 < eps_s < 1``.
    eps_ea
        EAT abort-probability parameter ε_EA, ``0 < eps_ea < 1``.
    s_mu
        MDL threshold S_μ (a float is taken at its exact binary value). Must be below the
        quantum maximum S_μ^Q.
    n
        Number of rounds, ``n >= 1``.
    mu
        Santha–Vazirani bias, ``0 <= mu < 1/2``.

    Returns
    -------
    EtaResult
        η, the maximising tangent point t* and ⌈μ_max g′(t*)⌉. η = −∞ for S_μ <= 0.

    Raises
    ------
    ProtocolError
        For invalid parameters, or S_μ >= S_μ^Q.

    Notes
    -----
    Spec §3.2, construction :data:`ETA_CONSTRUCTION` (a reconstruction of KAF Theorem 4, not
    verified against the source):

        η = max_{0 < t ≤ S_μ} g(t) + g′(t)(S_μ − t)
                − (2/√n)(log₂ 9 + ⌈μ_max g′(t)⌉)·√(1 − 2 log₂(ε_s ε_EA)),

    the tangent f_t of g at t being an affine min-tradeoff function with ‖∇f_t‖_∞ = μ_max g′(t)
    in the Dupuis–Fawzi–Renner EAT (d_O = 4). On each stretch where the ceiling is a constant
    G the bracket is non-decreasing (g is convex), so the maximum is at t = S_μ or at a right
    end t_G, μ_max g′(t_G) = G, for G from ⌈μ_max g′(S_μ)⌉ − 1 down to ⌊μ_max g′(0⁺)⌋. Each t_G
    is found by bisection and the end with μ_max g′(t) ≤ G is kept; the bracket there is
    evaluated with the ceiling at that very point, so no candidate uses a ceiling smaller than
    the true one. No grid is involved.
    """
    n = _check_count("n", n, 1)
    eps_s = _check_unit("eps_s", eps_s)
    eps_ea = _check_unit("eps_ea", eps_ea)
    mu = _check_mu(mu)
    exact = _eta_exact(eps_s, eps_ea, _exact_real("s_mu", s_mu), n, mu)
    return EtaResult(float(exact.eta), float(exact.t_star), exact.grad_ceiling)


def z_min_entropy(d: int, mu: Fraction) -> float:
    """Min-entropy bound of d Santha–Vazirani bits.

    Parameters
    ----------
    d
        Number of SV bits, ``d >= 0``.
    mu
        Santha–Vazirani bias, ``0 <= mu < 1/2``.

    Returns
    -------
    float
        ``d · log₂(1/(½ + μ))`` bits.

    Notes
    -----
    Spec §4 (KAF Lemma 7, K24 Theorem 5): H_min(Z|XYE) ≥ d log₂(1/(½ + μ)); K24 uses d = 2n.
    """
    d = _check_count("d", d, 0)
    return float(d * _z_rate(_check_mu(mu)))


def _z_rate(mu: Fraction) -> Any:
    """log₂(1/(½ + μ)) in the context."""
    return -_MP.log(_mpq(_HALF + mu), 2)


def break_even_rate(mu: Fraction) -> float:
    """Smallest η for which the extractor can output anything.

    Parameters
    ----------
    mu
        Santha–Vazirani bias, ``0 <= mu < 1/2``.

    Returns
    -------
    float
        ``2 − 2 log₂(1/(½ + μ)) = 2 log₂(1 + 2μ)`` bits per round (0.04295945 at μ = 0.0075).

    Notes
    -----
    Spec §5: m > 0 in eq. (18) needs η + 2 log₂(1/(½ + μ)) − 2 > 0.
    """
    return float(2 * _MP.log(1 + 2 * _mpq(_check_mu(mu)), 2))
