"""The service layer behind the routes: pool, pipeline, verifier, rate limits, certificates.

Routes stay thin and call :class:`Service`; another component in the same process (the
beacon) uses :meth:`Service.draw` or :meth:`Service.source` to take bytes that are then
never served to anyone else.

One process alone keeps nonces and rate limits in its memory; the processes of ``diamp serve
--workers N`` on a SQLite pool in memory they share (:mod:`diamp.service.workerstate`);
processes started apart (``[pool] shared``) and hosts (``[pool] url``) in the database
(:mod:`diamp.service.shared`). A ``worker`` (one of ``--workers N`` other than the first)
serves from the pool and runs no source (:class:`diamp.service.serving.ServingOnly`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from diamp.service.auth import Accepted, NonceStore, Verifier
from diamp.service.balance import Balance
from diamp.service.clients import ClientRegistry
from diamp.service.errors import PoolEmpty, PoolError, TierUnavailable
from diamp.service.metrics import Metrics
from diamp.service.pipeline import Pipeline
from diamp.service.pool import Draw
from diamp.service.public import KEY_PREFIX, parse_networks
from diamp.service.serving import ServingOnly, dira_keys
from diamp.service.settings import ServiceSettings
from diamp.service.shared import SharedBuckets, SharedNonces, open_shared
from diamp.service.sources import combine_simulated
from diamp.service.state import open_pool
from diamp.service.storage import Database
from diamp.service.workerstate import WorkerState, available

__all__ = ["RateLimiter", "Service"]

log = logging.getLogger(__name__)


@dataclass
class _Bucket:
    requests: float
    nbytes: float
    stamp: float


class RateLimiter:
    """Per-client token buckets for requests and bytes (refilled continuously).

    ``shared``: buckets kept in a database for every process and host (None: in memory).
    In memory, once more than ``max_idle`` clients have buckets, those that have refilled
    completely are forgotten (a full bucket is what a new client gets), so clients that
    come and go (public tiers: one bucket per address) do not grow the table for ever.
    """

    def __init__(
        self, rps: float, burst: int, bps: float, burst_bytes: int,
        shared: BucketStore | None = None, max_idle: int = 10_000,
    ) -> None:  # fmt: skip
        self.rps, self.burst, self.bps, self.burst_bytes = rps, burst, bps, burst_bytes
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()
        self.shared = shared
        self.max_idle, self._limit = max_idle, max_idle
        self._refill = max(burst / rps, burst_bytes / bps)  # seconds from empty to full

    def _forget_full(self, now: float) -> None:
        """Drop the buckets that have refilled (lock held); prune again at twice what is left."""
        full = now - self._refill
        self._buckets = {k: b for k, b in self._buckets.items() if b.stamp > full}
        self._limit = max(self.max_idle, 2 * len(self._buckets))

    def admit_request(
        self, client: str, nbytes: int, nonce: Accepted | None = None
    ) -> tuple[float, str | None]:
        """:meth:`admit`, recording ``nonce`` in the same transaction (shared buckets only).

        Returns (seconds to wait, the pool's discard counter if it was read, else None); see
        :meth:`diamp.service.shared.SharedBuckets.admit_request` for what it raises.
        """
        if self.shared is not None:
            return self.shared.admit_request(client, nbytes, nonce)
        if nonce is not None:  # nonces are deferred only to a shared store (a wiring error)
            raise PoolError("a nonce to record, but the rate limits are in memory")
        return self.admit(client, nbytes), None

    def admit(self, client: str, nbytes: int) -> float:
        """0 if the request may go ahead (tokens spent), else seconds to wait."""
        if self.shared is not None:
            return self.shared.admit(client, nbytes)
        now = time.monotonic()
        with self._lock:
            if len(self._buckets) > self._limit:
                self._forget_full(now)
            b = self._buckets.get(client)
            if b is None:
                b = self._buckets[client] = _Bucket(self.burst, self.burst_bytes, now)
            dt = now - b.stamp
            b.requests = min(self.burst, b.requests + dt * self.rps)
            b.nbytes = min(self.burst_bytes, b.nbytes + dt * self.bps)
            b.stamp = now
            if b.requests >= 1 and b.nbytes >= nbytes:
                b.requests -= 1
                b.nbytes -= nbytes
                return 0.0
            return max((1 - b.requests) / self.rps, (nbytes - b.nbytes) / self.bps, 0.001)


def _rates(settings: ServiceSettings, public: bool) -> tuple[float, int, float, int]:
    """(requests/s, burst, bytes/s, burst bytes) of the signed or the public clients."""
    s = settings.server
    if public:
        return (s.public_rate_requests_per_second, s.public_rate_burst_requests,
                s.public_rate_bytes_per_second, s.public_rate_burst_bytes)  # fmt: skip
    return (s.rate_requests_per_second, s.rate_burst_requests, s.rate_bytes_per_second,
            s.rate_burst_bytes)  # fmt: skip


class BucketStore(Protocol):
    """Token buckets shared with other processes (database or shared memory)."""

    def admit(self, client: str, nbytes: int) -> float:
        """0 if admitted (tokens spent), else seconds to wait."""

    def admit_request(
        self, client: str, nbytes: int, nonce: Accepted | None = None
    ) -> tuple[float, str | None]:
        """:meth:`admit`, recording ``nonce`` first; also the discard counter if read."""


class Service:
    """Everything one ``diamp serve`` process runs (see the module docs)."""

    def __init__(
        self, settings: ServiceSettings, *, new_pool: bool = False, processes: int = 1,
        worker: bool = False, state: Any = None,
    ) -> None:  # fmt: skip
        self.settings, self.worker = settings, worker
        s = settings.server
        self.started = time.time()
        self.clients = ClientRegistry(None if s.clients is None else settings.resolve(s.clients))
        self.tier_auth = {t.name: t.auth for t in settings.tiers}
        shared = processes > 1 or worker or settings.pool.shared
        self.pool = open_pool(settings, new_pool=new_pool, shared=shared)  # checked: anchor
        self._shared: Database | None = None
        self.worker_state: WorkerState | None = None
        self.balance: Balance | None = None  # --workers N: set by diamp.service.workers
        try:
            nonces, signed, public = self._request_state(processes, worker, state)
            self.verifier = Verifier(
                self.clients, window=s.replay_window_seconds, skew=s.clock_skew_seconds,
                cache_size=s.nonce_cache_size, nonces=nonces, tag=s.signature_tag,
            )  # fmt: skip
            self.limiter = RateLimiter(*_rates(settings, False), shared=signed)
            self.public_limiter = RateLimiter(*_rates(settings, True), shared=public)
            self.pipeline = ServingOnly(settings, self.pool) if worker else Pipeline(
                settings, self.pool)  # fmt: skip
            runs = dira_keys(settings) if worker else [
                rt.dira for rt in self.pipeline.sources.values() if rt.dira is not None
            ]  # fmt: skip
        except BaseException:  # a refused source or seed: leave nothing open behind
            self._close()
            raise
        self.metrics = Metrics()
        self.metrics.watch(self.pipeline, self.pool)
        self.metrics.registry.register(self.clients)
        self.default_tier = settings.tiers[0].name
        self.public_tiers = [t.name for t in settings.tiers if t.public]
        """Tiers served without a signature (the first: an unsigned request's default)."""
        self.trusted_proxies = parse_networks(s.trusted_proxies)
        self.certificates: dict[str, Path] = {
            k.certificate_sha512: k.certificate_path for k in runs
        }
        self.certificate_origins: dict[str, dict[str, Any]] = {
            k.certificate_sha512: k.origin() for k in runs
        }

    def _request_state(
        self, processes: int, worker: bool, state: Any
    ) -> tuple[NonceStore | None, BucketStore | None, BucketStore | None]:
        """Where nonces and buckets live: this process's memory, shared memory, or a database.

        ``--workers N`` on a SQLite pool: memory shared by the N processes (the first makes
        it, ``state`` is a worker's handle on it; :mod:`diamp.service.workerstate`).
        Processes started apart (``[pool] shared``) and hosts (``[pool] url``): the database
        (:mod:`diamp.service.shared`). One process alone: None (its own memory).
        """
        p, s = self.settings.pool, self.settings.server
        alone = p.shared or p.url is not None
        ws = None if state is None else state.open()
        if ws is None and processes > 1 and not worker and not alone and available():
            try:
                ws = WorkerState.create(
                    s.nonce_cache_size, s.replay_window_seconds, s.clock_skew_seconds
                )
            except OSError as err:  # e.g. memfd refused: the database way still works
                log.warning("no shared memory for the workers (%s): nonces and buckets go to "
                            "the database", err)  # fmt: skip
        if ws is not None:
            self.worker_state = ws
            return ws, ws.buckets("signed", *_rates(self.settings, False)), ws.buckets(
                KEY_PREFIX, *_rates(self.settings, True))  # fmt: skip
        if not (processes > 1 or worker or alone):
            return None, None, None
        db = self._shared = open_shared(self.pool.path, p.url)
        nonces = SharedNonces(db)
        epoch = self.pool.database.dialect == "postgresql"  # read with the tokens: one trip
        signed = SharedBuckets(db, *_rates(self.settings, False), nonces=nonces, epoch=epoch)
        return nonces, signed, SharedBuckets(db, *_rates(self.settings, True), sweep=KEY_PREFIX)

    def start(self) -> None:
        """Start filling the pool (unless ``[pool] fill = false`` or a worker)."""
        if self.settings.pool.fill and not self.worker:
            self.pipeline.start()

    def stop(self) -> None:
        """Stop filling and close the pool."""
        self.pipeline.stop()
        self._close()

    def _close(self) -> None:
        self.pool.close()
        if self._shared is not None:
            self._shared.close()
        if self.worker_state is not None:
            self.worker_state.close()
            self.worker_state = None

    def draw(self, nbytes: int, tier: str | None = None) -> Draw:
        """``nbytes`` fresh bytes of ``tier`` that nobody else will ever get.

        Raises
        ------
        TierUnavailable
            If the tier is unknown or one of its sources is quarantined.
        PoolEmpty
            If the pool holds fewer fresh bytes of the tier.
        """
        name = self._servable(tier)
        draw = self.pool.take(nbytes, name)
        self.metrics.bytes_served.labels(name).inc(nbytes)
        return draw

    def draw_held(
        self, nbytes: int, tier: str | None = None, epoch: str | None = None
    ) -> Draw | None:
        """Like :meth:`draw`, from the pool's memory only: None rather than wait.

        See :meth:`Pool.take_held`: it never waits for the database, so an event loop may
        call it. ``epoch``: the pool's discard counter, if the caller just read it.
        """
        name = self._servable(tier)
        draw = self.pool.take_held(nbytes, name, epoch)
        if draw is not None:
            self.metrics.bytes_served.labels(name).inc(nbytes)
        return draw

    def draw_check(self, tier: str | None = None) -> None:
        """Raise as :meth:`draw` would if ``tier`` cannot serve now; draw nothing."""
        self._servable(tier)

    def _servable(self, tier: str | None) -> str:
        """The tier's name if it may serve now (see :meth:`draw` for what is raised)."""
        name = tier or self.default_tier
        if name not in self.pipeline.tiers:
            raise TierUnavailable(
                f"unknown tier {name!r}; tiers: {list(self.pipeline.tiers)}", tier=name
            )
        problem = self.pipeline.tier_problem(name)
        if problem is not None:
            raise TierUnavailable(problem, tier=name)
        if self.pipeline.error:
            raise PoolEmpty(self.pipeline.error, tier=name)
        return name

    def source(self, tier: str | None = None) -> Callable[[int], Draw]:
        """``draw`` bound to one tier: the ``source(nbytes) -> Draw`` the beacon takes."""
        return lambda nbytes: self.draw(nbytes, tier)

    def status(self) -> dict[str, Any]:
        """Sources, health, pool levels and entropy estimates, JSON-ready."""
        tiers = {}
        for name, t in self.pipeline.tiers.items():
            problem = self.pipeline.tier_problem(name)
            flags = [self.pipeline.sources[s].simulated for s in t.sources]
            tiers[name] = {
                "sources": t.sources,
                "public": t.public,
                "simulated": combine_simulated(flags),
                "available": problem is None and not self.pipeline.error,
                "problem": problem or self.pipeline.error or None,
                "pool_bytes": self.pool.level(name),
                "availability": self.pipeline.availability_now(name).to_dict(),
            }
        sources = {}
        for name, rt in self.pipeline.sources.items():
            info = rt.health.to_dict()
            info.update(kind=rt.kind, simulated=rt.simulated, origin=rt.origin, tiers=rt.tiers,
                        raw_samples=rt.raw_samples, output_bytes=rt.extracted_bytes)  # fmt: skip
            if rt.params is not None:
                p = rt.params
                info["extractor"] = {"n": p.n, "m": p.m, "eps": p.eps,
                                     **self.pipeline.extraction.describe(p)}  # fmt: skip
            if rt.dira is not None:
                info["dira"] = {"run_id": rt.dira.run_id,
                                "certificate_sha512": rt.dira.certificate_sha512,
                                "provenance": rt.dira.origin()}  # fmt: skip
            sources[name] = info
        return {
            "service": "diamp",
            "uptime_seconds": time.time() - self.started,
            "default_tier": self.default_tier,
            "tiers": tiers,
            "sources": sources,
            "extractor_seed": {"kind": "held by the filling process"}
            if self.worker
            else self.pipeline.seed.describe(),
            "pipeline_error": self.pipeline.error or None,
        }
