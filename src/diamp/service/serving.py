"""A ``diamp serve --workers N`` worker's view of the pipeline: tiers, and no sources.

Only the first process runs the sources (:mod:`diamp.service.workers`); the others serve from
the pool it fills and need only the tiers' names and the DIRA certificates they may be asked
for.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from diamp.service.availability import Availability
from diamp.service.pipeline import Pipeline
from diamp.service.sources import DiraKey, load_dira_key

if TYPE_CHECKING:
    from diamp.service.pool import Pool
    from diamp.service.settings import ServiceSettings

__all__ = ["ServingOnly", "dira_keys"]


class ServingOnly(Pipeline):
    """The pipeline as a worker process sees it: tiers, no sources (another process fills).

    A tier is available to a worker while the pool holds its bytes: the leader deletes a
    quarantined source's bytes from the pool, so a worker never needs to know its health.
    """

    def __init__(self, settings: ServiceSettings, pool: Pool) -> None:  # no super(): no sources
        self.settings, self.pool, self.clock = settings, pool, time.monotonic
        self.tiers = {t.name: t for t in settings.tiers}
        self.sources = {}
        self.error = ""
        self.availability = {name: Availability() for name in self.tiers}
        self._ticked = self.clock()

    def tier_problem(self, tier: str) -> str | None:
        """None: the leader empties a tier whose sources fail (see the class docs)."""
        return None

    def start(self, idle_seconds: float = 0.05) -> None:
        """Nothing to run: the leader fills the pool."""

    def stop(self) -> None:
        """Nothing to stop."""


def dira_keys(settings: ServiceSettings) -> list[DiraKey]:
    """The configured DIRA runs (certificates only matter to a worker: it serves them)."""
    from diamp.service.settings import DiraSource

    return [
        load_dira_key(s.name, settings.resolve(s.run))
        for s in settings.sources
        if isinstance(s, DiraSource)
    ]
