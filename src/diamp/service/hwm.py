"""A DIRA run's high-water mark (``RUN/served.hwm``): its key is never handed out twice.

The pool remembers how far it has used a DIRA key (its cursor), but the pool database can be
lost, restored or copied, and two pools can name the same run. The run therefore keeps its
own record, an anchor file (:mod:`diamp.service.anchor`) beside ``certificate.json``: one
line per reservation of key bytes ``[from, to)``, with the run's certificate SHA-512 and the
reserving pool's id, appended and fsynced under the file's lock *before* the pool's cursor
moves and before a byte is used. So

- a reservation must start where the last one ended, by the same pool: a second pool using
  the run (a copy, or a second host on shared storage) is stopped at its next reservation;
- at start, a pool whose cursor is behind the mark (an old backup, another pool took bytes
  since) is refused, unless only its own last reservation is unconfirmed (a crash between the
  mark and the pool's commit: the pool continues at the mark, the bytes are lost, never used);
- ``--new-pool`` continues at the mark, never before it.

A run used before marks existed gets its first mark from the pool's cursor.

A file of raw samples keeps the same kind of record (:class:`StreamMark`,
``FILE.served.hwm`` beside the file or folder), so that a pool database restored *together
with* its anchor from one old backup cannot read (and extract, and serve) the same samples
again: the file's record is not on the pool's backup-and-restore path.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from diamp.service.anchor import AnchorFile
from diamp.service.errors import SourceError, StateError

__all__ = ["RunMark", "StreamMark"]

FILE_NAME = "served.hwm"


class RunMark:
    """The high-water mark of the run in ``run`` whose certificate has ``certificate_sha512``."""

    def __init__(self, source: str, run: Path, certificate_sha512: str, pool_id: str) -> None:
        self.source, self.cert, self.pool_id = source, certificate_sha512, pool_id
        self.file = AnchorFile(run / FILE_NAME)
        self.what = "this DIRA run"

    def _mark(self, last: dict[str, Any] | None) -> dict[str, Any] | None:
        return last if last is not None and last.get("cert") == self.cert else None

    def _line(self, start: int, stop: int, event: str | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {"v": 1, "cert": self.cert, "pool": self.pool_id, "from": start,
                               "to": stop, "time": time.time()}  # fmt: skip
        if event:
            out["event"] = event
        return out

    def open(self, cursor: int, *, recover: bool = False) -> int:
        """Where the pool continues using the key (``cursor`` or the mark), checked.

        Raises
        ------
        StateError
            If the mark is ahead of ``cursor`` (other than the pool's own unconfirmed last
            reservation) or behind it, unless ``recover`` (``--new-pool``).
        """
        self.file.records()  # the whole chain must read back
        self.file.rotate()
        with self.file.locked() as last:
            mark = self._mark(last)
            if mark is None:
                self.file.append(self._line(cursor, cursor, "first mark"))
                return cursor
            high, when = int(mark["to"]), _when(mark)
            if recover:
                start = max(high, cursor)
                self.file.append(self._line(start, start, "new pool"))
                return start
            own = mark.get("pool") == self.pool_id
            if high == cursor or (own and int(mark["from"]) == cursor and high > cursor):
                if not own:
                    self.file.append(self._line(high, high, "continued by this pool"))
                return high
            where = f"{self.file.path}: source {self.source!r}"
            if high > cursor:
                raise StateError(
                    f"{where}: the run's key was reserved up to byte {high} by pool "
                    f"{mark.get('pool')} ({when}); this pool ({self.pool_id}) is at byte "
                    f"{cursor}: its database is older than the run's record, or another pool "
                    "uses this run; recover with `diamp serve CONFIG --new-pool` (continues at "
                    f"byte {high}; docs/service.md, 'Losing or restoring state')",
                    path=str(self.file.path),
                )  # fmt: skip
            raise StateError(
                f"{where}: the run's record ends at byte {high} ({when}) but this pool "
                f"({self.pool_id}) is at byte {cursor}: the record was restored or replaced; "
                "recover with `diamp serve CONFIG --new-pool` (continues at byte "
                f"{cursor}; docs/service.md, 'Losing or restoring state')",
                path=str(self.file.path),
            )  # fmt: skip

    def reserve(self, start: int, stop: int) -> None:
        """Record ``[start, stop)`` as used by this pool before a byte of it is used.

        Raises
        ------
        SourceError
            If the last reservation does not end at ``start`` or was not this pool's
            (another pool uses the run): the source is quarantined, nothing is used.
        """
        with self.file.locked() as last:
            mark = self._mark(last)
            if mark is None or int(mark["to"]) != start or mark.get("pool") != self.pool_id:
                found = "no mark" if mark is None else (
                    f"byte {mark['to']} by pool {mark.get('pool')} ({_when(mark)})"
                )  # fmt: skip
                raise SourceError(
                    f"source {self.source!r}: {self.file.path} ends at {found}, this pool "
                    f"({self.pool_id}) would continue at byte {start}: another pool uses "
                    f"{self.what}; nothing more is taken from it",
                    source=self.source, path=str(self.file.path),
                )  # fmt: skip
            self.file.append(self._line(start, stop))


class StreamMark(RunMark):
    """The high-water mark of a file source (``FILE.served.hwm``): its samples are read once.

    The file's stream reserves ahead of its reads (:meth:`reserve`), so the pool's cursor lies
    inside the last reservation. At start (:meth:`open`) the stream continues at the mark when
    the cursor lies inside this pool's own last reservation (the rest of it is skipped, never
    read), at the cursor when the cursor is at or past the mark (skipping ahead repeats
    nothing), and is refused when the cursor lies before the mark otherwise (the pool database
    and its anchor are older than the file's record, or another pool reads the file).
    ``identity`` names the file's content (its first bytes' digest): another file under the
    same name starts a new record.
    """

    def __init__(self, source: str, path: Path, identity: str, pool_id: str) -> None:
        self.source, self.cert, self.pool_id = source, identity, pool_id
        self.file = AnchorFile(path)
        self.what = "this file of samples"

    def open(self, cursor: int, *, recover: bool = False) -> int:
        """Where the stream continues (``cursor`` or the mark), checked; see the class."""
        self.file.records()
        self.file.rotate()
        with self.file.locked() as last:
            mark = self._mark(last)
            if mark is None:
                self.file.append(self._line(cursor, cursor, "first mark"))
                return cursor
            high, low = int(mark["to"]), int(mark["from"])
            own = mark.get("pool") == self.pool_id
            if recover or cursor >= high or (own and cursor >= low):
                start = max(high, cursor)
                self.file.append(self._line(start, start, "continued"))
                return start
            raise StateError(
                f"{self.file.path}: source {self.source!r}: the file's samples were reserved up "
                f"to byte {high} by pool {mark.get('pool')} ({_when(mark)}); this pool "
                f"({self.pool_id}) is at byte {cursor}: its database and anchor are older than "
                "the file's record, or another pool reads this file; recover with `diamp serve "
                f"CONFIG --new-pool` (continues at byte {high}; docs/service.md, 'Losing or "
                "restoring state')",
                path=str(self.file.path),
            )  # fmt: skip


def _when(mark: dict[str, Any]) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(float(mark.get("time", 0))))
