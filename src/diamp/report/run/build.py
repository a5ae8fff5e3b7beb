"""Assemble the run report: sections in order, the consistency checks, one HTML page."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from diamp.report.run.bell_sections import counts_section, series_section, summary_section
from diamp.report.run.diehard_section import diehard_section
from diamp.report.run.key_sections import bit_image_section, otp_section
from diamp.report.run.length import length_section
from diamp.report.run.model import RunData
from diamp.report.run.page import Check, Section, esc, render_page
from diamp.report.run.randomness import sp800_22_section
from diamp.report.run.run_sections import excluded_section, timing_section

__all__ = ["RunReport", "build_run_report"]


@dataclass(frozen=True)
class RunReport:
    """A rendered run report.

    Attributes
    ----------
    html
        The self-contained page.
    sections
        The sections in page order (each with the data it shows).
    seconds
        Time spent building each section.
    """

    html: str
    sections: tuple[Section, ...]
    seconds: dict[str, float]

    @property
    def checks(self) -> tuple[Check, ...]:
        """Every consistency check of every section."""
        return tuple(c for s in self.sections for c in s.checks)

    @property
    def failed_checks(self) -> tuple[Check, ...]:
        """The checks where the certificate and the recomputation disagree."""
        return tuple(c for c in self.checks if not c.ok)

    def to_json(self) -> dict[str, Any]:
        """Section data and checks, JSON-ready (``--json``)."""
        return {
            "sections": {s.id: {"title": s.title, **s.data} for s in self.sections},
            "checks": [c.to_dict() for c in self.checks],
            "checks_ok": not self.failed_checks,
            "seconds": self.seconds,
        }


def _intro(run: RunData) -> str:
    cert = run.certificate
    status = (
        '<p class="status-ok">Status: ok</p>'
        if cert.status == "ok"
        else f'<p class="warn"><span class="status-abort">Run aborted:</span> '
        f"{esc(cert.abort_reason)}. No key was produced.</p>"
    )
    return (
        f"<p>Run <code>{esc(cert.run_id)}</code> ({esc(run.label)}), from "
        f"<code>{esc(cert.source)}</code>.</p>{status}"
    )


def build_run_report(
    run: RunData, *, sp800_22_sequences: int | None = None, workers: int | None = None
) -> RunReport:
    """Build every section of the report of ``run`` and render the page.

    Parameters
    ----------
    run
        The certificate and key (see :func:`diamp.report.files.load_run`).
    sp800_22_sequences
        At most this many 10^6-bit sequences of the key go through SP 800-22 (default: all
        whole ones).
    workers
        Worker processes for SP 800-22 with more than one sequence (default: one per core).
    """
    builders: list[tuple[str, Callable[[], Section | None]]] = [
        ("summary", lambda: summary_section(run)),
        ("series", lambda: series_section(run)),
        ("counts", lambda: counts_section(run)),
        ("length", lambda: length_section(run)),
        ("bit-image", lambda: bit_image_section(run)),
        ("otp", lambda: otp_section(run)),
        ("sp800-22", lambda: sp800_22_section(run, sp800_22_sequences, workers)),
        ("diehard", lambda: diehard_section(run, workers)),
        ("timing", lambda: timing_section(run)),
        ("excluded", lambda: excluded_section(run)),
    ]
    sections: list[Section] = []
    seconds: dict[str, float] = {}
    for name, build in builders:
        started = time.perf_counter()
        section = build()
        seconds[name] = time.perf_counter() - started
        if section is not None:
            sections.append(section)
    simulated = run.certificate.provenance.get("simulated")
    origin = {True: "SIMULATED run", False: "lab run", None: "run of UNKNOWN provenance"}
    title = f"diamp report — {origin[simulated]} {run.certificate.run_id}"
    return RunReport(render_page(title, _intro(run), sections), tuple(sections), seconds)
