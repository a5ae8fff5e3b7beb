"""Readout recalibration with the reference states prepared on the nodes' qubit AWGs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from test_run_readout import hashes, plain_config, readout_config

from _runconfig import sim_instrument, write_config
from diamp.config import load_config, parse_config
from diamp.errors import ConfigError
from diamp.protocol.run import acquire

AWGS = {"qubit-a": sim_instrument("awg70k", "A"), "qubit-b": sim_instrument("awg70k", "B")}
PREPARED = {
    "calibration_shots": 2048,
    "calibration_awg": "qubit-a",
    "calibration_waveforms": {"ground": "idle", "excited": "pi", "trial": "basis"},
}


def test_reference_states_are_played_by_the_qubit_awg(
    tmp_path: Path, scpi_commands: list[tuple[str, str]]
) -> None:
    sent = scpi_commands
    text = readout_config(a=PREPARED, instruments=AWGS)
    acquire(load_config(write_config(tmp_path, text)), tmp_path / "trials.h5", "r")
    acquire(parse_config(plain_config(), "plain.toml"), tmp_path / "plain.h5", "plain")
    assert hashes(tmp_path / "trials.h5") == hashes(tmp_path / "plain.h5")

    qubit_a = [cmd for name, cmd in sent if name == "qubit-a"]
    runs = ["AWGC:RUN:IMM", "AWGC:STOP:IMM"]
    calibration = [
        'SOUR1:CASS:WAV "idle"',
        *runs,
        'SOUR1:CASS:WAV "pi"',
        *runs,
        'SOUR1:CASS:WAV "basis"',
    ]
    per_block = calibration + runs * 2  # 1.5 M trials: two readout acquisitions of <= 2^20
    assert qubit_a == per_block * 3
    assert not any("CASS" in cmd for name, cmd in sent if name == "qubit-b")  # not configured


def test_hardware_readouts_need_the_states_prepared(tmp_path: Path) -> None:
    zi = {"backend": "zi"}

    def hardware(**qa_a: Any) -> Path:
        text = readout_config(a=zi | qa_a, b=zi, instruments=AWGS)
        return write_config(tmp_path, text)

    with pytest.raises(ConfigError, match="needs the lab to prepare"):
        load_config(hardware())
    load_config(hardware(**PREPARED))  # valid (the instruments are not opened here)
    with pytest.raises(ConfigError, match=r"'qubit-b' must be an awg70k at node A"):
        load_config(hardware(**PREPARED | {"calibration_awg": "qubit-b"}))
    partial = {"ground": "idle", "excited": "pi"}
    with pytest.raises(ConfigError, match="give the AWG and all three"):
        load_config(hardware(**PREPARED | {"calibration_waveforms": partial}))
