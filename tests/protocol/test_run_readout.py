"""Runs whose outcomes come through the Zurich Instruments readouts (simulated data server).

The simulated readouts integrate a signal generated from the Bell device's outcomes, and the
controller reads the outcomes back through zhinst-toolkit exactly as in the lab. At the
simulator's signal-to-noise ratio the discrimination is error-free, so the store must equal
the store of the same run without readouts, trial for trial.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from _runconfig import run_config
from diamp.config import parse_config
from diamp.daq.store import TrialStoreReader
from diamp.errors import ConfigError, InstrumentError
from diamp.protocol.run import acquire

BASE: dict[str, dict[str, Any]] = {
    "run": {"seed": 41, "blocks": 3, "trials_per_block": 1_500_000},
    "device": {"visibility": 0.95},
    "protocol": {"s_mu_threshold": "0.004"},
}
SETTINGS: dict[str, dict[str, Any]] = {
    "uhfqa": {"integration_length": 2048},
    "shfqa": {"center_frequency": 6.1e9, "input_range": -5, "output_range": -10},
}


def plain_config() -> str:
    """The run without readouts: outcomes from the simulated device."""
    return run_config(BASE)


def readout_config(
    kind: str = "uhfqa",
    fault_a: str = "",
    *,
    a: dict[str, Any] | None = None,
    b: dict[str, Any] | None = None,
    instruments: dict[str, Any] | None = None,
) -> str:
    """The run with outcomes from readouts qa-a, qa-b; ``a``, ``b`` replace their fields."""
    readouts = {
        "qa-a": {
            "type": kind,
            "backend": "sim",
            "address": f"dev2345{fault_a}",
            "node": "A",
            "calibration_shots": 2048,
            "timeout_s": 2,
            "settings": SETTINGS[kind],
            **(a or {}),
        },
        "qa-b": {
            "type": kind,
            "backend": "sim",
            "address": "dev2346",
            "node": "B",
            "settings": SETTINGS[kind],
            **(b or {}),
        },
    }
    return run_config(
        BASE,
        sources={"outcomes": "instruments"},
        instruments={**readouts, **(instruments or {})},
    )


def hashes(path: Path) -> list[str]:
    with TrialStoreReader(path) as reader:
        return [hashlib.sha256(reader.read_block(b).tobytes()).hexdigest() for b in reader.blocks()]


@pytest.mark.parametrize("kind", ["uhfqa", "shfqa"])
def test_outcomes_through_readouts_equal_the_device_outcomes(tmp_path: Path, kind: str) -> None:
    acquire(parse_config(plain_config(), "plain.toml"), tmp_path / "plain.h5", "plain")
    acquire(parse_config(readout_config(kind), "zi.toml"), tmp_path / "zi.h5", "zi")
    assert hashes(tmp_path / "zi.h5") == hashes(tmp_path / "plain.h5")
    with TrialStoreReader(tmp_path / "zi.h5") as reader:
        snapshot = json.loads(reader._file["blocks/000001"].attrs["snapshot"])
    settings = snapshot["instruments"]["qa-a"]["settings"]
    assert {"threshold", "rotation_angle"} <= set(settings)
    assert all({"value", "unit", "timestamp"} <= set(v) for v in settings.values())
    # node A recalibrates before every block from its reference shots; B keeps its settings
    assert settings["rotation_angle"]["value"] != 0.0
    assert snapshot["instruments"]["qa-b"]["settings"]["rotation_angle"]["value"] == 0.0


@pytest.mark.parametrize(
    ("fault", "message"), [("?stall_at=7", "timeout|timed out"), ("?short_at=7", "1048575")]
)
def test_readout_fault_mid_run_names_it_and_keeps_complete_blocks(
    tmp_path: Path, fault: str, message: str
) -> None:
    """Node A's acquisitions: before each block 2 for calibration, then 2 for the block
    (1.5 M shots > 2^20): the 7th is block 1's first, so block 1 fails and is not stored."""
    loaded = parse_config(readout_config(fault_a=fault), "zi.toml")
    with pytest.raises(InstrumentError, match="qa-a") as info:
        acquire(loaded, tmp_path / "run.h5", "r")
    assert info.match(message)
    with TrialStoreReader(tmp_path / "run.h5") as reader:
        assert [b.index for b in reader.blocks()] == [0]
        reader.read_block(reader.blocks()[0])  # verified


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"b": {"backend": "py"}}, "backend 'sim' or 'zi'"),
        ({"a": {"node": "B"}}, "exactly one per node"),
    ],
    ids=["backend", "node"],
)
def test_readout_config_errors(patch: dict[str, dict[str, str]], message: str) -> None:
    text = readout_config(**patch)
    with pytest.raises(ConfigError, match=message):
        parse_config(text, "zi.toml")
