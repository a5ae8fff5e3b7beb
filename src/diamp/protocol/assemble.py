"""Assemble a run's parts, each from its own section of the config.

This is the one place that reads a whole run config to build the parts of an acquisition;
every part gets only its own typed section:

* the station from ``[instruments]`` (:class:`~diamp.daq.station.StationSpec`);
* the trial source from ``[sources]`` (where each part of a trial comes from), with the
  simulated lab built from ``[run].seed``, ``[sources]`` and ``[device]`` when any part is
  simulated (:class:`~diamp.daq.trials.ComposedTrials`);
* the timing monitor from ``[timing]`` and the station's scopes;
* the controller's plan from ``[run]``, ``[sources].mu`` and ``[timing].policy``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from diamp.config import LoadedConfig, RunConfig, TimingRun
from diamp.daq.scopes import TimingContext, uses_scopes
from diamp.daq.sim.lab import SimulatedLab
from diamp.daq.station import Station, StationSpec
from diamp.daq.trials import ComposedTrials, compose_trials, instruments_part
from diamp.errors import ConfigError, TimingError
from diamp.protocol.acquire import AcquisitionPlan
from diamp.protocol.timing_monitor import TimingMonitor, synthetic_checks
from diamp.timing.section import TimingSection, parse_timing
from diamp.tomlconfig import read_text

__all__ = [
    "RunParts",
    "TimingFile",
    "acquisition_plan",
    "check_files",
    "monitor_for",
    "open_parts",
    "open_station",
    "station_spec",
    "timing_context",
    "timing_monitor",
    "trial_source",
]


@dataclass(frozen=True)
class TimingFile:
    """The run's timing section as read from the file ``[timing].section`` names."""

    section: TimingSection
    text: str
    name: str


def _timing_file(timing: TimingRun, origin: str) -> TimingFile:
    path = Path(origin).resolve().parent / timing.section
    try:
        text, where = read_text(path, TimingError, "timing")
        return TimingFile(parse_timing(text, where), text, timing.section)
    except TimingError as err:  # the config names a section that is missing or invalid
        raise ConfigError(f"{origin}: timing.section: {err}", key="timing.section") from err


def check_files(loaded: LoadedConfig) -> None:
    """Read the files the config names (the timing section) before a run directory exists.

    Raises :class:`~diamp.errors.ConfigError` naming the key, so that a config pointing at a
    missing or invalid file leaves nothing behind.
    """
    if loaded.config.timing is not None:
        _timing_file(loaded.config.timing, loaded.path)


def station_spec(loaded: LoadedConfig, timing: TimingFile | None = None) -> StationSpec:
    """The station's spec: ``[instruments]`` and the run facts its parts need."""
    cfg = loaded.config
    context = None
    if cfg.timing is not None and timing is not None:
        context = TimingContext(
            timing.section, timing.name, cfg.timing.simulate, cfg.run.seed, loaded.path
        )
    return StationSpec(
        instruments=cfg.instruments,
        origin=loaded.path,
        config_sha256=loaded.sha256,
        mu=float(cfg.sources.mu),
        seed=cfg.run.seed,
        timing=context,
    )


def acquisition_plan(cfg: RunConfig) -> AcquisitionPlan:
    """The controller's plan from ``[run]``, ``[sources].mu`` and ``[timing].policy``."""
    run = cfg.run
    policy = None if cfg.timing is None else cfg.timing.policy
    return AcquisitionPlan(
        run.blocks, run.trials_per_block, run.segment_trials, cfg.sources.mu, policy
    )


def trial_source(cfg: RunConfig, station: Station | None) -> ComposedTrials:
    """The trial source ``[sources]`` declares: each part simulated or from the station."""
    lab = SimulatedLab(cfg.run.seed, cfg.run.trials_per_block, cfg.sources, cfg.device)
    return compose_trials(cfg.sources, lab, station)


