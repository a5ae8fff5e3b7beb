"""Timing checks during acquisition: before the first block and after every block.

The monitor loads the timing section named by the run config, obtains the envelope traces
of each check (simulated scopes for now, seeded, so a resumed run sees the same checks),
verifies them with :func:`diamp.timing.verify.verify_timing`, and keeps them for
``RUN/timing.h5``. The section text is stored in the trial store, so post-processing
(:func:`diamp.protocol.amplify.amplify`) can re-verify the run's timing on its own.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from diamp.config import LoadedConfig
from diamp.daq.traces import write_traces
from diamp.timing.records import TimingCheck
from diamp.timing.section import load_timing
from diamp.timing.simulate import simulated_checks
from diamp.timing.verify import verify_timing

__all__ = ["TimingMonitor"]


class TimingMonitor:
    """Runs the timing checks of one acquisition (see the module docs)."""

    def __init__(self, loaded: LoadedConfig) -> None:
        timing = loaded.config.timing
        if timing is None:
            raise ValueError("the run config has no [timing] section")
        path = Path(loaded.path).resolve().parent / timing.section
        self.section = load_timing(path)
        self.section_text = path.read_text(encoding="utf-8")
        blocks = loaded.config.run.blocks
        sim = timing.simulate
        self._checks = simulated_checks(
            self.section,
            checks=blocks + 1,
            hours=blocks * sim.hours_per_block,
            offset_ns=sim.offset_ns,
            jitter_device=sim.jitter_device,
            jitter_from=sim.jitter_from_check,
            rng=np.random.default_rng(loaded.config.run.seed),
        )
        self.done: list[TimingCheck] = []
        self.verdicts: list[bool] = []  # per check done, in order
        self.failure: str | None = None

    def check(self, index: int) -> bool:
        """Run check ``index`` (0: before block 0; k: after block k-1); False if it fails."""
        check = self._checks[index]
        self.done.append(check)
        result = verify_timing(self.section, [check])
        self.verdicts.append(result.verdict == "pass")
        if result.verdict == "fail" and self.failure is None:
            self.failure = f"timing check {check.label!r} failed: " + "; ".join(result.reasons)
        return result.verdict == "pass"

    def write(self, path: Path) -> None:
        """Store the traces of the checks done so far."""
        write_traces(path, self.done)
