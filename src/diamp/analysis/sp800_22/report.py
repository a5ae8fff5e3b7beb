"""The reference's final analysis report: p-value uniformity and proportion of passes.

Reproduces ``finalAnalysisReport.txt`` of NIST sts-2.1.2 (``assess``), including how it
reads its own p-values: it writes each with ``printf("%f")`` and reads it back with
``scanf("%f")`` into a 32-bit float, so binning and the pass/fail comparison see the
value rounded to 6 decimals and then to float32 (0.1 lands in bin C2, 0.7 in bin C7,
0.0099996 and 0.01 itself fail, as 0.01 read as float32 is below the double 0.01).
Uniformity is a χ² test on 10 bins with the expected count per bin computed by integer
division, so with fewer than 10 sequences it is not computed ("----"). For the random
excursion tests a sequence counts only if its printed p-value is above 0.000000.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from diamp.analysis.sp800_22._common import igamc
from diamp.analysis.sp800_22.excursions import EXCURSION_STATES, VARIANT_STATES
from diamp.analysis.sp800_22.params import EXCURSION_TESTS, TEST_NAMES
from diamp.analysis.sp800_22.suite import Sp80022Result
from diamp.analysis.sp800_22.templates import reference_templates
from diamp.errors import ConfigError

__all__ = [
    "ALPHA",
    "FinalReport",
    "ReportRow",
    "final_analysis_report",
    "format_final_report",
    "pass_range",
    "report_to_json",
    "reread_pvalues",
]

ALPHA = 0.01
"""Significance level of the reference (a sequence passes a test when P >= ALPHA)."""

_MULTI = frozenset({"CumulativeSums", "NonOverlappingTemplate", "Serial"} | EXCURSION_TESTS)
_RULE = "-" * 78
_DOTS = " ".join("-" * 41)


def reread_pvalues(pvalues: np.ndarray) -> np.ndarray:
    """P-values as the reference's report reads them: printed ``%f``, read as float32.

    Each value is rounded to 6 decimals (as ``printf`` does: exact binary value, ties to
    even) and the decimal is rounded to the nearest float32 (as ``strtof`` does); the
    result is returned as float64.

    Notes
    -----
    The decimal k/10^6 is rounded to float32 through the nearest double. That double
    rounding could only differ from direct rounding if the double were exactly halfway
    between two float32 values, which no k = 0 … 10^6 produces (checked exhaustively in
    the tests).
    """
    flat = np.asarray(pvalues, dtype=np.float64).ravel()
    if not np.all(np.isfinite(flat)):
        raise ConfigError("p-values must be finite to be reported", key="pvalues")
    micro = np.array([int(f"{v:.6f}".replace(".", "")) for v in flat], dtype=np.int64)
    single = (micro / 1e6).astype(np.float32)
    return np.asarray(single, dtype=np.float64).reshape(np.shape(pvalues))


def pass_range(sample_size: int) -> tuple[int, int]:
    """The reference's acceptable number of passes: ⌊(p̂ ∓ 3√(p̂α/K))·K⌋, p̂ = 1 − α."""
    p_hat = 1.0 - ALPHA
    spread = 3.0 * math.sqrt((p_hat * ALPHA) / sample_size)
    return int((p_hat - spread) * sample_size), int((p_hat + spread) * sample_size)


