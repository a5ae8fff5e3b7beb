"""Binary SCPI transfers through pyvisa-py against the loopback server on 127.0.0.1."""

from __future__ import annotations

import numpy as np
import pytest

from diamp.daq.instruments.tektronix import Awg5014, TekScope
from diamp.daq.sim.scpi_server import InstrumentState, LoopbackScpiServer
from diamp.errors import InstrumentError
from diamp.timing.envelopes import edge_timing
from diamp.timing.synthetic import SyntheticEdge

SCOPE_IDN = "TEKTRONIX,MSO64,LOOP0002,CF:91.1CT FV:1.44.3"


def test_waveform_upload_round_trip_and_run() -> None:
    with LoopbackScpiServer() as server:
        awg = Awg5014("awg-a", server.resource, "@py")
        rng = np.random.default_rng(1)
        wave = rng.uniform(-1, 1, 100_001).astype(np.float32)
        awg.upload_waveform("pi_half", wave)
        assert np.array_equal(awg.read_waveform("pi_half"), wave)
        assert server.state.waveforms["pi_half"].size == 100_001
        awg.run()
        assert awg.query("AWGC:RST?") == "2"
        awg.stop()


def test_upload_errors() -> None:
    with LoopbackScpiServer() as server:
        awg = Awg5014("awg-a", server.resource, "@py")
        with pytest.raises(InstrumentError, match=r"\[-1, 1\]"):
            awg.upload_waveform("too_big", np.array([0.0, 1.5]))
        with pytest.raises(InstrumentError, match="finite"):
            awg.upload_waveform("nan", np.array([0.0, np.nan]))
        assert server.state.waveforms == {}  # nothing was sent
        awg.write('WLIS:WAV:NEW "short",10,REAL')  # declared 10 points, then send 3
        awg._res.write_binary_values('WLIS:WAV:DATA "short",', [0.1, 0.2, 0.3], datatype="f")
        with pytest.raises(InstrumentError, match="Illegal parameter value"):
            awg.check_errors("WLIS:WAV:DATA short")
        with pytest.raises(InstrumentError, match=r"awg-a \(WLIS:WAV:DATA\? .*Illegal"):
            awg.read_waveform("missing")


def test_scope_envelope_detects_injected_jitter_and_offset() -> None:
    state = InstrumentState(
        idn=SCOPE_IDN,
        edges={
            1: SyntheticEdge("reference", 0.0),
            2: SyntheticEdge("qrng", 4.0, jitter_steps_ns=2.0, p_step=0.05),
            3: SyntheticEdge("awg70k", 0.0, offset_ns=1.3),
        },
        seed=7,
    )
    with LoopbackScpiServer(state) as server:
        scope = TekScope("scope-a", server.resource, "@py")
        clean = scope.read_envelope(1, "reference")
        jittery = scope.read_envelope(2, "qrng")
        shifted = scope.read_envelope(3, "awg70k")
    assert clean.dt_ns == pytest.approx(0.4) and clean.t0_ns == pytest.approx(-20.0)
    assert not edge_timing(clean, 0.25, 1.66).jitter
    timing = edge_timing(jittery, 0.25, 2.0)
    assert timing.jitter and abs(timing.spread_ns - 2.0) < 0.4
    mid = (edge_timing(shifted, 0.25, 6.4).early_ns + edge_timing(shifted, 0.25, 6.4).late_ns) / 2
    assert abs(mid - 1.3) < 0.4  # the injected offset, within one sample


def test_scope_errors() -> None:
    with LoopbackScpiServer(InstrumentState(idn=SCOPE_IDN)) as server:
        scope = TekScope("scope-a", server.resource, "@py")
        with pytest.raises(InstrumentError, match=r"channel must be 1\.\.4"):
            scope.read_envelope(7, "x")
        with pytest.raises(InstrumentError, match=r"scope-a .*CURV\?"):
            scope.read_envelope(4, "nothing on this channel")
        scope.write("NOT:A:COMMAND")
        with pytest.raises(InstrumentError, match="Undefined header"):
            scope.check_errors("NOT:A:COMMAND")
