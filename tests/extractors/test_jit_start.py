"""numba's target context started without the BLAS and cffi probes (diamp.extractors._jit)."""

from __future__ import annotations

import subprocess
import sys
import threading

import pytest

from diamp.extractors._jit import SKIPPED_PROBES, _RefuseProbes


def _python(script: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=600, check=False
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def test_probes_are_refused_only_in_the_starting_thread() -> None:
    finder = _RefuseProbes()
    for name in SKIPPED_PROBES:
        with pytest.raises(ModuleNotFoundError, match=name):
            finder.find_spec(name)
    assert finder.find_spec("numpy") is None  # every other import is left alone
    seen: list[object] = []
    other = threading.Thread(
        target=lambda: seen.extend(finder.find_spec(n) for n in SKIPPED_PROBES)
    )
    other.start()
    other.join()
    assert seen == [None] * len(SKIPPED_PROBES)


def test_kernels_load_without_the_probes_and_blas_still_works_afterwards() -> None:
    out = _python(
        """
import sys
import numpy as np
import diamp.extractors._bit_kernels
from numba import njit
import numba.np.arraymath as arraymath
from numba.core.typing import cffi_utils
print("probed", "scipy.linalg" in sys.modules, "cffi" in sys.modules)
print("flags", arraymath._HAVE_BLAS, cffi_utils.SUPPORTED)
print("finders", any(type(f).__name__ == "_RefuseProbes" for f in sys.meta_path))
a = np.arange(12.0).reshape(3, 4)
dot = njit(lambda u, v: np.dot(u, v))
cov = njit(lambda u: np.cov(u))
print("dot", bool(np.array_equal(dot(a, a.T), a @ a.T)))
print("cov", bool(np.allclose(cov(a), np.cov(a), rtol=0, atol=1e-12)))
"""
    )
    assert out.splitlines() == [
        "probed False False",
        "flags False False",
        "finders False",
        "dot True",  # BLAS is found when a function needs it, after the start
        "cov True",  # np.cov without BLAS: numba's plain loop, the same values
    ]


def test_a_process_that_imported_scipy_linalg_keeps_it() -> None:
    out = _python(
        """
import scipy.linalg
import diamp.extractors._bit_kernels
import numba.np.arraymath as arraymath
print(arraymath._HAVE_BLAS, scipy.linalg.norm([3.0, 4.0]))
"""
    )
    assert out == "True 5.0"
