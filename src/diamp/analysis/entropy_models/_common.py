"""Parameter checks and constants shared by the QRNG entropy models."""

from __future__ import annotations

import math
import numbers
from typing import Final

from diamp.errors import ConfigError

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
