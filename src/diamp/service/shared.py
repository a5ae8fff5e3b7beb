"""Nonces and rate limits shared by every process and host serving one pool.

One ``diamp serve`` process keeps its nonce cache and its clients' token buckets in memory
(:class:`diamp.service.auth.Verifier`, :class:`diamp.service.core.RateLimiter`): nothing is
cheaper. Several processes (``--workers N``) or several hosts (``[pool] url``) must share
them, or a request replayed to another process would be accepted and a client could spend
its rate once per process. They are then kept in a :class:`~diamp.service.storage.Database`:

* SQLite: ``POOL.requests.sqlite`` beside the pool database, in WAL mode with
  ``synchronous = OFF`` (see below), writers serialised on ``POOL.requests.sqlite.lock``;
* PostgreSQL: two tables in the pool's database, durable as PostgreSQL commits are (hosts
  do not restart when the database server does, so their nonces must survive it).

A nonce is accepted once: ``INSERT … ON CONFLICT DO NOTHING`` inserts it or finds it, in one
statement that the database serialises. A token bucket is read with a row lock (SQLite's write
lock, PostgreSQL's row lock), refilled by the wall-clock time since its last update, checked,
spent and written back in one ``INSERT … ON CONFLICT DO UPDATE`` statement. A signed request
costs one transaction for both (:meth:`SharedBuckets.admit_request`): the nonce first (a
replay is refused and spends nothing), then the bucket; on PostgreSQL both, and the pool's
discard counter, are one statement, so one round trip. Expired nonces are deleted every few
seconds.

**Why the SQLite file need not survive an OS crash.** ``synchronous = OFF``: a commit is in
the kernel's page cache when it returns, so it survives the crash of any process, but an OS
crash or power cut may lose the last commits or corrupt the file. Neither reopens a replay:

* every process using the file runs on this host, so an OS crash stops all of them, and
  each restarted process refuses every request signed (``created``) before it started
  (:class:`~diamp.service.auth.Verifier`; the workers of ``--workers N`` take the first
  process's start), and the replay window (at most 300 s) bounds the rest: any nonce the
  crash may have lost belongs to a request that no restarted process accepts;
* lost buckets are full buckets: after the restart a client has its burst again, as after
  a restart of a single process (whose buckets live in memory);
* a file left corrupt is refused at the next start with a message (delete it while no
  server runs: nothing in it is needed any more), never served from.

The pool and the beacon's pulses keep ``synchronous = FULL``: they promise something across
crashes (no byte served twice, no pulse index issued twice).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from diamp.service.auth import Accepted
from diamp.service.errors import AuthError, PoolError
from diamp.service.storage import Database, open_postgres, open_sqlite

__all__ = ["SharedBuckets", "SharedNonces", "open_shared", "requests_path"]

_DDL = """
CREATE TABLE IF NOT EXISTS nonce (
    keyid TEXT NOT NULL, nonce TEXT NOT NULL, expires {real} NOT NULL,
    PRIMARY KEY (keyid, nonce));
CREATE INDEX IF NOT EXISTS nonce_expires ON nonce (expires);
CREATE TABLE IF NOT EXISTS bucket (
    client TEXT PRIMARY KEY, requests {real} NOT NULL, nbytes {real} NOT NULL,
    stamp {real} NOT NULL, granted INTEGER NOT NULL);
