"""Root search shared by the compression estimate and the predictors' P_local (private).

Both solve ``f(p) = target`` for a function decreasing in p on ``[ldomain, hdomain]`` by
bisection until the value equals the target to a relative epsilon (or 4 ULPs), with the
reference tool's invariant checks: the tool's choices on a failed invariant are reproduced
(the ``on_domain_failure`` value, otherwise the upper bound), so that the same p is found.
"""

from __future__ import annotations

import math
import struct
import sys
from collections.abc import Callable

__all__ = ["ZALPHA", "bisect_decreasing", "rel_epsilon_equal"]

#: Upper 99.5 % point of the standard normal distribution, as written in the tool.
ZALPHA = 2.5758293035489008

_DBL_MIN = sys.float_info.min
_DBL_EPS = sys.float_info.epsilon
_ITERMAX = 1076


def _ordinal(x: float) -> int:
    return int(struct.unpack("<q", struct.pack("<d", x))[0])


def rel_epsilon_equal(a: float, b: float, max_abs: float, max_rel: float, max_ulp: int) -> bool:
    """Relative closeness, falling back to an absolute or ULP distance where relative fails.

    Notes
    -----
    The closeness test of the reference tool (``relEpsilonEqual``), after Knuth, TAOCP II
    §4.2.2: relative difference at most ``max_rel`` unless a value is subnormal, else
    absolute ``max_abs``, else at most ``max_ulp`` representable doubles apart.
    """
    if math.isnan(a) or math.isnan(b):
        return False
    if a == b:
        return True
    if math.isinf(a) or math.isinf(b):
        return False
    if abs(a) > abs(b):
        a, b = b, a
    abs_a, abs_b = abs(a), abs(b)
    diff = abs(b - a)
    if abs_a < _DBL_MIN or diff < _DBL_MIN or math.isinf(diff) or abs_b * max_rel < _DBL_MIN:
        return diff <= max_abs
    if diff <= abs_b * max_rel:
        return True
    if math.copysign(1.0, a) != math.copysign(1.0, b):
        return False
    return _ordinal(abs_b) - _ordinal(abs_a) <= max_ulp


def _closed(x: float, a: float, b: float) -> bool:
    return (b <= x <= a) if a > b else (a <= x <= b)


def _open(x: float, a: float, b: float) -> bool:
    return (b < x < a) if a > b else (a < x < b)


def bisect_decreasing(
    f: Callable[[float], float],
    target: float,
    ldomain: float,
    hdomain: float,
    on_domain_failure: float,
) -> float:
    """Find p in ``[ldomain, hdomain]`` with ``f(p) = target`` for f decreasing in p.

    Parameters
    ----------
    f
        The function, decreasing in p.
    target
        The value sought.
    ldomain, hdomain
        The search domain.
    on_domain_failure
        Returned when the bounds leave the domain or the target leaves the bracketed values
        (the tool returns ``ldomain`` for the compression estimate, ``hdomain`` for P_local).

    Returns
    -------
    float
        The p found (``hbound`` on a cycle or a non-monotone step, as the tool does).
    """
    lbound, hbound = ldomain, hdomain
    lvalue, hvalue = math.inf, -math.inf
    p = (lbound + hbound) / 2.0
    value = f(p)
    for _ in range(_ITERMAX):
        if rel_epsilon_equal(value, target, _DBL_MIN, _DBL_EPS, 4):
            break
        if target < value:
            lbound, lvalue = p, value
        else:
            hbound, hvalue = p, value
        if lbound >= hbound:
            return min(max(lbound, hbound), hdomain)
        if not (_closed(lbound, ldomain, hdomain) and _closed(hbound, ldomain, hdomain)):
            return on_domain_failure
        if not _closed(target, lvalue, hvalue):
            return on_domain_failure
        last = p
        p = (lbound + hbound) / 2.0
        if not _open(p, lbound, hbound) or last == p:
            return hbound
        value = f(p)
        if not _closed(value, lvalue, hvalue):
            return hbound
    return p
