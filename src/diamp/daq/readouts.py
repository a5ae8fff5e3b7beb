"""The qubit readouts of a station: opening them from the config, arming, reading, recalibrating.

Each node (A, B) has one :class:`~diamp.daq.readout.QubitReadout`. With ``backend = "zi"``
it is a Zurich Instruments UHFQA/SHFQA behind a real data server; with ``backend = "sim"``
the same driver talks through zhinst-toolkit to an in-process data server
(:mod:`diamp.daq.sim.zi.server`) whose integrated signal is generated from the
outcomes of the simulated Bell device, so the controller reads the trial outcomes through
the same calls as in the lab. A simulated address may inject faults:
``dev2345?stall_at=K`` (the K-th acquisition never completes: a timeout) or
``dev2345?short_at=K`` (the K-th acquisition delivers one result too few).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qs

import numpy as np

from diamp.config import InstrumentConfig
from diamp.daq.readout import Calibration, QubitReadout
from diamp.daq.registry import INSTRUMENTS, READOUT_TYPES
from diamp.errors import ConfigError, InstrumentError

__all__ = ["PreparedState", "ReadoutSet", "open_readout", "open_readout_set"]

PreparedState = Literal["ground", "excited", "trial"]

_SIM_GROUND, _SIM_EXCITED, _SIM_NOISE = complex(-0.3, 0.1), complex(0.35, 0.3), 0.04


@dataclass
class _Feed:
    """Outcome source of a simulated readout: the Bell device's bits for the next shots."""

    name: str
    stall_at: int | None = None
    short_at: int | None = None
    device: Any = None
    pending: list[np.ndarray] = field(default_factory=list)
    acquisitions: int = 0

    def load(self, bits: np.ndarray) -> None:
        self.acquisitions += 1
        self.device.stall(self.acquisitions == self.stall_at)
        self.device.short_read(bits.size - 1 if self.acquisitions == self.short_at else None)
        self.pending.append(np.ascontiguousarray(bits, dtype=np.uint8))

    def __call__(self, n: int) -> np.ndarray:
        if not self.pending or self.pending[0].size != n:
            raise InstrumentError(
                f"{self.name}: simulated readout asked for {n} shots, "
                f"{'none' if not self.pending else self.pending[0].size} were prepared",
                instrument=self.name,
            )
        return self.pending.pop(0)


def _sim_options(name: str, address: str) -> tuple[str, dict[str, int]]:
    serial, _, query = address.partition("?")
    faults: dict[str, int] = {}
    for key, values in parse_qs(query, strict_parsing=bool(query)).items():
        if key not in ("stall_at", "short_at") or not values[-1].isdigit():
            raise ConfigError(
                f"instruments.{name}.address: unknown simulated readout option {key}={values}; "
                "known: stall_at=K, short_at=K"
            )
        faults[key] = int(values[-1])
    return serial, faults


