"""The pool's anchor (``POOL.anchor``): a pool database that is lost is never taken for new.

The anchor file beside the pool database (:mod:`diamp.service.anchor`) records, before the
database commits and before anything is used:

- ``pool``: the pool's identity, a random id made with the pool and kept in ``meta.pool_id``;
- ``seq``: a counter of anchored transactions, kept in ``meta.anchor_seq`` too;
- ``cursors``: for every source a floor at or past its persisted stream position (a raw
  stream reserves ahead, a DIRA key exactly to the bytes taken, see
  :meth:`diamp.service.pool.Pool.set_cursor`);
- ``meta``: SHA-256 of each metadata value, e.g. the generated extractor seed;
- ``taken``: for a reservation, the chunks it claims and their new ``taken``.

At start (:func:`open_pool`) the database must be the anchored pool (same id) at the
anchor's ``seq`` or one before it (a crash between the anchor's fsync and the commit; the
last record is then rolled forward); cursors are raised to the anchored floors. Anything else
is refused with :class:`~diamp.service.errors.StateError` naming both files: a missing or
empty database, another pool's, one behind its anchor (an old backup, or restored without its
``-wal`` file), one ahead of it (a restored anchor), and a database that was anchored but has
no anchor beside it (a copy on a second host or directory).

``--new-pool`` (``open_pool(..., new_pool=True)``) moves the old database aside and starts a
fresh pool (new id) whose cursors start at the highest of the anchored floors and the old
database's cursors, if it can still be read. The extractor seed is kept when it can be
recovered (from the old database or the copy ``POOL.seed`` written when it was generated)
with the anchored fingerprint; only otherwise is a new one drawn.

A database without an anchor and without ``meta.pool_id`` (made before anchors existed) is
adopted: the first start creates its identity and the anchor from its contents.

**Several processes, several hosts.** Every process appends to the anchor under its lock and
merges with its last record; the database's counter is incremented in every anchored
transaction (under the row lock on PostgreSQL), so it is the highest state any process or
host anchored, and each anchored change checks that the database is not behind the state this
process anchored (a database restored while serving is refused there, before a byte is used).
On PostgreSQL (``[pool] url``) each host keeps its own anchor file (``[pool] anchor``): the
database may be ahead of one host's anchor (other hosts counted since), never behind it; a
host without an anchor joins the pool it finds (and anchors it from then on); ``--new-pool``
empties the shared pool (deletes every chunk, whose ``taken`` may be rolled back) and gives it
a new identity, so the other hosts must be restarted with ``--new-pool`` too.
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
import time
from pathlib import Path
from typing import Any

from diamp.service.anchor import AnchorFile, anchor_path
from diamp.service.errors import PoolError, StateError
from diamp.service.pool import Pool
from diamp.service.settings import ServiceSettings
from diamp.service.storage import redact

__all__ = ["SEED_META", "PoolAnchor", "keep_seed_copy", "open_pool"]

log = logging.getLogger(__name__)
SEED_META = "extractor_seed_hex"
RECOVERY = (
    "recover with `diamp serve CONFIG --new-pool` (a fresh pool that continues after every "
    "anchored position; docs/service.md, 'Losing or restoring state')"
)


class PoolAnchor:
    """The anchored state of one pool; :meth:`record` appends (and fsyncs) a change."""

    def __init__(self, file: AnchorFile, pool_id: str, seq: int,
                 cursors: dict[str, int], meta: dict[str, str]) -> None:  # fmt: skip
        self.file, self.pool_id, self.seq = file, pool_id, seq
        self.cursors, self.meta = dict(cursors), dict(meta)

    def record(
        self,
        *,
        after: int = 0,
        cursors: dict[str, int] | None = None,
        meta: dict[str, str] | None = None,
        taken: dict[int, int] | None = None,
        event: str | None = None,
        takeover: bool = False,
    ) -> int:
        """Append the state after ``change`` (before it is committed); returns its ``seq``.

        Under the file's lock, merged with the file's last record (another process serving
        the same pool may have appended since): the counter and every cursor only grow; the
        counter also passes ``after`` (the database's, which other hosts may have moved).

        Raises
        ------
        StateError
            If the anchor's last record is another pool's (a ``--new-pool`` start elsewhere
            took over this anchor; ``takeover`` is that start) or the write fails.
        """
        with self.file.locked() as last:
            last = last or {}
            if last and last.get("pool") != self.pool_id and not takeover:
                raise StateError(
                    f"{self.file.path}: the anchor now records pool {last.get('pool')}, not "
                    f"this pool ({self.pool_id}): another start took it over; nothing more is "
                    "served from this pool",
                    path=str(self.file.path),
                )  # fmt: skip
            seq = max(self.seq, int(last.get("seq", 0)), after) + 1
            merged = dict(last.get("cursors", {}))
            for name, pos in {**self.cursors, **(cursors or {})}.items():
                merged[name] = max(int(merged.get(name, 0)), pos)
            new_meta = {**dict(last.get("meta", {})), **self.meta, **(meta or {})}
            record: dict[str, Any] = {
                "v": 1, "pool": self.pool_id, "seq": seq, "time": time.time(),
                "cursors": merged, "meta": new_meta,
            }  # fmt: skip
            if taken:
                record["taken"] = {str(k): v for k, v in taken.items()}
            if event:
                record["event"] = event
            self.file.append(record)
        self.seq, self.cursors, self.meta = seq, merged, new_meta
        return seq


def _pool_kw(settings: ServiceSettings, shared: bool = False) -> dict[str, Any]:
    p = settings.pool
    return {"freshness_seconds": p.freshness_seconds, "reserve_bytes": p.reserve_bytes,
            "url": p.url, "shared": shared}  # fmt: skip


def pool_files(settings: ServiceSettings) -> tuple[Path, Path]:
    """The pool's ``path`` (SQLite file, or the base name of its files) and its anchor."""
    p = settings.pool
    if p.url is None:
        path = settings.resolve(p.path)
        return path, anchor_path(path)
    anchor = settings.resolve(p.anchor or Path("service-pool.anchor"))
    return anchor.with_name(anchor.name.removesuffix(".anchor") or "pool"), anchor


def _says(last: dict[str, Any]) -> str:
    when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(float(last.get("time", 0))))
    return (
        f"pool {last.get('pool')} at state {last.get('seq')} ({when}), cursors "
        f"{last.get('cursors', {})}"
    )


