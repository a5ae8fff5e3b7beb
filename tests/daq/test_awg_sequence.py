"""AWG5014 sequences: validated before any I/O, uploaded as one checked batch, read back."""

from __future__ import annotations

import numpy as np
import pytest

from diamp.daq.instruments.sequence import SequenceStep, awg5014_commands, validate_steps
from diamp.daq.instruments.tektronix import Awg5014
from diamp.daq.sim.scpi_server import LoopbackScpiServer
from diamp.errors import InstrumentError

TRIAL = [
    SequenceStep({1: "trigger", 2: "marker"}, wait_trigger=True),
    SequenceStep({1: "idle"}, wait_trigger=False, repeat=3, goto=1),
]


def _awg(server: LoopbackScpiServer) -> Awg5014:
    return Awg5014("awg-a", server.resource, "@py")


def test_sequence_round_trip_through_the_loopback_awg() -> None:
    with LoopbackScpiServer() as server:
        awg = _awg(server)
        try:
            for name in ("trigger", "marker", "idle"):
                awg.upload_waveform(name, np.linspace(-1, 1, 250))
            awg.upload_sequence(TRIAL)
            assert awg.read_sequence() == [{1: "trigger", 2: "marker"}, {1: "idle"}]
            element = server.state.sequence[1]
            assert element["LOOP:COUN"] == "3" and element["GOTO:IND"] == "1"
            assert server.state.sequence[0]["TWA"] == "1" and element["TWA"] == "0"
            assert server.state.settings["AWGC:RMOD"] == "SEQ"
        finally:
            awg.close()


def test_a_sequence_with_a_missing_waveform_sends_nothing() -> None:
    with LoopbackScpiServer() as server:
        awg = _awg(server)
        try:
            awg.upload_waveform("trigger", np.zeros(16))
            before = server.state.commands
            with pytest.raises(InstrumentError, match=r"'marker' is not uploaded"):
                awg.upload_sequence(TRIAL)
            sent = server.state.commands - before
            assert sent == 2  # WLIS:SIZE? and WLIS:NAME? 0: the check, no sequence command
            assert server.state.sequence == []
        finally:
            awg.close()


def test_validation_lists_every_problem() -> None:
    steps = [
        SequenceStep({5: "a"}, repeat=70_000, goto=3),
        SequenceStep({}),
    ]
    problems = validate_steps(steps, {"a"})
    assert problems == [
        "element 1: channel 5 (the AWG5014 has channels 1-4)",
        "element 1: repeat 70000 outside 0..65536",
        "element 1: goto 3 outside 1..2",
        "element 2: no waveform on any channel",
    ]
    assert validate_steps([], set()) == ["0 elements; the AWG5014 takes 1 to 8000"]


def test_commands_spell_out_every_field() -> None:
    assert awg5014_commands([SequenceStep({1: "w"}, repeat=0)]) == [
        "SEQ:LENG 0",
        "SEQ:LENG 1",
        'SEQ:ELEM1:WAV1 "w"',
        "SEQ:ELEM1:TWA 1",
        "SEQ:ELEM1:LOOP:INF 1",
        "SEQ:ELEM1:GOTO:STAT 0",
    ]


def test_the_qubit_awg_takes_waveforms_as_binary_blocks() -> None:
    from diamp.daq.instruments.tektronix import Awg70k
    from diamp.daq.sim.scpi_server import InstrumentState

    state = InstrumentState(idn="TEKTRONIX,AWG70001A,LOOP0003,FV:7.1.0170.0")
    with LoopbackScpiServer(state) as server:
        awg = Awg70k("qubit-a", server.resource, "@py")
        try:
            wave = np.sin(np.linspace(0, np.pi, 4_001)).astype(np.float32)
            awg.upload_waveform("pi_pulse", wave)
            assert np.array_equal(awg.read_waveform("pi_pulse"), wave)
        finally:
            awg.close()
