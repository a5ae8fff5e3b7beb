"""``diamp test sp800-90b`` through the real command line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from diamp.cli import app
from diamp.cli.sp800_90b import NOT_IID_EXIT

VECTORS = Path(__file__).parent / "data" / "sp800_90b"
runner = CliRunner()


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["test", "sp800-90b", *args])
    return result.exit_code, result.stdout, result.stderr


def test_json_on_the_reference_vector() -> None:
    code, stdout, _ = run(str(VECTORS / "biased_1bit_p06_1M.bin"), "-b", "1", "--json")
    assert code == 0
    doc = json.loads(stdout)
    tool = json.loads((VECTORS / "noniid_biased1.json").read_text())
    assert doc["sha256"] == tool["sha256"]
    overall = next(c for c in tool["testCases"] if c["testCaseDesc"] == "Overall")
    assert doc["h_original"] == pytest.approx(overall["hOriginal"], rel=1e-6)
    assert doc["min_entropy"] == pytest.approx(overall["hAssessed"], rel=1e-6)
    assert doc["h_bitstring"] is None and doc["estimates"]["bitstring"] is None
    assert doc["estimates"]["literal"]["lrs"] == pytest.approx(0.93866585712588202, rel=1e-6)
    assert len(doc["estimates"]["literal"]) == 10


def test_bytes_give_a_bitstring_assessment_and_a_table(tmp_path: Path) -> None:
    path = tmp_path / "bytes.bin"
    rng = np.random.default_rng(3)
    path.write_bytes(np.minimum(rng.geometric(0.3, 20_000) - 1, 255).astype(np.uint8).tobytes())
    code, stdout, _ = run(str(path), "--bits-per-sample", "8", "--json")
    doc = json.loads(stdout)
    assert code == 0 and doc["h_bitstring"] is not None
    assert doc["min_entropy"] == pytest.approx(min(8.0, doc["h_original"], 8 * doc["h_bitstring"]))
    assert doc["estimates"]["literal"]["collision"] is None  # literal k > 2: binary-only ones
    code, stdout, stderr = run(str(path), "-b", "8")
    assert code == 0 and "LZ78Y prediction" in stdout and "min-entropy" in stdout
    assert "at least 1,000,000" in stderr


def test_iid_track_exit_status(tmp_path: Path) -> None:
    good, bad = tmp_path / "iid.bin", tmp_path / "walk.bin"
    good.write_bytes(np.random.default_rng(2024).integers(0, 16, 20_000).astype(np.uint8).tobytes())
    walk = np.cumsum(np.random.default_rng(9).integers(0, 3, 1000)) % 256
    bad.write_bytes(walk.astype(np.uint8).tobytes())
    code, stdout, _ = run(str(good), "-b", "4", "--iid", "--seed", "7", "--json")
    doc = json.loads(stdout)
    assert code == 0 and doc["iid"] is True and doc["permutation"]["seed"] == 7
    assert doc["min_entropy"] == pytest.approx(min(doc["h_original"], 4 * doc["h_bitstring"]))
    code, stdout, _ = run(str(good), "-b", "4", "--iid", "--seed", "7")
    assert code == 0 and "covariance(32)" in stdout and "IID" in stdout
    code, _, _ = run(str(bad), "-b", "8", "--iid", "--json")
    assert code == NOT_IID_EXIT


@pytest.mark.parametrize("bits", ["0", "9", "-1"])
def test_bits_per_sample_out_of_range(bits: str) -> None:
    code, _, stderr = run(str(VECTORS / "biased_1bit_p06_1M.bin"), "-b", bits)
    assert code == 2 and "--bits-per-sample" in stderr


def test_missing_and_empty_files(tmp_path: Path) -> None:
    code, _, stderr = run(str(tmp_path / "nope.bin"), "-b", "8")
    assert code == 1 and "cannot read" in stderr
    (tmp_path / "empty.bin").write_bytes(b"")
    code, _, stderr = run(str(tmp_path / "empty.bin"), "-b", "8")
    assert code == 1 and "no samples" in stderr


def test_samples_wider_than_declared_are_refused_like_the_tool(tmp_path: Path) -> None:
    path = tmp_path / "wide.bin"
    path.write_bytes(bytes([1, 0, 1, 2, 0]))
    code, stdout, stderr = run(str(path), "-b", "1")
    assert code == 1 and stdout == ""
    assert "sample 3 has value 2" in stderr and "does not fit in 1 bit" in stderr
    code, stdout, stderr = run(str(path), "-b", "1", "--json")  # the refusal as JSON
    error = json.loads(stdout)
    assert code == 1 and error["exit_code"] == 1 and stderr == ""
    assert "sample 3 has value 2" in error["error"] and "does not fit in 1 bit" in error["error"]


def test_a_single_value_has_no_entropy(tmp_path: Path) -> None:
    path = tmp_path / "stuck.bin"
    path.write_bytes(bytes([5] * 1000))
    code, _, stderr = run(str(path), "-b", "4")
    assert code == 1 and "no entropy" in stderr
