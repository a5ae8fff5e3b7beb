"""The instrument registry: one declaration per instrument type.

Each :class:`InstrumentType` says everything diamp knows about a kind of instrument: the
role it plays in the station (:mod:`diamp.daq.roles`), the driver that implements it
(imported only when a station opens one, so the config can be validated without loading
pyvisa or zhinst), the backends it can run on, whether it takes ``settings`` (each driver
range-checks its own before any I/O), and whether starting it triggers the trials.

The config validates ``[instruments.*]`` against it, the station opens drivers through it,
and the trigger order follows it. A new instrument is one more entry here plus its driver.

Backends: ``sim`` (pyvisa-sim definitions ``configs/instruments/<type>.yaml``; a
``qrngsim://`` URL for a QRNG; the in-process Zurich Instruments server for a readout),
``py`` (pyvisa-py, or pyserial for a QRNG), ``visa`` (the system VISA library), ``loopback``
(the in-process SCPI scope on 127.0.0.1) and ``zi`` (a real ZI data server).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Literal

__all__ = [
    "INSTRUMENTS",
    "READOUT_TYPES",
    "InstrumentType",
    "Role",
    "instrument_type",
    "types_with_role",
]

Role = Literal["pulse-generator", "oscilloscope", "sv-source", "qubit-readout"]


@dataclass(frozen=True)
class InstrumentType:
    """One kind of instrument: role, driver, backends, settings, triggering."""

    name: str
    role: Role
    driver: str  # "module:attribute", imported when a station opens one
    backends: frozenset[str]
    settings: bool = True  # takes [instruments.NAME].settings
    trigger_master: bool = False  # starting it triggers the trials (started last)
    description: str = ""

    def load_driver(self) -> Any:
        """The driver class (or factory) of this type."""
        module, _, attribute = self.driver.partition(":")
        found: Any = importlib.import_module(module)
        for part in attribute.split("."):
            found = getattr(found, part)
        return found


_VISA = frozenset({"sim", "py", "visa"})

INSTRUMENTS: dict[str, InstrumentType] = {
    t.name: t
    for t in (
        InstrumentType(
            "awg5014",
            "pulse-generator",
            "diamp.daq.instruments.tektronix:Awg5014",
            _VISA,
            trigger_master=True,
            description="Tektronix AWG5014: the node's master trigger",
        ),
        InstrumentType(
            "awg70k",
            "pulse-generator",
            "diamp.daq.instruments.tektronix:Awg70k",
            _VISA,
            description="Tektronix AWG70000: qubit pulses, reference states for recalibration",
        ),
        InstrumentType(
            "scope",
            "oscilloscope",
            "diamp.daq.instruments.tektronix:TekScope",
            _VISA | {"loopback"},
            description="Tektronix MSO6x: envelope traces of the timing checks",
        ),
        InstrumentType(
            "qrng",
            "sv-source",
            "diamp.daq.qrng:SerialQrng",
            _VISA,
            settings=False,
            description="serial SV-source QRNG (pyserial URL; qrngsim:// simulates one)",
        ),
        InstrumentType(
            "uhfqa",
            "qubit-readout",
            "diamp.daq.instruments.zurich:UhfqaReadout.from_address",
            frozenset({"sim", "zi"}),
            description="Zurich Instruments UHFQA qubit readout",
        ),
        InstrumentType(
            "shfqa",
            "qubit-readout",
            "diamp.daq.instruments.zurich:ShfqaReadout.from_address",
            frozenset({"sim", "zi"}),
            description="Zurich Instruments SHFQA qubit readout",
        ),
    )
}


def types_with_role(role: Role) -> tuple[str, ...]:
    """The instrument types that play ``role``, in registry order."""
    return tuple(name for name, t in INSTRUMENTS.items() if t.role == role)


READOUT_TYPES = types_with_role("qubit-readout")


def instrument_type(name: str) -> InstrumentType:
    """The declaration of instrument type ``name``; :class:`KeyError` naming the known ones."""
    try:
        return INSTRUMENTS[name]
    except KeyError:
        raise KeyError(f"unknown instrument type {name!r}; known: {sorted(INSTRUMENTS)}") from None
