"""The station: instruments from the run config, validated settings, snapshots in the store."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from _runconfig import CONFIGS, run_config, sim_instrument, write_config
from diamp.cli import app
from diamp.config import load_config
from diamp.errors import ConfigError, InstrumentError
from diamp.protocol.assemble import open_station

runner = CliRunner()

DEFAULT_SETTINGS = {"sample_rate": 1.0e9, "ch2.offset": 0.2}


def small(settings: dict[str, Any], blocks: int = 2, **awg: Any) -> str:
    """An AWG and a QRNG; ``awg`` replaces fields of the AWG's table."""
    return run_config(
        run={"seed": 5, "blocks": blocks, "trials_per_block": 20_000},
        sources={"z": "instruments"},  # a QRNG must be read: Z from qrng-a (z_source = alice)
        device={"visibility": 1.0},
        protocol={"s_mu_threshold": "0.001"},
        instruments={
            "awg-a": sim_instrument("awg5014", "A", settings=settings) | awg,
            "qrng-a": {"type": "qrng", "address": "qrngsim://?seed=1&bias=0.002", "node": "A"},
        },
    )


def write_small(tmp_path: Path, settings: dict[str, Any] = DEFAULT_SETTINGS) -> Path:
    return write_config(tmp_path, small(settings))


def test_station_configures_and_snapshots(tmp_path: Path) -> None:
    station = open_station(load_config(write_small(tmp_path)))
    try:
        snap = station.snapshot()
    finally:
        station.close()
    awg = snap["instruments"]["awg-a"]
    assert awg["idn"].startswith("TEKTRONIX,AWG5014C") and awg["node"] == "A"
    assert awg["settings"]["sample_rate"]["value"] == 1.0e9
    assert awg["settings"]["ch2.offset"] == {**awg["settings"]["ch2.offset"], "value": 0.2}
    assert snap["instruments"]["qrng-a"]["settings"]["mu"]["value"] == 0.0075
    assert snap["software"]["pyvisa-sim"] and len(snap["config_sha256"]) == 64


def test_out_of_range_setting_stops_before_any_io(tmp_path: Path) -> None:
    config = write_small(tmp_path, {"ch1.amplitude": 9.0})
    with pytest.raises(InstrumentError, match=r"awg-a: ch1.amplitude = 9.0 Vpp is outside"):
        open_station(load_config(config))


def test_missing_simulation_definition_is_a_config_error(tmp_path: Path) -> None:
    path = write_config(tmp_path, small({}), beside=False)  # no instruments/ beside it
    with pytest.raises(ConfigError, match=r"instruments.awg-a: backend 'sim' needs"):
        open_station(load_config(path))


def test_run_stores_snapshots_with_the_run_and_every_block(tmp_path: Path) -> None:
    import h5py

    out = tmp_path / "run"
    result = runner.invoke(app, ["run", str(write_small(tmp_path)), "--out", str(out), "-q"])
    assert result.exit_code in (0, 3), result.output
    with h5py.File(out / "trials.h5", "r") as f:
        run_snapshot = json.loads(f.attrs["station_snapshot"])
        assert set(run_snapshot["instruments"]) == {"awg-a", "qrng-a"}
        for name in f["blocks"]:
            block = json.loads(f["blocks"][name].attrs["snapshot"])
            assert block["instruments"]["awg-a"]["settings"]["sample_rate"]["value"] == 1.0e9


def test_hardware_config_names_the_unreachable_instrument(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["run", str(CONFIGS / "eth-2024.toml"), "--out", str(tmp_path / "hw")]
    )
    assert result.exit_code == 1
    assert "awg-a" in result.output and "awg5014-a.lab.invalid" in result.output
    assert not (tmp_path / "hw" / "trials.h5").exists()


def test_published_simulation_config_is_valid() -> None:
    cfg = load_config(CONFIGS / "eth-2024-sim.toml").config
    assert cfg.n_trials == 20 * 2**26 and str(cfg.sources.mu) == "3/400"
    assert set(cfg.instruments) >= {"awg-a", "awg-b", "scope-a"}
    # every part of a trial simulated: a QRNG nothing reads is refused, so it declares none
    src = cfg.sources
    assert (src.inputs, src.z, src.outcomes) == ("simulated", "simulated", "simulated")
    assert not any(i.type == "qrng" for i in cfg.instruments.values())


def test_instrument_lost_mid_run_keeps_completed_blocks(tmp_path: Path) -> None:
    from diamp.daq.instruments.tektronix import Awg5014
    from diamp.daq.sim.scpi_server import InstrumentState, LoopbackScpiServer
    from diamp.daq.store import TrialStoreReader

    headers = {
        setting.get_cmd.format(ch=ch).removesuffix("?"): setting.choices[0]
        if setting.choices
        else "0"
        for setting in Awg5014.SETTINGS.values()
        for ch in setting.channels or (None,)
    }
    state = InstrumentState(settings=headers)
    with LoopbackScpiServer(state) as server:
        config = write_config(tmp_path, small({}, blocks=6, backend="py", address=server.resource))
        # open + configure + run snapshot + 3 blocks (snapshot, AWGC:RUN and AWGC:STOP each
        # checked with SYST:ERR? and *ESR?), then the link goes down in block 3's snapshot
        per_snapshot = 16  # queries for every declared AWG5014 setting
        run_stop = 2 * 3
        state.disconnect_after = 1 + 2 + per_snapshot + 3 * (per_snapshot + run_stop)
        out = tmp_path / "run"
        result = runner.invoke(app, ["run", str(config), "--out", str(out), "-q"])
    assert result.exit_code == 1, result.output
    assert "awg-a" in result.output
    with TrialStoreReader(out / "trials.h5") as reader:
        blocks = reader.blocks()
        assert len(blocks) == 3 and all(b.status == "complete" for b in blocks)
        for b in blocks:
            reader.read_block(b)
