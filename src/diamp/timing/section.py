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
    uncertainty: NonNegative = Fraction(0)

    def worst(self, sign: int) -> Fraction:
        """The value pushed by its uncertainty in the direction that lengthens the protocol."""
        return self.value + sign * self.uncertainty


DurationField = Annotated[Duration, BeforeValidator(_duration)]


class Distance(_Model):
    """``[distance]``: the Bell distance (shorter of the two start-to-stop distances)."""

    bell_distance_m: NonNegative
    uncertainty_m: NonNegative = Fraction(0)


class Sync(_Model):
    """``[sync]``: the offset of the two node reference frames, t_ΔAB."""

    inter_node_offset_ns: DurationField


def _check_duration(name: str, value: Duration) -> Duration:
    if value.value < 0:
        raise ValueError(f"{name} is a duration and must be >= 0, found {float(value.value)}")
    return value


class StartSide(_Model):
    """RNG timing of one node: the start event of the direction leaving it.

    ``latch_ns`` (reference time to latch) may be negative; ``rng_ns`` is a duration.
    """

    rng_ns: DurationField
    latch_ns: DurationField

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
    detection_ns: DurationField

    @field_validator("detection_ns")
    @classmethod
    def _detection(cls, value: Duration) -> Duration:
        return _check_duration("detection_ns", value)


class StartNodes(_Model):
    """``[start.A]``, ``[start.B]``."""

    A: StartSide
    B: StartSide


class StopNodes(_Model):
    """``[stop.A]``, ``[stop.B]``."""

    A: StopSide
    B: StopSide


class DeviceTiming(_Model):
    """One control or readout device (seed 003 Table I) and how its pulses are checked."""

    granularity_ns: Annotated[float, Field(gt=0)]
    drift_ps_per_h: float = 0.0
    threshold_v: float | None = None
    edge: Literal["rising", "falling"] = "rising"


class TimingSection(_Model):
    """A validated timing section."""

    schema_version: Literal[1]
    distance: Distance
    sync: Sync
    start: StartNodes
    stop: StopNodes
    devices: dict[str, DeviceTiming] = Field(default_factory=dict)
    resolution_ns: Annotated[Fraction, BeforeValidator(_nonneg)] = Fraction(1, 100)


def parse_timing(text: str, path: str = "<string>") -> TimingSection:
    """Validate timing-section text; raise :class:`TimingError` naming the file and key."""
    return validate_toml(text, path, TimingSection, TimingError)


def load_timing(path: str | Path) -> TimingSection:
    """Read and validate a timing section from a TOML file."""
    return parse_timing(*read_text(path, TimingError, "timing"))
