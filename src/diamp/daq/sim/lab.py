"""The simulated lab: SV input sources, the Bell device λ, and the Z source, from a config.

Each block is generated from its own seeded streams (see :mod:`diamp.daq.sim.rng`), so any block
can be reproduced alone; Z is drawn after the last trial from the configured source's own
stream, in chunks, and is returned packed MSB-first.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

from diamp.config import LhvDevice, RunConfig
from diamp.daq.sim.bell_device import SimulatedBellDevice, lhv_table, quantum_table
from diamp.daq.sim.rng import Stream, stream_rng, uniform_u32
from diamp.daq.sim.sv_sources import make_source

__all__ = ["SimulatedLab"]

Z_CHUNK_BITS = 2**24


class SimulatedLab:
    """Simulated backends for the SV sources and the readout of a run config."""

    def __init__(self, config: RunConfig) -> None:
        self.config = config
        device = config.device
        if isinstance(device, LhvDevice):
            table = lhv_table(device.noise)
        else:
            table = quantum_table(device.visibility, device.fidelities)
        self.device = SimulatedBellDevice(table)

    def block(self, index: int) -> np.ndarray:
        """Trials of block ``index`` (``uint8``, v = 8x + 4y + 2a + b)."""
        cfg = self.config
        count = cfg.run.trials_per_block
        seed = cfg.run.seed
        x = make_source(cfg.sources.alice, stream_rng(seed, Stream.ALICE_INPUTS, index)).bits(count)
        y = make_source(cfg.sources.bob, stream_rng(seed, Stream.BOB_INPUTS, index)).bits(count)
        u = uniform_u32(stream_rng(seed, Stream.DEVICE, index), count)
        return self.device.measure(x, y, u)

    def measure(self, index: int, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Trials of block ``index`` for inputs from outside (e.g. the station's QRNGs)."""
        count = x.shape[0]
        if y.shape[0] != count:
            raise ValueError(f"block {index}: {count} inputs x but {y.shape[0]} inputs y")
        u = uniform_u32(stream_rng(self.config.run.seed, Stream.DEVICE, index), count)
        return self.device.measure(np.ascontiguousarray(x), np.ascontiguousarray(y), u)

    def z_bits(self, n_bits: int) -> Iterator[np.ndarray]:
        """Yield Z (``n_bits`` SV bits from the configured source) in unpacked chunks."""
        source_cfg = getattr(self.config.sources, self.config.sources.z_source)
        source = make_source(source_cfg, stream_rng(self.config.run.seed, Stream.Z, 0))
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
