"""Timing checks acquired from the station's oscilloscopes.

The wiring comes from the run config: each ``type = "scope"`` instrument at node A or B maps
input channels to the traces of a timing check (``channels = { ch1 = "reference", … }``).
:func:`scope_wiring` checks it against the timing section before anything is acquired: per
node, the node's ``reference`` pulse, the other node's master pulse (``remote``) and every
device with a threshold, each on exactly one channel; unknown names and channels the driver
does not have are refused, naming file and key.

:class:`ScopeTiming` takes one check: it arms every scope (one single-sequence envelope
acquisition), waits for all, reads each scope's clock (elapsed time since the first check of
this acquisition, the largest over the scopes) and settings, then downloads every mapped
channel. Each trace keeps its provenance (:class:`~diamp.timing.records.TraceSource`). An
instrument failure raises :class:`~diamp.errors.InstrumentError` naming the scope and check.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from diamp.config import InstrumentConfig, TimingSimulation
from diamp.daq.instruments.tektronix import TekScope
from diamp.errors import ConfigError, InstrumentError
from diamp.timing.records import Role, TimingCheck, TraceRecord, TraceSource
from diamp.timing.section import TimingSection
from diamp.timing.simulate import timing_traces

__all__ = ["ScopeChannel", "ScopeTiming", "TimingContext", "scope_wiring", "uses_scopes"]

_NODES: tuple[Literal["A", "B"], ...] = ("A", "B")


@dataclass(frozen=True)
class ScopeChannel:
    """One trace of a timing check and the scope input that shows it."""

    instrument: str
    node: Literal["A", "B"]
    channel: int
    trace: str
    role: Role

    @property
    def name(self) -> str:
        """The trace's name in a timing check, e.g. ``A-qrng``."""
        return f"{self.node}-{self.trace}"


@dataclass(frozen=True)
class TimingContext:
    """What the station's scopes need of the run's ``[timing]``.

    ``section`` is the timing section the checks are judged by, ``section_file`` its name as
    the config gives it (for messages), ``simulate`` the scene loopback scopes show and
    ``seed`` the run seed (their noise), ``origin`` the config file the wiring comes from.
    """

    section: TimingSection
    section_file: str
    simulate: TimingSimulation
    seed: int
    origin: str


def uses_scopes(instruments: Mapping[str, InstrumentConfig], timed: bool) -> bool:
    """Whether a run's timing checks come from scopes: it is ``timed`` and has any scope."""
    return timed and any(i.type == "scope" for i in instruments.values())


def _unknown(context: TimingContext, where: str, trace: str) -> ConfigError:
    section = context.section
    known = [name for name, _ in timing_traces(section)]
    why = (
        f"device {trace!r} has no threshold_v in {context.section_file}, so its pulses are not "
        "checked"
        if trace in section.devices
        else f"{trace!r} is not a trace of a timing check; known: {known}"
    )
    return ConfigError(f"{context.origin}: {where}: {why}", path=context.origin, key=where)


def scope_wiring(
    instruments: Mapping[str, InstrumentConfig], context: TimingContext
) -> tuple[ScopeChannel, ...]:
    """Validate the scopes' ``channels`` against the timing section; the channels in check order."""
    section, origin = context.section, context.origin
    roles = dict(timing_traces(section))
    found: dict[tuple[str, str], ScopeChannel] = {}
    for name, inst in sorted(instruments.items()):
        if inst.type != "scope":
            continue
        for key, trace in inst.channels.items():
            where = f"instruments.{name}.channels.{key}"
            channel = int(key[2:])
            if channel not in TekScope.CHANNELS:
                raise ConfigError(
                    f"{origin}: {where}: a scope has inputs "
                    f"ch{TekScope.CHANNELS[0]}..ch{TekScope.CHANNELS[-1]}",
                    path=origin,
                    key=where,
                )
            if trace not in roles:
                raise _unknown(context, where, trace)
            node: Literal["A", "B"] = "A" if inst.node == "A" else "B"
            found[node, trace] = ScopeChannel(name, node, channel, trace, roles[trace])
    missing = [f"{node}: {t!r}" for node in _NODES for t in roles if (node, t) not in found]
    if missing:
        raise ConfigError(
            f"{origin}: timing checks need every trace on one scope channel per node; "
            f"not shown by any scope: {', '.join(missing)} (add them to the channels of a "
            'scope at that node, e.g. channels = { ch1 = "reference" })',
            path=origin,
            key="instruments",
        )
    return tuple(found[node, trace] for node in _NODES for trace in roles)