@dataclass(frozen=True)
class ReportRow:
    """One line of the report: one sub-test of one test.

    Attributes
    ----------
    test, subtest
        Test name and sub-test index (as in :func:`run_sequence`).
    histogram
        C1 … C10: p-values in [0, 0.1), [0.1, 0.2), … [0.9, 1].
    uniformity_pvalue
        igamc(9/2, χ²/2) of the histogram; ``None`` when fewer than 10 sequences count
        (the reference prints "----").
    passed, sample_size
        Sequences with P >= α, out of those counted. For the random excursion tests only
        sequences whose printed p-value is above 0.000000 count (not-applicable
        sequences have p = 0; so does a real p-value below 5·10^-7, a reference quirk).
    pass_min, pass_max
        :func:`pass_range` of ``sample_size`` (``None`` when no sequence counts).
    """

    test: str
    subtest: int
    histogram: tuple[int, ...]
    uniformity_pvalue: float | None
    passed: int
    sample_size: int
    pass_min: int | None
    pass_max: int | None

    @property
    def uniformity_flagged(self) -> bool:
        """Marked ``*`` by the reference: uniformity p-value below 0.0001."""
        return self.uniformity_pvalue is not None and self.uniformity_pvalue < 0.0001

    @property
    def proportion_flagged(self) -> bool:
        """Marked ``*`` by the reference: passes outside [pass_min, pass_max]."""
        if self.pass_min is None or self.pass_max is None:
            return False
        return not self.pass_min <= self.passed <= self.pass_max


@dataclass(frozen=True)
class FinalReport:
    """The final analysis report: rows in the reference's order, and its sample sizes.

    ``sample_size`` is the number of sequences (``None`` if only excursion tests ran);
    ``excursion_sample_size`` is the sample size of the last random excursion row, which
    the reference quotes in its footer (``None`` if no excursion test ran).
    """

    rows: tuple[ReportRow, ...]
    sample_size: int | None
    excursion_sample_size: int | None

    def rows_for(self, test: str) -> tuple[ReportRow, ...]:
        """The rows of one test, in sub-test order."""
        return tuple(r for r in self.rows if r.test == test)


def _row(test: str, subtest: int, values: np.ndarray) -> ReportRow:
    if test in EXCURSION_TESTS:
        values = values[values > 0.0]
    size = int(values.size)
    passed = size - int(np.count_nonzero(values < ALPHA)) if size else 0
    bins = np.minimum(np.floor(values * 10).astype(np.int64), 9)
    histogram = np.bincount(bins, minlength=10)
    expected = size // 10
    uniformity = None
    if expected:
        chi2 = 0.0
        for f in histogram:
            chi2 += float((int(f) - expected) ** 2) / expected
        uniformity = igamc(9.0 / 2.0, chi2 / 2.0)
    low, high = pass_range(size) if size else (None, None)
    return ReportRow(
        test, subtest, tuple(int(c) for c in histogram), uniformity, passed, size, low, high
    )


def final_analysis_report(result: Sp80022Result) -> FinalReport:
    """Histogram, uniformity and proportion of passes per sub-test, as the reference."""
    rows: list[ReportRow] = []
    general: int | None = None
    excursion: int | None = None
    for test in TEST_NAMES:
        if test not in result.pvalues:
            continue
        values = reread_pvalues(result.pvalues[test])
        for sub in range(values.shape[1]):
            row = _row(test, sub, values[:, sub])
            rows.append(row)
            if test in EXCURSION_TESTS:
                excursion = row.sample_size
            else:
                general = row.sample_size
    return FinalReport(tuple(rows), general, excursion)


def _format_row(row: ReportRow) -> str:
    cells = "".join(f"{c:3d} " for c in row.histogram)
    if row.uniformity_pvalue is None:
        cells += "    ----    "
    elif row.uniformity_flagged:
        cells += f" {row.uniformity_pvalue:8.6f} * "
    else:
        cells += f" {row.uniformity_pvalue:8.6f}   "
    if row.sample_size == 0:
        return f"{cells} ------     {row.test}"
    mark = "*" if row.proportion_flagged else " "
    return f"{cells}{row.passed:4d}/{row.sample_size:<4d} {mark}  {row.test}"


