"""The exact GF(2) table engine against the definition, the generic and the FFT engines."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import diamp.extractors.gf2 as gf2
from diamp.errors import ExtractionError
from diamp.extractors.bits import PackedBits
from diamp.extractors.gf2 import TableToeplitz, window_table
from diamp.extractors.realtime import FixedSeedToeplitz
from diamp.extractors.toeplitz import toeplitz_extract


def toeplitz_matrix(raw: np.ndarray, seed: np.ndarray, m: int) -> np.ndarray:
    """DESIGN: out_i = Σ_j s_{i−j+n−1} r_j mod 2, as an explicit Toeplitz matrix product."""
    n = raw.size
    rows = np.arange(m)[:, None] - np.arange(n)[None, :] + n - 1
    return (seed[rows].astype(np.int64) @ raw.astype(np.int64) % 2).astype(np.uint8)


def _blocks(rng: np.random.Generator, n: int, kinds: tuple[str, ...]) -> np.ndarray:
    """One block of n bits per kind: random, zeros, ones, alternating, a lone bit at each end."""
    rows = []
    for kind in kinds:
        if kind == "random":
            rows.append(rng.integers(0, 2, n, dtype=np.uint8))
        elif kind == "zeros":
            rows.append(np.zeros(n, np.uint8))
        elif kind == "ones":
            rows.append(np.ones(n, np.uint8))
        elif kind == "alternating":
            rows.append((np.arange(n) % 2).astype(np.uint8))
        else:  # "first" / "last": one 1 bit, the window at either end of the seed
            row = np.zeros(n, np.uint8)
            row[0 if kind == "first" else n - 1] = 1
            rows.append(row)
    return np.stack(rows)


KINDS = ("random", "zeros", "ones", "alternating", "first", "last", "random")


@pytest.mark.parametrize(
    ("n", "m"),
    [(1, 1), (1, 9), (2, 1), (7, 5), (8, 8), (9, 1), (15, 17), (63, 64), (64, 1), (65, 63),
     (127, 130), (1000, 777), (1024, 896), (4099, 2053)],
)  # fmt: skip
def test_matches_the_matrix_definition_and_both_other_engines(n: int, m: int) -> None:
    rng = np.random.default_rng(n * 7919 + m)
    seed = rng.integers(0, 2, n + m - 1, dtype=np.uint8)
    raw = _blocks(rng, n, KINDS)
    packed = np.packbits(raw, axis=1)
    key = PackedBits.from_bits(seed)
    result = TableToeplitz(key, n, m).extract(packed, check_bits=min(m, 32), rng=1)
    fft = FixedSeedToeplitz(key, n, m).extract(packed, check_bits=0).output
    assert result.output.shape == (len(KINDS), (m + 7) // 8)
    assert result.error_bound == 0 and result.max_residual == 0
    assert np.array_equal(result.output, fft)
    for b in range(len(KINDS)):
        want = toeplitz_matrix(raw[b], seed, m)
        assert np.array_equal(np.unpackbits(result.output[b], count=m), want)
        assert not np.unpackbits(result.output[b])[m:].any()  # padding bits are zero
        generic = toeplitz_extract(PackedBits.from_bits(raw[b]), key, m)
        assert result.output[b].tobytes() == generic.output.data.tobytes()


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    n=st.integers(1, 400),
    m=st.integers(1, 400),
    blocks=st.integers(1, 4),
    seed=st.integers(0, 2**32 - 1),
    density=st.sampled_from([0.02, 0.5, 0.98]),
)
def test_property_against_the_definition(
    n: int, m: int, blocks: int, seed: int, density: float
) -> None:
    rng = np.random.default_rng(seed)
    s = (rng.random(n + m - 1) < density).astype(np.uint8)
    raw = (rng.random((blocks, n)) < density).astype(np.uint8)
    out = TableToeplitz(PackedBits.from_bits(s), n, m).extract(
        np.packbits(raw, axis=1), check_bits=min(m, 8), rng=seed
    )
    for b in range(blocks):
        assert np.array_equal(np.unpackbits(out.output[b], count=m), toeplitz_matrix(raw[b], s, m))
    generic = toeplitz_extract(PackedBits.from_bits(raw[0]), PackedBits.from_bits(s), m)
    assert out.output[0].tobytes() == generic.output.data.tobytes()


def test_bits_past_n_in_the_last_byte_are_ignored() -> None:
    rng = np.random.default_rng(5)
    n, m = 1003, 400  # 5 padding bits in the last raw byte
    seed = PackedBits.from_bits(rng.integers(0, 2, n + m - 1, dtype=np.uint8))
    packed = np.packbits(rng.integers(0, 2, (3, n), dtype=np.uint8), axis=1)
    engine = TableToeplitz(seed, n, m)
    clean = engine.extract(packed, check_bits=m).output
    dirty = packed.copy()
    dirty[:, -1] |= 0x1F
    assert np.array_equal(engine.extract(dirty, check_bits=m).output, clean)


@pytest.mark.parametrize(("n", "m"), [(1 << 14, 8985), (65536 + 13, 40003)])
def test_service_sized_blocks_match_the_fft_engine(n: int, m: int) -> None:
    rng = np.random.default_rng(n + m)
    seed = rng.integers(0, 2, n + m - 1, dtype=np.uint8)
    seed[:4000] = 1  # a dense stretch
    raw = _blocks(rng, n, ("random", "ones", "alternating", "random"))
    key = PackedBits.from_bits(seed)
    packed = np.packbits(raw, axis=1)
    got = TableToeplitz(key, n, m).extract(packed, check_bits=64).output
    assert np.array_equal(got, FixedSeedToeplitz(key, n, m).extract(packed, check_bits=0).output)


def test_window_table_rows_are_xors_of_shifted_seeds() -> None:
    rng = np.random.default_rng(8)
    s = rng.integers(0, 2, 100, dtype=np.uint8)
    table = window_table(s, 16)
    padded = np.concatenate([s, np.zeros(8 * 16 + 8 - s.size, np.uint8)])
    for v in (1, 2, 0x80, 0xA5, 0xFF):
        want = np.zeros(8 * 16, np.uint8)
        for u in range(8):
            if (v >> (7 - u)) & 1:
                want ^= padded[u : u + 8 * 16]
        assert np.array_equal(np.unpackbits(table[v]), want)
    assert not table[0].any() and not table.flags.writeable


def test_a_window_table_over_the_limit_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    # invalid lengths and batches: tests/extractors/test_realtime.py, for both engines
    seed = PackedBits.from_bits(np.ones(20, np.uint8))
    monkeypatch.setattr(gf2, "MAX_TABLE_BYTES", 1000)
    with pytest.raises(ExtractionError, match="needs 1024 bytes, more than 1000"):
        TableToeplitz(seed, 10, 11)


def test_a_wrong_output_bit_is_caught_by_the_definition(monkeypatch: pytest.MonkeyPatch) -> None:
    real = gf2.table_hash

    def flip(*args: Any) -> None:
        real(*args)
        args[4][1, 3] ^= 0x80  # output bit 24 of block 1

    monkeypatch.setattr(gf2, "table_hash", flip)
    rng = np.random.default_rng(9)
    seed = PackedBits.from_bits(rng.integers(0, 2, 499, dtype=np.uint8))
    packed = np.packbits(rng.integers(0, 2, (3, 300), dtype=np.uint8), axis=1)
    engine = TableToeplitz(seed, 300, 200)
    with pytest.raises(ExtractionError, match="output bit 24 of block 1") as info:
        engine.extract(packed, check_bits=200)
    assert info.value.fields == {"block": 1, "position": 24}
    monkeypatch.undo()
    engine.extract(packed, check_bits=200)  # unchanged, the same batch passes


def test_threads_share_the_table() -> None:
    from concurrent.futures import ThreadPoolExecutor

    rng = np.random.default_rng(13)
    n, m = 4096, 3000
    seed = PackedBits.from_bits(rng.integers(0, 2, n + m - 1, dtype=np.uint8))
    packed = rng.integers(0, 256, (16, n // 8), dtype=np.uint8)
    engine = TableToeplitz(seed, n, m)
    alone = engine.extract(packed, check_bits=4, rng=0).output
    with ThreadPoolExecutor(4) as pool:
        parts = list(
            pool.map(lambda k: engine.extract(packed[k::4], check_bits=4).output, range(4))
        )
    for k in range(4):
        assert np.array_equal(parts[k], alone[k::4])
