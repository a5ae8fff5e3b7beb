"""Anchor files: append-only, fsynced, hash-chained records kept beside (not in) a database.

The service's databases promise things across crashes (a byte is never served twice, a pulse
index is never issued twice), but a database can be lost, emptied, restored from an old
backup, copied to a second host or opened without its ``-wal`` file; SQLite then opens what
is there as if nothing had happened. An anchor file is the outside record that notices: the
pool (``POOL.anchor``), every DIRA run the pool uses (``RUN/served.hwm``), every file of raw
samples it reads (``FILE.served.hwm``) and the beacon key
(``KEY.anchor``) each keep one, written *before* the state it records is used.

Format: one JSON object per line (UTF-8, newline-terminated), keys sorted, with ``prev``:
the SHA-256 (hex) of the previous line's bytes without its newline (64 zeros on the first
line). Reading checks every link, so an edited or reordered line is refused; a torn last line
(a crash in the middle of a write, before its fsync returned) is ignored, because the state it
recorded was never used. Appends hold an exclusive ``flock`` on the file, so two processes
that share a file (two pools using one DIRA run) see each other's lines in order.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from diamp.service.errors import StateError

__all__ = ["ROTATE_BYTES", "AnchorFile", "anchor_path"]

_GENESIS = "0" * 64
ROTATE_BYTES = 16 << 20


def anchor_path(path: Path, suffix: str = ".anchor") -> Path:
    """The anchor beside ``path``: ``path`` with ``suffix`` appended to its name."""
    return path.with_name(path.name + suffix)


class AnchorFile:
    """One anchor file: :meth:`records` reads and checks it, :meth:`append` adds a record."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def exists(self) -> bool:
        """True if the file exists (even empty)."""
        return self.path.exists()

    def records(self) -> list[dict[str, Any]]:
        """Every record, oldest first (a torn last line is left out).

        Raises
        ------
        StateError
            If the file cannot be read, a complete line is not a JSON object, or a line's
            ``prev`` is not the SHA-256 of the line before it (the file was edited).
        """
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return []
        except OSError as err:
            raise StateError(
                f"{self.path}: cannot read anchor: {err}", path=str(self.path)
            ) from err
        return self._parse(raw)

    def last(self) -> dict[str, Any] | None:
        """The newest record, or None for a missing or empty file."""
        found = self.records()
        return found[-1] if found else None

    def _parse(self, raw: bytes) -> list[dict[str, Any]]:
        lines = raw.split(b"\n")
        if lines and lines[-1] != b"":
            lines = lines[:-1]  # torn: written without its newline, never fsynced
        out: list[dict[str, Any]] = []
        prev = _GENESIS
        for number, line in enumerate(lines, 1):
            if not line:
                continue
            try:
                record = json.loads(line)
            except ValueError as err:
                raise self._broken(f"line {number}", f"is not JSON ({err})") from err
            if not isinstance(record, dict) or record.get("prev") != prev:
                raise self._broken(
                    f"line {number}", "does not chain to the line before it (edited?)"
                )
            prev = hashlib.sha256(line).hexdigest()
            out.append(record)
        return out

    def _broken(self, where: str, what: str) -> StateError:
        return StateError(
            f"{self.path}: anchor {where} {what}; the file is append-only and must not "
            "be edited: restore it or move it away and recover as docs/service.md "
            "'Losing or restoring state' says",
            path=str(self.path),
        )

    def rotate(self, max_bytes: int = ROTATE_BYTES) -> None:
        """Move a file over ``max_bytes`` to ``NAME.1``; the new file starts with its last record.

        Only the last record carries state, so nothing a start reads is lost; ``.1`` keeps
        the history until the next rotation.
        """
        try:
            if self.path.stat().st_size <= max_bytes:
                return
        except FileNotFoundError:
            return
        with self.locked() as last:
            if last is None:
                return
            os.replace(self.path, self.path.with_name(self.path.name + ".1"))
            fresh = AnchorFile(self.path)
            record = {k: v for k, v in last.items() if k != "prev"}
            fresh.append({**record, "rotated_from": hashlib.sha256(self._tail).hexdigest()})

    @contextmanager
    def locked(self) -> Iterator[dict[str, Any] | None]:
        """Hold the file's exclusive lock; yields its last record (append with :meth:`append`).

        Only the tail is read here (appends stay cheap however long the file grows); the
        whole chain is checked by :meth:`records`, at startup.
        """
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        except OSError as err:
            raise StateError(
                f"{self.path}: cannot open anchor: {err}", path=str(self.path)
            ) from err
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            self._fd = fd
            self._tail = self._read_tail(fd)
            yield None if not self._tail else self._parse_one(self._tail)
        finally:
            self._fd = -1
            os.close(fd)

    def _read_tail(self, fd: int) -> bytes:
        """The last complete line (without newline); cuts off a torn line after it."""
        size = os.fstat(fd).st_size
        span = 1 << 16
        while True:
            start = max(0, size - span)
            data = os.pread(fd, size - start, start)
            end = data.rfind(b"\n")
            if end < 0 and start == 0:
                if data:
                    os.truncate(self.path, 0)
                return b""
            if end >= 0 and end + 1 < len(data):
                os.truncate(self.path, start + end + 1)  # a torn line, never fsynced: drop it
            if end >= 0:
                begin = data.rfind(b"\n", 0, end) + 1
                if begin > 0 or start == 0:
                    return data[begin:end]
            span *= 4

    def _parse_one(self, line: bytes) -> dict[str, Any]:
        try:
            record = json.loads(line)
        except ValueError as err:
            raise self._broken("last line", f"is not JSON ({err})") from err
        if not isinstance(record, dict):
            raise self._broken("last line", "is not a JSON object")
        return record

    def append(self, record: dict[str, Any]) -> str:
        """Append ``record`` (chained to the last line) and fsync; returns the line's SHA-256.

        Inside :meth:`locked` it appends under that lock; outside, the file is locked here.
        """
        if self._fd < 0:
            with self.locked():
                return self.append(record)
        prev = hashlib.sha256(self._tail).hexdigest() if self._tail else _GENESIS
        line = json.dumps({**record, "prev": prev}, sort_keys=True, separators=(",", ":"))
        data = line.encode()
        try:
            os.write(self._fd, data + b"\n")
            os.fsync(self._fd)
        except OSError as err:
            raise StateError(
                f"{self.path}: cannot write anchor: {err}", path=str(self.path)
            ) from err
        self._tail = data
        if not self._dir_synced:
            _fsync_dir(self.path.parent)
            self._dir_synced = True
        return hashlib.sha256(data).hexdigest()

    _fd = -1
    _tail = b""
    _dir_synced = False


def _fsync_dir(folder: Path) -> None:
    """Make a newly created file's directory entry durable (best effort where unsupported)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
