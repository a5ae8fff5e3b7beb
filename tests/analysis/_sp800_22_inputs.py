"""Test inputs shared by the SP 800-22 oracle tests: bit lists, arrays, seeded random bits."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st


def bit_lists(min_size: int, max_size: int) -> st.SearchStrategy[list[int]]:
    return st.lists(st.integers(0, 1), min_size=min_size, max_size=max_size)


def arr(bits: list[int]) -> np.ndarray:
    return np.array(bits, dtype=np.uint8)


def random_bits(n: int, seed: int, p: float = 0.5) -> np.ndarray:
    return (np.random.default_rng(seed).random(n) < p).astype(np.uint8)
