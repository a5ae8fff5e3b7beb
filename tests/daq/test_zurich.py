"""UHFQA and SHFQA readouts through a real zhinst.toolkit.Session on the simulated server."""

from __future__ import annotations

import cmath
import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from diamp.daq.instruments._zi_base import ZiReadoutBase
from diamp.daq.instruments.zurich import ShfqaReadout, UhfqaReadout, parse_address
from diamp.daq.readout import QubitReadout, discriminate
from diamp.daq.readouts import open_readout
from diamp.daq.registry import INSTRUMENTS, READOUT_TYPES
from diamp.daq.sim.zi.server import SignalModel, SimulatedDataServer, SimulatedDevice
from diamp.errors import ConfigError, InstrumentError

RF = {"center_frequency": 6.1e9, "input_range": -5, "output_range": -10}


class Source:
    """Outcome source: seeded random bits, or all ``force`` when set."""

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.force: int | None = None

    def __call__(self, n: int) -> np.ndarray:
        if self.force is not None:
            return np.full(n, self.force, dtype=np.uint8)
        return self.rng.integers(0, 2, n, dtype=np.uint8)


@dataclass
class Lab:
    server: SimulatedDataServer
    device: SimulatedDevice
    signal: SignalModel
    source: Source
    readout: ZiReadoutBase
    prefix: str  # node prefix of the readout's result logger

    @property
    def sets(self) -> int:
        return len(self.server.set_log)


KINDS = {
    "uhfqa": ("dev2345", {}, "/dev2345/qas/0/"),
    "shfqa": ("dev12001", RF, "/dev12001/qachannels/0/readout/"),
}


def make_lab(kind: str, ground: complex = -0.2 + 0.1j, excited: complex = 0.25 + 0.35j) -> Lab:
    serial, settings, prefix = KINDS[kind]
    server = SimulatedDataServer()
    source = Source(seed=5)
    signal = SignalModel(source, ground=ground, excited=excited, noise=0.05, seed=9)
    device = (
        server.add_uhfqa(serial, signal) if kind == "uhfqa" else server.add_shfqa(serial, signal)
    )
    readout = open_readout(kind, f"qa-{kind}", serial, connection=server)
    assert isinstance(readout, ZiReadoutBase)
    readout.configure(settings)
    return Lab(server, device, signal, source, readout, prefix)


@pytest.fixture(params=sorted(KINDS))
def lab(request: pytest.FixtureRequest) -> Lab:
    return make_lab(request.param)


def reference_shots(lab: Lab, n: int) -> tuple[np.ndarray, np.ndarray]:
    shots = []
    for state in (0, 1):
        lab.source.force = state
        lab.readout.arm(n)
        shots.append(lab.readout.read_values(n, timeout_s=1.0))
    lab.source.force = None
    return shots[0], shots[1]


def test_round_trip_through_a_toolkit_session(lab: Lab) -> None:
    from zhinst.toolkit import Session

    r = lab.readout
    assert isinstance(r, QubitReadout)
    assert type(r._session) is Session  # the real toolkit, not a stand-in
    r.arm(2000)
    values = r.read_values(2000, timeout_s=1.0)
    bits = lab.signal.last_bits
    assert values.dtype == np.complex128 and values.shape == (2000,)
    assert 800 < int(bits.sum()) < 1200
    assert abs(values[bits == 0].mean() - lab.signal.ground) < 0.01
    assert abs(values[bits == 1].mean() - lab.signal.excited) < 0.01
    assert np.std((values - np.where(bits == 1, lab.signal.excited, lab.signal.ground)).real) == (
        pytest.approx(0.05, rel=0.1)
    )


@pytest.mark.parametrize("source", ["integration", "discrimination"])
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_read_outcomes_reproduces_the_outcome_source_bit_for_bit(kind: str, source: str) -> None:
    lab = make_lab(kind, ground=0.3j, excited=-0.4 + 0.1j)  # a rotated blob geometry
    lab.readout.recalibrate(*reference_shots(lab, 500))
    lab.readout.configure({"result_source": source})
    for n in (1, 5000):
        lab.readout.arm(n)
        bits = lab.readout.read_outcomes(n, timeout_s=1.0)
        assert bits.dtype == np.uint8 and bits.shape == (n,)
        assert np.array_equal(bits, lab.signal.last_bits)


