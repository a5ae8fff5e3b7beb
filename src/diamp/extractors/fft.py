"""FFT backends for the correlation engine: numpy, scipy, ducc0, pyFFTW or Intel MKL.

Every backend computes real-input transforms into caller-provided arrays, called as
``f(a, n, axis=-1, out=…)``; the input may share memory with ``out`` (the engine's in-place
real transforms), and a backend whose library refuses overlapping arrays copies its input
first.

``auto`` takes the first installed backend in :data:`AUTO_ORDER`, the order measured by
``benchmarks/bench_fft_backends.py`` at the transform lengths the engine plans (2^20 … 2^26):
MKL (package ``mkl_fft``, the ``mkl`` extra), else numpy's pocketfft, which
neither ducc0, pyFFTW nor scipy beat measurably in extraction (they stay selectable). The
environment variable ``DIAMP_FFT`` (one of :data:`BACKENDS`) overrides the choice; a named
backend that is not installed is an error, never a silent fallback.

Exactness does not depend on the backend being trusted: the engine checks every inverse
transform against its a-priori round-off bound, callers recompute sampled output bits from
the definition, and the tests compare every installed backend with the definition and with
each other bit for bit. MKL parallelises each transform itself (``MKL_NUM_THREADS``); the
others run one transform per thread, releasing the GIL, so the engine runs one worker
thread per core with them.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np

from diamp.errors import ExtractionError

__all__ = ["AUTO_ORDER", "BACKENDS", "FftBackend", "fft_backend", "installed_backends"]

Transform = Callable[..., np.ndarray]

BACKENDS = ("numpy", "scipy", "ducc0", "pyfftw", "mkl")
AUTO_ORDER = ("mkl", "numpy", "ducc0", "scipy", "pyfftw")


@dataclass(frozen=True)
class FftBackend:
    """Named transforms ``rfft`` and ``irfft``, each called as ``f(a, n, axis=-1, out=…)``."""

    name: str
    rfft: Transform
    irfft: Transform
    threaded: bool  # parallel inside one transform


def _numpy() -> FftBackend:
    return FftBackend("numpy", np.fft.rfft, np.fft.irfft, threaded=False)


def _copied(
    rfft: Callable[[np.ndarray, int, int], np.ndarray],
    irfft: Callable[[np.ndarray, int, int], np.ndarray],
) -> tuple[Transform, Transform]:
    """Transforms with ``out=`` for a library that returns new arrays."""

    def forward(a: np.ndarray, n: int, axis: int = -1, out: np.ndarray | None = None) -> Any:
        result = rfft(a, n, axis)
        if out is None:
            return result
        out[...] = result
        return out

    def inverse(a: np.ndarray, n: int, axis: int = -1, out: np.ndarray | None = None) -> Any:
        result = irfft(a, n, axis)
        if out is None:
            return result
        out[...] = result
        return out

    return forward, inverse


def _scipy() -> FftBackend:
    import scipy.fft

    forward, inverse = _copied(
        lambda a, n, axis: scipy.fft.rfft(a, n, axis=axis),
        lambda a, n, axis: scipy.fft.irfft(a, n, axis=axis),
    )
    return FftBackend("scipy", forward, inverse, threaded=False)


def _pyfftw() -> FftBackend:
    import pyfftw
    import pyfftw.interfaces.numpy_fft as fftw

    pyfftw.interfaces.cache.enable()  # plans once per shape, then reuses them
    forward, inverse = _copied(
        lambda a, n, axis: fftw.rfft(a, n, axis=axis, threads=1, planner_effort="FFTW_ESTIMATE"),
        lambda a, n, axis: fftw.irfft(a, n, axis=axis, threads=1, planner_effort="FFTW_ESTIMATE"),
    )
    return FftBackend("pyfftw", forward, inverse, threaded=False)


def _fit(a: np.ndarray, n: int, axis: int) -> np.ndarray:
    """``a`` cut or zero-padded to ``n`` along ``axis`` (numpy's ``n`` semantics)."""
    size = a.shape[axis]
    if size == n:
        return a
    if size > n:
        return np.take(a, np.arange(n), axis=axis)
    pad = [(0, 0)] * a.ndim
    pad[axis] = (0, n - size)
    return np.pad(a, pad)


def _ducc0() -> FftBackend:
    import ducc0.fft

    def rfft(a: np.ndarray, n: int, axis: int = -1, out: np.ndarray | None = None) -> Any:
        a = _fit(a, n, axis)
        if out is not None and np.shares_memory(a, out):
            a = a.copy()  # ducc0 refuses overlapping input and output
        return ducc0.fft.r2c(a, axes=[axis], forward=True, inorm=0, out=out, nthreads=1)

    def irfft(a: np.ndarray, n: int, axis: int = -1, out: np.ndarray | None = None) -> Any:
        a = _fit(a, n // 2 + 1, axis)
        if out is not None and np.shares_memory(a, out):
            a = a.copy()
        return ducc0.fft.c2r(
            a, axes=[axis], lastsize=n, forward=False, inorm=2, out=out, nthreads=1
        )

    return FftBackend("ducc0", rfft, irfft, threaded=False)


def _mkl() -> FftBackend:
    from mkl_fft.interfaces import numpy_fft

    return FftBackend("mkl", numpy_fft.rfft, numpy_fft.irfft, threaded=True)


_LOADERS: dict[str, Callable[[], FftBackend]] = {
    "numpy": _numpy,
    "scipy": _scipy,
    "ducc0": _ducc0,
    "pyfftw": _pyfftw,
    "mkl": _mkl,
}
_PACKAGES = {"scipy": "scipy", "ducc0": "ducc0", "pyfftw": "pyfftw", "mkl": "mkl_fft"}


def _load(name: str) -> FftBackend | None:
    try:
        return _LOADERS[name]()
    except ImportError:
        return None


def installed_backends() -> tuple[str, ...]:
    """Names of the backends whose library imports here, in :data:`AUTO_ORDER`."""
    return tuple(name for name in AUTO_ORDER if _load(name) is not None)


@cache
def fft_backend(name: str | None = None) -> FftBackend:
    """The backend called ``name`` (``auto`` or one of :data:`BACKENDS`; default ``$DIAMP_FFT``).

    Raises
    ------
    ExtractionError
        For an unknown name, or a named backend whose library is not installed.
    """
    choice = (name or os.environ.get("DIAMP_FFT") or "auto").lower()
    if choice == "auto":
        for candidate in AUTO_ORDER:
            backend = _load(candidate)
            if backend is not None:
                return backend
        return _numpy()
    if choice not in _LOADERS:
        raise ExtractionError(
            f"unknown FFT backend {choice!r} (DIAMP_FFT: expected auto, {', '.join(BACKENDS)})"
        )
    backend = _load(choice)
    if backend is None:
        hint = " (the 'mkl' extra: pip install 'diamp[mkl]')" if choice == "mkl" else ""
        raise ExtractionError(
            f"FFT backend {choice!r} requested but {_PACKAGES[choice]} is not installed{hint}"
        )
    return backend
