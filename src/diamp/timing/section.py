"""Timing sections: the measured segment durations and devices of a Bell-test setup (TOML).

All durations are in nanoseconds, distances in metres, drifts in ps/h. A duration is a number
or ``{ value = …, uncertainty = … }``; values are read as exact decimals. Unknown keys and
out-of-range values are errors naming the file and key.

Layout (``schema_version = 1``)::

    [distance]  bell_distance_m, uncertainty_m
    [sync]      inter_node_offset_ns            # t_ΔAB, the node-frame offset
    [start.A]   rng_ns, latch_ns                # RNG of node A: start of the A → B direction
    [start.B]   rng_ns, latch_ns
    [stop.A]    fpga_offset_ns, detection_ns    # readout of node A: end of the B → A direction
    [stop.B]    fpga_offset_ns, detection_ns
    [devices.NAME] granularity_ns, drift_ps_per_h, threshold_v (optional), edge (optional)
    resolution_ns = 0.01                         # reported values are rounded conservatively
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
)

from diamp.errors import TimingError
from diamp.exact import exact_fraction
from diamp.tomlconfig import read_text, validate_toml

__all__ = ["Duration", "TimingSection", "load_timing", "parse_timing"]


def _duration(value: object) -> object:
    if isinstance(value, dict):
        return value
    return {"value": value}


def _nonneg(value: object) -> Fraction:
    result = exact_fraction(value)
    if result < 0:
        raise ValueError(f"must be >= 0, found {float(result)}")
    return result


Exact = Annotated[Fraction, BeforeValidator(exact_fraction)]
NonNegative = Annotated[Fraction, BeforeValidator(_nonneg)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)


class Duration(_Model):
    """A measured duration (ns) with its uncertainty (ns, >= 0)."""

    value: Exact
    """The measured duration, in ns (an exact decimal)."""
    uncertainty: NonNegative = Fraction(0)
    """Its uncertainty, in ns; added in the direction that lengthens the protocol."""

    def worst(self, sign: int) -> Fraction:
        """The value pushed by its uncertainty in the direction that lengthens the protocol."""
        return self.value + sign * self.uncertainty


DurationField = Annotated[Duration, BeforeValidator(_duration)]


class Distance(_Model):
    """``[distance]``: the Bell distance (shorter of the two start-to-stop distances)."""

    bell_distance_m: NonNegative
    """Bell distance d in metres: the shorter of the two start-to-stop distances (t_d = d/c)."""
    uncertainty_m: NonNegative = Fraction(0)
    """Its uncertainty, in metres; subtracted from d."""


class Sync(_Model):
    """``[sync]``: the offset of the two node reference frames, t_ΔAB."""

    inter_node_offset_ns: DurationField
    """t_ΔAB, the offset of the two node reference frames, added in both directions: a number
    (ns) or `{ value, uncertainty }`."""


def _check_duration(name: str, value: Duration) -> Duration:
    if value.value < 0:
        raise ValueError(f"{name} is a duration and must be >= 0, found {float(value.value)}")
    return value


class StartSide(_Model):
    """RNG timing of one node: the start event of the direction leaving it.

    ``latch_ns`` (reference time to latch) may be negative; ``rng_ns`` is a duration.
    """

    rng_ns: DurationField
    """t_RNG: the node's RNG time, ns (a number or `{ value, uncertainty }`; a duration, ≥ 0)."""
    latch_ns: DurationField
    """t_latch: node reference time to RNG latch, ns; subtracted (may be negative)."""

    @field_validator("rng_ns")
    @classmethod
    def _rng(cls, value: Duration) -> Duration:
        return _check_duration("rng_ns", value)


class StopSide(_Model):
    """Readout timing of one node: the stop event of the direction arriving at it.

    ``fpga_offset_ns`` (FPGA frame minus node frame) may be negative; ``detection_ns`` is a
    duration.
    """

    fpga_offset_ns: DurationField
    """t_Δ: the FPGA frame minus the node frame, ns (may be negative)."""
    detection_ns: DurationField
    """t_detection: the readout's acquisition window, ns (a duration, ≥ 0)."""

    @field_validator("detection_ns")
    @classmethod
    def _detection(cls, value: Duration) -> Duration:
        return _check_duration("detection_ns", value)


class StartNodes(_Model):
    """``[start.A]``, ``[start.B]``."""

    A: StartSide
    """Node A's RNG: the start of the A → B direction."""
    B: StartSide
    """Node B's RNG: the start of the B → A direction."""


class StopNodes(_Model):
    """``[stop.A]``, ``[stop.B]``."""

    A: StopSide
    """Node A's readout: the stop of the B → A direction."""
    B: StopSide
    """Node B's readout: the stop of the A → B direction."""


class DeviceTiming(_Model):
    """One control or readout device (seed 003 Table I) and how its pulses are checked."""

    granularity_ns: Annotated[float, Field(gt=0)]
    """Timing granularity of the device; an envelope spread reaching it is jitter (a failed
    check)."""
    drift_ps_per_h: float = 0.0
    """Drift relative to the node AWG, ps/h; sets the re-synchronisation window."""
    threshold_v: float | None = None
    """Threshold of the device's pulse edge on the scope (none: its edge is not checked)."""
    edge: Literal["rising", "falling"] = "rising"
    """Which edge of the pulse is timed."""


class TimingSection(_Model):
    """A validated timing section."""

    schema_version: Literal[1]
    """Version of the timing-section format; only 1 exists."""
    distance: Distance
    """The Bell distance."""
    sync: Sync
    """The inter-node synchronisation offset."""
    start: StartNodes
    """The start events: the RNG of each node."""
    stop: StopNodes
    """The stop events: the readout of each node."""
    devices: dict[str, DeviceTiming] = Field(default_factory=dict)
    """The control and readout devices (seed 003 Table I), by name."""
    resolution_ns: Annotated[Fraction, BeforeValidator(_nonneg)] = Fraction(1, 100)
    """Resolution of reported values; durations are rounded up and t_d down to it."""


def parse_timing(text: str, path: str = "<string>") -> TimingSection:
    """Validate timing-section text; raise :class:`TimingError` naming the file and key."""
    return validate_toml(text, path, TimingSection, TimingError)


def load_timing(path: str | Path) -> TimingSection:
    """Read and validate a timing section from a TOML file."""
    return parse_timing(*read_text(path, TimingError, "timing"))
