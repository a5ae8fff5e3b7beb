"""NIST SP 800-22 Rev. 1a statistical tests, matching the reference implementation sts-2.1.2.

Bits are ``uint8`` arrays of 0/1 values in sequence order; packed inputs hold bits
MSB-first in each byte (``np.packbits`` order) and sequence i of a packed input is bits
[i·n, (i+1)·n). By default every test reproduces the reference's p-values (within about
10^-11), including where the reference departs from the written standard; each such case
is documented on the test function:

- Overlapping Template uses the older class probabilities 0.367879, 0.183940, …
  (:func:`overlapping_probabilities`);
- Longest Run (M = 10,000) uses 4-decimal class probabilities; Linear Complexity's first
  class probability is 0.01047 (:func:`longest_run`, :func:`linear_complexity`);
- the DFT threshold is √(2.995732274 n) and its peak count includes the DC term (:func:`fft`);
- Universal takes L from n and K = ⌊n/L⌋ − Q (:meth:`Sp80022Params.universal_blocks`);
- Cumulative Sums bounds use truncating integer division (:func:`cumulative_sums`);
- Random Excursions (Variant) with fewer than 500 cycles report p = 0 and are left out of
  the report (:func:`random_excursions`, :func:`final_analysis_report`);
- the report re-reads p-values at 6 decimals as float32 and prints "----" for the
  uniformity of fewer than 10 sequences (:func:`reread_pvalues`).
"""

from diamp.analysis.sp800_22.excursions import (
    EXCURSION_STATES,
    VARIANT_STATES,
    random_excursions,
    random_excursions_variant,
)
from diamp.analysis.sp800_22.frequency import (
    block_frequency,
    cumulative_sums,
    frequency,
    longest_run,
    runs,
)
from diamp.analysis.sp800_22.linear import linear_complexity, rank
from diamp.analysis.sp800_22.params import TEST_NAMES, Sp80022Params
from diamp.analysis.sp800_22.patterns import approximate_entropy, serial, universal
from diamp.analysis.sp800_22.report import (
    ALPHA,
    FinalReport,
    ReportRow,
    final_analysis_report,
    format_final_report,
    report_to_json,
    reread_pvalues,
)
from diamp.analysis.sp800_22.sequence import run_sequence
from diamp.analysis.sp800_22.spectral import fft
from diamp.analysis.sp800_22.suite import Sp80022Result, run_suite
from diamp.analysis.sp800_22.templates import (
    aperiodic_templates,
    non_overlapping_template,
    overlapping_probabilities,
    overlapping_template,
)

__all__ = [
    "ALPHA",
    "EXCURSION_STATES",
    "TEST_NAMES",
    "VARIANT_STATES",
    "FinalReport",
    "ReportRow",
    "Sp80022Params",
    "Sp80022Result",
    "aperiodic_templates",
    "approximate_entropy",
    "block_frequency",
    "cumulative_sums",
    "fft",
    "final_analysis_report",
    "format_final_report",
    "frequency",
    "linear_complexity",
    "longest_run",
    "non_overlapping_template",
    "overlapping_probabilities",
    "overlapping_template",
    "random_excursions",
    "random_excursions_variant",
    "rank",
    "report_to_json",
    "reread_pvalues",
    "run_sequence",
    "run_suite",
    "runs",
    "serial",
    "universal",
]
