"""What a draw from the pool carries: the bytes, their tier and where each piece came from.

A draw says whether it is simulated (:attr:`Draw.simulated`): from the ``simulated`` flag each
source has in its chunk's provenance (see :mod:`diamp.service.pipeline`); a chunk or source
that does not say (stored before the flag existed) counts as of unknown provenance.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

__all__ = ["Draw", "Reserved", "Segment", "drop_stale", "held", "serve_reserved"]


@dataclass(frozen=True)
class Segment:
    """Where served bytes came from: bytes [offset, offset + length) of one pool chunk."""

    chunk_id: int
    offset: int
    length: int
    created: float
    sources: tuple[str, ...]
    dira_certificates: tuple[str, ...]
    provenance: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready provenance of the segment."""
        return {
            "chunk": self.chunk_id,
            "offset": self.offset,
            "length": self.length,
            "created_unix": self.created,
            "sources": list(self.sources),
            "dira_certificates": list(self.dira_certificates),
            "provenance": json.loads(self.provenance),
        }

    def not_hardware(self) -> list[dict[str, Any]]:
        """The chunk's sources that are simulated (true) or of unknown provenance (null).

        Each entry: ``source`` (name), ``kind``, ``simulated`` (true or null) and, for a DIRA
        source, ``certificate`` (SHA-512 hex of its certificate file).
        """
        try:
            found = json.loads(self.provenance)
        except ValueError:
            found = None
        parts = found.get("sources") if isinstance(found, dict) else None
        if not isinstance(parts, dict):
            return [{"source": n, "kind": "unknown", "simulated": None} for n in self.sources]
        out = []
        for name in self.sources:
            part = parts.get(name)
            part = part if isinstance(part, dict) else {}
            flag = part.get("simulated")
            if flag is False:
                continue
            entry: dict[str, Any] = {"source": name, "kind": str(part.get("kind", "unknown")),
                                     "simulated": True if flag is True else None}  # fmt: skip
            if isinstance(part.get("certificate_sha512"), str):
                entry["certificate"] = part["certificate_sha512"]
            out.append(entry)
        return out


@dataclass(frozen=True)
class Draw:
    """Bytes taken from the pool, with their provenance.

    ``dira_certificates`` are the SHA-512 hex digests (of the certificate files) of the
    DIRA runs whose keys contributed, in first-use order.
    """

    data: bytes
    tier: str
    segments: tuple[Segment, ...]

    @property
    def dira_certificates(self) -> tuple[str, ...]:
        """SHA-512 hex of each contributing DIRA certificate, without repeats."""
        return tuple(dict.fromkeys(h for s in self.segments for h in s.dira_certificates))

    @property
    def sources(self) -> tuple[str, ...]:
        """Names of the contributing sources, without repeats."""
        return tuple(dict.fromkeys(n for s in self.segments for n in s.sources))

    @property
    def simulated_sources(self) -> tuple[dict[str, Any], ...]:
        """Contributing sources that are simulated or of unknown provenance, without repeats.

        See :meth:`Segment.not_hardware` for the entries.
        """
        entries = (e for s in self.segments for e in s.not_hardware())
        unique = {json.dumps(e, sort_keys=True): e for e in entries}
        return tuple(unique.values())

    @property
    def simulated(self) -> bool | None:
        """True if a source was simulated, None if one is of unknown provenance, else False."""
        flags = [e["simulated"] for e in self.simulated_sources]
        return True if True in flags else (None if flags else False)


class Reserved:
    """A reserved, not yet served range of one pool chunk, held in a process's memory."""

    __slots__ = ("data", "pos", "segment")

    def __init__(self, segment: Segment, data: bytes) -> None:
        self.segment, self.data, self.pos = segment, data, 0


def held(queue: Iterable[Reserved]) -> int:
    """Bytes reserved in memory and not yet served."""
    return sum(len(r.data) - r.pos for r in queue)


def serve_reserved(queue: deque[Reserved], tier: str, nbytes: int) -> Draw:
    """The next ``nbytes`` of ``queue`` (which must hold them) as one draw; used up, dropped."""
    parts: list[bytes] = []
    segments: list[Segment] = []
    left = nbytes
    while left:
        r = queue[0]
        n = min(left, len(r.data) - r.pos)
        whole = r.pos == 0 and n == len(r.data)
        parts.append(r.data if whole else r.data[r.pos : r.pos + n])
        s = r.segment
        segments.append(
            Segment(s.chunk_id, s.offset + r.pos, n, s.created, s.sources,
                    s.dira_certificates, s.provenance)
        )  # fmt: skip
        r.pos += n
        left -= n
        if r.pos == len(r.data):
            queue.popleft()
    return Draw(parts[0] if len(parts) == 1 else b"".join(parts), tier, tuple(segments))


def drop_stale(queue: deque[Reserved], limit: float) -> None:
    """Drop the reservations of chunks created before ``limit`` (never served: too old)."""
    if any(r.segment.created < limit for r in queue):
        keep = [r for r in queue if r.segment.created >= limit]
        queue.clear()
        queue.extend(keep)