def timing_monitor(
    timing: TimingRun,
    timing_file: TimingFile,
    station: Station | None,
    blocks: int,
    seed: int,
    *,
    scoped: bool,
    origin: str,
    **store: Any,
) -> TimingMonitor:
    """The timing monitor: checks from the station's scopes, or synthetic ones without scopes.

    ``scoped`` says the run has scopes: then the checks come from them, never from a
    simulation, and a missing station is a :class:`ConfigError`. ``store`` passes ``path``
    and ``run_id`` of ``RUN/timing.h5``.
    """
    if scoped:
        scopes = None if station is None else station.scope_timing()
        if station is None or scopes is None:
            raise ConfigError(
                f"{origin}: the timing checks come from the configured scopes, but no station "
                "with them was opened",
                path=origin,
            )
        names = sorted({w.instrument for w in station.wiring})
        return TimingMonitor(
            timing_file.section,
            timing_file.text,
            scopes=scopes,
            continue_simulation=station.continue_simulation,
            provenance=instruments_part(station, names),
            **store,
        )
    synthetic = synthetic_checks(timing_file.section, timing, blocks, seed)
    simulated = {
        "origin": "simulated",
        "simulated": True,
        "backend": "diamp.timing.simulate",
        "generator": "numpy default_rng(seed), synthetic envelope traces ([timing.simulate])",
        "seed": seed,
    }
    return TimingMonitor(
        timing_file.section,
        timing_file.text,
        synthetic=synthetic,
        provenance=simulated,
        **store,
    )


def monitor_for(
    loaded: LoadedConfig,
    station: Station | None = None,
    *,
    path: Path | None = None,
    run_id: str | None = None,
) -> TimingMonitor:
    """The timing monitor of a whole config (its ``[timing]`` must exist) and its station."""
    cfg = loaded.config
    if cfg.timing is None:
        raise ConfigError(f"{loaded.path}: the run config has no [timing] section")
    return timing_monitor(
        cfg.timing,
        _timing_file(cfg.timing, loaded.path),
        station,
        cfg.run.blocks,
        cfg.run.seed,
        scoped=uses_scopes(cfg.instruments, True),
        origin=loaded.path,
        path=path,
        run_id=run_id,
    )


def timing_context(loaded: LoadedConfig) -> TimingContext | None:
    """What the scopes need of ``[timing]`` (None without a timing section)."""
    cfg = loaded.config
    if cfg.timing is None:
        return None
    tf = _timing_file(cfg.timing, loaded.path)
    return TimingContext(tf.section, tf.name, cfg.timing.simulate, cfg.run.seed, loaded.path)


def open_station(loaded: LoadedConfig) -> Station:
    """Open the station of a whole config (the caller closes it)."""
    cfg = loaded.config
    scoped = uses_scopes(cfg.instruments, cfg.timing is not None)
    timing_file = _timing_file(cfg.timing, loaded.path) if scoped and cfg.timing else None
    return Station.open(station_spec(loaded, timing_file))


@dataclass
class RunParts:
    """An opened acquisition: the plan, the trial source, and what builds the timing monitor."""

    plan: AcquisitionPlan
    source: ComposedTrials
    station: Station | None
    timing: TimingRun | None
    timing_file: TimingFile | None
    seed: int
    scoped: bool
    origin: str

    def monitor(self, path: Path, run_id: str) -> TimingMonitor | None:
        """The timing monitor writing ``path`` for run ``run_id`` (None without ``[timing]``)."""
        if self.timing is None or self.timing_file is None:
            return None
        return timing_monitor(
            self.timing,
            self.timing_file,
            self.station,
            self.plan.blocks,
            self.seed,
            scoped=self.scoped,
            origin=self.origin,
            path=path,
            run_id=run_id,
        )


@contextmanager
def open_parts(loaded: LoadedConfig) -> Iterator[RunParts]:
    """Open the station (if the config declares instruments) and build every part.

    Any instrument that cannot be reached stops the run, naming it; the station is closed
    on leaving, whatever happens.
    """
    cfg = loaded.config
    timing_file = None if cfg.timing is None else _timing_file(cfg.timing, loaded.path)
    scoped = uses_scopes(cfg.instruments, cfg.timing is not None)
    station = (
        Station.open(station_spec(loaded, timing_file if scoped else None))
        if cfg.instruments
        else None
    )
    try:
        yield RunParts(
            acquisition_plan(cfg),
            trial_source(cfg, station),
            station,
            cfg.timing,
            timing_file,
            cfg.run.seed,
            scoped,
            loaded.path,
        )
    finally:
        if station is not None:
            station.close()
