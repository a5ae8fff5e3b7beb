"""One storage interface, two backends: SQLite (embedded, the default) and PostgreSQL.

The pool (:mod:`diamp.service.pool`), the shared nonce cache and rate limits
(:mod:`diamp.service.shared`) and the beacon's pulses are kept in a :class:`Database`: a
connection shared by a process's threads under one lock, with transactions that are
serialised against every other process and host using the same database:

* **SQLite** (``[pool] path``): write-ahead log, ``BEGIN IMMEDIATE`` takes the database's
  write lock for the whole transaction, so several processes on one host serialise;
  ``synchronous = FULL`` where a commit must survive a power cut (the pool, the pulses).
  Shared by several processes (``lock``), writers first take an exclusive ``flock`` on
  ``FILE.lock``: a process waiting for another
  sleeps in the kernel and wakes when the lock is released, instead of SQLite's busy handler
  polling in steps of up to 100 ms (which made two processes slower than one).
* **PostgreSQL** (``[pool] url = "postgresql://…"``): transactions at READ COMMITTED with
  explicit row locks: a reservation claims chunk rows with ``SELECT … FOR UPDATE SKIP
  LOCKED`` (two hosts never claim the same row; a row one host holds is skipped, not waited
  for) and every anchored change increments one counter row, so anchored changes of all
  hosts are totally ordered. Commits are durable when they return (PostgreSQL's default
  ``synchronous_commit = on``).

Statements are written once with ``?`` placeholders and portable SQL (``ON CONFLICT``,
``RETURNING``); :meth:`Database.greatest` and :meth:`Database.least` name the two functions
whose spelling differs, :attr:`Database.for_update` the row-lock clause.
"""

from __future__ import annotations

import fcntl
import os
import re
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

__all__ = ["Cursor", "Database", "is_postgres_url", "open_postgres", "open_sqlite", "redact"]

_URL = re.compile(r"^postgres(ql)?://[^\s]+$")


def is_postgres_url(text: str) -> bool:
    """True for a ``postgresql://`` (or ``postgres://``) connection URL."""
    return bool(_URL.match(text))


class Cursor(Protocol):
    """What a statement returns (the DB-API subset the stores use)."""

    @property
    def rowcount(self) -> int: ...  # noqa: D102

    def fetchone(self) -> Any: ...  # noqa: D102

    def fetchall(self) -> list[Any]: ...  # noqa: D102


