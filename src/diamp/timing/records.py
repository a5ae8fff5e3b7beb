"""Timing checks as data: named envelope traces per node and role, per check time."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from diamp.timing.envelopes import EnvelopeTrace

__all__ = ["Role", "TimingCheck", "TraceRecord", "TraceSource"]

Role = Literal["edge", "reference", "remote"]


@dataclass(frozen=True)
class TraceSource:
    """Where a trace was acquired: the instrument, its input channel and its state then.

    ``snapshot`` is a JSON object: the instrument's address and identification, its clock at
    the acquisition and every declared setting read back (value, unit, timestamp).
    """

    instrument: str
    channel: int
    snapshot: str = "{}"


@dataclass(frozen=True)
class TraceRecord:
    """One envelope trace and what it shows.

    ``role`` is ``edge`` (a device pulse checked for jitter), ``reference`` (the local master
    AWG's reference pulse, the node's zero time) or ``remote`` (the pulse from the other
    node's master AWG). ``source`` says which scope channel acquired it (None for
    synthetic traces).
    """

    name: str
    node: Literal["A", "B"]
    role: Role
    trace: EnvelopeTrace
    source: TraceSource | None = None


@dataclass(frozen=True)
class TimingCheck:
    """The traces of one timing check (before the first block, between blocks, …)."""

    time_h: float
    label: str
    records: tuple[TraceRecord, ...]
