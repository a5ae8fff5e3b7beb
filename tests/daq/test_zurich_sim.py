"""The simulated ZI data server: node docs, device-like enforcement, result loggers, faults."""

from __future__ import annotations

import json

import numpy as np
import pytest

from diamp.daq.sim.zi.server import SignalModel, SimulatedDataServer


def bits(n: int) -> np.ndarray:
    return np.arange(n, dtype=np.uint8) % 2


@pytest.fixture
def server() -> SimulatedDataServer:
    srv = SimulatedDataServer()
    srv.add_uhfqa("dev2345", SignalModel(bits, noise=0.0))
    srv.add_shfqa("dev12001", SignalModel(bits, noise=0.0))
    return srv


def test_node_documentation_looks_like_labone(server: SimulatedDataServer) -> None:
    docs = json.loads(server.listNodesJSON("/dev2345/*"))
    source = docs["/dev2345/qas/0/result/source"]
    assert source["Node"] == "/DEV2345/QAS/0/RESULT/SOURCE"
    assert (
        source["Type"] == "Integer (enumerated)" and source["Properties"] == "Read, Write, Setting"
    )
    assert source["Options"]["2"].startswith('"result_after_rotation_unit"')
    wave = docs["/dev2345/qas/0/result/data/3/wave"]
    assert wave["Type"] == "ZIVectorData" and wave["Properties"] == "Read"
    for entry in docs.values():
        assert {"Node", "Description", "Properties", "Type", "Unit"} <= set(entry)
    shf = json.loads(server.listNodesJSON("/dev12001/*"))
    assert shf["/dev12001/qachannels/1/centerfreq"]["Unit"] == "Hz"
    assert len(server.listNodes("/dev12001/qachannels/0/readout/integration/weights")) == 8
    assert json.loads(server.getString("/zi/devices"))["DEV2345"]["DEVICETYPE"] == "UHFQA"


def test_the_server_enforces_types_and_ranges_like_a_device(server: SimulatedDataServer) -> None:
    from zhinst.core import errors

    cases = [
        ("/dev2345/qas/0/integration/length", 4097, errors.InvalidArgumentError),
        ("/dev2345/qas/0/integration/length", 12.5, errors.InvalidArgumentError),
        ("/dev2345/qas/0/delay", 6, errors.InvalidArgumentError),
        ("/dev2345/qas/0/result/source", "integration", errors.InvalidArgumentError),
        ("/dev2345/qas/0/result/source", 3, errors.InvalidArgumentError),
        ("/dev2345/qas/0/rotations/0", "1+0j", errors.InvalidArgumentError),
        ("/dev2345/qas/0/integration/weights/0/real", np.ones(4097), errors.InvalidArgumentError),
        ("/dev2345/qas/0/integration/weights/0/real", np.full(4, 1.5), errors.InvalidArgumentError),
        ("/dev2345/qas/0/integration/weights/0/real", np.ones(4) * 1j, errors.InvalidArgumentError),
        ("/dev2345/qas/0/result/acquired", 1, errors.ReadOnlyError),
        ("/dev2345/qas/0/nonsense", 1, errors.NotFoundError),
        ("/dev12001/qachannels/0/centerfreq", 6.05e9, errors.InvalidArgumentError),
        ("/dev12001/qachannels/0/mode", "scope", errors.InvalidArgumentError),
    ]
    for path, value, error in cases:
        with pytest.raises(error):
            server.set(path, value)
    with pytest.raises(errors.WriteOnlyError):
        server.getInt("/dev12001/qachannels/0/readout/integration/clearweight")
    with pytest.raises(errors.InvalidArgumentError):
        server.getInt("/dev2345/qas/0/result/data/0/wave")
    server.set("/dev12001/qachannels/0/mode", "readout")  # option keywords are accepted
    assert server.getInt("/dev12001/qachannels/0/mode") == 1


def test_a_transaction_is_validated_whole_before_anything_changes(
    server: SimulatedDataServer,
) -> None:
    from zhinst.core import errors

    with pytest.raises(errors.InvalidArgumentError):
        server.set([("/dev2345/qas/0/integration/length", 64), ("/dev2345/qas/0/delay", 3)])
    assert server.getInt("/dev2345/qas/0/integration/length") == 4096
    assert server.set_log[-1][1] == ("/dev2345/qas/0/delay", 3)  # logged as it arrived
    server.fail_node("/dev2345/qas/0/delay", "boom")
    with pytest.raises(errors.CoreError, match="boom"):
        server.set([("/dev2345/qas/0/integration/length", 64), ("/dev2345/qas/0/delay", 4)])
    assert server.getInt("/dev2345/qas/0/integration/length") == 4096
    server.clear_faults()
    server.set([("/dev2345/qas/0/integration/length", 64), ("/dev2345/qas/0/delay", 4)])
    assert server.getInt("/dev2345/qas/0/delay") == 4


