"""extract_checked: the extraction against slow oracles, and the self-check catching corruption."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import diamp.extractors.checked as checked_module
from diamp.errors import ExtractionError
from diamp.extractors.bits import PackedBits
from diamp.extractors.checked import extract_checked, sample_positions
from diamp.extractors.correlate import CorrelationResult
from diamp.extractors.dodis import dodis_extract
from diamp.extractors.toeplitz import toeplitz_extract


def bits(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.integers(0, 2, n, dtype=np.uint8)


def dodis_reference(x: np.ndarray, y: np.ndarray, m: int) -> np.ndarray:
    """DESIGN: Ext(x, y)_j = sum_{t <= N-1-j} x_t y_{t+j} mod 2."""
    n = x.size
    xi, yi = x.astype(np.int64), y.astype(np.int64)
    return np.array([int(xi[: n - j] @ yi[j:]) & 1 for j in range(m)], dtype=np.uint8)


def toeplitz_reference(raw: np.ndarray, seed: np.ndarray, m: int) -> np.ndarray:
    """DESIGN: out_i = sum_j s_{i-j+n-1} r_j mod 2, as an explicit Toeplitz matrix product."""
    n = raw.size
    matrix = np.array([[seed[i - j + n - 1] for j in range(n)] for i in range(m)], dtype=np.int64)
    return (matrix @ raw.astype(np.int64) % 2).astype(np.uint8)


@settings(max_examples=30, deadline=None, derandomize=True)
@given(
    n=st.integers(1, 150),
    frac=st.floats(0, 1),
    check=st.integers(0, 200),
    seed=st.integers(0, 2**32 - 1),
)
def test_dodis_matches_the_definition_and_checks_distinct_positions(
    n: int, frac: float, check: int, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    m = max(1, round(frac * n))
    x, y = bits(rng, n), bits(rng, n)
    done = extract_checked(
        "dodis", PackedBits.from_bits(x), PackedBits.from_bits(y), m, check_bits=check, rng=seed
    )
    assert np.array_equal(done.output.unpack(), dodis_reference(x, y, m))
    positions = done.checked_positions
    assert len(positions) == min(check, m) and list(positions) == sorted(set(positions))
    assert all(0 <= p < m for p in positions)
    assert positions == tuple(sample_positions(m, min(check, m), seed))  # seeded: reproducible


@settings(max_examples=30, deadline=None, derandomize=True)
@given(n=st.integers(1, 120), m=st.integers(1, 120), seed=st.integers(0, 2**32 - 1))
def test_toeplitz_matches_the_matrix_definition(n: int, m: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    raw, s = bits(rng, n), bits(rng, n + m - 1)
    done = extract_checked(
        "toeplitz", PackedBits.from_bits(raw), PackedBits.from_bits(s), m, check_bits=m, rng=rng
    )
    assert np.array_equal(done.output.unpack(), toeplitz_reference(raw, s, m))
    assert done.checked_positions == tuple(range(m))


def test_same_output_as_the_unchecked_extractors() -> None:
    rng = np.random.default_rng(11)
    n, m = 200_003, 5_001
    x, y = PackedBits.from_bits(bits(rng, n)), PackedBits.from_bits(bits(rng, n))
    seed = PackedBits.from_bits(bits(rng, n + m - 1))
    dodis = extract_checked(
        "dodis", x, y, m, check_bits=16, max_fft_length=2**16, threads=2, engine="fft"
    )
    assert dodis.output == dodis_extract(x, y, m, max_fft_length=2**16).output
    assert dodis.result.fft_length == 2**16 and dodis.extract_seconds > 0
    toeplitz = extract_checked("toeplitz", x, seed, m, check_bits=16)
    assert toeplitz.output == toeplitz_extract(x, seed, m).output


def _flip_engine(monkeypatch: pytest.MonkeyPatch, position: int) -> None:
    """Both engines return their output with bit ``position`` flipped."""
    import diamp.extractors.ntt as ntt_module

    def corrupt(real: Any) -> Any:
        def corrupted(*args: Any, **kwargs: Any) -> CorrelationResult:
            result = real(*args, **kwargs)
            out = result.output.unpack().copy()
            out[position] ^= 1
            return replace(result, output=PackedBits.from_bits(out))

        return corrupted

    fft_engine = checked_module.correlate_parity
    monkeypatch.setattr(checked_module, "correlate_parity", corrupt(fft_engine))
    monkeypatch.setattr(
        ntt_module, "correlate_parity_exact", corrupt(ntt_module.correlate_parity_exact)
    )


@pytest.mark.parametrize("kind", ["dodis", "toeplitz"])
def test_a_corrupted_output_bit_is_caught_with_its_position(
    monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    rng = np.random.default_rng(5)
    n, m = 300, 40
    x = PackedBits.from_bits(bits(rng, n))
    y = PackedBits.from_bits(bits(rng, n if kind == "dodis" else n + m - 1))
    _flip_engine(monkeypatch, 17)
    with pytest.raises(ExtractionError, match="output bit 17") as caught:
        extract_checked(kind, x, y, m, check_bits=m)  # type: ignore[arg-type]
    assert caught.value.position == 17  # type: ignore[attr-defined]
    # positions that miss the flipped bit pass: the check is exactly as strong as its sample
    assert 17 not in extract_checked(kind, x, y, m, check_bits=0).checked_positions  # type: ignore[arg-type]


def test_invalid_requests_are_refused() -> None:
    one = PackedBits.from_bits(np.ones(10, dtype=np.uint8))
    with pytest.raises(ExtractionError, match="equal length"):
        extract_checked("dodis", one, PackedBits.from_bits(np.ones(9, np.uint8)), 3, check_bits=1)
    with pytest.raises(ExtractionError, match="n \\+ m - 1 = 14"):
        extract_checked(
            "toeplitz", one, PackedBits.from_bits(np.ones(13, np.uint8)), 5, check_bits=1
        )
    with pytest.raises(ExtractionError, match=">= 0, found -1"):
        extract_checked("dodis", one, one, 3, check_bits=-1)
    with pytest.raises(ExtractionError, match="unknown extractor 'xor'"):
        extract_checked("xor", one, one, 3, check_bits=1)  # type: ignore[arg-type]
    with pytest.raises(ExtractionError, match="cannot check 5 of 4"):
        sample_positions(4, 5)


def test_progress_reports_extraction_then_self_check() -> None:
    steps: list[tuple[str, float]] = []

    class Sink:
        def start(self, description: str, total: float) -> Any:
            steps.append((description, total))
            return lambda completed, description=None: steps.append(("update", completed))

        def log(self, message: str) -> None:
            pass

    x = PackedBits.from_bits(np.random.default_rng(1).integers(0, 2, 64, dtype=np.uint8))
    extract_checked("dodis", x, x, 8, check_bits=3, progress=Sink())
    assert steps[0] == ("Dodis extraction (N = 64, m = 8)", 1)
    assert ("Self-check (3 bits from the definition)", 1) in steps and steps[-1] == ("update", 1)


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 700),
    chunk_words=st.integers(1, 4),
    seed=st.integers(0, 2**32 - 1),
    count=st.integers(1, 40),
)
def test_direct_definition_any_chunking_and_position_order(
    n: int, chunk_words: int, seed: int, count: int
) -> None:
    """Positions in any order, grouped onto shared reads of y, against the definition."""
    from diamp.extractors.direct import correlation_bits_direct

    rng = np.random.default_rng(seed)
    x, y = bits(rng, n), bits(rng, n)
    positions = [int(p) for p in rng.integers(0, n, count)]  # unsorted, repeats allowed
    want = dodis_reference(x, y, n)
    got = correlation_bits_direct(
        PackedBits(np.packbits(x), n), PackedBits(np.packbits(y), n), positions, chunk_words
    )
    assert got == [int(want[j]) for j in positions]
