"""diamp: device-independent randomness amplification, end to end.

Run DIRA experiments (simulated or on lab hardware), certify the randomness they produce
with the MDL/EAT security proof, extract it with the Dodis two-source extractor, and serve it.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from diamp.errors import DiampError

try:
    __version__ = version("diamp")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0+unknown"

__all__ = ["DiampError", "__version__"]
