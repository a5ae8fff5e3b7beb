"""The pool's tables, in the SQLite and the PostgreSQL spelling (:mod:`diamp.service.pool`).

``chunk`` rows hold a tier's bytes and ``taken``, the leading bytes already reserved;
``chunk_source`` lists the sources each chunk came from; ``cursor`` the persisted stream
position of every source; ``meta`` the schema version, the pool's identity and anchored
state counter, the discard counter and the generated extractor seed.
"""

from __future__ import annotations

__all__ = ["POSTGRES_DDL", "SQLITE_DDL", "UPSERT_META"]

_DDL = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS chunk (
    id {id},
    tier TEXT NOT NULL,
    created {real} NOT NULL,
    size {int} NOT NULL CHECK (size > 0),
    taken {int} NOT NULL DEFAULT 0 CHECK (taken >= 0 AND taken <= size),
    sha256 TEXT NOT NULL UNIQUE,
    sources TEXT NOT NULL,
    dira TEXT NOT NULL,
    provenance TEXT NOT NULL,
    data {blob}
);
CREATE INDEX IF NOT EXISTS chunk_tier ON chunk (tier, id);
CREATE INDEX IF NOT EXISTS chunk_created ON chunk (created);
CREATE TABLE IF NOT EXISTS chunk_source (chunk_id {int} NOT NULL, source TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS chunk_source_source ON chunk_source (source);
CREATE INDEX IF NOT EXISTS chunk_source_chunk ON chunk_source (chunk_id);
CREATE TABLE IF NOT EXISTS cursor (source TEXT PRIMARY KEY, position {int} NOT NULL);
"""
# Chunk ids are never reused (AUTOINCREMENT, a sequence): anchors name chunks by id.
SQLITE_DDL = _DDL.format(id="INTEGER PRIMARY KEY AUTOINCREMENT", real="REAL", int="INTEGER",
                         blob="BLOB")  # fmt: skip
POSTGRES_DDL = _DDL.format(id="BIGSERIAL PRIMARY KEY", real="DOUBLE PRECISION", int="BIGINT",
                           blob="BYTEA")  # fmt: skip
UPSERT_META = (
    "INSERT INTO meta VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value"
)
