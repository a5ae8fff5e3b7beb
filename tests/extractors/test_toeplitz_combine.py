from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from diamp.errors import ExtractionError
from diamp.extractors.bits import PackedBits
from diamp.extractors.combine import XorBits, von_neumann, von_neumann_chunks, xor_bits
from diamp.extractors.toeplitz import (
    ReversedBits,
    toeplitz_bits_direct,
    toeplitz_extract,
    verify_toeplitz,
)


def toeplitz_reference(raw: np.ndarray, seed: np.ndarray, m: int) -> np.ndarray:
    """DESIGN: out_i = sum_j s_{i-j+n-1} r_j mod 2, as an explicit Toeplitz matrix product."""
    n = raw.size
    matrix = np.array([[seed[i - j + n - 1] for j in range(n)] for i in range(m)], dtype=np.int64)
    return (matrix @ raw.astype(np.int64) % 2).astype(np.uint8)


def bits(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.integers(0, 2, n, dtype=np.uint8)


@pytest.mark.parametrize(
    ("n", "m"), [(1, 1), (2, 1), (7, 5), (8, 8), (13, 1), (97, 40), (300, 299)]
)
def test_toeplitz_matches_matrix_definition(n: int, m: int) -> None:
    rng = np.random.default_rng(n * 1000 + m)
    raw, seed = bits(rng, n), bits(rng, n + m - 1)
    result = toeplitz_extract(PackedBits.from_bits(raw), PackedBits.from_bits(seed), m)
    assert np.array_equal(result.output.unpack(), toeplitz_reference(raw, seed, m))


@settings(max_examples=40, deadline=None, derandomize=True)
@given(n=st.integers(1, 200), m=st.integers(1, 200), seed=st.integers(0, 2**32 - 1))
def test_toeplitz_property(n: int, m: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    raw, s = bits(rng, n), bits(rng, n + m - 1)
    rs, ss = PackedBits.from_bits(raw), PackedBits.from_bits(s)
    out = toeplitz_extract(rs, ss, m).output
    assert np.array_equal(out.unpack(), toeplitz_reference(raw, s, m))
    positions = sorted({int(i) for i in rng.integers(0, m, 5)})
    assert toeplitz_bits_direct(rs, ss, positions) == out.unpack()[positions].tolist()
    assert verify_toeplitz(rs, ss, out, positions) == tuple(positions)


def test_toeplitz_large_blockwise_against_direct_bits() -> None:
    rng = np.random.default_rng(77)
    n, m = 3_000_001, 70_001  # odd sizes, several x-blocks at a small FFT length
    raw = PackedBits.from_bits(bits(rng, n))
    seed = PackedBits.from_bits(bits(rng, n + m - 1))
    result = toeplitz_extract(raw, seed, m, threads=2)
    positions = sorted(int(i) for i in rng.choice(m, 40, replace=False))
    assert verify_toeplitz(raw, seed, result.output, positions) == tuple(positions)


def test_toeplitz_refuses_wrong_seed_length() -> None:
    raw = PackedBits.from_bits(np.ones(10, dtype=np.uint8))
    with pytest.raises(ExtractionError, match="n \\+ m - 1 = 14"):
        toeplitz_extract(raw, PackedBits.from_bits(np.ones(13, dtype=np.uint8)), 5)


def test_verify_toeplitz_catches_a_flipped_bit() -> None:
    rng = np.random.default_rng(3)
    raw, seed = PackedBits.from_bits(bits(rng, 50)), PackedBits.from_bits(bits(rng, 69))
    out = toeplitz_extract(raw, seed, 20).output.unpack()
    out[7] ^= 1
    with pytest.raises(ExtractionError, match="output bit 7"):
        verify_toeplitz(raw, seed, PackedBits.from_bits(out), [7])


@settings(max_examples=50, deadline=None, derandomize=True)
@given(n=st.integers(1, 300), start=st.integers(0, 40), span=st.integers(0, 40))
def test_reversed_bits_reads_any_range(n: int, start: int, span: int) -> None:
    rng = np.random.default_rng(n)
    b = bits(rng, n)
    rev = ReversedBits(PackedBits.from_bits(b))
    expected = np.packbits(b[::-1])
    assert np.array_equal(rev.read_bytes(start, start + span), expected[start : start + span])


def test_xor_of_k_sources() -> None:
    rng = np.random.default_rng(11)
    arrays = [bits(rng, 1001) for _ in range(4)]
    out = xor_bits([PackedBits.from_bits(a) for a in arrays])
    assert np.array_equal(out.unpack(), arrays[0] ^ arrays[1] ^ arrays[2] ^ arrays[3])
    lazy = XorBits([PackedBits.from_bits(a) for a in arrays[:2]])
    assert np.array_equal(lazy.read_bytes(3, 9), np.packbits(arrays[0] ^ arrays[1])[3:9])


def test_xor_refuses_unequal_lengths_and_single_source() -> None:
    a, b = PackedBits.from_bits(np.ones(8, np.uint8)), PackedBits.from_bits(np.ones(9, np.uint8))
    with pytest.raises(ExtractionError, match="equal length"):
        xor_bits([a, b])
    with pytest.raises(ExtractionError, match="at least 2"):
        xor_bits([a])


def von_neumann_reference(b: np.ndarray) -> list[int]:
    out = []
    for k in range(b.size // 2):
        pair = (int(b[2 * k]), int(b[2 * k + 1]))
        if pair == (1, 0):
            out.append(1)
        elif pair == (0, 1):
            out.append(0)
    return out


@pytest.mark.parametrize("n", [0, 1, 2, 3, 17, 1000, 4097])
def test_von_neumann_matches_definition(n: int) -> None:
    rng = np.random.default_rng(n)
    b = (rng.random(n) < 0.7).astype(np.uint8)  # biased input
    out = von_neumann(PackedBits.from_bits(b))
    assert out.unpack().tolist() == von_neumann_reference(b)


def test_von_neumann_chunking_is_seamless() -> None:
    rng = np.random.default_rng(5)
    b = bits(rng, 100_003)
    whole = von_neumann_reference(b)
    chunks = list(von_neumann_chunks(PackedBits.from_bits(b), chunk_bytes=7))
    assert np.concatenate(chunks).tolist() == whole
    assert len(chunks) > 100
