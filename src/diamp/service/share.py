"""The beacon's share of its tier: draws set aside for the next pulses, out of the API's reach.

API clients draw from the same tier as the beacon; under load they can empty the pool just
before a pulse is due, and the pulse is then missed. :class:`BeaconShare` therefore holds the
draws of the next ``pulses`` pulses, taken from the pool ahead of time (each a normal draw:
committed as taken before it is held, so a crash loses them and never repeats them). A pulse
takes the oldest; after each pulse the share is topped up from the tier as far as the pool
allows. With the default of 64 pulses a beacon with a 1 s period rides out a minute in which
clients take every byte the sources produce.

What the share holds is served bytes in waiting, so it follows the tier's rules at every
pulse: a quarantine anywhere (the pipeline's quarantine count moved) drops everything held,
as the pool drops the source's unserved bytes; draws older than the pool's freshness limit
are dropped; an unavailable tier is refused as for any draw.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

from diamp.errors import DiampError
from diamp.service.beacon.pulse import HASH_BYTES
from diamp.service.draw import Draw

if TYPE_CHECKING:
    from diamp.service.core import Service

__all__ = ["BeaconShare", "share_for"]


class BeaconShare:
    """``share(nbytes) -> Draw``: the beacon's source, drawing ``size``-byte pieces ahead.

    ``draw(nbytes)`` draws from the tier (raising as :meth:`diamp.service.core.Service.draw`
    does), ``check()`` raises as a draw would if the tier cannot serve now, ``quarantines()``
    counts the pipeline's quarantines so far.
    """

    def __init__(
        self,
        draw: Callable[[int], Draw],
        check: Callable[[], object],
        quarantines: Callable[[], int],
        *,
        pulses: int,
        size: int,
        freshness_seconds: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._draw, self._check, self._quarantines = draw, check, quarantines
        self.pulses, self.size = pulses, size
        self.freshness, self.clock = freshness_seconds, clock
        self._held: deque[Draw] = deque()
        self._seen = quarantines()
        self._lock = threading.Lock()

    @property
    def held(self) -> int:
        """Pulses' draws held now."""
        return len(self._held)

    def __call__(self, nbytes: int) -> Draw:
        """A draw of ``nbytes``: a held one when it has the share's size, else a fresh one."""
        with self._lock:
            self._forget_stale()
            if nbytes != self.size or not self._held:
                return self._draw(nbytes)  # raises when the tier cannot serve
            self._check()  # raises as a draw would when the tier cannot serve now
            return self._held.popleft()

    def fill(self) -> None:
        """Top the share up to ``pulses`` draws as far as the pool allows."""
        with self._lock:
            self._forget_stale()
            while len(self._held) < self.pulses:
                try:
                    self._held.append(self._draw(self.size))
                except DiampError:  # empty or unavailable for now: the next fill tries again
                    break

    def _forget_stale(self) -> None:
        seen = self._quarantines()
        if seen != self._seen:  # a source was quarantined: its bytes must not be used
            self._held.clear()
            self._seen = seen
        limit = self.clock() - self.freshness
        while self._held and min(s.created for s in self._held[0].segments) < limit:
            self._held.popleft()


def share_for(service: Service, tier: str, pulses: int) -> BeaconShare | None:
    """The share of ``pulses`` pulses of ``tier`` for the beacon ``service`` feeds (None: 0)."""
    if pulses == 0:
        return None
    runtimes = service.pipeline.sources.values()
    return BeaconShare(
        service.source(tier),
        lambda: service.draw_check(tier),
        lambda: sum(rt.health.quarantines for rt in runtimes),
        pulses=pulses,
        size=HASH_BYTES,
        freshness_seconds=service.settings.pool.freshness_seconds,
    )
