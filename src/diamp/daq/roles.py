"""The instrument roles of a station, as ``typing.Protocol`` classes.

The controller talks to roles, never to a model: any backend that implements a role's
methods (a SCPI driver over pyvisa, a simulated instrument, a lab-specific driver) can stand
in. The roles and their backends:

* :class:`PulseGenerator` — trigger and pulse generators (Tektronix AWG5014 master trigger,
  AWG70k qubit pulses; :mod:`diamp.daq.instruments.tektronix`).
* :class:`Oscilloscope` — envelope acquisitions for the timing checks
  (:class:`~diamp.daq.instruments.tektronix.TekScope`, real or ``loopback``).
* :class:`SVSource` — the SV-source QRNGs (:mod:`diamp.daq.qrng`).
* :class:`~diamp.daq.readout.QubitReadout` — the qubit readouts
  (:mod:`diamp.daq.instruments.zurich`).

:func:`trigger_order` fixes the order in which a block's generators are started: generators
that wait for a trigger first, the trigger masters last, so that no trigger is issued before
every instrument that must see it is armed.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

import numpy as np

from diamp.daq.registry import INSTRUMENTS
from diamp.timing.envelopes import EnvelopeTrace

__all__ = ["TRIGGER_MASTERS", "Oscilloscope", "PulseGenerator", "SVSource", "trigger_order"]

TRIGGER_MASTERS = frozenset(n for n, t in INSTRUMENTS.items() if t.trigger_master)


class SVSource(Protocol):
    """Anything that emits SV bits on demand: a QRNG driver or a simulated source."""

    def bits(self, count: int) -> np.ndarray:
        """Return the next ``count`` bits as ``uint8`` 0/1."""
        ...


@runtime_checkable
class PulseGenerator(Protocol):
    """A trigger or pulse generator: validated settings, run and stop."""

    name: str

    def configure(self, settings: Mapping[str, Any]) -> None:
        """Validate every setting, write them, check the error queue once."""
        ...

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """Every declared setting read back: value, unit, timestamp."""
        ...

    def run(self) -> None:
        """Start output (a triggered sequence waits for its trigger)."""
        ...

    def stop(self) -> None:
        """Stop output."""
        ...

    def close(self) -> None:
        """Release the connection."""
        ...


@runtime_checkable
class Oscilloscope(Protocol):
    """An oscilloscope taking envelope acquisitions of the timing signals."""

    name: str

    def configure(self, settings: Mapping[str, Any]) -> None:
        """Validate every setting, write them, check the error queue once."""
        ...

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """Every declared setting read back: value, unit, timestamp."""
        ...

    def arm(self) -> None:
        """Start one single-sequence envelope acquisition."""
        ...

    def wait_acquired(self, timeout_ms: int = 60_000) -> None:
        """Block until the acquisition is complete."""
        ...

    def clock(self) -> datetime:
        """The instrument's clock."""
        ...

    def read_envelope(self, channel: int, device: str) -> EnvelopeTrace:
        """The envelope curve of ``channel`` as the trace of ``device``."""
        ...

    def close(self) -> None:
        """Release the connection."""
        ...


def trigger_order(generators: Mapping[str, str]) -> list[str]:
    """Names of generators (name -> instrument type) in start order: masters last."""
    return sorted(generators, key=lambda name: (generators[name] in TRIGGER_MASTERS, name))
