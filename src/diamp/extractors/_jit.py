"""numba's CPU target, started once without the optional imports the kernels never use.

The first cached kernel a process loads makes numba build its CPU target context: it imports
all of its implementation registries, and two of them probe optional packages at import
time. ``numba.np.arraymath`` imports ``scipy.linalg`` to see whether ``np.cov`` may call BLAS
(about 0.4–0.8 s: SciPy's linear-algebra package and its array-API layer), and
``numba.core.typing.cffi_utils`` imports ``cffi`` and its C parser (about 0.15 s). The
kernels of :mod:`diamp.extractors` use neither BLAS nor cffi functions, so
:func:`start_numba` builds the context with those two imports refused, in this thread only
and only while the context is built. numba then records "no BLAS" (``np.cov`` in some
jitted function would use its plain loop: the same numbers, more slowly) and "no cffi"
(cffi functions could not be called from jitted code); nothing else changes, and no kernel
output can change since no kernel calls either. A process that has already imported
``scipy.linalg`` or ``cffi`` keeps them: a module in ``sys.modules`` is never looked up again.
SciPy is not in the core install (only in the ``test`` extra); without it numba's probe fails
the same way in every thread and records the same "no BLAS" (``tests/test_without_scipy.py``
runs the FFT engine's kernels with scipy hidden).
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType

__all__ = ["SKIPPED_PROBES", "start_numba"]

SKIPPED_PROBES = ("scipy.linalg", "cffi")
"""Packages numba probes while building its CPU target that the kernels do not use."""

_lock = threading.Lock()
_started = False


class _RefuseProbes:
    """A meta-path finder refusing ``SKIPPED_PROBES`` to one thread (the one starting numba)."""

    def __init__(self) -> None:
        self.thread = threading.get_ident()

    def find_spec(
        self, name: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        """Refuse a probed package in the starting thread; leave every other import alone."""
        if name in SKIPPED_PROBES and threading.get_ident() == self.thread:
            raise ModuleNotFoundError(f"{name} is not probed by diamp's kernels", name=name)
        return None


def start_numba() -> None:
    """Build numba's CPU target context now (once per process), skipping the two probes.

    Call before the first ``@njit(..., cache=True)`` with explicit signatures: such a
    decorator loads its kernel from the cache at once, and that load would otherwise build
    the context with the probes.
    """
    global _started
    with _lock:
        if _started:
            return
        from numba.core.compiler_lock import global_compiler_lock
        from numba.core.registry import cpu_target

        finder = _RefuseProbes()
        with global_compiler_lock:
            sys.meta_path.insert(0, finder)
            try:
                cpu_target.target_context.refresh()
            finally:
                sys.meta_path.remove(finder)
        _started = True
