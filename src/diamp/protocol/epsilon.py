"""What a run's epsilon means, in one sentence (light: no numerics imported).

The strict bound certifies ε; the paper bound reproduces K24 eq. (18), whose true error is the
strict chain's error at its m (spec §11c). Certificates, the terminal summary and the report
all say it with :func:`eps_statement`.
"""

from __future__ import annotations

import math

__all__ = ["eps_statement"]


def eps_statement(bound: str, eps: float, chain_error: float | None) -> str:
    """What ε means for an output of ``bound``: certified (strict) or a reproduction (paper).

    ``chain_error`` is NaN when m = 0 and None when it was not recorded (old certificates).
    """
    if chain_error is None:
        shown = "not recorded"
    elif math.isnan(chain_error):
        shown = "undefined (m = 0)"
    else:
        shown = f"{chain_error:.3g}"
    if bound == "strict":
        return f"certified: the strict chain's error at m is {shown} <= eps = {eps:.3g}"
    return (
        f"NOT a certified epsilon: the paper bound reproduces K24 eq. (18); its true error "
        f"(strict chain at m) is {shown}, not eps = {eps:.3g} (spec §11c)"
    )