class Database:
    """A connection, its dialect and its lock (see the module docs).

    Use :meth:`tx` for a transaction and :meth:`query` for one statement outside one; both
    hold :attr:`lock` (re-entrant, so a store may hold it around several calls).
    """

    dialect = "sqlite"
    shared_hosts = False  # PostgreSQL: other hosts may use the same database
    for_update = ""
    errors: tuple[type[BaseException], ...] = (sqlite3.Error,)
    integrity: tuple[type[BaseException], ...] = (sqlite3.IntegrityError,)

    def __init__(self, conn: Any, where: str, lock_fd: int = -1) -> None:
        self._conn, self.where, self._lock_fd = conn, where, lock_fd
        self.lock = threading.RLock()

    def _sql(self, sql: str) -> str:
        return sql

    def execute(self, sql: str, args: Sequence[Any] = ()) -> Cursor:
        """Run one statement (inside :meth:`tx`, or as its own autocommit transaction)."""
        cursor: Cursor = self._conn.execute(self._sql(sql), tuple(args))
        return cursor

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run one statement for every row of ``rows``."""
        if rows:
            self._conn.executemany(self._sql(sql), [tuple(r) for r in rows])

    def read_bytes(self, table: str, column: str, row: int, offset: int, size: int) -> bytes | None:
        """Bytes ``offset`` to ``offset + size`` of the blob in ``column`` of row ``row``.

        None if there is no such row or no blob in it; fewer bytes where the blob ends
        sooner. SQLite reads only those bytes (incremental blob I/O): ``substr`` on a blob
        loads the whole value first, four times slower for a whole 1 MiB chunk and 16 times
        the reading for 64 KiB of one. ``table`` and ``column`` are the caller's constants.
        """
        try:
            blob = self._conn.blobopen(table, column, row, readonly=True)
        except sqlite3.OperationalError as err:
            if err.sqlite_errorcode != sqlite3.SQLITE_ERROR:  # I/O, lock, …: not a value's fault
                raise
            return None  # no such row, or a NULL or non-blob value
        with blob:
            if offset > len(blob):
                return b""
            blob.seek(offset)
            data: bytes = blob.read(size)
            return data

    def query(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        """Every row of one statement, under the lock."""
        with self.lock:
            return self.execute(sql, args).fetchall()

    @contextmanager
    def tx(self) -> Iterator[Database]:
        """A write transaction: committed on exit, rolled back on any exception."""
        with self.lock:
            if self._lock_fd >= 0:
                fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    yield self
                except BaseException:
                    if self._conn.in_transaction:
                        self._conn.execute("ROLLBACK")
                    raise
                self._conn.execute("COMMIT")
            finally:
                if self._lock_fd >= 0:
                    fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    @property
    def broken(self) -> bool:
        """True when the connection is lost for good (PostgreSQL: reopen it)."""
        return False

    def greatest(self, a: str, b: str) -> str:
        """SQL for the larger of two values."""
        return f"MAX({a}, {b})"

    def least(self, a: str, b: str) -> str:
        """SQL for the smaller of two values."""
        return f"MIN({a}, {b})"

    def close(self) -> None:
        """Close the connection."""
        with self.lock:
            self._conn.close()
            if self._lock_fd >= 0:
                os.close(self._lock_fd)
                self._lock_fd = -1


def open_sqlite(
    path: Path, schema: str, *, durable: bool = True, lock: bool = False, timeout_s: float = 30.0,
    page_size: int | None = None,
) -> Database:  # fmt: skip
    """A SQLite database in WAL mode (``synchronous = FULL`` when ``durable``, else OFF).

    ``page_size``: the page size of a database created here (an existing file keeps its own).

    Not ``durable``: a commit survives the process (it is in the kernel's page cache when
    ``COMMIT`` returns) but not an OS crash or power cut, which may also corrupt the file;
    only for state that every process started afterwards can do without (the shared nonces
    and token buckets, :mod:`diamp.service.shared`). ``lock``: other processes write to it
    too; serialise writers on ``FILE.lock``.

    Raises ``OSError`` or ``sqlite3.Error``; each store turns them into its own error.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    lock_fd = -1
    if lock:
        lock_fd = os.open(path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False,
                               timeout=timeout_s)  # fmt: skip
    except sqlite3.Error:
        if lock_fd >= 0:
            os.close(lock_fd)
        raise
    try:
        if page_size is not None:  # before WAL mode: a WAL database keeps its page size
            conn.execute(f"PRAGMA page_size = {int(page_size)}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute(f"PRAGMA synchronous = {'FULL' if durable else 'OFF'}")
        conn.executescript(schema)
    except sqlite3.Error:
        conn.close()
        if lock_fd >= 0:
            os.close(lock_fd)
        raise
    return Database(conn, str(path), lock_fd)


class _Postgres(Database):
    dialect = "postgresql"
    shared_hosts = True
    for_update = " FOR UPDATE SKIP LOCKED"

    def __init__(self, conn: Any, where: str, errors: Any) -> None:
        super().__init__(conn, where)
        self.errors, self.integrity = (errors.Error,), (errors.IntegrityError,)

    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s")

    def read_bytes(self, table: str, column: str, row: int, offset: int, size: int) -> bytes | None:
        """:meth:`Database.read_bytes`, with ``substr`` (PostgreSQL slices the value itself)."""
        found = self.execute(
            f"SELECT substr({column}, CAST(? AS INTEGER), CAST(? AS INTEGER)) FROM {table}"
            " WHERE id = ?",
            (offset + 1, size, row),
        ).fetchone()
        return None if found is None or found[0] is None else bytes(found[0])

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run one statement for every row of ``rows``."""
        if rows:
            with self._conn.cursor() as cur:
                cur.executemany(self._sql(sql), [tuple(r) for r in rows])

    @contextmanager
    def tx(self) -> Iterator[Database]:
        """A write transaction: committed on exit, rolled back on any exception."""
        with self.lock, self._conn.transaction():
            yield self

    @property
    def broken(self) -> bool:
        """True when the connection is lost for good (PostgreSQL: reopen it)."""
        return bool(self._conn.broken or self._conn.closed)

    def greatest(self, a: str, b: str) -> str:
        """SQL for the larger of two values."""
        return f"GREATEST({a}, {b})"

    def least(self, a: str, b: str) -> str:
        """SQL for the smaller of two values."""
        return f"LEAST({a}, {b})"


def redact(url: str) -> str:
    """``url`` without its password (for messages and logs)."""
    return re.sub(r"(://[^:/@]*):[^@/]*@", r"\1:***@", url)


def open_postgres(url: str, schema: str, *, lock_key: int = 0x6469616D70) -> Database:
    """A PostgreSQL database at ``url`` (autocommit outside :meth:`Database.tx`), schema made.

    The schema is created under a transaction-level advisory lock so that hosts starting
    together do not race on ``CREATE TABLE IF NOT EXISTS``.

    Raises
    ------
    ImportError
        If psycopg is not installed (``pip install 'diamp[postgres]'``).
    psycopg.Error
        If the server cannot be reached or the schema cannot be created.
    """
    import psycopg

    conn = psycopg.connect(url, autocommit=True, connect_timeout=10)
    try:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (lock_key,))
            for statement in (s.strip() for s in schema.split(";")):
                if statement:
                    conn.execute(statement.encode())
    except BaseException:
        conn.close()
        raise
    return _Postgres(conn, redact(url), psycopg)
