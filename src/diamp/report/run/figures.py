"""Matplotlib figures of the run report, returned as embeddable PNG ``data:`` URIs.

matplotlib is imported inside the functions (Agg backend, :mod:`diamp.report.plotting`) so
that importing the report does not slow down ``diamp --help``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from diamp.report.plotting import figure_png, use_agg
from diamp.report.run.png import data_uri

__all__ = ["series_figure"]

_AVERAGE = "#c62828"
_CLASSICAL = "#888888"


def _values(points: Sequence[float | None]) -> list[float]:
    return [math.nan if p is None else p for p in points]


def series_figure(
    chsh: Sequence[float | None],
    s_mu: Sequence[float | None],
    *,
    chsh_mean: float | None,
    s_mu_mean: float,
    s_mu_threshold: float | None,
    segment_trials: int,
) -> str:
    """CHSH and S_μ per segment over the run, as seed 003 Fig. 4 (PNG ``data:`` URI).

    Parameters
    ----------
    chsh, s_mu
        The value of each segment (``None`` where undefined).
    chsh_mean, s_mu_mean
        The values over the whole run (the red lines).
    s_mu_threshold
        The S_μ threshold fixed before the run (dotted), if any.
    segment_trials
        Trials per segment (axis label).
    """
    use_agg()
    import matplotlib.pyplot as plt

    index = list(range(1, len(chsh) + 1))
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 5.2), sharex=True)
    top.plot(index, _values(chsh), "o", ms=4, color="#1f4e9c", label="per segment")
    if chsh_mean is not None and math.isfinite(chsh_mean):
        top.axhline(chsh_mean, color=_AVERAGE, lw=1.2, label=f"average {chsh_mean:.4f}")
    top.axhline(2.0, color=_CLASSICAL, lw=1.2, label="classical bound 2")
    top.axhline(2 * math.sqrt(2), color="#444444", lw=1, ls="--", label="quantum bound 2√2")
    top.set_ylabel("CHSH S")
    bottom.plot(index, _values(s_mu), "o", ms=4, color="#1f4e9c", label="per segment")
    bottom.axhline(s_mu_mean, color=_AVERAGE, lw=1.2, label=f"average {s_mu_mean:.5g}")
    bottom.axhline(0.0, color=_CLASSICAL, lw=1.2, label="classical bound 0")
    if s_mu_threshold is not None:
        bottom.axhline(s_mu_threshold, color="#444444", lw=1, ls=":", label="threshold")
    bottom.set_ylabel("S_μ")
    bottom.set_xlabel(f"segment ({segment_trials:,} trials each)")
    for ax in (top, bottom):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.suptitle("CHSH and MDL value per segment (cf. seed 003 Fig. 4)")
    return data_uri(figure_png(fig, dpi=100))
