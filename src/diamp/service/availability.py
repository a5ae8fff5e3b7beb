"""Availability of a tier, accounted on the pipeline's clock (an SLI of seed 004).

A tier is *available* while none of its sources is quarantined, the pipeline runs and its
pool holds bytes: a request of one byte would be answered. The pipeline adds the time between
its steps in the state it saw at the end of the previous step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["Availability"]


@dataclass
class Availability:
    """Per tier: warm-up until it first could serve, then seconds observed and available.

    ``warmup_seconds`` is the time from the start of the pipeline until the tier first could
    serve (a raw source's first SP 800-90B assessment and first blocks); ``observed_seconds``
    and ``available_seconds`` count from then on, so ``ratio`` is the availability of a
    running tier and the warm-up is reported beside it, not hidden in it.
    """

    warmup_seconds: float = 0.0
    observed_seconds: float = 0.0
    available_seconds: float = 0.0
    available: bool = False
    started: bool = False

    def add(self, dt: float) -> None:
        """Count ``dt`` seconds in the current state."""
        if not self.started:
            self.warmup_seconds += dt
            return
        self.observed_seconds += dt
        if self.available:
            self.available_seconds += dt

    @property
    def ratio(self) -> float:
        """Fraction of the observed time the tier could serve (1.0 before any time passed)."""
        if self.observed_seconds <= 0:
            return 1.0
        return self.available_seconds / self.observed_seconds

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "ratio": self.ratio,
            "available_seconds": self.available_seconds,
            "observed_seconds": self.observed_seconds,
            "warmup_seconds": self.warmup_seconds,
            "serving": self.available,
        }
