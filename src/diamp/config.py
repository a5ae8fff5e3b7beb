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
import re
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationInfo,
    field_validator,
    model_validator,
)

from diamp.daq.registry import INSTRUMENTS, READOUT_TYPES
from diamp.errors import ConfigError
from diamp.exact import exact_fraction
from diamp.tomlconfig import read_text, validate_toml

__all__ = [
    "SCHEMA_VERSION",
    "AdaptiveProtocol",
    "DeviceConfig",
    "ExtractorConfig",
    "FixedProtocol",
    "InstrumentConfig",
    "LhvDevice",
    "LoadedConfig",
    "QuantumDevice",
    "RunConfig",
    "RunSection",
    "SourceConfig",
    "SourcesSection",
    "TimingRun",
    "exact_fraction",
    "load_config",
    "parse_config",
]

SCHEMA_VERSION = 1


ExactNumber = Annotated[Fraction, BeforeValidator(exact_fraction)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)


class RunSection(_Section):
    """``[run]``: size and seeding of the run."""

    name: str = Field(default="run", min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")
    seed: int = Field(ge=0, lt=2**128)
    blocks: int = Field(ge=1, le=100_000)
    trials_per_block: int = Field(ge=1, le=2**31)
    segment_trials: int = Field(default=2**22, ge=1, le=2**31)


class SourceConfig(_Section):
    """One simulated Santha-Vazirani source.

    ``iid`` emits independent bits with P(1) = 1/2 + bias. ``markov`` emits bits whose
    bias depends on the previous bit: P(1 | previous = 1) = 1/2 + bias and
    P(1 | previous = 0) = 1/2 - bias, which stays inside the SV bound for |bias| <= mu.
    """

    model: Literal["iid", "markov"] = "iid"
    bias: float = Field(default=0.0, ge=-0.5, le=0.5)


Origin = Literal["simulated", "instruments"]

# What each origin statement of [sources] decides, and its choices (for the missing-key error).
ORIGINS: dict[str, tuple[str, str]] = {
    "inputs": (
        "the inputs x, y",
        '"instruments" (the QRNGs at nodes A and B) or "simulated" (seeded from '
        "[sources.alice] and [sources.bob])",
    ),
    "z": (
        "Z",
        '"instruments" (the QRNG at the z_source node) or "simulated" (seeded from the '
        "z_source model)",
    ),
    "outcomes": (
        "the Bell outcomes a, b",
        '"instruments" (the qubit readouts at nodes A and B) or "simulated" (the [device] model)',
    ),
}


class SourcesSection(_Section):
    """``[sources]``: the declared SV bound, and where every part of a trial comes from.

    ``inputs``, ``z`` and ``outcomes`` say, each, whether the inputs x and y, the extractor's
    second source Z, and the Bell outcomes a and b come from ``"instruments"`` (the station's
    QRNGs and qubit readouts) or are ``"simulated"``. A config that declares any
    ``[instruments.*]`` must state all three: where randomness comes from is never a default.
    Without instruments all three are simulated. ``alice`` and ``bob`` are the simulated SV
    source models; ``z_source`` names the node whose source (simulated model or QRNG) gives Z.
    """

    mu: ExactNumber
    alice: SourceConfig = SourceConfig()
    bob: SourceConfig = SourceConfig()
    z_source: Literal["alice", "bob"] = "alice"
    inputs: Origin
    z: Origin
    outcomes: Origin

    @model_validator(mode="after")
    def _check_bias(self) -> SourcesSection:
        if not 0 <= self.mu < Fraction(1, 2):
            raise ValueError(f"mu must satisfy 0 <= mu < 1/2, found {float(self.mu)}")
        for name in ("alice", "bob"):
            bias = getattr(self, name).bias
            if abs(exact_fraction(bias)) > self.mu:
                raise ValueError(
                    f"{name}.bias = {bias} exceeds the declared SV bound mu = {float(self.mu)}; "
                    "a simulated source must stay inside the bound the proof assumes"
                )
        return self

    @property
    def z_node(self) -> Literal["A", "B"]:
        """The node whose source gives Z."""
        return "A" if self.z_source == "alice" else "B"


def _declared_origins(data: Any, context: Any) -> Any:
    """Fill or refuse the origin statements of ``[sources]`` before validation.

    Without ``[instruments.*]`` every part is simulated. With instruments a missing
    statement is an error naming the key, except for a config read back from a store written
    before the statements existed (``context = {"stored": True}``): it gets the rules it ran
    under (inputs simulated unless stated, Z from wherever the inputs came from, outcomes
    from the readouts when it declares any).
    """
    if not isinstance(data, dict) or not isinstance(data.get("sources"), dict):
        return data
    sources = data["sources"]
    missing = [key for key in ORIGINS if key not in sources]
    if not missing:
        return data
    instruments = data.get("instruments") or {}
    if not instruments:
        fills = dict.fromkeys(missing, "simulated")
    elif isinstance(context, dict) and context.get("stored"):
        readouts = any(
            isinstance(i, dict) and i.get("type") in READOUT_TYPES for i in instruments.values()
        )
        inputs = sources.get("inputs", "simulated")
        legacy = {
            "inputs": inputs,
            "z": inputs,
            "outcomes": "instruments" if readouts else "simulated",
        }
        fills = {key: legacy[key] for key in missing}
    else:
        raise ValueError(
            "; ".join(
                f"sources.{key}: missing; a config that declares [instruments.*] must state the "
                f"origin of {ORIGINS[key][0]}: {ORIGINS[key][1]}"
                for key in missing
            )
        )
    return {**data, "sources": {**sources, **fills}}


class QuantumDevice(_Section):
    """A noisy |Psi+> measured with CHSH-optimal settings, read out with finite fidelity."""

    model: Literal["quantum"]
    visibility: float = Field(ge=0.0, le=1.0)
    readout_fidelity: float | tuple[float, float] = 1.0

    @model_validator(mode="after")
    def _check_fidelity(self) -> QuantumDevice:
        values = self.readout_fidelity
        pair = (values, values) if isinstance(values, float) else values
        for f in pair:
            if not 0.5 <= f <= 1.0:
                raise ValueError(f"readout_fidelity must lie in [0.5, 1], found {f}")
        return self

    @property
    def fidelities(self) -> tuple[float, float]:
        """(P(read 0 | state 0), P(read 1 | state 1)), the same at both nodes."""
        values = self.readout_fidelity
        return (values, values) if isinstance(values, float) else values


class LhvDevice(_Section):
    """A local-hidden-variable device: shared randomness only, so CHSH <= 2."""

    model: Literal["lhv"]
    noise: float = Field(default=0.0, ge=0.0, le=1.0)


DeviceConfig = Annotated[QuantumDevice | LhvDevice, Field(discriminator="model")]


class _ProtocolCommon(_Section):
    eps: float = Field(default=1e-12, gt=0.0, lt=1.0)
    eps_s: float | None = Field(default=None, gt=0.0, lt=1.0)
    eps_ea: float | None = Field(default=None, gt=0.0, lt=1.0)
    bound: Literal["strict", "paper"] = "strict"


class FixedProtocol(_ProtocolCommon):
    """Theorem 5: output length from a threshold fixed before the run."""

    mode: Literal["fixed"] = "fixed"
    s_mu_threshold: ExactNumber

    @model_validator(mode="after")
    def _check(self) -> FixedProtocol:
        if self.s_mu_threshold <= 0:
            raise ValueError("s_mu_threshold must be > 0 (no randomness is certified at S_mu <= 0)")
        return self


class AdaptiveProtocol(_ProtocolCommon):
    """Theorem 6: output length from the observed S_mu, floored to a grid of M bins.

    ``eps`` is the total security parameter; each bin uses eps / bins.
    """

    mode: Literal["adaptive"]
    s_mu_max: ExactNumber
    bins: int = Field(ge=1, le=10**9)

    @model_validator(mode="after")
    def _check(self) -> AdaptiveProtocol:
        if self.s_mu_max <= 0:
            raise ValueError("s_mu_max must be > 0")
        return self


def _protocol_mode(value: object) -> str:
    """``mode`` selects Theorem 5 or 6; without it the protocol is ``fixed`` (Theorem 5)."""
    if isinstance(value, dict):
        return str(value.get("mode", "fixed"))
    return str(getattr(value, "mode", "fixed"))


ProtocolConfig = Annotated[
    Annotated[FixedProtocol, Tag("fixed")] | Annotated[AdaptiveProtocol, Tag("adaptive")],
    Discriminator(_protocol_mode),
]


class ExtractorConfig(_Section):
    """``[extractor]``: self-check of the extracted key."""

    verify_bits: int = Field(default=64, ge=0, le=1_000_000)


class InstrumentConfig(_Section):
    """``[instruments.NAME]``: one instrument of the station.

    ``type`` selects the driver (``awg5014``, ``awg70k``, ``scope``, ``qrng``, and the qubit
    readouts ``uhfqa``, ``shfqa``); ``backend`` is ``sim`` (the pyvisa-sim definition
    ``configs/instruments/<type>.yaml``; for ``qrng`` the address is a ``qrngsim://`` URL; for
    a readout an in-process Zurich Instruments data server whose signal is the simulated
    Bell device's outcomes), ``loopback`` (scopes only: an in-process SCPI scope on
    127.0.0.1 reached through pyvisa-py like a lab scope, whose channels show the simulated
    timing scene; the address is only a label), ``py`` (pyvisa-py, e.g. TCPIP sockets),
    ``visa`` (the system VISA library) or ``zi`` (a readout through a real ZI data server,
    address ``dev2345@host:port``). ``settings`` are validated against the driver's declared
    ranges before anything is sent. ``calibration_shots`` (readouts only) recalibrates the
    readout between blocks from that many reference shots of each state, prepared by
    ``calibration_awg`` (the node's awg70k) playing ``calibration_waveforms.ground`` /
    ``.excited`` and then ``.trial`` again (required with backend ``zi``; the simulated
    readout prepares the states itself); ``timeout_s`` bounds one readout acquisition.

    ``channels`` (scopes only) says which trace of a timing check each input channel shows:
    ``ch1 = "reference"`` (the node's reference pulse), ``"remote"`` (the other node's master
    pulse) or the name of a timing-section device with a threshold. It is checked against the
    timing section when the station opens: per node every trace exactly once.
    """

    type: str  # a name of diamp.daq.registry.INSTRUMENTS
    address: str = Field(min_length=1)
    backend: Literal["sim", "py", "visa", "zi", "loopback"] = "py"
    node: Literal["A", "B", "C"] = "C"
    settings: dict[str, float | int | str] = Field(default_factory=dict)
    channels: dict[str, Annotated[str, Field(min_length=1)]] = Field(default_factory=dict)
    calibration_shots: int = Field(default=0, ge=0, le=1 << 19)
    calibration_awg: str | None = None  # readouts: the node's qubit AWG preparing the states
    calibration_waveforms: dict[Literal["ground", "excited", "trial"], str] = Field(
        default_factory=dict
    )
    timeout_s: float = Field(default=30.0, gt=0.0, le=3600.0)  # readouts: one acquisition

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        if value not in INSTRUMENTS:
            raise ValueError(f"unknown instrument type {value!r}; known: {sorted(INSTRUMENTS)}")
        return value

    @model_validator(mode="after")
    def _check_backend(self) -> InstrumentConfig:
        kind = INSTRUMENTS[self.type]
        readout = kind.role == "qubit-readout"
        if self.backend not in kind.backends:
            if self.backend == "loopback":
                raise ValueError(
                    f"backend 'loopback' is the in-process simulated oscilloscope (type "
                    f"'scope'); for a {self.type!r} use 'sim'"
                )
            choices = " or ".join(repr(b) for b in sorted(kind.backends))
            raise ValueError(f"a {self.type} takes backend {choices}, not {self.backend!r}")
        if self.settings and not kind.settings:
            raise ValueError(f"settings: a {self.type} takes no settings")
        if readout and self.node not in ("A", "B"):
            raise ValueError("a readout belongs to node 'A' or 'B'")
        if self.calibration_shots and not readout:
            raise ValueError("calibration_shots applies to readouts (uhfqa, shfqa) only")
        prepared = self.calibration_awg is not None or bool(self.calibration_waveforms)
        if prepared and not readout:
            raise ValueError("calibration_awg/calibration_waveforms apply to readouts only")
        if prepared and (
            self.calibration_awg is None
            or set(self.calibration_waveforms) != {"ground", "excited", "trial"}
        ):
            raise ValueError(
                "reference states are prepared by calibration_awg playing calibration_waveforms "
                "= { ground = …, excited = …, trial = … } (trial: restored after calibration); "
                "give the AWG and all three"
            )
        if self.calibration_shots and self.backend == "zi" and not prepared:
            raise ValueError(
                "calibration_shots with backend 'zi' needs the lab to prepare |0⟩ and |1⟩: set "
                "calibration_awg (the node's awg70k) and calibration_waveforms = { ground = "
                '"…", excited = "…", trial = "…" } (waveforms already in its list)'
            )
        return self

    @model_validator(mode="after")
    def _check_scope(self) -> InstrumentConfig:
        if not self.channels:
            return self
        if self.type != "scope":
            raise ValueError(f"channels: only a scope shows timing traces, this is a {self.type!r}")
        if self.node not in ("A", "B"):
            raise ValueError(
                f"channels: a scope showing timing traces belongs to node 'A' or 'B', "
                f"found node = {self.node!r}"
            )
        bad = [key for key in self.channels if not re.fullmatch(r"ch[1-9][0-9]*", key)]
        if bad:
            raise ValueError(f"channels: keys are input channels 'ch1', 'ch2', …, found {bad}")
        shown: dict[str, str] = {}
        for key in sorted(self.channels, key=lambda k: int(k[2:])):
            trace = self.channels[key]
            if trace in shown:
                raise ValueError(
                    f"channels: {trace!r} is on both {shown[trace]} and {key}; map each trace once"
                )
            shown[trace] = key
        if self.settings.get("acquire_mode") != "ENVELOPE":
            raise ValueError(
                "channels: timing checks read envelope curves; set settings.acquire_mode = "
                f'"ENVELOPE" (found {self.settings.get("acquire_mode")!r})'
            )
        return self


class TimingSimulation(_Section):
    """``[timing.simulate]``: what the simulated scopes show (for tests and demos).

    It drives the ``loopback`` scopes' scene and, in a config without scopes, the synthetic
    checks: elapsed time per block (drift), inter-node offset, and jitter injected on one
    device from a given check on. Real scopes ignore it.
    """

    jitter_device: str | None = None
    jitter_from_check: int = Field(default=0, ge=0)
    offset_ns: float = Field(default=0.55, ge=-50.0, le=50.0)
    hours_per_block: float = Field(default=0.45, gt=0.0, le=1000.0)


class TimingRun(_Section):
    """``[timing]``: verify the locality budget before the first block and after each block.

    ``section`` is a timing section file (TOML), relative to this config file. With
    ``policy = "abort"`` a failing check stops the acquisition, and the certificate records
    the abort; no bits are produced. With ``policy = "exclude"`` acquisition goes on, and
    every block not bracketed by two passing checks is excluded: its trials stay in the
    store (every trial is recorded) but never reach parameter estimation or the extractor,
    and the certificate lists it with the reason.
    """

    section: str = Field(min_length=1)
    policy: Literal["abort", "exclude"] = "abort"
    simulate: TimingSimulation = TimingSimulation()


class RunConfig(_Section):
    """A whole run configuration (``schema_version = 1``)."""

    schema_version: Literal[1]
    run: RunSection
    sources: SourcesSection
    device: DeviceConfig
    protocol: ProtocolConfig
    extractor: ExtractorConfig = ExtractorConfig()
    instruments: dict[str, InstrumentConfig] = Field(default_factory=dict)
    timing: TimingRun | None = None

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
