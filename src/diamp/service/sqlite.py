"""The service's SQLite databases (pool, beacon pulses): one way to open them durably.

Both stores promise something across crashes (a byte is never served twice, a pulse index
is never issued twice), so every commit must be on disk before the caller acts on it:
write-ahead log, ``synchronous = FULL`` (fsync at every commit, not only at checkpoints),
autocommit connections shared by the server's threads under the store's own lock.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

__all__ = ["open_durable"]


def open_durable(path: Path, schema: str, timeout_s: float = 30.0) -> sqlite3.Connection:
    """Open (creating folder and tables) a WAL database with full-fsync commits.

    Raises ``OSError`` or ``sqlite3.Error``; each store turns them into its own error.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=timeout_s)
    try:
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = FULL")
        db.executescript(schema)
    except sqlite3.Error:
        db.close()
        raise
    return db