def _footer(report: FinalReport) -> list[str]:
    lines = ["", "", _DOTS]
    if report.sample_size is not None:
        lines.append("The minimum pass rate for each statistical test with the exception of the")
        if report.sample_size == 0:
            lines += ["random excursion (variant) test is undefined.", ""]
        else:
            low = pass_range(report.sample_size)[0]
            lines += [
                f"random excursion (variant) test is approximately = {low} for a",
                f"sample size = {report.sample_size} binary sequences.",
                "",
            ]
    if report.excursion_sample_size is not None:
        size = report.excursion_sample_size
        if size == 0:
            lines += [
                "The minimum pass rate for the random excursion (variant) test is undefined.",
                "",
            ]
        else:
            lines += [
                "The minimum pass rate for the random excursion (variant) test",
                f"is approximately = {pass_range(size)[0]} for a sample size = {size} binary "
                "sequences.",
                "",
            ]
    lines += [
        "For further guidelines construct a probability table using the MAPLE program",
        "provided in the addendum section of the documentation.",
        _DOTS,
    ]
    return lines


def format_final_report(report: FinalReport, generator_name: str) -> str:
    """The report as the reference's ``finalAnalysisReport.txt`` (newline line ends)."""
    header = [
        _RULE,
        "RESULTS FOR THE UNIFORMITY OF P-VALUES AND THE PROPORTION OF PASSING SEQUENCES",
        _RULE,
        f"   generator is <{generator_name}>",
        _RULE,
        " C1  C2  C3  C4  C5  C6  C7  C8  C9 C10  P-VALUE  PROPORTION  STATISTICAL TEST",
        _RULE,
    ]
    body = [_format_row(r) for r in report.rows]
    return "\n".join(header + body + _footer(report)) + "\n"


def _subtest_labels(test: str, result: Sp80022Result) -> list[str]:
    if test == "CumulativeSums":
        return ["forward", "reverse"]
    if test == "Serial":
        return ["del psi^2", "del^2 psi^2"]
    if test == "RandomExcursions":
        return [f"x={x:+d}" for x in EXCURSION_STATES]
    if test == "RandomExcursionsVariant":
        return [f"x={x:+d}" for x in VARIANT_STATES]
    m = result.params.non_overlapping_m
    return [format(int(t), f"0{m}b") for t in reference_templates(m)]


def _proportion(row: ReportRow) -> dict[str, Any]:
    bounds = None if row.pass_min is None else [row.pass_min, row.pass_max]
    return {
        "passed": row.passed,
        "sample_size": row.sample_size,
        "acceptable_range": bounds,
        "flagged": row.proportion_flagged,
    }


def report_to_json(result: Sp80022Result, report: FinalReport) -> dict[str, Any]:
    """A JSON-ready summary of a run and its report.

    ``tests[name]["pvalues"][i]`` is the list of sequence i's p-values, sub-tests in the
    reference report's order (a one-element list for single-valued tests; 0 where a random
    excursion test does not apply): the layout of ``../shared/vectors/sp800-22``. Tests with
    sub-tests (CumulativeSums, NonOverlappingTemplate,
    RandomExcursions, RandomExcursionsVariant, Serial) have lists of ``proportion`` and
    ``uniformity_pvalue`` (``null`` where the reference prints "----") and ``subtests``
    labels; the others have single values.
    """
    tests: dict[str, Any] = {}
    for test, values in result.pvalues.items():
        rows = report.rows_for(test)
        entry: dict[str, Any] = {"pvalues": values.tolist()}
        if test in _MULTI:
            entry["subtests"] = _subtest_labels(test, result)
            entry["proportion"] = [_proportion(r) for r in rows]
            entry["uniformity_pvalue"] = [r.uniformity_pvalue for r in rows]
        else:
            entry["proportion"] = _proportion(rows[0])
            entry["uniformity_pvalue"] = rows[0].uniformity_pvalue
        tests[test] = entry
    return {
        "tests": tests,
        "sequences": result.sequences,
        "length": result.length,
        "params": {
            k: list(v) if isinstance(v, tuple) else v for k, v in asdict(result.params).items()
        },
        "seconds": dict(result.seconds),
    }
