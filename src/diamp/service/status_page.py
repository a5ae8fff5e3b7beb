"""``GET /status``: the service's state as one self-contained HTML page, and the beacon's state.

The page is rendered on the server from the same dictionary ``GET /v1/status`` returns
(:func:`full_status`), so the two agree by construction; there is no script, no external
style sheet, font or image, and every value is HTML-escaped (source URLs, reasons and run ids
come from configs and files). Each value shown from the status carries its JSON Pointer
(RFC 6901) in ``data-path``, so a test can read the page and compare it with ``/v1/status``.

Simulated or unknown provenance is labelled in a banner at the top and on every row it
concerns (design card, trust rules: nothing simulated passes for certified).
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from diamp.service.beacon.errors import BeaconStoreError
from diamp.service.beacon.provenance import SIMULATED_SOURCE_ID

if TYPE_CHECKING:
    from diamp.service.beacon.engine import BeaconEngine
    from diamp.service.beacon.store import PulseStore
    from diamp.service.core import Service

__all__ = ["PAGE_HEADERS", "REFRESH_SECONDS", "beacon_status", "full_status", "render_status_page"]

REFRESH_SECONDS = 10
"""The page reloads itself this often (``<meta http-equiv="refresh">``, no script)."""

PAGE_HEADERS = {
    "Cache-Control": "no-store",  # a snapshot of moving state: never reuse a stale one
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
}
"""Response headers of ``GET /status``: no script, nothing from outside, not framed, not cached."""


def beacon_status(beacon: BeaconEngine | PulseStore | None) -> dict[str, Any]:
    """The beacon's state, JSON-ready: ``{"enabled": false}`` without one.

    A worker process (``--workers``) only serves the store; ``running`` is then null (the
    clock runs in the first process). ``last_pulse.simulated`` reads the signed marker of
    :mod:`~diamp.service.beacon.provenance`: true (a simulated source), null (unknown
    provenance only) or false.
    """
    if beacon is None:
        return {"enabled": False}
    from diamp.service.beacon.engine import BeaconEngine

    out: dict[str, Any] = {"enabled": True, "running": None, "error": None}
    store = beacon.store if isinstance(beacon, BeaconEngine) else beacon
    if isinstance(beacon, BeaconEngine):
        out.update(
            running=beacon.running and beacon.error is None,
            error=None if beacon.error is None else str(beacon.error),
            period_seconds=beacon.period_ms / 1000,
            chain_index=beacon.chain.chain_index,
            base_uri=beacon.base_uri,
            pulses_missed=beacon.missed,
        )
    try:
        last = store.last_pulse()
    except BeaconStoreError as err:
        out["error"] = str(err)
        last = None
    out["last_pulse"] = None
    if last is not None:
        marked = last.external.source_id == SIMULATED_SOURCE_ID
        code = last.external.status_code
        out["last_pulse"] = {
            "chain_index": last.chain_index,
            "pulse_index": last.pulse_index,
            "time_unix": last.time_ms / 1000,
            "uri": last.uri,
            "simulated": (True if code & 1 else None) if marked else False,
        }
    return out


def full_status(service: Service, beacon: BeaconEngine | PulseStore | None) -> dict[str, Any]:
    """``service.status()`` with the beacon's state under ``"beacon"``."""
    status = service.status()
    status["beacon"] = beacon_status(beacon)
    return status


def _pointer(*parts: str) -> str:
    return "".join("/" + p.replace("~", "~0").replace("/", "~1") for p in parts)


