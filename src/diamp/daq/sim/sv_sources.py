"""Simulated Santha-Vazirani (SV) sources of input bits.

A mu-SV source emits bits with 1/2 - mu <= P(bit = 1 | all previous bits) <= 1/2 + mu.
Bits are numpy ``uint8`` arrays of 0/1 in emission order.
"""

from __future__ import annotations

import numpy as np

from diamp.config import SourceConfig
from diamp.daq.roles import SVSource
from diamp.daq.sim._kernels import markov_bits
from diamp.daq.sim.rng import uniform_u32

__all__ = ["IidSVSource", "MarkovSVSource", "SVSource", "make_source"]

_SCALE = 2**32


def _threshold(p_one: float) -> np.uint64:
    """P(1) as a threshold on uniform 32-bit words (quantised to 2**-32)."""
    return np.uint64(round(p_one * _SCALE))


class IidSVSource:
    """Independent bits with P(1) = 1/2 + bias."""

    def __init__(self, bias: float, rng: np.random.Generator) -> None:
        self._thr = _threshold(0.5 + bias)
        self._rng = rng

    def bits(self, count: int) -> np.ndarray:
        """Return the next ``count`` bits as ``uint8`` 0/1."""
        return (uniform_u32(self._rng, count) < self._thr).view(np.uint8)


class MarkovSVSource:
    """Bits whose bias follows the previous bit: P(1 | prev) = 1/2 + bias·(2·prev − 1).

    The first bit uses P(1) = 1/2 + bias. Every conditional probability stays within
    1/2 ± |bias|, so the source is a |bias|-SV source with memory.
    """

    def __init__(self, bias: float, rng: np.random.Generator) -> None:
        self._after0 = _threshold(0.5 - bias)
        self._after1 = _threshold(0.5 + bias)
        self._rng = rng
        self._prev = np.uint8(1)

    def bits(self, count: int) -> np.ndarray:
        """Return the next ``count`` bits as ``uint8`` 0/1."""
        out = np.empty(count, dtype=np.uint8)
        if count:
            u = uniform_u32(self._rng, count)
            self._prev = markov_bits(u, self._after0, self._after1, self._prev, out)
        return out


def make_source(config: SourceConfig, rng: np.random.Generator) -> SVSource:
    """Build the simulated source a ``[sources.*]`` config section describes."""
    if config.model == "markov":
        return MarkovSVSource(config.bias, rng)
    return IidSVSource(config.bias, rng)
