"""The self-contained HTML run report (``diamp report``): pure builders, data in, HTML out.

:func:`build_run_report` takes a :class:`RunData` (the checked certificate and the key;
:func:`diamp.report.files.load_run` reads one from a run directory) and returns a
:class:`RunReport` with the page and the data of every section: summary, CHSH and S_μ per
segment (seed 003 Fig. 4), counts, the output-length computation (recomputed and checked),
the key as a bit image (Fig. 10), a one-time pad of a test image (Fig. 11), the SP 800-22
table of the key (seed 000 Table 2), timing checks and excluded blocks.
"""

from diamp.report.run.build import RunReport, build_run_report
from diamp.report.run.model import RunData
from diamp.report.run.page import Check, Section

__all__ = ["Check", "RunData", "RunReport", "Section", "build_run_report"]