def _elapsed_h(clocks: Mapping[str, datetime], origin: Mapping[str, datetime]) -> float:
    hours = {name: (clocks[name] - origin[name]).total_seconds() / 3600 for name in clocks}
    for name, value in hours.items():
        if value < 0:
            raise InstrumentError(
                f"{name}: clock went back {-value * 3600:.0f} s since the first timing check "
                f"({origin[name].isoformat()} -> {clocks[name].isoformat()})",
                instrument=name,
            )
    return max(hours.values())


class ScopeTiming:
    """Takes timing checks from the station's scopes (see the module docs)."""

    def __init__(
        self,
        scopes: Mapping[str, TekScope],
        wiring: Sequence[ScopeChannel],
        timeout_ms: int = 60_000,
    ) -> None:
        self.wiring = tuple(wiring)
        self.scopes = {name: scopes[name] for name in sorted({w.instrument for w in wiring})}
        self.timeout_ms = timeout_ms
        self._origin: dict[str, datetime] | None = None

    def restore_origin(self, first: TimingCheck) -> None:
        """Continue a resumed run's clock: elapsed time counts from ``first``'s acquisition.

        ``first`` is the run's stored check 0; each scope's clock at that check is read from
        the settings snapshot of its traces.
        """
        origin: dict[str, datetime] = {}
        for rec in first.records:
            if rec.source is None or rec.source.instrument not in self.scopes:
                continue
            try:
                clock = json.loads(rec.source.snapshot)["clock"]
                origin[rec.source.instrument] = datetime.fromisoformat(clock)
            except (ValueError, KeyError, TypeError) as err:
                raise InstrumentError(
                    f"stored check {first.label!r}, trace {rec.name}: no readable scope clock "
                    f"in its snapshot ({err})",
                    instrument=rec.source.instrument,
                ) from err
        missing = sorted(set(self.scopes) - set(origin))
        if missing:
            raise InstrumentError(
                f"stored check {first.label!r} has no trace from scope(s) {missing}; the "
                "stored checks were not taken with this station's scopes",
                instrument=missing[0],
            )
        self._origin = origin

    def acquire(self, label: str) -> TimingCheck:
        """One timing check; :class:`InstrumentError` names the scope and ``label``."""
        try:
            return self._acquire(label)
        except InstrumentError as err:
            fields: dict[str, Any] = {**err.fields, "check": label}
            raise InstrumentError(f"timing check {label!r}: {err.message}", **fields) from err

    def _acquire(self, label: str) -> TimingCheck:
        for scope in self.scopes.values():
            scope.arm()
        for scope in self.scopes.values():
            scope.wait_acquired(self.timeout_ms)
        clocks = {name: scope.clock() for name, scope in self.scopes.items()}
        if self._origin is None:
            self._origin = clocks
        elapsed = _elapsed_h(clocks, self._origin)
        snapshots = {
            name: json.dumps(
                {
                    "address": scope.address,
                    "idn": scope.idn,
                    "clock": clocks[name].isoformat(),
                    "settings": scope.snapshot(),
                }
            )
            for name, scope in self.scopes.items()
        }
        records = tuple(
            TraceRecord(
                w.name,
                w.node,
                w.role,
                self.scopes[w.instrument].read_envelope(w.channel, w.trace),
                TraceSource(w.instrument, w.channel, snapshots[w.instrument]),
            )
            for w in self.wiring
        )
        return TimingCheck(elapsed, label, records)
