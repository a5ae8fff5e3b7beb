"""Client keys: the server's clients file and each client's key file.

The clients file (TOML, ``schema_version = 1``) maps client ids to 256-bit keys::

    schema_version = 1
    [clients.alice]
    key = "64 hex characters"
    created_utc = "2026-01-01T00:00:00Z"

A client's key file holds its key as 64 hex characters (and a newline). Both are written
with mode 0600 and refused when group or others may read them.
"""

from __future__ import annotations

import os
import re
import stat
import tomllib
from datetime import UTC, datetime
from pathlib import Path

from diamp.service.errors import KeyFileError

__all__ = ["add_client", "check_private", "load_clients", "read_key_file", "write_key_file"]

_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_HEX = re.compile(r"^[0-9a-f]{64}$")


def check_private(path: Path) -> None:
    """Refuse a file that group or others can read or write (it holds secrets)."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError as err:
        raise KeyFileError(f"{path}: file not found", path=str(path)) from err
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyFileError(
            f"{path}: mode {stat.S_IMODE(mode):04o} lets group/others access the keys; "
            f"run `chmod 600 {path}`",
            path=str(path),
        )


def _key(text: str, where: str) -> bytes:
    value = text.strip().lower()
    if not _HEX.match(value):
        raise KeyFileError(f"{where}: expected 64 hex characters (a 256-bit key)", path=where)
    return bytes.fromhex(value)


def load_clients(path: str | Path) -> dict[str, bytes]:
    """Client id → key from a clients file (checked private first)."""
    p = Path(path)
    check_private(p)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        raise KeyFileError(f"{p}: cannot read clients file: {err}", path=str(p)) from err
    if data.get("schema_version") != 1:
        raise KeyFileError(
            f"{p}: schema_version: expected 1, found {data.get('schema_version')!r}", path=str(p)
        )
    unknown = sorted(set(data) - {"schema_version", "clients"})
    if unknown:
        raise KeyFileError(f"{p}: unknown keys {unknown}", path=str(p))
    clients = data.get("clients", {})
    if not isinstance(clients, dict):
        raise KeyFileError(f"{p}: clients: expected a table of clients", path=str(p))
    return {cid: _entry(p, cid, entry) for cid, entry in clients.items()}


def _entry(p: Path, cid: str, entry: object) -> bytes:
    """One ``[clients.ID]`` table's key; anything else in it is refused, naming the entry."""
    where = f"{p}: clients.{cid}"
    if not _ID.match(cid):
        raise KeyFileError(f"{where}: client id must match {_ID.pattern}", path=str(p), key=cid)
    if not isinstance(entry, dict) or not isinstance(entry.get("key"), str):
        raise KeyFileError(f"{where}: expected a table with key = \"64 hex characters\"",
                           path=str(p), key=cid)  # fmt: skip
    unknown = sorted(set(entry) - {"key", "created_utc"})
    if unknown:
        raise KeyFileError(f"{where}: unknown keys {unknown}", path=str(p), key=cid)
    if not isinstance(entry.get("created_utc", ""), str):
        raise KeyFileError(f"{where}.created_utc: expected a string", path=str(p), key=cid)
    return _key(entry["key"], f"{where}.key")


def _write_private(path: Path, text: str, *, exclusive: bool = False) -> None:
    from diamp.atomic import write_atomic
    from diamp.errors import StorageError

    try:
        write_atomic(path, text.encode(), mode=0o600, what="a key file", exclusive=exclusive)
    except StorageError as err:
        raise KeyFileError(str(err), path=str(path)) from err
    os.chmod(path, 0o600)


def add_client(clients: str | Path, client_id: str) -> bytes:
    """Add ``client_id`` with a fresh 256-bit key to the clients file (created if missing).

    Raises
    ------
    KeyFileError
        If the id is invalid or taken, or the file is unreadable or not private.
    """
    p = Path(clients)
    if not _ID.match(client_id):
        raise KeyFileError(f"client id must match {_ID.pattern}, found {client_id!r}")
    existing = p.read_text(encoding="utf-8") if p.exists() else "schema_version = 1\n"
    if p.exists() and client_id in load_clients(p):
        raise KeyFileError(f"{p}: client {client_id!r} already exists", path=str(p))
    key = os.urandom(32)
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    entry = f'\n[clients."{client_id}"]\nkey = "{key.hex()}"\ncreated_utc = "{stamp}"\n'
    _write_private(p, existing.rstrip("\n") + "\n" + entry)
    return key


def write_key_file(path: str | Path, key: bytes) -> None:
    """Write a client's key file (64 hex characters, mode 0600); never overwrites."""
    p = Path(path)
    if p.exists():
        raise KeyFileError(f"{p}: exists; refusing to overwrite a key file", path=str(p))
    _write_private(p, key.hex() + "\n", exclusive=True)


def read_key_file(path: str | Path) -> bytes:
    """A client's key (checked private first)."""
    p = Path(path)
    check_private(p)
    try:
        return _key(p.read_text(encoding="ascii"), str(p))
    except (OSError, UnicodeDecodeError) as err:
        raise KeyFileError(f"{p}: cannot read key file: {err}", path=str(p)) from err
