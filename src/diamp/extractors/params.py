"""Validated extractor parameters: ``from_params`` returns a frozen choice or raises.

Each constructor takes the input lengths, the (smooth) min-entropies and the target error,
computes the longest output, then computes the error of that choice *forward* and checks it
is at most epsilon: a parameter object exists only if its guarantee holds.

* Dodis (spec §4): classical (seed 003 Theorem 2), quantum-proof in the Markov model
  (Theorems 2 + 3) and with smooth min-entropies (Theorems 2–4, equal error split).
* Toeplitz by the leftover hash lemma (seed 000 eq. 3): m = ⌊k − 2 log₂(1/ε)⌋ for an n-bit
  raw string with min-entropy k (= n·H_min per bit), seed of n + m − 1 bits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from diamp.errors import ExtractionError
from diamp.extractors._precision import _MP, _check_count, _check_unit
from diamp.extractors.chain import (
    _safe_floor,
    classical_dodis_max_m,
    dodis_error_chain,
    dodis_max_m,
    quantum_dodis_max_m,
)

__all__ = ["DodisParams", "ToeplitzParams"]

DodisModel = Literal["classical", "quantum", "quantum-smooth"]


def _log2_error_classical(k1: float, k2: float, n: int, m: int) -> Any:
    """log₂ ε_D = −(k₁ + k₂ − N − 2m)/2 (Theorem 2)."""
    return -(_MP.mpf(k1) + _MP.mpf(k2) - n - 2 * m) / 2


def _log2_error_quantum(k1: float, k2: float, n: int, m: int) -> Any:
    """log₂ of √(3 ε_D 2^{m−2}) with ε_D from thresholds k_i − log(1/ε_D) (Theorems 2 + 3)."""
    log_inv_eps_d = (_MP.mpf(k1) + _MP.mpf(k2) - n - 2 * m) / 4
    return (_MP.log(3, 2) - log_inv_eps_d + m - 2) / 2


@dataclass(frozen=True)
class DodisParams:
    """A checked Dodis extractor choice: N-bit inputs, m output bits, total error ≤ eps."""

    n: int
    m: int
    k1: float
    k2: float
    eps: float
    model: DodisModel
    delta1: float
    delta2: float
    error: float

    @classmethod
    def from_params(
        cls,
        n: int,
        k1: float,
        k2: float,
        eps: float,
        *,
        model: DodisModel = "quantum-smooth",
        delta1: float = 0.0,
        delta2: float = 0.0,
    ) -> DodisParams:
        """The longest output for min-entropies (k1, k2) of N-bit inputs at error eps.

        Raises
        ------
        ExtractionError
            If no output bit can be extracted, or the forward error exceeds eps.
        """
        n = _check_count("n", n, 1)
        eps = _check_unit("eps", eps)
        if model == "classical":
            m = classical_dodis_max_m(k1, k2, n, eps)
            log_error = _log2_error_classical(k1, k2, n, m) if m >= 1 else None
        elif model == "quantum":
            m = quantum_dodis_max_m(k1, k2, n, eps)
            log_error = _log2_error_quantum(k1, k2, n, m) if m >= 1 else None
        elif model == "quantum-smooth":
            m = dodis_max_m(k1, k2, n, eps, delta1, delta2)
            log_error = None
        else:
            raise ExtractionError(f"unknown Dodis model {model!r}")
        if m < 1:
            raise ExtractionError(
                f"no output: min-entropies k1 = {k1:.6g}, k2 = {k2:.6g} of {n}-bit inputs give "
                f"m = {m} at eps = {eps:g} ({model})"
            )
        m = min(m, n)
        if model == "quantum-smooth":
            split = (eps - 6 * delta1 - 6 * delta2) / 6
            error = dodis_error_chain(k1, k2, n, m, split, split, delta1, delta2)
        else:
            error = float(_MP.power(2, log_error))
        if not error <= eps:
            raise ExtractionError(f"forward error {error:.3g} exceeds eps = {eps:g} at m = {m}")
        return cls(n, m, float(k1), float(k2), eps, model, float(delta1), float(delta2), error)


@dataclass(frozen=True)
class ToeplitzParams:
    """A checked Toeplitz hashing choice: n raw bits, m outputs, seed n + m − 1, error ≤ eps."""

    n: int
    m: int
    seed_bits: int
    min_entropy: float
    eps: float
    error: float

    @classmethod
    def from_params(cls, n: int, min_entropy: float, eps: float) -> ToeplitzParams:
        """Leftover hash lemma: m = ⌊k − 2 log₂(1/ε)⌋ for min-entropy k of the n raw bits.

        Raises
        ------
        ExtractionError
            If k is outside [0, n], no output bit results, or the forward error
            2^{−(k − m)/2} exceeds eps.
        """
        n = _check_count("n", n, 1)
        eps = _check_unit("eps", eps)
        if not 0 <= min_entropy <= n:
            raise ExtractionError(f"min-entropy must lie in [0, n = {n}], found {min_entropy}")
        k = _MP.mpf(min_entropy)
        m = _safe_floor(k - 2 * _MP.log(1 / _MP.mpf(eps), 2))
        if m < 1:
            raise ExtractionError(
                f"no output: min-entropy {min_entropy:.6g} leaves m = {m} at eps = {eps:g}"
            )
        error = float(_MP.power(2, -(k - m) / 2))
        if not error <= eps:
            raise ExtractionError(f"forward error {error:.3g} exceeds eps = {eps:g} at m = {m}")
        return cls(n, m, n + m - 1, float(min_entropy), eps, error)
