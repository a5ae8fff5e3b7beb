"""The pulse store: pulses are persisted before they are published (SQLite or PostgreSQL).

Invariants
----------
- A (chain, pulse) index is written once. Writing it again with the same JSON is a no-op
  (a restart republishing a persisted pulse); with different JSON it raises
  :class:`BeaconStoreError` and nothing changes. The primary key enforces this across
  processes and hosts too: of two writers racing for one index, one fails.
- A pulse and the commitment to the next pulse's ``localRandomValue`` are written in one
  transaction, so a crash never leaves a precommitment without its value.
- A commitment keeps the value's provenance with it (DIRA certificates and the sources that
  are simulated or of unknown provenance), so the pulse that reveals the value after a
  restart carries the same ``external`` block. A commitment stored before diamp recorded
  simulated sources reads as of unknown provenance, never as hardware.
- ``published`` is set only after the pulse is durable (SQLite ``synchronous=FULL``;
  PostgreSQL commits are durable when they return); after a crash
  :meth:`PulseStore.unpublished` returns the pulse persisted but not yet published, byte for
  byte, and the engine publishes it unchanged.

Backends
--------
``PulseStore(path)`` keeps the pulses in a SQLite file (the default, ``[beacon] state_db``);
:meth:`PulseStore.postgres` in the PostgreSQL database of a pool several hosts share
(``[pool] url``), beside the pool's tables. There, exactly one host runs the beacon's clock:
the one holding the store's *leader lock* (:meth:`PulseStore.lead`, a PostgreSQL session
advisory lock on the store's own connection). The others serve the pulses it writes and
take over when its connection ends (the host died, or its beacon stopped on an error and
resigned), continuing the chain from the store. Because the lock lives on the connection
that writes, a leader that lost it can no longer write either.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from diamp.service.beacon.errors import BeaconStoreError
from diamp.service.beacon.pulse import Pulse
from diamp.service.storage import Database, open_postgres, open_sqlite, redact

__all__ = ["LEADER_LOCK", "ChainInfo", "PulseStore"]

_DDL = """
CREATE TABLE IF NOT EXISTS chains (
    chain_index {int} PRIMARY KEY, certificate_id TEXT NOT NULL, format TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS pulses (
    chain_index {int} NOT NULL, pulse_index {int} NOT NULL, time_ms {int} NOT NULL,
    json TEXT NOT NULL, published INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (chain_index, pulse_index));
CREATE INDEX IF NOT EXISTS pulses_time ON pulses (time_ms);
CREATE TABLE IF NOT EXISTS commitments (
    chain_index {int} NOT NULL, pulse_index {int} NOT NULL, value {blob} NOT NULL,
    dira TEXT NOT NULL, PRIMARY KEY (chain_index, pulse_index));
CREATE TABLE IF NOT EXISTS certificates (id TEXT PRIMARY KEY, pem {blob} NOT NULL);
"""
LEADER_LOCK = int.from_bytes(b"dbeacon", "big")
"""The PostgreSQL advisory lock key held by the host that runs the beacon's clock."""


@dataclass(frozen=True)
class ChainInfo:
    """A chain: its index, the signing certificate and the format (version, period, uri)."""

    chain_index: int
    certificate_id: str
    format: str


# A commitment stored before simulated sources were recorded (its ``dira`` column a list).
UNRECORDED: Mapping[str, Any] = {"source": "(not recorded)", "kind": "unknown", "simulated": None}


@dataclass(frozen=True)
class Commitment:
    """The committed ``localRandomValue`` of a future pulse and its provenance."""

    chain_index: int
    pulse_index: int
    value: bytes
    dira_certificates: tuple[str, ...]
    simulated_sources: tuple[Mapping[str, Any], ...] = ()


class PulseStore:
    """Pulses, chains, commitments and certificates in one database (thread-safe).

    ``PulseStore(path)`` opens (creating) the SQLite file ``path``; :meth:`postgres` opens
    the store in a PostgreSQL database.
    """

    def __init__(self, path: Path | None = None, *, db: Database | None = None) -> None:
        if db is None:
            if path is None:
                raise TypeError("PulseStore needs a path or a database")
            try:
                db = open_sqlite(path, _DDL.format(int="INTEGER", blob="BLOB"))
            except Exception as err:  # OSError, sqlite3.Error
                raise BeaconStoreError(
                    f"{path}: cannot open pulse store: {err}", path=str(path)
                ) from err
        self._db = db
        self.path: Path | str = path if path is not None else db.where
        self.leading = False
        self._url: str | None = None

    @classmethod
    def postgres(cls, url: str) -> PulseStore:
        """The store in the PostgreSQL database at ``url`` (tables made if missing)."""
        try:
            db = open_postgres(url, _DDL.format(int="BIGINT", blob="BYTEA"))
        except ImportError as err:
            raise BeaconStoreError(
                "a PostgreSQL pulse store needs psycopg: pip install 'diamp[postgres]'"
            ) from err
        except Exception as err:  # psycopg.Error, OSError
            where = redact(url)
            raise BeaconStoreError(f"{where}: cannot open pulse store: {err}", path=where) from err
        store = cls(db=db)
        store._url = url
        return store

    def heal(self) -> None:
        """Reopen a PostgreSQL connection that broke (the server restarted, the network)."""
        if self._url is None or not self._db.broken:
            return
        old, self.leading = self._db, False  # the lock went with the connection
        self._db = PulseStore.postgres(self._url)._db
        try:
            old.close()
        except old.errors:
            pass

    @property
    def shared_hosts(self) -> bool:
        """True when other hosts may use this store (PostgreSQL): only the leader writes."""
        return self._db.shared_hosts

    def lead(self) -> bool:
        """Try to become the host that runs the beacon's clock; True if this store leads.

        Always True for SQLite (one host). On PostgreSQL a session advisory lock on this
        store's connection: held until :meth:`resign` or until the connection ends.
        """
        if not self._db.shared_hosts or self.leading:
            self.leading = True
            return True
        rows = self._rows("SELECT pg_try_advisory_lock(?)", LEADER_LOCK)
        self.leading = bool(rows[0][0])
        return self.leading

    def resign(self) -> None:
        """Give up the leader lock (another host may take over); no-op for SQLite."""
        if self._db.shared_hosts and self.leading:
            self.leading = False
            try:
                self._rows("SELECT pg_advisory_unlock(?)", LEADER_LOCK)
            except BeaconStoreError:
                pass  # the connection is gone, and the lock with it

    def close(self) -> None:
        """Close the database (and with it any leader lock)."""
        self.leading = False
        try:
            self._db.close()
        except self._db.errors:
            pass

    def _fail(self, err: BaseException) -> NoReturn:
        where = str(self.path)
        raise BeaconStoreError(f"{where}: {err}", path=where) from err

    @contextmanager
    def _tx(self) -> Iterator[Database]:
        try:
            with self._db.tx() as db:
                yield db
        except self._db.integrity as err:  # another host wrote the same index first
            where = str(self.path)
            raise BeaconStoreError(
                f"{where}: another beacon wrote the same index at the same time ({err}); "
                "a pulse index is never issued twice",
                path=where,
            ) from err
        except self._db.errors as err:
            self._fail(err)

    def _rows(self, sql: str, *args: object) -> list[tuple[Any, ...]]:
        try:
            return [tuple(r) for r in self._db.query(sql, args)]
        except self._db.errors as err:
            self._fail(err)

    # chains and certificates
    def last_chain(self) -> ChainInfo | None:
        """The newest chain, if any."""
        rows = self._rows(
            "SELECT chain_index, certificate_id, format FROM chains "
            "ORDER BY chain_index DESC LIMIT 1"
        )
        return ChainInfo(*rows[0]) if rows else None

    def new_chain(self, certificate_id: str, fmt: str, after: int = 0) -> ChainInfo:
        """Open the next chain: index one more than the newest and than ``after``."""
        with self._tx() as db:
            (top,) = db.execute("SELECT COALESCE(MAX(chain_index), 0) FROM chains").fetchone()
            top = max(int(top), after)
            db.execute("INSERT INTO chains VALUES (?, ?, ?)", (top + 1, certificate_id, fmt))
        return ChainInfo(top + 1, certificate_id, fmt)

    def add_certificate(self, certificate_id: str, pem: bytes) -> None:
        """Keep a signing certificate (idempotent)."""
        with self._tx() as db:
            db.execute(
                "INSERT INTO certificates VALUES (?, ?) ON CONFLICT DO NOTHING",
                (certificate_id, pem),
            )

    def certificate(self, certificate_id: str) -> bytes | None:
        """PEM of a certificate by ``certificateId`` (lower-case hex)."""
        rows = self._rows("SELECT pem FROM certificates WHERE id = ?", certificate_id.lower())
        return bytes(rows[0][0]) if rows else None

    # pulses
    def persist(self, pulse: Pulse, commitment: Commitment | None) -> None:
        """Write ``pulse`` (unpublished) and the next commitment in one transaction."""
        text = json.dumps({"pulse": pulse.to_dict()}, separators=(",", ":"))
        key = (pulse.chain_index, pulse.pulse_index)
        with self._tx() as db:
            row = db.execute(
                "SELECT json FROM pulses WHERE chain_index = ? AND pulse_index = ?", key
            ).fetchone()
            if row is not None:
                if row[0] != text:
                    raise BeaconStoreError(
                        f"{self.path}: {pulse.name} exists with different content; "
                        "a pulse index is never issued twice",
                        path=str(self.path),
                        pulse=pulse.name,
                    )
                return
            db.execute(
                "INSERT INTO pulses (chain_index, pulse_index, time_ms, json) VALUES (?, ?, ?, ?)",
                (*key, pulse.time_ms, text),
            )
            if commitment is not None:
                db.execute(
                    "INSERT INTO commitments VALUES (?, ?, ?, ?)",
                    (
                        commitment.chain_index,
                        commitment.pulse_index,
                        commitment.value,
                        json.dumps(
                            {
                                "dira": list(commitment.dira_certificates),
                                "simulated": [dict(e) for e in commitment.simulated_sources],
                            }
                        ),
                    ),
                )

    def mark_published(self, chain: int, index: int) -> None:
        """Make a persisted pulse visible to readers."""
        with self._tx() as db:
            db.execute(
                "UPDATE pulses SET published = 1 WHERE chain_index = ? AND pulse_index = ?",
                (chain, index),
            )

    def commitment(self, chain: int, index: int) -> Commitment | None:
        """The committed value for pulse ``index`` of ``chain``."""
        rows = self._rows(
            "SELECT value, dira FROM commitments WHERE chain_index = ? AND pulse_index = ?",
            chain,
            index,
        )
        if not rows:
            return None
        value, text = rows[0]
        found = json.loads(str(text))
        if isinstance(found, list):  # stored before simulated sources were recorded
            return Commitment(chain, index, bytes(value), tuple(found), (UNRECORDED,))
        return Commitment(
            chain, index, bytes(value), tuple(found["dira"]), tuple(found["simulated"])
        )

    def unpublished(self) -> list[Pulse]:
        """Pulses persisted but not yet published (at most one after a crash)."""
        return self._pulses("WHERE published = 0 ORDER BY chain_index, pulse_index")

    def last_pulse(self, chain: int | None = None, published: bool = True) -> Pulse | None:
        """The newest pulse (of ``chain``, or of the newest chain)."""
        where = "WHERE published = 1" if published else "WHERE published IN (0, 1)"
        args: tuple[object, ...] = ()
        if chain is not None:
            where, args = where + " AND chain_index = ?", (chain,)
        found = self._pulses(f"{where} ORDER BY chain_index DESC, pulse_index DESC LIMIT 1", *args)
        return found[0] if found else None

    def last_json(self, chain: int | None = None) -> str | None:
        """The stored JSON text of the newest published pulse (of ``chain``, or overall)."""
        where, args = ("AND chain_index = ?", (chain,)) if chain is not None else ("", ())
        rows = self._rows(
            f"SELECT json FROM pulses WHERE published = 1 {where} "
            "ORDER BY chain_index DESC, pulse_index DESC LIMIT 1",
            *args,
        )
        return str(rows[0][0]) if rows else None

    def pulse_json(self, chain: int, index: int) -> str | None:
        """The stored JSON text of a published pulse."""
        rows = self._rows(
            "SELECT json FROM pulses WHERE chain_index = ? AND pulse_index = ? AND published = 1",
            chain,
            index,
        )
        return str(rows[0][0]) if rows else None

    def pulse(self, chain: int, index: int) -> Pulse | None:
        """A published pulse."""
        text = self.pulse_json(chain, index)
        return None if text is None else Pulse.from_dict(json.loads(text))

    def by_time(self, ms: int, mode: str) -> str | None:
        """JSON of the published pulse ``at`` or after, strictly ``previous`` or ``next`` to ms."""
        sql = {
            "at": "time_ms >= ? ORDER BY time_ms, chain_index",
            "next": "time_ms > ? ORDER BY time_ms, chain_index",
            "previous": "time_ms < ? ORDER BY time_ms DESC, chain_index DESC",
        }[mode]
        rows = self._rows(f"SELECT json FROM pulses WHERE published = 1 AND {sql} LIMIT 1", ms)
        return str(rows[0][0]) if rows else None

    def first_since(self, chain: int, start_ms: int) -> Pulse | None:
        """The first persisted pulse of ``chain`` with a time stamp at or after ``start_ms``."""
        found = self._pulses(
            "WHERE chain_index = ? AND time_ms >= ? ORDER BY pulse_index LIMIT 1", chain, start_ms
        )
        return found[0] if found else None

    def _pulses(self, clause: str, *args: object) -> list[Pulse]:
        rows = self._rows(f"SELECT json FROM pulses {clause}", *args)
        return [Pulse.from_dict(json.loads(str(r[0])), where=str(self.path)) for r in rows]
