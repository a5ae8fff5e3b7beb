"""The sections of a run config, each a frozen, typed pydantic model.

``[run]``, ``[sources]`` (with the origin statements), ``[device]``, ``[protocol]``,
``[extractor]`` and ``[timing]``; the whole config is :class:`diamp.config.RunConfig`.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    model_validator,
)

from diamp.daq.registry import READOUT_TYPES
from diamp.exact import exact_fraction

ExactNumber = Annotated[Fraction, BeforeValidator(exact_fraction)]


class _Section(BaseModel):
    # strict: no string-to-number or bool-to-int coercion (`blocks = true` is not 1 block)
    model_config = ConfigDict(
        extra="forbid", frozen=True, arbitrary_types_allowed=True, strict=True
    )


class RunSection(_Section):
    """``[run]``: size and seeding of the run."""

    name: str = Field(default="run", min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")
    """Name of the run, used in the run folder's name (`runs/NAME-RUNID/`)."""
    seed: int = Field(ge=0, lt=2**128)
    """Seed of every simulated part (SV source models, Bell device, simulated Z); recorded in the
    provenance."""
    blocks: int = Field(ge=1, le=100_000)
    """Number of blocks; each block is stored atomically and followed by a timing check."""
    trials_per_block: int = Field(ge=1, le=2**31)
    """Bell trials per block; n = blocks × trials_per_block."""
    segment_trials: int = Field(default=2**22, ge=1, le=2**31)
    """Granularity of the CHSH / S_mu series (progress bar, certificate, report); segments
    restart at every block."""


class SourceConfig(_Section):
    """One simulated Santha-Vazirani source.

    ``iid`` emits independent bits with P(1) = 1/2 + bias. ``markov`` emits bits whose
    bias depends on the previous bit: P(1 | previous = 1) = 1/2 + bias and
    P(1 | previous = 0) = 1/2 - bias, which stays inside the SV bound for |bias| <= mu.
    """

    model: Literal["iid", "markov"] = "iid"
    """`"iid"`: independent bits; `"markov"`: a bias that depends on the previous bit."""
    bias: float = Field(default=0.0, ge=-0.5, le=0.5)
    """Bias of the simulated source, P(1) = 1/2 + bias; |bias| must not exceed `sources.mu`."""


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
    """Declared Santha-Vazirani bias bound μ the security proof assumes, 0 ≤ μ < 1/2."""
    alice: SourceConfig = SourceConfig()
    """The simulated SV source model of node A (inputs x, and Z when `z_source = "alice"`)."""
    bob: SourceConfig = SourceConfig()
    """The simulated SV source model of node B (inputs y, and Z when `z_source = "bob"`)."""
    z_source: Literal["alice", "bob"] = "alice"
    """The node whose source gives Z, the extractor's second input (2n bits read after the last
    trial)."""
    inputs: Origin
    """Where the inputs x, y come from: the QRNGs at nodes A and B, or the seeded models."""
    z: Origin
    """Where Z comes from: the QRNG at the `z_source` node, or its seeded model."""
    outcomes: Origin
    """Where the Bell outcomes a, b come from: the qubit readouts at nodes A and B, or the
    `[device]` model."""

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
    instruments = data.get("instruments")
    if instruments is not None and not isinstance(instruments, dict):
        return data  # not a table of instruments: field validation names it
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
    """Selects the simulated quantum device."""
    visibility: float = Field(ge=0.0, le=1.0)
    """Visibility of the shared |Ψ+⟩ state (1: pure, 0: white noise)."""
    readout_fidelity: float | Annotated[tuple[float, float], Field(strict=False)] = 1.0
    """P(read k | state k), one value for both outcomes or `[f0, f1]`; each in [0.5, 1]."""

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
    """Selects the local-hidden-variable device (the run must abort: CHSH ≤ 2)."""
    noise: float = Field(default=0.0, ge=0.0, le=1.0)
    """Probability that the nodes output independent uniform bits instead of one shared bit
    (CHSH = 2(1 − noise))."""


DeviceConfig = Annotated[QuantumDevice | LhvDevice, Field(discriminator="model")]


class _ProtocolCommon(_Section):
    eps: float = Field(default=1e-12, gt=0.0, lt=1.0)
    """Final security parameter ε: the key is ε-close to uniform (strict bound)."""
    eps_s: float | None = Field(default=None, gt=0.0, lt=1.0)
    """Smoothing parameter ε_s, with 6 ε_s < ε; default ε/12."""
    eps_ea: float | None = Field(default=None, gt=0.0, lt=1.0)
    """Entropy accumulation parameter ε_EA (probability of passing with too little entropy);
    default ε."""
    bound: Literal["strict", "paper"] = "strict"
    """`"strict"`: the output length re-derived from the theorems (certifies ε); `"paper"`: eq.
    (18) as printed (reproduces the paper, does not certify ε)."""


class FixedProtocol(_ProtocolCommon):
    """Theorem 5: output length from a threshold fixed before the run."""

    mode: Literal["fixed"] = "fixed"
    """Theorem 5: a threshold fixed before the run (the default when `mode` is left out)."""
    s_mu_threshold: ExactNumber
    """The MDL threshold S_μ fixed before the run: below it the run aborts; the output length is
    computed from it."""

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
    """Theorem 6: the output length follows the observed S_μ."""
    s_mu_max: ExactNumber
    """Upper end of the grid of S_μ values; must lie below the quantum maximum."""
    bins: int = Field(ge=1, le=10**9)
    """Number M of grid bins; the observed S_μ is floored to the grid and each bin uses ε/M."""

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
    """``[extractor]``: the correlation engine and the self-check of the extracted key.

    ``engine`` is ``"exact"`` (number-theoretic transform, no rounding; the default: it is
    also the faster one on the sizes measured, ``docs/extractors.md``) or ``"fft"`` (blockwise
    FFT with its round-off bound); both give the same bits, the certificate records which as
    ``extractor.exactness``.
    """

    verify_bits: int = Field(default=64, ge=0, le=1_000_000)
    """Output bits at random positions recomputed from the definition after extraction (0: none)."""
    engine: Literal["fft", "exact"] = "exact"
    """Correlation engine: `"exact"` (number-theoretic transform, the default) or `"fft"`
    (blockwise FFT with a round-off bound); the same bits."""


class TimingSimulation(_Section):
    """``[timing.simulate]``: what the simulated scopes show (for tests and demos).

    It drives the ``loopback`` scopes' scene and, in a config without scopes, the synthetic
    checks: elapsed time per block (drift), inter-node offset, and jitter injected on one
    device from a given check on. Real scopes ignore it.
    """

    jitter_device: str | None = None
    """A timing-section device whose simulated edges jitter (a failing check), or none."""
    jitter_from_check: int = Field(default=0, ge=0)
    """The first timing check (0: before the first block) that shows the jitter."""
    offset_ns: float = Field(default=0.55, ge=-50.0, le=50.0)
    """Simulated inter-node clock offset, in ns."""
    hours_per_block: float = Field(default=0.45, gt=0.0, le=1000.0)
    """Simulated time elapsed per block, in hours (drift since synchronisation)."""


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
    """Timing section file (TOML, durations in ns), relative to this config file."""
    policy: Literal["abort", "exclude"] = "abort"
    """`"abort"`: a failed check stops the run; `"exclude"`: blocks not bracketed by two passing
    checks are left out (and post-selection is paid for)."""
    simulate: TimingSimulation = TimingSimulation()
    """What the simulated scopes show (ignored by real scopes)."""
