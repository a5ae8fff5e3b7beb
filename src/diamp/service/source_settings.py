"""The ``[[sources]]`` tables of a service config and their entropy models.

Split from :mod:`diamp.service.settings` (which re-exports every name here): the shared strict
base of the service config's tables, the source kinds (``simulated``, ``serial``, ``file``,
``dira``) and the per-sample entropy models (``declared``, ``vacuum``).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    StrictBool,
    Tag,
    model_validator,
)

from diamp.tomlconfig import ConfigPath, int_choice

__all__ = [
    "DeclaredEntropy",
    "DiraSource",
    "EntropyModel",
    "Family",
    "FileSource",
    "Name",
    "SerialSource",
    "SimulatedSource",
    "SourceSettings",
    "VacuumEntropyModel",
]


Name = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")]
Family = Literal["single-photon", "phase-fluctuation", "photon-counting", "vacuum-fluctuation"]


class _Section(BaseModel):
    # strict: `port = "8443"` and `port = true` are errors, not 8443 and 1; no inf or NaN
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


class DeclaredEntropy(_Section):
    """``entropy = {model = "declared", min_entropy = H}``: H bits per raw sample."""

    model: Literal["declared"]
    """Selects a declared min-entropy."""
    min_entropy: float = Field(gt=0, le=8)
    """Declared min-entropy per raw sample, in bits."""


class VacuumEntropyModel(_Section):
    """``entropy = {model = "vacuum", ...}``: seed 000 eq. 6, worst case of spec §10.2.

    The worst case over classical offsets |e| ≤ k σ_c is used, k = ``max_offset_sigma_c``
    or, when unset, :data:`~diamp.analysis.entropy_models.DEFAULT_MAX_OFFSET_SIGMA_C` = 5
    (Haw et al. 2015, the spec's example). The centred model (offset known to be zero,
    spec §11d) only with ``centred = true``, which excludes ``max_offset_sigma_c``; the
    status page then labels the source's entropy as centred.
    """

    model: Literal["vacuum"]
    """Selects the vacuum-noise model (seed 000 eq. 6)."""
    bits: int = Field(ge=1, le=8)
    """ADC resolution b: 2^b bins."""
    v_min: float = Field(ge=-1e6, le=1e6)
    """Lower end of the ADC range (same unit as `sigma_total`)."""
    v_max: float = Field(ge=-1e6, le=1e6)
    """Upper end of the ADC range; must exceed `v_min`."""
    gamma: float = Field(gt=0, le=1e6)
    """Quantum-to-classical noise power ratio γ = σ_q²/σ_c² (linear, not dB)."""
    sigma_total: float = Field(default=1.0, gt=0, le=1e6)
    """Total noise standard deviation σ_t, with σ_t² = σ_q² + σ_c²."""
    centre: float = Field(default=0.0, ge=-1e6, le=1e6)
    """Centre of the quantum noise in the ADC range."""
    max_offset_sigma_c: float | None = Field(default=None, ge=0, le=1e3)
    """k of the worst case over classical offsets |e| ≤ k σ_c (unset: 5)."""
    centred: bool = False
    """Use the centred model (zero classical offset) instead of the worst case."""

    @model_validator(mode="after")
    def _one_variant(self) -> VacuumEntropyModel:
        if self.centred and self.max_offset_sigma_c is not None:
            raise ValueError(
                "centred = true assumes a zero classical offset; drop max_offset_sigma_c, "
                "or drop centred for the worst case over |e| <= max_offset_sigma_c * sigma_c"
            )
        return self

    @property
    def offset_sigma_c(self) -> float | None:
        """The worst case's k (default 5 when unset), or None for the centred model."""
        if self.centred:
            return None
        if self.max_offset_sigma_c is not None:
            return self.max_offset_sigma_c
        from diamp.analysis.entropy_models import DEFAULT_MAX_OFFSET_SIGMA_C

        return DEFAULT_MAX_OFFSET_SIGMA_C

    def label(self) -> str:
        """Which variant is in use, for the status page."""
        k = self.offset_sigma_c
        if k is None:
            return "centred (asked for by name: assumes a zero classical offset)"
        unset = self.max_offset_sigma_c is None
        return f"worst case over |e| <= {k:g} sigma_c" + (" (default offset)" if unset else "")


