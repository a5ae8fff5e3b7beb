"""Exact rationals from user input: decimals stay the decimals the user typed."""

from __future__ import annotations

import math
import numbers
from fractions import Fraction

__all__ = ["exact_fraction"]


def exact_fraction(value: object) -> Fraction:
    """Convert a parameter to an exact rational.

    Parameters
    ----------
    value
        A decimal or ``p/q`` string (``"0.0075"``, ``"1/16"``, ``"1e-3"``), an integer, a
        :class:`~fractions.Fraction`, or a ``float``. A float goes through its shortest
        ``repr``, so ``0.0075`` becomes ``3/400`` (the decimal the user typed), not the
        binary value ``0.007499999999999999722…``.

    Raises
    ------
    ValueError
        For booleans, NaN, infinities, unparsable strings and unsupported types.
    """
    if isinstance(value, bool):
        raise ValueError(f"expected a number, found the boolean {value!r}")
    if isinstance(value, Fraction):
        return value
    if isinstance(value, numbers.Integral):
        return Fraction(int(value))
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"expected a finite number, found {value!r}")
        return Fraction(repr(float(value)))  # float(): numpy scalars repr as np.float64(...)
    if isinstance(value, str):
        try:
            return Fraction(value.strip())
        except (ValueError, ZeroDivisionError) as err:
            raise ValueError(f"expected a decimal or p/q number, found {value!r}") from err
    raise ValueError(f"expected a number, found {type(value).__name__}")
