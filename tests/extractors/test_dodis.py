"""Tests for the Dodis two-source extractor and PackedBits.

Oracle: the DESIGN definition evaluated directly, Ext(x, y)_j = Σ_{t=0}^{N−1−j} x_t·y_{t+j}
mod 2, one AND-popcount per output bit on unpacked arrays (no FFT, no packed words).
"""

from __future__ import annotations

import hashlib
import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from diamp.errors import ExtractionError
from diamp.extractors.bits import PackedBits
from diamp.extractors.dodis import (
    DEFAULT_MAX_FFT_LENGTH,
    MAX_ERROR,
    RoundoffBound,
    dodis_bit,
    dodis_extract,
    fft_error_bound,
    plan_dodis,
    verify_output,
)

HYP = settings(derandomize=True, deadline=None, max_examples=60)


def reference_dodis(x: np.ndarray, y: np.ndarray, m: int) -> np.ndarray:
    """Direct definition on unpacked 0/1 arrays."""
    n = x.size
    assert y.size == n and 1 <= m <= n
    out = np.empty(m, dtype=np.uint8)
    for j in range(m):
        out[j] = np.count_nonzero(x[: n - j] & y[j:]) & 1
    return out


def random_bits(rng: np.random.Generator, n: int, p: float = 0.5) -> np.ndarray:
    return (rng.random(n) < p).astype(np.uint8)


def extract_bits(x: np.ndarray, y: np.ndarray, m: int, block_bits: int | None) -> np.ndarray:
    result = dodis_extract(
        PackedBits.from_bits(x), PackedBits.from_bits(y), m, block_bits=block_bits
    )
    assert len(result.output) == m
    assert result.max_residual <= result.error_bound < MAX_ERROR
    return result.output.unpack()


def test_reference_on_hand_example() -> None:
    # x = 1 1 0 1, y = 1 0 1 1:
    # j=0: 1·1 + 1·0 + 0·1 + 1·1 = 2 → 0;  j=1: x0y1 + x1y2 + x2y3 = 0+1+0 → 1
    # j=2: x0y2 + x1y3 = 1+1 → 0;          j=3: x0y3 = 1 → 1
    x = np.array([1, 1, 0, 1], dtype=np.uint8)
    y = np.array([1, 0, 1, 1], dtype=np.uint8)
    assert reference_dodis(x, y, 4).tolist() == [0, 1, 0, 1]
    assert extract_bits(x, y, 4, None).tolist() == [0, 1, 0, 1]


SIZES = [
    # (N, m values, block sizes)
    (1, [1], [None, 1, 3]),
    (2, [1, 2], [None, 1, 2, 3]),
    (7, [1, 6, 7], [None, 1, 3, 8]),
    (8, [1, 7, 8], [None, 3, 8]),
    (9, [1, 8, 9], [None, 2, 3, 8, 64]),
    (13, [1, 5, 12, 13], [None, 1, 3, 8, 64]),
    (97, [1, 40, 96, 97], [None, 3, 8, 64]),
    (1000, [1, 999, 1000], [None, 8, 64, 333]),
    (4099, [1, 4098, 4099], [None, 64, 1000]),
]
CASES = [(n, m, b) for n, ms, bs in SIZES for m in ms for b in bs]


@pytest.mark.parametrize(("n", "m", "block_bits"), CASES)
def test_extract_matches_reference_random(n: int, m: int, block_bits: int | None) -> None:
    rng = np.random.default_rng([n, m, block_bits or 0])
    x, y = random_bits(rng, n), random_bits(rng, n)
    np.testing.assert_array_equal(extract_bits(x, y, m, block_bits), reference_dodis(x, y, m))


@pytest.mark.parametrize(("n", "m", "block_bits"), CASES)
def test_extract_all_zeros_and_all_ones(n: int, m: int, block_bits: int | None) -> None:
    zeros, ones = np.zeros(n, dtype=np.uint8), np.ones(n, dtype=np.uint8)
    rng = np.random.default_rng([n, m, 7])
    r = random_bits(rng, n)
    for x, y in [(zeros, zeros), (zeros, r), (r, zeros)]:
        assert not extract_bits(x, y, m, block_bits).any()
    # all ones: bit j = (N − j) mod 2
    expected_ones = ((n - np.arange(m)) & 1).astype(np.uint8)
    np.testing.assert_array_equal(extract_bits(ones, ones, m, block_bits), expected_ones)
    for x, y in [(ones, r), (r, ones)]:
        np.testing.assert_array_equal(extract_bits(x, y, m, block_bits), reference_dodis(x, y, m))


