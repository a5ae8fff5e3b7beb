"""Simulated Zurich Instruments devices: the readout signal model and the device base class.

A device declares its leaf nodes on a :class:`~diamp.daq.sim.zi.server.SimulatedDataServer`;
the concrete UHFQA and SHFQA models are in :mod:`diamp.daq.sim.zi.models`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from diamp.daq.sim.zi.nodes import READ, STRING, NodeSpec

if TYPE_CHECKING:
    from diamp.daq.sim.zi.server import SimulatedDataServer

__all__ = ["SignalModel", "SimulatedDevice"]


@dataclass
class SignalModel:
    """Integrated readout signal: Gaussian blobs around two complex centres.

    ``outcomes(n)`` returns the ``n`` true qubit states (uint8 0/1, shot order); shot k is
    ``center[bit_k] + noise·(N(0,1) + i·N(0,1))``, the integrated value for weights of unit
    mean (a device scales it by the mean of its integration weights). ``last_bits`` holds the
    states drawn by the latest acquisition.
    """

    outcomes: Callable[[int], np.ndarray]
    ground: complex = complex(-0.2, 0.1)
    excited: complex = complex(0.25, 0.35)
    noise: float = 0.05
    seed: int = 0
    last_bits: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.uint8))

    def __post_init__(self) -> None:
        self.reseed(self.seed)

    def reseed(self, seed: int) -> None:
        """Restart the noise generator (the same seed and outcomes replay the same shots)."""
        self.seed, self._rng = seed, np.random.default_rng(seed)

    def shots(self, n: int) -> np.ndarray:
        """Draw ``n`` states from the outcome source and return their IQ values."""
        bits = np.asarray(self.outcomes(n))
        if bits.shape != (n,) or not np.isin(bits, (0, 1)).all():
            raise ValueError(f"outcome source must return {n} bits (0/1), got {bits!r:.80}")
        self.last_bits = bits.astype(np.uint8)
        centres = np.where(self.last_bits == 1, self.excited, self.ground)
        noise = self._rng.normal(size=(2, n)) * self.noise
        return np.asarray(centres + noise[0] + 1j * noise[1], dtype=np.complex128)


class SimulatedDevice:
    """Base of a simulated instrument: its leaf nodes, values and result logger faults."""

    DEVTYPE: ClassVar[str] = ""

    def __init__(self, server: SimulatedDataServer, serial: str, signal: SignalModel) -> None:
        self.server, self.serial, self.signal = server, serial.lower(), signal
        self.connected = False
        self._stalled = False
        self._short: int | None = None
        self.add("features/devtype", NodeSpec(STRING, READ, "Device type.", default=self.DEVTYPE))
        self.add("features/options", NodeSpec(STRING, READ, "Installed options.", default=""))
        self.add("features/serial", NodeSpec(STRING, READ, "Device serial.", default=serial))

    def add(self, relative: str, spec: NodeSpec) -> None:
        """Declare the leaf ``/<serial>/<relative>``."""
        self.server.declare(f"/{self.serial}/{relative}", spec)

    def path(self, relative: str) -> str:
        """Absolute path of a node of this device."""
        return f"/{self.serial}/{relative}"

    def value(self, relative: str) -> Any:
        """Current value of a node of this device."""
        return self.server.values[self.path(relative)]

    def stall(self, stalled: bool = True) -> None:
        """Fault: the result logger never completes (no trigger reaches it)."""
        self._stalled = stalled

    def short_read(self, delivered: int | None) -> None:
        """Fault: the logger reports completion but delivers only ``delivered`` results."""
        self._short = delivered

    def after_set(self, relative: str, value: Any) -> None:
        """Side effects of a set (reset, enable); subclasses override."""

    def service(self) -> None:
        """Let pending acquisitions progress; called before every read of the device."""
