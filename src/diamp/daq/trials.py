"""Where Bell trials come from: the trial source the controller asks for every block.

A :class:`TrialSource` yields, per block, the encoded trials (inputs x, y from the SV
sources, outcomes a, b from the Bell device; one ``uint8`` per trial, v = 8x + 4y + 2a + b)
and, after the last block, Z (packed MSB-first); it describes itself for provenance. The
controller (:mod:`diamp.protocol.acquire`) cannot tell one backend from another.

:class:`ComposedTrials` is the one implementation: a composition of three declared parts,
each from its own backend, as the config's ``[sources]`` states them:

============  ==========================================  ==================================
part          simulated (:mod:`diamp.daq.sim.lab`)        instruments (the station)
============  ==========================================  ==================================
inputs x, y   :class:`SimulatedInputs`                    :class:`QrngInputs` (QRNGs A, B)
outcomes a,b  :class:`SimulatedOutcomes`                  :class:`ReadoutOutcomes` (readouts)
Z             :class:`SimulatedZ`                         :class:`QrngZ` (the z_source QRNG)
============  ==========================================  ==================================

so the simulated lab, the lab station, and mixed setups (simulated device with real QRNGs,
real readouts of a simulated signal, …) are all the same kind of object. With a station the
generators run for every acquisition (:meth:`~diamp.daq.station.Station.triggered`), the
readouts are recalibrated before every block, and the station's snapshot is stored with the
run and with every block.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from diamp.errors import ConfigError, InstrumentError

if TYPE_CHECKING:
    from diamp.config import SourcesSection
    from diamp.daq.readouts import ReadoutSet
    from diamp.daq.roles import SVSource
    from diamp.daq.sim.lab import SimulatedLab
    from diamp.daq.station import Station

__all__ = [
    "ComposedTrials",
    "InputPart",
    "OutcomePart",
    "QrngInputs",
    "QrngZ",
    "ReadoutOutcomes",
    "SimulatedInputs",
    "SimulatedOutcomes",
    "SimulatedZ",
    "TrialSource",
    "ZPart",
    "compose_trials",
    "instruments_part",
]

log = logging.getLogger(__name__)

OnTrials = Callable[[np.ndarray], None]
Triggered = Callable[[], AbstractContextManager[None]]
Z_CHUNK_BITS = 2**24


class TrialSource(Protocol):
    """What the controller asks for: trials block by block, then Z, and where they came from."""

    def describe(self) -> dict[str, Any]:
        """Provenance of every part: ``{"inputs": {...}, "outcomes": {...}, "z": {...}}``."""
        ...

    def run_attributes(self) -> dict[str, str]:
        """Text attributes to store once with the run (e.g. the station snapshot)."""
        ...

    def begin_block(self, index: int) -> dict[str, str]:
        """Prepare block ``index`` (e.g. recalibrate); attributes to store with the block."""
        ...

    def block(self, index: int, count: int, on_trials: OnTrials) -> np.ndarray:
        """The ``count`` trials of block ``index``; ``on_trials`` sees them as they arrive."""
        ...

    def z(self, n_bits: int, progress: Callable[[float], None]) -> np.ndarray:
        """Z: ``n_bits`` bits packed MSB-first, drawn after the last trial."""
        ...


class InputPart(Protocol):
    """Inputs x, y of a block (``uint8`` 0/1, exactly ``count`` each)."""

    def inputs(self, index: int, count: int) -> tuple[np.ndarray, np.ndarray]:
        """The inputs of block ``index``."""
        ...

    def describe(self) -> dict[str, Any]:
        """Provenance of the inputs."""
        ...


class OutcomePart(Protocol):
    """Outcomes a, b for inputs x, y: the encoded trials."""

    def trials(self, index: int, x: np.ndarray, y: np.ndarray, on_trials: OnTrials) -> np.ndarray:
        """The trials of block ``index`` for inputs ``x``, ``y``."""
        ...

    def describe(self) -> dict[str, Any]:
        """Provenance of the outcomes."""
        ...


class ZPart(Protocol):
    """Z, the extractor's second source."""

    def z_packed(self, n_bits: int, progress: Callable[[float], None]) -> np.ndarray:
        """``n_bits`` of Z packed MSB-first."""
        ...

    def describe(self) -> dict[str, Any]:
        """Provenance of Z."""
        ...