def test_uhfqa_result_logger_computes_rotation_and_threshold(server: SimulatedDataServer) -> None:
    qa = "/dev2345/qas/0/"
    signal = server.devices["dev2345"].signal
    signal.ground, signal.excited = 1 + 2j, -3 + 0.5j
    server.set(
        [
            (qa + "integration/length", 4),
            (qa + "integration/weights/0/real", np.ones(4)),
            (qa + "integration/weights/0/imag", np.full(2, 0.5)),  # mean over 4 samples: 0.25
            (qa + "rotations/0", 1j),
            (qa + "thresholds/0/level", -0.2),
            (qa + "result/source", "result_after_rotation_unit"),
            (qa + "result/length", 4),
            (qa + "result/reset", 1),
            (qa + "result/enable", 1),
        ]
    )
    assert server.getInt(qa + "result/acquired") == 4
    wave = server.get(qa + "result/data/0/wave", flat=True)[qa + "result/data/0/wave"][0]["vector"]
    # z = Re s + 0.25i·Im s, rotated by i and real part kept: −0.25·Im s
    assert wave.tolist() == pytest.approx([-0.5, -0.125, -0.5, -0.125])
    server.set([(qa + "result/source", 1), (qa + "result/reset", 1), (qa + "result/enable", 1)])
    wave = server.get(qa + "result/data/0/wave", flat=True)[qa + "result/data/0/wave"][0]["vector"]
    assert wave.tolist() == [0.0, 1.0, 0.0, 1.0]
    nested = server.get(qa + "result/length")
    assert nested["dev2345"]["qas"]["0"]["result"]["length"]["value"][0] == 4


def test_results_reach_subscribers_through_toolkit_poll(server: SimulatedDataServer) -> None:
    from zhinst.toolkit import Session

    session = Session("localhost", connection=server)
    device = session.connect_device("dev2345")
    wave = device.qas[0].result.data[0].wave
    wave.subscribe()
    device.qas[0].result.enable.subscribe()
    assert session.poll(0.01) == {}  # nothing yet: the poll waited and returned empty
    with device.set_transaction():
        device.qas[0].result.length(6)
        device.qas[0].result.reset(1)
        device.qas[0].result.enable(1)
    data = session.poll(0.01)
    assert data[wave][0]["vector"].shape == (6,)
    assert data[device.qas[0].result.enable]["value"].tolist() == [1]
    device.qas[0].result.enable.get_as_event()
    assert session.poll(0.01)[device.qas[0].result.enable]["value"].tolist() == [1]
    wave.unsubscribe()


def test_shfqa_logger_clears_enable_and_faults_behave(server: SimulatedDataServer) -> None:
    ro = "/dev12001/qachannels/0/readout/"
    server.set("/dev12001/qachannels/0/mode", "readout")
    server.set([(ro + "integration/weights/2/wave", np.ones(128) * 1j), (ro + "result/length", 5)])
    assert server.syncSetInt(ro + "result/enable", 1) == 1
    assert server.getInt(ro + "result/enable") == 0  # done once read
    vector = server.get(ro + "result/data/2/wave", flat=True)[ro + "result/data/2/wave"][0][
        "vector"
    ]
    signal = server.devices["dev12001"].signal
    expected = 1j * np.where(bits(5) == 1, signal.excited, signal.ground)
    assert np.allclose(vector, expected)
    server.devices["dev12001"].stall()
    server.syncSetInt(ro + "result/enable", 1)
    assert server.getInt(ro + "result/enable") == 1  # never completes
    server.clear_faults()
    server.devices["dev12001"].short_read(2)
    assert server.getInt(ro + "result/enable") == 0
    assert server.getInt(ro + "result/acquired") == 5
    assert server.get(ro + "result/data/2/wave", flat=True)[ro + "result/data/2/wave"][0][
        "vector"
    ].shape == (2,)


def test_unmodelled_configurations_and_bad_outcome_sources_raise(
    server: SimulatedDataServer,
) -> None:
    from zhinst.core import errors

    with pytest.raises(errors.CoreError, match="averaging"):
        server.set([("/dev2345/qas/0/result/averages", 3), ("/dev2345/qas/0/result/enable", 1)])
    with pytest.raises(errors.CoreError, match="spectroscopy mode"):
        server.set("/dev12001/qachannels/0/readout/result/enable", 1)
    with pytest.raises(ValueError, match="outcome source"):
        SignalModel(lambda n: np.full(n, 2, dtype=np.uint8)).shots(3)
    with pytest.raises(errors.DeviceNotFoundError):
        server.connectDevice("dev1", "1GbE")
