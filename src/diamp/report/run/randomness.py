"""The SP 800-22 section: the 15 NIST tests on the key, one row per test (seed 000 Table 2).

The key is cut into K = ⌊bits/10^6⌋ sequences of 10^6 bits (MSB-first, sequence i is bits
[i·10^6, (i+1)·10^6)); a key shorter than 10^6 bits is one sequence of all its bits, and the
tests that cannot run on that length are listed with the reason
(:meth:`~diamp.analysis.sp800_22.Sp80022Params.check_length`).

Verdict per test:

- K ≥ 10: the reference's rule (finalAnalysisReport): every sub-test's proportion of passing
  sequences lies in the acceptable range and its uniformity p-value is ≥ 0.0001.
- K < 10: the reference's proportion range cannot reject anything (for K = 1 it is [0, 1]),
  so the F p-values below α = 0.01 among the T = K × sub-tests p-values are judged by their
  binomial tail: the test fails when P[Bin(T, α) ≥ F] ≤ α. For one p-value this is p < α;
  for the 148 non-overlapping templates up to 5 failures pass (about 1.5 are expected).

Random Excursions (Variant) p-values of sequences with fewer than 500 cycles are 0 in the
reference and are left out; a test with no such p-value left does not apply.
"""

from __future__ import annotations

import math
from typing import Any, Final

import numpy as np

from diamp.analysis.sp800_22 import (
    ALPHA,
    TEST_NAMES,
    Sp80022Params,
    final_analysis_report,
    reread_pvalues,
    run_suite,
)
from diamp.analysis.sp800_22.params import EXCURSION_TESTS
from diamp.errors import ConfigError
from diamp.report.run.model import RunData
from diamp.report.run.page import Raw, Section, esc, table

__all__ = ["SEQUENCE_BITS", "binomial_tail", "sp800_22_section", "verdict_rows"]

SEQUENCE_BITS: Final = 1_000_000


def binomial_tail(trials: int, failures: int, p: float = ALPHA) -> float:
    """P[Bin(trials, p) ≥ failures], summed exactly term by term (math.comb)."""
    return math.fsum(
        math.comb(trials, k) * p**k * (1 - p) ** (trials - k) for k in range(failures, trials + 1)
    )


def _layout(nbits: int, sequences: int | None) -> tuple[int, int]:
    if nbits >= SEQUENCE_BITS:
        whole = nbits // SEQUENCE_BITS
        return (whole if sequences is None else min(sequences, whole)), SEQUENCE_BITS
    return 1, nbits


def _applicable(length: int) -> tuple[tuple[str, ...], dict[str, str]]:
    ok: list[str] = []
    reasons: dict[str, str] = {}
    for name in TEST_NAMES:
        try:
            Sp80022Params(tests=(name,)).check_length(length)
        except ConfigError as err:
            reasons[name] = str(err).split(" (deselect")[0]
        else:
            ok.append(name)
    return tuple(ok), reasons


def verdict_rows(pvalues: dict[str, np.ndarray], sequences: int) -> dict[str, dict[str, Any]]:
    """One Table-2 row per test from the p-values (shape sequences × sub-tests) of each.

    Returns, per test: ``pvalue`` (the uniformity p-value, worst sub-test, for K ≥ 10; else
    the smallest p-value), ``passed``/``total`` p-values (or sequences of the worst sub-test
    for K ≥ 10), ``verdict`` ("pass", "fail" or "n/a") and ``rule``.
    """
    from diamp.analysis.sp800_22 import Sp80022Result

    result = Sp80022Result(pvalues, sequences, 0, Sp80022Params(tests=tuple(pvalues)), {}, 0.0)
    report = final_analysis_report(result) if sequences >= 10 else None
    rows: dict[str, dict[str, Any]] = {}
    for name, values in pvalues.items():
        read = reread_pvalues(values).ravel()
        if name in EXCURSION_TESTS:
            read = read[read > 0.0]
        if read.size == 0:
            rows[name] = {"verdict": "n/a", "rule": "fewer than 500 cycles in every sequence"}
        elif report is not None:
            sub = report.rows_for(name)
            worst = min(sub, key=lambda r: (r.passed / r.sample_size) if r.sample_size else 1.0)
            unif = [r.uniformity_pvalue for r in sub if r.uniformity_pvalue is not None]
            bad = any(r.proportion_flagged or r.uniformity_flagged for r in sub)
            rows[name] = {
                "pvalue": min(unif) if unif else None,
                "passed": worst.passed,
                "total": worst.sample_size,
                "verdict": "fail" if bad else "pass",
                "rule": "reference proportion range and uniformity >= 0.0001 per sub-test",
            }
        else:
            failures = int(np.count_nonzero(read < ALPHA))
            tail = binomial_tail(int(read.size), failures)
            rows[name] = {
                "pvalue": round(float(read.min()), 6),
                "passed": int(read.size) - failures,
                "total": int(read.size),
                "verdict": "fail" if tail <= ALPHA else "pass",
                "rule": f"P[Bin({read.size}, 0.01) >= {failures}] = {tail:.4g}",
            }
    return rows


