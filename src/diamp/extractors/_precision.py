"""Shared high-precision context and parameter checks for security-relevant numbers.

Everything that is floored into a bit count (output lengths, eta) is evaluated in one private
50-digit mpmath context, so that a floor is never wrong by a unit because of float round-off.
"""

from __future__ import annotations

import numbers
from typing import Any, Final

import mpmath

from diamp.errors import ProtocolError

__all__ = ["WORKING_DPS", "_MP", "_check_count", "_check_unit"]

WORKING_DPS: Final = 50
"""Decimal digits of the private mpmath context used for η and everything that is floored."""

_MP: Final[Any] = mpmath.MPContext()
_MP.dps = WORKING_DPS


def _check_count(name: str, value: int, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ProtocolError(f"{name} must be an integer, got {value!r}", parameter=name)
    if value < minimum:
        raise ProtocolError(f"{name} must be >= {minimum}, got {name} = {value}", parameter=name)
    return int(value)


def _check_unit(name: str, value: float) -> float:
    """Check 0 < value < 1 for a float security parameter."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ProtocolError(f"{name} must be a real number, got {value!r}", parameter=name)
    value = float(value)
    if not 0.0 < value < 1.0:
        raise ProtocolError(f"{name} must satisfy 0 < {name} < 1, got {value!r}", parameter=name)
    return value