"""
_SWEEP_SECONDS = 5.0


def requests_path(pool_path: Path) -> Path:
    """The SQLite file of the shared nonces and buckets beside the pool database."""
    return pool_path.with_name(pool_path.stem + ".requests.sqlite")


def open_shared(pool_path: Path, url: str | None) -> Database:
    """The database of the shared nonces and buckets (SQLite beside the pool, or ``url``).

    Raises
    ------
    PoolError
        If it cannot be opened.
    """
    try:
        if url is not None:
            return open_postgres(url, _DDL.format(real="DOUBLE PRECISION"))
        path = requests_path(pool_path)
        try:
            return open_sqlite(path, _DDL.format(real="REAL"), durable=False, lock=True)
        except sqlite3.DatabaseError as err:
            raise PoolError(
                f"{path}: cannot open the shared nonce and rate-limit tables ({err}); it "
                "may be left corrupt by an OS crash: delete it while no server runs (nothing "
                "in it is needed by a server started afterwards)",
                path=str(path),
            ) from err
    except PoolError:
        raise
    except Exception as err:  # OSError, sqlite3.Error, psycopg.Error
        raise PoolError(f"cannot open the shared nonce and rate-limit tables: {err}") from err


class SharedNonces:
    """The nonce cache in a database: each (keyid, nonce) is accepted once, by any process."""

    def __init__(self, db: Database, clock: Callable[[], float] = time.time) -> None:
        self.db, self.clock = db, clock
        self._swept = 0.0

    def remember(self, keyid: str, nonce: str, expires: float) -> None:
        """Record a nonce until ``expires`` (Unix seconds), in its own transaction.

        Raises
        ------
        AuthError
            ``replayed`` if any process recorded it before; ``busy`` if the database fails.
        """
        db = self.db
        try:
            with db.tx():
                self.insert(keyid, nonce, expires, self.clock())
        except db.errors as err:
            raise AuthError(f"nonce cache unavailable ({err}); retry later", reason="busy") from err

    def insert(self, keyid: str, nonce: str, expires: float, now: float) -> None:
        """Record a nonce inside the caller's transaction (expired ones deleted now and then).

        Raises ``AuthError`` ``replay`` if it was recorded before (roll the transaction back).
        """
        db = self.db
        if now - self._swept > _SWEEP_SECONDS:
            self._swept = now
            db.execute("DELETE FROM nonce WHERE expires < ?", (now,))
        if db.execute(_INSERT_NONCE, (keyid, nonce, expires)).rowcount != 1:
            raise AuthError("nonce already used (replayed request)", reason="replay")

    def sweep(self, now: float) -> None:
        """Delete expired nonces if it is time to (outside a transaction, PostgreSQL)."""
        if now - self._swept > _SWEEP_SECONDS:
            self._swept = now
            self.db.execute("DELETE FROM nonce WHERE expires < ?", (now,))


class SharedBuckets:
    """Per-client token buckets in a database (refilled by wall-clock time).

    ``sweep``: a client-id prefix (``"public "``: one bucket per address) whose buckets are
    deleted every few seconds once they have refilled completely (a full bucket is what a
    new client gets), so the table does not grow with every address ever seen.
    ``nonces``: the nonce store :meth:`admit` records a checked request's nonce in, in the
    same transaction. ``epoch``: on PostgreSQL, :meth:`admit` also returns the pool's discard
    counter (``meta.discard_epoch``, same database), so a request costs one round trip.
    """

    def __init__(
        self, db: Database, rps: float, burst: int, bps: float, burst_bytes: int,
        clock: Callable[[], float] = time.time, sweep: str | None = None,
        nonces: SharedNonces | None = None, epoch: bool = False,
    ) -> None:  # fmt: skip
        self.db, self.clock, self.nonces = db, clock, nonces
        self.rps, self.burst, self.bps, self.burst_bytes = rps, burst, bps, burst_bytes
        self.sweep, self._swept = sweep, 0.0
        self._refill = max(burst / rps, burst_bytes / bps)
        self._upsert = _upsert_sql(db)
        self._single = _single_sql(db, epoch) if db.dialect == "postgresql" else ""
        self.epoch = epoch and db.dialect == "postgresql"

    def admit(self, client: str, nbytes: int, nonce: Accepted | None = None) -> float:
        """0 if the request may go ahead (tokens spent), else seconds to wait.

        See :meth:`admit_request` (which also says the pool's discard counter).
        """
        return self.admit_request(client, nbytes, nonce)[0]

    def admit_request(
        self, client: str, nbytes: int, nonce: Accepted | None = None
    ) -> tuple[float, str | None]:
        """(seconds to wait, 0 if admitted; the discard counter, or None if not read).

        One transaction: ``nonce`` (a request :meth:`diamp.service.auth.Verifier.check`
        accepted) is recorded first, if given, and a replay spends nothing; then the bucket
        is refilled, checked and spent in one statement, under the database's row lock. On
        PostgreSQL the whole is one statement (one round trip).

        Raises
        ------
        AuthError
            ``replay`` if ``nonce`` was recorded before, by any process or host.
        PoolError
            If the database fails (the request is answered 503, not 429: no rate was decided).
        """
        db = self.db
        now = self.clock()
        ok = nbytes <= self.burst_bytes
        args = (client, self.burst - ok, self.burst_bytes - nbytes * ok, now, int(ok),
                *_bucket_args(self, now, nbytes))  # fmt: skip
        if nonce is not None and self.nonces is None:
            raise PoolError("a nonce to record, but no shared nonce store")  # a wiring error
        try:
            if self._single:
                return self._admit_postgres(now, args, nonce, nbytes)
            with db.tx():
                self._sweep(now)
                if nonce is not None and self.nonces is not None:
                    self.nonces.insert(*nonce, now)
                row = db.execute(self._upsert, args).fetchone()
        except db.errors as err:  # not a rate decision: the request is answered 503
            raise PoolError(f"{db.where}: rate-limit state unavailable: {err}") from err
        return self._wait(row, nbytes), None

    def _admit_postgres(
        self, now: float, args: tuple[Any, ...], nonce: Accepted | None, nbytes: int
    ) -> tuple[float, str | None]:
        """One statement (nonce, bucket, counter); sweeps, when due, before it."""
        self._sweep(now)
        if nonce is not None and self.nonces is not None:
            self.nonces.sweep(now)
        none = nonce is None
        full = (*(nonce or ("", "", 0.0)), none, *args[:5], none, *args[5:])
        with self.db.lock:
            row = self.db.execute(self._single, full).fetchone()
        if row is None:
            raise AuthError("nonce already used (replayed request)", reason="replay")
        return self._wait(row, nbytes), (None if row[3] is None else str(row[3]))

    def _sweep(self, now: float) -> None:
        if self.sweep is not None and now - self._swept > _SWEEP_SECONDS:
            self._swept = now
            self.db.execute(
                "DELETE FROM bucket WHERE client LIKE ? AND stamp < ?",
                (self.sweep + "%", now - self._refill),
            )

    def _wait(self, row: Any, nbytes: int) -> float:
        if row[0]:
            return 0.0
        return max((1 - float(row[1])) / self.rps, (nbytes - float(row[2])) / self.bps, 0.001)


_INSERT_NONCE = "INSERT INTO nonce VALUES (?, ?, ?) ON CONFLICT DO NOTHING"


def _bucket_sql(db: Database) -> str:
    """The bucket upsert's ``VALUES``-less tail: refill, check, spend (arguments: _bucket_args)."""
    g, least = db.greatest, db.least
    dt = g("? - b.stamp", "0.0")
    requests = least("?", f"b.requests + {dt} * ?")
    left = least("?", f"b.nbytes + {dt} * ?")
    granted = f"CASE WHEN {requests} >= 1 AND {left} >= ? THEN 1 ELSE 0 END"
    return (
        f" ON CONFLICT (client) DO UPDATE SET requests = {requests} - {granted},"
        f" nbytes = {left} - ? * {granted}, stamp = {g('?', 'b.stamp')}, granted = {granted}"
        " RETURNING granted, requests, nbytes"
    )


def _bucket_args(b: SharedBuckets, now: float, nbytes: int) -> tuple[Any, ...]:
    rargs, largs = (b.burst, now, b.rps), (b.burst_bytes, now, b.bps)
    return (*rargs, *rargs, *largs, nbytes,  # requests
            *largs, nbytes, *rargs, *largs, nbytes,  # nbytes
            now, *rargs, *largs, nbytes)  # stamp, granted  # fmt: skip


def _upsert_sql(db: Database) -> str:
    return "INSERT INTO bucket AS b VALUES (?, ?, ?, ?, ?)" + _bucket_sql(db)


def _single_sql(db: Database, epoch: bool) -> str:
    """PostgreSQL: nonce insert, bucket upsert and (``epoch``) the discard counter at once.

    The bucket row is written only if the nonce row was (``WHERE EXISTS``): a replay
    returns no row and spends nothing. Arguments: keyid, nonce, expires, "no nonce", then
    :func:`_upsert_sql`'s.
    """
    counter = "NULL"
    if epoch:
        counter = "COALESCE((SELECT value FROM meta WHERE key = 'discard_epoch'), '')"
    return (
        "WITH n AS (INSERT INTO nonce SELECT ?, ?, ? WHERE NOT ? ON CONFLICT DO NOTHING"
        " RETURNING 1) INSERT INTO bucket AS b SELECT ?, ?, ?, ?, ?"
        " WHERE ? OR EXISTS (SELECT 1 FROM n)" + _bucket_sql(db) + f", {counter}"
    )
