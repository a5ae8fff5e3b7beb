"""The simulated lab: SV input sources, the Bell device λ, and the Z source.

Built from its own sections (``[sources]`` for the SV source models, ``[device]`` for the
Bell device, and the run seed), never from the whole config. Each block is generated from its
own seeded streams (see :mod:`diamp.daq.sim.rng`), so any block can be reproduced alone; Z is
drawn after the last trial from the configured source's own stream, in chunks, and is
returned packed MSB-first.

:class:`SimulatedLab` is one first-class backend of each part of a trial source
(:mod:`diamp.daq.trials`): it supplies inputs (:meth:`SimulatedLab.inputs`), outcomes for
any inputs (:meth:`SimulatedLab.measure`) and Z (:meth:`SimulatedLab.z_packed`), and says
so in :meth:`SimulatedLab.describe`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from diamp.config import DeviceConfig, LhvDevice, RunConfig, SourcesSection
from diamp.daq.sim.bell_device import SimulatedBellDevice, lhv_table, quantum_table
from diamp.daq.sim.rng import Stream, stream_rng, uniform_u32
from diamp.daq.sim.sv_sources import make_source

__all__ = ["GENERATOR", "SimulatedLab"]

Z_CHUNK_BITS = 2**24

# How the simulated parts draw their randomness (provenance: named in every description).
GENERATOR = "numpy PCG64DXSM, SeedSequence(entropy=seed, spawn_key=(stream, block))"


class SimulatedLab:
    """Simulated backends for the SV sources and the Bell device of a run.

    Parameters
    ----------
    seed
        The run seed (``[run].seed``); every stream derives from it.
    trials_per_block
        Trials of one block (``[run].trials_per_block``), for :meth:`block`.
    sources
        ``[sources]``: the SV source models and which one gives Z.
    device
        ``[device]``: the Bell device model.
    """

    def __init__(
        self, seed: int, trials_per_block: int, sources: SourcesSection, device: DeviceConfig
    ) -> None:
        self.seed = seed
        self.trials_per_block = trials_per_block
        self.sources = sources
        self.device_config = device
        if isinstance(device, LhvDevice):
            table = lhv_table(device.noise)
        else:
            table = quantum_table(device.visibility, device.fidelities)
        self.device = SimulatedBellDevice(table)

    @classmethod
    def from_config(cls, config: RunConfig) -> SimulatedLab:
        """The simulated lab of a whole run config (its ``[run]``, ``[sources]``, ``[device]``)."""
        return cls(config.run.seed, config.run.trials_per_block, config.sources, config.device)

    def inputs(self, index: int, count: int) -> tuple[np.ndarray, np.ndarray]:
        """Inputs x, y (``uint8`` 0/1) of block ``index`` from the seeded SV source models."""
        seed, src = self.seed, self.sources
        x = make_source(src.alice, stream_rng(seed, Stream.ALICE_INPUTS, index)).bits(count)
        y = make_source(src.bob, stream_rng(seed, Stream.BOB_INPUTS, index)).bits(count)
        return x, y

    def measure(self, index: int, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Trials of block ``index`` for inputs ``x``, ``y`` (``uint8``, v = 8x + 4y + 2a + b)."""
        count = x.shape[0]
        if y.shape[0] != count:
            raise ValueError(f"block {index}: {count} inputs x but {y.shape[0]} inputs y")
        u = uniform_u32(stream_rng(self.seed, Stream.DEVICE, index), count)
        return self.device.measure(np.ascontiguousarray(x), np.ascontiguousarray(y), u)

    def block(self, index: int) -> np.ndarray:
        """Trials of block ``index`` with simulated inputs (``uint8``, v = 8x + 4y + 2a + b)."""
        x, y = self.inputs(index, self.trials_per_block)
        return self.measure(index, x, y)

    def z_bits(self, n_bits: int) -> Iterator[np.ndarray]:
        """Yield Z (``n_bits`` SV bits from the configured source) in unpacked chunks."""
        source_cfg = getattr(self.sources, self.sources.z_source)
        source = make_source(source_cfg, stream_rng(self.seed, Stream.Z, 0))
        done = 0
        while done < n_bits:
            count = min(Z_CHUNK_BITS, n_bits - done)
            yield source.bits(count)
            done += count

    def z_packed(self, n_bits: int, progress: Callable[[float], None] | None = None) -> np.ndarray:
        """Z as packed bytes, MSB-first (``numpy.packbits`` order), ``ceil(n_bits / 8)`` long.

        ``progress`` is called with the number of bits drawn so far.
        """
        out = np.empty((n_bits + 7) // 8, dtype=np.uint8)
        pos = 0
        for chunk in self.z_bits(n_bits):  # chunks are multiples of 8 bits except the last
            packed = np.packbits(chunk)
            out[pos : pos + packed.size] = packed
            pos += packed.size
            if progress is not None:
                progress(min(8 * pos, n_bits))
        return out

    def describe(self, part: str) -> dict[str, Any]:
        """Provenance of ``part`` (``"inputs"``, ``"z"`` or ``"outcomes"``) when simulated here."""
        src = self.sources
        models: dict[str, Any] = {
            "inputs": {"alice": src.alice.model_dump(), "bob": src.bob.model_dump()},
            "z": {src.z_source: getattr(src, src.z_source).model_dump()},
            "outcomes": self.device_config.model_dump(),
        }
        return {
            "origin": "simulated",
            "simulated": True,
            "backend": "diamp.daq.sim.lab",
            "generator": GENERATOR,
            "seed": self.seed,
            "model": models[part],
        }
