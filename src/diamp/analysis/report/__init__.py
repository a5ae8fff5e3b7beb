"""The self-contained HTML run report (``diamp report``): pure builders, data in, HTML out.

:func:`build_run_report` takes a :class:`RunData` (the checked certificate and the key;
:func:`diamp.run_report.load_run` reads one from a run directory) and returns a
:class:`RunReport` with the page and the data of every section: summary, CHSH and S_μ per
segment (seed 003 Fig. 4), counts, the output-length computation (recomputed and checked),
the key as a bit image (Fig. 10), a one-time pad of a test image (Fig. 11), the SP 800-22
table of the key (seed 000 Table 2), timing checks and excluded blocks.
"""

from diamp.analysis.report.build import RunReport, build_run_report
from diamp.analysis.report.model import CertificateView, RunData, SeriesPoint, parse_certificate
from diamp.analysis.report.page import Check, Section

__all__ = [
    "CertificateView",
    "Check",
    "RunData",
    "RunReport",
    "Section",
    "SeriesPoint",
    "build_run_report",
    "parse_certificate",
]
