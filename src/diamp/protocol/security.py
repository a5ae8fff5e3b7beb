"""Security parameters of DIRA: output length m and the extractor error chain.

Implements K24 (arXiv:2412.17931) Theorems 5 and 6 as assembled in ``spec/dira-theory.md``
§4–§7, on top of the rate η of :mod:`diamp.protocol.eta` (a reconstruction, [RECON]; see
:data:`ETA_CONSTRUCTION`). Two output-length rules are offered (:data:`BOUND_DESCRIPTIONS`):
``"strict"`` (default, spec §6 ``m_chain``: the forward error of Theorems 2–4 is ≤ ε) and
``"paper"`` (eq. 18 as printed, to reproduce K24). Every quantity that is floored is computed
in a 50-digit mpmath context, and a floor within 10⁻²⁵ (relative) of an integer is taken one
lower: when in doubt, fewer bits. The η names are re-exported so that callers need only this
module.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from types import MappingProxyType
from typing import Final, Literal

from diamp.errors import ExtractionError, ProtocolError
from diamp.extractors._precision import _MP, _check_count, _check_unit
from diamp.extractors.chain import (
    _chain_m_real,
    _error_chain,
    _safe_floor,
    classical_dodis_max_m,
    dodis_error_chain,
    dodis_max_m,
    quantum_dodis_max_m,
)
from diamp.protocol.epsilon import eps_statement
from diamp.protocol.eta import (
    ETA_CONSTRUCTION,
    EtaResult,
    _at_or_above_quantum_max,
    _check_mu,
    _eta_exact,
    _param_fraction,
    _z_rate,
    break_even_rate,
    eta,
    g_prime,
    g_single_round,
    mu_bounds,
    s_mu_quantum_max,
    to_fraction,
    z_min_entropy,
)

__all__ = [
    "BOUND_DESCRIPTIONS",
    "ETA_CONSTRUCTION",
    "POST_SELECTION_DESCRIPTION",
    "AdaptiveOutputLength",
    "Bound",
    "EtaResult",
    "OutputLength",
    "break_even_rate",
    "classical_dodis_max_m",
    "dodis_error_chain",
    "dodis_max_m",
    "eps_statement",
    "eta",
    "g_prime",
    "g_single_round",
    "mu_bounds",
    "output_length",
    "output_length_adaptive",
    "quantum_dodis_max_m",
    "s_mu_quantum_max",
    "to_fraction",
    "z_min_entropy",
]

Bound = Literal["strict", "paper"]

BOUND_DESCRIPTIONS: Final = MappingProxyType(
    {
        "strict": (
            "m_chain (spec §6): largest m for which the forward error of K24 Theorems 2-4 "
            "(Dodis two-source extractor, APS16 quantum-proof error sqrt(3 eps_D 2^(m-2)), "
            "smooth min-entropy) with the equal split eps1 = eps2 = eps_q = (eps - 6 eps_s)/6 "
            "is at most eps; Ext(AB, Z) is used strong in Z (transpose symmetry of the shift "
            "family), so K is eps-close to uniform given Z, X, Y and E"
        ),
        "paper": (
            "K24 eq. (18) as printed: floor((n/6)(eta + 2 log2(1/(1/2+mu)) - 2) "
            "- log2(6/(eps - 6 eps_s))). A reproduction of the paper, not a certified epsilon: "
            "eq. (18) drops the square root of Theorem 3's error, so m is about 29 bits longer "
            "than Theorems 2-4 justify; the true error is chain_error (about 3.8e-7 instead "
            "of 1e-12 at the K24 point, spec §11c)"
        ),
    }
)
"""What each output-length rule means (recorded in every :class:`OutputLength`)."""

POST_SELECTION_DESCRIPTION: Final = (
    "union bound over the 2^B block sets a data-dependent exclusion rule could choose from B "
    "blocks (spec §11b): the EAT statement holds for every fixed set with failure probability "
    "eps_EA 2^-B, so summed over all 2^B sets at most eps_EA; eta is computed with "
    "log2(1/eps_EA) + B and everything else is unchanged"
)
"""How an output length pays for choosing blocks after seeing data (``post_selection_blocks``).