@dataclass
class ReadoutSet:
    """The two nodes' readouts (by node), and for simulated ones their outcome feeds."""

    readouts: dict[str, QubitReadout]
    configs: dict[str, InstrumentConfig]
    feeds: dict[str, _Feed]

    @property
    def max_results(self) -> int:
        """The most shots every readout can take in one acquisition."""
        return min(int(getattr(r, "MAX_RESULTS", 1 << 20)) for r in self.readouts.values())

    def acquire(
        self,
        outcomes: Mapping[str, np.ndarray],
        triggered: Callable[[], AbstractContextManager[None]] = nullcontext,
    ) -> dict[str, np.ndarray]:
        """One acquisition of ``n`` shots per node: arm every readout, trigger, read them all.

        ``outcomes`` are the simulated device's bits (fed to simulated readouts only; a lab
        readout measures the qubit). Arming is one transaction over the station: every
        readout is armed, then ``triggered()`` (the station's generators, masters last) is
        entered for the reads; if any readout fails to arm, nothing is triggered or read.
        Every readout must return exactly ``n`` outcomes or the acquisition fails naming it
        (fair sampling).
        """
        sizes = {bits.size for bits in outcomes.values()}
        if len(sizes) != 1:
            raise InstrumentError(f"readout acquisition with unequal shot counts {sizes}")
        n = sizes.pop()
        for node, feed in self.feeds.items():
            feed.load(outcomes[node])
        for readout in self.readouts.values():
            readout.arm(n)
        with triggered():
            read = {
                node: r.read_outcomes(n, self.configs[node].timeout_s)
                for node, r in self.readouts.items()
            }
        for node, bits in read.items():
            if bits.shape != (n,):
                raise InstrumentError(
                    f"{self.readouts[node].name}: {bits.size} outcomes for {n} trials; the "
                    "block is aborted (every trial must be recorded exactly once)",
                    instrument=self.readouts[node].name,
                )
        return read

    def recalibrate(
        self,
        prepare: Callable[[str, PreparedState], None] | None = None,
        triggered: Callable[[], AbstractContextManager[None]] = nullcontext,
    ) -> dict[str, Calibration]:
        """Between blocks: reference shots of |0⟩ and |1⟩ at each node, new discrimination.

        For each state, ``prepare(node, "ground" | "excited")`` sets up the node's qubit pulse
        (the station selects the configured waveform on the node's qubit AWG), the readout is
        armed and ``triggered()`` runs the generators while the values are read; then
        ``prepare(node, "trial")`` restores the trials' pulse.
        """
        done = {}
        for node, readout in self.readouts.items():
            cfg = self.configs[node]
            if not cfg.calibration_shots:
                continue
            values = []
            states: tuple[tuple[int, PreparedState], ...] = ((0, "ground"), (1, "excited"))
            for state, label in states:
                if prepare is not None:
                    prepare(node, label)
                if node in self.feeds:
                    self.feeds[node].load(np.full(cfg.calibration_shots, state, dtype=np.uint8))
                readout.arm(cfg.calibration_shots)
                with triggered():
                    values.append(readout.read_values(cfg.calibration_shots, cfg.timeout_s))
            if prepare is not None:
                prepare(node, "trial")
            done[node] = readout.recalibrate(values[0], values[1])
        return done

    def close(self) -> None:
        """Close every readout (best effort)."""
        for readout in self.readouts.values():
            try:
                readout.close()
            except (InstrumentError, OSError):  # pragma: no cover - best effort on shutdown
                pass


def open_readout(kind: str, name: str, address: str, **options: Any) -> QubitReadout:
    """Open a qubit readout of the registered type ``kind`` (see :mod:`diamp.daq.registry`)."""
    declared = INSTRUMENTS.get(kind)
    if declared is None or declared.role != "qubit-readout":
        raise ConfigError(f"unknown readout type {kind!r}; known: {list(READOUT_TYPES)}")
    readout: QubitReadout = declared.load_driver()(name, address, **options)
    return readout


def open_readout_set(
    instruments: Mapping[str, InstrumentConfig], seed: int, opened: dict[str, Any]
) -> ReadoutSet | None:
    """Open and configure the config's readouts (None if it has none).

    Each readout is added to ``opened`` (by instrument name) as soon as it is open, so the
    caller can close it if a later one fails.
    """
    chosen = {n: c for n, c in instruments.items() if c.type in READOUT_TYPES}
    if not chosen:
        return None
    server: Any = None
    readouts: dict[str, QubitReadout] = {}
    configs: dict[str, InstrumentConfig] = {}
    feeds: dict[str, _Feed] = {}
    for name, cfg in chosen.items():
        options: dict[str, Any] = {}
        address = cfg.address
        if cfg.backend == "sim":
            from diamp.daq.sim.zi.server import SignalModel, SimulatedDataServer

            address, faults = _sim_options(name, cfg.address)
            server = server or SimulatedDataServer()
            feed = _Feed(name, faults.get("stall_at"), faults.get("short_at"))
            signal = SignalModel(
                feed, _SIM_GROUND, _SIM_EXCITED, _SIM_NOISE, seed=seed + ord(cfg.node)
            )
            add = server.add_uhfqa if cfg.type == "uhfqa" else server.add_shfqa
            feed.device = add(address, signal)
            feeds[cfg.node] = feed
            options["connection"] = server
        readout = open_readout(cfg.type, name, address, **options)
        opened[name] = readout
        readout.configure(cfg.settings)
        readouts[cfg.node], configs[cfg.node] = readout, cfg
    return ReadoutSet(readouts, configs, feeds)
