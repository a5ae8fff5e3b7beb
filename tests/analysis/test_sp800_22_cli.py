"""The ``sp800-22`` command function, mounted on a throwaway typer app."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from diamp.cli.sp800_22 import sp800_22_command

DATA = Path(__file__).parent / "data" / "sp800_22"
runner = CliRunner()


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    app = typer.Typer()
    app.command()(sp800_22_command)
    return app


def test_prints_the_reference_report(app: typer.Typer) -> None:
    sample = DATA / "sample_5x1Mbit.bin"
    result = runner.invoke(app, [str(sample), "--workers", "1"])
    assert result.exit_code == 0, result.output
    expected = (DATA / "sample_5x1Mbit.finalAnalysisReport.txt").read_text()
    expected = expected.replace("<sample_5x1Mbit.bin>", f"<{sample}>")
    assert result.stdout == expected


def test_json_for_two_sequences(app: typer.Typer) -> None:
    result = runner.invoke(app, [str(DATA / "sample_5x1Mbit.bin"), "-k", "2", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["sequences"], data["length"]) == (2, 1_000_000)
    assert len(data["tests"]["Serial"]["pvalues"]) == 2  # two sequences
    assert len(data["tests"]["CumulativeSums"]["pvalues"][1]) == 2  # forward, reverse
    assert data["tests"]["Frequency"]["pvalues"][0][0] == pytest.approx(0.3290644643336965)


def test_json_pvalues_have_the_reference_layout(app: typer.Typer) -> None:
    """tests.<Name>.pvalues[i] is sequence i's list, as in the shared reference vector."""
    result = runner.invoke(app, [str(DATA / "sample_5x1Mbit.bin"), "--json"])
    assert result.exit_code == 0, result.output
    ours = json.loads(result.stdout)["tests"]
    reference = json.loads((DATA / "sample_5x1Mbit.pvalues.json").read_text())["pvalues"]
    assert sorted(ours) == sorted(reference)
    for name, per_sequence in reference.items():
        got = ours[name]["pvalues"]
        assert [len(p) for p in got] == [len(p) for p in per_sequence], name
        assert np.allclose(got, per_sequence, rtol=0, atol=1e-9), name


def test_missing_file(app: typer.Typer, tmp_path: Path) -> None:
    result = runner.invoke(app, [str(tmp_path / "nothing.bin")])
    assert result.exit_code == 1
    assert "no such file" in result.output


def test_short_file(app: typer.Typer, tmp_path: Path) -> None:
    short = tmp_path / "short.bin"
    short.write_bytes(b"\x5a" * 1000)
    result = runner.invoke(app, [str(short)])
    assert result.exit_code == 2
    assert "holds 8,000 bits" in result.output
    too_many = runner.invoke(app, [str(DATA / "sample_5x1Mbit.bin"), "--sequences", "6"])
    assert too_many.exit_code == 2 and "6 sequence(s)" in too_many.output


def test_length_too_short_for_the_tests(app: typer.Typer, tmp_path: Path) -> None:
    small = tmp_path / "small.bin"
    small.write_bytes(bytes(range(256)) * 8)
    result = runner.invoke(app, [str(small), "--length", "1000"])
    assert result.exit_code == 2
    assert "Rank needs n >= 1024" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--length", "0"], "--length"),
        (["--sequences", "0"], "--sequences"),
        (["--workers", "0"], "--workers"),
        (["--workers", "2", "--scheduler", "tcp://127.0.0.1:1"], "one of them"),
    ],
)
def test_bad_options(app: typer.Typer, args: list[str], message: str) -> None:
    result = runner.invoke(app, [str(DATA / "sample_5x1Mbit.bin"), *args])
    assert result.exit_code == 2 and message in result.output
