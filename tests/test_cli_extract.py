from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from diamp.cli import app

runner = CliRunner()


def write_bits(path: Path, bits: np.ndarray) -> Path:
    path.write_bytes(np.packbits(bits).tobytes())
    return path


def read_bits(path: Path, nbits: int) -> np.ndarray:
    return np.unpackbits(np.frombuffer(path.read_bytes(), dtype=np.uint8))[:nbits]


def dodis_reference(x: np.ndarray, y: np.ndarray, m: int) -> np.ndarray:
    n = x.size
    xi, yi = x.astype(np.int64), y.astype(np.int64)
    return np.array([int(xi[: n - j] @ yi[j:]) & 1 for j in range(m)], dtype=np.uint8)


def invoke(*args: str) -> dict[str, object]:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_extract_dodis_files_with_bits_and_self_check(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    n, m = 20_003, 3001  # not a multiple of 8: --bits is required
    x, y = rng.integers(0, 2, n, dtype=np.uint8), rng.integers(0, 2, n, dtype=np.uint8)
    xf, yf = write_bits(tmp_path / "x.bin", x), write_bits(tmp_path / "y.bin", y)
    out = tmp_path / "k.bin"
    report = invoke(
        "extract",
        "dodis",
        str(xf),
        str(yf),
        "--m",
        str(m),
        "-o",
        str(out),
        "--bits",
        str(n),
        "--verify-bits",
        "50",
    )
    assert report["n"] == n and report["m"] == m
    assert len(report["checked_positions"]) == 50  # type: ignore[arg-type]
    assert np.array_equal(read_bits(out, m), dodis_reference(x, y, m))
    assert out.stat().st_size == (m + 7) // 8


def test_extract_dodis_refuses_size_mismatch(tmp_path: Path) -> None:
    xf = write_bits(tmp_path / "x.bin", np.ones(64, dtype=np.uint8))
    yf = write_bits(tmp_path / "y.bin", np.ones(72, dtype=np.uint8))
    result = runner.invoke(app, ["extract", "dodis", str(xf), str(yf), "--m", "4", "-o", "k"])
    assert result.exit_code != 0
    assert "equal length" in result.output
    bad = runner.invoke(
        app, ["extract", "dodis", str(xf), str(xf), "--m", "4", "-o", "k", "--bits", "99"]
    )
    assert bad.exit_code != 0 and "x.bin" in bad.output and "99 bits" in bad.output


@pytest.mark.parametrize("budget", ["nan", "inf", "-inf", "-1", "0"])
def test_extract_dodis_refuses_a_memory_budget_that_is_not_a_positive_number(
    tmp_path: Path, budget: str
) -> None:
    xf = write_bits(tmp_path / "x.bin", np.ones(64, dtype=np.uint8))
    out = tmp_path / "k.bin"
    args = ["extract", "dodis", str(xf), str(xf), "--m", "4", "-o", str(out)]
    result = runner.invoke(app, [*args, f"--max-memory={budget}"])
    assert result.exit_code == 2, result.output
    assert "--max-memory" in result.output and "positive" in result.output
    assert "Traceback" not in result.output and not out.exists()


def test_extract_dodis_from_a_trial_store(tmp_path: Path) -> None:
    from diamp.daq.store import TrialStoreWriter

    rng = np.random.default_rng(2)
    trials = [rng.integers(0, 16, k, dtype=np.uint8) for k in (1001, 999, 5)]
    n = sum(t.size for t in trials)
    z = rng.integers(0, 2, 2 * n, dtype=np.uint8)
    store = tmp_path / "trials.h5"
    with TrialStoreWriter(store, "run", "cfg", hashlib.sha256(b"cfg").hexdigest()) as w:
        for t in trials:
            w.append_block(t)
        w.write_z(np.packbits(z), 2 * n)
    allt = np.concatenate(trials)
    ab = np.empty(2 * n, dtype=np.uint8)
    ab[0::2], ab[1::2] = (allt >> 1) & 1, allt & 1
    out = tmp_path / "k.bin"
    invoke("extract", "dodis", f"{store}:AB", f"{store}:/z", "--m", "500", "-o", str(out))
    assert np.array_equal(read_bits(out, 500), dodis_reference(ab, z, 500))


def test_extract_toeplitz(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    n, m = 1000, 300
    raw, seed = rng.integers(0, 2, n, dtype=np.uint8), rng.integers(0, 2, n + m - 1, dtype=np.uint8)
    rf, sf = write_bits(tmp_path / "r.bin", raw), write_bits(tmp_path / "s.bin", seed)
    out = tmp_path / "t.bin"
    invoke("extract", "toeplitz", str(rf), str(sf), "--m", str(m), "-o", str(out))
    expected = [sum(int(seed[i - j + n - 1]) * int(raw[j]) for j in range(n)) % 2 for i in range(m)]
    assert read_bits(out, m).tolist() == expected


def test_extract_toeplitz_refuses_short_seed(tmp_path: Path) -> None:
    rf = write_bits(tmp_path / "r.bin", np.ones(64, dtype=np.uint8))
    sf = write_bits(tmp_path / "s.bin", np.ones(64, dtype=np.uint8))
    result = runner.invoke(app, ["extract", "toeplitz", str(rf), str(sf), "--m", "9", "-o", "t"])
    assert result.exit_code != 0 and "72 bits" in result.output


def test_extract_xor_and_von_neumann(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    a, b, c = (rng.integers(0, 2, 4096, dtype=np.uint8) for _ in range(3))
    files = [write_bits(tmp_path / f"{k}.bin", v) for k, v in zip("abc", (a, b, c), strict=True)]
    out = tmp_path / "xor.bin"
    report = invoke("extract", "xor", *map(str, files), "-o", str(out))
    assert report["output_bits"] == 4096
    assert np.array_equal(read_bits(out, 4096), a ^ b ^ c)

    raw = (rng.random(10_000) < 0.8).astype(np.uint8)
    rf = write_bits(tmp_path / "raw.bin", raw)
    vn = tmp_path / "vn.bin"
    report = invoke("extract", "von-neumann", str(rf), "-o", str(vn))
    pairs = raw.reshape(-1, 2)
    expected = pairs[pairs[:, 0] != pairs[:, 1], 0]
    assert report["output_bits"] == expected.size
    assert np.array_equal(read_bits(vn, expected.size), expected)
    assert vn.stat().st_size == (expected.size + 7) // 8


@pytest.mark.parametrize("command", ["dodis", "toeplitz", "xor", "von-neumann"])
def test_extract_help(command: str) -> None:
    result = runner.invoke(app, ["extract", command, "--help"])
    assert result.exit_code == 0 and "Usage" in result.output


def test_extract_dodis_on_a_local_dask_cluster(tmp_path: Path) -> None:
    rng = np.random.default_rng(6)
    n, m = 2**18, 1000
    x, y = rng.integers(0, 2, n, dtype=np.uint8), rng.integers(0, 2, n, dtype=np.uint8)
    xf, yf = write_bits(tmp_path / "x.bin", x), write_bits(tmp_path / "y.bin", y)
    local, dask = tmp_path / "local.bin", tmp_path / "dask.bin"
    invoke("extract", "dodis", str(xf), str(yf), "--m", str(m), "-o", str(local))
    report = invoke(
        "extract", "dodis", str(xf), str(yf), "--m", str(m), "-o", str(dask), "--workers", "2"
    )
    assert report["dask"] == "local:2"
    assert dask.read_bytes() == local.read_bytes()
    assert np.array_equal(read_bits(dask, m), dodis_reference(x, y, m))


def test_extract_dodis_refuses_workers_and_scheduler_together(tmp_path: Path) -> None:
    xf = write_bits(tmp_path / "x.bin", np.ones(64, dtype=np.uint8))
    result = runner.invoke(
        app,
        [
            "extract",
            "dodis",
            str(xf),
            str(xf),
            "--m",
            "4",
            "-o",
            "k",
            "--workers",
            "2",
            "--scheduler",
            "tcp://127.0.0.1:1",
        ],
    )
    assert result.exit_code == 2 and "not both" in result.output
