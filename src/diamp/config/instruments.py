"""``[instruments.NAME]``: one instrument of the station, checked against the registry."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import (
    Field,
    field_validator,
    model_validator,
)

from diamp.config.sections import _Section
from diamp.daq.registry import INSTRUMENTS


class InstrumentConfig(_Section):
    """``[instruments.NAME]``: one instrument of the station.

    ``type`` selects the driver (``awg5014``, ``awg70k``, ``scope``, ``qrng``, and the qubit
    readouts ``uhfqa``, ``shfqa``); ``backend`` is ``sim`` (the pyvisa-sim definition
    ``configs/instruments/<type>.yaml``; for ``qrng`` the address is a ``qrngsim://`` URL; for
    a readout an in-process Zurich Instruments data server whose signal is the simulated
    Bell device's outcomes), ``loopback`` (scopes only: an in-process SCPI scope on
    127.0.0.1 reached through pyvisa-py like a lab scope, whose channels show the simulated
    timing scene; the address is only a label), ``py`` (pyvisa-py, e.g. TCPIP sockets),
    ``visa`` (the system VISA library) or ``zi`` (a readout through a real ZI data server,
    address ``dev2345@host:port``). ``settings`` are validated against the driver's declared
    ranges before anything is sent. ``calibration_shots`` (readouts only) recalibrates the
    readout between blocks from that many reference shots of each state, prepared by
    ``calibration_awg`` (the node's awg70k) playing ``calibration_waveforms.ground`` /
    ``.excited`` and then ``.trial`` again (required with backend ``zi``; the simulated
    readout prepares the states itself); ``timeout_s`` bounds one readout acquisition.

    ``channels`` (scopes only) says which trace of a timing check each input channel shows:
    ``ch1 = "reference"`` (the node's reference pulse), ``"remote"`` (the other node's master
    pulse) or the name of a timing-section device with a threshold. It is checked against the
    timing section when the station opens: per node every trace exactly once.
    """

    type: str  # a name of diamp.daq.registry.INSTRUMENTS
    """The driver: `awg5014`, `awg70k`, `scope`, `qrng`, `uhfqa` or `shfqa` (a name of
    `diamp.daq.registry.INSTRUMENTS`)."""
    address: str = Field(min_length=1)
    """VISA resource, serial URL (`qrngsim://…` for the simulated QRNG) or ZI device address
    (`dev2345@host:port`)."""
    backend: Literal["sim", "py", "visa", "zi", "loopback"] = "py"
    """`sim` (simulated), `loopback` (in-process SCPI scope), `py` (pyvisa-py), `visa` (system
    VISA) or `zi` (a ZI data server)."""
    node: Literal["A", "B", "C"] = "C"
    """The node the instrument belongs to: `A`, `B`, or `C` (neither node); readouts and timing
    scopes must be at A or B."""
    settings: dict[str, float | int | str] = Field(default_factory=dict)
    """Driver settings by name (e.g. `sample_rate`, `"ch1.amplitude"`), range-checked against the
    driver before any I/O."""
    channels: dict[str, Annotated[str, Field(min_length=1)]] = Field(default_factory=dict)
    """Scopes: which timing trace each input channel shows (`ch1 = "reference"`, `"remote"` or a
    timing-section device)."""
    calibration_shots: int = Field(default=0, ge=0, le=1 << 19)
    """Readouts: recalibrate before every block from this many shots of each state (0: no
    recalibration)."""
    calibration_awg: str | None = None  # readouts: the node's qubit AWG preparing the states
    """Readouts: the node's awg70k that prepares the reference states."""
    calibration_waveforms: dict[Literal["ground", "excited", "trial"], str] = Field(
        default_factory=dict
    )
    """Readouts: the waveforms the calibration AWG plays: `{ ground, excited, trial }` (trial is
    restored after calibration)."""
    timeout_s: float = Field(default=30.0, gt=0.0, le=3600.0)  # readouts: one acquisition
    """Readouts: time limit of one acquisition, in seconds."""

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        if value not in INSTRUMENTS:
            raise ValueError(f"unknown instrument type {value!r}; known: {sorted(INSTRUMENTS)}")
        return value

    @model_validator(mode="after")
    def _check_backend(self) -> InstrumentConfig:
        kind = INSTRUMENTS[self.type]
        readout = kind.role == "qubit-readout"
        if self.backend not in kind.backends:
            if self.backend == "loopback":
                raise ValueError(
                    f"backend 'loopback' is the in-process simulated oscilloscope (type "
                    f"'scope'); for a {self.type!r} use 'sim'"
                )
            choices = " or ".join(repr(b) for b in sorted(kind.backends))
            raise ValueError(f"a {self.type} takes backend {choices}, not {self.backend!r}")
        if self.settings and not kind.settings:
            raise ValueError(f"settings: a {self.type} takes no settings")
        if readout and self.node not in ("A", "B"):
            raise ValueError("a readout belongs to node 'A' or 'B'")
        if self.calibration_shots and not readout:
            raise ValueError("calibration_shots applies to readouts (uhfqa, shfqa) only")
        prepared = self.calibration_awg is not None or bool(self.calibration_waveforms)
        if prepared and not readout:
            raise ValueError("calibration_awg/calibration_waveforms apply to readouts only")
        if prepared and (
            self.calibration_awg is None
            or set(self.calibration_waveforms) != {"ground", "excited", "trial"}
        ):
            raise ValueError(
                "reference states are prepared by calibration_awg playing calibration_waveforms "
                "= { ground = …, excited = …, trial = … } (trial: restored after calibration); "
                "give the AWG and all three"
            )
        if self.calibration_shots and self.backend == "zi" and not prepared:
            raise ValueError(
                "calibration_shots with backend 'zi' needs the lab to prepare |0⟩ and |1⟩: set "
                "calibration_awg (the node's awg70k) and calibration_waveforms = { ground = "
                '"…", excited = "…", trial = "…" } (waveforms already in its list)'
            )
        return self

    @model_validator(mode="after")
    def _check_scope(self) -> InstrumentConfig:
        if not self.channels:
            return self
        if self.type != "scope":
            raise ValueError(f"channels: only a scope shows timing traces, this is a {self.type!r}")
        if self.node not in ("A", "B"):
            raise ValueError(
                f"channels: a scope showing timing traces belongs to node 'A' or 'B', "
                f"found node = {self.node!r}"
            )
        bad = [key for key in self.channels if not re.fullmatch(r"ch[1-9][0-9]*", key)]
        if bad:
            raise ValueError(f"channels: keys are input channels 'ch1', 'ch2', …, found {bad}")
        shown: dict[str, str] = {}
        for key in sorted(self.channels, key=lambda k: int(k[2:])):
            trace = self.channels[key]
            if trace in shown:
                raise ValueError(
                    f"channels: {trace!r} is on both {shown[trace]} and {key}; map each trace once"
                )
            shown[trace] = key
        if self.settings.get("acquire_mode") != "ENVELOPE":
            raise ValueError(
                "channels: timing checks read envelope curves; set settings.acquire_mode = "
                f'"ENVELOPE" (found {self.settings.get("acquire_mode")!r})'
            )
        return self
