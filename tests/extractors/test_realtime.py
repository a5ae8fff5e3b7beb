"""The fixed-seed Toeplitz engine against the generic engine and the matrix definition."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import diamp.extractors.realtime as realtime
from diamp.errors import ExtractionError
from diamp.extractors.bits import PackedBits
from diamp.extractors.correlate import fft_error_bound
from diamp.extractors.gf2 import TableToeplitz
from diamp.extractors.realtime import FixedSeedToeplitz, batch_positions, block_bounds
from diamp.extractors.toeplitz import toeplitz_extract


def toeplitz_matrix(raw: np.ndarray, seed: np.ndarray, m: int) -> np.ndarray:
    """DESIGN: out_i = Σ_j s_{i−j+n−1} r_j mod 2, as an explicit Toeplitz matrix product."""
    n = raw.size
    rows = np.arange(m)[:, None] - np.arange(n)[None, :] + n - 1
    return (seed[rows].astype(np.int64) @ raw.astype(np.int64) % 2).astype(np.uint8)


def _case(rng: np.random.Generator, n: int, m: int, blocks: int) -> tuple[Any, ...]:
    seed = rng.integers(0, 2, n + m - 1, dtype=np.uint8)
    raw = rng.integers(0, 2, (blocks, n), dtype=np.uint8)
    return seed, raw, np.packbits(raw, axis=1)


@pytest.mark.parametrize(
    ("n", "m", "blocks"),
    [(1, 1, 1), (1, 9, 3), (2, 1, 2), (7, 5, 4), (8, 8, 5), (9, 1, 3), (63, 64, 3),
     (64, 1, 2), (65, 63, 3), (127, 130, 2), (1000, 777, 3), (1024, 896, 4)],
)  # fmt: skip
def test_matches_the_matrix_definition_and_the_generic_engine(n: int, m: int, blocks: int) -> None:
    rng = np.random.default_rng(n * 7919 + m)
    seed, raw, packed = _case(rng, n, m, blocks)
    engine = FixedSeedToeplitz(PackedBits.from_bits(seed), n, m)
    result = engine.extract(packed, check_bits=min(m, 32), rng=1)
    assert result.output.shape == (blocks, (m + 7) // 8)
    for b in range(blocks):
        want = toeplitz_matrix(raw[b], seed, m)
        generic = toeplitz_extract(PackedBits.from_bits(raw[b]), PackedBits.from_bits(seed), m)
        assert np.array_equal(np.unpackbits(result.output[b], count=m), want)
        assert result.output[b].tobytes() == generic.output.data.tobytes()
    assert 0 <= result.max_residual <= result.error_bound < 0.25


@settings(max_examples=40, deadline=None, derandomize=True)
@given(
    n=st.integers(1, 300),
    m=st.integers(1, 300),
    blocks=st.integers(1, 5),
    seed=st.integers(0, 2**32 - 1),
    points=st.sampled_from([1, 1024, 1 << 21]),
)
def test_property_against_the_definition_any_batching(
    n: int, m: int, blocks: int, seed: int, points: int
) -> None:
    rng = np.random.default_rng(seed)
    s, raw, packed = _case(rng, n, m, blocks)
    engine = FixedSeedToeplitz(PackedBits.from_bits(s), n, m, batch_points=points)
    out = engine.extract(packed, check_bits=min(m, 8), rng=seed).output
    for b in range(blocks):
        assert np.array_equal(np.unpackbits(out[b], count=m), toeplitz_matrix(raw[b], s, m))


@pytest.mark.parametrize(("n", "m"), [(65536, 50000), (65536 + 13, 40003), (1 << 18, 3 << 16)])
def test_large_blocks_match_the_generic_engine(n: int, m: int) -> None:
    rng = np.random.default_rng(n + m)
    seed, raw, packed = _case(rng, n, m, 3)
    seed[:4000] = 1  # a dense stretch: larger sums than random bits give
    raw[1, :] = 1  # all ones: the block's worst case
    packed = np.packbits(raw, axis=1)
    engine = FixedSeedToeplitz(PackedBits.from_bits(seed), n, m, batch_points=1 << 20)
    result = engine.extract(packed, check_bits=64)
    for b in range(3):
        generic = toeplitz_extract(PackedBits.from_bits(raw[b]), PackedBits.from_bits(seed), m)
        assert result.output[b].tobytes() == generic.output.data.tobytes()


def test_edge_inputs_all_zero_and_all_one() -> None:
    n, m = 201, 120  # odd n: all ones give out_i = n mod 2 = 1
    for seed_bit, raw_bit in ((0, 1), (1, 0), (1, 1)):
        seed = np.full(n + m - 1, seed_bit, np.uint8)
        raw = np.full((2, n), raw_bit, np.uint8)
        out = FixedSeedToeplitz(PackedBits.from_bits(seed), n, m).extract(
            np.packbits(raw, axis=1), check_bits=m
        )
        want = toeplitz_matrix(raw[0], seed, m)
        assert np.array_equal(np.unpackbits(out.output[1], count=m), want)
        assert want.any() == bool(seed_bit and raw_bit)


def test_checked_positions_are_distinct_sorted_and_in_range() -> None:
    rng = np.random.default_rng(3)
    p = batch_positions(rng, 500, 20, 20)  # every position: repeats must be redrawn
    assert all(np.array_equal(row, np.arange(20)) for row in p)
    q = batch_positions(rng, 200, 10_000, 16)
    assert q.shape == (200, 16) and (np.diff(q, axis=1) > 0).all() and q.max() < 10_000
    with pytest.raises(ExtractionError, match="cannot check 5 of 4"):
        batch_positions(rng, 1, 4, 5)


@pytest.mark.parametrize("engine_class", [FixedSeedToeplitz, TableToeplitz])
def test_invalid_inputs_are_refused(engine_class: Any) -> None:
    seed = PackedBits.from_bits(np.ones(20, np.uint8))
    with pytest.raises(ExtractionError, match="n \\+ m - 1 = 19"):
        engine_class(seed, 10, 10)
    with pytest.raises(ExtractionError, match="n >= 1"):
        engine_class(seed, 0, 21)
    engine = engine_class(seed, 10, 11)
    for bad in (np.zeros((2, 3), np.uint8), np.zeros(2, np.uint8), np.zeros((1, 2, 2), np.uint8)):
        with pytest.raises(ExtractionError, match="one row of 2 bytes"):
            engine.extract(bad, check_bits=1)
    with pytest.raises(ExtractionError, match=">= 0"):
        engine.extract(np.zeros((1, 2), np.uint8), check_bits=-1)


def test_a_wrong_output_bit_is_caught_by_the_definition(monkeypatch: pytest.MonkeyPatch) -> None:
    real = realtime.parity_rows

    def flip(values: Any, count: int, out: Any, residual: Any) -> None:
        real(values, count, out, residual)
        out[1, 3] ^= 0x80  # output bit 24 of block 1

    monkeypatch.setattr(realtime, "parity_rows", flip)
    rng = np.random.default_rng(9)
    seed, _, packed = _case(rng, 300, 200, 3)
    engine = FixedSeedToeplitz(PackedBits.from_bits(seed), 300, 200)
    with pytest.raises(ExtractionError, match="output bit 24 of block 1") as info:
        engine.extract(packed, check_bits=200)
    assert info.value.fields == {"block": 1, "position": 24}
    monkeypatch.undo()
    engine.extract(packed, check_bits=200)  # unchanged, the same batch passes


def test_a_residual_above_the_bound_refuses_the_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    real = realtime.parity_rows

    def noisy(values: Any, count: int, out: Any, residual: Any) -> None:
        values = np.array(values)
        values[2, 7] += 0.01  # far beyond the round-off bound, far from flipping a parity
        real(values, count, out, residual)

    monkeypatch.setattr(realtime, "parity_rows", noisy)
    rng = np.random.default_rng(11)
    seed, _, packed = _case(rng, 256, 100, 4)
    engine = FixedSeedToeplitz(PackedBits.from_bits(seed), 256, 100)
    with pytest.raises(ExtractionError, match=r"exceeds the round-off bound .* \(block 2\)"):
        engine.extract(packed, check_bits=0)


def test_threads_share_the_seed_spectrum_with_their_own_buffers() -> None:
    from concurrent.futures import ThreadPoolExecutor

    rng = np.random.default_rng(13)
    n, m = 4096, 3000
    seed, _, packed = _case(rng, n, m, 16)
    engine = FixedSeedToeplitz(PackedBits.from_bits(seed), n, m, batch_points=1 << 14)
    alone = engine.extract(packed, check_bits=4, rng=0).output
    with ThreadPoolExecutor(4) as pool:
        parts = list(
            pool.map(lambda k: engine.extract(packed[k::4], check_bits=4).output, range(4))
        )
    for k in range(4):
        assert np.array_equal(parts[k], alone[k::4])


@pytest.mark.parametrize("length", [2, 2048, 1 << 21, 1 << 25])
def test_block_bounds_are_the_generic_engines_bound(length: int) -> None:
    ones = np.array([0, 1, 2, 17, length // 4, length // 2], dtype=np.int64)
    for seed_ones in (0, 1, length // 3, length - 1):
        want = [fft_error_bound(length, int(w), seed_ones) for w in ones]
        np.testing.assert_allclose(block_bounds(length, ones, seed_ones), want, rtol=1e-13)
