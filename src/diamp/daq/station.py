"""The station: the run's instruments, built from the config, and their snapshots.

Every ``[instruments.NAME]`` of a run config becomes a driver (SCPI instruments through
pyvisa, the SV-source QRNGs through pyserial), opened and configured with its settings
validated first. A failure to open, identify or configure an instrument stops the run with
an :class:`~diamp.errors.InstrumentError` naming it. :meth:`Station.snapshot` records every
setting read back from the devices (value, unit, timestamp), the software versions and the
config hash; the controller stores one with the run and one with every block.

The station is built from its own section, ``[instruments]``, plus the few facts it needs of
the run (:class:`StationSpec`); it never sees the whole config. When the run has a
``[timing]`` section and scopes, their channel wiring is checked against the timing section
before any instrument is opened (:func:`diamp.daq.scopes.scope_wiring`),
and :meth:`Station.scope_timing` takes the timing checks from them. ``backend = "loopback"``
scopes are started here as in-process SCPI servers (:mod:`diamp.daq.sim.scope`) and reached
through pyvisa-py like any networked scope.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from diamp.config import InstrumentConfig
from diamp.daq.readouts import PreparedState, ReadoutSet, open_readout_set
from diamp.daq.registry import READOUT_TYPES, instrument_type, types_with_role
from diamp.daq.roles import trigger_order
from diamp.daq.scopes import ScopeChannel, ScopeTiming, TimingContext, scope_wiring
from diamp.errors import ConfigError, InstrumentError

__all__ = ["GENERATOR_TYPES", "SOFTWARE", "Station", "StationSpec", "software_versions"]

# Backends and addresses that reach a simulation, not a device (provenance says so).
SIMULATED_BACKENDS = frozenset({"sim", "loopback"})
SIMULATED_ADDRESSES = ("qrngsim://",)

GENERATOR_TYPES = frozenset(types_with_role("pulse-generator"))  # the PulseGenerator role

SOFTWARE = (
    "diamp",
    "numpy",
    "numba",
    "h5py",
    "pyvisa",
    "pyvisa-py",
    "pyvisa-sim",
    "pyserial",
    "zhinst-toolkit",
    "zhinst-core",
)


def software_versions() -> dict[str, str | None]:
    """Installed versions of the packages that touch the data path."""
    out: dict[str, str | None] = {}
    for name in SOFTWARE:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def _visa_backend(name: str, cfg: InstrumentConfig, config_path: str) -> str:
    if cfg.backend in ("py", "loopback"):
        return "@py"
    if cfg.backend == "visa":
        return ""
    definition = Path(config_path).resolve().parent / "instruments" / f"{cfg.type}.yaml"
    if not definition.is_file():
        raise ConfigError(
            f"{config_path}: instruments.{name}: backend 'sim' needs the pyvisa-sim definition "
            f"{definition}, which does not exist",
            path=config_path,
            key=f"instruments.{name}",
        )
    return f"{definition}@sim"


@dataclass(frozen=True)
class StationSpec:
    """What opening a station takes: ``[instruments]`` and the few run facts its parts need.

    ``origin`` is the config file (named in errors; pyvisa-sim definitions are read from
    ``instruments/`` beside it), ``config_sha256`` goes into every snapshot, ``mu`` is the
    declared SV bound the QRNG drivers' health cutoffs follow, ``seed`` seeds simulated
    readouts' noise, and ``timing`` is what the scopes need of ``[timing]`` (None without it).
    """

    instruments: Mapping[str, InstrumentConfig]
    origin: str
    config_sha256: str
    mu: float
    seed: int
    timing: TimingContext | None = None


@dataclass
class Station:
    """Open instruments by name (SCPI drivers and serial QRNGs)."""

    spec: StationSpec
    instruments: dict[str, Any] = field(default_factory=dict)
    readouts: ReadoutSet | None = None
    wiring: tuple[ScopeChannel, ...] = ()
    servers: list[Any] = field(default_factory=list)  # loopback scopes, stopped on close

    @classmethod
    def open(cls, spec: StationSpec) -> Station:
        """Open and configure every instrument of ``spec`` (closing all on failure)."""
        station = cls(spec)
        if spec.timing is not None and any(i.type == "scope" for i in spec.instruments.values()):
            station.wiring = scope_wiring(spec.instruments, spec.timing)
        try:
            for name, cfg in spec.instruments.items():
                if cfg.type not in READOUT_TYPES:
                    station.instruments[name] = station._open_one(name, cfg)
            station.readouts = open_readout_set(spec.instruments, spec.seed, station.instruments)
        except BaseException:
            station.close()
            raise
        return station

    def _open_one(self, name: str, cfg: InstrumentConfig) -> Any:
        spec = self.spec
        driver_class = instrument_type(cfg.type).load_driver()
        if cfg.type == "qrng":
            qrng = driver_class(cfg.address, mu=spec.mu, name=name)
            qrng.open()
            return qrng
        backend, address = _visa_backend(name, cfg, spec.origin), cfg.address
        if cfg.backend == "loopback":
            from diamp.daq.sim.scope import loopback_scope

            server = loopback_scope(name, cfg, spec.timing, spec.seed)
            self.servers.append(server)
            address = server.resource
        driver = driver_class(name, address, backend)
        self.instruments[name] = driver  # closed with the station if configure fails
        driver.configure(cfg.settings)
        return driver

    def snapshot(self) -> dict[str, Any]:
        """Every instrument's settings as read back now, with versions and the config hash."""
        instruments: dict[str, Any] = {}
        for name, driver in self.instruments.items():
            cfg = self.spec.instruments[name]
            entry: dict[str, Any] = {"type": cfg.type, "address": cfg.address, "node": cfg.node}
            if cfg.type == "qrng":
                entry["settings"] = {
                    "mu": {"value": driver.mu, "unit": "", "timestamp": time.time()},
                    "repetition_cutoff": {
                        "value": driver.repetition_cutoff,
                        "unit": "bytes",
                        "timestamp": time.time(),
                    },
                }
            else:
                entry["idn"] = getattr(driver, "idn", None)  # readouts: the serial is the address
                entry["settings"] = driver.snapshot()
            instruments[name] = entry
        return {
            "taken_utc": datetime.now(UTC).isoformat(),
            "config_sha256": self.spec.config_sha256,
            "software": software_versions(),
            "instruments": instruments,
        }

    def qrng_name(self, node: str) -> str:
        """The name of the QRNG at node ``node``."""
        for name, cfg in self.spec.instruments.items():
            if cfg.type == "qrng" and cfg.node == node:
                return name
        raise ConfigError(f"{self.spec.origin}: no QRNG instrument at node {node}")

    def qrng(self, node: str) -> Any:
        """The QRNG that supplies node ``node``'s input bits."""
        return self.instruments[self.qrng_name(node)]

    def describe(self, name: str) -> dict[str, Any]:
        """Provenance of instrument ``name``: type, backend, address, node, identity."""
        cfg = self.spec.instruments[name]
        return {
            "origin": "instruments",
            "instrument": name,
            "type": cfg.type,
            "backend": cfg.backend,
            "address": cfg.address,
            "node": cfg.node,
            "identity": getattr(self.instruments.get(name), "idn", None),
            "simulated": cfg.backend in SIMULATED_BACKENDS
            or cfg.address.startswith(SIMULATED_ADDRESSES),
        }

    def scope_timing(self) -> ScopeTiming | None:
        """The timing checks' acquisition from the scopes, or None without scopes."""
        if not self.wiring:
            return None
        names = {w.instrument for w in self.wiring}
        return ScopeTiming({name: self.instruments[name] for name in names}, self.wiring)

    def generators(self) -> dict[str, str]:
        """The station's pulse/trigger generators: name -> instrument type."""
        types = {name: cfg.type for name, cfg in self.spec.instruments.items()}
        return {name: types[name] for name in self.instruments if types[name] in GENERATOR_TYPES}

    @contextmanager
    def triggered(self) -> Iterator[None]:
        """Run the generators for one acquisition, as one transaction.

        Generators waiting for a trigger start first and the trigger masters last
        (:func:`~diamp.daq.roles.trigger_order`), so no trial is triggered before every
        instrument is armed; callers arm the readouts before entering. If any generator fails
        to start, the ones already running are stopped and the error (naming the instrument)
        propagates: no trial of the acquisition is kept. On exit every generator is stopped,
        masters first.
        """
        started: list[str] = []
        try:
            for name in trigger_order(self.generators()):
                self.instruments[name].run()
                started.append(name)
            yield
        except BaseException:
            self._stop(started)  # the first error is the one to report
            raise
        failure = self._stop(started)
        if failure is not None:
            raise failure

    def _stop(self, names: list[str]) -> InstrumentError | None:
        """Stop generators in reverse start order; every one is tried, the first error kept."""
        failure: InstrumentError | None = None
        for name in reversed(names):
            try:
                self.instruments[name].stop()
            except InstrumentError as err:
                failure = failure or err
        return failure

    def recalibrate_readouts(self) -> dict[str, Any]:
        """Recalibrate the readouts from reference shots (see :meth:`ReadoutSet.recalibrate`).

        A readout with ``calibration_awg`` has its reference states prepared on that qubit
        AWG: ``calibration_waveforms.ground`` / ``.excited`` is selected before each state's
        shots and ``.trial`` afterwards; the generators run for each set of shots.
        """
        readouts = self.readouts
        if readouts is None:
            return {}

        def prepare(node: str, state: PreparedState) -> None:
            cfg = readouts.configs[node]
            if cfg.calibration_awg is not None:
                awg = self.instruments[cfg.calibration_awg]
                awg.assign_waveform(cfg.calibration_waveforms[state])

        return readouts.recalibrate(prepare, self.triggered)

    def continue_simulation(self, checks: int) -> None:
        """Resume the simulated world after ``checks`` stored timing checks.

        Loopback scopes show the timing scene of acquisition ``k`` (their clock advances with
        it); a resumed run restores its stored checks instead of re-acquiring them, so the
        simulated scopes continue at acquisition ``checks``, as a lab scope simply continues.
        Real instruments are unaffected.
        """
        for server in self.servers:
            server.state.emulation.acquisitions = checks

    def close(self) -> None:
        """Close every instrument (errors while closing are not fatal), stop loopback scopes."""
        for driver in self.instruments.values():
            try:
                driver.close()
            except (InstrumentError, OSError):  # pragma: no cover - best effort on shutdown
                pass
        self.instruments.clear()
        for server in self.servers:
            server.stop()
        self.servers.clear()
