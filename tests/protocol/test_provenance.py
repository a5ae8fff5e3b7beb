"""Provenance: every certificate says where its inputs, Z, outcomes and timing checks came from."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from _runconfig import run_config, write_config
from diamp.cli import app
from diamp.protocol.provenance import UNKNOWN, parse_provenance, run_provenance, summary

runner = CliRunner()

QRNGS = {
    "qrng-a": {"type": "qrng", "address": "qrngsim://?seed=5&bias=0.002", "node": "A"},
    "qrng-b": {"type": "qrng", "address": "qrngsim://?seed=6&bias=0.002", "node": "B"},
}


def _run(tmp_path: Path, text: str, *args: str) -> dict:  # type: ignore[type-arg]
    config = write_config(tmp_path, text)
    out = tmp_path / "run"
    result = runner.invoke(app, ["run", str(config), "--out", str(out), "-q", *args])
    assert result.exit_code in (0, 3), result.output
    return json.loads((out / "certificate.json").read_text())


def test_a_simulated_run_says_so_part_by_part(tmp_path: Path) -> None:
    text = run_config(
        run={"seed": 31, "blocks": 2, "trials_per_block": 20_000},
        protocol={"s_mu_threshold": "0.001"},
    )
    cert = _run(tmp_path, text)
    prov = cert["provenance"]
    assert prov["status"] == "recorded" and prov["simulated"] is True
    assert prov["simulated_parts"] == ["inputs", "z", "outcomes"]
    assert prov["timing"] is None  # no [timing]: no checks, nothing claimed
    for part in ("inputs", "z", "outcomes"):
        assert prov[part]["origin"] == "simulated" and prov[part]["seed"] == 31
        assert "PCG64" in prov[part]["generator"]
    config_text = (tmp_path / "run.toml").read_text()
    import hashlib

    assert prov["config_sha256"] == hashlib.sha256(config_text.encode()).hexdigest()
    page = (tmp_path / "run" / "report.html").read_text()
    heading = page[page.index("<h1>") : page.index("</h1>")]
    assert "SIMULATED run" in heading
    assert "SIMULATED (inputs, z, outcomes): not certified randomness" in page


def test_simulated_instruments_never_pass_for_hardware(tmp_path: Path) -> None:
    """QRNGs behind qrngsim:// are instruments, and simulated ones."""
    text = run_config(
        run={"seed": 32, "blocks": 2, "trials_per_block": 16_000},
        sources={"inputs": "instruments", "z": "instruments"},
        protocol={"s_mu_threshold": "0.001"},
        instruments=QRNGS,
    )
    prov = _run(tmp_path, text)["provenance"]
    assert prov["simulated"] is True and prov["simulated_parts"] == ["inputs", "z", "outcomes"]
    inputs = prov["inputs"]
    assert inputs["origin"] == "instruments" and inputs["simulated"] is True
    assert [i["instrument"] for i in inputs["instruments"]] == ["qrng-a", "qrng-b"]
    assert [i["type"] for i in inputs["instruments"]] == ["qrng", "qrng"]
    assert inputs["instruments"][0]["address"] == QRNGS["qrng-a"]["address"]
    assert [i["instrument"] for i in prov["z"]["instruments"]] == ["qrng-a"]
    assert prov["outcomes"]["origin"] == "simulated"


def test_amplify_carries_the_provenance_and_the_summary_leads_with_it(tmp_path: Path) -> None:
    text = run_config(
        run={"seed": 33, "blocks": 2, "trials_per_block": 20_000},
        protocol={"s_mu_threshold": "0.001"},
    )
    config = write_config(tmp_path, text)
    out = tmp_path / "run"
    first = runner.invoke(app, ["run", str(config), "--out", str(out), "-q"])
    assert first.output.lstrip().startswith("provenance")
    assert "SIMULATED" in first.output.split("\n")[0]
    again = runner.invoke(app, ["amplify", str(out), "-q"])
    assert again.exit_code in (0, 3), again.output
    original = json.loads((out / "certificate.json").read_text())["provenance"]
    amplified = json.loads((out / "certificate.amplify-001.json").read_text())["provenance"]
    assert amplified == original
    stats = runner.invoke(app, ["stats", str(out / "trials.h5"), "--mu", "0.01", "--json"])
    assert json.loads(stats.output)["provenance"] == original


def test_a_store_without_provenance_reads_as_unknown_never_as_hardware() -> None:
    assert parse_provenance(None) == UNKNOWN and UNKNOWN["simulated"] is None
    assert parse_provenance("not json")["simulated"] is None
    assert parse_provenance('{"simulated": "no"}')["simulated"] is None
    assert summary(parse_provenance(None)).startswith("UNKNOWN")


def test_any_simulated_part_makes_the_run_simulated() -> None:
    hardware = {"origin": "instruments", "simulated": False, "instruments": []}
    parts = {"inputs": hardware, "z": hardware, "outcomes": hardware}
    assert run_provenance(parts, hardware, "abc")["simulated"] is False
    assert summary(run_provenance(parts, hardware, "abc")).startswith("instruments")
    timing = {"origin": "simulated", "simulated": True}
    found = run_provenance(parts, timing, "abc")
    assert found["simulated"] is True and found["simulated_parts"] == ["timing"]
    undeclared = {"origin": "instruments", "instruments": []}  # says nothing: not hardware
    assert run_provenance({**parts, "z": undeclared}, None, "abc")["simulated_parts"] == ["z"]