def test_device_and_host_discrimination_agree_shot_by_shot(lab: Lab) -> None:
    r = lab.readout
    r.recalibrate(*reference_shots(lab, 300))
    lab.signal.noise = 0.3  # poor SNR: many misassignments, which must be the same ones

    def replay() -> None:
        lab.signal.reseed(123)
        lab.source.rng = np.random.default_rng(123)

    replay()
    r.arm(3000)
    host = discriminate(r.read_values(3000, timeout_s=1.0), r.calibration)
    truth = lab.signal.last_bits
    assert 0.02 < np.mean(host != truth) < 0.5
    r.configure({"result_source": "discrimination"})
    replay()
    r.arm(3000)
    device = r.read_outcomes(3000, timeout_s=1.0)
    assert np.array_equal(lab.signal.last_bits, truth)  # the same shots were replayed
    assert np.array_equal(device, host)


def test_recalibrate_recovers_the_blob_geometry_in_one_transaction(lab: Lab) -> None:
    ground, excited = reference_shots(lab, 2000)
    before = lab.sets
    cal = lab.readout.recalibrate(ground, excited)
    assert lab.sets == before + 1  # rotation and threshold in one transaction
    g, e = lab.signal.ground, lab.signal.excited
    assert abs(cal.ground_mean - g) < 0.005 and abs(cal.excited_mean - e) < 0.005
    assert cal.angle == pytest.approx(cmath.phase(e - g), abs=0.01)
    assert cal.threshold == pytest.approx(
        ((g + e) / 2 * cmath.exp(-1j * cal.angle)).real, abs=0.005
    )
    assert cal.fidelity > 0.999
    snap = lab.readout.snapshot()
    assert snap["rotation_angle"]["value"] == pytest.approx(cal.angle, abs=1e-12)
    assert snap["threshold"]["value"] == pytest.approx(cal.threshold, abs=1e-12)
    assert lab.readout.calibration == cal
    values_after = reference_shots(lab, 500)[1]  # values stay in the unrotated frame
    assert abs(values_after.mean() - e) < 0.01


def test_recalibration_with_poor_fidelity_is_refused_and_changes_nothing(lab: Lab) -> None:
    lab.signal.noise = 1.0
    ground, excited = reference_shots(lab, 400)
    before, old = lab.sets, lab.readout.calibration
    with pytest.raises(InstrumentError, match="below min_fidelity") as info:
        lab.readout.recalibrate(ground, excited)
    assert info.value.fields["instrument"] == lab.readout.name
    assert lab.sets == before and lab.readout.calibration == old
    with pytest.raises(InstrumentError, match="same mean"):
        lab.readout.recalibrate(np.ones(3), np.ones(3))


def test_configure_is_one_transaction(lab: Lab) -> None:
    before = lab.sets
    lab.readout.configure({"rotation_angle": 0.5, "threshold": 0.1})
    assert lab.sets == before + 1
    written = {path for path, _ in lab.server.set_log[-1]}
    assert len(written) >= 10  # the whole configuration, weights included
    assert any(p.endswith("threshold") or p.endswith("level") for p in written)
    assert any("weights" in p for p in written)


BAD_SETTINGS: list[tuple[str, dict[str, Any], str]] = [
    ("uhfqa", {"integration_length": 5000}, "outside"),
    ("uhfqa", {"integration_length": 64.5}, "integer"),
    ("uhfqa", {"delay": 6}, "multiple of 4"),
    ("uhfqa", {"channel": 9}, "outside"),
    ("uhfqa", {"averages": 2}, "outside"),
    ("uhfqa", {"result_source": "raw"}, "not one of"),
    ("uhfqa", {"threshold": math.nan}, "finite"),
    ("uhfqa", {"threshold": True}, "finite"),
    ("uhfqa", {"gain": 1.0}, "unknown setting"),
    ("uhfqa", {"rotation_angle": 4.0}, "outside"),
    ("shfqa", {"center_frequency": 6.15e9}, "multiple of"),
    ("shfqa", {"center_frequency": 9e9}, "outside"),
    ("shfqa", {"input_range": 12}, "outside"),
    ("shfqa", {"output_range": -40}, "outside"),
    ("shfqa", {"integration_length": 130}, "multiple of 4"),
    ("shfqa", {"integration_delay": 1e-9}, "multiple of"),
    ("shfqa", {"qachannel": 2}, "the device has 2"),
    ("shfqa", {"integrator": 8}, "the device has 8"),
    ("shfqa", {"averages": 0}, "outside"),
]


