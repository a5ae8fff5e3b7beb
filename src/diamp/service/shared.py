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
lock, PostgreSQL's ``FOR UPDATE``), refilled by the wall-clock time since its last update,
spent and written back in one transaction. Expired nonces are deleted every few seconds.
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
    stamp {real} NOT NULL);
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
        return open_sqlite(requests_path(pool_path), _DDL.format(real="REAL"), durable=False)
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
            with db.lock:
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
            raise AuthError("nonce already used (replayed request)", reason="replayed")


class SharedBuckets:
    """Per-client token buckets in a database (refilled by wall-clock time)."""

    def __init__(
        self, db: Database, rps: float, burst: int, bps: float, burst_bytes: int,
        clock: Callable[[], float] = time.time,
    ) -> None:  # fmt: skip
        self.db, self.clock = db, clock
        self.rps, self.burst, self.bps, self.burst_bytes = rps, burst, bps, burst_bytes

    def admit(self, client: str, nbytes: int) -> float:
        """0 if the request may go ahead (tokens spent), else seconds to wait.

        A database failure answers as a full bucket would not: wait a second.
        """
        db = self.db
        lock = " FOR UPDATE" if db.shared_hosts else ""
        try:
            with db.tx():
                now = self.clock()
                db.execute(
                    "INSERT INTO bucket VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                    (client, float(self.burst), float(self.burst_bytes), now),
                )
                requests, nbytes_left, stamp = db.execute(
                    "SELECT requests, nbytes, stamp FROM bucket WHERE client = ?" + lock,
                    (client,),
                ).fetchone()
                dt = max(now - stamp, 0.0)
                requests = min(self.burst, requests + dt * self.rps)
                nbytes_left = min(self.burst_bytes, nbytes_left + dt * self.bps)
                wait = 0.0
                if requests >= 1 and nbytes_left >= nbytes:
                    requests, nbytes_left = requests - 1, nbytes_left - nbytes
                else:
                    wait = max((1 - requests) / self.rps, (nbytes - nbytes_left) / self.bps, 0.001)
                db.execute(
                    "UPDATE bucket SET requests = ?, nbytes = ?, stamp = ? WHERE client = ?",
                    (requests, nbytes_left, max(now, stamp), client),
                )
        except db.errors:
            return 1.0
        return wait
