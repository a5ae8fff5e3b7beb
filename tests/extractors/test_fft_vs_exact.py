"""The FFT engine against the exact (NTT) engine at every transform length it can use.

The FFT planner (:func:`diamp.extractors.correlate.plan_correlation`) only uses power-of-two
lengths, from 16 up to ``DEFAULT_MAX_FFT_LENGTH`` (2^26). At each of them, one block of
L/2 + 1 bits and a lag chunk of L/2 (forced with ``block_bits``/``lag_bits``, so the
length is exactly L) is extracted from adversarial inputs by the FFT engine and by the
exact engine (with its own plan): all ones (the largest sums, so the largest round-off and
the largest a-priori bound), alternating 1010… and uniformly random. The all-ones and
alternating answers are also checked against their closed forms.

Below 2^20 the inputs are three blocks, so that several spectra are summed before one
inverse transform (where round-off errors add up), and numpy's FFT backend runs up to 2^18
as well as the default one. To keep CI time modest, lengths from 2^22 are marked slow (CI
runs them) and 2^25 and 2^26 run the all-ones input only: it maximises every term of the
round-off bound, and one such extraction costs ~15 CPU seconds at 2^26.
"""

from __future__ import annotations

import numpy as np
import pytest

from diamp.extractors.bits import PackedBits
from diamp.extractors.correlate import DEFAULT_MAX_FFT_LENGTH, MAX_ERROR, correlate_parity
from diamp.extractors.fft import fft_backend
from diamp.extractors.ntt import correlate_parity_exact

PATTERNS = ("ones", "alternating", "random")
LENGTHS = [2**k for k in range(4, DEFAULT_MAX_FFT_LENGTH.bit_length())]
SLOW_FROM = 2**22
MULTI_BLOCK_BELOW = 2**20
ONES_ONLY_FROM = 2**25


def packed(pattern: str, n: int, seed: int) -> PackedBits:
    if pattern == "ones":
        return PackedBits.from_bits(np.ones(n, dtype=np.uint8))
    if pattern == "alternating":  # 1 0 1 0 …: bit t is 1 for even t
        data = np.full((n + 7) // 8, 0b10101010, dtype=np.uint8)
    else:
        data = np.frombuffer(np.random.default_rng(seed).bytes((n + 7) // 8), np.uint8).copy()
    if n % 8:
        data[-1] &= (0xFF << (8 - n % 8)) & 0xFF
    return PackedBits(data, n)


def closed_form(pattern: str, n: int, m: int) -> np.ndarray | None:
    """c_j mod 2 for x = y = the pattern: ones gives n − j; 1010… gives ⌈(n − j)/2⌉ or 0."""
    j = np.arange(m)
    if pattern == "ones":
        return ((n - j) & 1).astype(np.uint8)
    if pattern == "alternating":
        return np.where(j % 2 == 0, ((n - j + 1) // 2) & 1, 0).astype(np.uint8)
    return None


def _case(length: int) -> list[object]:
    marks = [pytest.mark.slow] if length >= SLOW_FROM else []
    patterns = ("ones",) if length >= ONES_ONLY_FROM else PATTERNS
    return [pytest.param(length, p, marks=marks, id=f"{length}-{p}") for p in patterns]


@pytest.mark.parametrize(("length", "pattern"), [c for L in LENGTHS for c in _case(L)])
def test_fft_engine_equals_exact_engine(length: int, pattern: str) -> None:
    block, lag = length // 2 + 1, length // 2
    n = 3 * block if length < MULTI_BLOCK_BELOW else block
    x, y = packed(pattern, n, length), packed(pattern, n, length + 1)
    fft = correlate_parity(x, y, lag, block_bits=block, lag_bits=lag, max_fft_length=length)
    assert fft.fft_length == length and fft.block_bits == block
    assert fft.max_residual <= fft.error_bound < MAX_ERROR
    exact = correlate_parity_exact(x, y, lag)
    assert fft.output == exact.output
    want = closed_form(pattern, n, lag)
    if want is not None:
        assert np.array_equal(exact.output.unpack(), want)


def test_numpy_backend_equals_the_exact_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    """The test above uses the default backend (MKL where installed); numpy's too."""
    monkeypatch.setenv("DIAMP_FFT", "numpy")
    fft_backend.cache_clear()
    try:
        assert fft_backend().name == "numpy"
        for length in [2**k for k in range(4, 19)]:
            block, lag = length // 2 + 1, length // 2
            for pattern in PATTERNS:
                x, y = packed(pattern, 3 * block, length), packed(pattern, 3 * block, 7)
                fft = correlate_parity(x, y, lag, block_bits=block, lag_bits=lag)
                assert fft.fft_length == length
                assert fft.output == correlate_parity_exact(x, y, lag).output, (length, pattern)
    finally:
        fft_backend.cache_clear()