@pytest.mark.parametrize(("kind", "settings", "message"), BAD_SETTINGS)
def test_invalid_settings_are_refused_before_any_write(
    kind: str, settings: dict[str, Any], message: str
) -> None:
    lab = make_lab(kind)
    before, state = lab.sets, dict(lab.readout._state)
    batch = {"threshold": 0.2, **settings}  # a valid value in the same batch is not sent either
    with pytest.raises(InstrumentError, match=message) as info:
        lab.readout.configure(batch)
    assert lab.sets == before, "the server saw a set"
    assert lab.readout._state == state
    assert info.value.fields["instrument"] == f"qa-{kind}"


def test_shfqa_rf_settings_have_no_default() -> None:
    server = SimulatedDataServer()
    server.add_shfqa("dev12001", SignalModel(Source(1)))
    readout = ShfqaReadout("qa-b", "dev12001", connection=server)
    with pytest.raises(InstrumentError, match="center_frequency"):
        readout.configure({"input_range": 0, "output_range": 0})
    assert server.set_log == []


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_a_failing_node_ends_the_configuration_naming_it(kind: str) -> None:
    lab = make_lab(kind)
    node = lab.prefix + ("thresholds/0/level" if kind == "uhfqa" else "discriminators/0/threshold")
    lab.server.fail_node(node, "FPGA register write failed")
    length = lab.server.values[lab.prefix + "integration/length"]
    with pytest.raises(InstrumentError, match="FPGA register write failed") as info:
        lab.readout.configure({"integration_length": 256})
    assert info.value.fields["node"] == node
    assert info.value.fields["instrument"] == f"qa-{kind}"
    assert lab.server.values[lab.prefix + "integration/length"] == length  # nothing applied


def test_a_stalled_result_logger_times_out(lab: Lab) -> None:
    lab.device.stall()
    lab.readout.arm(100)
    start = time.monotonic()
    with pytest.raises(InstrumentError, match="timeout") as info:
        lab.readout.read_values(100, timeout_s=0.2)
    assert 0.2 <= time.monotonic() - start < 2.0
    assert info.value.fields["node"].startswith(lab.prefix + "result/")
    assert info.value.fields["expected"] == 100
    lab.device.stall(False)
    assert lab.readout.read_values(100, timeout_s=1.0).shape == (100,)  # recovers


@pytest.mark.parametrize("source", ["integration", "discrimination"])
def test_a_short_read_is_a_count_mismatch(lab: Lab, source: str) -> None:
    lab.readout.configure({"result_source": source})
    lab.device.short_read(7)
    lab.readout.arm(10)
    with pytest.raises(
        InstrumentError, match="count mismatch: expected 10 results, received 7"
    ) as info:
        lab.readout.read_outcomes(10, timeout_s=1.0)
    assert info.value.fields["node"].endswith("/wave")
    assert info.value.fields["received"] == 7


def test_a_failing_result_node_is_named(lab: Lab) -> None:
    node = lab.prefix + "result/data/0/wave"
    lab.server.fail_node(node, "lost the data stream")
    lab.readout.arm(10)
    with pytest.raises(InstrumentError, match="lost the data stream") as info:
        lab.readout.read_values(10, timeout_s=1.0)
    assert info.value.fields["node"] == node


def test_snapshot_reads_back_every_setting(lab: Lab) -> None:
    r = lab.readout
    r.configure({"integration_length": 256, "rotation_angle": -1.25, "threshold": 0.125})
    snap = r.snapshot()
    assert set(snap) == set(r.SETTINGS)
    for key, entry in snap.items():
        assert set(entry) == {"value", "unit", "timestamp"}
        assert entry["unit"] == r.SETTINGS[key].unit
        assert abs(entry["timestamp"] - time.time()) < 60
    assert snap["integration_length"]["value"] == 256
    assert snap["rotation_angle"]["value"] == pytest.approx(-1.25, abs=1e-12)
    assert snap["threshold"]["value"] == 0.125
    assert snap["result_source"]["value"] == "integration" and snap["averages"]["value"] == 1
    if isinstance(r, ShfqaReadout):
        assert snap["center_frequency"] == {
            **snap["center_frequency"],
            "value": 6.1e9,
            "unit": "Hz",
        }
        assert snap["input_range"]["value"] == -5 and snap["output_range"]["unit"] == "dBm"


