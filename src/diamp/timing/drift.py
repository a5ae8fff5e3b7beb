"""Drift windows: how long each device stays inside its safe timing window (seed 003 Table I).

Before a run the reference phases are set so that every trigger arrives in the middle of
its device's granularity step; a device whose timing drifts linearly at r ps/h leaves that
step after (g/2)/|r| hours (g = granularity). The configuration is jitter-free until the
first device leaves its window, so re-synchronisation is due at the smallest such time.
With the published numbers the QRNG (g = 2 ns, 16.9 ps/h) limits it to 59.2 h ≈ 2.5 days.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from diamp.errors import TimingError
from diamp.timing.section import DeviceTiming

__all__ = ["DeviceWindow", "DriftWindow", "drift_window"]


@dataclass(frozen=True)
class DeviceWindow:
    """One device's safe window (hours; ``inf`` for a device that does not drift)."""

    device: str
    granularity_ns: float
    drift_ps_per_h: float
    safe_hours: float


@dataclass(frozen=True)
class DriftWindow:
    """The configuration's window: limited by its fastest-drifting device."""

    devices: tuple[DeviceWindow, ...]
    limiting_device: str
    safe_hours: float
    elapsed_hours: float

    @property
    def remaining_hours(self) -> float:
        """Hours until re-synchronisation is due (negative: overdue)."""
        return self.safe_hours - self.elapsed_hours

    @property
    def resync_due(self) -> bool:
        """True once the elapsed time has reached the window."""
        return self.remaining_hours <= 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary."""

        def hours(value: float) -> float | None:
            return None if math.isinf(value) else value

        return {
            "limiting_device": self.limiting_device,
            "safe_hours": hours(self.safe_hours),
            "safe_days": None if math.isinf(self.safe_hours) else self.safe_hours / 24,
            "elapsed_hours": self.elapsed_hours,
            "remaining_hours": hours(self.remaining_hours),
            "resync_due": self.resync_due,
            "devices": [
                {
                    "device": d.device,
                    "granularity_ns": d.granularity_ns,
                    "drift_ps_per_h": d.drift_ps_per_h,
                    "safe_hours": hours(d.safe_hours),
                }
                for d in self.devices
            ],
        }


def drift_window(devices: Mapping[str, DeviceTiming], elapsed_hours: float = 0.0) -> DriftWindow:
    """Safe windows of ``devices`` and of the whole configuration after ``elapsed_hours``."""
    if not devices:
        raise TimingError("no devices declared: the drift window cannot be computed")
    if not math.isfinite(elapsed_hours) or elapsed_hours < 0:
        raise TimingError(f"elapsed_hours must be finite and >= 0, found {elapsed_hours}")
    windows = []
    for name, dev in devices.items():
        rate_ns_per_h = abs(dev.drift_ps_per_h) / 1000
        safe = math.inf if rate_ns_per_h == 0 else (dev.granularity_ns / 2) / rate_ns_per_h
        windows.append(DeviceWindow(name, dev.granularity_ns, dev.drift_ps_per_h, safe))
    limiting = min(windows, key=lambda w: w.safe_hours)
    return DriftWindow(tuple(windows), limiting.device, limiting.safe_hours, elapsed_hours)
