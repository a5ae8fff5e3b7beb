"""Crash-safe HDF5 files: written under a temporary name, fsynced, then renamed into place.

A reader (or a run resumed after a kill) therefore sees either the previous file or the
complete new one, never a half-written file that HDF5 would have to repair.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from diamp.errors import StorageError

if TYPE_CHECKING:
    import h5py

__all__ = ["fsync_dir", "write_h5_atomic"]


def fsync_dir(path: Path) -> None:
    """Make a rename in directory ``path`` durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_h5_atomic(path: Path, build: Callable[[h5py.File], None], what: str = "file") -> None:
    """Create ``path`` with ``build(f)`` on a fresh HDF5 file, atomically and durably.

    The temporary file is ``path`` + ``.tmp``; it is removed if anything fails. An OS error
    becomes a :class:`~diamp.errors.StorageError` naming the file and ``what`` it is.
    """
    import h5py

    tmp = path.with_name(path.name + ".tmp")
    try:
        with h5py.File(tmp, "w") as f:
            build(f)
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        fsync_dir(path.parent)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise StorageError(f"{path}: cannot write {what}: {err}", path=str(path)) from err
