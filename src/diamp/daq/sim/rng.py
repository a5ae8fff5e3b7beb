"""Seeded, reproducible random streams for the simulated lab.

Every simulated quantity draws from its own stream keyed by (master seed, stream, block), so
a block can be regenerated on its own (resume after a crash gives identical content) and
streams never overlap.
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np

__all__ = ["Stream", "stream_rng", "uniform_u32"]


class Stream(IntEnum):
    """Stream identifiers (part of the reproducibility contract: never renumber)."""

    ALICE_INPUTS = 1
    BOB_INPUTS = 2
    DEVICE = 3
    Z = 4


def stream_rng(seed: int, stream: Stream, index: int) -> np.random.Generator:
    """Generator for ``stream`` in block (or chunk) ``index`` of the run seeded by ``seed``."""
    seq = np.random.SeedSequence(entropy=seed, spawn_key=(int(stream), index))
    return np.random.Generator(np.random.PCG64DXSM(seq))


def uniform_u32(rng: np.random.Generator, count: int) -> np.ndarray:
    """``count`` independent uniform 32-bit words (fast path over the raw 64-bit output)."""
    raw = rng.bit_generator.random_raw((count + 1) // 2)
    return np.ascontiguousarray(raw.view(np.uint32)[:count])