def test_misuse_fails_closed(lab: Lab) -> None:
    r = lab.readout
    with pytest.raises(InstrumentError, match="not armed"):
        r.read_values(10, timeout_s=1.0)
    for n in (0, r.MAX_RESULTS + 1, 2.0, True):
        with pytest.raises(InstrumentError, match="n_results"):
            r.arm(n)  # type: ignore[arg-type]
    r.arm(10)
    with pytest.raises(InstrumentError, match="armed for 10"):
        r.read_values(11, timeout_s=1.0)
    with pytest.raises(InstrumentError, match="timeout_s"):
        r.read_values(10, timeout_s=0)
    r.configure({"result_source": "discrimination"})
    r.arm(10)
    with pytest.raises(InstrumentError, match="result_source = 'integration'"):
        r.read_values(10, timeout_s=1.0)
    r.close()
    with pytest.raises(InstrumentError, match="closed"):
        r.arm(10)


def test_unconfigured_readout_cannot_be_armed() -> None:
    server = SimulatedDataServer()
    server.add_uhfqa("dev2345", SignalModel(Source(1)))
    readout = UhfqaReadout("qa-a", "dev2345", connection=server)
    with pytest.raises(InstrumentError, match="configure"):
        readout.arm(10)


def test_backend_registry_and_addresses() -> None:
    assert READOUT_TYPES == ("uhfqa", "shfqa")
    assert INSTRUMENTS["uhfqa"].load_driver() == UhfqaReadout.from_address
    assert INSTRUMENTS["shfqa"].load_driver() == ShfqaReadout.from_address
    assert parse_address("DEV2345") == ("dev2345", "localhost", 8004)
    assert parse_address("dev12001@10.0.0.5:8010") == ("dev12001", "10.0.0.5", 8010)
    for bad in ("2345", "dev23x5", "dev2345@host:port"):
        with pytest.raises(ConfigError):
            parse_address(bad)
    with pytest.raises(ConfigError, match="unknown readout type"):
        open_readout("hdawg", "x", "dev1")


def test_wrong_or_missing_device_is_refused() -> None:
    server = SimulatedDataServer()
    server.add_shfqa("dev12001", SignalModel(Source(1)))
    with pytest.raises(InstrumentError, match="not a UHFQA"):
        UhfqaReadout("qa-a", "dev12001", connection=server)
    with pytest.raises(InstrumentError, match="cannot connect device dev9999") as info:
        UhfqaReadout("qa-a", "dev9999", connection=server)
    assert info.value.fields["instrument"] == "qa-a"


def test_uhfqa_integrates_on_the_configured_unit_pair() -> None:
    lab = make_lab("uhfqa")
    lab.readout.configure({"channel": 4})
    lab.readout.recalibrate(*reference_shots(lab, 300))
    cal, values = lab.readout.calibration, lab.server.values
    assert values["/dev2345/qas/0/rotations/4"] == pytest.approx(cal.rotation)
    assert values["/dev2345/qas/0/rotations/5"] == pytest.approx(-1j * cal.rotation)
    assert values["/dev2345/qas/0/thresholds/4/level"] == cal.threshold
    lab.readout.configure({"result_source": "discrimination"})
    lab.readout.arm(1000)
    assert np.array_equal(lab.readout.read_outcomes(1000, timeout_s=1.0), lab.signal.last_bits)


def test_an_unreachable_data_server_is_an_instrument_error() -> None:
    with pytest.raises(
        InstrumentError, match=r"cannot open a LabOne session to 127\.0\.0\.1:1"
    ) as info:
        UhfqaReadout("qa-a", "dev2345", host="127.0.0.1", port=1)  # loopback, nothing listens
    assert info.value.fields == {"instrument": "qa-a", "address": "127.0.0.1:1"}


def test_factory_options_reach_the_backend() -> None:
    server = SimulatedDataServer()
    server.add_shfqa("dev12001", SignalModel(Source(1)))
    readout = open_readout(
        "shfqa", "qa-b", "dev12001@ignored-host:8004", connection=server, min_fidelity=0.99
    )
    assert isinstance(readout, ShfqaReadout) and readout.min_fidelity == 0.99
