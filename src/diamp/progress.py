"""Progress reporting: the one interface library code reports through, without printing.

Long work reports in named steps to a :class:`ProgressSink` (the CLI renders each step as a
progress bar; :class:`NullProgress` discards them); inside a step, pure kernels call a
:data:`Progress` callback with ``(done, total)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

__all__ = ["NullProgress", "Progress", "ProgressSink", "Update"]

Progress = Callable[[int, int], None]  # (done, total) within one step


class Update(Protocol):
    """Reports the amount of work completed so far, optionally with a new description."""

    def __call__(self, completed: float, description: str | None = None) -> None:
        """Report progress."""
        ...


class ProgressSink(Protocol):
    """Receives named steps of long work (the CLI renders them as progress bars)."""

    def start(self, description: str, total: float) -> Update:
        """Begin a step of ``total`` units; returns the function that reports completion."""
        ...

    def log(self, message: str) -> None:
        """A one-line status message."""
        ...


class NullProgress:
    """Discards progress (library default)."""

    def start(self, description: str, total: float) -> Update:
        """Begin a step (ignored)."""
        return _ignore

    def log(self, message: str) -> None:
        """Ignore a message."""


def _ignore(completed: float, description: str | None = None) -> None:
    return None