EntropyModel = Annotated[
    Annotated[DeclaredEntropy, Tag("declared")] | Annotated[VacuumEntropyModel, Tag("vacuum")],
    Discriminator("model"),
]


class _RawSource(_Section):
    name: Name
    """Name of the source, used by `[[tiers]]`, `/v1/status` and the metrics."""
    entropy: EntropyModel
    """Min-entropy model per raw sample: `declared` or `vacuum`."""


class SimulatedSource(_RawSource):
    """A simulated QRNG of one of seed 000's four families (see ``service.simulated``).

    ``fault = "stuck"`` or ``"biased"`` makes the device fail after ``fault_after`` samples
    (for tests and drills). A seeded device resumes its stream after a restart.
    """

    kind: Literal["simulated"]
    """A simulated QRNG (never certified)."""
    family: Family
    """Which of seed 000's QRNG families to simulate (its bias and correlation)."""
    seed: int | None = Field(default=None, ge=0, lt=2**63)
    """Seed of the simulated device (none: from the operating system)."""
    samples_per_second: float | None = Field(default=None, gt=0, le=1e12)
    """Pace the device at this rate (none: as fast as it is read)."""
    fault: Literal["none", "stuck", "biased"] = "none"
    """Inject a failure for drills: `stuck` or `biased` output after `fault_after` samples."""
    fault_after: int = Field(default=0, ge=0, lt=2**63)
    """Samples emitted before the fault starts."""


class SerialSource(_RawSource):
    """A serial QRNG opened with ``serial.serial_for_url`` (``qrngsim://`` included)."""

    kind: Literal["serial"]
    """A serial QRNG."""
    url: str = Field(min_length=1, max_length=4096, pattern=r"^[^\x00-\x1f\x7f]+$")
    """pyserial URL opened with `serial_for_url` (a device path, `qrngsim://…`, `loop://`)."""
    bits_per_sample: Annotated[Literal[1, 8], int_choice] = 8
    """Bits per sample: 1 or 8."""
    timeout: float = Field(default=1.0, gt=0, le=3600)
    """Read timeout, in seconds."""
    mu: float = Field(default=0.05, ge=0, lt=0.5)
    """SV bias bound of the device's bias check."""


class FileSource(_RawSource):
    """Raw samples from a file or a folder of files (sorted by name), read once."""

    kind: Literal["file"]
    """Raw samples from a file."""
    path: ConfigPath
    """A file or a folder of files (read in name order); every byte is read once (high-water mark
    `FILE.served.hwm`)."""
    bits_per_sample: Annotated[Literal[1, 8], int_choice] = 8
    """Bits per sample: 1 or 8."""


class DiraSource(_Section):
    """The key of a DIRA run (``run`` folder with certificate.json and key.bin), used as-is.

    A run whose certificate's provenance is simulated or unknown is refused at startup unless
    ``allow_simulated = true``; its output is then marked simulated wherever it is shown
    (``/v1/status``, ``X-Diamp-Simulated``, the pool provenance, the beacon's ``external``).
    """

    kind: Literal["dira"]
    """The key of a DIRA run."""
    name: Name
    """Name of the source, used by `[[tiers]]`, `/v1/status` and the metrics."""
    run: ConfigPath
    """Run folder with `certificate.json` (`status = "ok"`) and `key.bin`; must be writable
    (`served.hwm`)."""
    allow_simulated: StrictBool = False
    """Admit a run whose provenance is simulated or unknown (then marked simulated everywhere)."""


SourceSettings = Annotated[
    Annotated[SimulatedSource, Tag("simulated")]
    | Annotated[SerialSource, Tag("serial")]
    | Annotated[FileSource, Tag("file")]
    | Annotated[DiraSource, Tag("dira")],
    Discriminator("kind"),
]