Derivation (spec §11b). Let 𝒮 be the family of block sets the exclusion rule can return;
|𝒮| ≤ 2^B. For each fixed S ∈ 𝒮 the EAT (spec §3.2) with parameter ε' gives: either
Pr[Ω_S] ≤ ε', or H_min^{ε_s}(AB_S∣XYE)_{ρ|Ω_S} > n_S·η(ε_s, ε', …). The protocol's event is
Ω = ∪_S (S chosen ∧ Ω_S); the bad event "some S has Pr[Ω_S] > ε' yet the bound fails for it"
is charged by the union bound at most Σ_S ε' ≤ 2^B ε'. Taking ε' = ε_EA·2^(−B) restores the
fixed-set statement with ε_EA, so the extractor chain (§4–§6) and ε are unchanged; only η
pays, through the second-order term √(1 − 2 log₂(ε_s ε')). Conservative: it ignores any
structure of the rule (contiguity, monotonicity) that would shrink |𝒮|.
"""


def _json_float(value: float) -> float | str:
    return value if math.isfinite(value) else str(value)


@dataclass(frozen=True)
class OutputLength:
    """Output length of K24 Theorem 5 and everything it was computed from.

    Attributes
    ----------
    n, mu
        Rounds and SV bias.
    s_mu
        The S_μ fed to η (the threshold, or S_used in adaptive mode).
    eps, eps_s, eps_ea
        Final security ε, smoothing ε_s, EAT parameter ε_EA.
    bound
        ``"strict"`` or ``"paper"`` (:data:`BOUND_DESCRIPTIONS`).
    eta, t_star, grad_ceiling
        As in :class:`EtaResult`.
    k1
        n·η, smooth min-entropy of AB.
    k2
        2n·log₂(1/(½ + μ)), min-entropy of Z.
    m_real
        The real-valued bound before flooring.
    m
        Output length in bits, ``max(⌊m_real⌋, 0)``.
    chain_error
        Forward error of the strict Theorems 2–4 chain at this m with ε₁ = ε₂ = (ε − 6ε_s)/6
        and δ₁ = ε_s (:func:`dodis_error_chain`); NaN when m = 0. At most ε for the strict
        bound; for the paper bound it is the true error of its m (spec §11c), not ε.
    post_selection_blocks
        B of :data:`POST_SELECTION_DESCRIPTION`: η was computed with ε_EA·2^(−B); 0 when the
        blocks were fixed before the run.
    """

    n: int
    mu: Fraction
    s_mu: Fraction
    eps: float
    eps_s: float
    eps_ea: float
    bound: Bound
    eta: float
    t_star: float
    grad_ceiling: int
    k1: float
    k2: float
    m_real: float
    m: int
    chain_error: float
    post_selection_blocks: int = 0

    @property
    def certified(self) -> bool:
        """True when ε is a certified bound on the output's distance from uniform (strict)."""
        return self.bound == "strict"

    @property
    def eps_statement(self) -> str:
        """One sentence saying what ε means for this output length."""
        return eps_statement(self.bound, self.eps, self.chain_error)

    def to_dict(self) -> dict[str, object]:
        """Return a JSON-ready dict: Fractions as strings, non-finite floats as "nan"/"-inf"."""
        out: dict[str, object] = {
            "eta_construction": ETA_CONSTRUCTION,
            "bound_description": BOUND_DESCRIPTIONS[self.bound],
            "certified": self.certified,
            "eps_statement": self.eps_statement,
            "post_selection": None
            if self.post_selection_blocks == 0
            else POST_SELECTION_DESCRIPTION,
        }
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            if isinstance(value, Fraction):
                value = str(value)
            elif isinstance(value, float):
                value = _json_float(value)
            out[name] = value
        return out


def _check_post_selection(blocks: int) -> int:
    if isinstance(blocks, bool) or not isinstance(blocks, int) or blocks < 0:
        raise ProtocolError(
            f"post_selection_blocks must be an integer >= 0, got {blocks!r}",
            parameter="post_selection_blocks",
        )
    return blocks


def _check_eps(
    eps: float, eps_s: float | None, eps_ea: float | None, eps_name: str = "eps"
) -> tuple[float, float, float]:
    eps = _check_unit(eps_name, eps)
    eps_s = eps / 12 if eps_s is None else _check_unit("eps_s", eps_s)
    if not 6 * Fraction(eps_s) < Fraction(eps):
        raise ProtocolError(
            f"eps_s must satisfy 6*eps_s < {eps_name}, got eps_s = {eps_s!r}, {eps_name} = {eps!r}",
            parameter="eps_s",
        )
    eps_ea = eps if eps_ea is None else _check_unit("eps_ea", eps_ea)
    return eps, eps_s, eps_ea


def _check_bound(bound: str) -> Bound:
    if bound == "strict":
        return "strict"
    if bound == "paper":
        return "paper"
    raise ProtocolError(f"bound must be 'strict' or 'paper', got {bound!r}", parameter="bound")


def output_length(
    n: int,
    mu: Fraction,
    s_mu: Fraction,
    eps: float,
    eps_s: float | None = None,
    eps_ea: float | None = None,
    bound: Bound = "strict",
    post_selection_blocks: int = 0,
) -> OutputLength:
    """Output length m of DIRA for a fixed threshold (K24 Theorem 5).

    Parameters
    ----------
    n
        Number of Bell rounds, ``n >= 1``.
    mu
        Santha–Vazirani bias, ``0 <= mu < 1/2`` (exact; strings and floats go through
        :func:`to_fraction`).
    s_mu
        MDL threshold S_μ fixed before the run (exact); below the quantum maximum.
    eps
        Final security parameter ε, ``0 < eps < 1``.
    eps_s
        Smoothing parameter, ``0 < eps_s`` and ``6 eps_s < eps``; default ``eps/12``.
    eps_ea
        EAT parameter ε_EA, ``0 < eps_ea < 1``; default ``eps``.
    bound
        ``"strict"`` (default) or ``"paper"``, see :data:`BOUND_DESCRIPTIONS`.
    post_selection_blocks
        B >= 0: the trials were chosen among 2^B block sets after seeing data (timing policy
        ``exclude``); η uses ε_EA·2^(−B), see :data:`POST_SELECTION_DESCRIPTION`.

    Returns
    -------
    OutputLength
        m and all inputs and intermediates. m = 0 when S_μ <= 0 or the bound is below 1.

    Raises
    ------
    ProtocolError
        Naming the offending parameter and the rule it breaks.

    Notes
    -----
    K24 eq. (18) (``"paper"``)::

        m = ⌊(n/6)(η(ε_s, ε_EA, S_μ, n, μ) + 2 log₂(1/(½+μ)) − 2) − log₂(6/(ε − 6ε_s))⌋

    and spec §6 (``"strict"``): :func:`dodis_max_m` with k₁ = nη, k₂ = 2n log₂(1/(½+μ)),
    N = 2n, δ₁ = ε_s, δ₂ = 0. Guarantee: either Pr[S_μ,obs ≥ S_μ] ≤ ε_EA or the output is
    ε-close to uniform and independent of XYZE. η is the [RECON] rate of spec §3.
    """
    n = _check_count("n", n, 1)
    mu = _check_mu(mu)
    s_value = _param_fraction("s_mu", s_mu)
    eps, eps_s, eps_ea = _check_eps(eps, eps_s, eps_ea)
    blocks = _check_post_selection(post_selection_blocks)
    return _output_length(n, mu, s_value, eps, eps_s, eps_ea, _check_bound(bound), blocks)


def _output_length(
    n: int,
    mu: Fraction,
    s_mu: Fraction,
    eps: float,
    eps_s: float,
    eps_ea: float,
    bound: Bound,
    post_selection_blocks: int = 0,
) -> OutputLength:
    exact = _eta_exact(eps_s, eps_ea, s_mu, n, mu, post_selection_blocks)
    z_rate = _z_rate(mu)
    k1, k2 = n * exact.eta, 2 * n * z_rate
    budget = _MP.mpf(eps) - 6 * _MP.mpf(eps_s)
    if bound == "paper":
        m_real = n * (exact.eta + 2 * z_rate - 2) / 6 - _MP.log(6 / budget, 2)
    else:
        m_real = _chain_m_real(k1, k2, 2 * n, budget)
    m = max(_safe_floor(m_real), 0) if _MP.isfinite(m_real) else 0
    chain_error = math.nan
    if m > 0:
        split = budget / 6
        error = _error_chain(k1, k2, 2 * n, m, split, split, 6 * _MP.mpf(eps_s))
        if bound == "strict" and error > eps:
            raise ExtractionError(f"internal check failed: chain error {error} > eps at m = {m}")
        chain_error = float(error)
    return OutputLength(
        n=n,
        mu=mu,
        s_mu=s_mu,
        eps=eps,
        eps_s=eps_s,
        eps_ea=eps_ea,
        bound=bound,
        eta=float(exact.eta),
        t_star=float(exact.t_star),
        grad_ceiling=exact.grad_ceiling,
        k1=float(k1),
        k2=float(k2),
        m_real=float(m_real),
        m=m,
        chain_error=chain_error,
        post_selection_blocks=post_selection_blocks,
    )


@dataclass(frozen=True)
class AdaptiveOutputLength:
    """Output length of K24 Theorem 6 (adaptive threshold).

    Attributes
    ----------
    result
        The Theorem 5 computation at S_μ = S_used with ε = ε_EA = ε per bin.
    s_mu_obs
        Observed MDL value (exact).
    s_mu_max
        S_μ,max fixed before the run.
    bins
        Number of bins M.
    delta_s
        Bin width ΔS = S_μ,max / M.
    s_used
        ``min(S_μ,max, ⌊S_μ,obs/ΔS⌋ ΔS)``; 0 in bin 0.
    bin_index
        ``min(M, ⌊S_μ,obs/ΔS⌋)``, with every S_μ,obs < ΔS in bin 0 (m = 0).
    eps_total
        Overall security M·ε.
    """

    result: OutputLength
    s_mu_obs: Fraction
    s_mu_max: Fraction
    bins: int
    delta_s: Fraction
    s_used: Fraction
    bin_index: int
    eps_total: float

    @property
    def m(self) -> int:
        """Output length in bits (``result.m``)."""
        return self.result.m

    def to_dict(self) -> dict[str, object]:
        """Return a JSON-ready dict: the Theorem 5 fields plus the adaptive ones."""
        out = self.result.to_dict()
        out.update(
            theorem="K24 Theorem 6 (adaptive)",
            s_mu_obs=str(self.s_mu_obs),
            s_mu_max=str(self.s_mu_max),
            bins=self.bins,
            delta_s=str(self.delta_s),
            s_used=str(self.s_used),
            bin_index=self.bin_index,
            eps_total=_json_float(self.eps_total),
        )
        return out


def output_length_adaptive(
    n: int,
    mu: Fraction,
    s_mu_obs: Fraction,
    s_mu_max: Fraction,
    bins: int,
    eps_per_bin: float,
    eps_s: float | None = None,
    bound: Bound = "strict",
    post_selection_blocks: int = 0,
) -> AdaptiveOutputLength:
    """Output length of DIRA with the threshold chosen from the data (K24 Theorem 6).

    Parameters
    ----------
    n
        Number of Bell rounds, ``n >= 1``.
    mu
        Santha–Vazirani bias, ``0 <= mu < 1/2``.
    s_mu_obs
        Observed MDL value, exact (compute it from integer counts).
    s_mu_max
        S_μ,max > 0, fixed before the run.
    bins
        Number of bins M >= 1, fixed before the run.
    eps_per_bin
        ε of every bin, ``0 < eps_per_bin < 1``; also used as ε_EA. Overall security M·ε.
    eps_s
        Smoothing parameter, ``6 eps_s < eps_per_bin``; default ``eps_per_bin/12``.
    bound
        ``"strict"`` (default) or ``"paper"``.
    post_selection_blocks
        B >= 0 as in :func:`output_length`: the per-bin ε_EA = ε becomes ε·2^(−B).

    Returns
    -------
    AdaptiveOutputLength
        The bin, S_used and the Theorem 5 result at S_used.

    Raises
    ------
    ProtocolError
        For invalid parameters, or if S_used reaches the quantum maximum S_μ^Q.

    Notes
    -----
    K24 eq. (21), spec §7: ΔS = S_μ,max/M, S_used = min{S_μ,max, ⌊S_μ,obs/ΔS⌋ΔS} (exact
    rational floor: a float floor is wrong at grid points), then eq. (18) (or the strict
    chain) with η(ε_s, ε, S_used, n, μ).
    """
    bins = _check_count("bins", bins, 1)
    s_max = _param_fraction("s_mu_max", s_mu_max)
    if s_max <= 0:
        raise ProtocolError(f"s_mu_max must be > 0, got {s_max}", parameter="s_mu_max")
    s_obs = _param_fraction("s_mu_obs", s_mu_obs)
    n = _check_count("n", n, 1)
    mu = _check_mu(mu)
    eps, eps_s, eps_ea = _check_eps(eps_per_bin, eps_s, None, "eps_per_bin")
    blocks = _check_post_selection(post_selection_blocks)
    delta_s = s_max / bins
    bin_index = max(0, min(bins, math.floor(s_obs / delta_s)))
    s_used = bin_index * delta_s
    if s_used > 0 and _at_or_above_quantum_max(s_used, mu):
        raise ProtocolError(
            f"s_mu_obs = {s_obs} puts S_used = {s_used} at or above the quantum maximum "
            f"S_mu^Q = {s_mu_quantum_max(mu):.10g}; no quantum device can produce it",
            parameter="s_mu_obs",
        )
    result = _output_length(n, mu, s_used, eps, eps_s, eps_ea, _check_bound(bound), blocks)
    return AdaptiveOutputLength(
        result=result,
        s_mu_obs=s_obs,
        s_mu_max=s_max,
        bins=bins,
        delta_s=delta_s,
        s_used=s_used,
        bin_index=bin_index,
        eps_total=bins * eps,
    )
