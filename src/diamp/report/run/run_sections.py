"""Report sections about how the run was taken: timing (locality) checks and excluded blocks."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from diamp.report.run.model import RunData
from diamp.report.run.page import Raw, Section, esc, kv_table, table

__all__ = ["excluded_section", "timing_section"]


def _map(doc: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = doc.get(key)
    return value if isinstance(value, Mapping) else {}


def _ns(value: Any) -> str:
    return f"{value:.2f} ns" if isinstance(value, int | float) else "not recorded"


def _checks_table(checks: list[Any]) -> str:
    rows = []
    for check in checks:
        if not isinstance(check, Mapping):
            continue
        edges = _map(check, "edges")
        jitter = sorted(
            name for name, e in edges.items() if isinstance(e, Mapping) and e.get("jitter")
        )
        offset = check.get("offset_ns")
        rows.append(
            [
                check.get("label", "?"),
                f"{check.get('time_h', float('nan')):.2f}",
                "—" if not isinstance(offset, int | float) else f"{offset:.3f}",
                Raw('<span class="bad">' + esc(", ".join(jitter)) + "</span>")
                if jitter
                else "none",
            ]
        )
    return table(["check", "time (h)", "inter-node offset (ns)", "jitter on"], rows)


def _cls(verdict: str) -> str:
    return "ok" if verdict == "pass" else "bad"


def timing_section(run: RunData) -> Section | None:
    """Verdict, time budget, drift window and the checks of the locality verification.

    ``None`` when the run had no timing section (nothing to show).
    """
    timing = run.certificate.timing
    if timing is None:
        return None
    budget, drift = _map(timing, "budget"), _map(timing, "drift") or None
    verdict = str(timing.get("verdict", "?"))
    reasons = timing.get("reasons") or []
    ab, ba = budget.get("t_protocol_ab_ns"), budget.get("t_protocol_ba_ns")
    rows: list[tuple[str, object]] = [
        ("verdict", Raw(f'<span class="{_cls(verdict)}">{esc(verdict)}</span>')),
        ("reasons", "; ".join(map(str, reasons)) or "none"),
        ("t_protocol A→B / B→A", f"{_ns(ab)} / {_ns(ba)}"),
        ("t_d = d/c", _ns(budget.get("t_d_ns"))),
        ("margin A→B / B→A", " / ".join(_ns(budget.get(f"margin_{d}_ns")) for d in ("ab", "ba"))),
    ]
    if drift is not None:
        rows.append(
            (
                "drift window",
                f"{drift.get('limiting_device')} limits the configuration to "
                f"{drift.get('safe_hours', float('nan')):.1f} h; elapsed "
                f"{drift.get('elapsed_hours', float('nan')):.1f} h",
            )
        )
    checks = timing.get("checks")
    checks = checks if isinstance(checks, list) else []
    body = (
        "<p>Locality (timing) verification recorded in the certificate; "
        "<code>diamp timing report</code> plots the traces in <code>timing.h5</code>.</p>"
        + kv_table(rows)
        + _checks_table(checks)
    )
    data = {
        "verdict": verdict,
        "reasons": list(map(str, reasons)),
        "checks": len(checks),
        "budget": dict(budget),
    }
    return Section("timing", "Timing (locality) checks", body, data)


def excluded_section(run: RunData) -> Section | None:
    """The blocks left out of estimation and extraction (timing policy "exclude"), if any."""
    blocks = run.certificate.excluded_blocks
    if not blocks:
        return None
    rule = run.certificate.raw.get("excluded_blocks", {}).get("rule", "")
    body = (
        f"<p>{len(blocks)} block(s) excluded: {esc(', '.join(map(str, blocks)))}. "
        f"{esc(rule)}. Their trials stay in the store but are not in the counts, the series "
        "or the key above.</p>"
    )
    return Section("excluded", "Excluded blocks", body, {"blocks": list(blocks), "rule": rule})
