"""Tektronix drivers: AWG5014C (master trigger), AWG70001A (qubit pulses), oscilloscope."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import ClassVar

import numpy as np

from diamp.daq.instruments.scpi import ScpiInstrument, Setting
from diamp.daq.instruments.sequence import SequenceStep, awg5014_commands, validate_steps
from diamp.timing.envelopes import EnvelopeTrace

__all__ = ["Awg70k", "Awg5014", "TekScope", "WaveformList"]


class WaveformList(ScpiInstrument):
    """The waveform list of a Tektronix AWG: binary-block upload and read-back."""

    def upload_waveform(self, name: str, samples: np.ndarray) -> None:
        """Create waveform ``name`` and send ``samples`` (in [-1, 1]) as a binary block."""
        data = np.asarray(samples, dtype=np.float64)
        if data.ndim != 1 or data.size < 1 or not np.isfinite(data).all():
            raise self._fail(f"waveform {name!r}: samples must be a non-empty finite 1-d array")
        if np.abs(data).max() > 1.0:
            raise self._fail(f"waveform {name!r}: samples must lie in [-1, 1] (normalised output)")
        if not name or '"' in name:
            raise self._fail(f"invalid waveform name {name!r}")
        new = f'WLIS:WAV:NEW "{name}",{data.size},REAL'
        self.write(new)
        try:
            self._res.write_binary_values(
                f'WLIS:WAV:DATA "{name}",', data.astype("<f4"), datatype="f", is_big_endian=False
            )
        except Exception as err:
            raise self._fail(f"binary upload failed ({err})", f"WLIS:WAV:DATA {name!r}") from err
        self.check_errors(f"{new}; WLIS:WAV:DATA {name!r} ({data.size} points)")

    def read_waveform(self, name: str) -> np.ndarray:
        """Read waveform ``name`` back (float32 samples)."""
        command = f'WLIS:WAV:DATA? "{name}"'
        try:
            values = self._res.query_binary_values(
                command, datatype="f", is_big_endian=False, container=np.array
            )
        except Exception as err:
            raise self._fail(f"binary read failed ({err})", command) from err
        self.check_errors(command)
        return np.asarray(values, dtype=np.float32)


class Awg5014(WaveformList):
    """Tektronix AWG5014C: 4 channels, 10 MS/s – 1.2 GS/s, 1.66 ns granularity."""

    IDN_PREFIX = "TEKTRONIX,AWG5014"
    SETTINGS: ClassVar = {
        "sample_rate": Setting("SOUR1:FREQ {value}", "SOUR1:FREQ?", "S/s", 10e6, 1.2e9),
        "run_mode": Setting(
            "AWGC:RMOD {value}", "AWGC:RMOD?", "", choices=("CONT", "TRIG", "GAT", "SEQ")
        ),
        "trigger_level": Setting("TRIG:LEV {value}", "TRIG:LEV?", "V", -5.0, 5.0, fmt="{:.3f}"),
        "trigger_source": Setting("TRIG:SOUR {value}", "TRIG:SOUR?", "", choices=("INT", "EXT")),
        "amplitude": Setting(
            "SOUR{ch}:VOLT:AMPL {value}",
            "SOUR{ch}:VOLT:AMPL?",
            "Vpp",
            0.02,
            4.5,
            channels=(1, 2, 3, 4),
            fmt="{:.4f}",
        ),
        "offset": Setting(
            "SOUR{ch}:VOLT:OFFS {value}",
            "SOUR{ch}:VOLT:OFFS?",
            "V",
            -2.25,
            2.25,
            channels=(1, 2, 3, 4),
            fmt="{:.4f}",
        ),
        "output": Setting(
            "OUTP{ch}:STAT {value}", "OUTP{ch}:STAT?", "", 0, 1, kind=int, channels=(1, 2, 3, 4)
        ),
    }

    def upload_sequence(self, steps: Sequence[SequenceStep]) -> None:
        """Replace the sequence by ``steps`` and select sequence mode, as one checked batch.

        The whole sequence is validated first (element count, channels, repeats, jump targets,
        and that every waveform it plays is in the device's waveform list), so a bad sequence
        sends nothing.
        """
        names = {self.query(f"WLIS:NAME? {i}").strip('"') for i in range(self._waveform_count())}
        problems = validate_steps(steps, names)
        if problems:
            raise self._fail("sequence refused before any I/O: " + "; ".join(problems))
        commands = [*awg5014_commands(steps), "AWGC:RMOD SEQ"]
        for command in commands:
            self.write(command)
        self.check_errors(f"sequence upload ({len(steps)} elements, {len(commands)} commands)")

    def read_sequence(self) -> list[dict[int, str]]:
        """The waveforms per channel of every sequence element, as the device reports them."""
        length = int(self.query("SEQ:LENG?"))
        return [
            {
                ch: name
                for ch in (1, 2, 3, 4)
                if (name := self.query(f"SEQ:ELEM{i}:WAV{ch}?").strip('"'))
            }
            for i in range(1, length + 1)
        ]

    def _waveform_count(self) -> int:
        return int(self.query("WLIS:SIZE?"))

    def run(self) -> None:
        """Start the sequence (waits for triggers in TRIG mode)."""
        self.execute("AWGC:RUN")

    def stop(self) -> None:
        """Stop output."""
        self.execute("AWGC:STOP")


class Awg70k(WaveformList):
    """Tektronix AWG70001A: 1 channel up to 50 GS/s."""

    IDN_PREFIX = "TEKTRONIX,AWG70"
    SETTINGS: ClassVar = {
        "sample_rate": Setting("CLOC:SRAT {value}", "CLOC:SRAT?", "S/s", 1.49e3, 50e9),
        "trigger_level": Setting(
            "TRIG:LEV {value},ATR", "TRIG:LEV? ATR", "V", -5.0, 5.0, fmt="{:.3f}"
        ),
        "amplitude": Setting(
            "SOUR{ch}:VOLT:AMPL {value}",
            "SOUR{ch}:VOLT:AMPL?",
            "Vpp",
            0.25,
            0.5,
            channels=(1,),
            fmt="{:.4f}",
        ),
        "output": Setting(
            "OUTP{ch}:STAT {value}", "OUTP{ch}:STAT?", "", 0, 1, kind=int, channels=(1,)
        ),
    }

    def assign_waveform(self, name: str, channel: int = 1) -> None:
        """Play waveform ``name`` (already in the waveform list) on ``channel``, checked."""
        if not name or '"' in name:
            raise self._fail(f"invalid waveform name {name!r}")
        if channel != 1:
            raise self._fail(f"channel {channel}: the AWG70001A has channel 1 only")
        self.execute(f'SOUR{channel}:CASS:WAV "{name}"')

    def run(self) -> None:
        """Start output."""
        self.execute("AWGC:RUN:IMM")

    def stop(self) -> None:
        """Stop output."""
        self.execute("AWGC:STOP:IMM")


class TekScope(ScpiInstrument):
    """Tektronix-style oscilloscope for timing checks (envelope acquisitions).

    A timing check is :meth:`arm` (one single-sequence acquisition of ``envelope_count``
    triggers), :meth:`wait_acquired`, :meth:`clock`, then :meth:`read_envelope` per channel.
    """

    CHANNELS: ClassVar[tuple[int, ...]] = (1, 2, 3, 4)
    _TRANSFER = ("DATA:ENC SRI", "DATA:WID 2")  # signed int16, least significant byte first

    def arm(self) -> None:
        """Start one single-sequence acquisition; the scope must be in envelope mode."""
        mode = self.query("ACQ:MOD?")
        if mode.strip('"').upper() not in ("ENVELOPE", "ENV"):
            raise self._fail(
                f"acquisition mode is {mode!r}; timing checks need envelope curves "
                '(settings.acquire_mode = "ENVELOPE")',
                "ACQ:MOD?",
            )
        commands = (*self._TRANSFER, "ACQ:STOPA SEQ", "ACQ:STATE RUN")
        for command in commands:
            self.write(command)
        self.check_errors("; ".join(commands))

    def wait_acquired(self, timeout_ms: int = 60_000) -> None:
        """Block until the armed acquisition is complete (``*OPC?``), at most ``timeout_ms``."""
        previous = self._res.timeout
        self._res.timeout = timeout_ms
        try:
            reply = self.query("*OPC?")
        finally:
            self._res.timeout = previous
        if reply != "1":
            raise self._fail(f"acquisition did not complete (*OPC? = {reply!r})", "*OPC?")

    def clock(self) -> datetime:
        """The scope's date and time (``DATE?``, ``TIME?``; re-read across midnight)."""
        date = self.query("DATE?").strip('"')
        clock = self.query("TIME?").strip('"')
        again = self.query("DATE?").strip('"')
        if again != date:  # midnight passed between the two reads
            date, clock = again, self.query("TIME?").strip('"')
        try:
            return datetime.fromisoformat(f"{date}T{clock}")
        except ValueError as err:
            raise self._fail(f"unreadable clock {date!r} {clock!r}", "DATE?; TIME?") from err

    def read_envelope(self, channel: int, device: str) -> EnvelopeTrace:
        """Download channel ``channel``'s envelope curve as an :class:`EnvelopeTrace`.

        The curve is an int16 binary block of interleaved (min, max) pairs, scaled with
        ``WFMO:YMU/YOFF/YZE`` to volts and ``WFMO:XIN/XZE`` to nanoseconds.
        """
        if channel not in self.CHANNELS:
            raise self._fail(f"channel must be 1..{len(self.CHANNELS)}, found {channel}")
        self.write(f"DATA:SOU CH{channel}")
        scale = {k: float(self.query(f"WFMO:{k}?")) for k in ("XIN", "XZE", "YMU", "YOFF", "YZE")}
        try:
            raw = self._res.query_binary_values(
                "CURV?", datatype="h", is_big_endian=False, container=np.array
            )
        except Exception as err:
            raise self._fail(f"binary read failed ({err})", "CURV?") from err
        self.check_errors(f"DATA:SOU CH{channel}; CURV?")
        counts = np.asarray(raw, dtype=np.float64)
        if counts.size < 4 or counts.size % 2:
            raise self._fail(
                f"envelope curve of {counts.size} values is not (min, max) pairs", "CURV?"
            )
        volts = (counts - scale["YOFF"]) * scale["YMU"] + scale["YZE"]
        return EnvelopeTrace(
            device=device,
            t0_ns=scale["XZE"] * 1e9,
            dt_ns=scale["XIN"] * 1e9,
            low=volts[0::2],
            high=volts[1::2],
        )

    IDN_PREFIX = "TEKTRONIX,"
    SETTINGS: ClassVar = {
        "acquire_mode": Setting(
            "ACQ:MOD {value}", "ACQ:MOD?", "", choices=("SAMPLE", "ENVELOPE", "AVERAGE")
        ),
        "envelope_count": Setting(
            "ACQ:NUMENV {value}", "ACQ:NUMENV?", "triggers", 1, 100_000, kind=int
        ),
        "horizontal_scale": Setting(
            "HOR:SCA {value}", "HOR:SCA?", "s/div", 2e-10, 1e3, fmt="{:.4E}"
        ),
        "sample_rate": Setting(
            "HOR:SAMPLER {value}", "HOR:SAMPLER?", "S/s", 1e3, 2.5e10, fmt="{:.4E}"
        ),
        "horizontal_position": Setting(
            "HOR:POS {value}", "HOR:POS?", "%", 0.0, 100.0, fmt="{:.2f}"
        ),  # trigger position in the record
        "trigger_level": Setting("TRIG:A:LEV {value}", "TRIG:A:LEV?", "V", -5.0, 5.0, fmt="{:.4f}"),
        "scale": Setting(
            "CH{ch}:SCA {value}",
            "CH{ch}:SCA?",
            "V/div",
            1e-3,
            10.0,
            channels=(1, 2, 3, 4),
            fmt="{:.4E}",
        ),
        "offset": Setting(
            "CH{ch}:OFFS {value}",
            "CH{ch}:OFFS?",
            "V",
            -10.0,
            10.0,
            channels=(1, 2, 3, 4),
            fmt="{:.4f}",
        ),
    }


"""Driver registry: the ``type`` of an instrument in a run config."""
