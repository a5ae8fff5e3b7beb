"""``diamp test diehard``: exit codes, JSON shape, honest lengths and bad input."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from diamp.cli.diehard import diehard_command

runner = CliRunner()


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    app = typer.Typer()
    app.command()(diehard_command)
    return app


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("dh") / "good.bin"
    path.write_bytes(np.random.default_rng(2026).integers(0, 256, 2_000_000, np.uint8).tobytes())
    return path


def run(app: typer.Typer, *args: object) -> tuple[int, str, str]:
    result = runner.invoke(app, [str(a) for a in args])
    assert "Traceback" not in result.output
    return result.exit_code, result.stdout, result.stderr


def test_json_shape_and_exit_zero(app: typer.Typer, good: Path) -> None:
    code, out, _ = run(app, good, "--tests", "15,parking_lot,diehard_craps,0", "-p", "5",
                       "--json", "--workers", "2")  # fmt: skip
    assert code == 0
    data = json.loads(out)
    assert list(data["tests"]) == ["diehard_runs", "diehard_parking_lot", "diehard_craps",
                                   "diehard_birthdays"]  # fmt: skip
    runs = data["tests"]["diehard_runs"]
    assert runs["status"] == "ok" and len(runs["final_pvalues"]) == 2
    assert len(runs["pvalues"]) == 5 and all(len(p) == 2 for p in runs["pvalues"])
    assert runs["assessment"] in ("PASSED", "WEAK")
    assert len(data["tests"]["diehard_parking_lot"]["pvalues"][0]) == 1
    craps = data["tests"]["diehard_craps"]  # 5 psamples need ~6.8 M words; 0.5 M here
    assert craps["status"] == "insufficient_data" and craps["bits_needed"] > 32 * 500_000
    assert "final_pvalues" not in craps and craps["bits_needed_exact"] is False
    assert data["tests"]["diehard_birthdays"]["bits_needed"] == 5 * 38_400 * 32


def test_failed_test_exits_one(app: typer.Typer, tmp_path: Path) -> None:
    path = tmp_path / "zeros.bin"
    path.write_bytes(bytes(2_900_000))  # every car at the origin: one parks, every psample
    code, out, _ = run(app, path, "-d", "parking_lot", "-p", "30")
    assert code == 1 and "FAILED" in out


def test_short_file_is_insufficient_not_rewound(app: typer.Typer, tmp_path: Path) -> None:
    path = tmp_path / "key.bin"
    path.write_bytes(os.urandom(300_000))
    code, out, _ = run(app, path, "-d", "runs")
    assert code == 0
    assert "diehard_runs: insufficient data, needs 320,000,000 bits for 100 psamples" in out
    code, out, _ = run(app, path, "-d", "runs", "--allow-fewer", "--json")
    runs = json.loads(out)["tests"]["diehard_runs"]
    assert runs["status"] == "insufficient_data"  # 75,000 words: not one psample of 100,000
    code, out, _ = run(app, path, "-d", "parking_lot", "--allow-fewer")
    assert "diehard_parking_lot: ran 3 of 100 psamples (the input holds no more)" in out
    code, out, _ = run(app, path, "-d", "runs", "-p", "2", "--rewind", "--json")
    runs = json.loads(out)["tests"]["diehard_runs"]
    assert runs["reused_data"] is True and runs["bits_used"] == 2 * 100_000 * 32


def test_flags_are_noted(app: typer.Typer, good: Path) -> None:
    _, out, _ = run(app, good, "-d", "sums,14", "-p", "3")
    assert out.count("diehard_sums|") == 1
    assert "# diehard_sums: dieharder rates this test 'Do Not Use'" in out
    assert "# diehard_sums: follows Marsaglia, so p-values can differ from dieharder's" in out


def test_the_output_names_the_mode(app: typer.Typer, good: Path) -> None:
    """Default: Marsaglia's definitions; --dieharder-compat: dieharder's, said in text and JSON."""
    _, out, _ = run(app, good, "-d", "sums,runs", "-p", "3")
    assert "#  mode: Marsaglia's definitions where dieharder departs from them" in out
    _, out, _ = run(app, good, "-d", "sums,runs", "-p", "3", "--dieharder-compat")
    assert "#  mode: dieharder-compat: dieharder 3.31.1's behaviour reproduced" in out
    assert "# diehard_sums: reproduces dieharder, not Marsaglia (dieharder replaces" in out
    assert "diehard_runs: " not in out.split("#" + "=" * 77 + "#")[-1]  # runs: nothing to say
    data = {}
    for flag in ([], ["--dieharder-compat"]):
        code, out, _ = run(app, good, "-d", "sums,runs", "-p", "3", "--json", *flag)
        assert code in (0, 1)  # 1: a KS p-value of 3 psamples assessed FAILED
        data[bool(flag)] = json.loads(out)
    assert data[False]["mode"] == "marsaglia" and data[False]["dieharder_compat"] is False
    assert data[True]["mode"] == "dieharder-compat" and data[True]["dieharder_compat"] is True
    sums = [data[c]["tests"]["diehard_sums"] for c in (False, True)]
    assert [s["follows"] for s in sums] == ["marsaglia", "dieharder"]
    assert sums[0]["final_pvalues"] != sums[1]["final_pvalues"]
    runs = [data[c]["tests"]["diehard_runs"] for c in (False, True)]
    assert [r["follows"] for r in runs] == ["both", "both"] and "difference" not in runs[0]
    assert runs[0]["pvalues"] == runs[1]["pvalues"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["{tmp}/missing.bin"], "no such file"),
        (["{tmp}"], "not a regular file"),
        (["{tmp}/empty.bin"], "holds 0 bytes; the battery needs at least 64"),
        (["{tmp}/tiny.bin"], "holds 63 bytes"),
        (["{good}", "-d", "nope"], "unknown test 'nope'"),
        (["{good}", "-d", "17"], "unknown test '17'"),
        (["{good}", "-p", "0"], "--psamples: must be >= 1, found 0"),
        (["{good}", "-p", "-4"], "--psamples: must be >= 1, found -4"),
        (["{good}", "--workers", "0"], "--workers: must be >= 1"),
        (["{good}", "--offset", "-1"], "--offset: must be >= 0, found -1"),
        (["{good}", "--workers", "2", "--scheduler", "tcp://127.0.0.1:1"], "not both"),
    ],
)
def test_bad_input_exits_two_with_one_line(
    app: typer.Typer, good: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    (tmp_path / "empty.bin").write_bytes(b"")
    (tmp_path / "tiny.bin").write_bytes(bytes(63))
    filled = [a.format(tmp=tmp_path, good=good) for a in args]
    code, out, err = run(app, *filled)
    assert code == 2
    assert message in " ".join(err.split())
    assert len(err.strip().splitlines()) == 1 and out == ""