def _encode(x: np.ndarray, y: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """V = 8x + 4y + 2a + b (all ``uint8`` 0/1)."""
    out: np.ndarray = ((x << 3) | (y << 2) | (a << 1) | b).astype(np.uint8, copy=False)
    return out


@dataclass
class SimulatedInputs:
    """Inputs from the simulated lab's seeded SV source models."""

    lab: SimulatedLab

    def inputs(self, index: int, count: int) -> tuple[np.ndarray, np.ndarray]:
        """The inputs of block ``index``."""
        return self.lab.inputs(index, count)

    def describe(self) -> dict[str, Any]:
        """Provenance: simulated, with generator and seed."""
        return self.lab.describe("inputs")


@dataclass
class QrngInputs:
    """Inputs read from the QRNGs of nodes A and B (exactly ``count`` bits each, or an error)."""

    alice: SVSource
    bob: SVSource
    provenance: dict[str, Any]

    def inputs(self, index: int, count: int) -> tuple[np.ndarray, np.ndarray]:
        """The inputs of block ``index``: the next ``count`` bits of each QRNG."""
        return self.alice.bits(count), self.bob.bits(count)

    def describe(self) -> dict[str, Any]:
        """Provenance: the two instruments."""
        return self.provenance


@dataclass
class SimulatedOutcomes:
    """Outcomes from the simulated Bell device.

    With a station (``triggered``), its generators still run once per block: the device's
    outcomes are that acquisition's record.
    """

    lab: SimulatedLab
    triggered: Triggered | None = None

    def trials(self, index: int, x: np.ndarray, y: np.ndarray, on_trials: OnTrials) -> np.ndarray:
        """The simulated device's trials for ``x``, ``y``."""
        trials = self.lab.measure(index, x, y)
        if self.triggered is not None:
            with self.triggered():
                pass
        on_trials(trials)
        return trials

    def describe(self) -> dict[str, Any]:
        """Provenance: simulated, with generator, seed and device model."""
        return self.lab.describe("outcomes")


@dataclass
class ReadoutOutcomes:
    """Outcomes as the nodes' qubit readouts report them, shot for shot.

    A block takes as many acquisitions as the readouts' result memory needs; each returns
    exactly its number of outcomes per node or the block fails (nothing is stored).
    Simulated readouts (backend ``sim``) integrate the signal of ``lab``'s Bell device for
    the same inputs; lab readouts measure the qubits and ignore it.
    """

    readouts: ReadoutSet
    triggered: Triggered
    lab: SimulatedLab | None
    provenance: dict[str, Any]

    def trials(self, index: int, x: np.ndarray, y: np.ndarray, on_trials: OnTrials) -> np.ndarray:
        """The trials of block ``index``: inputs ``x``, ``y`` and the readouts' outcomes."""
        if self.readouts.feeds:
            if self.lab is None:
                raise InstrumentError("simulated readouts need the simulated Bell device's signal")
            signal = self.lab.measure(index, x, y)
        else:
            signal = np.zeros(x.shape[0], dtype=np.uint8)  # a lab readout measures the qubit
        out = np.empty(x.shape[0], dtype=np.uint8)
        step = self.readouts.max_results
        for start in range(0, out.size, step):
            part = slice(start, start + step)
            expected = signal[part]
            read = self.readouts.acquire(
                {"A": (expected >> 1) & 1, "B": expected & 1}, self.triggered
            )
            out[part] = _encode(x[part], y[part], read["A"], read["B"])
            on_trials(out[part])
        return out

    def describe(self) -> dict[str, Any]:
        """Provenance: the two readouts."""
        return self.provenance


@dataclass
class SimulatedZ:
    """Z from the simulated lab's seeded z_source model."""

    lab: SimulatedLab

    def z_packed(self, n_bits: int, progress: Callable[[float], None]) -> np.ndarray:
        """``n_bits`` of Z packed MSB-first."""
        return self.lab.z_packed(n_bits, progress)

    def describe(self) -> dict[str, Any]:
        """Provenance: simulated, with generator and seed."""
        return self.lab.describe("z")


@dataclass
class QrngZ:
    """Z read from one node's QRNG after the last trial, in chunks."""

    qrng: SVSource
    provenance: dict[str, Any]

    def z_packed(self, n_bits: int, progress: Callable[[float], None]) -> np.ndarray:
        """``n_bits`` of Z packed MSB-first (chunks of 2^24 bits, so packing is seamless)."""
        out = np.empty((n_bits + 7) // 8, dtype=np.uint8)
        for start in range(0, n_bits, Z_CHUNK_BITS):
            count = min(Z_CHUNK_BITS, n_bits - start)
            packed = np.packbits(self.qrng.bits(count))
            out[start // 8 : start // 8 + packed.size] = packed
            progress(start + count)
        return out

    def describe(self) -> dict[str, Any]:
        """Provenance: the instrument."""
        return self.provenance


@dataclass
class ComposedTrials:
    """A trial source composed of declared parts, optionally with the station they run on."""

    input_part: InputPart
    outcome_part: OutcomePart
    z_part: ZPart
    station: Station | None = None

    def describe(self) -> dict[str, Any]:
        """Provenance of every part."""
        return {
            "inputs": self.input_part.describe(),
            "outcomes": self.outcome_part.describe(),
            "z": self.z_part.describe(),
        }

    def run_attributes(self) -> dict[str, str]:
        """The station snapshot (when there is a station), stored once with the run."""
        if self.station is None:
            return {}
        return {"station_snapshot": json.dumps(self.station.snapshot())}

    def begin_block(self, index: int) -> dict[str, str]:
        """Recalibrate the readouts (if any); the station snapshot for the block."""
        if self.station is None:
            return {}
        for node, cal in self.station.recalibrate_readouts().items():
            log.info("readout %s recalibrated before block %d: %s", node, index, cal)
        return {"snapshot": json.dumps(self.station.snapshot())}

    def block(self, index: int, count: int, on_trials: OnTrials) -> np.ndarray:
        """Read ``count`` inputs per node, then the outcomes for them.

        Every trial is recorded: exactly ``count`` inputs per node are read (a QRNG driver
        returns exactly what is asked or raises), so no trial is dropped or duplicated.
        """
        x, y = self.input_part.inputs(index, count)
        if x.shape != (count,) or y.shape != (count,):
            raise InstrumentError(
                f"block {index}: {x.size} inputs x and {y.size} inputs y for {count} trials"
            )
        return self.outcome_part.trials(index, x, y, on_trials)

    def z(self, n_bits: int, progress: Callable[[float], None]) -> np.ndarray:
        """Z from the declared Z part."""
        return self.z_part.z_packed(n_bits, progress)


def instruments_part(station: Station, names: list[str]) -> dict[str, Any]:
    """Provenance of a part read from instruments: each one described by the station.

    ``simulated`` is true when any of them is a simulation (backend ``sim`` or ``loopback``,
    a ``qrngsim://`` address), so a simulated instrument never passes for hardware.
    """
    described = [station.describe(name) for name in names]
    return {
        "origin": "instruments",
        "simulated": any(d["simulated"] for d in described),
        "instruments": described,
    }


def compose_trials(
    sources: SourcesSection, lab: SimulatedLab, station: Station | None
) -> ComposedTrials:
    """The trial source ``[sources]`` declares: each part from ``lab`` or from ``station``.

    A part declared ``"instruments"`` without the station (or readouts) to supply it is a
    :class:`~diamp.errors.ConfigError`: it never falls back to the simulation.
    """
    for key in ("inputs", "z", "outcomes"):
        if getattr(sources, key) == "instruments" and station is None:
            raise ConfigError(f"sources.{key} = 'instruments', but the config has no station")
    triggered = None if station is None else station.triggered
    inputs: InputPart = SimulatedInputs(lab)
    outcomes: OutcomePart = SimulatedOutcomes(lab, triggered)
    z: ZPart = SimulatedZ(lab)
    if station is not None and sources.inputs == "instruments":
        names = [station.qrng_name("A"), station.qrng_name("B")]
        inputs = QrngInputs(station.qrng("A"), station.qrng("B"), instruments_part(station, names))
    if station is not None and sources.outcomes == "instruments":
        readouts = station.readouts
        if readouts is None:
            raise ConfigError("sources.outcomes = 'instruments', but the station has no readouts")
        described = {
            node: station.describe(r.name) for node, r in sorted(readouts.readouts.items())
        }
        outcomes = ReadoutOutcomes(readouts, station.triggered, lab, described)
    if station is not None and sources.z == "instruments":
        name = station.qrng_name(sources.z_node)
        z = QrngZ(station.instruments[name], instruments_part(station, [name]))
    return ComposedTrials(inputs, outcomes, z, station)
