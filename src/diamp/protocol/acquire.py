"""The block controller: one loop over blocks that asks the trial source for trials.

:func:`acquire_blocks` knows nothing of simulation or instruments: it asks the trial source
(:class:`~diamp.daq.trials.TrialSource`) for each block's trials and the timing monitor for
the checks around it, stores every block as soon as it is complete, and after the last
block asks the source for Z (2n bits, n the trials that reach the extractor). The parts are
assembled from the config by :mod:`diamp.protocol.assemble`; :func:`diamp.protocol.run.acquire`
does both.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from fractions import Fraction
from typing import Literal

from diamp.daq.store import TrialStoreWriter
from diamp.daq.trials import TrialSource
from diamp.errors import DiampError
from diamp.progress import ProgressSink
from diamp.protocol.bell import BellCounts, LiveBell
from diamp.protocol.timing_monitor import TimingMonitor
from diamp.timing.verify import excluded_blocks

__all__ = ["AcquisitionPlan", "Interrupted", "acquire_blocks", "new_run_id"]

log = logging.getLogger(__name__)


def new_run_id() -> str:
    """A unique run identifier: UTC time plus 32 random bits."""
    return f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(4)}"


class Interrupted(DiampError):
    """Acquisition stopped on request after a complete block (resume with ``--resume``)."""

    exit_code = 130


@dataclass(frozen=True)
class AcquisitionPlan:
    """How many blocks of how many trials, the live estimate's step, and the timing policy."""

    blocks: int
    trials_per_block: int
    segment_trials: int
    mu: Fraction
    policy: Literal["abort", "exclude"] | None = None  # None: no timing checks


def acquire_blocks(
    store: TrialStoreWriter,
    source: TrialSource,
    plan: AcquisitionPlan,
    progress: ProgressSink,
    *,
    monitor: TimingMonitor | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> None:
    """Acquire the missing blocks of ``plan`` into ``store``, then Z (see the module docs).

    ``should_stop`` is polled before every block and before Z; when it returns True the
    store is left with complete blocks only and :class:`Interrupted` is raised. With
    ``monitor`` a failing check stops acquisition under policy ``abort``; under ``exclude``
    the blocks not bracketed by passing checks are recorded and get no Z.
    """
    if store.n_blocks > plan.blocks:
        raise DiampError(f"{store.path}: holds {store.n_blocks} blocks, the config {plan.blocks}")
    for name, text in source.run_attributes().items():
        store.set_attribute(name, text)
    if monitor is not None:
        store.set_attribute("timing_section", monitor.section_text)
        monitor.resume(store.n_blocks + 1)  # a fresh run: check 0 (before block 0)
    _blocks(store, source, plan, progress, monitor, should_stop)
    if should_stop is not None and should_stop():
        raise Interrupted(f"stopped after the last block, before Z ({plan.blocks} blocks)")
    excluded: tuple[int, ...] = ()
    if monitor is not None and plan.policy == "exclude":
        excluded = excluded_blocks(monitor.verdicts)
        store.set_attribute("timing_excluded_blocks", json.dumps(list(excluded)))
        if excluded:
            log.warning("timing: blocks %s excluded (policy exclude)", list(excluded))
    if store.has_z:
        return
    # Z covers the trials that reach the extractor: fewer blocks if timing stopped the run,
    # none of the excluded ones
    n_bits = 2 * (store.n_blocks - len(excluded)) * plan.trials_per_block
    update = progress.start(f"Z: {n_bits:,} bits from the SV source", n_bits)
    store.write_z(source.z(n_bits, update), n_bits)


def _blocks(
    store: TrialStoreWriter,
    source: TrialSource,
    plan: AcquisitionPlan,
    progress: ProgressSink,
    monitor: TimingMonitor | None,
    should_stop: Callable[[], bool] | None,
) -> None:
    """The block loop: ask for trials, store them, take the timing check after them."""
    update = progress.start("Bell trials", plan.blocks * plan.trials_per_block)
    done = store.n_blocks * plan.trials_per_block
    update(done)

    def report(running: BellCounts) -> None:  # every segment_trials trials
        chsh, s_mu = running.chsh(), float(running.s_mu(plan.mu))
        update(done + live.block.n, f"Bell trials — CHSH {chsh:.4f}, S_mu {s_mu:+.6f}")

    live = LiveBell(plan.segment_trials, report)
    for index in range(store.n_blocks, plan.blocks):
        if monitor is not None and monitor.failure is not None and plan.policy == "abort":
            log.error("%s; acquisition stopped (policy abort)", monitor.failure)
            return
        if should_stop is not None and should_stop():
            raise Interrupted(
                f"stopped with {index} of {plan.blocks} blocks complete", blocks=index
            )
        attrs = source.begin_block(index)
        trials = source.block(index, plan.trials_per_block, live.feed)
        block = live.end_block()
        info = store.append_block(trials, attrs or None)
        done += info.n_trials
        if monitor is not None:
            monitor.check(index + 1)
        log.info(
            "block %d stored: %d trials, CHSH %.4f, S_mu %+.6f (sha256 %s)",
            index,
            info.n_trials,
            block.chsh(),
            float(block.s_mu(plan.mu)),
            info.sha256,
        )
