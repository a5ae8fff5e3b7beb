"""Crash-safe file writes: one helper, one durability policy, used by every writer.

A file is written under a temporary name in its final folder, created with its final mode
(so a secret is never readable by others, not even for a moment), flushed and fsynced, then
renamed over the target, and the folder is fsynced so that the rename itself survives a
power cut. A reader, or a run resumed after a kill, therefore sees either the previous file
or the complete new one, never a half-written file. Any failure removes the temporary file
and raises :class:`~diamp.errors.StorageError` naming the file and what it is.

Every file diamp writes goes through :func:`atomic_target` (the certificate, the key, the
report, the service's keys file, the trial store's root and block files, timing traces,
packed bit files).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from diamp.errors import StorageError

__all__ = ["atomic_target", "fsync_path", "write_atomic"]


def fsync_path(path: Path) -> None:
    """Flush a file's data, or a folder's entries (a rename in it), to stable storage."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def atomic_target(
    path: str | Path, *, mode: int = 0o644, what: str = "file", exclusive: bool = False
) -> Iterator[Path]:
    """Yield a temporary path to write; on success it becomes ``path`` atomically and durably.

    The temporary file already exists, empty, with ``mode`` less the umask; the caller may
    write it by name (e.g. h5py) or open it. On leaving the block without an exception the
    file is fsynced, renamed over ``path`` and the folder fsynced. With ``exclusive`` an
    existing ``path`` is never replaced: the complete file is linked into place only if the
    name is free (a key written twice is refused, even by two processes at once).

    Raises
    ------
    StorageError
        The file cannot be created, written, synced or renamed (an ``OSError``, or the
        ``RuntimeError`` h5py raises for some write failures); ``path`` is left untouched.
    """
    target = Path(path)
    try:
        fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as err:
        raise StorageError(
            f"{target}: cannot write {what}: {err.strerror or err}", path=str(target)
        ) from err
    tmp = Path(name)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, mode & ~umask)
        os.close(fd)
        yield tmp
        fsync_path(tmp)
        if exclusive:
            os.link(tmp, target)  # FileExistsError if the name is taken
            tmp.unlink()
        else:
            os.replace(tmp, target)
        fsync_path(target.parent)
    except (OSError, RuntimeError) as err:
        tmp.unlink(missing_ok=True)
        if isinstance(err, StorageError):
            raise
        reason = err.strerror if isinstance(err, OSError) and err.strerror else err
        if isinstance(err, FileExistsError) and exclusive:
            reason = "exists; refusing to overwrite it"
        raise StorageError(f"{target}: cannot write {what}: {reason}", path=str(target)) from err
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_atomic(
    path: str | Path, data: bytes, *, mode: int = 0o644, what: str = "file", exclusive: bool = False
) -> None:
    """Write ``data`` to ``path`` atomically and durably (see :func:`atomic_target`).

    Keys, reports and key files use ``mode=0o600``; ``exclusive`` never replaces a file.
    """
    with atomic_target(path, mode=mode, what=what, exclusive=exclusive) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)
