"""Acquisition: run the Bell trials of a config block by block into a new trial store.

This is the walking-skeleton controller: it drives the simulated lab (SV sources and Bell
device) and writes each block as soon as it is complete; Z (2n bits from the configured SV
source) is drawn after the last trial.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from diamp.config import LoadedConfig
from diamp.daq.readouts import ReadoutSet
from diamp.daq.sim.lab import SimulatedLab
from diamp.daq.station import Station
from diamp.daq.store import TrialStoreWriter
from diamp.errors import DiampError
from diamp.progress import NullProgress, ProgressSink
from diamp.protocol.bell import BellCounts, LiveBell
from diamp.protocol.timing_monitor import TimingMonitor
from diamp.timing.verify import excluded_blocks

__all__ = ["Interrupted", "acquire", "new_run_id"]

log = logging.getLogger(__name__)


def _block(
    lab: SimulatedLab,
    station: Station | None,
    index: int,
    count: int,
    on_trials: Callable[[np.ndarray], None],
) -> np.ndarray:
    """One block's trials; inputs from the station's QRNGs when the config says so.

    Every trial is recorded: exactly ``count`` inputs per node are read (the QRNG driver
    returns exactly what is asked or raises), so no trial is dropped or duplicated. The
    station's generators run for each acquisition (:meth:`Station.triggered`: readouts armed
    first, trigger masters started last, all stopped after). ``on_trials`` sees the trials
    in order as they arrive (per readout acquisition), for the live estimate.
    """
    if station is None or lab.config.sources.inputs != "instruments":
        trials = lab.block(index)
    else:
        x = station.qrng("A").bits(count)
        y = station.qrng("B").bits(count)
        trials = lab.measure(index, x, y)
    if station is not None and station.readouts is not None:
        return _read_outcomes(station.readouts, trials, station.triggered, on_trials)
    if station is not None:
        with station.triggered():  # the device's outcomes are the block's record
            pass
    on_trials(trials)
    return trials


def _read_outcomes(
    readouts: ReadoutSet,
    trials: np.ndarray,
    triggered: Callable[[], AbstractContextManager[None]],
    on_trials: Callable[[np.ndarray], None],
) -> np.ndarray:
    """Replace the device's outcomes by what the nodes' readouts report, shot for shot.

    The block is acquired in as many acquisitions as the readouts' result memory needs; each
    returns exactly its number of outcomes per node or the block fails (nothing is stored).
    """
    out = np.empty_like(trials)
    step = readouts.max_results
    for start in range(0, trials.size, step):
        part = trials[start : start + step]
        read = readouts.acquire({"A": (part >> 1) & 1, "B": part & 1}, triggered)
        out[start : start + step] = (part & 0b1100) | (read["A"] << 1) | read["B"]
        on_trials(out[start : start + step])
    return out


def new_run_id() -> str:
    """A unique run identifier: UTC time plus 32 random bits."""
    return f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(4)}"


class Interrupted(DiampError):
    """Acquisition stopped on request after a complete block (resume with ``--resume``)."""

    exit_code = 130


def acquire(
    loaded: LoadedConfig,
    store_path: Path,
    run_id: str,
    progress: ProgressSink | None = None,
    *,
    resume: bool = False,
    should_stop: Callable[[], bool] | None = None,
) -> None:
    """Acquire every block of ``loaded`` into ``store_path``, then draw Z.

    With ``[instruments]`` in the config the station is opened and configured first (any
    instrument that cannot be reached stops the run, naming it), and its snapshot is stored
    with the run (root attribute ``station_snapshot``) and with every block (``snapshot``).

    ``resume`` continues an interrupted store (:meth:`TrialStoreWriter.resume`): blocks are
    generated from per-block seeds, so the finished store holds what an uninterrupted run
    would. ``should_stop`` is polled after every block; when it returns True the store is
    left with complete blocks only and :class:`Interrupted` is raised.
    """
    progress = progress or NullProgress()
    cfg = loaded.config
    lab = SimulatedLab(cfg)
    station = Station.from_config(loaded) if cfg.instruments else None
    try:
        _acquire(loaded, store_path, run_id, lab, station, progress, resume, should_stop)
    finally:
        if station is not None:
            station.close()


def _acquire(
    loaded: LoadedConfig,
    store_path: Path,
    run_id: str,
    lab: SimulatedLab,
    station: Station | None,
    progress: ProgressSink,
    resume: bool,
    should_stop: Callable[[], bool] | None,
) -> None:
    cfg = loaded.config
    n = cfg.n_trials
    store = (
        TrialStoreWriter.resume(store_path, loaded.sha256)
        if resume
        else TrialStoreWriter(store_path, run_id, loaded.text, loaded.sha256)
    )
    with store:
        if store.n_blocks > cfg.run.blocks:
            raise DiampError(
                f"{store_path}: holds {store.n_blocks} blocks, the config {cfg.run.blocks}"
            )
        if station is not None:
            store.set_attribute("station_snapshot", json.dumps(station.snapshot()))
        monitor = None
        policy = cfg.timing.policy if cfg.timing is not None else None
        if cfg.timing is not None:
            traces = store_path.with_name("timing.h5")
            monitor = TimingMonitor(loaded, station, path=traces, run_id=store.run_id)
            store.set_attribute("timing_section", monitor.section_text)
            monitor.resume(store.n_blocks + 1)  # a fresh run: check 0 (before block 0)
        update = progress.start("Bell trials", n)
        done = store.n_blocks * cfg.run.trials_per_block
        update(done)
        mu = cfg.sources.mu

        def report(running: BellCounts) -> None:  # every 2^22 trials (segment_trials)
            update(
                done + live.block.n,
                f"Bell trials — CHSH {running.chsh():.4f}, S_mu {float(running.s_mu(mu)):+.6f}",
            )

        live = LiveBell(cfg.run.segment_trials, report)
        for index in range(store.n_blocks, cfg.run.blocks):
            if monitor is not None and monitor.failure is not None and policy == "abort":
                log.error("%s; acquisition stopped (policy abort)", monitor.failure)
                break
            if should_stop is not None and should_stop():
                raise Interrupted(
                    f"stopped with {index} of {cfg.run.blocks} blocks complete", blocks=index
                )
            if station is not None and station.readouts is not None:
                for node, cal in station.recalibrate_readouts().items():
                    log.info("readout %s recalibrated before block %d: %s", node, index, cal)
            attrs = {"snapshot": json.dumps(station.snapshot())} if station is not None else None
            trials = _block(lab, station, index, cfg.run.trials_per_block, live.feed)
            block = live.end_block()
            info = store.append_block(trials, attrs)
            done += info.n_trials
            if monitor is not None:
                monitor.check(index + 1)
            log.info(
                "block %d stored: %d trials, CHSH %.4f, S_mu %+.6f (sha256 %s)",
                index,
                info.n_trials,
                block.chsh(),
                float(block.s_mu(cfg.sources.mu)),
                info.sha256,
            )
        if should_stop is not None and should_stop():
            raise Interrupted(f"stopped after the last block, before Z ({cfg.run.blocks} blocks)")
        excluded: tuple[int, ...] = ()
        if monitor is not None:
            if policy == "exclude":
                excluded = excluded_blocks(monitor.verdicts)
                store.set_attribute("timing_excluded_blocks", json.dumps(list(excluded)))
                if excluded:
                    log.warning("timing: blocks %s excluded (policy exclude)", list(excluded))
        if store.has_z:
            return
        # Z covers the trials that reach the extractor: fewer blocks if timing stopped the
        # run, none of the excluded ones
        n = (store.n_blocks - len(excluded)) * cfg.run.trials_per_block
        update = progress.start(f"Z: {2 * n:,} bits from the SV source", 2 * n)
        if station is not None and cfg.sources.inputs == "instruments":
            node = "A" if cfg.sources.z_source == "alice" else "B"
            z = np.packbits(station.qrng(node).bits(2 * n))
            update(2 * n)
        else:
            z = lab.z_packed(2 * n, update)
        store.write_z(z, 2 * n)
