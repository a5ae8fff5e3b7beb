"""SCPI drivers against pyvisa-sim definitions (configs/instruments/*.yaml)."""

from __future__ import annotations

from pathlib import Path

import pytest

from diamp.daq.instruments.tektronix import Awg70k, Awg5014, TekScope
from diamp.daq.qrng import SerialQrng
from diamp.daq.registry import INSTRUMENTS
from diamp.errors import InstrumentError

SIM = Path(__file__).resolve().parents[2] / "configs" / "instruments"


def awg() -> Awg5014:
    return Awg5014("awg-a", "TCPIP::awg5014-a.sim::INSTR", f"{SIM / 'awg5014.yaml'}@sim")


def test_configure_and_snapshot_round_trip() -> None:
    a = awg()
    assert a.idn.startswith("TEKTRONIX,AWG5014C")
    a.configure({"sample_rate": 1.0e9, "run_mode": "TRIG", "ch3.amplitude": 0.75, "ch3.output": 1})
    a.run()
    a.stop()
    snap = a.snapshot()
    assert snap["sample_rate"]["value"] == 1.0e9 and snap["sample_rate"]["unit"] == "S/s"
    assert snap["ch3.amplitude"]["value"] == 0.75 and snap["ch3.output"]["value"] == 1
    assert snap["run_mode"]["value"] == "TRIG"
    assert all("timestamp" in v for v in snap.values())
    assert len(snap) == 4 + 3 * 4  # every declared setting, per channel where it applies


def test_scope_and_awg70k() -> None:
    scope = TekScope("scope-b", "TCPIP::scope-b.sim::INSTR", f"{SIM / 'scope.yaml'}@sim")
    scope.configure({"acquire_mode": "ENVELOPE", "envelope_count": 5000, "ch1.scale": 0.05})
    assert scope.snapshot()["envelope_count"]["value"] == 5000
    q = Awg70k("awg70k-a", "TCPIP::awg70k-a.sim::INSTR", f"{SIM / 'awg70k.yaml'}@sim")
    q.configure({"sample_rate": 25e9, "ch1.amplitude": 0.4})
    assert q.snapshot()["ch1.amplitude"]["value"] == 0.4
    drivers = {n: t.load_driver() for n, t in INSTRUMENTS.items() if t.role != "qubit-readout"}
    assert drivers == {"awg5014": Awg5014, "awg70k": Awg70k, "scope": TekScope, "qrng": SerialQrng}


@pytest.mark.parametrize(
    ("settings", "needle"),
    [
        ({"sample_rate": 5e9}, "outside [10000000.0, 1200000000.0] S/s"),
        ({"ch1.amplitude": 0.01}, "ch1.amplitude = 0.01 Vpp is outside"),
        ({"run_mode": "FAST"}, "not one of"),
        ({"ch5.amplitude": 1.0}, "needs a channel"),
        ({"amplitude": 1.0}, "needs a channel"),
        ({"ch1.sample_rate": 1e9}, "not per channel"),
        ({"voltage": 1.0}, "unknown setting 'voltage'"),
        ({"trigger_level": float("nan")}, "not a finite number"),
    ],
)
def test_invalid_settings_never_reach_the_device(settings: dict[str, object], needle: str) -> None:
    a = awg()
    before = a.snapshot()
    with pytest.raises(InstrumentError, match="awg-a") as info:
        a.configure({"ch2.offset": 0.5, **settings})  # a valid setting first: nothing is sent
    assert needle in str(info.value)
    after = a.snapshot()
    assert {k: v["value"] for k, v in after.items()} == {k: v["value"] for k, v in before.items()}


def test_device_errors_name_instrument_and_command() -> None:
    a = awg()
    a.write("SOUR1:FREQ 5.000000E+09")  # bypassing validation: the device refuses it
    with pytest.raises(InstrumentError, match=r"awg-a \(SOUR1:FREQ 5.*Undefined header") as info:
        a.check_errors("SOUR1:FREQ 5.000000E+09")
    assert info.value.instrument == "awg-a"  # type: ignore[attr-defined]
    a.write("BOGUS:COMMAND")
    with pytest.raises(InstrumentError, match=r"\*ESR\? = 32"):
        a.check_errors("BOGUS:COMMAND")
    a.check_errors("nothing")  # the queue is drained: no stale errors


def test_unreachable_and_wrong_instruments() -> None:
    with pytest.raises(InstrumentError, match=r"awg-x: cannot .* is it connected"):
        Awg5014("awg-x", "TCPIP::missing.sim::INSTR", f"{SIM / 'awg5014.yaml'}@sim")
    with pytest.raises(InstrumentError, match="expected an instrument identifying as"):
        Awg5014("awg-a", "TCPIP::awg70k-a.sim::INSTR", f"{SIM / 'awg70k.yaml'}@sim")
