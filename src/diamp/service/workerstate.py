"""Nonces and token buckets of ``diamp serve --workers N`` in memory shared by its processes.

The N processes of ``--workers N`` on a SQLite pool run on one host, are started by the first
one and stop with it (:mod:`diamp.service.workers`). So their replay cache and rate limits
need no database: the first process makes one anonymous shared memory file (``memfd``) and
hands it to every worker with the listening socket; each maps it. A signed request then
costs a few microseconds of shared-memory work under one lock, instead of a database write
transaction (about 40 µs on SQLite, and a process waiting for another's). Where processes
are not started together (``[pool] shared = true``, or several hosts on ``[pool] url``) the
state stays in the database (:mod:`diamp.service.shared`).

**Lock.** A POSIX record lock (``lockf``) on the file, taken by one process at a time and
released by the kernel when its holder dies, plus a thread lock within each process.

**Nonces.** A signature is remembered by a 64-bit keyed hash (BLAKE2b with a random key
made by the first process) of its (keyid, nonce), in two open-addressing tables of
generations ``g = floor(time / W)``, ``W = replay window + 2 × clock skew``: a nonce goes into
the current generation's table, a request is a replay if its hash is in the current or the
previous one, and a table is emptied when its generation is two behind. A nonce accepted at
time ``t`` thus stays at least until ``floor(t / W) × W + 2W > t + W``, and its request (signed
``created ≤ t + skew``) is refused as too old from ``created + window < t + W`` on: no gap.
Each generation holds at most ``[server] nonce_cache_size`` nonces; beyond, requests are
refused ``busy`` (401), as the single process's cache is. Two different nonces with the same
hash (about ``n / 2^64`` per request) make the second look replayed: refused, never served
twice.

**Buckets.** One open-addressing table of per-client buckets (a hash of the limiter and the
client id), refilled by ``time.monotonic`` (one clock for every process on the host), as
:class:`diamp.service.core.RateLimiter` does in memory. When half the table is used, the
buckets that have refilled completely are dropped (a full bucket is what a new client gets);
if half is still in use, a new client is answered 503 (``BUCKET_SLOTS`` clients at most).

**Kills.** A process killed while it holds the lock leaves at most its own unanswered
request's nonce or one bucket's update half written (a nonce whose request was never
answered, or one request's tokens), or, in the middle of dropping refilled buckets, every
bucket full again, as after a restart; an interrupted emptying of an old generation is done
again by the next process (its count is reset last). Never a byte served twice: bytes are
reserved in the pool database (:mod:`diamp.service.pool`), not here.
"""

from __future__ import annotations

import hashlib
import mmap
import os
import secrets
import threading
import time
from collections.abc import Callable
from multiprocessing import reduction
from typing import Any

import numpy as np

from diamp.service.auth import Accepted
from diamp.service.errors import AuthError, PoolError

__all__ = ["BUCKET_SLOTS", "WorkerState", "available"]

BUCKET_SLOTS = 1 << 17
"""Slots of the bucket table (at most half are used: 65536 clients with live buckets)."""
_HEADER = 64  # bytes: generation, count of each nonce table, buckets in use, the hash key
_GEN, _COUNT0, _BUCKETS, _KEY = 0, 1, 3, 4  # int64 fields of the header (the key: 4, 5)


def available() -> bool:
    """True where anonymous shared memory files exist (Linux ``memfd_create``)."""
    return hasattr(os, "memfd_create")


def _slots(cache_size: int) -> int:
    """Slots per nonce table: a power of two at least twice ``cache_size``."""
    return 1 << max(10, (2 * cache_size - 1).bit_length())


