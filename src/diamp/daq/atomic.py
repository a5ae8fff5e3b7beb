"""Crash-safe HDF5 files, through the one atomic-write helper (:mod:`diamp.atomic`).

A reader (or a run resumed after a kill) sees either the previous file or the complete new
one, never a half-written file that HDF5 would have to repair.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from diamp.atomic import atomic_target

if TYPE_CHECKING:
    import h5py

__all__ = ["temporaries", "write_h5_atomic"]


def write_h5_atomic(path: Path, build: Callable[[h5py.File], None], what: str = "file") -> None:
    """Create ``path`` with ``build(f)`` on a fresh HDF5 file, atomically and durably.

    Raises :class:`~diamp.errors.StorageError` naming the file and ``what`` it is when it
    cannot be written; the temporary file is removed.
    """
    import h5py

    # HDF5 builds the file in memory and diamp writes the bytes: HDF5 itself never meets a
    # full disk (after a failed write it can crash the process when its objects are freed),
    # and ENOSPC, EROFS or EIO arrive here as an OSError that atomic_target turns into a
    # StorageError naming the file, with the temporary removed.
    image = io.BytesIO()
    with h5py.File(image, "w") as f:
        build(f)
    with atomic_target(path, what=what) as tmp, tmp.open("wb") as out:
        out.write(image.getbuffer())


def temporaries(path: Path) -> list[Path]:
    """Temporary files an interrupted atomic write of ``path`` may have left.

    ``.NAME.*.tmp`` from :func:`~diamp.atomic.atomic_target`, and ``NAME.tmp`` from the
    writers of diamp 0.1, so that a run interrupted before an upgrade resumes cleanly.
    """
    legacy = path.with_name(path.name + ".tmp")
    found = sorted(path.parent.glob(f".{path.name}.*.tmp"))
    return [*found, legacy] if legacy.exists() else found
