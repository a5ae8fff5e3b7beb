"""Readout recalibration with the reference states prepared on the nodes' qubit AWGs."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from test_run_readout import BASE, hashes, readout_config

from diamp.config import load_config, parse_config
from diamp.errors import ConfigError
from diamp.protocol.run import acquire

CONFIGS = Path(__file__).resolve().parents[2] / "configs"

AWGS = """
[instruments.qubit-a]
type = "awg70k"
backend = "sim"
address = "TCPIP::awg70k-a.sim::INSTR"
node = "A"

[instruments.qubit-b]
type = "awg70k"
backend = "sim"
address = "TCPIP::awg70k-b.sim::INSTR"
node = "B"
"""
PREPARED = (
    'calibration_shots = 2048\ncalibration_awg = "qubit-a"\n'
    'calibration_waveforms = { ground = "idle", excited = "pi", trial = "basis" }\n'
)


def _write(tmp: Path, text: str) -> Path:
    shutil.copytree(CONFIGS / "instruments", tmp / "instruments", dirs_exist_ok=True)
    path = tmp / "run.toml"
    path.write_text(text)
    return path


def test_reference_states_are_played_by_the_qubit_awg(
    tmp_path: Path, scpi_commands: list[tuple[str, str]]
) -> None:
    sent = scpi_commands
    text = readout_config().replace("calibration_shots = 2048\n", PREPARED) + AWGS
    acquire(load_config(_write(tmp_path, text)), tmp_path / "trials.h5", "r")
    acquire(parse_config(BASE, "plain.toml"), tmp_path / "plain.h5", "plain")
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
    text = readout_config().replace('backend = "sim"', 'backend = "zi"') + AWGS
    with pytest.raises(ConfigError, match="needs the lab to prepare"):
        load_config(_write(tmp_path, text))
    ok = text.replace("calibration_shots = 2048\n", PREPARED)
    load_config(_write(tmp_path, ok))  # valid (the instruments are not opened here)
    wrong = ok.replace('calibration_awg = "qubit-a"', 'calibration_awg = "qubit-b"')
    with pytest.raises(ConfigError, match=r"'qubit-b' must be an awg70k at node A"):
        load_config(_write(tmp_path, wrong))
    partial = ok.replace(', trial = "basis"', "")
    with pytest.raises(ConfigError, match="give the AWG and all three"):
        load_config(_write(tmp_path, partial))