def _text(value: Any) -> str:
    """How one value reads on the page (numbers exactly enough to compare: 6 digits)."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, list | tuple):
        return ", ".join(_text(v) for v in value)
    return str(value)


def _cell(value: Any, *path: str, tag: str = "td", cls: str = "") -> str:
    klass = f' class="{cls}"' if cls else ""
    where = html.escape(_pointer(*path), quote=True)
    return f'<{tag}{klass} data-path="{where}">{html.escape(_text(value))}</{tag}>'


def _provenance(simulated: bool | None, *path: str) -> str:
    label, cls = {True: ("SIMULATED", "sim"), None: ("UNKNOWN", "unknown")}.get(
        simulated, ("hardware", "ok")
    )
    where = html.escape(_pointer(*path), quote=True)
    return f'<td class="{cls}" data-path="{where}" data-value="{_text(simulated)}">{label}</td>'


def _table(head: Sequence[str], rows: Iterable[str]) -> str:
    th = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    body = "".join(f"<tr>{r}</tr>" for r in rows) or f'<tr><td colspan="{len(head)}">none</td></tr>'
    return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


def _tiers(status: dict[str, Any]) -> str:
    rows = []
    for name, t in status["tiers"].items():
        a = t["availability"]
        rows.append(
            _cell(name, "tiers", name, tag="th")
            + _cell(t["sources"], "tiers", name, "sources")
            + _provenance(t["simulated"], "tiers", name, "simulated")
            + _cell(
                t["available"], "tiers", name, "available", cls="ok" if t["available"] else "bad"
            )
            + _cell(t["pool_bytes"], "tiers", name, "pool_bytes", cls="num")
            + _cell(a["ratio"], "tiers", name, "availability", "ratio", cls="num")
            + _cell(t["problem"], "tiers", name, "problem")
        )
    head = ("tier", "sources", "provenance", "serving", "pool bytes", "availability", "problem")
    return _table(head, rows)


def _sources(status: dict[str, Any]) -> str:
    rows = []
    for name, s in status["sources"].items():
        h = s["min_entropy_per_sample"]
        p = ("sources", name)
        rows.append(
            _cell(name, *p, tag="th")
            + _cell(s["kind"], *p, "kind")
            + _provenance(s["simulated"], *p, "simulated")
            + _cell(s["origin"].get("basis", s["origin"].get("status")), *p, "origin",
                    "basis" if "basis" in s["origin"] else "status")
            + _cell(s["status"], *p, "status", cls="ok" if s["status"] == "ok" else "bad")
            + _cell(s["reason"], *p, "reason")
            + "".join(_cell(h[k], *p, "min_entropy_per_sample", k, cls="num")
                      for k in ("declared", "assessed", "in_force"))
            + _cell(s["bits_per_sample"], *p, "bits_per_sample", cls="num")
            + _cell(s["health_pass_rate"], *p, "health_pass_rate", cls="num")
            + _cell(s["quarantines"], *p, "quarantines", cls="num")
            + _cell(s["raw_samples"], *p, "raw_samples", cls="num")
            + _cell(s["output_bytes"], *p, "output_bytes", cls="num")
        )  # fmt: skip
    head = ("source", "kind", "provenance", "origin", "health", "reason", "H declared",
            "H assessed", "H in force", "bits/sample", "pass rate", "quarantines",
            "raw samples", "output bytes")  # fmt: skip
    return _table(head, rows)


def _when(unix: float) -> str:
    return dt.datetime.fromtimestamp(unix, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _quarantines(status: dict[str, Any]) -> str:
    events = [
        (q["time_unix"], name, i, q["reason"])
        for name, s in status["sources"].items()
        for i, q in enumerate(s.get("recent_quarantines", []))
    ]
    rows = [
        f"<td>{html.escape(_when(t))}</td>"
        + _cell(name, "sources", name, tag="th")
        + _cell(reason, "sources", name, "recent_quarantines", str(i), "reason")
        for t, name, i, reason in sorted(events, reverse=True)
    ]
    return _table(("time", "source", "reason"), rows)


def _beacon(status: dict[str, Any]) -> str:
    b = status["beacon"]
    if not b["enabled"]:
        return '<p data-path="/beacon/enabled" class="muted">no beacon on this service</p>'
    fields = [
        ("running", "running"), ("error", "error"), ("period_seconds", "period (s)"),
        ("chain_index", "chain"), ("base_uri", "base uri"), ("pulses_missed", "missed"),
    ]  # fmt: skip
    rows = [f"<th>{label}</th>" + _cell(b[k], "beacon", k) for k, label in fields if k in b]
    last = b["last_pulse"]
    if last is None:
        rows.append('<th>last pulse</th><td data-path="/beacon/last_pulse">none yet</td>')
    else:
        p = ("beacon", "last_pulse")
        rows += [
            "<th>last pulse</th>" + _cell(last["pulse_index"], *p, "pulse_index", cls="num"),
            f"<th>time</th><td>{html.escape(_when(last['time_unix']))}</td>",
            "<th>uri</th>" + _cell(last["uri"], *p, "uri"),
            "<th>provenance</th>" + _provenance(last["simulated"], *p, "simulated"),
        ]
    return _table(("beacon", ""), rows)


def _banner(status: dict[str, Any]) -> str:
    flags = {n: s["simulated"] for n, s in status["sources"].items()}
    last = (status.get("beacon") or {}).get("last_pulse") or {}
    sim = [n for n, f in flags.items() if f is True]
    unknown = [n for n, f in flags.items() if f is None]
    parts = []
    if sim or last.get("simulated") is True:
        names = html.escape(", ".join(sim) or "the beacon's source")
        parts.append(
            '<div class="banner sim" id="simulated">SIMULATED — NOT CERTIFIED: '
            f"{names}. Bytes and pulses from them are randomness of a simulation.</div>"
        )
    if unknown:
        parts.append(
            '<div class="banner unknown">UNKNOWN PROVENANCE: '
            f"{html.escape(', '.join(unknown))} (nothing says where their samples came from)."
            "</div>"
        )
    return "".join(parts)


_STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#1a1a1a;background:#fff}
h1{font-size:1.4em;margin:0 0 .4em}h2{font-size:1.1em;margin:1.4em 0 .4em}
table{border-collapse:collapse;margin:.2em 0}th,td{border:1px solid #ccc;padding:.25em .5em;
text-align:left;vertical-align:top}thead th{background:#eef1f5}.num{text-align:right;
font-variant-numeric:tabular-nums}.ok{color:#17602a}.bad{color:#a30d0d;font-weight:bold}
.sim{background:#fde2b8;color:#7a3b00;font-weight:bold}.unknown{background:#eadcf7;
color:#4b1d7a;font-weight:bold}.banner{padding:.7em 1em;margin:.5em 0;font-size:1.1em;
border:2px solid currentColor}.muted{color:#666}
"""


