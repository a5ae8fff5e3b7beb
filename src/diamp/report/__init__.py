"""The reports: an edge that reads runs and renders self-contained HTML pages.

- :mod:`diamp.report.run`: the run report of ``diamp report`` (certificate and key in,
  HTML out: CHSH and S_μ per segment, counts, output length, bit image, one-time pad,
  SP 800-22 of the key, timing checks);
- :mod:`diamp.report.timing`: the timing (locality) report of ``diamp timing report``;
- :mod:`diamp.report.files`: reading a run directory and writing ``report.html``.

Figures are drawn with matplotlib here, never in the pure packages (``timing``,
``extractors``, ``analysis``); matplotlib is imported inside the functions that draw.
"""

from diamp.report.files import REPORT_NAME, WrittenReport, load_run, write_run_report
from diamp.report.run import Check, RunData, RunReport, Section, build_run_report
from diamp.report.timing import render_timing_report

__all__ = [
    "REPORT_NAME",
    "Check",
    "RunData",
    "RunReport",
    "Section",
    "WrittenReport",
    "build_run_report",
    "load_run",
    "render_timing_report",
    "write_run_report",
]
