"""Acquisition: run the Bell trials of a config block by block into a new trial store.

This is the walking-skeleton controller: it drives the simulated lab (SV sources and Bell
device) and writes each block as soon as it is complete; Z (2n bits from the configured SV
source) is drawn after the last trial.
"""

from __future__ import annotations

import json
import logging
import secrets
from datetime import UTC, datetime
from pathlib import Path

from diamp.config import LoadedConfig
from diamp.daq.simulator import SimulatedLab
from diamp.daq.station import Station
from diamp.daq.store import TrialStoreWriter
from diamp.protocol.progress import NullProgress, ProgressSink

__all__ = ["acquire", "new_run_id"]

log = logging.getLogger(__name__)


def new_run_id() -> str:
    """A unique run identifier: UTC time plus 32 random bits."""
    return f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(4)}"


def acquire(
    loaded: LoadedConfig, store_path: Path, run_id: str, progress: ProgressSink | None = None
) -> None:
    """Acquire every block of ``loaded`` into ``store_path``, then draw Z.

    With ``[instruments]`` in the config the station is opened and configured first (any
    instrument that cannot be reached stops the run, naming it), and its snapshot is stored
    with the run (root attribute ``station_snapshot``) and with every block (``snapshot``).
    """
    progress = progress or NullProgress()
    cfg = loaded.config
    lab = SimulatedLab(cfg)
    station = Station.from_config(loaded) if cfg.instruments else None
    try:
        _acquire(loaded, store_path, run_id, lab, station, progress)
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
) -> None:
    cfg = loaded.config
    n = cfg.n_trials
    with TrialStoreWriter(store_path, run_id, loaded.text, loaded.sha256) as store:
        if station is not None:
            store.set_attribute("station_snapshot", json.dumps(station.snapshot()))
        update = progress.start("Bell trials", n)
        done = 0
        for index in range(cfg.run.blocks):
            attrs = {"snapshot": json.dumps(station.snapshot())} if station is not None else None
            info = store.append_block(lab.block(index), attrs)
            done += info.n_trials
            update(done)
            log.debug("block %d stored (%d trials, sha256 %s)", index, info.n_trials, info.sha256)
        update = progress.start(f"Z: {2 * n:,} bits from the SV source", 2 * n)
        store.write_z(lab.z_packed(2 * n, update), 2 * n)
