"""Per-source health: SP 800-90B continuous tests, quarantine, and the periodic checks.

Every raw sample passes the repetition count and adaptive proportion tests
(:class:`diamp.analysis.sp800_90b.HealthMonitor`, cutoffs from the declared min-entropy at
``alpha``) before it may be extracted. A failure quarantines the source for the life of the
process: its buffered samples and extracted bytes are dropped and the pool deletes every
unserved byte it contributed to; every tier using it stops serving.

The periodic checks (``[checks]``, hourly by default) run the SP 800-90B non-IID estimators
on the source's most recent raw samples and SP 800-22 on a sample of its extracted output
(diverted, never served); a failed check quarantines the source too. DIRA keys are certified
uniform and are not checked (their bits are too scarce to divert).

Three min-entropies per raw sample (spec §11d, SP 800-90B §3.1.5): *declared* (the
config's claim or model), *assessed* (the latest SP 800-90B estimate, None before the
first) and *in force* = min(declared, assessed), from which the output length of every
block is computed. An assessment below ``min_assessed_fraction`` × declared fails the check.
The continuous tests take their cutoffs from the in-force value, as SP 800-90B §4.4 takes
them from the entropy estimate H of the source (fresh test state when it changes).
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from diamp.errors import DiampError
from diamp.service.settings import ChecksSettings

__all__ = ["CheckResult", "SourceHealth", "run_sp800_22", "run_sp800_90b"]

log = logging.getLogger(__name__)

Status = Literal["ok", "quarantined", "exhausted"]

RECENT_QUARANTINES = 10
"""Quarantines per source kept with their wall-clock time and reason (status page)."""


@dataclass(frozen=True)
class CheckResult:
    """One periodic check of one source."""

    check: Literal["sp800_90b", "sp800_22"]
    passed: bool
    time_unix: float
    detail: dict[str, Any]


def run_sp800_90b(
    samples: np.ndarray, bits_per_sample: int, declared: float, cfg: ChecksSettings
) -> CheckResult:
    """Assessed min-entropy (non-IID track) against ``min_assessed_fraction`` × declared.

    The detail carries ``assessed_min_entropy`` and ``in_force_min_entropy`` =
    min(declared, assessed), both in bits per sample.
    """
    from diamp.analysis.sp800_90b import assess_non_iid

    result = assess_non_iid(samples, bits_per_sample, workers=1)
    floor = cfg.min_assessed_fraction * declared
    return CheckResult(
        "sp800_90b",
        result.min_entropy >= floor,
        time.time(),
        {
            "samples": int(samples.size),
            "assessed_min_entropy": result.min_entropy,
            "declared_min_entropy": declared,
            "in_force_min_entropy": min(declared, result.min_entropy),
            "required": floor,
            "min_assessed_fraction": cfg.min_assessed_fraction,
        },
    )


def _fitting_tests(length: int) -> tuple[str, ...]:
    from diamp.analysis.sp800_22 import Sp80022Params
    from diamp.analysis.sp800_22.params import TEST_NAMES

    fit = []
    for name in TEST_NAMES:
        try:
            Sp80022Params(tests=(name,)).check_length(length)
        except DiampError:
            continue
        fit.append(name)
    return tuple(fit)


def run_sp800_22(packed: np.ndarray, cfg: ChecksSettings) -> CheckResult:
    """SP 800-22 on ``sequences`` × ``length`` bits (MSB-first), every test that fits."""
    from diamp.analysis.sp800_22 import Sp80022Params, run_suite
    from diamp.analysis.sp800_22.report import final_analysis_report

    tests = _fitting_tests(cfg.sp800_22_length)
    result = run_suite(
        packed, cfg.sp800_22_sequences, cfg.sp800_22_length, Sp80022Params(tests=tests),
        workers=1,
    )  # fmt: skip
    report = final_analysis_report(result)
    flagged = [f"{r.test}[{r.subtest}]" for r in report.rows if r.proportion_flagged]
    return CheckResult(
        "sp800_22",
        len(flagged) <= cfg.sp800_22_max_flagged,
        time.time(),
        {
            "sequences": cfg.sp800_22_sequences,
            "length": cfg.sp800_22_length,
            "rows": len(report.rows),
            "flagged": flagged[:20],
            "max_flagged": cfg.sp800_22_max_flagged,
        },
    )


@dataclass
class SourceHealth:
    """Health state of one source: continuous tests, quarantine, checks, counters."""

    name: str
    bits_per_sample: int
    declared: float | None
    alpha: float
    checks: ChecksSettings
    status: Status = "ok"
    reason: str = ""
    blocks_passed: int = 0
    blocks_failed: int = 0
    last_checks: dict[str, CheckResult] = field(default_factory=dict)
    check_failures: dict[str, int] = field(default_factory=dict)
    assessed: float | None = None
    model: str = ""  # how the declared value was obtained (status page)
    clock: Callable[[], float] = time.monotonic

    def __post_init__(self) -> None:
        self.monitor: Any = None
        self.monitor_h: float | None = None
        self._new_monitor()
        self._recent: deque[np.ndarray] = deque()
        self._recent_n = 0
        self.next_check = self.clock()
        self.quarantined_at = 0.0
        self.quarantines = 0
        self.recent_quarantines: deque[tuple[float, str]] = deque(maxlen=RECENT_QUARANTINES)

    def test(self, samples: np.ndarray) -> str | None:
        """Feed the continuous tests; returns the failure text, or None if all passed."""
        if self.monitor is None:
            return None
        failures = self.monitor.feed(samples)
        if failures:
            self.blocks_failed += 1
            f = failures[0]
            return (
                f"SP 800-90B {f.test.replace('_', ' ')} test failed at sample {f.index} "
                f"(cutoffs: repetition {self.monitor.repetition_cutoff}, "
                f"proportion {self.monitor.proportion_cutoff}/{self.monitor.window})"
            )
        self.blocks_passed += 1
        self._remember(samples)
        return None

    def _remember(self, samples: np.ndarray) -> None:
        self._recent.append(samples)
        self._recent_n += samples.size
        limit = self.checks.sp800_90b_samples
        while self._recent_n - self._recent[0].size >= limit:
            self._recent_n -= self._recent.popleft().size

    def recent_samples(self) -> np.ndarray | None:
        """The last ``sp800_90b_samples`` raw samples, or None until that many were seen."""
        if self._recent_n < self.checks.sp800_90b_samples:
            return None
        return np.concatenate(list(self._recent))[-self.checks.sp800_90b_samples :]

    def quarantine(self, reason: str) -> None:
        """Mark the source quarantined (the caller discards its data)."""
        if self.status != "quarantined":
            log.error("source %s quarantined: %s", self.name, reason)
            self.quarantined_at = self.clock()
            self.quarantines += 1
            self.recent_quarantines.append((time.time(), reason))
        self.status, self.reason = "quarantined", reason

    def readmit(self) -> None:
        """Let the source back in with fresh test state and no assessment (re-assessed first)."""
        log.warning("source %s re-admitted after quarantine: %s", self.name, self.reason)
        self.status, self.reason = "ok", ""
        self.assessed = None  # the declared value's cutoffs until it is re-assessed
        self._recent.clear()
        self._recent_n = 0
        self._new_monitor()

    def _new_monitor(self) -> None:
        """Fresh continuous tests with cutoffs from the in-force min-entropy."""
        h = self.in_force
        if h is not None:
            from diamp.analysis.sp800_90b import HealthMonitor

            self.monitor = HealthMonitor(h, self.bits_per_sample, alpha=self.alpha)
            self.monitor_h = h

    @property
    def in_force(self) -> float | None:
        """min(declared, assessed) per sample; the declared value before any assessment."""
        if self.declared is None or self.assessed is None:
            return self.declared
        return min(self.declared, self.assessed)

    def record(self, result: CheckResult) -> None:
        """Store a check result (an SP 800-90B one sets ``assessed``); failing quarantines."""
        self.last_checks[result.check] = result
        if result.check == "sp800_90b":
            self.assessed = float(result.detail["assessed_min_entropy"])
            if result.passed and self.in_force != self.monitor_h:
                self._new_monitor()
        if not result.passed:
            self.check_failures[result.check] = self.check_failures.get(result.check, 0) + 1
            self.quarantine(f"periodic {result.check} check failed: {result.detail}")

    @property
    def pass_rate(self) -> float:
        """Fraction of raw blocks that passed the continuous tests (1.0 before any)."""
        total = self.blocks_passed + self.blocks_failed
        return 1.0 if total == 0 else self.blocks_passed / total

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready status."""
        return {
            "status": self.status,
            "reason": self.reason,
            "declared_min_entropy_per_sample": self.declared,
            "min_entropy_per_sample": {
                "model": self.model,
                "declared": self.declared,
                "assessed": self.assessed,
                "in_force": self.in_force,
            },
            "bits_per_sample": self.bits_per_sample,
            "health_blocks_passed": self.blocks_passed,
            "health_blocks_failed": self.blocks_failed,
            "health_pass_rate": self.pass_rate,
            "quarantines": self.quarantines,
            "recent_quarantines": [
                {"time_unix": t, "reason": r} for t, r in self.recent_quarantines
            ],
            "checks": {
                k: {"passed": v.passed, "time_unix": v.time_unix, **v.detail}
                for k, v in self.last_checks.items()
            },
        }
