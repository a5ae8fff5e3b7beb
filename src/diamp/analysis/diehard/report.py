"""Diehard results as dieharder-style text and as JSON keyed by dieharder's test names."""

from __future__ import annotations

from typing import Any

import numpy as np

from diamp.analysis.diehard.battery import DiehardOutcome, DiehardResult

__all__ = ["FLAG_NOTES", "difference_note", "format_report", "report_to_json"]

FLAG_NOTES = {
    "suspect": "dieharder rates this test 'Suspect'",
    "do not use": "dieharder rates this test 'Do Not Use'",
}

MODE_LINES = {
    "marsaglia": "Marsaglia's definitions where dieharder departs from them "
    "(--dieharder-compat reproduces dieharder)",
    "dieharder-compat": "dieharder-compat: dieharder 3.31.1's behaviour reproduced where it "
    "departs from Marsaglia's definitions",
}


def difference_note(r: DiehardOutcome) -> str | None:
    """Which definition ran, for a test on which dieharder departs from Marsaglia."""
    if r.test.differs is None:
        return None
    if r.dieharder_compat:
        return f"reproduces dieharder, not Marsaglia ({r.test.differs})"
    return f"follows Marsaglia, so p-values can differ from dieharder's ({r.test.differs})"


def _test_json(r: DiehardOutcome) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "number": r.test.number,
        "title": r.test.title,
        "status": r.status,
        "tsamples": r.test.tsamples,
        "psamples_requested": r.psamples_requested,
        "psamples": r.psamples,
        "bits_needed": r.bits_needed,
        "bits_needed_exact": r.test.exact,
        "follows": r.follows,
    }
    note = difference_note(r)
    if note is not None:
        entry["difference"] = note
    if r.test.flag is not None:
        entry["dieharder_flag"] = r.test.flag
        entry["note"] = FLAG_NOTES[r.test.flag]
    if r.status != "ok":
        entry["assessment"] = "insufficient data"
        return entry
    entry.update(
        final_pvalues=list(r.final_pvalues),
        pvalues=np.stack(r.pvalues, axis=1).tolist(),
        assessments=list(r.assessments),
        assessment=r.assessment,
        bits_used=32 * r.words_used,
        reused_data=r.rewound,
        fewer_psamples=r.psamples < r.psamples_requested,
        seconds=r.seconds,
    )
    return entry


def report_to_json(result: DiehardResult) -> dict[str, Any]:
    """``{"tests": {name: {...}}, ...}``: per test its status, p-values and assessment.

    ``pvalues[i]`` lists repetition (psample) i's p-values, one per statistic, and
    ``final_pvalues[k]`` is the KS p-value of statistic k over the repetitions, in
    dieharder's order (runs: up, down; craps: wins, throws). A test that could not run
    has ``status`` ``insufficient_data`` and ``bits_needed``. ``mode`` is ``marsaglia``
    (the default) or ``dieharder-compat``; each test's ``follows`` says whose definition
    gave its p-values (``both`` where dieharder and Marsaglia agree).
    """
    return {
        "mode": result.mode,
        "dieharder_compat": result.dieharder_compat,
        "input_bits": 32 * result.words,
        "rewind": result.rewind,
        "failed": result.failed,
        "tests": {r.test.name: _test_json(r) for r in result.results},
    }


def format_report(result: DiehardResult, source: str) -> str:
    """A dieharder-like table: one line per final p-value, then notes."""
    rule = "#" + "=" * 77 + "#"
    lines = [
        rule,
        f"#  Diehard battery (dieharder 3.31.1 numbering) on {source}: {4 * result.words:,} bytes",
        f"#  mode: {MODE_LINES[result.mode]}",
        rule,
        f"{'test_name':>22}|{'tsamples':>9}|{'psamples':>8}|{'p-value':>11}|Assessment",
        rule,
    ]
    notes: list[str] = []
    for r in result.results:
        name = r.test.name
        if r.status != "ok":
            lines.append(f"{name:>22}|{r.test.tsamples:>9}|{r.psamples_requested:>8}|"
                         f"{'-':>11}|insufficient data")  # fmt: skip
            about = "" if r.test.exact else "about "
            notes.append(f"{name}: insufficient data, needs {about}{r.bits_needed:,} bits "
                         f"for {r.psamples_requested} psamples")  # fmt: skip
            continue
        for p, verdict in zip(r.final_pvalues, r.assessments, strict=True):
            lines.append(f"{name:>22}|{r.test.tsamples:>9}|{r.psamples:>8}|{p:>11.8f}|  {verdict}")
        if r.psamples < r.psamples_requested:
            notes.append(f"{name}: ran {r.psamples} of {r.psamples_requested} psamples "
                         "(the input holds no more)")  # fmt: skip
        if r.rewound:
            notes.append(f"{name}: re-used data (--rewind): the input was read again from "
                         "its start; the result is not a test of fresh data")  # fmt: skip
        if r.test.flag is not None:
            notes.append(f"{name}: {FLAG_NOTES[r.test.flag]}")
        if (difference := difference_note(r)) is not None:
            notes.append(f"{name}: {difference}")
    lines.append(rule)
    lines.extend(f"# {n}" for n in notes)
    return "\n".join(lines) + "\n"
