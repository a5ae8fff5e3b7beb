"""The Dodis extractor error chain of K24 Theorems 2–4 (spec §4): m from entropies and back.

``dodis_max_m`` turns min-entropies (k₁, k₂), the input length N, ε and the smoothing
parameters into the largest output length; ``dodis_error_chain`` computes the total error of
a given choice forward, so a chosen m can be checked ≤ ε. Everything that is floored is
evaluated in the 50-digit mpmath context of :mod:`diamp.extractors._precision`.
"""

from __future__ import annotations

import math
import numbers
from typing import Any, Final

from diamp.errors import ProtocolError
from diamp.extractors._precision import _MP, WORKING_DPS, _check_count, _check_unit

__all__ = [
    "classical_dodis_max_m",
    "dodis_error_chain",
    "dodis_max_m",
    "quantum_dodis_max_m",
]

_LOG2_3: Final[Any] = _MP.log(3, 2)
_FLOOR_MARGIN: Final[Any] = _MP.mpf(10) ** (-(WORKING_DPS // 2))


def _safe_floor(value: Any) -> int:
    """Floor that errs low: a value within 10⁻²⁵ (relative) above an integer floors below it."""
    return int(_MP.floor(value - _FLOOR_MARGIN * max(_MP.one, abs(value))))


def _finite(name: str, value: float) -> Any:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ProtocolError(f"{name} must be a finite real number, got {value!r}", parameter=name)
    return _MP.mpf(value if isinstance(value, int) else float(value))


def _check_delta(name: str, value: float) -> Any:
    delta = _finite(name, value)
    if delta < 0:
        raise ProtocolError(f"{name} must be >= 0, got {value!r}", parameter=name)
    return delta


def _quantum_budget(eps: float, delta1: Any, delta2: Any) -> Any:
    """ε − 6δ₁ − 6δ₂ in the context, which must be positive."""
    budget = _MP.mpf(eps) - 6 * delta1 - 6 * delta2
    if budget <= 0:
        raise ProtocolError(
            f"the smoothing budget exhausts eps: need 6*delta1 + 6*delta2 < eps, got eps = {eps!r}",
            parameter="delta1",
        )
    return budget


def _chain_m_real(k1: Any, k2: Any, big_n: int, budget: Any) -> Any:
    """Real-valued m of spec §4 step 4 with ε₁ = ε₂ = ε_q = budget/6."""
    return (k1 + k2 - big_n - 10 * _MP.log(6 / budget, 2) + 8 - 4 * _LOG2_3) / 6


def dodis_max_m(
    k1: float, k2: float, N: int, eps: float, delta1: float = 0.0, delta2: float = 0.0
) -> int:
    """Largest Dodis output length for smooth min-entropies k₁, k₂ (quantum-proof, equal split).

    Parameters
    ----------
    k1, k2
        Smooth min-entropy bounds of the two N-bit inputs. The bound is symmetric in
        them and the Dodis extractor is strong in either (see :mod:`diamp.extractors.dodis`);
        DIRA conditions on Z.
    N
        Length of each input in bits, ``N >= 1``.
    eps
        Total error budget, ``0 < eps < 1``.
    delta1, delta2
        Smoothing parameters of k₁ and k₂, ``6 δ₁ + 6 δ₂ < eps``.

    Returns
    -------
    int
        ``⌊(k₁ + k₂ − N − 10 log₂(6/(ε − 6δ₁ − 6δ₂)) + 8 − 4 log₂ 3)/6⌋``; may be <= 0
        (returned as is: no output possible).

    Notes
    -----
    Spec §4 step 4 [DERIVED] from K24 Theorems 2 (Dodis et al. 2004, ε_D = 2^{−(k₁+k₂−N−2m)/2}),
    3 (APS16 Thm 2, ε_q = √(3 ε_D 2^{m−2})) and 4 (APS16 Lemma 17), with
    ε₁ = ε₂ = ε_q = (ε − 6δ₁ − 6δ₂)/6.
    """
    big_n = _check_count("N", N, 1)
    eps = _check_unit("eps", eps)
    budget = _quantum_budget(eps, _check_delta("delta1", delta1), _check_delta("delta2", delta2))
    return _safe_floor(_chain_m_real(_finite("k1", k1), _finite("k2", k2), big_n, budget))


def _error_chain(k1: Any, k2: Any, big_n: int, m: int, eps1: Any, eps2: Any, smooth: Any) -> Any:
    """Forward error in the context; ``smooth`` is 6δ₁ + 6δ₂."""
    log_inv_eps_d = (k1 + k2 + _MP.log(eps1, 2) + _MP.log(eps2, 2) - big_n - 2 * m) / 4
    log_eps_q = (_LOG2_3 - log_inv_eps_d + m - 2) / 2
    return smooth + 2 * eps1 + 2 * eps2 + 2 * _MP.power(2, log_eps_q)


def dodis_error_chain(
    k1: float,
    k2: float,
    N: int,
    m: int,
    eps1: float,
    eps2: float,
    delta1: float,
    delta2: float,
) -> float:
    """Forward security error of K24 Theorems 2–4 for a given output length.

    Parameters
    ----------
    k1, k2
        Smooth min-entropy bounds of the two N-bit inputs.
    N
        Input length in bits, ``N >= 1``.
    m
        Output length, ``1 <= m <= N``.
    eps1, eps2
        Entropy losses ε₁, ε₂ of Theorem 4, each in (0, 1).
    delta1, delta2
        Smoothing parameters, ``>= 0``.

    Returns
    -------
    float
        ``6δ₁ + 6δ₂ + 2ε₁ + 2ε₂ + 2ε_q`` (may be ``inf`` if the chain is far out of range).

    Notes
    -----
    Spec §4: log₂(1/ε_D) = (k₁ + k₂ − log(1/ε₁) − log(1/ε₂) − N − 2m)/4 and
    ε_q = √(3 ε_D 2^{m−2}), evaluated in the log domain because 2^m overflows a float.
    """
    big_n = _check_count("N", N, 1)
    m = _check_count("m", m, 1)
    if m > big_n:
        raise ProtocolError(f"m must be <= N = {big_n}, got m = {m}", parameter="m")
    e1 = _MP.mpf(_check_unit("eps1", eps1))
    e2 = _MP.mpf(_check_unit("eps2", eps2))
    smooth = 6 * _check_delta("delta1", delta1) + 6 * _check_delta("delta2", delta2)
    return float(_error_chain(_finite("k1", k1), _finite("k2", k2), big_n, m, e1, e2, smooth))


def classical_dodis_max_m(k1: float, k2: float, N: int, eps: float) -> int:
    """Largest Dodis output length against classical side information only.

    Parameters
    ----------
    k1, k2
        Min-entropy bounds of the two N-bit inputs.
    N
        Input length in bits, ``N >= 1``.
    eps
        Extractor error, ``0 < eps < 1``.

    Returns
    -------
    int
        ``⌊(k₁ + k₂ − N − 2 log₂(1/ε))/2⌋``; may be <= 0.

    Notes
    -----
    Spec §4, special case of K24 Theorem 2 alone (ε_D = ε).
    """
    big_n = _check_count("N", N, 1)
    eps_mp = _MP.mpf(_check_unit("eps", eps))
    total = _finite("k1", k1) + _finite("k2", k2) - big_n + 2 * _MP.log(eps_mp, 2)
    return _safe_floor(total / 2)


def quantum_dodis_max_m(k1: float, k2: float, N: int, eps: float) -> int:
    """Largest quantum-proof Dodis output length without smoothing.

    Parameters
    ----------
    k1, k2
        Min-entropy bounds of the two N-bit inputs.
    N
        Input length in bits, ``N >= 1``.
    eps
        Extractor error, ``0 < eps < 1``.

    Returns
    -------
    int
        ``⌊(k₁ + k₂ − N − 8 log₂(1/ε) + 8 − 4 log₂ 3)/6⌋``; may be <= 0.

    Notes
    -----
    Spec §4, K24 Theorems 2 + 3 (ε = √(3 ε_D 2^{m−2}), thresholds k_i + log(1/ε_D)).
    """
    big_n = _check_count("N", N, 1)
    eps_mp = _MP.mpf(_check_unit("eps", eps))
    total = _finite("k1", k1) + _finite("k2", k2) - big_n + 8 * _MP.log(eps_mp, 2)
    return _safe_floor((total + 8 - 4 * _LOG2_3) / 6)
