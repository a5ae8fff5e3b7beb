"""Oscilloscope envelope traces: edge timing, jitter detection and inter-node offsets.

In the DIRA timing verification each node's oscilloscope acquires several thousand triggers of
reference pulses in *envelope mode*: for every sample time it keeps the minimum (low envelope)
and the maximum (high envelope) over all triggers. A pulse edge crossing a threshold then
yields an early and a late crossing time; their difference (the *spread*) stays well below
1 ns without trigger jitter and grows to at least one granularity step of the control device
(1.66 ns for a Tektronix AWG5014) with it. This module turns envelope traces into those
numbers; the envelope simulator (:mod:`diamp.timing.synthetic`) is re-exported from here.

Everything here is pure: arrays and frozen dataclasses in and out, no I/O.

References
----------
Kulikov et al., "Device-Independent Randomness Amplification", Supplementary Information
sections II-III (timing verification, Figs. 6-8, Table I).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np
import numpy.typing as npt

from diamp.errors import TimingError

if TYPE_CHECKING:  # the generator lives in synthetic.py and is re-exported lazily below
    pass

__all__ = [
    "EdgeTiming",
    "EnvelopeTrace",
    "edge_timing",
    "inter_node_offset",
    "threshold_crossing",
]

Edge = Literal["rising", "falling"]
FloatArray = npt.NDArray[np.float64]

_ENVELOPE_SLACK_V = 1e-12  # tolerated high < low from rounding, volts


def _check_edge(edge: str) -> None:
    if edge not in ("rising", "falling"):
        raise TimingError(f"edge must be 'rising' or 'falling', got {edge!r}", edge=edge)


def _finite(name: str, value: float, device: str | None = None) -> float:
    value = float(value)
    if not math.isfinite(value):
        who = f"{device}: " if device is not None else ""
        raise TimingError(f"{who}{name} must be finite, got {value}", device=device)
    return value


@dataclass(frozen=True, eq=False)
class EnvelopeTrace:
    """Low and high envelopes of one device's pulse, sampled on a fixed oscilloscope grid.

    Sample ``k`` is at time ``t0_ns + k * dt_ns`` relative to the node reference pulse. The
    arrays are copied to read-only float64 arrays on construction.

    Parameters
    ----------
    device
        Name of the device whose pulse was recorded (``"awg5014-other-node"``, ``"qrng"``, ...).
    t0_ns
        Time of sample 0 relative to the node reference, in ns.
    dt_ns
        Sample interval in ns (0.4 ns at 2.5 GS/s); must be positive.
    low, high
        Pointwise minimum and maximum over all triggers, in volts; 1-d, equal length >= 2,
        finite, ``high >= low`` (1e-12 V slack).

    Raises
    ------
    TimingError
        If any of the above fails; the message names the device and the defect.
    """

    device: str
    t0_ns: float
    dt_ns: float
    low: FloatArray
    high: FloatArray

    def __post_init__(self) -> None:
        dev = self.device
        _finite("t0_ns", self.t0_ns, dev)
        if not (math.isfinite(float(self.dt_ns)) and self.dt_ns > 0):
            raise TimingError(f"{dev}: dt_ns must be finite and > 0, got {self.dt_ns}", device=dev)
        arrays = {name: _as_trace_array(dev, name, getattr(self, name)) for name in ("low", "high")}
        low, high = arrays["low"], arrays["high"]
        if low.shape != high.shape:
            raise TimingError(
                f"{dev}: low and high envelopes differ in length ({low.size} vs {high.size})",
                device=dev,
            )
        if low.size < 2:
            raise TimingError(f"{dev}: envelopes need >= 2 samples, got {low.size}", device=dev)
        bad = np.flatnonzero(high < low - _ENVELOPE_SLACK_V)
        if bad.size:
            k = int(bad[0])
            raise TimingError(
                f"{dev}: high envelope below low envelope at {bad.size} samples "
                f"(first at index {k}: high={high[k]!r} < low={low[k]!r})",
                device=dev,
                index=k,
            )
        object.__setattr__(self, "t0_ns", float(self.t0_ns))
        object.__setattr__(self, "dt_ns", float(self.dt_ns))
        object.__setattr__(self, "low", low)
        object.__setattr__(self, "high", high)

    @property
    def times_ns(self) -> FloatArray:
        """Sample times ``t0_ns + k * dt_ns`` in ns."""
        return self.t0_ns + self.dt_ns * np.arange(self.low.size, dtype=np.float64)


def _as_trace_array(device: str, name: str, values: object) -> FloatArray:
    try:
        arr = np.array(values, dtype=np.float64, copy=True)
    except (TypeError, ValueError) as err:
        raise TimingError(
            f"{device}: {name} envelope is not numeric: {err}", device=device
        ) from err
    if arr.ndim != 1:
        raise TimingError(
            f"{device}: {name} envelope must be 1-d, got shape {arr.shape}", device=device
        )
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        raise TimingError(
            f"{device}: {name} envelope has {bad.size} non-finite samples "
            f"(first at index {int(bad[0])})",
            device=device,
            index=int(bad[0]),
        )
    arr.flags.writeable = False
    return arr


def threshold_crossing(
    values: npt.ArrayLike,
    t0_ns: float,
    dt_ns: float,
    threshold: float,
    edge: Edge = "rising",
) -> float:
    """Time of the first crossing of ``threshold`` on the given edge.

    Parameters
    ----------
    values
        1-d finite samples (volts) at times ``t0_ns + k * dt_ns``.
    t0_ns, dt_ns
        Time of sample 0 and sample interval (ns, ``dt_ns > 0``).
    threshold
        Absolute threshold in volts.
    edge
        ``"rising"``: first ``k`` with ``v[k] < threshold <= v[k+1]``; ``"falling"``: first
        ``k`` with ``v[k] > threshold >= v[k+1]``.

    Returns
    -------
    float
        Crossing time in ns, linearly interpolated between samples ``k`` and ``k+1``.

    Raises
    ------
    TimingError
        If the samples are not 1-d, shorter than 2 or non-finite, if ``dt_ns <= 0``, or if there
        is no crossing of ``threshold`` on that edge (the message names the threshold).

    Notes
    -----
    ``t = t0 + dt * (k + (threshold - v[k]) / (v[k+1] - v[k]))``: exact whenever the signal is
    linear between the two bracketing samples.
    """
    _check_edge(edge)
    v = _as_trace_array("threshold_crossing", "values", values)
    t0 = _finite("t0_ns", t0_ns)
    thr = _finite("threshold", threshold)
    if not (math.isfinite(float(dt_ns)) and dt_ns > 0):
        raise TimingError(f"dt_ns must be finite and > 0, got {dt_ns}")
    if v.size < 2:
        raise TimingError(f"need >= 2 samples to find a crossing, got {v.size}")
    a, b = v[:-1], v[1:]
    hits = (a < thr) & (b >= thr) if edge == "rising" else (a > thr) & (b <= thr)
    idx = np.flatnonzero(hits)
    if idx.size == 0:
        raise TimingError(
            f"no {edge} crossing of threshold {thr!r} V in {v.size} samples "
            f"(values span [{v.min()!r}, {v.max()!r}] V)",
            threshold=thr,
        )
    k = int(idx[0])
    frac = (thr - v[k]) / (v[k + 1] - v[k])
    return float(t0 + dt_ns * (k + frac))


@dataclass(frozen=True)
class EdgeTiming:
    """Early and late envelope crossings of one pulse edge and the jitter verdict.

    Parameters
    ----------
    device
        Device name copied from the trace.
    early_ns, late_ns
        Earlier and later of the two envelope crossing times (ns).
    spread_ns
        ``late_ns - early_ns`` (>= 0).
    granularity_ns
        Timing granularity of the device (e.g. 1.66 ns for an AWG5014).
    jitter
        Whether the spread reaches the granularity within the resolution allowance.
    """

    device: str
    early_ns: float
    late_ns: float
    spread_ns: float
    granularity_ns: float
    jitter: bool

    @property
    def mid_ns(self) -> float:
        """Mid-point ``(early_ns + late_ns) / 2`` in ns."""
        return 0.5 * (self.early_ns + self.late_ns)

    def to_dict(self) -> dict[str, object]:
        """Plain-Python mapping of the fields (for reports and JSON)."""
        return {
            "device": self.device,
            "early_ns": float(self.early_ns),
            "late_ns": float(self.late_ns),
            "spread_ns": float(self.spread_ns),
            "granularity_ns": float(self.granularity_ns),
            "jitter": bool(self.jitter),
        }


def edge_timing(
    trace: EnvelopeTrace,
    threshold: float,
    granularity_ns: float,
    edge: Edge = "rising",
    resolution_ns: float | None = None,
) -> EdgeTiming:
    """Early/late crossings of an envelope trace and whether they reveal trigger jitter.

    Parameters
    ----------
    trace
        Envelope trace of one device's pulse.
    threshold
        Absolute threshold in volts.
    granularity_ns
        Timing granularity of the device (> 0); jitter moves a pulse by whole steps of it.
    edge
        Edge of the pulse to time. On a rising edge the high envelope crosses first (early)
        and the low envelope last (late); on a falling edge the reverse.
    resolution_ns
        Resolution allowance, ``0 <= resolution_ns < granularity_ns``; defaults to
        ``trace.dt_ns``.

    Returns
    -------
    EdgeTiming
        With ``jitter = spread_ns >= granularity_ns - resolution_ns``.

    Raises
    ------
    TimingError
        If an envelope does not cross the threshold, the crossings come in the wrong order
        (the high envelope of a rising edge starts above threshold, say), or the granularity or
        resolution is invalid; messages name the device.

    Notes
    -----
    The allowance is deliberately conservative (it errs towards reporting jitter): the crossing
    times are interpolated on a grid of step ``dt_ns``, so a spread within one sample of the
    granularity cannot be told apart from a one-step jump and counts as jitter. Spreads well
    below one granularity step come from the pulse shape, noise and the finite sampling rate
    (Supplementary Information III).
    """
    dev = trace.device
    gran = _finite("granularity_ns", granularity_ns, dev)
    res = trace.dt_ns if resolution_ns is None else _finite("resolution_ns", resolution_ns, dev)
    if gran <= 0 or not 0 <= res < gran:
        raise TimingError(
            f"{dev}: need granularity_ns > 0 and 0 <= resolution_ns < granularity_ns, "
            f"got granularity {gran} ns and resolution {res} ns",
            device=dev,
        )
    early, late = _crossings(trace, threshold, edge)
    spread = max(late - early, 0.0)
    return EdgeTiming(dev, early, late, spread, gran, bool(spread >= gran - res))


def inter_node_offset(
    local_reference: EnvelopeTrace,
    remote_pulse: EnvelopeTrace,
    threshold: float,
    expected_delay_ns: float = 0.0,
    edge: Edge = "rising",
) -> float:
    """Synchronisation offset between two nodes' time frames (the paper's ``t_ΔAB``).

    Parameters
    ----------
    local_reference
        Envelope trace of the local reference pulse.
    remote_pulse
        Envelope trace of the pulse from the other node's master AWG, on the same scope.
    threshold
        Absolute threshold in volts, applied to both traces.
    expected_delay_ns
        Nominal delay of the remote pulse (programmed time plus cable delay), subtracted.
    edge
        Edge of both pulses to time.

    Returns
    -------
    float
        ``mid(remote) - mid(local) - expected_delay_ns`` in ns, where ``mid`` is the mid-point
        ``(early + late) / 2`` of a trace's envelope crossings.

    Notes
    -----
    The published offset between nodes A and B is 0.55 ns (Supplementary Information III,
    Fig. 7).
    """
    delay = _finite("expected_delay_ns", expected_delay_ns)
    local_mid = 0.5 * sum(_crossings(local_reference, threshold, edge))
    remote_mid = 0.5 * sum(_crossings(remote_pulse, threshold, edge))
    return remote_mid - local_mid - delay


def _crossings(trace: EnvelopeTrace, threshold: float, edge: Edge) -> tuple[float, float]:
    """Early and late envelope crossings of ``trace``; checks their order."""
    dev = trace.device
    _check_edge(edge)
    first, last = (trace.high, trace.low) if edge == "rising" else (trace.low, trace.high)
    try:
        early = threshold_crossing(first, trace.t0_ns, trace.dt_ns, threshold, edge)
        late = threshold_crossing(last, trace.t0_ns, trace.dt_ns, threshold, edge)
    except TimingError as err:
        raise TimingError(f"{dev}: {err.message}", device=dev, threshold=threshold) from err
    if late < early - 1e-9:
        raise TimingError(
            f"{dev}: {edge} edge crossings out of order (early {early} ns > late {late} ns); "
            "does an envelope start beyond the threshold? Move the window earlier",
            device=dev,
            threshold=threshold,
        )
    return early, late
