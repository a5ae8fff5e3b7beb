"""The beacon in a running server: its store, its engine, and who runs the clock.

* One host, SQLite (``[beacon] state_db``): the first process runs the engine; ``--workers``
  processes serve the pulses it writes (store only).
* Several hosts on PostgreSQL (``[pool] url``): the pulses live in the shared database
  (:meth:`~diamp.service.beacon.store.PulseStore.postgres`) and the host holding the store's
  leader lock runs the clock. Every other host is a *standby*: it serves the pulses from the
  database and tries the lock about once a second; when the leader's connection ends (its host
  died) or its beacon stopped on a store error and resigned, a standby takes the lock, checks
  the store against its own anchor, publishes a pulse the leader persisted but did not
  publish, and continues the chain (a pulse after the gap carries the gap status). Every
  host must hold the same signing key and certificate; a host with another key would start a
  new chain, as a restart with a new key does; so would another pulse ``uri``: give the hosts
  one ``[beacon] public_base_uri`` (the address clients reach them at).

Pulse uris name ``[beacon] public_base_uri``, else ``[server]`` host and port (the CLI binds
first and puts the bound port there, so ``--port 0`` is named as served).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from diamp.service.beacon.engine import BeaconEngine
from diamp.service.beacon.settings import build_engine, served_uri
from diamp.service.beacon.store import PulseStore
from diamp.service.share import share_for

if TYPE_CHECKING:
    from diamp.service.core import Service

__all__ = ["BeaconHost", "beacon_host"]

log = logging.getLogger(__name__)


class BeaconHost:
    """A server's beacon: the store it serves and, on the host that leads, the engine."""

    def __init__(
        self,
        store: PulseStore,
        make_engine: Callable[[PulseStore], BeaconEngine] | None,
        watch: Callable[[BeaconEngine], None],
        period_s: float,
    ) -> None:
        self.store, self._make, self._watch = store, make_engine, watch
        self.period_s = period_s
        self.engine: BeaconEngine | None = None

    @property
    def standby(self) -> bool:
        """True on a host that may run the clock but does not (another host leads)."""
        return self._make is not None and self.engine is None

    def take_lead(self, *, start: bool = True) -> bool:
        """Become the leader if the lock is free: build the engine (and start it); True if so."""
        if self._make is None or self.engine is not None:
            return self.engine is not None
        if not self.store.lead():
            return False
        try:
            engine = self._make(self.store)
        except BaseException:
            self.store.resign()
            raise
        self.engine = engine
        self._watch(engine)
        if start:
            if engine.share is not None:
                engine.share.fill()
            engine.start()
        log.info("beacon: this host runs the clock (chain %d)", engine.chain.chain_index)
        return True

    def start(self) -> None:
        """Start the engine if this host leads (from the app's lifespan)."""
        if self.engine is not None:
            self.engine.start()

    def _step(self) -> bool:
        """One turn of :meth:`run` (in a thread); True when a takeover attempt failed."""
        engine = self.engine
        if engine is not None and engine.error is not None and self.store.shared_hosts:
            self.engine = None  # stopped on a store error and resigned: a standby again
            engine.stop()
        if engine is not None and engine.running and engine.share is not None:
            engine.share.fill()
        if self.engine is not None or self._make is None:
            return False
        try:
            self.store.heal()
            self.take_lead()
        except Exception:  # this host stays a standby; say why, try again later
            log.exception("beacon: could not take over the clock")
            return True
        return False

    async def run(self) -> None:
        """Lifespan task: keep the leader's share filled; on a standby, try to lead.

        A shared store's leader whose beacon stopped on a store error (the database went
        away) becomes a standby again, so the hosts resume once the database is back.
        """
        poll = min(1.0, self.period_s / 4)
        wait = poll
        while True:
            failed = await asyncio.to_thread(self._step)
            wait = min(60.0, max(wait * 2, self.period_s)) if failed else poll
            await asyncio.sleep(wait)

    def stop(self) -> None:
        """Stop the engine (if this host runs it) and close the store."""
        if self.engine is not None:
            self.engine.stop()
        self.store.close()


def beacon_host(service: Service, *, new_chain: bool) -> BeaconHost | None:
    """The beacon of ``[beacon]`` for this process (None when absent or disabled).

    Raises
    ------
    DiampError
        If the store, keys or anchor cannot be opened or disagree (the engine of the first
        host is built here, so a bad state refuses the start).
    """
    settings = service.settings
    beacon = settings.beacon
    if beacon is None or not beacon.enabled:
        return None
    b = beacon.resolved(settings.base_dir)
    url, period_s = settings.pool.url, b.period_ms / 1000
    store = PulseStore.postgres(url) if url is not None else None
    if service.worker:  # a worker serves the store; the clock is in the first process
        return BeaconHost(store or PulseStore(b.state_db), None, lambda _e: None, period_s)

    server = settings.server
    served = None if b.public_base_uri else served_uri(server.host, server.port,
                                                       tls=server.tls_cert is not None)  # fmt: skip

    def make(found: PulseStore | None) -> BeaconEngine:
        share = share_for(service, beacon.tier, beacon.reserve_pulses)
        engine = build_engine(
            b, share or service.source(beacon.tier), served_at=served, new_chain=new_chain,
            store=found,
        )  # fmt: skip
        if share is not None:  # topped up after every pulse, and while waiting
            engine.on_publish.append(lambda _pulse: share.fill())
            engine.share = share
        return engine

    if store is None:
        engine = make(None)
        host = BeaconHost(engine.store, make, service.metrics.watch_beacon, period_s)
        host.engine = engine
        service.metrics.watch_beacon(engine)
        return host
    host = BeaconHost(store, make, service.metrics.watch_beacon, period_s)
    try:
        if not host.take_lead(start=False):
            log.info("beacon: another host runs the clock; this one serves its pulses")
    except BaseException:
        store.close()
        raise
    return host
