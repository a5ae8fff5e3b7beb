"""Run configuration: versioned TOML files validated into frozen, typed objects.

A config is loaded once, from an explicit path, and passed down explicitly; there is no
global configuration. Unknown keys, wrong types and out-of-range values are errors that
name the file and the dotted key (``device.visibility``), never warnings.

Decimal parameters that enter exact arithmetic (``sources.mu``, the S_mu thresholds) are
kept as :class:`fractions.Fraction`; write them as decimal strings (``"0.0075"``) or as TOML
floats, which are read through their shortest decimal representation.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationInfo, model_validator

from diamp.config.instruments import InstrumentConfig
from diamp.config.sections import (
    AdaptiveProtocol,
    DeviceConfig,
    ExactNumber,
    ExtractorConfig,
    FixedProtocol,
    LhvDevice,
    Origin,
    ProtocolConfig,
    QuantumDevice,
    RunSection,
    SourceConfig,
    SourcesSection,
    TimingRun,
    TimingSimulation,
    _declared_origins,
    _Section,
)
from diamp.daq.registry import READOUT_TYPES
from diamp.errors import ConfigError
from diamp.exact import exact_fraction
from diamp.tomlconfig import read_text, validate_toml

__all__ = [
    "SCHEMA_VERSION",
    "AdaptiveProtocol",
    "DeviceConfig",
    "ExactNumber",
    "ExtractorConfig",
    "FixedProtocol",
    "InstrumentConfig",
    "LhvDevice",
    "LoadedConfig",
    "Origin",
    "ProtocolConfig",
    "QuantumDevice",
    "RunConfig",
    "RunSection",
    "SourceConfig",
    "SourcesSection",
    "TimingRun",
    "TimingSimulation",
    "exact_fraction",
    "load_config",
    "parse_config",
]

SCHEMA_VERSION = 1


class RunConfig(_Section):
    """A whole run configuration (``schema_version = 1``)."""

    schema_version: Literal[1]
    """Version of the config format; only 1 exists."""
    run: RunSection
    """Size and seeding of the run."""
    sources: SourcesSection
    """The declared SV bound and where inputs, Z and outcomes come from."""
    device: DeviceConfig
    """The simulated Bell device (used when `sources.outcomes = "simulated"`)."""
    protocol: ProtocolConfig
    """How the output length is certified: Theorem 5 (`fixed`) or Theorem 6 (`adaptive`)."""
    extractor: ExtractorConfig = ExtractorConfig()
    """The correlation engine and the self-check of the key."""
    instruments: dict[str, InstrumentConfig] = Field(default_factory=dict)
    """The station: one table per instrument, by name."""
    timing: TimingRun | None = None
    """Locality checks before the first block and after every block (none: no timing checks)."""

    @model_validator(mode="after")
    def _check_quantum_max(self) -> RunConfig:
        mu = self.sources.mu
        mu_min_max = float((Fraction(1, 2) - mu) ** 2 * (Fraction(1, 2) + mu) ** 2)
        s_q = (2 * math.sqrt(2) - 2) * mu_min_max / 4
        p = self.protocol
        key, value = (
            ("s_mu_threshold", p.s_mu_threshold)
            if isinstance(p, FixedProtocol)
            else ("s_mu_max", p.s_mu_max)
        )
        if float(value) >= s_q:
            raise ValueError(
                f"protocol.{key} = {float(value)} is at or above the quantum maximum of S_mu "
                f"({s_q:.7g} at mu = {float(mu)}); no quantum device can reach it"
            )
        return self

    @model_validator(mode="after")
    def _check_readouts(self) -> RunConfig:
        nodes = [i.node for i in self.instruments.values() if i.type in READOUT_TYPES]
        if nodes and sorted(nodes) != ["A", "B"]:
            raise ValueError(
                f"qubit readouts must be exactly one per node A and B, found nodes {sorted(nodes)}"
            )
        return self

    @model_validator(mode="after")
    def _check_calibration_awgs(self) -> RunConfig:
        for name, inst in sorted(self.instruments.items()):
            if inst.calibration_awg is None:
                continue
            awg = self.instruments.get(inst.calibration_awg)
            if awg is None or awg.type != "awg70k" or awg.node != inst.node:
                found = "missing" if awg is None else f"a {awg.type} at node {awg.node}"
                raise ValueError(
                    f"instruments.{name}.calibration_awg: {inst.calibration_awg!r} must be an "
                    f"awg70k at node {inst.node} (found {found})"
                )
        return self

    @model_validator(mode="before")
    @classmethod
    def _origins(cls, data: Any, info: ValidationInfo) -> Any:
        return _declared_origins(data, info.context)

    @model_validator(mode="after")
    def _check_origins(self, info: ValidationInfo) -> RunConfig:
        src = self.sources
        by_type: dict[str, list[tuple[str, str]]] = {}
        for name, inst in sorted(self.instruments.items()):
            by_type.setdefault("readout" if inst.type in READOUT_TYPES else inst.type, []).append(
                (name, inst.node)
            )
        qrngs, readouts = by_type.get("qrng", []), by_type.get("readout", [])
        needs = []
        if src.inputs == "instruments":
            needs += [("sources.inputs", node) for node in ("A", "B")]
        if src.z == "instruments":
            needs.append(("sources.z", src.z_node))
        for key, node in needs:
            found = [name for name, at in qrngs if at == node]
            if len(found) != 1:
                raise ValueError(
                    f"{key} = 'instruments' needs exactly one [instruments.*] of type 'qrng' at "
                    f"node {node}, found {found or 'none'}"
                )
        if src.outcomes == "instruments" and not readouts:
            raise ValueError(
                "sources.outcomes = 'instruments' needs the qubit readouts (type 'uhfqa' or "
                "'shfqa') at nodes A and B, found none"
            )
        stored = isinstance(info.context, dict) and info.context.get("stored")
        if src.outcomes == "simulated" and readouts and not stored:
            raise ValueError(
                f"instruments.{readouts[0][0]}: a qubit readout, but sources.outcomes = "
                "'simulated' would ignore what it reads; set sources.outcomes = 'instruments' "
                "or remove the readout"
            )
        used = {node for key, node in needs}
        unused = [name for name, node in qrngs if node not in used]
        if unused and not stored:
            raise ValueError(
                f"instruments.{unused[0]}: a QRNG nothing reads (sources.inputs = "
                f"{src.inputs!r}, sources.z = {src.z!r} from node {src.z_node}); take inputs "
                "or Z from it, or remove it"
            )
        return self

    @model_validator(mode="after")
    def _check_scope_channels(self) -> RunConfig:
        shown: dict[tuple[str, str], str] = {}
        for name, inst in sorted(self.instruments.items()):
            if inst.channels and self.timing is None:
                raise ValueError(
                    f"instruments.{name}.channels: maps timing traces, but the config has no "
                    "[timing] section"
                )
            for key, trace in sorted(inst.channels.items()):
                where = f"instruments.{name}.channels.{key}"
                if (inst.node, trace) in shown:
                    raise ValueError(
                        f"{where}: node {inst.node} already shows {trace!r} on "
                        f"{shown[inst.node, trace]}; map each trace once per node"
                    )
                shown[inst.node, trace] = where
        return self

    @property
    def n_trials(self) -> int:
        """Total number of Bell trials n = blocks × trials_per_block."""
        return self.run.blocks * self.run.trials_per_block


@dataclass(frozen=True)
class LoadedConfig:
    """A validated config together with the exact text it was read from."""

    config: RunConfig
    text: str
    path: str

    @property
    def sha256(self) -> str:
        """SHA-256 of the config text (UTF-8)."""
        return hashlib.sha256(self.text.encode()).hexdigest()


_TAGGED = {"device": {"quantum", "lhv"}, "protocol": {"fixed", "adaptive"}}


def parse_config(text: str, path: str = "<string>", *, stored: bool = False) -> LoadedConfig:
    """Validate config text; raise :class:`ConfigError` naming the file and every bad key.

    ``stored`` reads a config back from a run's store (``diamp amplify``, the report): a
    store written before ``[sources]`` stated the origin of every part is read with the
    rules it ran under (see :class:`SourcesSection`) instead of being refused.
    """
    context = {"stored": True} if stored else None
    config = validate_toml(text, path, RunConfig, ConfigError, SCHEMA_VERSION, _TAGGED, context)
    return LoadedConfig(config=config, text=text, path=path)


def load_config(path: str | Path) -> LoadedConfig:
    """Read and validate a TOML run config from ``path``."""
    return parse_config(*read_text(path, ConfigError, "config"))
