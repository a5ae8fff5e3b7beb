"""The exact (NTT) correlation engine against the definition and exact integer arithmetic.

Oracles: the DESIGN definitions evaluated directly on unpacked arrays (one AND-popcount per
output bit), numpy's integer convolution for the transform itself, and Python's big
integers for the field facts. No floating point is involved in any of them.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from diamp.errors import ExtractionError
from diamp.extractors import _ntt_kernels as kernels
from diamp.extractors import ntt
from diamp.extractors.bits import PackedBits
from diamp.extractors.checked import extract_checked
from diamp.extractors.correlate import correlate_parity
from diamp.extractors.ntt import (
    MAX_NTT_LENGTH,
    PRIME,
    correlate_parity_exact,
    exact_partial,
    plan_exact,
)

HYP = settings(derandomize=True, deadline=None, max_examples=60)


def reference_dodis(x: np.ndarray, y: np.ndarray, m: int) -> np.ndarray:
    n = x.size
    return np.array([np.count_nonzero(x[: n - j] & y[j:n]) & 1 for j in range(m)], dtype=np.uint8)


def reference_toeplitz(raw: np.ndarray, seed: np.ndarray, m: int) -> np.ndarray:
    n = raw.size
    out = np.empty(m, dtype=np.uint8)
    for i in range(m):
        column = seed[i : i + n][::-1]  # s_{i-j+n-1} for j = 0 … n-1
        out[i] = np.count_nonzero(column & raw) & 1
    return out


def bits(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.integers(0, 2, n, dtype=np.uint8)


def exact(x: np.ndarray, y: np.ndarray, m: int, **options: int) -> np.ndarray:
    result = correlate_parity_exact(PackedBits.from_bits(x), PackedBits.from_bits(y), m, **options)
    assert result.exactness == "exact"
    assert result.error_bound == 0.0 and result.max_residual == 0.0
    assert len(result.output) == m
    return result.output.unpack()


# ------------------------------------------------------------------------------ the field


def _is_prime(p: int) -> bool:
    """Deterministic Miller-Rabin for p < 3.3·10^24 (the first 13 prime bases)."""
    d, s = p - 1, 0
    while d % 2 == 0:
        d, s = d // 2, s + 1
    for a in (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41):
        x = pow(a, d, p)
        if x in (1, p - 1):
            continue
        for _ in range(s - 1):
            x = x * x % p
            if x == p - 1:
                break
        else:
            return False
    return True


def test_the_prime_holds_every_correlation_sum_and_every_transform_length() -> None:
    assert PRIME == 3 * 2**30 + 1 and _is_prime(PRIME)
    assert 2**31 < PRIME < 2**32  # a whole sum of 2^31 products fits; elements fit in uint32
    assert (PRIME - 1) % MAX_NTT_LENGTH == 0 and MAX_NTT_LENGTH == 2**30
    g = kernels.GENERATOR  # a primitive root: its order is P - 1 = 3·2^30
    assert pow(g, (PRIME - 1) // 2, PRIME) != 1 and pow(g, (PRIME - 1) // 3, PRIME) != 1
    assert kernels.P_INV * PRIME % 2**32 == 1
    assert (PRIME - 1) ** 2 < 2**64  # every product of two elements fits in uint64


@pytest.mark.parametrize("length", [16, 64, 2**10, 2**15, 2**16, 2**17, 2**18])
def test_transform_convolves_exactly(length: int) -> None:
    """Forward, pointwise product, inverse: the cyclic convolution times L, mod P.

    Lengths past the in-cache section size (2^14) take one, two (a fused pair) and three
    stages over the whole array. b is sparse so that the oracle stays cheap.
    """
    rng = np.random.default_rng(length)
    a = rng.integers(0, 2**20, length // 2).astype(np.int64)
    b = np.zeros(length // 2, dtype=np.int64)
    taps = rng.choice(b.size, size=min(b.size, 24), replace=False)
    b[taps] = rng.integers(1, 2**10, taps.size)
    want = np.zeros(a.size + b.size - 1, dtype=np.int64)  # linear = cyclic: shorter than L
    for k in taps:
        want[k : k + a.size] += a * b[k]  # < 24 · 2^30: exact in int64
    want %= PRIME
    table = ntt._twiddles(length, 2)
    fa, fb = np.zeros(length, np.uint32), np.zeros(length, np.uint32)
    fa[: a.size], fb[: b.size] = a, b
    with ntt._Pool(2) as pool:
        ntt._forward(fa, table, pool)
        ntt._forward(fb, table, pool)
        acc = np.zeros(length, np.uint32)
        kernels.multiply_accumulate(fa, fb, acc, 0, length)  # · 2^-32
        ntt._inverse(acc, table, pool)  # · L
    r = 2**32 % PRIME
    scale = r * pow(length, -1, PRIME) % PRIME
    got = acc[: want.size].astype(object) * scale % PRIME
    assert got.tolist() == want.tolist()
    assert not acc[want.size :].any()


def test_a_value_above_its_a_priori_maximum_is_reported() -> None:
    values = np.array([0, 1, 2, 3, 7, 4], dtype=np.uint32)
    out = np.zeros(1, dtype=np.uint8)
    one = np.uint64(2**32 % PRIME)  # the Montgomery form of 1: values pass unchanged
    assert kernels.scaled_parities(values, 0, 4, one, np.uint64(3), out) == 3
    assert out[0] == 0b01010000
    assert kernels.scaled_parities(values, 0, 6, one, np.uint64(4), out) == -1 - 4


# --------------------------------------------------------------- against the definition

SIZES = [
    # (N, m values, block sizes)
    (1, [1], [None, 1]),
    (2, [1, 2], [None, 1, 2]),
    (3, [1, 2, 3], [None, 1, 2, 3]),
    (5, [1, 4, 5], [None, 2, 3]),
    (7, [1, 6, 7], [None, 1, 3, 8]),
    (8, [1, 7, 8], [None, 3, 8]),
    (13, [1, 5, 12, 13], [None, 1, 3, 8, 64]),
    (97, [1, 40, 96, 97], [None, 3, 8, 64]),
    (1000, [1, 999, 1000], [None, 8, 64, 333]),
    (4099, [1, 2048, 4098, 4099], [None, 64, 1000]),
    (40_009, [1, 20_004, 40_009], [None, 9_973]),
]
CASES = [(n, m, b) for n, ms, bs in SIZES for m in ms for b in bs]


@pytest.mark.parametrize(("n", "m", "block"), CASES)
def test_dodis_matches_the_definition(n: int, m: int, block: int | None) -> None:
    rng = np.random.default_rng(n * 7919 + m)
    x, y = bits(rng, n), bits(rng, n)
    assert np.array_equal(exact(x, y, m, block_bits=block), reference_dodis(x, y, m))


@pytest.mark.parametrize(("n", "m", "lag"), [(97, 97, 8), (1000, 999, 64), (4099, 4099, 1024)])
def test_lag_chunks_match_the_definition(n: int, m: int, lag: int) -> None:
    rng = np.random.default_rng(n + lag)
    x, y = bits(rng, n), bits(rng, n)
    plan = plan_exact(n, m, block_bits=lag, lag_bits=lag)
    assert plan.n_chunks > 1 and plan.n_blocks > 1
    got = exact(x, y, m, block_bits=lag, lag_bits=lag)
    assert np.array_equal(got, reference_dodis(x, y, m))


@pytest.mark.parametrize(("n", "m"), [(1, 1), (2, 3), (7, 1), (31, 31), (257, 100), (1000, 777)])
def test_toeplitz_matches_the_definition(n: int, m: int) -> None:
    rng = np.random.default_rng(n * 31 + m)
    raw, seed = bits(rng, n), bits(rng, n + m - 1)
    done = extract_checked(
        "toeplitz",
        PackedBits.from_bits(raw),
        PackedBits.from_bits(seed),
        m,
        check_bits=min(m, 16),
        rng=1,
        engine="exact",
    )
    assert done.result.exactness == "exact"
    assert np.array_equal(done.output.unpack(), reference_toeplitz(raw, seed, m))


@HYP
@given(
    n=st.integers(1, 300),
    data=st.data(),
)
def test_any_input_and_cut_matches_the_definition(n: int, data: st.DataObject) -> None:
    m = data.draw(st.integers(1, n))
    block = data.draw(st.one_of(st.none(), st.integers(1, n + 3)))
    density = data.draw(st.sampled_from([0.0, 0.1, 0.5, 0.9, 1.0]))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32)))
    x = (rng.random(n) < density).astype(np.uint8)
    y = (rng.random(n) < density).astype(np.uint8)
    assert np.array_equal(exact(x, y, m, block_bits=block), reference_dodis(x, y, m))


def test_several_sums_are_xored(monkeypatch: pytest.MonkeyPatch) -> None:
    """With a small sum limit every few blocks are inverted on their own; same bits."""
    rng = np.random.default_rng(11)
    n, m = 3000, 700
    x, y = bits(rng, n), bits(rng, n)
    monkeypatch.setattr(ntt, "SUM_LIMIT", 100)
    plan = plan_exact(n, m, block_bits=64, lag_bits=m)
    assert plan.n_chunks == 1
    part = exact_partial(
        PackedBits.from_bits(x), PackedBits.from_bits(y), plan, 0, range(plan.n_blocks)
    )
    assert part.flushes > 10
    assert np.array_equal(np.unpackbits(part.bits)[:m], reference_dodis(x, y, m))


def test_threads_do_not_change_the_bits() -> None:
    rng = np.random.default_rng(5)
    n = 2**17 + 3  # transforms longer than a cache section and than one thread's share
    xp, yp = PackedBits.from_bits(bits(rng, n)), PackedBits.from_bits(bits(rng, n))
    one = correlate_parity_exact(xp, yp, n // 2, threads=1)
    two = correlate_parity_exact(xp, yp, n // 2, threads=2)
    three = correlate_parity_exact(xp, yp, n // 2, threads=3)  # uneven shares of sections
    assert one.fft_length > ntt.SECTION
    assert one.output == two.output == three.output == correlate_parity(xp, yp, n // 2).output


# ----------------------------------------------------------------------------- the plan


def test_plan_fits_every_lag_without_wrap_around() -> None:
    for n, m in [(1, 1), (10, 3), (2**20, 2**19), (2**24, 2**23), (2_684_354_560, 20_919_549)]:
        plan = plan_exact(n, m)
        assert plan.block_bits + plan.lag_bits - 1 <= plan.fft_length
        assert plan.lag_bits == m or plan.lag_bits % 8 == 0
        assert plan.fft_length <= ntt.DEFAULT_MAX_NTT_LENGTH


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n": 0, "m": 1}, "n >= 1"),
        ({"n": 10, "m": 0}, "m >= 1"),
        ({"n": 100, "m": 50, "lag_bits": 12}, "multiple of 8"),
        ({"n": 100, "m": 50, "max_length": 8}, "max_length"),
        ({"n": 2**20, "m": 2**19, "block_bits": 2**20, "max_length": 2**16}, "choose smaller"),
    ],
)
def test_bad_plans_are_refused(kwargs: dict[str, int], message: str) -> None:
    with pytest.raises(ExtractionError, match=message):
        plan_exact(**kwargs)


def test_unknown_engine_is_refused() -> None:
    x = PackedBits.from_bits(np.ones(8, dtype=np.uint8))
    with pytest.raises(ExtractionError, match="unknown extraction engine 'fast'"):
        extract_checked("dodis", x, x, 4, check_bits=0, engine="fast")  # type: ignore[arg-type]