def _row(name: str, info: dict[str, Any], subtests: int) -> list[object]:
    if info["verdict"] == "n/a":
        return [
            name,
            subtests,
            "—",
            "—",
            Raw(f'<span class="na">does not apply: {esc(info["rule"])}</span>'),
        ]
    pvalue = "----" if info["pvalue"] is None else f"{info['pvalue']:.6f}"
    cls = "ok" if info["verdict"] == "pass" else "bad"
    return [
        name,
        subtests,
        pvalue,
        f"{info['passed']}/{info['total']} = {info['passed'] / info['total']:.3f}",
        Raw(f'<span class="{cls}">{info["verdict"]}</span> <small>({esc(info["rule"])})</small>'),
    ]


def sp800_22_section(
    run: RunData, sequences: int | None = None, workers: int | None = None
) -> Section:
    """Run SP 800-22 on the key and show one row per test, like seed 000 Table 2."""
    title = "NIST SP 800-22 on the key"
    if run.key_packed is None or run.key_bits == 0:
        return Section("sp800-22", title, "<p>No key: nothing to test.</p>", {"tested": False})
    count, length = _layout(run.key_bits, sequences)
    names, reasons = _applicable(length)
    result = run_suite(
        run.key_packed,
        count,
        length,
        Sp80022Params(tests=names),
        workers=1 if count == 1 else workers,
    )
    rows = verdict_rows(dict(result.pvalues), count)
    body_rows = [_row(n, rows[n], result.pvalues[n].shape[1]) for n in names]
    body_rows += [
        [n, "—", "—", "—", Raw(f'<span class="na">not run: {esc(r)}</span>')]
        for n, r in reasons.items()
    ]
    header = [
        "test",
        "sub-tests",
        "P-value" + (" (uniformity)" if count >= 10 else " (smallest)"),
        "proportion passing",
        "result",
    ]
    body = (
        f"<p>{count:,} sequence(s) of {length:,} bits (bits [0, {count * length:,}) of "
        f"{run.key_bits:,}, MSB-first) through the 15 tests of NIST SP 800-22 Rev. 1a with "
        f"the reference's (sts-2.1.2) defaults; α = {ALPHA}. "
        + _rule_text(count)
        + f" Wall time {result.wall_seconds:.2f} s.</p>"
        + table(header, body_rows, "sp800-22")
    )
    data = {
        "tested": True,
        "sequences": count,
        "length": length,
        "tests": rows,
        "not_applicable": reasons,
        "wall_seconds": result.wall_seconds,
    }
    return Section("sp800-22", title, body, data)


def _rule_text(count: int) -> str:
    if count >= 10:
        return (
            "P-value: the uniformity p-value of the sequences' p-values (the worst sub-test); "
            "proportion: sequences passing (the worst sub-test); verdict as the reference's "
            "finalAnalysisReport."
        )
    return (
        "With fewer than 10 sequences the reference computes no uniformity p-value and its "
        "proportion range accepts everything, so the P-value column is the smallest p-value "
        "over sequences and sub-tests, the proportion counts all p-values ≥ α, and a test "
        "fails when so many p-values fall below α that P[Bin(T, α) ≥ failures] ≤ α."
    )
