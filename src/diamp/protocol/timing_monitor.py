"""Timing checks during acquisition: before the first block and after every block.

The monitor is built from the timing section and where its checks come from (the station's
scopes, or synthetic checks from ``[timing.simulate]``); it never sees the whole config. It
obtains the envelope traces of each check, verifies them with
:func:`diamp.timing.verify.verify_timing`, and keeps them for ``RUN/timing.h5``. The section
text is stored in the trial store, so post-processing
(:func:`diamp.protocol.amplify.amplify`) can re-verify the run's timing on its own.

Where the traces come from:

* **Scopes** (the config has scopes): each check is acquired from the station's scopes
  (:meth:`diamp.daq.station.Station.scope_timing`), simulated (``loopback``) or real alike;
  every trace keeps its instrument, channel and settings snapshot. An instrument failure
  raises :class:`~diamp.errors.InstrumentError` naming the scope and the check, which ends
  the run with the completed blocks kept.
* **Synthetic** (no scope configured): :func:`diamp.timing.simulate.simulated_checks`, seeded
  from the run seed.

Every check is written to ``RUN/timing.h5`` (atomically, with the run id) as soon as it is
taken, so a crash loses none. A resumed run restores the checks of its completed blocks from
that file instead of re-acquiring them (a lab scope cannot re-take a past check): only the
check after the last stored block may be missing (the crash came between storing the block
and its check), and it is then taken on resume. Synthetic checks are a deterministic
function of the config and ``k``, so for them a missing file is simply recomputed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from diamp.config import TimingRun
from diamp.daq.traces import read_trace_file, write_traces
from diamp.errors import DiampError, StorageError
from diamp.timing.records import TimingCheck
from diamp.timing.section import TimingSection
from diamp.timing.simulate import simulated_checks
from diamp.timing.verify import verify_timing

if TYPE_CHECKING:
    from diamp.daq.scopes import ScopeTiming

__all__ = ["TimingMonitor", "synthetic_checks"]


def _label(index: int) -> str:
    return "before block 0" if index == 0 else f"after block {index - 1}"


def synthetic_checks(
    section: TimingSection, timing: TimingRun, blocks: int, seed: int
) -> list[TimingCheck]:
    """The ``blocks + 1`` synthetic checks of a run without scopes (``[timing.simulate]``)."""
    sim = timing.simulate
    return simulated_checks(
        section,
        checks=blocks + 1,
        hours=blocks * sim.hours_per_block,
        offset_ns=sim.offset_ns,
        jitter_device=sim.jitter_device,
        jitter_from=sim.jitter_from_check,
        rng=np.random.default_rng(seed),
    )


class TimingMonitor:
    """Runs the timing checks of one acquisition (see the module docs).

    Parameters
    ----------
    section, section_text
        The timing section the checks are judged by, and its text (stored with the run).
    scopes
        The station's scope acquisition: each check is taken from the scopes.
    synthetic
        Otherwise, the precomputed checks (:func:`synthetic_checks`).
    continue_simulation
        Called with the number of restored checks on resume (loopback scopes move on).
    path, run_id
        ``RUN/timing.h5`` and the run it belongs to.
    provenance
        Where the checks come from (the scopes, or a simulation with its seed).
    """

    def __init__(
        self,
        section: TimingSection,
        section_text: str,
        *,
        scopes: ScopeTiming | None = None,
        synthetic: Sequence[TimingCheck] = (),
        continue_simulation: Callable[[int], None] | None = None,
        path: Path | None = None,
        run_id: str | None = None,
        provenance: Mapping[str, Any] | None = None,
    ) -> None:
        self.section, self.section_text = section, section_text
        self.path, self.run_id = path, run_id
        self._scopes = scopes
        self._checks = list(synthetic)
        self._continue = continue_simulation
        self.provenance = dict(provenance or {"origin": "unknown", "simulated": True})
        self.done: list[TimingCheck] = []
        self.verdicts: list[bool] = []  # per check done, in order
        self.failure: str | None = None

    def check(self, index: int) -> bool:
        """Run check ``index`` (0: before block 0; k: after block k-1); False if it fails."""
        if self._scopes is not None:
            if index != len(self.done):
                raise DiampError(
                    f"timing check {index} requested after {len(self.done)} checks; the scopes "
                    "take checks in order, one acquisition each",
                    check=index,
                )
            check = self._scopes.acquire(_label(index))
        else:
            check = self._checks[index]
        passed = self._record(check)
        if self.path is not None:
            write_traces(self.path, self.done, self.run_id)
        return passed

    def _record(self, check: TimingCheck) -> bool:
        self.done.append(check)
        result = verify_timing(self.section, [check])
        self.verdicts.append(result.verdict == "pass")
        if result.verdict == "fail" and self.failure is None:
            self.failure = f"timing check {check.label!r} failed: " + "; ".join(result.reasons)
        return result.verdict == "pass"

    def resume(self, needed: int) -> None:
        """Restore checks ``0..needed-1`` of a resumed run (see the module docs)."""
        stored = self._stored()[:needed]
        for index, check in enumerate(stored):
            if check.label != _label(index):
                raise StorageError(
                    f"{self.path}: check {index} is labelled {check.label!r}, expected "
                    f"{_label(index)!r}; the trace file does not belong to this store",
                    path=str(self.path),
                )
            self._record(check)
        if self._scopes is not None:
            if needed - len(stored) > 1:
                raise StorageError(
                    f"{self.path}: holds {len(stored)} timing checks, the {needed - 1} completed "
                    f"blocks need {needed}; checks of past blocks cannot be re-acquired from the "
                    "scopes, so this run cannot be resumed (start a new run)",
                    path=str(self.path),
                )
            if stored:
                self._scopes.restore_origin(stored[0])
            if self._continue is not None:
                self._continue(len(stored))
        for index in range(len(stored), needed):
            self.check(index)

    def _stored(self) -> list[TimingCheck]:
        if self.path is None or not self.path.exists():
            return []
        checks, run_id = read_trace_file(self.path)
        if run_id != self.run_id:
            raise StorageError(
                f"{self.path}: timing checks of run {run_id!r}, this run is {self.run_id!r}",
                path=str(self.path),
            )
        return checks
