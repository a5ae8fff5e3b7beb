"""The persistent pool: extracted bytes wait here, each handed out at most once.

SQLite in WAL mode with ``synchronous = FULL``. A chunk row holds a tier's bytes, their
provenance (sources, extractor parameters, health status, time) and ``taken``, the number
of leading bytes already reserved. :meth:`Pool.take` serves from an in-memory reservation;
when that runs short it *first* commits a larger ``taken`` (a reservation of at least
``reserve_bytes``; for a draw of ``LARGE_DRAW`` bytes or more, room for ``AHEAD`` such draws,
at most ``AHEAD_CAP`` bytes, so that large draws share one commit) and only then hands out
bytes from the reserved range. :meth:`Pool.take_held` serves from that memory only, never
waiting for the database (the server's event loop uses it). So

* two requests, threads or processes never get the same byte (the reservation is a
  transaction under SQLite's write lock, and memory is served under a lock);
* a crash or kill loses at most the reserved but unserved bytes (one reservation), and
  never repeats one (the committed ``taken`` survives, the memory does not);
* bytes older than ``freshness_seconds`` are never served (stale chunks are deleted and
  stale reservations dropped);
* a chunk identical to one already stored is refused (``UNIQUE`` SHA-256), which catches a
  source that replays its output, e.g. after a restart.

Served bytes are not erased from the file: a chunk's pages are freed, not zeroed, when it is
used up (``PRAGMA secure_delete = FAST``, whatever the SQLite build's default; a partly
served chunk keeps its served prefix until then anyway), so the pool file is as secret as
what it will serve and what it served.

:meth:`Pool.discard_source` deletes every unserved byte that a quarantined source touched.

With an anchor (:class:`diamp.service.state.PoolAnchor`, set by
:func:`diamp.service.state.open_pool`), every reservation, every cursor move past its anchored
floor, every discard and every metadata value is first recorded in the anchor file beside the
database and counted in ``meta.anchor_seq``, in the same transaction, so a database that is
lost, emptied, restored or copied is noticed at the next start.

What a draw carries (bytes, tier, provenance, whether simulated) is :mod:`diamp.service.draw`.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from diamp.errors import DiampError
from diamp.service.draw import Draw, Segment
from diamp.service.errors import PoolEmpty, PoolError
from diamp.service.sqlite import open_durable

if TYPE_CHECKING:
    from diamp.service.state import PoolAnchor

__all__ = ["Draw", "Pool", "Segment"]

SCHEMA = 1
LARGE_DRAW = 1 << 16
"""Draws of at least this many bytes reserve ahead for ``AHEAD`` more of their size."""
AHEAD = 8
AHEAD_CAP = 1 << 24
"""Largest reservation made ahead for large draws (16 MiB: the most a crash can then lose)."""
_DDL = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS chunk (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tier TEXT NOT NULL,
    created REAL NOT NULL,
    size INTEGER NOT NULL CHECK (size > 0),
    taken INTEGER NOT NULL DEFAULT 0 CHECK (taken >= 0 AND taken <= size),
    sha256 TEXT NOT NULL UNIQUE,
    sources TEXT NOT NULL,
    dira TEXT NOT NULL,
    provenance TEXT NOT NULL,
    data BLOB
);
CREATE INDEX IF NOT EXISTS chunk_tier ON chunk (tier, id);
CREATE INDEX IF NOT EXISTS chunk_created ON chunk (created);
CREATE TABLE IF NOT EXISTS chunk_source (chunk_id INTEGER NOT NULL, source TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS chunk_source_source ON chunk_source (source);
CREATE INDEX IF NOT EXISTS chunk_source_chunk ON chunk_source (chunk_id);
CREATE TABLE IF NOT EXISTS cursor (source TEXT PRIMARY KEY, position INTEGER NOT NULL);
"""


class _Reserved:
    """A reserved, not yet served range of one chunk, held in memory."""

    __slots__ = ("data", "pos", "segment")

    def __init__(self, segment: Segment, data: bytes) -> None:
        self.segment, self.data, self.pos = segment, data, 0