def open_pool(settings: ServiceSettings, *, new_pool: bool = False, shared: bool = False) -> Pool:
    """The configured pool, checked against its anchor (see the module docs).

    ``shared``: other processes on this host serve from the same pool (``--workers``).

    Raises
    ------
    StateError
        If the database disagrees with its anchor (the message names both, what each says,
        and the recovery option), or the anchor cannot be read or written.
    """
    path, anchor = pool_files(settings)
    file = AnchorFile(anchor)
    records = file.records()
    last = records[-1] if records else None
    kw = _pool_kw(settings, shared)
    if new_pool:
        return _new_pool(settings, path, file, last)
    if last is None:
        return _first_anchor(path, file, kw)
    url = settings.pool.url
    where = f"{path if url is None else redact(url)}: pool database"
    says = f"anchor {file.path} records {_says(last)}"
    if url is None and not path.exists():
        raise StateError(f"{where} is missing; {says}; {RECOVERY}", path=str(path))
    if url is None and path.stat().st_size == 0:
        raise StateError(f"{where} is empty (0 bytes); {says}; {RECOVERY}", path=str(path))
    try:
        pool = Pool(path, **kw)
    except PoolError as err:
        if url is not None:  # a server that cannot be reached: a runtime failure, exit 1
            raise
        raise StateError(f"{where} cannot be opened ({err}); {says}; {RECOVERY}") from err
    try:
        _check(pool, file, last, (f"{where} ", f"; {says}; {RECOVERY}"))
        file.rotate()
    except BaseException:
        pool.close()
        raise
    return pool


def _check(pool: Pool, file: AnchorFile, last: dict[str, Any], message: tuple[str, str]) -> None:
    """Refuse ``pool`` unless it is the anchored pool at the anchored state; roll forward."""
    pool_id, seq = pool.meta("pool_id"), int(pool.meta("anchor_seq") or 0)
    if seq > int(last["seq"]):  # another process on this pool may have anchored since
        last = file.last() or last
    anchored = int(last["seq"])

    def refuse(what: str) -> StateError:
        return StateError(message[0] + what + message[1], path=pool.where)

    if pool_id is None:
        raise refuse("holds no pool identity (emptied, truncated or replaced)")
    if pool_id != last.get("pool"):
        raise refuse(f"is pool {pool_id}, not the anchored pool (another pool's database)")
    if seq < anchored - 1:
        raise refuse(
            f"is at state {seq}, behind its anchor (restored from an older backup or without "
            "its -wal file: serving from it would repeat bytes)"
        )
    if seq > anchored and not pool.database.shared_hosts:  # other hosts count too
        raise refuse(f"is at state {seq}, ahead of its anchor (the anchor was restored)")
    for key, digest in dict(last.get("meta", {})).items():
        value = pool.meta(key)
        if value is not None and hashlib.sha256(value.encode()).hexdigest() != digest:
            raise refuse(f"holds a {key} whose SHA-256 differs from the anchored one")
    cursors = {str(k): int(v) for k, v in dict(last.get("cursors", {})).items()}
    taken = {int(k): int(v) for k, v in dict(last.get("taken", {})).items()}
    if seq == anchored - 1 and not pool.database.shared_hosts:
        log.warning("%s: rolling the last anchored change forward (a crash before its commit)",
                    pool.path)  # fmt: skip
    pool.restore(pool_id, max(seq, anchored), cursors, taken if seq < anchored else {})
    pool.anchor = PoolAnchor(file, pool_id, anchored, cursors, dict(last.get("meta", {})))