class WorkerState:
    """The shared memory of one ``--workers`` server (see the module docs).

    Make it with :meth:`create` (first process) and pass :meth:`handle` to each worker,
    which calls :meth:`attach`. ``window`` and ``skew`` are the verifier's.
    """

    def __init__(
        self, fd: int, cache_size: int, span: int, clock: Callable[[], float] = time.time
    ) -> None:
        self.fd, self.cache_size, self.span, self.clock = fd, cache_size, span, clock
        self.nslots = _slots(cache_size)
        size = _HEADER + 8 * (2 * self.nslots + 5 * BUCKET_SLOTS)
        if os.fstat(fd).st_size < size:
            os.ftruncate(fd, size)
        self._map = mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        buf = memoryview(self._map)
        self._head = buf[:_HEADER].cast("q")
        lo, n = _HEADER, self.nslots
        self._tables = (buf[lo : lo + 8 * n].cast("Q"), buf[lo + 8 * n : lo + 16 * n].cast("Q"))
        self._arrays = [np.frombuffer(self._map, np.uint64, n, lo + 8 * n * i) for i in (0, 1)]
        lo += 16 * n
        self._bkeys_offset, self._bvals_offset = lo, lo + 8 * BUCKET_SLOTS
        self._bkeys = buf[lo : lo + 8 * BUCKET_SLOTS].cast("Q")
        self._bvals = buf[lo + 8 * BUCKET_SLOTS : lo + 40 * BUCKET_SLOTS].cast("d")
        self._thread_lock = threading.Lock()
        if self._head[_KEY] == 0 and self._head[_KEY + 1] == 0:
            self._head[_KEY], self._head[_KEY + 1] = secrets.randbits(63) | 1, secrets.randbits(63)
        self._key = b"".join(int(self._head[i]).to_bytes(8, "little") for i in (_KEY, _KEY + 1))

    @classmethod
    def create(
        cls, cache_size: int, window: int, skew: int, clock: Callable[[], float] = time.time
    ) -> WorkerState:
        """A new, empty state in a new anonymous shared memory file (``clock``: wall time)."""
        fd = os.memfd_create("diamp-workers", os.MFD_CLOEXEC)
        return cls(fd, cache_size, window + 2 * skew, clock)

    def handle(self) -> Any:
        """What a worker process is given (pickled with the worker's arguments)."""
        return _Handle(self.fd, self.cache_size, self.span)

    def close(self) -> None:
        """Unmap and close (the memory goes when the last process closes it)."""
        for view in (self._head, *self._tables, self._bkeys, self._bvals):
            view.release()
        self._arrays.clear()
        self._map.close()
        os.close(self.fd)

    def _hash(self, *parts: str) -> int:
        text = "\0".join(parts).encode("utf-8", "surrogateescape")
        value = int.from_bytes(hashlib.blake2b(text, digest_size=8, key=self._key).digest())
        return value or 1  # 0 marks an empty slot

    def locked(self) -> _Locked:
        """The cross-process lock (a context manager)."""
        return _Locked(self)

    def remember(self, keyid: str, nonce: str, expires: float) -> None:
        """Record a nonce (``expires`` is implied by the generations, see the module docs).

        Raises ``AuthError`` ``replay`` if any process recorded it, ``busy`` if full.
        """
        with self.locked():
            self._insert(self._hash(keyid, nonce))

    def _insert(self, fp: int) -> None:
        """Insert ``fp`` into the current generation (lock held)."""
        head, mask = self._head, self.nslots - 1
        gen = int(self.clock() // self.span)
        if gen > head[_GEN]:
            for g in range(max(gen - 1, head[_GEN] + 1), gen + 1):  # tables two behind
                if head[_COUNT0 + g % 2]:
                    self._arrays[g % 2].fill(0)
                    head[_COUNT0 + g % 2] = 0
            head[_GEN] = gen
        gen = head[_GEN]
        current, previous = self._tables[gen % 2], self._tables[(gen - 1) % 2]
        if head[_COUNT0 + (gen - 1) % 2] and previous[_probe(previous, fp, mask)] == fp:
            raise AuthError("nonce already used (replayed request)", reason="replay")
        slot = _probe(current, fp, mask)
        if current[slot] == fp:
            raise AuthError("nonce already used (replayed request)", reason="replay")
        if head[_COUNT0 + gen % 2] >= self.cache_size:
            raise AuthError("nonce cache full; retry later", reason="busy")
        current[slot] = fp
        head[_COUNT0 + gen % 2] += 1

    def buckets(self, name: str, rps: float, burst: int, bps: float,
                burst_bytes: int) -> WorkerBuckets:  # fmt: skip
        """The token buckets of one limiter (``name``: e.g. signed or public clients)."""
        return WorkerBuckets(self, name, rps, burst, bps, burst_bytes)


class _Locked:
    __slots__ = ("state",)

    def __init__(self, state: WorkerState) -> None:
        self.state = state

    def __enter__(self) -> None:
        self.state._thread_lock.acquire()
        try:
            os.lockf(self.state.fd, os.F_LOCK, 0)
        except BaseException:
            self.state._thread_lock.release()
            raise

    def __exit__(self, *exc: object) -> None:
        os.lockf(self.state.fd, os.F_ULOCK, 0)
        self.state._thread_lock.release()


def _probe(table: memoryview, fp: int, mask: int) -> int:
    """The slot holding ``fp``, or the empty slot where it would go (linear probing)."""
    i = fp & mask
    while True:
        value = table[i]
        if value == fp or value == 0:
            return i
        i = (i + 1) & mask


class _Handle:
    """A worker's way to the state: the file descriptor travels as the socket does."""

    def __init__(
        self, fd: int, cache_size: int, span: int, clock: Callable[[], float] = time.time
    ) -> None:
        self.fd, self.cache_size, self.span, self.clock = fd, cache_size, span, clock

    def __reduce__(self) -> tuple[Callable[..., Any], tuple[Any, ...]]:
        return _rebuild, (reduction.DupFd(self.fd), self.cache_size, self.span)

    def open(self) -> WorkerState:
        """Map the state in this process."""
        return WorkerState(self.fd, self.cache_size, self.span)


def _rebuild(dup: Any, cache_size: int, span: int) -> _Handle:
    return _Handle(dup.detach(), cache_size, span)


class WorkerBuckets:
    """One limiter's token buckets in a :class:`WorkerState` (see the module docs)."""

    def __init__(
        self, state: WorkerState, name: str, rps: float, burst: int, bps: float,
        burst_bytes: int, clock: Callable[[], float] = time.monotonic,
    ) -> None:  # fmt: skip
        self.state, self.name, self.clock = state, name, clock
        self.rps, self.burst, self.bps, self.burst_bytes = rps, burst, bps, burst_bytes
        self._keys: dict[str, int] = {}

    def admit(self, client: str, nbytes: int) -> float:
        """0 if the request may go ahead (tokens spent), else seconds to wait."""
        return self.admit_request(client, nbytes)[0]

    def admit_request(
        self, client: str, nbytes: int, nonce: Accepted | None = None
    ) -> tuple[float, None]:
        """:meth:`admit`, recording ``nonce`` first under the same lock (a replay spends nothing).

        Raises ``AuthError`` (``replay``, ``busy``) for the nonce, ``PoolError`` if the
        bucket table is full.
        """
        state = self.state
        key = self._keys.get(client)
        if key is None:
            if len(self._keys) >= 4096:  # a cache of hashes, not of state: bounded
                self._keys.clear()
            key = self._keys[client] = state._hash(self.name, client)
        fp = None if nonce is None else state._hash(nonce.keyid, nonce.nonce)
        with state.locked():
            if fp is not None:
                state._insert(fp)
            return self._spend(self._slot(key), nbytes), None

    def _slot(self, key: int) -> int:
        """The bucket slot of ``key``, made full if new (lock held)."""
        state = self.state
        keys, vals, head, mask = state._bkeys, state._bvals, state._head, BUCKET_SLOTS - 1
        slot = _probe(keys, key, mask)
        if keys[slot] == key:
            return slot
        if 2 * (head[_BUCKETS] + 1) > BUCKET_SLOTS:
            _forget_full(state, self.clock())
            slot = _probe(keys, key, mask)
            if 2 * (head[_BUCKETS] + 1) > BUCKET_SLOTS:
                raise PoolError(f"rate-limit table full ({BUCKET_SLOTS // 2} live clients)")
        i = 4 * slot
        vals[i], vals[i + 1], vals[i + 2], vals[i + 3] = self.burst, self.burst_bytes, 0.0, 0.0
        keys[slot] = key
        head[_BUCKETS] += 1
        return slot

    def _spend(self, slot: int, nbytes: int) -> float:
        """Refill, check and spend the bucket at ``slot`` (lock held)."""
        vals, now = self.state._bvals, self.clock()
        i = 4 * slot
        dt = max(now - vals[i + 2], 0.0)  # a new bucket (stamp 0) is full already
        requests = min(self.burst, vals[i] + dt * self.rps)
        left = min(self.burst_bytes, vals[i + 1] + dt * self.bps)
        wait = 0.0
        if requests >= 1 and left >= nbytes:
            requests, left = requests - 1, left - nbytes
        else:
            wait = max((1 - requests) / self.rps, (nbytes - left) / self.bps, 0.001)
        full = max((self.burst - requests) / self.rps, (self.burst_bytes - left) / self.bps)
        vals[i], vals[i + 1], vals[i + 3] = requests, left, now + full
        vals[i + 2] = max(now, vals[i + 2])
        return wait


def _forget_full(state: WorkerState, now: float) -> None:
    """Rebuild the bucket table without the buckets that have refilled (lock held)."""
    keys = np.frombuffer(state._map, np.uint64, BUCKET_SLOTS, state._bkeys_offset)
    vals = np.frombuffer(state._map, np.float64, 4 * BUCKET_SLOTS, state._bvals_offset)
    live = (keys != 0) & (vals[3::4] > now)
    kept_keys, kept_vals = keys[live].copy(), vals.reshape(-1, 4)[live].copy()
    keys.fill(0)
    mask = BUCKET_SLOTS - 1
    for key, row in zip(kept_keys.tolist(), kept_vals, strict=True):
        slot = _probe(state._bkeys, key, mask)
        state._bkeys[slot] = key
        vals[4 * slot : 4 * slot + 4] = row
    state._head[_BUCKETS] = len(kept_keys)
