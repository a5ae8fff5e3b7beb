"""Timing report: inter-node and per-node stability plots and the budget table (HTML).

The plots follow Figs. 7–8 of seed 003: for every device, the early and late threshold
crossings of its envelope at each timing check over the run, per node; the inter-node
offset per check; and the time-budget table. The page is self-contained (PNG images
embedded as base64) so it can be archived with the run.
"""

from __future__ import annotations

import base64
import html
from collections import defaultdict
from typing import TYPE_CHECKING

from diamp.report.plotting import figure_png, use_agg
from diamp.timing.budget import BUDGET_ROWS

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from diamp.timing.verify import TimingVerification

__all__ = ["render_timing_report"]


def _png(fig: Figure) -> str:
    return base64.b64encode(figure_png(fig, dpi=110)).decode()


def _stability_figure(result: TimingVerification) -> str:
    use_agg()
    import matplotlib.pyplot as plt

    series: dict[str, list[tuple[float, float, float, bool]]] = defaultdict(list)
    for check in result.checks:
        for name, edge in check.edges:
            series[name].append((check.time_h, edge.early_ns, edge.late_ns, edge.jitter))
    names = sorted(series)
    fig, axes = plt.subplots(
        max(len(names), 1), 1, figsize=(8, 1.9 * max(len(names), 1)), sharex=True, squeeze=False
    )
    for ax, name in zip(axes[:, 0], names, strict=False):
        points = series[name]
        t = [p[0] for p in points]
        early = [p[1] for p in points]
        late = [p[2] for p in points]
        ax.plot(t, late, "o-", ms=3, label="late (low envelope)")
        ax.plot(t, early, "s-", ms=3, label="early (high envelope)")
        bad = [p for p in points if p[3]]
        if bad:
            ax.plot([p[0] for p in bad], [p[2] for p in bad], "rx", ms=9, label="jitter")
        ax.set_ylabel(f"{name}\n(ns)", fontsize=8)
        ax.ticklabel_format(axis="y", useOffset=False)
        ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=7, loc="upper right")
    axes[-1, 0].set_xlabel("time since synchronisation (h)")
    fig.suptitle("Threshold crossings per timing check (cf. seed 003 Figs. 7-8)")
    return _png(fig)


def _offset_figure(result: TimingVerification) -> str | None:
    points = [(c.time_h, c.offset_ns) for c in result.checks if c.offset_ns is not None]
    if not points:
        return None
    use_agg()
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 2.4))
    ax.plot([p[0] for p in points], [p[1] for p in points], "o-", ms=3)
    declared = float(result.budget.ab.inter_node_offset_ns)
    ax.axhline(declared, color="grey", ls="--", lw=1, label=f"used in budget: {declared:.3f} ns")
    ax.set_xlabel("time since synchronisation (h)")
    ax.set_ylabel("t_0,B − t_0,A (ns)")
    ax.set_title("Inter-node synchronisation")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return _png(fig)


def _budget_table(result: TimingVerification) -> str:
    data = result.budget.to_dict()
    seg = data["segments"]
    body = "".join(
        f"<tr><td>{html.escape(label)}</td><td>{seg['A->B'][key]:.2f}</td>"
        f"<td>{seg['B->A'][key]:.2f}</td></tr>"
        for label, key in BUDGET_ROWS
    )
    body += (
        f"<tr class=total><td>t_protocol</td><td>{data['t_protocol_ab_ns']:.2f}</td>"
        f"<td>{data['t_protocol_ba_ns']:.2f}</td></tr>"
        f"<tr><td>t_d = d/c</td><td colspan=2>{data['t_d_ns']:.2f}</td></tr>"
        f"<tr><td>margin</td><td>{data['margin_ab_ns']:.2f}</td>"
        f"<td>{data['margin_ba_ns']:.2f}</td></tr>"
    )
    return f"<table><tr><th>segment (ns)</th><th>A → B</th><th>B → A</th></tr>{body}</table>"


def render_timing_report(result: TimingVerification, title: str) -> str:
    """A self-contained HTML page for a verification result."""
    colour = "#1a7f37" if result.verdict == "pass" else "#c62828"
    reasons = "".join(f"<li>{html.escape(r)}</li>" for r in result.reasons) or "<li>none</li>"
    drift = result.drift
    drift_line = (
        ""
        if drift is None
        else f"<p>Drift: {html.escape(drift.limiting_device)} limits the configuration to "
        f"{drift.safe_hours:.1f} h ({drift.safe_hours / 24:.2f} days); elapsed "
        f"{drift.elapsed_hours:.1f} h.</p>"
    )
    stability = _stability_figure(result)
    stability_img = f'<img alt="crossings per check" src="data:image/png;base64,{stability}">'
    offset = _offset_figure(result)
    offset_img = (
        ""
        if offset is None
        else f'<img alt="inter-node offset" src="data:image/png;base64,{offset}">'
    )
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:2em auto}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:.25em .6em;text-align:right}}
td:first-child{{text-align:left}}tr.total{{font-weight:bold}}img{{max-width:100%}}</style></head>
<body><h1>{html.escape(title)}</h1>
<p>Verdict: <b style="color:{colour}">{result.verdict}</b> ({len(result.checks)} timing checks)</p>
<h2>Reasons</h2><ul>{reasons}</ul>
<h2>Time budget</h2>{_budget_table(result)}{drift_line}
<h2>Stability</h2>{stability_img}
{offset_img}
</body></html>
"""