def _first_anchor(path: Path, file: AnchorFile, kw: dict[str, Any]) -> Pool:
    """A new pool, or one made before anchors (adopted): create its identity and anchor.

    On a shared database, a pool that exists is joined: this host anchors it from now on.
    """
    pool = Pool(path, **kw)
    try:
        pool_id = pool.meta("pool_id")
        if pool_id is not None and pool.database.shared_hosts:
            seq = int(pool.meta("anchor_seq") or 0)
            prints = {k: _sha(v) for k in (SEED_META,) if (v := pool.meta(k)) is not None}
            anchor = PoolAnchor(file, pool_id, seq, pool.cursors(), prints)
            anchor.record(after=seq, event=f"host joined pool {pool_id}")
            pool.anchor = anchor
            return pool
        if pool_id is not None:
            raise StateError(
                f"{path}: pool database is pool {pool.meta('pool_id')} at state "
                f"{pool.meta('anchor_seq')}, but its anchor {file.path} is missing (a copy of "
                f"a pool anchored elsewhere, or the anchor was deleted); {RECOVERY}",
                path=str(path),
            )
        meta = {SEED_META: pool.meta(SEED_META)}
        fingerprints = {k: hashlib.sha256(v.encode()).hexdigest() for k, v in meta.items() if v}
        _start_anchor(pool, file, 0, pool.cursors(), fingerprints, "created or adopted")
    except BaseException:
        pool.close()
        raise
    return pool


def _start_anchor(pool: Pool, file: AnchorFile, seq: int, cursors: dict[str, int],
                  meta: dict[str, str], event: str) -> None:  # fmt: skip
    anchor = PoolAnchor(file, secrets.token_hex(16), seq, cursors, meta)
    anchor.record(event=event, takeover=True)  # anchored before the database holds the id
    pool.restore(anchor.pool_id, anchor.seq, cursors, {})
    pool.anchor = anchor
    log.info("%s: pool %s anchored in %s (%s)", pool.path, anchor.pool_id, file.path, event)


def _new_pool(
    settings: ServiceSettings, path: Path, file: AnchorFile, last: dict[str, Any] | None
) -> Pool:
    """``--new-pool``: move the old database aside, start past every anchored position.

    On PostgreSQL the database stays where it is: its cursors and seed are read, then every
    chunk and the old identity are deleted (see the module docs).
    """
    cursors = {str(k): int(v) for k, v in dict((last or {}).get("cursors", {})).items()}
    if settings.pool.url is None:
        seeds = [_old_seed(path, settings, cursors), _read_seed_copy(path)]
        _move_aside(path)
    pool = Pool(path, **_pool_kw(settings))
    try:
        if settings.pool.url is not None:
            seeds = [_read_old(pool, cursors), _read_seed_copy(path)]
            pool.empty()
        expected = dict((last or {}).get("meta", {})).get(SEED_META)
        _start_anchor(pool, file, int((last or {}).get("seq", 0)), cursors, {},
                      f"new pool, replacing {(last or {}).get('pool', 'none')}")  # fmt: skip
        seed = next((s for s in seeds if s and (expected is None or _sha(s) == expected)), None)
        if seed is not None:
            pool.set_meta(SEED_META, seed)
        elif expected is not None:
            log.warning("%s: the extractor seed with SHA-256 %s… cannot be recovered; a new "
                        "one is drawn", path, expected[:16])  # fmt: skip
    except BaseException:
        pool.close()
        raise
    pool.recovered = True
    return pool


def _move_aside(path: Path) -> None:
    if path.exists():
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        for suffix in ("", "-wal", "-shm"):
            old = path.with_name(path.name + suffix)
            if old.exists():
                old.rename(path.with_name(f"{path.name}.replaced-{stamp}{suffix}"))


def _sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _old_seed(path: Path, settings: ServiceSettings, cursors: dict[str, int]) -> str | None:
    """The old database's seed, raising ``cursors`` to its positions (None if unreadable)."""
    if not path.exists() or path.stat().st_size == 0:
        return None
    try:
        old = Pool(path, **_pool_kw(settings))
    except PoolError:
        return None
    try:
        return _read_old(old, cursors)
    finally:
        old.close()


def _read_old(old: Pool, cursors: dict[str, int]) -> str | None:
    """``old``'s seed, raising ``cursors`` to its positions (None if unreadable)."""
    errors: tuple[type[BaseException], ...] = (PoolError, *old.database.errors)
    try:
        for name, pos in old.cursors().items():
            cursors[name] = max(cursors.get(name, 0), pos)
        return old.meta(SEED_META)
    except errors:
        return None


def _seed_path(pool_path: Path) -> Path:
    return anchor_path(pool_path, ".seed")


def _read_seed_copy(pool_path: Path) -> str | None:
    try:
        return _seed_path(pool_path).read_bytes().hex() or None
    except OSError:
        return None


def keep_seed_copy(pool: Pool, seed_hex: str) -> None:
    """Keep ``POOL.seed``: the generated seed's bytes (mode 0600, fsynced) beside the pool."""
    target = _seed_path(pool.path)
    if _read_seed_copy(pool.path) == seed_hex:
        return
    tmp = target.with_name(target.name + ".tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, bytes.fromhex(seed_hex))
            os.fsync(fd)
        finally:
            os.close(fd)
        tmp.replace(target)
    except OSError as err:
        raise StateError(f"{target}: cannot keep the extractor seed: {err}") from err
