"""FFT backends for the exact correlation engine: numpy's pocketfft or Intel MKL.

Both compute real-input transforms into caller-provided arrays (no allocation per call).
``auto`` picks MKL (package ``mkl_fft``, installed on x86_64) when it imports, else numpy;
the environment variable ``DIAMP_FFT`` (``numpy`` or ``mkl``) overrides the choice.

Exactness does not depend on the backend being trusted: the engine checks every inverse
transform against its a-priori round-off bound, and the tests compare the backends bit for
bit. MKL threads internally (``MKL_NUM_THREADS``); numpy's transform is single-threaded but
releases the GIL, so the engine runs one numpy worker thread per core instead.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import numpy as np

from diamp.errors import ExtractionError

__all__ = ["FftBackend", "fft_backend"]

Transform = Callable[..., np.ndarray]


@dataclass(frozen=True)
class FftBackend:
    """Named transforms ``fft``, ``rfft`` and ``irfft``, each called as ``f(a, n, out=…)``.

    The complex ``fft`` runs in place when ``out`` is ``a``.
    """

    name: str
    fft: Transform
    rfft: Transform
    irfft: Transform
    threaded: bool  # parallel inside one transform


def _numpy() -> FftBackend:
    return FftBackend("numpy", np.fft.fft, np.fft.rfft, np.fft.irfft, threaded=False)


def _mkl() -> FftBackend:
    from mkl_fft.interfaces import numpy_fft

    return FftBackend("mkl", numpy_fft.fft, numpy_fft.rfft, numpy_fft.irfft, threaded=True)


@cache
def fft_backend(name: str | None = None) -> FftBackend:
    """The backend called ``name`` (``auto``, ``numpy``, ``mkl``; default ``$DIAMP_FFT``)."""
    choice = (name or os.environ.get("DIAMP_FFT") or "auto").lower()
    if choice == "numpy":
        return _numpy()
    if choice in ("mkl", "auto"):
        try:
            return _mkl()
        except ImportError as err:
            if choice == "mkl":
                raise ExtractionError(
                    "FFT backend 'mkl' requested but mkl_fft is not installed"
                ) from err
            return _numpy()
    raise ExtractionError(f"unknown FFT backend {choice!r} (expected auto, numpy or mkl)")
