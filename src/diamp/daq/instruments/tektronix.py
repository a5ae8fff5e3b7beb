"""Tektronix drivers: AWG5014C (master trigger), AWG70001A (qubit pulses), oscilloscope."""

from __future__ import annotations

from typing import ClassVar

from diamp.daq.instruments.scpi import ScpiInstrument, Setting

__all__ = ["INSTRUMENT_TYPES", "Awg70k", "Awg5014", "TekScope"]


class Awg5014(ScpiInstrument):
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

    def run(self) -> None:
        """Start the sequence (waits for triggers in TRIG mode)."""
        self.write("AWGC:RUN")
        self.check_errors("AWGC:RUN")

    def stop(self) -> None:
        """Stop output."""
        self.write("AWGC:STOP")
        self.check_errors("AWGC:STOP")


class Awg70k(ScpiInstrument):
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

    def run(self) -> None:
        """Start output."""
        self.write("AWGC:RUN:IMM")
        self.check_errors("AWGC:RUN:IMM")

    def stop(self) -> None:
        """Stop output."""
        self.write("AWGC:STOP:IMM")
        self.check_errors("AWGC:STOP:IMM")


class TekScope(ScpiInstrument):
    """Tektronix-style oscilloscope for timing checks (envelope acquisitions)."""

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


INSTRUMENT_TYPES: dict[str, type[ScpiInstrument]] = {
    "awg5014": Awg5014,
    "awg70k": Awg70k,
    "scope": TekScope,
}
"""Driver registry: the ``type`` of an instrument in a run config."""
