"""Hypothesis properties: bounds of every estimate, and fast kernels against direct ones.

All strategies are bounded and runs are derandomized (fixed seeds).
"""

from __future__ import annotations

import math

import numpy as np
import oracles_sp800_90b as oracle
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from diamp.analysis.sp800_90b import assess_non_iid
from diamp.analysis.sp800_90b._kernels.lag import lag_binary, lag_predict
from diamp.analysis.sp800_90b._kernels.suffix import binary_lcp
from diamp.analysis.sp800_90b.tuples import longest_common_prefixes, suffix_array

SETTINGS = settings(max_examples=80, deadline=None, derandomize=True)


@st.composite
def sample_arrays(
    draw: st.DrawFn, min_size: int = 20, max_size: int = 3000
) -> tuple[NDArray[np.uint8], int]:
    width = draw(st.integers(1, 8))
    n = draw(st.integers(min_size, max_size))
    seed = draw(st.integers(0, 2**32 - 1))
    kind = draw(st.sampled_from(["uniform", "skewed", "sticky", "few"]))
    rng = np.random.default_rng(seed)
    top = 1 << width
    if kind == "uniform":
        x = rng.integers(0, top, n)
    elif kind == "skewed":
        x = np.minimum(rng.geometric(draw(st.floats(0.05, 0.9)), n) - 1, top - 1)
    elif kind == "sticky":
        x = rng.integers(0, top, n)
        keep = rng.random(n) < draw(st.floats(0.0, 0.95))
        for i in range(1, n):
            if keep[i]:
                x[i] = x[i - 1]
    else:
        x = rng.choice(rng.integers(0, top, 3), n)
    x[0], x[-1] = 0, top - 1  # at least two distinct values
    return x.astype(np.uint8), width


@SETTINGS
@given(sample_arrays())
def test_every_estimate_is_a_min_entropy_in_range(data: tuple[NDArray[np.uint8], int]) -> None:
    x, width = data
    r = assess_non_iid(x, width)
    assert 0.0 <= r.min_entropy <= r.h_original <= width
    cap = math.log2(r.k)
    for name, h in r.literal.entropies().items():
        if h is not None:  # LRS has no log2(k) cap in the tool; all others do
            assert h >= 0.0 and (name == "lrs" or h <= cap + 1e-12), (name, h)
    if r.bitstring is not None:
        assert r.h_bitstring is not None and 0.0 <= r.h_bitstring <= 1.0
        assert r.min_entropy <= width * r.h_bitstring + 1e-12
        for name, h in r.bitstring.entropies().items():
            assert h is None or 0.0 <= h <= (math.inf if name == "lrs" else 1.0), (name, h)
    else:
        assert r.k == 2 and r.h_bitstring is None


@SETTINGS
@given(st.integers(0, 2**32 - 1), st.integers(1, 400), st.integers(1, 5))
def test_suffix_array_sorts_the_suffixes(seed: int, n: int, k: int) -> None:
    t = np.random.default_rng(seed).integers(0, k, n)
    if seed % 3 == 0:
        t = np.tile(t[: max(1, n // 7)], 7)  # long repeats
    sa = suffix_array(t, k)
    text = t.tolist()
    assert sa.tolist() == sorted(range(len(text)), key=lambda i: text[i:])
    lcp = longest_common_prefixes(t, sa)
    for r in range(1, len(text)):
        a, b = text[sa[r - 1] :], text[sa[r] :]
        h = next(
            (i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b))
        )
        assert lcp[r] == h


@SETTINGS
@given(st.integers(0, 2**32 - 1), st.integers(1, 600), st.floats(0.0, 1.0))
def test_binary_key_lcps_equal_the_suffix_array_lcps(seed: int, n: int, p1: float) -> None:
    bits = (np.random.default_rng(seed).random(n) < p1).astype(np.uint8)
    lcp, ok = binary_lcp(bits)
    reference = longest_common_prefixes(bits, suffix_array(bits, 2))
    if ok:
        assert (lcp == reference).all()
    else:  # falls back only when some LCP reaches 64
        assert reference.max() >= 64


@SETTINGS
@given(st.integers(0, 2**32 - 1), st.integers(3, 3000), st.floats(0.0, 1.0))
def test_blocked_binary_lag_equals_the_plain_one(seed: int, n: int, stay: float) -> None:
    flips = np.random.default_rng(seed).random(n) >= stay
    bits = (np.cumsum(flips) % 2).astype(np.uint8)
    assert lag_binary(bits) == lag_predict(bits)


def test_blocked_binary_lag_on_long_sequences() -> None:
    rng = np.random.default_rng(8)
    cases = [
        rng.integers(0, 2, 200_000),
        np.cumsum(rng.random(200_000) < 0.2) % 2,
        np.tile(rng.integers(0, 2, 97), 2000),
        (rng.random(200_000) < 0.9),
    ]
    for bits in cases:
        b = np.ascontiguousarray(bits, dtype=np.uint8)
        assert lag_binary(b) == lag_predict(b)


@settings(max_examples=15, deadline=None, derandomize=True)
@given(st.integers(0, 2**32 - 1), st.integers(20, 700), st.sampled_from([2, 3, 7, 64]))
def test_context_predictors_equal_their_definitions(seed: int, n: int, k: int) -> None:
    from diamp.analysis.sp800_90b.predictors import lz78y_estimate, multi_mmc_estimate

    rng = np.random.default_rng(seed)
    s = rng.integers(0, k, n).astype(np.uint8)
    if seed % 2:
        s = np.tile(s[: max(1, n // 5)], 5)[:n]
    mmc = multi_mmc_estimate(s, k)
    lz = lz78y_estimate(s, k)
    assert mmc is not None and lz is not None
    assert (mmc.c, mmc.r - 1) == oracle.multi_mmc(s.tolist())
    assert (lz.c, lz.r - 1) == oracle.lz78y(s.tolist())
