"""The running server's view of the clients file, re-read when it changes (no restart).

:class:`ClientRegistry` answers two questions on the hot path: which key(s) may sign for a
``keyid`` (:meth:`~ClientRegistry.match`, used by :class:`~diamp.service.auth.Verifier`)
and which client an ``x-api-key`` belongs to (:meth:`~ClientRegistry.api_client`).

Reloading. The file's ``(st_mtime_ns, st_ctime_ns, st_size, st_ino)`` is compared (the
change time too, so that a ``chmod`` fixing the mode is noticed) at most once per
``interval`` seconds (default 1), and at once on a miss (an unknown ``keyid`` or API key:
a client just added is accepted on its first request). ``diamp keys`` replaces the file by
rename, so every write gives a new inode; a file modified within the last two seconds (when
a coarse time stamp and a reused inode number could hide a second write) is re-read and
compared by content until it is older. A new version is parsed whole before it replaces the
old one: a half-written, corrupt or group-readable file changes nothing (the last good
version stays in force), is logged once and counted once per version
(``diamp_clients_reloads_total{result="failed"}``, ``diamp_clients_file_ok`` 0).

Retired keys stay retired. A key this process has seen revoked, or seen replaced without a
grace period, or whose client disappeared from the file, is refused for the rest of the
process's life, even if a later version of the file (a restored backup) lists it again.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from diamp.service.errors import AuthError, KeyFileError
from diamp.service.keys import ClientEntry, api_key, check_private, parse_clients

__all__ = ["ClientRegistry"]

log = logging.getLogger(__name__)

_DUMMY = b"\0" * 32
_Stamp = tuple[int, int, int, int]
_RACY_SECONDS = 2.0


@dataclass(frozen=True)
class _Snapshot:
    """One parsed version of the clients file."""

    entries: Mapping[str, ClientEntry]
    api: tuple[tuple[str, bytes, bool], ...]  # client id, API key, whether the current key
    stamp: _Stamp | None  # (mtime_ns, ctime_ns, size, inode)
    digest: bytes


def _snapshot(entries: Mapping[str, ClientEntry], stamp: Any, digest: bytes) -> _Snapshot:
    api: list[tuple[str, bytes, bool]] = []
    for e in entries.values():
        api.append((e.id, api_key(e.key), True))
        if e.previous_key is not None:
            api.append((e.id, api_key(e.previous_key), False))
    return _Snapshot(dict(entries), tuple(api), stamp, digest)


def _keys(entry: ClientEntry) -> set[bytes]:
    return {entry.key} if entry.previous_key is None else {entry.key, entry.previous_key}


class ClientRegistry:
    """Client keys from the clients file ``path`` (None: the static ``keys``), kept current.

    Raises
    ------
    KeyFileError
        At construction, if the file is missing, malformed or not private (the server does
        not start); later failures keep the last good version.
    """

    def __init__(
        self,
        path: Path | None,
        *,
        keys: Mapping[str, bytes] | None = None,
        interval: float = 1.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path, self.interval, self.clock = path, interval, clock
        self.reloads = {"ok": 0, "failed": 0}
        self.file_ok = True
        self._lock = threading.Lock()
        self._retired: set[bytes] = set()
        self._last_error = ""
        self._bad_stamp: _Stamp | None = None  # a version that failed: not read again
        if path is None:
            entries = {k: ClientEntry(k, v) for k, v in (keys or {}).items()}
            self._snap = _snapshot(entries, None, b"")
        else:
            stamp, text = self._read()
            self._snap = _snapshot(parse_clients(text, path), stamp, _digest(text))
        self._retire(self._snap)
        self._racy = self._is_racy(self._snap.stamp)
        self._checked = time.monotonic()

    def __len__(self) -> int:
        """Clients not revoked."""
        return sum(1 for e in self._snap.entries.values() if e.revoked_utc is None)

    # --- the hot path -------------------------------------------------------------------

    def match(self, keyid: str, verifies: Callable[[bytes], bool]) -> None:
        """Return if ``verifies(key)`` holds for a valid key of ``keyid``, else raise.

        ``verifies`` is called once per candidate key, and once with a dummy key for an
        unknown id (the same work as a known one).

        Raises
        ------
        AuthError
            ``unknown_key``, ``bad_signature``, ``revoked`` (signed with a revoked key) or
            ``rotated`` (signed with a replaced key after its grace period).
        """
        entry = self._lookup(keyid)
        if entry is None:
            verifies(_DUMMY)
            raise AuthError("signature does not verify (unknown_key)", reason="unknown_key")
        now = self.clock()
        for key in (entry.key, entry.previous_key):
            if key is None or not verifies(key):
                continue
            reason = self._refusal(entry, key, now)
            if reason is None:
                return
            raise AuthError(f"key of client {keyid!r} is {reason}", reason=reason)
        raise AuthError("signature does not verify (bad_signature)", reason="bad_signature")

    def api_client(self, value: str) -> str:
        """The client whose API key is ``value`` (64 hex characters), else raise.

        The given key is compared with :func:`hmac.compare_digest` against every candidate,
        without stopping at a match.

        Raises
        ------
        AuthError
            ``missing_api_key`` (no key), ``malformed``, ``unknown_key``, ``revoked``, ``rotated``.
        """
        if not value:
            raise AuthError("request carries no x-api-key header", reason="missing_api_key")
        try:
            given = bytes.fromhex(value) if len(value) == 64 else b""
        except ValueError:
            given = b""
        if len(given) != 32:
            raise AuthError("x-api-key must be 64 hex characters", reason="malformed")
        snap = self._snapshot()
        found = self._scan(snap, given)
        if found is None and self._check(force=True):
            snap = self._snap
            found = self._scan(snap, given)
        if found is None:
            raise AuthError("x-api-key is not a client's key", reason="unknown_key")
        cid, current = found
        entry = snap.entries[cid]  # the version scanned, even if another thread reloaded since
        key = entry.key if current else entry.previous_key or b""
        reason = self._refusal(entry, key, self.clock())
        if reason is not None:
            raise AuthError(f"API key of client {cid!r} is {reason}", reason=reason)
        return cid

    @staticmethod
    def _scan(snap: _Snapshot, given: bytes) -> tuple[str, bool] | None:
        found = None
        for cid, candidate, current in snap.api:
            hit = hmac.compare_digest(candidate, given)
            if hit and found is None:
                found = (cid, current)
        return found

    def _refusal(self, entry: ClientEntry, key: bytes, now: float) -> str | None:
        """None if ``key`` of ``entry`` is valid now, else why not."""
        if entry.revoked_utc is not None or _fp(key) in self._retired:
            return "revoked"
        if key != entry.key:
            until = entry.previous_until
            if until is None or now >= until:
                return "rotated"
        return None

    def _lookup(self, keyid: str) -> ClientEntry | None:
        entry = self._snapshot().entries.get(keyid)
        if entry is None and self._check(force=True):
            entry = self._snap.entries.get(keyid)
        return entry

    def _snapshot(self) -> _Snapshot:
        if self.path is not None and time.monotonic() - self._checked >= self.interval:
            self._check()
        return self._snap

    # --- reloading ----------------------------------------------------------------------

    def _read(self) -> tuple[_Stamp, str]:
        path = self.path or Path()
        check_private(path)
        try:
            with open(path, "rb") as fh:
                st = os.fstat(fh.fileno())
                data = fh.read()
            return (st.st_mtime_ns, st.st_ctime_ns, st.st_size, st.st_ino), data.decode("utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise KeyFileError(f"{path}: cannot read clients file: {err}", path=str(path)) from err

    def _is_racy(self, stamp: _Stamp | None) -> bool:
        return stamp is not None and time.time() - stamp[0] / 1e9 < _RACY_SECONDS

    def _check(self, force: bool = False) -> bool:
        """Reload if the file changed; True if a new version is now in force."""
        if self.path is None or not self._lock.acquire(blocking=force):
            return False  # another thread is checking: use the version in force
        try:
            self._checked = time.monotonic()
            try:
                st = os.stat(self.path)
                stamp = (st.st_mtime_ns, st.st_ctime_ns, st.st_size, st.st_ino)
            except OSError as err:
                self._failed(f"{self.path}: cannot read clients file: {err.strerror}")
                return False
            if stamp in (self._snap.stamp, self._bad_stamp) and not self._racy:
                return False
            return self._reload(stamp)
        finally:
            self._lock.release()

    def _reload(self, seen: _Stamp) -> bool:
        try:
            stamp, text = self._read()
            digest = _digest(text)
            if digest == self._snap.digest:
                self._snap = _snapshot(self._snap.entries, stamp, digest)
                self._racy = self._is_racy(stamp)
                return False
            snap = _snapshot(parse_clients(text, self.path or Path()), stamp, digest)
        except KeyFileError as err:
            self._failed(str(err))
            self._bad_stamp = seen  # as stat-ed before reading: a later write differs from it
            self._racy = self._is_racy(seen)
            return False
        self._retire(snap)
        self._snap, self._racy = snap, self._is_racy(stamp)
        self.reloads["ok"] += 1
        self.file_ok, self._last_error = True, ""
        log.info("clients file %s reloaded: %d clients in force", self.path, len(self))
        return True

    def _retire(self, new: _Snapshot) -> None:
        """Remember every key that ``new`` revokes, or drops compared with the version in force."""
        old = getattr(self, "_snap", new)
        for cid, entry in old.entries.items():
            kept = new.entries.get(cid)
            gone = _keys(entry) - (set() if kept is None else _keys(kept))
            self._retired.update(_fp(k) for k in gone)
        for entry in new.entries.values():
            if entry.revoked_utc is not None:
                self._retired.update(_fp(k) for k in _keys(entry))

    def _failed(self, message: str) -> None:
        self.reloads["failed"] += 1
        self.file_ok = False
        if message != self._last_error:  # once per distinct problem, not once a second
            log.error("clients file not reloaded, the last good version stays in force: %s",
                      message)  # fmt: skip
            self._last_error = message

    def collect(self) -> Iterator[Any]:
        """Prometheus metrics of the registry (see :mod:`diamp.service.metrics`)."""
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        self._snapshot()
        reloads = CounterMetricFamily("diamp_clients_reloads", "Clients file reloads",
                                      labels=["result"])  # fmt: skip
        for result, count in self.reloads.items():
            reloads.add_metric([result], count)
        yield reloads
        yield GaugeMetricFamily("diamp_clients", "Clients not revoked", len(self))
        ok = "1 if the last reading of the clients file succeeded"
        yield GaugeMetricFamily("diamp_clients_file_ok", ok, self.file_ok)


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


def _fp(key: bytes) -> bytes:
    return hashlib.sha256(key).digest()
