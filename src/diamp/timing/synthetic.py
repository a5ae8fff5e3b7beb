"""Simulated envelope-mode oscilloscope acquisitions of one device's pulse edge.

The simulator stands in for the oscilloscopes of the DIRA timing verification in tests and dry
runs: it draws ``triggers`` acquisitions of a pulse edge whose arrival moves from trigger to
trigger (Gaussian jitter and/or whole granularity steps), samples each on the scope's fixed
grid ``t0 + k * dt``, adds Gaussian voltage noise and keeps the pointwise minimum and maximum,
exactly like envelope mode. Pure: parameters and a seeded generator in, an
:class:`~diamp.timing.envelopes.EnvelopeTrace` out.

:func:`synthetic_envelopes` simulates every trigger at every sample. :func:`banded_envelopes`
draws the same distribution faster for long records (a scope's whole screen): it simulates the
triggers only in the band where the edge moves and draws the pure-noise envelope elsewhere from
its exact order-statistic distribution.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from statistics import NormalDist

import numpy as np
import numpy.typing as npt

from diamp.errors import TimingError
from diamp.timing.envelopes import EnvelopeTrace

__all__ = ["SyntheticEdge", "banded_envelopes", "drifted_series", "synthetic_envelopes"]

_CHUNK_ELEMENTS = 1 << 21  # bound on trigger x sample elements held at once
_LN3 = math.log(3.0)
_FLAT_TAUS = 20.0  # tanh(x) is exactly ±1 in float64 for |x| >= 19.1: the edge is flat beyond


@dataclass(frozen=True)
class SyntheticEdge:
    """Parameters of one simulated device's pulse edge as seen on a scope.

    Parameters
    ----------
    device
        Device name, copied to the generated trace.
    arrival_ns
        Nominal time (ns, relative to the node reference) at which the edge passes 50 % of
        its amplitude.
    rise_time_ns
        10-90 % rise time of the edge (> 0).
    amplitude_v
        Step height in volts (non-zero). The edge goes from 0 to ``amplitude_v``: positive gives
        a rising edge, negative a falling one (e.g. the negative image of the AWG70k pulse).
    jitter_rms_ns
        RMS of Gaussian per-trigger timing jitter (>= 0).
    jitter_steps_ns
        Size of a granularity step (>= 0, e.g. 1.66 ns for an AWG5014). With probability
        ``p_step`` a trigger's pulse arrives one step late (a trigger latched one device clock
        cycle late).
    p_step
        Per-trigger probability of a one-step jump, in ``[0, 1]``.
    offset_ns
        Added to the arrival (synchronisation offset or accumulated drift).

    Raises
    ------
    TimingError
        If a parameter is out of range; the message names the device.
    """

    device: str
    arrival_ns: float
    rise_time_ns: float = 0.5
    amplitude_v: float = 0.5
    jitter_rms_ns: float = 0.0
    jitter_steps_ns: float = 0.0
    p_step: float = 0.0
    offset_ns: float = 0.0

    def __post_init__(self) -> None:
        checks = {
            "arrival_ns": math.isfinite(self.arrival_ns),
            "offset_ns": math.isfinite(self.offset_ns),
            "rise_time_ns (> 0)": math.isfinite(self.rise_time_ns) and self.rise_time_ns > 0,
            "amplitude_v (non-zero)": math.isfinite(self.amplitude_v) and self.amplitude_v != 0,
            "jitter_rms_ns (>= 0)": math.isfinite(self.jitter_rms_ns) and self.jitter_rms_ns >= 0,
            "jitter_steps_ns (>= 0)": (
                math.isfinite(self.jitter_steps_ns) and self.jitter_steps_ns >= 0
            ),
            "p_step (in [0, 1])": 0.0 <= self.p_step <= 1.0,
        }
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise TimingError(
                f"{self.device}: invalid synthetic edge parameter(s): {', '.join(bad)} "
                "(all must be finite)",
                device=self.device,
            )

    def waveform(
        self, times_ns: npt.NDArray[np.float64], arrival_ns: float | npt.NDArray[np.float64]
    ) -> npt.NDArray[np.float64]:
        """Noise-free edge ``A/2 * (1 + tanh((t - arrival) / tau))`` at ``times_ns``.

        Notes
        -----
        ``tanh`` reaches ±0.8 at ``±ln 3``, so the 10-90 % rise time is ``2 tau ln 3`` and
        ``tau = rise_time_ns / (2 ln 3)``.
        """
        tau = self.rise_time_ns / (2.0 * _LN3)
        return 0.5 * self.amplitude_v * (1.0 + np.tanh((times_ns - arrival_ns) / tau))


def _grid(dt_ns: float, window_ns: tuple[float, float]) -> npt.NDArray[np.float64]:
    start, stop = (float(w) for w in window_ns)
    if not (math.isfinite(dt_ns) and dt_ns > 0):
        raise TimingError(f"dt_ns must be finite and > 0, got {dt_ns}")
    if not (math.isfinite(start) and math.isfinite(stop) and stop > start):
        raise TimingError(f"window_ns must be finite with start < stop, got {window_ns}")
    n = math.floor((stop - start) / dt_ns * (1.0 + 1e-12)) + 1
    if n < 2:
        raise TimingError(f"window {window_ns} ns holds fewer than 2 samples at dt {dt_ns} ns")
    return start + dt_ns * np.arange(n, dtype=np.float64)


def _check_counts(edge: SyntheticEdge, triggers: object, noise_v: float) -> None:
    if isinstance(triggers, bool) or not isinstance(triggers, int | np.integer) or triggers < 1:
        raise TimingError(f"{edge.device}: triggers must be an integer >= 1, got {triggers!r}")
    if not (math.isfinite(noise_v) and noise_v >= 0):
        raise TimingError(f"{edge.device}: noise_v must be finite and >= 0, got {noise_v}")


def synthetic_envelopes(
    edge: SyntheticEdge,
    *,
    triggers: int = 2000,
    dt_ns: float = 0.4,
    window_ns: tuple[float, float] = (-20.0, 20.0),
    noise_v: float = 0.002,
    rng: np.random.Generator,
) -> EnvelopeTrace:
    """Simulate an envelope-mode acquisition of ``triggers`` pulses.

    Parameters
    ----------
    edge
        Pulse-edge parameters.
    triggers
        Number of acquisitions (>= 1).
    dt_ns
        Scope sample interval (0.4 ns at 2.5 GS/s).
    window_ns
        ``(start, stop)`` of the acquisition window relative to the node reference; samples sit
        at ``start + k * dt_ns`` up to ``stop`` inclusive, the same grid for every trigger.
    noise_v
        RMS of independent Gaussian voltage noise per sample and trigger (>= 0).
    rng
        Seeded generator; the result is a deterministic function of its state.

    Returns
    -------
    EnvelopeTrace
        Pointwise minimum (``low``) and maximum (``high``) over all triggers.

    Raises
    ------
    TimingError
        If ``triggers``, ``dt_ns``, ``window_ns`` or ``noise_v`` is invalid.

    Notes
    -----
    Trigger ``j`` has arrival ``arrival_ns + offset_ns + jitter_rms_ns * z_j +
    jitter_steps_ns * b_j`` with ``z_j ~ N(0, 1)`` and ``b_j ~ Bernoulli(p_step)``. Triggers are
    simulated in vectorised chunks of at most ~2M samples to bound memory.
    """
    _check_counts(edge, triggers, noise_v)
    times = _grid(float(dt_ns), window_ns)
    low = np.full(times.size, np.inf)
    high = np.full(times.size, -np.inf)
    chunk = max(1, _CHUNK_ELEMENTS // times.size)
    nominal = edge.arrival_ns + edge.offset_ns
    for start in range(0, int(triggers), chunk):
        m = min(chunk, int(triggers) - start)
        arrivals = nominal + edge.jitter_rms_ns * rng.standard_normal(m)
        arrivals += edge.jitter_steps_ns * (rng.random(m) < edge.p_step)
        traces = edge.waveform(times[np.newaxis, :], arrivals[:, np.newaxis])
        traces += noise_v * rng.standard_normal(traces.shape)
        np.minimum(low, traces.min(axis=0), out=low)
        np.maximum(high, traces.max(axis=0), out=high)
    return EnvelopeTrace(edge.device, float(times[0]), float(dt_ns), low, high)


def banded_envelopes(
    edge: SyntheticEdge,
    *,
    triggers: int = 2000,
    dt_ns: float = 0.4,
    window_ns: tuple[float, float] = (-20.0, 20.0),
    noise_v: float = 0.002,
    rng: np.random.Generator,
) -> EnvelopeTrace:
    """The distribution of :func:`synthetic_envelopes`, simulating only where the edge moves.

    Parameters and result are those of :func:`synthetic_envelopes`; the draws differ, so a
    seed gives another (equally distributed) trace. The cost grows with the width of the band
    the edge sweeps, not with the window, which makes whole-screen records of several thousand
    triggers cheap.

    Notes
    -----
    All arrivals are drawn first. Outside ``[min(arrival) - 20 tau, max(arrival) + 20 tau]``
    every trigger's waveform is exactly 0 or ``amplitude_v`` in float64 (``tanh`` saturates
    at ``|x| >= 19.1``), so there the envelopes are the level plus ``noise_v`` times the minimum
    and maximum of ``N = triggers`` independent standard normals, drawn per sample by inversion:
    the minimum is ``Phi^-1(p)`` with ``p = 1 - U^(1/N)`` (a Beta(1, N) variate); given it, the
    other ``N - 1`` values are normals conditioned above it, whose maximum has upper-tail
    probability ``q = (1 - p)(1 - V^(1/(N-1)))``. Inside the band the triggers are simulated
    as in :func:`synthetic_envelopes`, except when few arrivals are distinct (no Gaussian
    jitter: every trigger on time or one granularity step late): then the ``c`` triggers that
    share an arrival share a waveform, and their envelope is that waveform plus the noise
    extremes of ``c`` normals, drawn as above; the band envelope is the extreme over the
    groups. (``p`` and ``q`` are kept inside ``(0, 1)`` against the ``2^-53``-probability draws
    that would round onto the boundary.)
    """
    _check_counts(edge, triggers, noise_v)
    times = _grid(float(dt_ns), window_ns)
    n = int(triggers)
    arrivals = edge.arrival_ns + edge.offset_ns + edge.jitter_rms_ns * rng.standard_normal(n)
    arrivals += edge.jitter_steps_ns * (rng.random(n) < edge.p_step)
    reach = _FLAT_TAUS * edge.rise_time_ns / (2.0 * _LN3)
    first = int(np.searchsorted(times, arrivals.min() - reach, side="left"))
    stop = int(np.searchsorted(times, arrivals.max() + reach, side="right"))
    level = np.where(np.arange(times.size) < first, 0.0, edge.amplitude_v)
    flat = np.ones(times.size, dtype=bool)
    flat[first:stop] = False
    low_noise, high_noise = _noise_extremes(int(flat.sum()), n, rng)
    low, high = level.copy(), level.copy()
    low[flat] += noise_v * low_noise
    high[flat] += noise_v * high_noise
    if stop > first:
        band_low, band_high = _band(edge, times[first:stop], arrivals, noise_v, rng)
        low[first:stop], high[first:stop] = band_low, band_high
    return EnvelopeTrace(edge.device, float(times[0]), float(dt_ns), low, high)


def _band(
    edge: SyntheticEdge,
    band: npt.NDArray[np.float64],
    arrivals: npt.NDArray[np.float64],
    noise_v: float,
    rng: np.random.Generator,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Envelopes over the band where the edge moves (see :func:`banded_envelopes`)."""
    low, high = np.full(band.size, np.inf), np.full(band.size, -np.inf)
    values, counts = np.unique(arrivals, return_counts=True)
    if 4 * values.size <= arrivals.size:  # few distinct arrivals: one waveform per group
        for arrival, count in zip(values, counts, strict=True):
            wave = edge.waveform(band, float(arrival))
            group_low, group_high = _noise_extremes(band.size, int(count), rng)
            np.minimum(low, wave + noise_v * group_low, out=low)
            np.maximum(high, wave + noise_v * group_high, out=high)
        return low, high
    chunk = max(1, _CHUNK_ELEMENTS // band.size)
    for start in range(0, arrivals.size, chunk):
        part = arrivals[start : start + chunk]
        traces = edge.waveform(band[np.newaxis, :], part[:, np.newaxis])
        traces += noise_v * rng.standard_normal(traces.shape)
        np.minimum(low, traces.min(axis=0), out=low)
        np.maximum(high, traces.max(axis=0), out=high)
    return low, high


def _noise_extremes(
    size: int, n: int, rng: np.random.Generator
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Minimum and maximum of ``n`` iid standard normals, ``size`` times (see the Notes above)."""
    tiny, below_one = np.finfo(np.float64).tiny, np.nextafter(1.0, 0.0)
    u, v = rng.random(size), rng.random(size)
    p = np.clip(-np.expm1(np.log1p(-u) / n), tiny, below_one)
    inverse = NormalDist().inv_cdf
    low = np.fromiter((inverse(x) for x in p), dtype=np.float64, count=size)
    if n == 1:
        return low, low.copy()
    q = np.clip((1.0 - p) * -np.expm1(np.log1p(-v) / (n - 1)), tiny, below_one)
    high = -np.fromiter((inverse(x) for x in q), dtype=np.float64, count=size)
    return low, np.maximum(high, low)


def drifted_series(
    edge: SyntheticEdge,
    drift_ps_per_h: float,
    hours: npt.ArrayLike,
    *,
    triggers: int = 2000,
    dt_ns: float = 0.4,
    window_ns: tuple[float, float] = (-20.0, 20.0),
    noise_v: float = 0.002,
    rng: np.random.Generator,
) -> list[EnvelopeTrace]:
    """One simulated envelope trace per check time, with the arrival drifting linearly.

    Parameters
    ----------
    edge
        Pulse-edge parameters at ``hours = 0``.
    drift_ps_per_h
        Linear drift of the arrival in ps per hour (Table I: 16.9 ps/h for the QRNG).
    hours
        1-d finite check times in hours.
    triggers, dt_ns, window_ns, noise_v, rng
        As for :func:`synthetic_envelopes`; ``rng`` is shared by all check times.

    Returns
    -------
    list of EnvelopeTrace
        Trace ``i`` has ``offset_ns`` increased by ``drift_ps_per_h * hours[i] / 1000``.
    """
    h = np.asarray(hours, dtype=np.float64)
    if h.ndim != 1 or not np.all(np.isfinite(h)) or not math.isfinite(drift_ps_per_h):
        raise TimingError(
            f"{edge.device}: hours must be 1-d and finite and the drift finite "
            f"(got shape {h.shape}, drift {drift_ps_per_h})",
            device=edge.device,
        )
    return [
        synthetic_envelopes(
            replace(edge, offset_ns=edge.offset_ns + 1e-3 * drift_ps_per_h * float(hour)),
            triggers=triggers,
            dt_ns=dt_ns,
            window_ns=window_ns,
            noise_v=noise_v,
            rng=rng,
        )
        for hour in h
    ]
