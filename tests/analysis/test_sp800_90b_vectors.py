"""The non-IID track against the reference tool's own output on the shared vector.

``noniid_biased1.json`` and ``noniid_biased1_vv.txt`` are the output of
``ea_non_iid -i -a -v -v -o noniid_biased1.json biased_1bit_p06_1M.bin 1`` (tool 1.1.7).
Every value printed there is pinned: integers exactly, reals to 1e-6 relative.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from diamp.analysis.sp800_90b import NonIidResult, assess_non_iid

VECTORS = Path("/work/shared/vectors/sp800-90b")
REL = 1e-6

# (section printed by the tool, key printed) -> (estimator attribute, field)
VERBOSE_FIELDS: dict[tuple[str, str], tuple[str, str]] = {
    ("Most Common Value Estimate", "Mode count"): ("mcv", "mode"),
    ("Most Common Value Estimate", "p-hat"): ("mcv", "p_hat"),
    ("Most Common Value Estimate", "p_u"): ("mcv", "p_u"),
    ("Most Common Value Estimate", "min entropy"): ("mcv", "h"),
    ("Collision Estimate", "v"): ("collision", "v"),
    ("Collision Estimate", "Sum t_i"): ("collision", "sum_t"),
    ("Collision Estimate", "X-bar"): ("collision", "x_bar"),
    ("Collision Estimate", "sigma-hat"): ("collision", "sigma"),
    ("Collision Estimate", "X-bar'"): ("collision", "x_bar_prime"),
    ("Collision Estimate", "p"): ("collision", "p"),
    ("Collision Estimate", "min entropy"): ("collision", "h"),
    ("Markov Estimate", "P_0"): ("markov", "p0"),
    ("Markov Estimate", "P_1"): ("markov", "p1"),
    ("Markov Estimate", "P_{0,0}"): ("markov", "p00"),
    ("Markov Estimate", "P_{0,1}"): ("markov", "p01"),
    ("Markov Estimate", "P_{1,0}"): ("markov", "p10"),
    ("Markov Estimate", "P_{1,1}"): ("markov", "p11"),
    ("Markov Estimate", "p-hat_max"): ("markov", "p_max"),
    ("Markov Estimate", "min entropy"): ("markov", "h"),
    ("Compression Estimate", "X-bar"): ("compression", "x_bar"),
    ("Compression Estimate", "sigma-hat"): ("compression", "sigma"),
    ("Compression Estimate", "X-bar'"): ("compression", "x_bar_prime"),
    ("Compression Estimate", "p"): ("compression", "p"),
    ("Compression Estimate", "min entropy"): ("compression", "h"),
    ("t-Tuple Estimate", "t"): ("t_tuple", "t"),
    ("t-Tuple Estimate", "p-hat_max"): ("t_tuple", "p_max"),
    ("t-Tuple Estimate", "p_u"): ("t_tuple", "p_u"),
    ("t-Tuple Estimate", "min entropy"): ("t_tuple", "h"),
    ("LRS Estimate", "u"): ("lrs", "u"),
    ("LRS Estimate", "v"): ("lrs", "v"),
    ("LRS Estimate", "p-hat"): ("lrs", "p_hat"),
    ("LRS Estimate", "p_u"): ("lrs", "p_u"),
    ("LRS Estimate", "min entropy"): ("lrs", "h"),
}
PREDICTORS = {"MultiMCW": "multi_mcw", "Lag": "lag", "MultiMMC": "multi_mmc", "LZ78Y": "lz78y"}
PREDICTOR_FIELDS = {
    "C": "c",
    "r": "r",
    "N": "n",
    "P_global": "p_global",
    "P_global'": "p_global_prime",
    "min entropy": "h",
}
LINE = re.compile(r"^Literal (?P<section>.+?): (?P<key>.+?) = (?P<value>\S+)$")


def parse_verbose(path: Path) -> list[tuple[str, str, str]]:
    """(attribute, field, printed value) for every intermediate value in the _vv file."""
    rows = []
    for line in path.read_text().splitlines():
        match = LINE.match(line)
        if not match:
            continue
        section, key, value = match["section"], match["key"], match["value"]
        predictor = section.removesuffix(" Prediction Estimate")
        if predictor in PREDICTORS:
            rows.append((PREDICTORS[predictor], PREDICTOR_FIELDS[key], value))
        else:
            rows.append((*VERBOSE_FIELDS[(section, key)], value))
    return rows


@pytest.fixture(scope="module")
def result() -> NonIidResult:
    samples = np.fromfile(VECTORS / "biased_1bit_p06_1M.bin", dtype=np.uint8)
    return assess_non_iid(samples, 1)


def check(actual: Any, printed: str) -> None:
    if re.fullmatch(r"-?\d+", printed):
        assert int(actual) == int(printed)
    else:
        assert float(actual) == pytest.approx(float(printed), rel=REL, abs=0.0)


def test_every_intermediate_value_of_the_verbose_output(result: NonIidResult) -> None:
    rows = parse_verbose(VECTORS / "noniid_biased1_vv.txt")
    assert len(rows) == 57  # every "Literal ...: x = y" line was understood
    for attribute, field, printed in rows:
        check(getattr(getattr(result.literal, attribute), field), printed)


def test_the_statements_without_values(result: NonIidResult) -> None:
    text = (VECTORS / "noniid_biased1_vv.txt").read_text()
    assert text.count("Literal Collision Estimate: Found p.") == 1
    assert text.count("Literal Compression Estimate: Found p.") == 1
    assert result.literal.collision.found_p  # type: ignore[union-attr]
    assert result.literal.compression.found_p  # type: ignore[union-attr]
    assert text.count("P_local can't change the result.") == 4
    for name in PREDICTORS.values():
        assert getattr(result.literal, name).p_local is None


def test_summary_lines_of_the_verbose_output(result: NonIidResult) -> None:
    text = (VECTORS / "noniid_biased1_vv.txt").read_text()
    h_original = re.search(r"^H_original = (\S+)$", text, re.M)
    assessed = re.search(r"^Assessed min entropy: (\S+)$", text, re.M)
    assert h_original and assessed
    check(result.h_original, h_original[1])
    check(result.min_entropy, assessed[1])


JSON_NAMES = {
    "Most Common Value": "mcv",
    "Collision Test (for bit strings only)": "collision",
    "Markov Test (for bit strings only)": "markov",
    "Compression Test (for bit strings only)": "compression",
    "Multi Most Common in Window Test": "multi_mcw",
    "Lag Prediction Test": "lag",
    "Multi Markov Model with Counting Test (MultiMMC)": "multi_mmc",
    "LZ78Y Test": "lz78y",
}


def test_every_value_of_the_json_output(result: NonIidResult) -> None:
    doc = json.loads((VECTORS / "noniid_biased1.json").read_text())
    assert doc["toolVersion"] == "1.1.7" and doc["IID"] is False
    checked = 0
    for case in doc["testCases"]:
        name = case["testCaseDesc"]
        if name == "Overall":
            check(result.h_original, repr(case["hOriginal"]))
            check(result.min_entropy, repr(case["hAssessed"]))
            assert case["dataWordSize"] == result.bits_per_sample
            checked += 3
        elif name == "T-Tuple Test":
            check(result.literal.t_tuple.h, repr(case["tTupleRes"]))  # type: ignore[union-attr]
            checked += 1
        elif name == "LRS Test":
            check(result.literal.lrs.h, repr(case["lrsRes"]))  # type: ignore[union-attr]
            checked += 1
        else:
            estimator = getattr(result.literal, JSON_NAMES[name])
            check(estimator.h, repr(case["hOriginal"]))
            checked += 1
            if name == "Most Common Value":
                check(estimator.mode, repr(case["mcvEstimateMode"]).removesuffix(".0"))
                check(estimator.p_hat, repr(case["mcvEstimatePHat"]))
                check(estimator.p_u, repr(case["mcvEstimatePU"]))
                checked += 3
    assert checked == 16
    assert result.h_bitstring is None and result.bitstring is None  # 1-bit data: no bitstring


def test_to_json_carries_the_summary_and_every_estimator(result: NonIidResult) -> None:
    doc = json.loads(json.dumps(result.to_json()))
    assert doc["h_original"] == result.h_original
    assert doc["h_bitstring"] is None
    assert doc["min_entropy"] == result.min_entropy
    assert set(doc["literal"]) == {
        "mcv", "collision", "markov", "compression", "t_tuple", "lrs",
        "multi_mcw", "lag", "multi_mmc", "lz78y",
    }  # fmt: skip
    assert doc["literal"]["lrs"]["h"] == pytest.approx(0.93866585712588202, rel=REL)
