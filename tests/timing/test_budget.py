from __future__ import annotations

import json
import math
from fractions import Fraction
from pathlib import Path

import pytest
from typer.testing import CliRunner

from diamp.cli import app
from diamp.errors import TimingError
from diamp.timing.budget import SPEED_OF_LIGHT_M_PER_NS, timing_budget
from diamp.timing.drift import drift_window
from diamp.timing.section import load_timing, parse_timing

ETH = Path(__file__).resolve().parents[2] / "configs" / "timing" / "eth-2024.toml"
runner = CliRunner()


def test_published_table_ii_values() -> None:
    budget = timing_budget(load_timing(ETH))
    assert budget.t_protocol_ab_ns == Fraction("106.65")  # exact, not approximately
    assert budget.t_protocol_ba_ns == Fraction("106.45")
    assert budget.t_d_ns == Fraction("109.83")  # 109.8360 ns rounded down
    assert math.isclose(float(budget.t_d_exact_ns), 32.928 / 0.299792458, rel_tol=1e-15)
    assert budget.margin_ab_ns == Fraction("3.18") and budget.margin_ba_ns == Fraction("3.38")
    assert budget.verdict == "pass" and budget.reasons == []


def test_printed_equation_signs_would_not_reproduce_the_paper() -> None:
    # independent check of the reading: the per-direction formula with the latch added (as eq. 8
    # is printed) and the stop side of the other node would exceed the light time
    s = load_timing(ETH)
    printed_ab = (
        s.stop.A.detection_ns.value  # column B of Table II holds 94.0 / 2.0 under this reading
        + s.stop.A.fpga_offset_ns.value
        + s.sync.inter_node_offset_ns.value
        + s.start.A.latch_ns.value
        + s.start.A.rng_ns.value
    )
    assert printed_ab == Fraction("115.65")
    assert printed_ab > Fraction("32.928") / SPEED_OF_LIGHT_M_PER_NS


SECTION = """
schema_version = 1
resolution_ns = 0.01
[distance]
bell_distance_m = "30.0"
{extra_distance}
[sync]
inter_node_offset_ns = {sync}
[start.A]
rng_ns = 10
latch_ns = {latch}
[start.B]
rng_ns = 10
latch_ns = 1
[stop.A]
fpga_offset_ns = 1
detection_ns = 80
[stop.B]
fpga_offset_ns = 1
detection_ns = {det_b}
"""


def section(**kw: str) -> str:
    values = {"extra_distance": "", "sync": "0.5", "latch": "1", "det_b": "80"}
    values.update(kw)
    return SECTION.format(**values)


def test_uncertainties_are_carried_against_the_verdict() -> None:
    nominal = timing_budget(parse_timing(section()))
    # 10 + 1 - 1 + 0.5 + 80 = 90.5
    assert nominal.t_protocol_ab_ns == Fraction("90.5")
    worse = timing_budget(
        parse_timing(
            section(
                latch="{ value = 1, uncertainty = 0.3 }",  # subtracted: worst case is smaller
                sync="{ value = 0.5, uncertainty = 0.2 }",
                extra_distance="uncertainty_m = 0.03",
            )
        )
    )
    assert worse.t_protocol_ab_ns == Fraction("91.0")  # 90.5 + 0.3 + 0.2
    assert worse.t_d_exact_ns == Fraction("29.97") / SPEED_OF_LIGHT_M_PER_NS
    assert worse.margin_ab_ns < nominal.margin_ab_ns


def test_rounding_never_helps() -> None:
    b = timing_budget(parse_timing(section(latch="0.999")))  # 90.501 ns
    assert b.t_protocol_ab_ns == Fraction("90.51")  # rounded up
    assert b.t_d_ns <= b.t_d_exact_ns


def test_a_negative_offset_counts_by_magnitude() -> None:
    assert timing_budget(parse_timing(section(sync="-0.5"))).t_protocol_ab_ns == Fraction("90.5")


def test_failing_budget_and_measured_offset() -> None:
    b = timing_budget(parse_timing(section(det_b="95")))  # A->B = 105.5 > 100.07 ns
    assert b.verdict == "fail" and "A->B" in b.reasons[0]
    measured = timing_budget(parse_timing(section()), measured_offset_ns=-2.0)
    assert measured.ab.inter_node_offset_ns == 2  # the larger magnitude is used


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        (
            section().replace("rng_ns = 10\nlatch_ns = 1\n[stop.A]", "rng_ns = 10\n[stop.A]"),
            "latch_ns",
        ),
        (section() + "\n[bogus]\nx = 1\n", "bogus"),
        (
            section().replace(
                "rng_ns = 10\nlatch_ns = 1\n[start.B]", "rng_ns = -1\nlatch_ns = 1\n[start.B]"
            ),
            "rng_ns",
        ),
        (section(det_b="-3"), "detection_ns"),
        (
            section().replace('bell_distance_m = "30.0"', 'bell_distance_m = "-1"'),
            "bell_distance_m",
        ),
        (section().replace("schema_version = 1", "schema_version = 2"), "schema_version"),
        ("schema_version = 1\n[distance", "TOML"),
        (section(latch='"abc"'), "latch_ns"),
    ],
)
def test_malformed_sections_name_the_key(text: str, needle: str) -> None:
    with pytest.raises(TimingError, match=needle) as info:
        parse_timing(text, "lab.toml")
    assert "lab.toml" in str(info.value)


def test_drift_window_published_numbers() -> None:
    window = drift_window(load_timing(ETH).devices)
    assert window.limiting_device == "qrng"
    assert window.safe_hours == pytest.approx(1000 / 16.9)  # (2 ns / 2) / 16.9 ps/h
    assert 2.4 < window.safe_hours / 24 < 2.5
    late = drift_window(load_timing(ETH).devices, elapsed_hours=60)
    assert late.resync_due and late.remaining_hours < 0
    with pytest.raises(TimingError):
        drift_window({})


def test_cli_budget_json_and_exit_codes(tmp_path: Path) -> None:
    result = runner.invoke(app, ["timing", "budget", str(ETH), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    for key in ("t_protocol_ab_ns", "t_protocol_ba_ns", "t_d_ns", "margin_ab_ns", "margin_ba_ns"):
        assert isinstance(data[key], float)
    assert (data["t_protocol_ab_ns"], data["t_protocol_ba_ns"], data["t_d_ns"]) == (
        106.65,
        106.45,
        109.83,
    )
    assert data["verdict"] == "pass" and data["drift"]["limiting_device"] == "qrng"
    bad = tmp_path / "bad.toml"
    bad.write_text(section(det_b="95"))
    failing = runner.invoke(app, ["timing", "budget", str(bad), "--json"])
    assert failing.exit_code == 4 and json.loads(failing.stdout)["verdict"] == "fail"
    broken = tmp_path / "broken.toml"
    broken.write_text(section(det_b="-3"))
    assert runner.invoke(app, ["timing", "budget", str(broken)]).exit_code == 1
    human = runner.invoke(app, ["timing", "budget", str(ETH)])
    assert "106.65" in human.output and "pass" in human.output
