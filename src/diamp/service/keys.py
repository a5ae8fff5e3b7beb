"""Client keys: the server's clients file and each client's key file.

The clients file (TOML, ``schema_version = 1``) maps client ids to 256-bit keys::

    schema_version = 1
    [clients.alice]
    key = "64 hex characters"
    created_utc = "2026-01-01T00:00:00Z"
    rotated_utc = "2026-02-01T00:00:00Z"         # optional: when the key was last replaced
    previous_key = "64 hex characters"           # optional: the replaced key, valid until
    previous_until_utc = "2026-02-01T00:05:00Z"  # this time (a rotation's grace period)
    revoked_utc = "2026-03-01T00:00:00Z"         # optional: the client is refused from then on

A client's key file holds its key as 64 hex characters (and a newline). Both are written
with mode 0600 and refused when group or others may read them. ``diamp keys`` rewrites the
clients file whole (comments are not kept), atomically (:mod:`diamp.atomic`) and under an
exclusive lock on ``CLIENTS.lock`` beside it, so two invocations at once never lose an
update; a running server re-reads it (:mod:`diamp.service.clients`).
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import os
import re
import stat
import time
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from diamp.service.errors import KeyFileError, ServiceError

__all__ = [
    "ClientEntry",
    "add_client",
    "api_key",
    "check_private",
    "fingerprint",
    "load_clients",
    "locked",
    "read_clients",
    "read_key_file",
    "revoke_client",
    "rotate_client",
    "write_key_file",
]

_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_HEX = re.compile(r"^[0-9a-f]{64}$")
_STAMP = "%Y-%m-%dT%H:%M:%SZ"
_FIELDS = ("key", "created_utc", "rotated_utc", "previous_key", "previous_until_utc",
           "revoked_utc")  # fmt: skip
MAX_GRACE_SECONDS = 7 * 86400
"""Longest overlap ``diamp keys rotate --grace`` allows for the replaced key."""


@dataclass(frozen=True)
class ClientEntry:
    """One ``[clients.ID]`` table (times as ``YYYY-MM-DDTHH:MM:SSZ`` strings)."""

    id: str
    key: bytes
    created_utc: str = ""
    rotated_utc: str | None = None
    previous_key: bytes | None = None
    previous_until_utc: str | None = None
    revoked_utc: str | None = None

    @property
    def previous_until(self) -> float | None:
        """End of the replaced key's grace period (Unix seconds), or None."""
        if self.previous_until_utc is None:
            return None
        return datetime.strptime(self.previous_until_utc, _STAMP).replace(tzinfo=UTC).timestamp()

    def state(self, now: float) -> str:
        """``revoked``, ``rotating`` (the replaced key is still valid) or ``active``."""
        if self.revoked_utc is not None:
            return "revoked"
        until = self.previous_until
        return "rotating" if until is not None and now < until else "active"


def fingerprint(key: bytes) -> str:
    """``sha256:`` and the first 16 hex digits of SHA-256(key): names a key, never reveals it."""
    return "sha256:" + hashlib.sha256(key).hexdigest()[:16]


def _now_stamp(offset: float = 0.0) -> str:
    return datetime.fromtimestamp(time.time() + offset, UTC).strftime(_STAMP)


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


