"""diamp: device-independent randomness amplification, end to end.

Run DIRA experiments (simulated or on lab hardware), certify the randomness they produce
with the MDL/EAT security proof, extract it with the Dodis two-source extractor, and serve it.
"""

from __future__ import annotations

from typing import Any

from diamp.errors import DiampError

__all__ = ["DiampError", "__version__"]


def __getattr__(name: str) -> Any:
    """``__version__``, read from the installed metadata on first use (PEP 562).

    ``importlib.metadata`` costs tens of milliseconds to import; a command that never shows
    the version does not pay for it.
    """
    if name != "__version__":
        raise AttributeError(f"module 'diamp' has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        found = version("diamp")
    except PackageNotFoundError:  # pragma: no cover - a source tree without install
        found = "0+unknown"
    globals()["__version__"] = found
    return found
