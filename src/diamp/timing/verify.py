"""Timing verification: budget, jitter, synchronisation and drift in one frozen result.

``verify_timing`` takes a timing section and the envelope traces of a series of timing
checks and decides whether the run's timing can be certified:

* **Jitter.** Every ``edge`` trace of a device declared in the section is checked: a spread
  of the envelope crossings reaching the device's granularity is jitter (seed 003 Suppl. III).
* **Synchronisation.** With a ``reference`` and a ``remote`` trace at both nodes, each node
  measures τ = (arrival of the other node's pulse) − (local reference); the cables are the
  same both ways, so t_0,B − t_0,A = (τ_A − τ_B)/2. The budget uses the larger of the measured
  and declared offsets.
* **Budget.** :func:`diamp.timing.budget.timing_budget` with that offset.
* **Drift.** The elapsed time of the last check against the drift window.

The verdict is ``pass`` only if every part passes; ``reasons`` says what failed. Nothing
here reads files: the CLI and the controller pass traces in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from diamp.errors import TimingError
from diamp.timing.budget import TimingBudget, timing_budget
from diamp.timing.drift import DriftWindow, drift_window
from diamp.timing.envelopes import EdgeTiming, EnvelopeTrace, edge_timing, inter_node_offset
from diamp.timing.records import TimingCheck
from diamp.timing.section import TimingSection

__all__ = [
    "CheckResult",
    "TimingVerification",
    "check_verdicts",
    "excluded_blocks",
    "verify_timing",
]


@dataclass(frozen=True)
class CheckResult:
    """One timing check: edge timings per trace and the measured inter-node offset."""

    time_h: float
    label: str
    edges: tuple[tuple[str, EdgeTiming], ...]
    offset_ns: float | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "time_h": self.time_h,
            "label": self.label,
            "offset_ns": self.offset_ns,
            "edges": {name: e.to_dict() for name, e in self.edges},
        }


@dataclass(frozen=True)
class TimingVerification:
    """Everything the certificate needs to say about timing."""

    budget: TimingBudget
    checks: tuple[CheckResult, ...]
    drift: DriftWindow | None
    verdict: Literal["pass", "fail"]
    reasons: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (for the store and the certificate)."""
        return {
            "verdict": self.verdict,
            "reasons": list(self.reasons),
            "budget": self.budget.to_dict(),
            "drift": None if self.drift is None else self.drift.to_dict(),
            "checks": [c.to_dict() for c in self.checks],
        }


def _threshold(section: TimingSection, device: str, trace: EnvelopeTrace) -> float:
    dev = section.devices.get(device)
    if dev is not None and dev.threshold_v is not None:
        return dev.threshold_v
    return float((trace.high.max() + trace.low.min()) / 2)  # half amplitude


def _offset(section: TimingSection, check: TimingCheck) -> float | None:
    taus: dict[str, float] = {}
    for node in ("A", "B"):
        ref = [r for r in check.records if r.node == node and r.role == "reference"]
        rem = [r for r in check.records if r.node == node and r.role == "remote"]
        if ref and rem:
            threshold = _threshold(section, ref[0].trace.device, ref[0].trace)
            taus[node] = inter_node_offset(ref[0].trace, rem[0].trace, threshold)
    if len(taus) < 2:
        return None
    return (taus["A"] - taus["B"]) / 2


def _check(section: TimingSection, check: TimingCheck) -> tuple[CheckResult, list[str]]:
    edges, reasons = [], []
    for rec in check.records:
        if rec.role != "edge":
            continue
        dev = section.devices.get(rec.trace.device)
        if dev is None:
            raise TimingError(
                f"check {check.label or check.time_h}: trace {rec.name!r} is of device "
                f"{rec.trace.device!r}, which the timing section does not declare"
            )
        timing = edge_timing(
            rec.trace,
            _threshold(section, rec.trace.device, rec.trace),
            dev.granularity_ns,
            dev.edge,
        )
        edges.append((rec.name, timing))
        if timing.jitter:
            reasons.append(
                f"check {check.label or check.time_h} ({check.time_h:.2f} h): jitter on "
                f"{rec.name} ({rec.trace.device}): envelope spread {timing.spread_ns:.3f} ns "
                f">= granularity {dev.granularity_ns} ns"
            )
    return CheckResult(check.time_h, check.label, tuple(edges), _offset(section, check)), reasons


def verify_timing(section: TimingSection, checks: Sequence[TimingCheck] = ()) -> TimingVerification:
    """Verify a timing section and the traces of its timing checks (see the module docs)."""
    results, reasons = [], []
    for check in sorted(checks, key=lambda c: c.time_h):
        result, why = _check(section, check)
        results.append(result)
        reasons.extend(why)
    offsets = [abs(r.offset_ns) for r in results if r.offset_ns is not None]
    budget = timing_budget(section, max(offsets) if offsets else None)
    reasons.extend(budget.reasons)
    drift = None
    if section.devices:
        elapsed = max((c.time_h for c in results), default=0.0)
        drift = drift_window(section.devices, elapsed)
        if drift.resync_due:
            reasons.append(
                f"drift: {drift.limiting_device} has left its safe window "
                f"({drift.safe_hours:.1f} h) after {elapsed:.1f} h: re-synchronise"
            )
    return TimingVerification(
        budget=budget,
        checks=tuple(results),
        drift=drift,
        verdict="fail" if reasons else "pass",
        reasons=tuple(reasons),
    )


def check_verdicts(section: TimingSection, checks: Sequence[TimingCheck]) -> tuple[bool, ...]:
    """Whether each check passes on its own (budget with its own offset, drift at its time).

    In time order, as :func:`verify_timing` orders them. A run with ``policy = "exclude"``
    decides block by block from these.
    """
    ordered = sorted(checks, key=lambda c: c.time_h)
    return tuple(verify_timing(section, [check]).verdict == "pass" for check in ordered)


def excluded_blocks(verdicts: Sequence[bool]) -> tuple[int, ...]:
    """Blocks to exclude: block k lies between checks k and k + 1 and needs both to pass.

    ``verdicts`` has one entry per check: before block 0, then after each block. A failed
    check therefore excludes the block before it (the timing may have failed during it) and
    the block after it (it started from a failed state); conservative by construction.
    """
    if not verdicts:
        raise TimingError("no timing checks: every block must be bracketed by two checks")
    return tuple(k for k in range(len(verdicts) - 1) if not (verdicts[k] and verdicts[k + 1]))