@pytest.mark.parametrize("p", [0.02, 0.98])
def test_extract_sparse_and_dense(p: float) -> None:
    rng = np.random.default_rng(int(p * 100))
    n = 3001
    x, y = random_bits(rng, n, p), random_bits(rng, n, p)
    for block_bits in (None, 100, 8):
        m = 3001 if block_bits != 8 else 500
        np.testing.assert_array_equal(extract_bits(x, y, m, block_bits), reference_dodis(x, y, m))


@st.composite
def dodis_inputs(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, int, int | None]:
    n = draw(st.integers(1, 128))
    x = draw(hnp.arrays(np.uint8, n, elements=st.integers(0, 1)))
    y = draw(hnp.arrays(np.uint8, n, elements=st.integers(0, 1)))
    m = draw(st.integers(1, n))
    block_bits = draw(st.none() | st.integers(3, 140))
    return x, y, m, block_bits


@HYP
@given(dodis_inputs())
def test_extract_matches_reference_hypothesis(
    case: tuple[np.ndarray, np.ndarray, int, int | None],
) -> None:
    x, y, m, block_bits = case
    np.testing.assert_array_equal(extract_bits(x, y, m, block_bits), reference_dodis(x, y, m))


@pytest.mark.parametrize("n", [1, 2, 7, 8, 9, 13, 63, 64, 65, 97, 128, 129, 1000])
def test_dodis_bit_and_verify_output_every_position(n: int) -> None:
    rng = np.random.default_rng(1000 + n)
    xb, yb = random_bits(rng, n), random_bits(rng, n)
    x, y = PackedBits.from_bits(xb), PackedBits.from_bits(yb)
    ref = reference_dodis(xb, yb, n)
    assert [dodis_bit(x, y, j) for j in range(n)] == ref.tolist()
    output = PackedBits.from_bits(ref)
    assert verify_output(x, y, output, range(n)) == tuple(range(n))
    assert verify_output(x, y, output, []) == ()