def render_status_page(status: dict[str, Any]) -> str:
    """The HTML page for a :func:`full_status` dictionary (self-contained, every value escaped)."""
    seed = status["extractor_seed"]
    summary = _table(("service", ""), [
        "<th>uptime (s)</th>" + _cell(status["uptime_seconds"], "uptime_seconds", cls="num"),
        "<th>default tier</th>" + _cell(status["default_tier"], "default_tier"),
        "<th>pipeline error</th>" + _cell(status["pipeline_error"], "pipeline_error"),
        "<th>extractor seed</th>" + _cell(seed["kind"], "extractor_seed", "kind"),
    ])  # fmt: skip
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="refresh" content="{REFRESH_SECONDS}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>diamp status</title><style>{_STYLE}</style></head><body>"
        "<h1>diamp randomness service</h1>"
        f"{_banner(status)}{summary}"
        f"<h2>Tiers</h2>{_tiers(status)}"
        f"<h2>Sources: health and min-entropy per sample (bits)</h2>{_sources(status)}"
        f"<h2>Beacon</h2>{_beacon(status)}"
        f"<h2>Recent quarantines</h2>{_quarantines(status)}"
        '<p class="muted">The same data as JSON: <a href="/v1/status">/v1/status</a>. '
        f"This page reloads every {REFRESH_SECONDS} s.</p></body></html>\n"
    )
