"""Every FFT backend gives the same output bits, equal to the definition's.

numpy is in every install and scipy, ducc0 and pyFFTW in the ``test`` extra, so those
four are never skipped; MKL (the core install on x86_64 only) is tested wherever it imports.
Each backend runs the correlation engine against the exact (NTT) engine and the direct
definition, the real-time Toeplitz batch path (2-D transforms along the last axis), and the
raw transforms, in place as the engine calls them, against numpy's.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator

import numpy as np
import pytest

from diamp.errors import ExtractionError
from diamp.extractors.bits import PackedBits
from diamp.extractors.correlate import MAX_ERROR, correlate_parity
from diamp.extractors.direct import correlation_bits_direct
from diamp.extractors.fft import AUTO_ORDER, BACKENDS, fft_backend, installed_backends
from diamp.extractors.ntt import correlate_parity_exact
from diamp.extractors.realtime import FixedSeedToeplitz

ALWAYS = ("numpy", "scipy", "ducc0", "pyfftw")
OPTIONAL = {"mkl": "mkl_fft"}


def _params() -> list[object]:
    return [pytest.param(name, id=name) for name in BACKENDS]


@pytest.fixture
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    name = str(request.param)
    if name in OPTIONAL:
        pytest.importorskip(OPTIONAL[name])
    monkeypatch.setenv("DIAMP_FFT", name)
    fft_backend.cache_clear()
    try:
        assert fft_backend().name == name
        yield name
    finally:
        fft_backend.cache_clear()


def block_import(monkeypatch: pytest.MonkeyPatch, package: str) -> None:
    """Make ``import package`` (and its submodules) fail: None in sys.modules."""
    for name in [k for k in sys.modules if k == package or k.startswith(package + ".")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, package, None)


def random_packed(rng: np.random.Generator, n: int) -> PackedBits:
    return PackedBits.from_bits(rng.integers(0, 2, n, dtype=np.uint8))


@pytest.mark.parametrize("backend", _params(), indirect=True)
@pytest.mark.parametrize(("n", "m", "block"), [(1, 1, None), (1000, 37, 64), (70_001, 4_099, 8192)])
def test_engine_equals_the_definition(backend: str, n: int, m: int, block: int | None) -> None:
    rng = np.random.default_rng(n + m)
    x, y = random_packed(rng, n), random_packed(rng, n + m - 1)
    result = correlate_parity(x, y, m, block_bits=block, threads=2)
    assert result.max_residual <= result.error_bound < MAX_ERROR
    assert np.array_equal(result.output.unpack(), correlation_bits_direct(x, y, range(m)))


@pytest.mark.parametrize("backend", _params(), indirect=True)
@pytest.mark.parametrize("pattern", ["ones", "random"])
def test_engine_equals_the_exact_engine_at_large_sums(backend: str, pattern: str) -> None:
    """Three blocks summed before one inverse transform of length 2^16: large round-off."""
    rng = np.random.default_rng(7)
    block, lag = 2**15 + 1, 2**15
    n = 3 * block
    if pattern == "ones":
        x = y = PackedBits.from_bits(np.ones(n + lag, dtype=np.uint8))
    else:
        x, y = random_packed(rng, n + lag), random_packed(rng, n + lag)
    result = correlate_parity(x, y, lag, block_bits=block, lag_bits=lag, max_fft_length=2**16)
    assert result.fft_length == 2**16
    assert result.max_residual <= result.error_bound < MAX_ERROR
    assert result.output == correlate_parity_exact(x, y, lag).output


@pytest.mark.parametrize("backend", _params(), indirect=True)
def test_realtime_toeplitz_batches_agree(backend: str) -> None:
    rng = np.random.default_rng(11)
    n, m, blocks = 3000, 1000, 5
    seed = random_packed(rng, n + m - 1)
    raw = np.frombuffer(rng.bytes(blocks * ((n + 7) // 8)), np.uint8).reshape(blocks, -1).copy()
    raw[:, -1] &= (0xFF << (8 - n % 8)) & 0xFF
    toeplitz = FixedSeedToeplitz(seed, n, m, batch_points=2 * 4096)
    assert toeplitz.fft.name == backend
    got = toeplitz.extract(raw, check_bits=0, rng=1)
    seed_bits = seed.unpack()
    for row in range(blocks):
        r = np.unpackbits(raw[row], count=n)
        # out_i = Σ_j s_{i−j+n−1}·r_j mod 2, straight from the definition
        want = [int(np.dot(seed_bits[i + n - 1 - np.arange(n)], r) & 1) for i in range(m)]
        assert np.array_equal(np.unpackbits(got.output[row], count=m), want), row


@pytest.mark.parametrize("backend", _params(), indirect=True)
def test_transforms_in_place_and_along_rows(backend: str) -> None:
    fft = fft_backend()
    rng = np.random.default_rng(3)
    for length in (16, 2**10, 3 * 2**9):
        spectrum = np.zeros(length // 2 + 1, np.complex128)
        real = spectrum.view(np.float64)[:length]  # the engine's in-place layout
        real[:] = rng.integers(0, 2, length)
        want = np.fft.rfft(real.copy())
        fft.rfft(real, length, out=spectrum)
        assert np.allclose(spectrum, want, rtol=0, atol=1e-9 * length)
        back = np.empty(length)
        fft.irfft(spectrum, length, out=back)
        assert np.allclose(back, np.fft.irfft(want, length), rtol=0, atol=1e-12 * length)
    rows = rng.integers(0, 2, (3, 64)).astype(np.float64)
    spectra = np.empty((3, 33), np.complex128)
    fft.rfft(rows, 64, axis=-1, out=spectra)
    again = np.empty_like(rows)
    fft.irfft(spectra, 64, axis=-1, out=again)
    assert np.array_equal(np.rint(again), rows)


def test_every_installed_backend_writes_the_same_bits() -> None:
    rng = np.random.default_rng(5)
    n, m = 200_003, 30_011
    x, y = random_packed(rng, n), random_packed(rng, n)
    outputs = {}
    for name in installed_backends():
        outputs[name] = correlate_parity_with(name, x, y, m)
    assert set(ALWAYS) <= set(outputs)
    first = next(iter(outputs.values()))
    assert all(out == first for out in outputs.values()), list(outputs)
    assert first == correlate_parity_exact(x, y, m).output


def correlate_parity_with(name: str, x: PackedBits, y: PackedBits, m: int) -> PackedBits:
    fft_backend.cache_clear()
    mp = pytest.MonkeyPatch()
    try:
        mp.setenv("DIAMP_FFT", name)
        assert fft_backend().name == name
        return correlate_parity(x, y, m, block_bits=2**15, threads=2).output
    finally:
        mp.undo()
        fft_backend.cache_clear()


def test_auto_takes_the_first_installed_in_the_measured_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("DIAMP_FFT", raising=False)
    fft_backend.cache_clear()
    try:
        assert fft_backend().name == installed_backends()[0]
        block_import(monkeypatch, "mkl_fft")
        fft_backend.cache_clear()
        assert fft_backend().name == "numpy"
        assert installed_backends() == tuple(n for n in AUTO_ORDER if n != "mkl")
    finally:
        fft_backend.cache_clear()


def test_a_named_backend_that_is_missing_names_its_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    block_import(monkeypatch, "mkl_fft")
    block_import(monkeypatch, "ducc0")
    fft_backend.cache_clear()
    try:
        with pytest.raises(ExtractionError, match=r"mkl_fft is not installed.*diamp\[mkl\]"):
            fft_backend("mkl")
        with pytest.raises(ExtractionError, match="'ducc0' requested but ducc0 is not"):
            fft_backend("ducc0")
        monkeypatch.setenv("DIAMP_FFT", "FFTW3")
        with pytest.raises(ExtractionError, match="unknown FFT backend 'fftw3'"):
            fft_backend()
    finally:
        fft_backend.cache_clear()
