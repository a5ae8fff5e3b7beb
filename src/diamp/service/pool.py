"""The persistent pool: extracted bytes wait here, each handed out at most once.

A :class:`~diamp.service.storage.Database`: SQLite in WAL mode with ``synchronous = FULL``
(the default, ``[pool] path``) or PostgreSQL (``[pool] url``, several hosts). A chunk row
holds a tier's bytes, their provenance (sources, extractor parameters, health status, time)
and ``taken``, the number of leading bytes already reserved. :meth:`Pool.take` serves from
an in-memory reservation; when that runs short it *first* commits a larger ``taken`` (a
reservation of at least ``reserve_bytes``; a draw of ``LARGE_DRAW`` bytes or more reserves
room for ``AHEAD`` such draws, at most ``AHEAD_CAP`` bytes, so large draws share one commit)
and only then hands out bytes from the reserved range. :meth:`Pool.take_held` serves from
that memory only, never waiting for the database (the server's event loop uses it). So

* two requests, threads, processes or hosts never get the same byte (the reservation is a
  transaction under SQLite's write lock, or on PostgreSQL claims its chunk rows with
  ``SELECT … FOR UPDATE SKIP LOCKED``; memory is served under a lock);
* a crash or kill loses at most the reserved but unserved bytes, and never repeats one
  (the committed ``taken`` survives, the memory does not);
* bytes older than ``freshness_seconds`` are never served (stale chunks are deleted and
  stale reservations dropped);
* a chunk identical to one already stored is refused (``UNIQUE`` SHA-256), which catches a
  source that replays its output, e.g. after a restart.

:meth:`Pool.discard_source` deletes every unserved byte that a quarantined source touched
and counts the discard in ``meta.discard_epoch``; a pool opened with ``shared = True`` (one of
several processes or hosts) reads that counter at every :meth:`Pool.take` and drops its
in-memory reservations when another process discarded. Served bytes are not erased from a
SQLite file: a used-up chunk's pages are freed, not zeroed (``secure_delete = FAST``; a partly
served chunk keeps its served prefix anyway), so the pool is as secret as what it serves. A
new SQLite pool has 64 KiB pages (``PAGE_SIZE``): a 1 MiB chunk is then read and freed as 16
pages instead of 256, which took about a quarter off a 1 MiB draw; a pool made before keeps
its 4 KiB pages (SQLite fixes a WAL database's page size) and works as before.

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
import time
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from diamp.errors import DiampError
from diamp.service.draw import Draw, Reserved, Segment, drop_stale, held, serve_reserved
from diamp.service.errors import PoolEmpty, PoolError
from diamp.service.poolsql import POSTGRES_DDL, SQLITE_DDL, UPSERT_META
from diamp.service.storage import Database, open_postgres, open_sqlite, redact

if TYPE_CHECKING:
    from diamp.service.state import PoolAnchor

__all__ = ["Draw", "Pool", "Segment"]

SCHEMA = 1
_BATCH = 16  # chunk rows claimed per query (PostgreSQL locks only the rows it returns)
LARGE_DRAW = 1 << 16  # draws of at least this many bytes reserve ahead for AHEAD more
AHEAD = 8
PAGE_SIZE = 1 << 16  # of a new SQLite pool: a 1 MiB chunk spans 16 pages, not 256 (module docs)
AHEAD_CAP = 1 << 24  # the most reserved ahead (16 MiB: the most a crash can then lose)
_UPSERT_CURSOR = "INSERT INTO cursor VALUES (?, ?) ON CONFLICT (source) DO UPDATE SET position = ?"


class Pool:
    """The pool database at ``path``, or at the PostgreSQL ``url`` (see the module docs).

    Parameters
    ----------
    path
        SQLite file (created with its folder if missing); with ``url``, only the name the
        pool's anchor file is kept beside (see :mod:`diamp.service.state`).
    url
        A ``postgresql://`` URL: the pool lives in that database (several hosts may share it).
    freshness_seconds
        Bytes older than this are never served.
    reserve_bytes
        Smallest reservation committed at once (larger: fewer commits, more loss on a crash).
    clock
        Wall clock in Unix seconds (tests pass their own).
    shared
        Other processes serve from the same pool: notice their discards at every take
        (always true on PostgreSQL).
    """

    def __init__(
        self,
        path: str | Path,
        *,
        url: str | None = None,
        freshness_seconds: float = 86400.0,
        reserve_bytes: int = 1 << 16,
        clock: Callable[[], float] = time.time,
        shared: bool = False,
    ) -> None:
        self.path = Path(path)
        self.freshness, self.reserve_bytes, self.clock = freshness_seconds, reserve_bytes, clock
        self._reserved: dict[str, deque[Reserved]] = {}
        self.anchor: PoolAnchor | None = None
        self.recovered = False  # opened by ``--new-pool``: DIRA runs continue at their marks
        self.where = str(self.path) if url is None else redact(url)
        try:
            if url is not None:
                self._db: Database = open_postgres(url, POSTGRES_DDL)
            else:
                self._db = open_sqlite(self.path, SQLITE_DDL, lock=shared, page_size=PAGE_SIZE)
                # zeroing every freed page doubled the I/O of a used-up chunk (module docs)
                self._db.execute("PRAGMA secure_delete = FAST")
        except Exception as err:  # OSError, sqlite3.Error, psycopg.Error, a missing driver
            reason = " ".join(str(err).split())  # libpq's messages span lines
            raise PoolError(
                f"{self.where}: cannot open pool database: {reason}", path=self.where
            ) from err
        self._lock = self._db.lock
        self.shared = shared or self._db.shared_hosts
        self._epoch: str | None = None
        try:
            self._check_schema()
        except PoolError:
            self._db.close()
            raise

    @property
    def database(self) -> Database:
        """The storage backend (its dialect says which)."""
        return self._db

    def _check_schema(self) -> None:
        try:
            self._db.execute(
                "INSERT INTO meta VALUES ('schema', ?) ON CONFLICT (key) DO NOTHING", (str(SCHEMA),)
            )
            row = self._db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
        except self._db.errors as err:
            raise PoolError(f"{self.where}: cannot read the pool schema: {err}") from err
        if row[0] != str(SCHEMA):
            raise PoolError(
                f"{self.where}: pool schema: expected {SCHEMA}, found {row[0]}", path=self.where
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
        db = self._db
        try:
            with db.tx():
                (chunk_id,) = db.execute(
                    "INSERT INTO chunk (tier, created, size, sha256, sources, dira, provenance,"
                    " data) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                    (tier, self.clock(), len(data), digest, json.dumps(list(sources)),
                     json.dumps(list(dira_certificates)), json.dumps(provenance), data),
                ).fetchone()  # fmt: skip
                db.executemany(
                    "INSERT INTO chunk_source VALUES (?, ?)", [(chunk_id, s) for s in sources]
                )
        except db.integrity as err:
            raise PoolError(
                f"tier {tier!r}: a chunk with SHA-256 {digest[:16]}… was stored before: "
                f"sources {list(sources)} repeat their output",
                tier=tier, sources=list(sources),
            ) from err  # fmt: skip
        except db.errors as err:
            raise PoolError(f"{self.where}: cannot store a chunk: {err}", tier=tier) from err
        return int(chunk_id)

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
            if self.shared:
                self._follow_discards()
            queue = self._reserved.setdefault(tier, deque())
            self._drop_stale(queue)
            have = self._held(queue)
            if have < nbytes:
                ahead = min(AHEAD * nbytes, AHEAD_CAP) if nbytes >= LARGE_DRAW else 0
                self._reserve(tier, queue, nbytes - have, max(ahead - have, 0))
            return serve_reserved(queue, tier, nbytes)

    def take_held(self, nbytes: int, tier: str, epoch: str | None = None) -> Draw | None:
        """Like :meth:`take`, but only from memory already reserved: None rather than wait.

        None (nothing consumed) when memory holds fewer than ``nbytes`` fresh bytes or another
        thread holds the pool. A shared pool follows the discard counter as :meth:`take`
        does: ``epoch`` if the caller just read it (``""``: no discard yet), else read here
        on SQLite (a WAL read waits for no writer); on PostgreSQL, None without ``epoch``.
        """
        if nbytes < 1:
            raise PoolError(f"a draw needs at least 1 byte, asked for {nbytes}", tier=tier)
        if self.shared and epoch is None and self._db.dialect != "sqlite":
            return None
        if not self._lock.acquire(blocking=False):
            return None
        try:
            if self.shared:
                self._follow_discards(epoch)
            queue = self._reserved.get(tier)
            if not queue:
                return None
            self._drop_stale(queue)
            return serve_reserved(queue, tier, nbytes) if self._held(queue) >= nbytes else None
        finally:
            self._lock.release()

    def _follow_discards(self, read: str | None = None) -> None:
        """Drop all in-memory reservations if another process discarded since the last look."""
        if read is None:  # not read by the caller (``""``: read, no discard yet)
            try:
                row = self._db.execute("SELECT value FROM meta WHERE key = 'discard_epoch'")
                read = str((row.fetchone() or ("",))[0])
            except self._db.errors as err:
                raise PoolError(f"{self.where}: cannot read the discard counter: {err}") from err
        epoch = read or None
        if epoch != self._epoch:
            if self._epoch is not None or epoch is not None:
                self._reserved.clear()  # lost, never repeated: the discarded source may be in it
            self._epoch = epoch

    def _drop_stale(self, queue: deque[Reserved]) -> None:
        drop_stale(queue, self.clock() - self.freshness)

    def _reserve(self, tier: str, queue: deque[Reserved], need: int, ahead: int = 0) -> None:
        """Commit a reservation of at least ``need`` bytes, then hold them in memory.

        It takes ``max(need, reserve_bytes, ahead)`` bytes where the pool has them.
        """
        want = max(need, self.reserve_bytes, ahead)
        db = self._db
        try:
            with db.tx():  # durable on commit, before any of these bytes leaves the pool
                db.execute("DELETE FROM chunk WHERE created < ?", (self.clock() - self.freshness,))
                plan = self._plan(tier, want, db.for_update)
                total = sum(row[-1] for row in plan)
                if total < need and db.for_update:  # rows other hosts hold: wait for them
                    plan = self._plan(tier, want, " FOR UPDATE")
                    total = sum(row[-1] for row in plan)
                if total < need:
                    raise PoolEmpty(
                        f"tier {tier!r}: {total + self._held(queue)} fresh bytes in the pool, "
                        f"{need + self._held(queue)} requested",
                        tier=tier,
                    )
                fresh = self._claim(plan)
                self._anchored(taken={r.segment.chunk_id: r.segment.offset + len(r.data)
                                      for r in fresh})  # fmt: skip
        except db.errors as err:
            raise PoolError(f"{self.where}: reservation failed: {err}", tier=tier) from err
        queue.extend(fresh)

    def _plan(self, tier: str, want: int, lock: str) -> list[tuple[Any, ...]]:
        """Unserved chunk rows of ``tier``, oldest first, up to ``want`` bytes.

        On PostgreSQL ``lock`` row-locks them: ``FOR UPDATE SKIP LOCKED`` first (rows another
        host is claiming are passed over), ``FOR UPDATE`` when that finds too few (a row is
        re-read once its holder commits: a claimed or deleted row no longer matches).
        """
        plan: list[tuple[Any, ...]] = []
        total, after = 0, -1
        while total < want:
            rows = self._db.execute(
                "SELECT id, size, taken, created, sources, dira, provenance FROM chunk"
                f" WHERE tier = ? AND taken < size AND id > ? ORDER BY id LIMIT {_BATCH}" + lock,
                (tier, after),
            ).fetchall()
            if not rows:
                break
            for row in rows:
                n = min(row[1] - row[2], want - total)
                plan.append((*row, n))
                total += n
                if total >= want:
                    break
            after = rows[-1][0]
        return plan

    _held = staticmethod(held)

    def _claim(self, plan: list[tuple[Any, ...]]) -> list[Reserved]:
        out = []
        db = self._db
        for chunk_id, size, taken, created, sources, dira, provenance, n in plan:
            data = db.read_bytes("chunk", "data", chunk_id, taken, n)
            if data is None or len(data) != n:
                raise PoolError(f"chunk {chunk_id}: stored data shorter than its size {size}")
            if taken + n == size:
                db.execute("DELETE FROM chunk WHERE id = ?", (chunk_id,))
                db.execute("DELETE FROM chunk_source WHERE chunk_id = ?", (chunk_id,))
            else:
                db.execute("UPDATE chunk SET taken = ? WHERE id = ?", (taken + n, chunk_id))
            seg = Segment(int(chunk_id), int(taken), n, float(created),
                          tuple(json.loads(sources)), tuple(json.loads(dira)),
                          provenance)  # fmt: skip
            out.append(Reserved(seg, data))
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
        db = self._db
        with self._lock:
            dropped = 0
            for queue in self._reserved.values():
                keep = [r for r in queue if source not in r.segment.sources]
                dropped += self._held(queue) - self._held(keep)
                queue.clear()
                queue.extend(keep)
            try:
                with db.tx():
                    ids = "SELECT chunk_id FROM chunk_source WHERE source = ?"
                    (stored,) = db.execute(
                        f"SELECT COALESCE(SUM(size - taken), 0) FROM chunk WHERE id IN ({ids})",
                        (source,),
                    ).fetchone()
                    db.execute(f"DELETE FROM chunk WHERE id IN ({ids})", (source,))
                    db.execute(
                        "DELETE FROM chunk_source WHERE chunk_id NOT IN (SELECT id FROM chunk)"
                    )
                    row = db.execute(
                        "SELECT value FROM meta WHERE key = 'discard_epoch'"
                    ).fetchone()
                    self._epoch = str(int(row[0]) + 1 if row else 1)
                    db.execute(UPSERT_META, ("discard_epoch", self._epoch))
                    self._anchored(event=f"discard {source}")
            except db.errors as err:
                raise PoolError(f"{self.where}: cannot discard {source!r}: {err}") from err
        return dropped + int(stored)

    def cursor(self, source: str) -> int | None:
        """The persisted stream position of ``source`` (None if never set)."""
        rows = self._db.query("SELECT position FROM cursor WHERE source = ?", (source,))
        return None if not rows else int(rows[0][0])

    def set_cursor(self, source: str, position: int, reserve_to: int | None = None) -> None:
        """Persist ``source``'s stream position (durable when this returns).

        With an anchor, a position past the anchored floor first moves the floor to
        ``max(position, reserve_to)`` (a raw stream reserves ahead, so few moves are anchored).
        """
        db = self._db
        with self._lock:
            floor = None if self.anchor is None else self.anchor.cursors.get(source)
            upsert = _UPSERT_CURSOR
            try:
                if self.anchor is None or (floor is not None and position <= floor):
                    db.execute(upsert, (source, position, position))
                    return
                with db.tx():
                    db.execute(upsert, (source, position, position))
                    self._anchored(cursors={source: max(position, reserve_to or position)})
            except db.errors as err:
                raise PoolError(f"{self.where}: cannot move cursor {source!r}: {err}") from err

    def cursors(self) -> dict[str, int]:
        """Every persisted stream position."""
        rows = self._db.query("SELECT source, position FROM cursor")
        return {str(name): int(pos) for name, pos in rows}

    def _anchored(self, **change: Any) -> None:
        """Record ``change`` in the anchor (fsynced) and count it; inside a transaction.

        The counter row is read under the transaction's lock (every anchored change of every
        process and host is ordered by it) and must not be behind what this process last
        anchored, nor name another pool: a database restored or replaced while this process
        serves is refused here, before a byte of the reservation is used.
        """
        if self.anchor is None:
            return
        db = self._db
        found = dict(db.execute(
            "SELECT key, value FROM meta WHERE key IN ('anchor_seq', 'pool_id')"
            + (" FOR UPDATE" if db.for_update else "")
        ).fetchall())  # fmt: skip
        current = int(found.get("anchor_seq", 0))
        if found.get("pool_id") != self.anchor.pool_id or current < self.anchor.seq - 1:
            raise PoolError(
                f"{self.where}: the database is pool {found.get('pool_id')} at state {current}, "
                f"but this process anchored pool {self.anchor.pool_id} at state "
                f"{self.anchor.seq}: it was restored or replaced while serving; nothing more is "
                "served from it",
                path=self.where,
            )  # fmt: skip
        try:
            seq = self.anchor.record(after=current, **change)
        except DiampError as err:  # not anchored: the change must not happen
            raise PoolError(f"{self.where}: {err}", path=self.where) from err
        db.execute(UPSERT_META, ("anchor_seq", str(seq)))

    def restore(
        self, pool_id: str, seq: int, cursors: dict[str, int], taken: dict[int, int]
    ) -> None:
        """Set identity and state counter (never moved back), raise cursors and ``taken``."""
        db = self._db
        big, small = db.greatest, db.least
        try:
            with db.tx():
                row = db.execute("SELECT value FROM meta WHERE key = 'anchor_seq'").fetchone()
                seq = max(seq, int(row[0]) if row else 0)
                db.executemany(UPSERT_META, [("pool_id", pool_id), ("anchor_seq", str(seq))])
                db.executemany(
                    "INSERT INTO cursor VALUES (?, ?) ON CONFLICT (source) DO UPDATE SET"
                    f" position = {big('cursor.position', 'excluded.position')}",
                    list(cursors.items()),
                )
                db.executemany(
                    f"UPDATE chunk SET taken = {small('size', big('taken', '?'))} WHERE id = ?",
                    [(t, i) for i, t in taken.items()],
                )
                db.execute("DELETE FROM chunk WHERE taken >= size")
                db.execute("DELETE FROM chunk_source WHERE chunk_id NOT IN (SELECT id FROM chunk)")
        except db.errors as err:
            raise PoolError(f"{self.where}: cannot restore the anchored state: {err}") from err

    def empty(self) -> None:
        """Delete every chunk (``--new-pool`` on a shared database: its ``taken`` is suspect)."""
        db = self._db
        try:
            with db.tx():
                db.execute("DELETE FROM chunk")
                db.execute("DELETE FROM chunk_source")
                db.execute("DELETE FROM meta WHERE key <> 'schema'")
        except db.errors as err:
            raise PoolError(f"{self.where}: cannot empty the pool: {err}") from err

    def meta(self, key: str) -> str | None:
        """A stored metadata value (e.g. the generated extractor seed)."""
        rows = self._db.query("SELECT value FROM meta WHERE key = ?", (key,))
        return None if not rows else str(rows[0][0])

    def set_meta(self, key: str, value: str) -> None:
        """Store a metadata value once (anchored first); a second, different one is refused."""
        db = self._db
        with self._lock:
            old = self.meta(key)
            if old is not None and old != value:
                raise PoolError(f"{self.where}: meta {key!r} is already set", key=key)
            if old is not None:
                return
            try:
                with db.tx():
                    db.execute("INSERT INTO meta VALUES (?, ?)", (key, value))
                    self._anchored(meta={key: hashlib.sha256(value.encode()).hexdigest()})
            except db.errors as err:
                raise PoolError(f"{self.where}: cannot store meta {key!r}: {err}") from err
