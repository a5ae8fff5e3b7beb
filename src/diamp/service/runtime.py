"""One source in the running pipeline: its stream or key, health, buffers and jobs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from diamp.extractors.bits import PackedBits
from diamp.extractors.params import ToeplitzParams
from diamp.service.errors import SourceError
from diamp.service.extraction import Jobs
from diamp.service.health import SourceHealth
from diamp.service.hwm import RunMark
from diamp.service.sources import DiraKey, RawStream

__all__ = ["SourceRuntime"]


@dataclass
class SourceRuntime:
    """One source in the running pipeline."""

    name: str
    kind: str
    health: SourceHealth
    tiers: list[str]
    stream: RawStream | None = None
    dira: DiraKey | None = None
    params: ToeplitzParams | None = None
    seed: PackedBits | None = None
    raw: list[np.ndarray] = field(default_factory=list)
    out: bytearray = field(default_factory=bytearray)
    divert: bytearray = field(default_factory=bytearray)
    diverting: bool = False
    mark: RunMark | None = None
    jobs: Jobs = field(default_factory=Jobs)  # blocks on the extraction workers, in order
    raw_samples: int = 0
    extracted_bytes: int = 0
    origin: dict[str, Any] = field(default_factory=lambda: {"simulated": None})

    @property
    def simulated(self) -> bool | None:
        """True (simulated), False (hardware) or None (unknown provenance)."""
        value: bool | None = self.origin.get("simulated")
        return value

    in_force: float | None = None  # min-entropy per sample the current ``params`` use

    @property
    def raw_count(self) -> int:
        """Buffered raw samples."""
        return sum(a.size for a in self.raw)

    def extraction(self) -> tuple[RawStream, ToeplitzParams, PackedBits]:
        """The raw stream, extractor parameters and seed of a raw source."""
        if self.stream is None or self.params is None or self.seed is None:
            raise SourceError(
                f"source {self.name}: no raw stream, extractor parameters or seed "
                "(a DIRA source is not extracted)"
            )
        return self.stream, self.params, self.seed
