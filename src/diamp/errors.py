"""The diamp exception hierarchy.

Every error diamp raises on purpose derives from :class:`DiampError`. Subclasses carry
structured fields (path, block, key, ...) so that callers and the CLI can report precisely
what went wrong, and they pickle across process boundaries (Dask workers) because each
class reconstructs itself from its message and fields via ``__reduce__``.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AnalysisError",
    "ConfigError",
    "DiampError",
    "ExtractionError",
    "InstrumentError",
    "ProtocolError",
    "StorageError",
    "StoreIntegrityError",
    "TimingError",
]


class DiampError(Exception):
    """Root of every error diamp raises deliberately.

    Parameters
    ----------
    message
        Human-readable description: what was expected, what was found, what to change.
    **fields
        Structured context (``path``, ``block``, ``key``, ...), kept as attributes.
    """

    exit_code = 1

    def __init__(self, message: str, **fields: Any) -> None:
        super().__init__(message)
        self.message = message
        self.fields = dict(fields)
        for name, value in fields.items():
            setattr(self, name, value)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.message, self.fields))

    def __str__(self) -> str:
        return self.message


def _rebuild(cls: type[DiampError], message: str, fields: dict[str, Any]) -> DiampError:
    return cls(message, **fields)


class ConfigError(DiampError, ValueError):
    """A configuration file or command-line parameter is invalid (names file and key)."""

    exit_code = 2


class StorageError(DiampError, OSError):
    """A file could not be read or written."""


class StoreIntegrityError(StorageError):
    """A trial store is malformed, incomplete or corrupted (names the block or dataset)."""


class ProtocolError(DiampError, ValueError):
    """Protocol parameters or data violate a requirement of the security proof."""


class ExtractionError(DiampError, ArithmeticError):
    """An extractor failed its exactness or self-check guarantees."""


class TimingError(DiampError, ValueError):
    """A timing section or oscilloscope trace is invalid, or timing cannot be verified."""


class InstrumentError(DiampError, OSError):
    """An instrument failed: unreachable, timed out, disconnected, or reported an error.

    The message names the instrument (and the command or address where there is one).
    """


class AnalysisError(DiampError, ValueError):
    """Data cannot be analysed as asked (names the sample, value or parameter at fault)."""


class InstrumentSettingError(InstrumentError):
    """A configured instrument setting is invalid (unknown, out of range, wrong type).

    Found before any write to the device; it is a configuration error (exit status 2).
    """

    exit_code = 2