class Pool:
    """The pool database at ``path`` (see the module docs).

    Parameters
    ----------
    path
        SQLite file (created with its folder if missing).
    freshness_seconds
        Bytes older than this are never served.
    reserve_bytes
        Smallest reservation committed at once (larger: fewer commits, more loss on a crash).
    clock
        Wall clock in Unix seconds (tests pass their own).
    """

    def __init__(
        self,
        path: str | Path,
        *,
        freshness_seconds: float = 86400.0,
        reserve_bytes: int = 1 << 16,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = Path(path)
        self.freshness, self.reserve_bytes, self.clock = freshness_seconds, reserve_bytes, clock
        self._lock = threading.RLock()
        self._reserved: dict[str, deque[_Reserved]] = {}
        self.anchor: PoolAnchor | None = None
        self.recovered = False  # opened by ``--new-pool``: DIRA runs continue at their marks
        try:
            self._db = open_durable(self.path, _DDL)
            # zeroing every freed page doubles the I/O of a used-up chunk (see module docs)
            self._db.execute("PRAGMA secure_delete = FAST")
            self._check_schema()
        except (OSError, sqlite3.Error) as err:
            raise PoolError(
                f"{self.path}: cannot open pool database: {err}", path=str(path)
            ) from err

    def _check_schema(self) -> None:
        row = self._db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
        if row is None:
            self._db.execute("INSERT INTO meta VALUES ('schema', ?)", (str(SCHEMA),))
        elif row[0] != str(SCHEMA):
            raise PoolError(
                f"{self.path}: pool schema: expected {SCHEMA}, found {row[0]}", path=str(self.path)
            )

    def close(self) -> None:
        """Close the database (unserved reservations are lost, never repeated)."""
        with self._lock:
            self._reserved.clear()
            self._db.close()

    # --- filling -------------------------------------------------------------------------

    def append(
        self,
        tier: str,
        data: bytes,
        provenance: dict[str, Any],
        sources: Sequence[str],
        dira_certificates: Sequence[str] = (),
    ) -> int:
        """Store one chunk of ``tier``; returns its id.

        Raises
        ------
        PoolError
            If an identical chunk was ever stored (a replaying source) or the write fails.
        """
        if not data:
            raise PoolError("refusing an empty chunk", tier=tier)
        digest = hashlib.sha256(data).hexdigest()
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                cur = self._db.execute(
                    "INSERT INTO chunk (tier, created, size, sha256, sources, dira, provenance,"
                    " data) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (tier, self.clock(), len(data), digest, json.dumps(list(sources)),
                     json.dumps(list(dira_certificates)), json.dumps(provenance), data),
                )  # fmt: skip
                chunk_id = int(cur.lastrowid or 0)
                self._db.executemany(
                    "INSERT INTO chunk_source VALUES (?, ?)", [(chunk_id, s) for s in sources]
                )
                self._db.execute("COMMIT")
            except sqlite3.IntegrityError as err:
                self._db.execute("ROLLBACK")
                raise PoolError(
                    f"tier {tier!r}: a chunk with SHA-256 {digest[:16]}… was stored before: "
                    f"sources {list(sources)} repeat their output",
                    tier=tier, sources=list(sources),
                ) from err  # fmt: skip
            except sqlite3.Error as err:
                self._rollback()
                raise PoolError(f"{self.path}: cannot store a chunk: {err}", tier=tier) from err
        return chunk_id

    def _rollback(self) -> None:
        if self._db.in_transaction:
            self._db.execute("ROLLBACK")

    # --- serving -------------------------------------------------------------------------

    def take(self, nbytes: int, tier: str) -> Draw:
        """``nbytes`` never-served fresh bytes of ``tier``, oldest first, with provenance.

        Raises
        ------
        PoolEmpty
            If fewer fresh bytes are stored (nothing is consumed then).
        PoolError
            If ``nbytes`` < 1 or the database fails.
        """
        if nbytes < 1:
            raise PoolError(f"a draw needs at least 1 byte, asked for {nbytes}", tier=tier)
        with self._lock:
            queue = self._reserved.setdefault(tier, deque())
            self._drop_stale(queue)
            have = self._held(queue)
            if have < nbytes:
                ahead = min(AHEAD * nbytes, AHEAD_CAP) if nbytes >= LARGE_DRAW else 0
                self._reserve(tier, queue, nbytes - have, max(ahead - have, 0))
            return self._serve(tier, queue, nbytes)

    def take_held(self, nbytes: int, tier: str) -> Draw | None:
        """Like :meth:`take`, but only from memory already reserved: None rather than wait.

        None when the reservation in memory holds fewer than ``nbytes`` fresh bytes or another
        thread holds the pool (e.g. committing a reservation); nothing is consumed then.
        """
        if nbytes < 1:
            raise PoolError(f"a draw needs at least 1 byte, asked for {nbytes}", tier=tier)
        if not self._lock.acquire(blocking=False):
            return None
        try:
            queue = self._reserved.get(tier)
            if not queue:
                return None
            self._drop_stale(queue)
            return self._serve(tier, queue, nbytes) if self._held(queue) >= nbytes else None
        finally:
            self._lock.release()

    def _serve(self, tier: str, queue: deque[_Reserved], nbytes: int) -> Draw:
        parts: list[bytes] = []
        segments: list[Segment] = []
        left = nbytes
        while left:
            r = queue[0]
            n = min(left, len(r.data) - r.pos)
            whole = r.pos == 0 and n == len(r.data)
            parts.append(r.data if whole else r.data[r.pos : r.pos + n])
            s = r.segment
            segments.append(
                Segment(s.chunk_id, s.offset + r.pos, n, s.created, s.sources,
                        s.dira_certificates, s.provenance)
            )  # fmt: skip
            r.pos += n
            left -= n
            if r.pos == len(r.data):
                queue.popleft()
        return Draw(parts[0] if len(parts) == 1 else b"".join(parts), tier, tuple(segments))

    def _drop_stale(self, queue: deque[_Reserved]) -> None:
        limit = self.clock() - self.freshness
        if any(r.segment.created < limit for r in queue):
            keep = [r for r in queue if r.segment.created >= limit]
            queue.clear()
            queue.extend(keep)

    def _reserve(self, tier: str, queue: deque[_Reserved], need: int, ahead: int = 0) -> None:
        """Commit a reservation of at least ``need`` bytes, then hold them in memory.

        It takes ``max(need, reserve_bytes, ahead)`` bytes where the pool has them.
        """
        want = max(need, self.reserve_bytes, ahead)
        limit = self.clock() - self.freshness
        try:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute("DELETE FROM chunk WHERE created < ?", (limit,))
            rows = self._db.execute(
                "SELECT id, size, taken, created, sources, dira, provenance FROM chunk"
                " WHERE tier = ? AND taken < size ORDER BY id",
                (tier,),
            )
            plan: list[tuple[Any, ...]] = []
            total = 0
            for row in rows:
                n = min(row[1] - row[2], want - total)
                plan.append((*row, n))
                total += n
                if total >= want:
                    break
            if total < need:
                self._db.execute("ROLLBACK")
                raise PoolEmpty(
                    f"tier {tier!r}: {total + self._held(queue)} fresh bytes in the pool, "
                    f"{need + self._held(queue)} requested",
                    tier=tier,
                )
            fresh = self._claim(plan)
            self._anchored(taken={r.segment.chunk_id: r.segment.offset + len(r.data)
                                  for r in fresh})  # fmt: skip
            self._db.execute("COMMIT")  # durable before any of these bytes leaves the pool
        except sqlite3.Error as err:
            self._rollback()
            raise PoolError(f"{self.path}: reservation failed: {err}", tier=tier) from err
        queue.extend(fresh)

    @staticmethod
    def _held(queue: Iterable[_Reserved]) -> int:
        return sum(len(r.data) - r.pos for r in queue)

    def _claim(self, plan: list[tuple[Any, ...]]) -> list[_Reserved]:
        out = []
        for chunk_id, size, taken, created, sources, dira, provenance, n in plan:
            (data,) = self._db.execute(
                "SELECT substr(data, ?, ?) FROM chunk WHERE id = ?", (taken + 1, n, chunk_id)
            ).fetchone()
            if data is None or len(data) != n:
                raise PoolError(f"chunk {chunk_id}: stored data shorter than its size {size}")
            if taken + n == size:
                self._db.execute("DELETE FROM chunk WHERE id = ?", (chunk_id,))
                self._db.execute("DELETE FROM chunk_source WHERE chunk_id = ?", (chunk_id,))
            else:
                self._db.execute("UPDATE chunk SET taken = ? WHERE id = ?", (taken + n, chunk_id))
            seg = Segment(chunk_id, taken, n, created, tuple(json.loads(sources)),
                          tuple(json.loads(dira)), provenance)  # fmt: skip
            out.append(_Reserved(seg, data if isinstance(data, bytes) else bytes(data)))
        return out

    # --- housekeeping --------------------------------------------------------------------

    def level(self, tier: str) -> int:
        """Fresh unserved bytes of ``tier`` (stored plus reserved in memory)."""
        limit = self.clock() - self.freshness
        with self._lock:
            (stored,) = self._db.execute(
                "SELECT COALESCE(SUM(size - taken), 0) FROM chunk WHERE tier = ? AND created >= ?",
                (tier, limit),
            ).fetchone()
            queue = self._reserved.get(tier, deque())
            held = sum(len(r.data) - r.pos for r in queue if r.segment.created >= limit)
        return int(stored) + held

    def discard_source(self, source: str) -> int:
        """Delete every unserved byte ``source`` contributed to; returns how many."""
        with self._lock:
            dropped = 0
            for queue in self._reserved.values():
                keep = [r for r in queue if source not in r.segment.sources]
                dropped += self._held(queue) - self._held(keep)
                queue.clear()
                queue.extend(keep)
            try:
                self._db.execute("BEGIN IMMEDIATE")
                ids = "SELECT chunk_id FROM chunk_source WHERE source = ?"
                (stored,) = self._db.execute(
                    f"SELECT COALESCE(SUM(size - taken), 0) FROM chunk WHERE id IN ({ids})",
                    (source,),
                ).fetchone()
                self._db.execute(f"DELETE FROM chunk WHERE id IN ({ids})", (source,))
                self._db.execute(
                    "DELETE FROM chunk_source WHERE chunk_id NOT IN (SELECT id FROM chunk)"
                )
                self._anchored(event=f"discard {source}")
                self._db.execute("COMMIT")
            except sqlite3.Error as err:
                self._rollback()
                raise PoolError(f"{self.path}: cannot discard {source!r}: {err}") from err
        return dropped + int(stored)

    def cursor(self, source: str) -> int | None:
        """The persisted stream position of ``source`` (None if never set)."""
        with self._lock:
            row = self._db.execute(
                "SELECT position FROM cursor WHERE source = ?", (source,)
            ).fetchone()
        return None if row is None else int(row[0])

    def set_cursor(self, source: str, position: int, reserve_to: int | None = None) -> None:
        """Persist ``source``'s stream position (durable when this returns).

        With an anchor, a position past the anchored floor first moves the floor to
        ``max(position, reserve_to)`` (a raw stream reserves ahead, so few moves are anchored).
        """
        with self._lock:
            floor = None if self.anchor is None else self.anchor.cursors.get(source)
            upsert = (
                "INSERT INTO cursor VALUES (?, ?) ON CONFLICT (source) DO UPDATE SET position ="
                " excluded.position"
            )
            if self.anchor is None or (floor is not None and position <= floor):
                self._db.execute(upsert, (source, position))
                return
            try:
                self._db.execute("BEGIN IMMEDIATE")
                self._db.execute(upsert, (source, position))
                self._anchored(cursors={source: max(position, reserve_to or position)})
                self._db.execute("COMMIT")
            except sqlite3.Error as err:
                self._rollback()
                raise PoolError(f"{self.path}: cannot move cursor {source!r}: {err}") from err

    def cursors(self) -> dict[str, int]:
        """Every persisted stream position."""
        with self._lock:
            rows = self._db.execute("SELECT source, position FROM cursor").fetchall()
        return {str(name): int(pos) for name, pos in rows}

    def _anchored(self, **change: Any) -> None:
        """Record ``change`` in the anchor (fsynced) and count it; inside a transaction."""
        if self.anchor is None:
            return
        try:
            seq = self.anchor.record(**change)
        except DiampError as err:  # not anchored: the change must not happen
            self._rollback()
            raise PoolError(f"{self.path}: {err}", path=str(self.path)) from err
        self._db.execute("INSERT OR REPLACE INTO meta VALUES ('anchor_seq', ?)", (str(seq),))

    def restore(
        self, pool_id: str, seq: int, cursors: dict[str, int], taken: dict[int, int]
    ) -> None:
        """Set identity and state counter, raise cursors and ``taken`` to at least these."""
        with self._lock:
            db = self._db
            try:
                db.execute("BEGIN IMMEDIATE")
                db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                               [("pool_id", pool_id), ("anchor_seq", str(seq))])  # fmt: skip
                db.executemany(
                    "INSERT INTO cursor VALUES (?, ?) ON CONFLICT (source) DO UPDATE SET"
                    " position = MAX(position, excluded.position)", list(cursors.items()),
                )  # fmt: skip
                db.executemany("UPDATE chunk SET taken = MIN(size, MAX(taken, ?)) WHERE id = ?",
                               [(t, i) for i, t in taken.items()])  # fmt: skip
                db.execute("DELETE FROM chunk WHERE taken >= size")
                db.execute("DELETE FROM chunk_source WHERE chunk_id NOT IN (SELECT id FROM chunk)")
                db.execute("COMMIT")
            except sqlite3.Error as err:
                self._rollback()
                raise PoolError(f"{self.path}: cannot restore the anchored state: {err}") from err

    def meta(self, key: str) -> str | None:
        """A stored metadata value (e.g. the generated extractor seed)."""
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        """Store a metadata value once; a second, different value is refused.

        With an anchor, the value's SHA-256 is anchored first.
        """
        with self._lock:
            old = self.meta(key)
            if old is not None and old != value:
                raise PoolError(f"{self.path}: meta {key!r} is already set", key=key)
            if old is not None:
                return
            try:
                self._db.execute("BEGIN IMMEDIATE")
                self._db.execute("INSERT INTO meta VALUES (?, ?)", (key, value))
                self._anchored(meta={key: hashlib.sha256(value.encode()).hexdigest()})
                self._db.execute("COMMIT")
            except sqlite3.Error as err:
                self._rollback()
                raise PoolError(f"{self.path}: cannot store meta {key!r}: {err}") from err
