"""Report sections about the Bell test: summary, counts, CHSH/S_μ series (Fig. 4 of seed 003).

The counts are re-read here with the conventions of DESIGN.md (index order a, b, x, y;
E_xy = [N(00xy) + N(11xy) − N(01xy) − N(10xy)] / N(xy); S = E00 + E01 + E10 − E11;
S_μ = μ_min P(0000) − μ_max (P(0101) + P(1010) + P(0011)), μ_min = (½ − μ)², μ_max = (½ + μ)²)
and compared with the certificate's CHSH and exact S_μ,obs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from fractions import Fraction
from typing import Any

from diamp.protocol.certificate import CertificateView
from diamp.protocol.epsilon import eps_statement
from diamp.protocol.provenance import summary as provenance_summary
from diamp.report.run.figures import series_figure
from diamp.report.run.model import RunData
from diamp.report.run.page import Check, Raw, Section, esc, img, kv_table, table

__all__ = [
    "chsh_from_counts",
    "counts_section",
    "s_mu_from_counts",
    "series_section",
    "summary_section",
]

TSIRELSON = 2.0 * math.sqrt(2.0)
"""The quantum bound of CHSH, 2√2."""


def chsh_from_counts(counts: Mapping[str, int]) -> float:
    """CHSH S from the 16 counts keyed "abxy" (nan if an input pair never occurred)."""
    total = 0.0
    for x, y, sign in ((0, 0, 1), (0, 1, 1), (1, 0, 1), (1, 1, -1)):
        same = counts[f"00{x}{y}"] + counts[f"11{x}{y}"]
        diff = counts[f"01{x}{y}"] + counts[f"10{x}{y}"]
        if same + diff == 0:
            return math.nan
        total += sign * (same - diff) / (same + diff)
    return total


def s_mu_from_counts(counts: Mapping[str, int], mu: Fraction) -> Fraction:
    """Exact S_μ from the counts keyed "abxy" (seed 003 eq. 4 with joint frequencies)."""
    n = sum(counts.values())
    mu_min, mu_max = (Fraction(1, 2) - mu) ** 2, (Fraction(1, 2) + mu) ** 2
    return (
        mu_min * counts["0000"] - mu_max * (counts["0101"] + counts["1010"] + counts["0011"])
    ) / n


def _fmt(value: float | None, digits: int = 6) -> str:
    return "undefined" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def summary_section(run: RunData) -> Section:
    """Run id, status (and why it aborted), n, CHSH, S_μ, μ, η and the certified length m."""
    cert = run.certificate
    status = Raw(
        f'<span class="status-{esc(cert.status)}">{esc(cert.status)}</span>'
        + ("" if cert.abort_reason is None else f": {esc(cert.abort_reason)}")
    )
    raw = cert.raw
    rows: list[tuple[str, object]] = [
        ("provenance", provenance_summary(cert.provenance)),
        ("run id", cert.run_id),
        ("status", status),
        ("trials n", f"{cert.n_trials:,}"),
        ("CHSH S", _fmt(cert.chsh)),
        ("S_mu,obs", f"{float(cert.s_mu_obs):.9g} (exact: {cert.s_mu_obs})"),
        ("mu (SV bias bound)", f"{raw.get('mu')} = {cert.mu}"),
        ("eta", "not computed" if cert.eta is None else f"{cert.eta:.8f} bits/trial"),
        ("certified m", f"{cert.m:,} bits ({cert.bound} bound)"),
        (
            "epsilon",
            eps_statement(cert.bound, cert.eps, cert.chain_error if cert.m else math.nan),
        ),
        ("key SHA-256", cert.output_sha256 or "no key (run aborted)"),
        ("software", f"diamp {raw.get('software', {}).get('version', '?')}"),
        ("started / finished (UTC)", _timestamps(raw)),
    ]
    data: dict[str, Any] = {
        "provenance": dict(cert.provenance),
        "run_id": cert.run_id,
        "status": cert.status,
        "abort_reason": cert.abort_reason,
        "n_trials": cert.n_trials,
        "chsh": cert.chsh,
        "s_mu_obs": str(cert.s_mu_obs),
        "s_mu_obs_float": float(cert.s_mu_obs),
        "mu": str(cert.mu),
        "eta": cert.eta,
        "m": cert.m,
        "key_sha256": cert.output_sha256,
    }
    return Section("summary", "Summary", kv_table(rows), data)


def _timestamps(raw: Mapping[str, Any]) -> str:
    stamps = raw.get("timestamps")
    if not isinstance(stamps, Mapping):
        return "not recorded"
    return f"{stamps.get('started_utc')} / {stamps.get('finished_utc')}"


def _counts_checks(cert: CertificateView) -> tuple[Check, ...]:
    total = sum(cert.counts.values())
    chsh = chsh_from_counts(cert.counts)
    s_mu = s_mu_from_counts(cert.counts, cert.mu) if total else None
    chsh_ok = (
        cert.chsh is not None and math.isfinite(chsh) and abs(chsh - cert.chsh) <= 1e-12 * abs(chsh)
    ) or (cert.chsh is None and not math.isfinite(chsh))
    seg_total = sum(p.n_trials for p in cert.segments)
    return (
        Check("sum of the counts = n", total == cert.n_trials, f"{total:,} vs {cert.n_trials:,}"),
        Check("CHSH from the counts", chsh_ok, f"{chsh!r} vs certificate {cert.chsh!r}"),
        Check(
            "S_mu,obs from the counts (exact)",
            s_mu == cert.s_mu_obs,
            f"{s_mu} vs certificate {cert.s_mu_obs}",
        ),
        Check(
            "trials in the series = n",
            seg_total == cert.n_trials,
            f"{seg_total:,} vs {cert.n_trials:,}",
        ),
    )


def counts_section(run: RunData) -> Section:
    """N(a, b, x, y) as a table: one row per input pair (x, y), the outcomes (a, b) across."""
    cert = run.certificate
    rows = []
    for x in (0, 1):
        for y in (0, 1):
            cells = [cert.counts[f"{a}{b}{x}{y}"] for a in (0, 1) for b in (0, 1)]
            n_xy = sum(cells)
            same, diff = cells[0] + cells[3], cells[1] + cells[2]
            e_xy = (same - diff) / n_xy if n_xy else math.nan
            rows.append([f"x={x}, y={y}", *(f"{c:,}" for c in cells), f"{n_xy:,}", _fmt(e_xy)])
    header = ["inputs", "a=0 b=0", "a=0 b=1", "a=1 b=0", "a=1 b=1", "N(xy)", "E_xy"]
    body = (
        "<p>Counts N(a, b, x, y) of the trials used for estimation (excluded blocks are not "
        "counted); CHSH S = E<sub>00</sub> + E<sub>01</sub> + E<sub>10</sub> − E<sub>11</sub>. "
        "Recomputed from these counts:</p>" + table(header, rows, "counts")
    )
    return Section("counts", "Counts", body, {"counts": dict(cert.counts)}, _counts_checks(cert))


def series_section(run: RunData) -> Section:
    """Fig. 4 analogue: CHSH and S_μ per segment, their averages and the bounds."""
    cert = run.certificate
    threshold = cert.protocol.get("s_mu_threshold")
    png = series_figure(
        [p.chsh for p in cert.segments],
        [p.s_mu for p in cert.segments],
        chsh_mean=cert.chsh,
        s_mu_mean=float(cert.s_mu_obs),
        s_mu_threshold=None if threshold is None else float(Fraction(str(threshold))),
        segment_trials=cert.segment_trials,
    )
    partial = [i for i, p in enumerate(cert.segments) if p.n_trials != cert.segment_trials]
    note = (
        ""
        if not partial
        else f"<p>Segments {esc(partial)} hold fewer than {cert.segment_trials:,} trials.</p>"
    )
    body = (
        f"<p>Each point is one segment of {cert.segment_trials:,} trials (2<sup>"
        f"{math.log2(cert.segment_trials):.4g}</sup>), as in seed 003 Fig. 4. Red: the average "
        "over the whole run (the certificate's values); grey: the classical bounds S = 2 and "
        "S<sub>μ</sub> = 0; dashed: the quantum bound 2√2 of CHSH"
        + ("" if threshold is None else f"; dotted: the threshold S<sub>μ</sub> = {esc(threshold)}")
        + ".</p>"
        + img(png, "CHSH and S_mu per segment")
        + note
    )
    data = {
        "segment_trials": cert.segment_trials,
        "chsh": [p.chsh for p in cert.segments],
        "s_mu": [p.s_mu for p in cert.segments],
        "chsh_average": cert.chsh,
        "s_mu_average": float(cert.s_mu_obs),
        "chsh_classical_bound": 2.0,
        "chsh_quantum_bound": TSIRELSON,
        "s_mu_classical_bound": 0.0,
    }
    return Section("series", "CHSH and S_mu over the run", body, data)
