"""Nonces and rate limits shared by every process and host serving one pool.

One ``diamp serve`` process keeps its nonce cache and its clients' token buckets in memory
(:class:`diamp.service.auth.Verifier`, :class:`diamp.service.core.RateLimiter`): nothing is
cheaper. Several processes (``--workers N``) or several hosts (``[pool] url``) must share
them, or a request replayed to another process would be accepted and a client could spend
its rate once per process. They are then kept in a :class:`~diamp.service.storage.Database`:

* SQLite: ``POOL.requests.sqlite`` beside the pool database (WAL, ``synchronous = NORMAL``:
  a commit survives a process crash; losing the last commits to a power cut reopens nothing,
  since a restarted server refuses requests signed before it started);
* PostgreSQL: two tables in the pool's database.

A nonce is accepted once: ``INSERT … ON CONFLICT DO NOTHING`` inserts it or finds it, in one
statement that the database serialises. A token bucket is read with a row lock (SQLite's write
lock, PostgreSQL's row lock), refilled by the wall-clock time since its last update, checked,
spent and written back in one ``INSERT … ON CONFLICT DO UPDATE`` statement. Expired nonces
are deleted every few seconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

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
        return open_sqlite(
            requests_path(pool_path), _DDL.format(real="REAL"), durable=False, lock=True
        )
    except Exception as err:  # OSError, sqlite3.Error, psycopg.Error
        raise PoolError(f"cannot open the shared nonce and rate-limit tables: {err}") from err


class SharedNonces:
    """The nonce cache in a database: each (keyid, nonce) is accepted once, by any process."""

    def __init__(self, db: Database, clock: Callable[[], float] = time.time) -> None:
        self.db, self.clock = db, clock
        self._swept = 0.0

    def remember(self, keyid: str, nonce: str, expires: float) -> None:
        """Record a nonce until ``expires`` (Unix seconds).

        Raises
        ------
        AuthError
            ``replayed`` if any process recorded it before; ``busy`` if the database fails.
        """
        now = self.clock()
        db = self.db
        try:
            with db.tx():
                if now - self._swept > _SWEEP_SECONDS:
                    self._swept = now
                    db.execute("DELETE FROM nonce WHERE expires < ?", (now,))
                added = db.execute(
                    "INSERT INTO nonce VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                    (keyid, nonce, expires),
                ).rowcount
        except db.errors as err:
            raise AuthError(f"nonce cache unavailable ({err}); retry later", reason="busy") from err
        if added != 1:
            raise AuthError("nonce already used (replayed request)", reason="replay")


class SharedBuckets:
    """Per-client token buckets in a database (refilled by wall-clock time).

    ``sweep``: a client-id prefix (``"public "``: one bucket per address) whose buckets are
    deleted every few seconds once they have refilled completely (a full bucket is what a
    new client gets), so the table does not grow with every address ever seen.
    """

    def __init__(
        self, db: Database, rps: float, burst: int, bps: float, burst_bytes: int,
        clock: Callable[[], float] = time.time, sweep: str | None = None,
    ) -> None:  # fmt: skip
        self.db, self.clock = db, clock
        self.rps, self.burst, self.bps, self.burst_bytes = rps, burst, bps, burst_bytes
        self.sweep, self._swept = sweep, 0.0
        self._refill = max(burst / rps, burst_bytes / bps)

    def admit(self, client: str, nbytes: int) -> float:
        """0 if the request may go ahead (tokens spent), else seconds to wait.

        One statement: the database's row lock makes refill, check and spend atomic. A
        database failure raises :class:`~diamp.service.errors.PoolError` (the request is
        answered 503, not 429: no rate was decided).
        """
        db = self.db
        now = self.clock()
        ok = nbytes <= self.burst_bytes
        first = (client, self.burst - ok, self.burst_bytes - nbytes * ok, now, int(ok))
        g, least = db.greatest, db.least
        dt = g("? - b.stamp", "0.0")
        requests = least("?", f"b.requests + {dt} * ?")
        left = least("?", f"b.nbytes + {dt} * ?")
        granted = f"CASE WHEN {requests} >= 1 AND {left} >= ? THEN 1 ELSE 0 END"
        rargs, largs = (self.burst, now, self.rps), (self.burst_bytes, now, self.bps)
        try:
            with db.tx():
                if self.sweep is not None and now - self._swept > _SWEEP_SECONDS:
                    self._swept = now
                    db.execute(
                        "DELETE FROM bucket WHERE client LIKE ? AND stamp < ?",
                        (self.sweep + "%", now - self._refill),
                    )
                row = db.execute(
                    "INSERT INTO bucket AS b VALUES (?, ?, ?, ?, ?) ON CONFLICT (client) DO UPDATE"
                    f" SET requests = {requests} - {granted}, nbytes = {left} - ? * {granted},"
                    f" stamp = {g('?', 'b.stamp')}, granted = {granted}"
                    " RETURNING granted, requests, nbytes",
                    (*first, *rargs, *rargs, *largs, nbytes,  # requests
                     *largs, nbytes, *rargs, *largs, nbytes,  # nbytes
                     now, *rargs, *largs, nbytes),  # stamp, granted
                ).fetchone()  # fmt: skip
        except db.errors as err:  # not a rate decision: the request is answered 503
            raise PoolError(f"{db.where}: rate-limit state unavailable: {err}") from err
        if row[0]:
            return 0.0
        return max((1 - float(row[1])) / self.rps, (nbytes - float(row[2])) / self.bps, 0.001)