@pytest.mark.parametrize("n", [9, 97, 1000])
def test_verify_output_detects_one_flipped_bit(n: int) -> None:
    rng = np.random.default_rng(2000 + n)
    xb, yb = random_bits(rng, n), random_bits(rng, n)
    x, y = PackedBits.from_bits(xb), PackedBits.from_bits(yb)
    good = reference_dodis(xb, yb, n)
    for j in sorted({0, 1, n // 2, n - 1}):
        bad = good.copy()
        bad[j] ^= 1
        with pytest.raises(ExtractionError) as info:
            verify_output(x, y, PackedBits.from_bits(bad), range(n))
        assert info.value.position == j
        # positions that avoid the flipped bit still pass
        others = [k for k in range(n) if k != j]
        assert verify_output(x, y, PackedBits.from_bits(bad), others) == tuple(others)


def test_verify_output_rejects_positions_outside_output() -> None:
    rng = np.random.default_rng(5)
    xb, yb = random_bits(rng, 50), random_bits(rng, 50)
    x, y = PackedBits.from_bits(xb), PackedBits.from_bits(yb)
    output = PackedBits.from_bits(reference_dodis(xb, yb, 20))
    for j in (20, 50, -1):
        with pytest.raises(ExtractionError):
            verify_output(x, y, output, [j])


def test_extract_input_errors() -> None:
    rng = np.random.default_rng(6)
    x = PackedBits.from_bits(random_bits(rng, 100))
    y = PackedBits.from_bits(random_bits(rng, 100))
    short = PackedBits.from_bits(random_bits(rng, 99))
    with pytest.raises(ExtractionError):
        dodis_extract(x, short, 10)
    with pytest.raises(ExtractionError):
        dodis_extract(short, x, 10)
    for m in (0, -1, 101):
        with pytest.raises(ExtractionError):
            dodis_extract(x, y, m)
    with pytest.raises(ExtractionError):
        dodis_bit(x, short, 0)
    for j in (-1, 100):
        with pytest.raises(ExtractionError):
            dodis_bit(x, y, j)


def test_verify_output_rejects_unequal_lengths() -> None:
    # The output given is exactly what the word kernel computes for the zero-padded shorter
    # input, so only an input-length check can reject it.
    rng = np.random.default_rng(7)
    xb, yb = random_bits(rng, 100), random_bits(rng, 90)
    padded = np.concatenate([yb, np.zeros(10, dtype=np.uint8)])
    output = PackedBits.from_bits(reference_dodis(xb, padded, 10))
    with pytest.raises(ExtractionError):
        verify_output(PackedBits.from_bits(xb), PackedBits.from_bits(yb), output, range(10))


def test_verify_output_rejects_output_longer_than_inputs() -> None:
    # m > N: output bit j >= N does not exist in the definition; it must not be "verified".
    rng = np.random.default_rng(8)
    xb, yb = random_bits(rng, 50), random_bits(rng, 50)
    output = PackedBits.from_bits(
        np.concatenate([reference_dodis(xb, yb, 50), np.zeros(10, np.uint8)])
    )
    with pytest.raises(ExtractionError):
        verify_output(PackedBits.from_bits(xb), PackedBits.from_bits(yb), output, [55])


def test_large_blockwise_exactness() -> None:
    n, m = 2**22, 2**12
    rng = np.random.default_rng(2**22)
    x = PackedBits(np.frombuffer(rng.bytes(n // 8), dtype=np.uint8).copy(), n)
    y = PackedBits(np.frombuffer(rng.bytes(n // 8), dtype=np.uint8).copy(), n)
    big = dodis_extract(x, y, m)
    plan = plan_dodis(n, m)
    assert (big.block_bits, big.fft_length) == (plan.block_bits, plan.fft_length)
    assert plan.n_blocks > 1  # spectra of several blocks are summed before inverting
    one = dodis_extract(x, y, m, max_fft_length=2**23, block_bits=n)
    assert one.fft_length == 2**23  # one block: the smallest power of two >= n + m - 1
    assert one.output == big.output
    assert big.max_residual <= big.error_bound < MAX_ERROR
    small = dodis_extract(x, y, m, block_bits=2**14)
    assert small.block_bits == 2**14
    assert big.output == small.output
    positions = rng.choice(m, size=200, replace=False)
    bits = big.output.unpack()
    assert [dodis_bit(x, y, int(j)) for j in positions] == bits[positions].tolist()
    assert verify_output(x, y, big.output, positions.tolist()) == tuple(positions.tolist())
    # output is not degenerate
    assert 0.4 < bits.mean() < 0.6


def test_progress_callback_counts_steps() -> None:
    rng = np.random.default_rng(9)
    x = PackedBits.from_bits(random_bits(rng, 100))
    y = PackedBits.from_bits(random_bits(rng, 100))
    calls: list[tuple[int, int]] = []
    dodis_extract(x, y, 30, block_bits=16, progress=lambda d, t: calls.append((d, t)))
    steps = 7 * 2  # ceil(100/16) x-blocks × ceil(30/16) lag chunks
    assert calls[-1] == (steps, steps)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)


# --------------------------------------------------------------------------- fft_error_bound


def test_fft_error_bound_monotone() -> None:
    lengths = [2**k for k in range(1, 26)]
    bounds = [fft_error_bound(length, 1000, 1000) for length in lengths]
    assert all(b2 > b1 for b1, b2 in itertools.pairwise(bounds))
    weights = [1, 2, 10, 100, 10**4, 10**6]
    for w1, w2 in itertools.pairwise(weights):
        assert fft_error_bound(2**22, w2, 10**5) > fft_error_bound(2**22, w1, 10**5)
        assert fft_error_bound(2**22, 10**5, w2) > fft_error_bound(2**22, 10**5, w1)
    assert all(fft_error_bound(2**k, 1, 1) > 0 for k in range(0, 30))


@pytest.mark.parametrize(
    ("n", "m"),
    [(2_684_354_560, 20_860_818), (2**30, 2**29), (2**26, 2**25), (10**6, 1)],
)
def test_fft_error_bound_default_plan_is_below_quarter(n: int, m: int) -> None:
    plan = plan_dodis(n, m)
    assert plan.fft_length >= plan.block_bits + plan.lag_bits - 1
    assert plan.fft_length <= DEFAULT_MAX_FFT_LENGTH
    block, lag = plan.block_bits, plan.lag_bits
    assert fft_error_bound(plan.fft_length, block, block + lag - 1) < MAX_ERROR == 0.25


def test_fft_error_bound_exceeds_empirical_residual() -> None:
    length = 2**16
    rng = np.random.default_rng(65536)
    for p in (0.5, 0.9, 1.0):
        for _ in range(3):
            a = random_bits(rng, length // 2, p)
            b = random_bits(rng, length, p)
            corr = np.fft.irfft(np.conj(np.fft.rfft(a, length)) * np.fft.rfft(b, length), length)
            exact = np.rint(corr)
            # the rounded values are the exact circular correlation (spot-check directly)
            padded = np.concatenate([a, np.zeros(length - a.size, dtype=np.uint8)])
            for k in rng.choice(length, size=50, replace=False):
                assert int(exact[k]) == int(np.count_nonzero(padded & np.roll(b, -int(k))))
            residual = float(np.max(np.abs(corr - exact)))
            bound = fft_error_bound(length, int(a.sum()), int(b.sum()))
            assert residual < bound < MAX_ERROR, (p, residual, bound)


# --------------------------------------------------------------------------- PackedBits


@HYP
@given(
    hnp.arrays(np.uint8, st.integers(0, 300), elements=st.integers(0, 1)),
    st.integers(-20, 320),
    st.none() | st.integers(-20, 320),
)
def test_packed_bits_round_trip(bits: np.ndarray, start: int, stop: int | None) -> None:
    packed = PackedBits.from_bits(bits)
    assert len(packed) == bits.size
    assert packed.data.size == (bits.size + 7) // 8
    np.testing.assert_array_equal(packed.data, np.packbits(bits))
    np.testing.assert_array_equal(packed.unpack(), bits)
    lo = max(0, start)
    hi = bits.size if stop is None else min(stop, bits.size)
    expected = bits[lo : max(lo, hi)]
    got = packed.unpack(start, stop)
    assert got.dtype == np.uint8
    np.testing.assert_array_equal(got, expected)
    assert packed == PackedBits(packed.data.copy(), bits.size)
    assert packed.sha256() == hashlib.sha256(np.packbits(bits).tobytes()).hexdigest()


def test_packed_bits_rejects_nonzero_padding() -> None:
    for nbits in range(1, 8):
        for pad_bit in range(8 - nbits):
            with pytest.raises(ExtractionError):
                PackedBits(np.array([1 << pad_bit], dtype=np.uint8), nbits)
        PackedBits(np.array([0x80], dtype=np.uint8), nbits)  # data bit set: fine
    PackedBits(np.array([0xFF], dtype=np.uint8), 8)
    with pytest.raises(ExtractionError):
        PackedBits(np.array([0xFF, 0x01], dtype=np.uint8), 15)


@pytest.mark.parametrize(("size", "nbits"), [(2, 7), (1, 9), (0, 1), (1, 0), (2, 17), (1, -1)])
def test_packed_bits_rejects_wrong_byte_count(size: int, nbits: int) -> None:
    with pytest.raises(ExtractionError):
        PackedBits(np.zeros(size, dtype=np.uint8), nbits)


@pytest.mark.parametrize(
    "data",
    [
        np.zeros(2, dtype=np.int8),
        np.zeros(2, dtype=np.int64),
        np.zeros(2, dtype=np.uint16),
        np.zeros(2, dtype=bool),
        np.zeros((2, 1), dtype=np.uint8),
    ],
)
def test_packed_bits_rejects_non_uint8(data: np.ndarray) -> None:
    with pytest.raises(ExtractionError):
        PackedBits(data, 16)


def test_from_bits_rejects_non_binary() -> None:
    with pytest.raises(ExtractionError):
        PackedBits.from_bits(np.array([0, 1, 2], dtype=np.uint8))
    assert len(PackedBits.from_bits(np.zeros(0, dtype=np.uint8))) == 0


# ------------------------------------------------------------ frequency-domain accumulation


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize(
    ("n", "m", "max_fft"), [(5000, 700, 1024), (4099, 4099, 64), (777, 13, 16)]
)
def test_many_blocks_accumulated_and_threaded_match_reference(
    n: int, m: int, max_fft: int, threads: int
) -> None:
    rng = np.random.default_rng(n * 31 + m)
    x, y = random_bits(rng, n), random_bits(rng, n)
    result = dodis_extract(
        PackedBits.from_bits(x), PackedBits.from_bits(y), m, max_fft_length=max_fft, threads=threads
    )
    plan = plan_dodis(n, m, max_fft_length=max_fft)
    assert plan.n_blocks > 1  # the sums really span several blocks
    assert plan.fft_length <= max_fft
    assert np.array_equal(result.output.unpack(), reference_dodis(x, y, m))
    assert result.max_residual <= result.error_bound < MAX_ERROR


def test_roundoff_bound_flushes_before_reaching_a_quarter() -> None:
    bound = RoundoffBound(2**26)
    added = 0
    while bound.with_block(2**25, 2**26) < MAX_ERROR:
        bound.add(2**25, 2**26)
        added += 1
    assert added >= 2  # several worst-case blocks fit in one sum at the default length
    assert bound.value < MAX_ERROR
    single = RoundoffBound(2**26)
    single.add(2**25, 2**26)
    assert single.value == pytest.approx(fft_error_bound(2**26, 2**25, 2**26))
    assert bound.value > added * single.value * 0.999  # errors add up across the sum


def test_lag_bits_must_be_byte_multiples() -> None:
    with pytest.raises(ExtractionError, match="multiple of 8"):
        plan_dodis(1000, 500, lag_bits=12)


# ----------------------------------------------------------------------------- FFT backends


@pytest.mark.parametrize("backend", ["numpy", "mkl"])
def test_fft_backends_agree_bit_for_bit(backend: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from diamp.extractors.fft import fft_backend

    pytest.importorskip("mkl_fft") if backend == "mkl" else None
    rng = np.random.default_rng(2024)
    n, m = 3 * 2**18 + 5, 2**15 + 3
    x = PackedBits.from_bits(random_bits(rng, n))
    y = PackedBits.from_bits(random_bits(rng, n))
    reference = dodis_extract(x, y, m, block_bits=2**14)  # small blocks: a different plan
    monkeypatch.setenv("DIAMP_FFT", backend)
    fft_backend.cache_clear()
    try:
        assert fft_backend().name == backend
        result = dodis_extract(x, y, m, threads=2)
    finally:
        fft_backend.cache_clear()
    assert result.output == reference.output
    assert result.max_residual <= result.error_bound < MAX_ERROR


def test_unknown_fft_backend_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from diamp.extractors.fft import fft_backend

    monkeypatch.setenv("DIAMP_FFT", "fftw")
    fft_backend.cache_clear()
    try:
        with pytest.raises(ExtractionError, match="unknown FFT backend"):
            fft_backend()
    finally:
        fft_backend.cache_clear()


@pytest.mark.slow
def test_largest_default_transform_is_exact() -> None:
    """One 2^26-point transform (the length the published run uses) against exact methods.

    Checked against a different plan (2^20-bit blocks and lag chunks: other transforms,
    other sums) and against 300 output bits recomputed from the definition with bit-packed
    AND and parity, which involves no floating point at all.
    """
    rng = np.random.default_rng(2**25)
    n, m = 2**25, 2**22  # n + m - 1 needs a 2^26 transform
    x = PackedBits(np.frombuffer(rng.bytes(n // 8), dtype=np.uint8).copy(), n)
    y = PackedBits(np.frombuffer(rng.bytes(n // 8), dtype=np.uint8).copy(), n)
    big = dodis_extract(x, y, m, block_bits=n, max_fft_length=2**26)
    assert big.fft_length == 2**26 and big.block_bits == n
    assert big.max_residual <= big.error_bound < MAX_ERROR
    other = dodis_extract(x, y, m, block_bits=2**20, lag_bits=2**20)
    assert other.fft_length == 2**21
    assert big.output == other.output
    positions = sorted(int(j) for j in rng.choice(m, size=300, replace=False))
    assert verify_output(x, y, big.output, positions) == tuple(positions)
