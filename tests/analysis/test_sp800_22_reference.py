"""SP 800-22 against the reference implementation's own outputs (sts-2.1.2).

The vectors in data/sp800_22 are copies of the shared reference vectors: five 10^6-bit
sequences, all 188 p-values sts-2.1.2 computed for each, and its finalAnalysisReport.txt.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from diamp.analysis.sp800_22 import (
    TEST_NAMES,
    Sp80022Params,
    Sp80022Result,
    final_analysis_report,
    format_final_report,
    report_to_json,
    run_sequence,
    run_suite,
)

DATA = Path(__file__).parent / "data" / "sp800_22"
TOLERANCE = 1e-9
TABLE_START = 7  # header: 7 lines before the first row


@pytest.fixture(scope="module")
def vector() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DATA / "sample_5x1Mbit.pvalues.json").read_text())
    return data


@pytest.fixture(scope="module")
def packed() -> np.ndarray:
    return np.fromfile(DATA / "sample_5x1Mbit.bin", dtype=np.uint8)


@pytest.fixture(scope="module")
def reference_report() -> str:
    return (DATA / "sample_5x1Mbit.finalAnalysisReport.txt").read_text()


@pytest.fixture(scope="module")
def result(packed: np.ndarray) -> Sp80022Result:
    return run_suite(packed, 5, 1_000_000, workers=1)


def test_vector_layout(vector: dict[str, Any]) -> None:
    assert vector["sequences"] == 5 and vector["length"] == 1_000_000
    assert sorted(vector["pvalues"]) == sorted(TEST_NAMES)
    assert all(sum(len(vector["pvalues"][t][i]) for t in TEST_NAMES) == 188 for i in range(5))


@pytest.mark.parametrize("index", range(5))
def test_every_pvalue_matches_the_reference(
    index: int, packed: np.ndarray, vector: dict[str, Any]
) -> None:
    bits = np.unpackbits(packed)[index * 1_000_000 : (index + 1) * 1_000_000]
    ours = run_sequence(bits)
    assert list(ours) == list(TEST_NAMES)
    compared = 0
    for test in TEST_NAMES:
        expected = np.array(vector["pvalues"][test][index])
        got = np.array(ours[test])
        assert got.shape == expected.shape, test
        worst = float(np.max(np.abs(got - expected)))
        assert worst <= TOLERANCE, f"{test}: |Δp| = {worst:.3g} for sequence {index}"
        compared += got.size
    assert compared == 188


def test_suite_equals_per_sequence_runs(result: Sp80022Result, packed: np.ndarray) -> None:
    bits = np.unpackbits(packed)
    for i in (0, 4):
        single = run_sequence(bits[i * 1_000_000 : (i + 1) * 1_000_000])
        assert result.sequence(i) == single
    assert set(result.seconds) == set(TEST_NAMES) and result.wall_seconds > 0


def test_process_pool_gives_identical_pvalues(result: Sp80022Result, packed: np.ndarray) -> None:
    calls: list[tuple[int, int]] = []
    pooled = run_suite(
        packed, 5, 1_000_000, workers=2, progress=lambda done, total: calls.append((done, total))
    )
    for test in TEST_NAMES:
        np.testing.assert_array_equal(pooled.pvalues[test], result.pvalues[test])
    assert calls[-1] == (5, 5) and [d for d, _ in calls] == sorted(d for d, _ in calls)


def test_report_file_is_reproduced(result: Sp80022Result, reference_report: str) -> None:
    ours = format_final_report(final_analysis_report(result), "sample_5x1Mbit.bin")
    ours_rows = ours.splitlines()[TABLE_START : TABLE_START + 188]
    ref_rows = reference_report.splitlines()[TABLE_START : TABLE_START + 188]
    assert ours_rows == ref_rows
    assert ours == reference_report  # header and footer too


def test_report_from_the_reference_pvalues(vector: dict[str, Any], reference_report: str) -> None:
    """The report logic alone: fed the reference's own p-values it prints the same file."""
    pvalues = {t: np.array(vector["pvalues"][t], dtype=np.float64) for t in TEST_NAMES}
    seconds = dict.fromkeys(TEST_NAMES, 0.0)
    theirs = Sp80022Result(pvalues, 5, 1_000_000, Sp80022Params(), seconds, 0.0)
    report = final_analysis_report(theirs)
    assert format_final_report(report, "sample_5x1Mbit.bin") == reference_report
    excursion_rows = report.rows_for("RandomExcursions")
    assert [r.sample_size for r in excursion_rows] == [3] * 8  # two sequences: < 500 cycles
    assert report.excursion_sample_size == 3 and report.sample_size == 5


def test_json_summary_shape(result: Sp80022Result) -> None:
    report = final_analysis_report(result)
    data = report_to_json(result, report)
    assert data["sequences"] == 5 and data["length"] == 1_000_000
    assert list(data["tests"]) == list(TEST_NAMES)
    freq = data["tests"]["Frequency"]
    assert np.shape(freq["pvalues"]) == (5, 1)
    assert freq["uniformity_pvalue"] is None  # fewer than 10 sequences: "----"
    assert freq["proportion"] == {
        "passed": 5,
        "sample_size": 5,
        "acceptable_range": [4, 5],
        "flagged": False,
    }
    nonover = data["tests"]["NonOverlappingTemplate"]
    assert np.shape(nonover["pvalues"]) == (5, 148)
    assert len(nonover["proportion"]) == 148 and nonover["subtests"][0] == "000000001"
    assert sum(p["passed"] < 5 for p in nonover["proportion"]) == 4  # the 4/5 rows
    excursions = data["tests"]["RandomExcursions"]
    assert [p["sample_size"] for p in excursions["proportion"]] == [3] * 8
    assert excursions["subtests"][0] == "x=-4"
    json.dumps(data, allow_nan=False)