def parse_clients(text: str, p: Path) -> dict[str, ClientEntry]:
    """Every client of a clients file's text, in file order (``p`` names it in errors)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
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


def read_clients(path: str | Path) -> dict[str, ClientEntry]:
    """Every client of a clients file, revoked ones included (checked private first)."""
    p = Path(path)
    check_private(p)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise KeyFileError(f"{p}: cannot read clients file: {err}", path=str(p)) from err
    return parse_clients(text, p)


def load_clients(path: str | Path) -> dict[str, bytes]:
    """Client id → current key of every client not revoked (checked private first)."""
    return {cid: e.key for cid, e in read_clients(path).items() if e.revoked_utc is None}


def _entry(p: Path, cid: str, entry: object) -> ClientEntry:
    """One ``[clients.ID]`` table; anything else in it is refused, naming the entry."""
    where = f"{p}: clients.{cid}"
    if not _ID.match(cid):
        raise KeyFileError(f"{where}: client id must match {_ID.pattern}", path=str(p), key=cid)
    if not isinstance(entry, dict) or not isinstance(entry.get("key"), str):
        raise KeyFileError(f"{where}: expected a table with key = \"64 hex characters\"",
                           path=str(p), key=cid)  # fmt: skip
    unknown = sorted(set(entry) - set(_FIELDS))
    if unknown:
        raise KeyFileError(f"{where}: unknown keys {unknown}", path=str(p), key=cid)
    for name in ("created_utc", "rotated_utc", "previous_until_utc", "revoked_utc"):
        value = entry.get(name, "")
        if not isinstance(value, str):
            raise KeyFileError(f"{where}.{name}: expected a string", path=str(p), key=cid)
        if name != "created_utc" and name in entry and not _is_stamp(value):
            raise KeyFileError(f"{where}.{name}: expected a UTC time YYYY-MM-DDTHH:MM:SSZ, "
                               f"found {value!r}", path=str(p), key=cid)  # fmt: skip
    previous = entry.get("previous_key")
    if ("previous_key" in entry) != ("previous_until_utc" in entry):
        raise KeyFileError(f"{where}: previous_key and previous_until_utc go together",
                           path=str(p), key=cid)  # fmt: skip
    if previous is not None and not isinstance(previous, str):
        raise KeyFileError(f"{where}.previous_key: expected a string", path=str(p), key=cid)
    return ClientEntry(
        cid, _key(entry["key"], f"{where}.key"), entry.get("created_utc", ""),
        entry.get("rotated_utc"),
        None if previous is None else _key(previous, f"{where}.previous_key"),
        entry.get("previous_until_utc"), entry.get("revoked_utc"),
    )  # fmt: skip


def _is_stamp(value: str) -> bool:
    try:
        datetime.strptime(value, _STAMP)
    except ValueError:
        return False
    return True


def render_clients(entries: dict[str, ClientEntry]) -> str:
    """The clients file text of ``entries`` (what :func:`parse_clients` reads back)."""
    lines = ["schema_version = 1"]
    for e in entries.values():
        lines += ["", f'[clients."{e.id}"]', f'key = "{e.key.hex()}"']
        values = {
            "created_utc": e.created_utc or None,
            "rotated_utc": e.rotated_utc,
            "previous_key": e.previous_key.hex() if e.previous_key else None,
            "previous_until_utc": e.previous_until_utc,
            "revoked_utc": e.revoked_utc,
        }
        lines += [f'{name} = "{value}"' for name, value in values.items() if value is not None]
    return "\n".join(lines) + "\n"


def _write_private(path: Path, text: str, *, exclusive: bool = False) -> None:
    from diamp.atomic import write_atomic
    from diamp.errors import StorageError

    try:
        write_atomic(path, text.encode(), mode=0o600, what="a key file", exclusive=exclusive)
    except StorageError as err:
        raise KeyFileError(str(err), path=str(path)) from err
    os.chmod(path, 0o600)


@contextmanager
def locked(clients: Path, timeout: float = 30.0) -> Iterator[None]:
    """Hold the exclusive lock ``CLIENTS.lock`` (a read-modify-write of the clients file).

    Raises
    ------
    ServiceError
        If another ``diamp keys`` holds it for longer than ``timeout`` seconds (exit 1).
    """
    lock = clients.with_name(clients.name + ".lock")
    try:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as err:
        raise KeyFileError(f"{lock}: cannot open the lock file: {err.strerror}",
                           path=str(lock)) from err  # fmt: skip
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise ServiceError(f"{lock}: another `diamp keys` holds the lock; "
                                       f"retry later", path=str(lock)) from None  # fmt: skip
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)  # releases the lock


def _update(p: Path, entries: dict[str, ClientEntry]) -> None:
    _write_private(p, render_clients(entries))


def add_client(clients: str | Path, client_id: str) -> bytes:
    """Add ``client_id`` with a fresh 256-bit key to the clients file (created if missing).

    Raises
    ------
    KeyFileError
        If the id is invalid or taken (also by a revoked client: ids are never reused), or
        the file is unreadable or not private.
    """
    p = Path(clients)
    if not _ID.match(client_id):
        raise KeyFileError(f"client id must match {_ID.pattern}, found {client_id!r}")
    with locked(p):
        entries = read_clients(p) if p.exists() else {}
        if client_id in entries:
            raise KeyFileError(f"{p}: client {client_id!r} already exists", path=str(p))
        key = os.urandom(32)
        entries[client_id] = ClientEntry(client_id, key, _now_stamp())
        _update(p, entries)
    return key


def _existing(p: Path, entries: dict[str, ClientEntry], client_id: str) -> ClientEntry:
    entry = entries.get(client_id)
    if entry is None:
        known = ", ".join(entries) or "none"
        raise KeyFileError(f"{p}: no client {client_id!r} (clients: {known})", path=str(p),
                           key=client_id)  # fmt: skip
    return entry


def revoke_client(clients: str | Path, client_id: str) -> tuple[ClientEntry, bool]:
    """Revoke a client (its current and any replaced key): (the entry, whether it was already).

    The entry stays in the file, so the id is never handed out again and ``diamp keys list``
    shows when it was revoked.
    """
    p = Path(clients)
    check_private(p)  # a missing file is refused before a lock file is made beside it
    with locked(p):
        entries = read_clients(p)
        entry = _existing(p, entries, client_id)
        if entry.revoked_utc is not None:
            return entry, True
        entry = replace(entry, revoked_utc=_now_stamp(), previous_key=None,
                        previous_until_utc=None)  # fmt: skip
        entries[client_id] = entry
        _update(p, entries)
    return entry, False


def rotate_client(
    clients: str | Path, client_id: str, out: str | Path, *, grace: int = 0
) -> ClientEntry:
    """Give a client a fresh key, written to its key file ``out`` (replaced, mode 0600).

    The replaced key stays valid ``grace`` seconds (0: refused at once); a key replaced by an
    earlier rotation and still in its grace period is refused at once. The key file is
    complete on disk before the clients file names the new key, and is put in place only
    once the clients file is written: a failure leaves both files as they were.

    Raises
    ------
    KeyFileError
        Unknown or revoked client, ``grace`` out of range, or unwritable files (exit 2).
    """
    from diamp.atomic import atomic_target
    from diamp.errors import StorageError

    if not 0 <= grace <= MAX_GRACE_SECONDS:
        raise KeyFileError(f"--grace: expected 0 to {MAX_GRACE_SECONDS} seconds, found {grace}")
    p, target = Path(clients), Path(out)
    if target.resolve() == p.resolve():
        raise KeyFileError(f"--out {target}: that is the clients file", path=str(target))
    check_private(p)  # a missing file is refused before a lock file is made beside it
    with locked(p):
        entries = read_clients(p)
        entry = _existing(p, entries, client_id)
        if entry.revoked_utc is not None:
            raise KeyFileError(f"{p}: client {client_id!r} was revoked on {entry.revoked_utc}; "
                               f"a revoked client is not rotated (add a new client)",
                               path=str(p), key=client_id)  # fmt: skip
        key = os.urandom(32)
        until = _now_stamp(grace) if grace else None
        previous = entry.key if grace else None
        entry = replace(entry, key=key, rotated_utc=_now_stamp(), previous_key=previous,
                        previous_until_utc=until)  # fmt: skip
        entries[client_id] = entry
        written = False
        try:
            with atomic_target(target, mode=0o600, what="a key file") as tmp:
                tmp.write_text(key.hex() + "\n", encoding="ascii")
                _update(p, entries)
                written = True
        except StorageError as err:
            note = (f"; {p} already names the new key: rotate {client_id!r} again"
                    if written else "")  # fmt: skip
            raise KeyFileError(f"{err}{note}", path=str(target)) from err
    return entry


def api_key(key: bytes) -> bytes:
    """The API key of a client key: HMAC-SHA256(key, "diamp api key v1").

    Sent as 64 hex characters in ``x-api-key`` to tiers with ``auth = "api_key"``, so the
    signing key itself never travels; it is rotated and revoked with the key.
    """
    return hmac.new(key, b"diamp api key v1", hashlib.sha256).digest()


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
