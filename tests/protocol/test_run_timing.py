"""Timing verification inside a run: checks between blocks, abort on failure."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from typer.testing import CliRunner

from diamp.cli import app
from diamp.daq.store import TrialStoreReader
from diamp.daq.traces import read_traces

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
runner = CliRunner()

CONFIG = """
schema_version = 1
[run]
seed = 9
blocks = 4
trials_per_block = 2_000_000
[sources]
mu = "0.0075"
[device]
model = "quantum"
visibility = 1.0
[protocol]
s_mu_threshold = "0.008"
[timing]
section = "timing/eth-2024.toml"
[timing.simulate]
hours_per_block = 0.45
{extra}
"""


def make_run(tmp_path: Path, extra: str = "") -> Path:
    shutil.copytree(CONFIGS / "timing", tmp_path / "timing")
    path = tmp_path / "run.toml"
    path.write_text(CONFIG.format(extra=extra))
    return path


def test_run_with_clean_timing_certifies_and_records_it(tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = runner.invoke(app, ["run", str(make_run(tmp_path)), "--out", str(out), "-q"])
    assert result.exit_code == 0, result.output
    cert = json.loads((out / "certificate.json").read_text())
    assert cert["status"] == "ok" and cert["m"] > 0
    assert cert["timing"]["verdict"] == "pass"
    assert len(cert["timing"]["checks"]) == 5  # before block 0 and after each of 4 blocks
    assert cert["timing"]["budget"]["t_d_ns"] == 109.83
    assert [c.label for c in read_traces(out / "timing.h5")][:2] == [
        "before block 0",
        "after block 0",
    ]
    report = runner.invoke(
        app, ["timing", "report", str(out), "--timing", str(tmp_path / "timing" / "eth-2024.toml")]
    )
    assert report.exit_code == 0 and (out / "timing.html").exists()


def test_jitter_mid_run_stops_acquisition_and_aborts(tmp_path: Path) -> None:
    out = tmp_path / "run"
    config = make_run(tmp_path, 'jitter_device = "qrng"\njitter_from_check = 2')
    result = runner.invoke(app, ["run", str(config), "--out", str(out), "-q"])
    assert result.exit_code == 3, result.output
    cert = json.loads((out / "certificate.json").read_text())
    assert cert["status"] == "abort" and cert["m"] == 0
    assert "timing verification failed" in cert["abort_reason"]
    assert "jitter on" in cert["abort_reason"] and "qrng" in cert["abort_reason"]
    assert not (out / "key.bin").exists()
    with TrialStoreReader(out / "trials.h5") as reader:
        assert len(reader.blocks()) == 2  # check 2 (after block 1) failed: no further blocks
        assert reader.attribute("timing_section") is not None


def test_missing_traces_abort_the_certificate(tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert (
        runner.invoke(app, ["run", str(make_run(tmp_path)), "--out", str(out), "-q"]).exit_code == 0
    )
    (out / "timing.h5").unlink()
    again = runner.invoke(app, ["amplify", str(out), "-q"])
    assert again.exit_code == 3
    cert = json.loads((out / "certificate.amplify-001.json").read_text())
    assert "timing.h5 is missing" in cert["abort_reason"]
