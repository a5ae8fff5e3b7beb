"""Inputs from the station's QRNGs: exact data path, and instrument failures mid-run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from _runconfig import run_config, write_config
from diamp.cli import app
from diamp.config import parse_config
from diamp.daq.sim.sv_sources import IidSVSource
from diamp.daq.store import TrialStoreReader
from diamp.errors import ConfigError

runner = CliRunner()
TRIALS = 40_000  # per block: 5,000 bytes from each QRNG


def config_text(url_a: str, seed_b: int, trials: int = TRIALS, node_b: str = "B") -> str:
    """x from qrng-a (node A), y from qrng-b (node B), Z from qrng-a (z_source = alice)."""
    return run_config(
        run={"seed": 77, "blocks": 4, "trials_per_block": trials},
        sources={"inputs": "instruments", "z": "instruments"},
        device={"visibility": 1.0},
        protocol={"s_mu_threshold": "0.001"},
        instruments={
            "qrng-a": {"type": "qrng", "address": url_a, "node": "A"},
            "qrng-b": {
                "type": "qrng",
                "address": f"qrngsim://?seed={seed_b}&bias=0.003&model=markov",
                "node": node_b,
            },
        },
    )


def write(tmp_path: Path, url_a: str, seed_b: int) -> Path:
    return write_config(tmp_path, config_text(url_a, seed_b))


def test_inputs_come_bit_for_bit_from_the_qrng(tmp_path: Path) -> None:
    seed = 91_000 + 1  # unique to this test: the device stream of its first opening
    out = tmp_path / "run"
    config = write(tmp_path, f"qrngsim://?seed={seed}&bias=0.004", 91_002)
    result = runner.invoke(app, ["run", str(config), "--out", str(out), "-q"])
    assert result.exit_code in (0, 3), result.output
    with TrialStoreReader(out / "trials.h5") as reader:
        trials = np.concatenate([reader.read_block(b) for b in reader.blocks()])
    rng = np.random.Generator(np.random.PCG64DXSM(np.random.SeedSequence(seed, spawn_key=(0,))))
    expected_x = IidSVSource(0.004, rng).bits(4 * TRIALS)
    assert np.array_equal((trials >> 3) & 1, expected_x)
    assert trials.size == 4 * TRIALS  # every trial recorded, none dropped or duplicated


def test_qrng_disconnect_mid_run_keeps_completed_blocks(tmp_path: Path) -> None:
    out = tmp_path / "run"
    url = "qrngsim://?seed=92001&fault=disconnect&fault_after=12500"  # in block 2
    result = runner.invoke(app, ["run", str(write(tmp_path, url, 92_002)), "--out", str(out), "-q"])
    assert result.exit_code == 1
    assert "qrng-a" in result.output and "disconnected" in result.output
    with TrialStoreReader(out / "trials.h5") as reader:
        blocks = reader.blocks()
        assert [b.index for b in blocks] == [0, 1]
        assert all(b.status == "complete" for b in blocks)
        for b in blocks:
            reader.read_block(b)  # checksums intact


def test_stuck_qrng_fails_its_health_check(tmp_path: Path) -> None:
    out = tmp_path / "run"
    url = "qrngsim://?seed=93001&fault=stuck&fault_after=6000"
    result = runner.invoke(app, ["run", str(write(tmp_path, url, 93_002)), "--out", str(out), "-q"])
    assert result.exit_code == 1
    assert "qrng-a" in result.output and "health check failed" in result.output
    with TrialStoreReader(out / "trials.h5") as reader:
        assert [b.index for b in reader.blocks()] == [0]


def test_instrument_inputs_need_a_qrng_per_node() -> None:
    text = config_text("qrngsim://?seed=1", 2, trials=10, node_b="A")
    with pytest.raises(ConfigError, match=r"needs exactly one .* of type .qrng. at node"):
        parse_config(text, "run.toml")
