"""Simulated oscilloscopes: a run's series of timing checks with realistic envelopes.

Each declared device that has a threshold contributes an edge per node and check, arriving
at a nominal time plus its drift (ps/h × elapsed hours); both nodes see their own reference
pulse at 0 ns and the other node's master pulse after a cable delay shifted by the
inter-node offset (+offset at A, −offset at B, so that (τ_A − τ_B)/2 recovers it).
Granularity-step jitter can be injected on a device from a given check on.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np

from diamp.errors import TimingError
from diamp.timing.envelopes import EnvelopeTrace
from diamp.timing.records import Role, TimingCheck, TraceRecord
from diamp.timing.section import TimingSection
from diamp.timing.synthetic import SyntheticEdge, synthetic_envelopes

__all__ = ["CABLE_DELAY_NS", "node_edges", "simulated_checks", "timing_traces"]

CABLE_DELAY_NS = 110.0
_WINDOW_NS = 20.0


def _trace(edge: SyntheticEdge, triggers: int, rng: np.random.Generator) -> EnvelopeTrace:
    at = edge.arrival_ns + edge.offset_ns
    return synthetic_envelopes(
        edge, triggers=triggers, window_ns=(at - _WINDOW_NS, at + _WINDOW_NS), rng=rng
    )


Node = Literal["A", "B"]
_SIGN: dict[Node, float] = {"A": 1.0, "B": -1.0}


def timing_traces(section: TimingSection) -> tuple[tuple[str, Role], ...]:
    """The traces every node shows at a timing check, in order, as ``(name, role)``.

    The node's ``reference`` pulse, the other node's master pulse (``remote``) and one
    ``edge`` per declared device with a threshold (sorted by name).
    """
    devices = sorted(k for k, d in section.devices.items() if d.threshold_v is not None)
    return (("reference", "reference"), ("remote", "remote"), *((d, "edge") for d in devices))


def node_edges(
    section: TimingSection,
    node: Node,
    *,
    time_h: float,
    offset_ns: float = 0.55,
    jitter_device: str | None = None,
) -> dict[str, SyntheticEdge]:
    """The edges node ``node``'s scopes show ``time_h`` hours into the run (module docs).

    Keyed by the names of :func:`timing_traces`; ``jitter_device`` (a device with a
    threshold, or None) jumps by whole granularity steps on 5 % of the triggers.
    """
    edges = {
        "reference": SyntheticEdge(device="reference", arrival_ns=0.0),
        "remote": SyntheticEdge(
            device="remote", arrival_ns=CABLE_DELAY_NS, offset_ns=_SIGN[node] * offset_ns
        ),
    }
    devices = [name for name, role in timing_traces(section) if role == "edge"]
    for i, name in enumerate(devices):
        dev = section.devices[name]
        jitter = name == jitter_device
        edges[name] = SyntheticEdge(
            device=name,
            arrival_ns=10.0 + 12.0 * i,
            offset_ns=dev.drift_ps_per_h * float(time_h) / 1000,
            jitter_steps_ns=dev.granularity_ns if jitter else 0.0,
            p_step=0.05 if jitter else 0.0,
        )
    return edges


def simulated_checks(
    section: TimingSection,
    *,
    checks: int = 21,
    hours: float = 9.0,
    offset_ns: float = 0.55,
    jitter_device: str | None = None,
    jitter_from: int = 0,
    triggers: int = 500,
    rng: np.random.Generator,
) -> list[TimingCheck]:
    """``checks`` evenly spaced timing checks over ``hours`` (see the module docs)."""
    if checks < 1 or not 0 <= hours < math.inf:  # NaN fails the comparison too
        raise TimingError(f"need checks >= 1 and finite hours >= 0, found {checks}, {hours}")
    if jitter_device is not None and (jitter_device, "edge") not in timing_traces(section):
        raise TimingError(
            f"--jitter-device {jitter_device!r} is not a declared device with a threshold"
        )
    roles = dict(timing_traces(section))
    series = []
    for k, t in enumerate(np.linspace(0.0, hours, checks)):
        records = []
        for node in ("A", "B"):
            edges = node_edges(
                section,
                node,
                time_h=float(t),
                offset_ns=offset_ns,
                jitter_device=jitter_device if k >= jitter_from else None,
            )
            for name, edge in edges.items():
                trace = _trace(edge, triggers, rng)
                records.append(TraceRecord(f"{node}-{name}", node, roles[name], trace))
        label = "before block 0" if k == 0 else f"after block {k - 1}"
        series.append(TimingCheck(float(t), label, tuple(records)))
    return series
