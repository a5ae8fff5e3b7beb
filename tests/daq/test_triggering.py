"""Each acquisition runs the generators as one transaction: slaves first, trigger masters last."""

from __future__ import annotations

from pathlib import Path

import pytest

from _runconfig import run_config, sim_instrument, write_config
from diamp.config import load_config
from diamp.daq.roles import Oscilloscope, PulseGenerator, trigger_order
from diamp.daq.store import TrialStoreReader
from diamp.errors import InstrumentError
from diamp.protocol.assemble import open_station
from diamp.protocol.run import acquire

CONFIG = run_config(
    run={"seed": 5, "blocks": 3, "trials_per_block": 20_000},
    device={"visibility": 1.0},
    protocol={"s_mu_threshold": "0.001"},
    instruments={
        "awg-b": sim_instrument("awg5014", "B"),
        "awg-a": sim_instrument("awg5014", "A"),
        "qubit-a": sim_instrument("awg70k", "A"),
        "scope-a": sim_instrument("scope", "A"),
    },
)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return write_config(tmp_path, CONFIG)


def _runs(sent: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(name, cmd) for name, cmd in sent if cmd.startswith(("AWGC:RUN", "AWGC:STOP"))]


def test_trigger_order_starts_masters_last() -> None:
    order = trigger_order({"m2": "awg5014", "q": "awg70k", "m1": "awg5014", "p": "awg70k"})
    assert order == ["p", "q", "m1", "m2"]


def test_drivers_play_their_roles(config: Path) -> None:
    station = open_station(load_config(config))
    try:
        assert isinstance(station.instruments["awg-a"], PulseGenerator)
        assert isinstance(station.instruments["qubit-a"], PulseGenerator)
        assert isinstance(station.instruments["scope-a"], Oscilloscope)
        assert station.generators() == {"awg-b": "awg5014", "awg-a": "awg5014", "qubit-a": "awg70k"}
    finally:
        station.close()


def test_every_block_starts_slaves_then_masters_and_stops_in_reverse(
    config: Path, tmp_path: Path, scpi_commands: list[tuple[str, str]]
) -> None:
    acquire(load_config(config), tmp_path / "trials.h5", "r")
    one_block = [
        ("qubit-a", "AWGC:RUN:IMM"),
        ("awg-a", "AWGC:RUN"),
        ("awg-b", "AWGC:RUN"),
        ("awg-b", "AWGC:STOP"),
        ("awg-a", "AWGC:STOP"),
        ("qubit-a", "AWGC:STOP:IMM"),
    ]
    assert _runs(scpi_commands) == one_block * 3


def test_a_generator_failing_to_start_stops_the_started_ones_and_the_block(
    config: Path,
    tmp_path: Path,
    scpi_commands: list[tuple[str, str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from diamp.daq.instruments.tektronix import Awg5014

    original = Awg5014.run
    starts = 0

    def flaky(self: Awg5014) -> None:
        nonlocal starts
        if self.name == "awg-b":
            starts += 1
            if starts == 2:  # block 1: awg-b refuses to start
                raise InstrumentError(f"{self.name} (AWGC:RUN): -200 execution error")
        original(self)

    monkeypatch.setattr(Awg5014, "run", flaky)
    store = tmp_path / "trials.h5"
    with pytest.raises(InstrumentError, match=r"awg-b \(AWGC:RUN\)"):
        acquire(load_config(config), store, "r")
    second = _runs(scpi_commands)[6:]
    assert second == [  # started ones stopped in reverse order; nothing else ran
        ("qubit-a", "AWGC:RUN:IMM"),
        ("awg-a", "AWGC:RUN"),
        ("awg-a", "AWGC:STOP"),
        ("qubit-a", "AWGC:STOP:IMM"),
    ]
    with TrialStoreReader(store) as reader:
        assert [b.index for b in reader.blocks()] == [0]  # block 0 kept, block 1 not stored
