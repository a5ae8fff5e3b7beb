"""Parameter estimation and extraction on a stored run: the certificate and the key.

``amplify`` is the batch post-processing path (``diamp amplify``) and the second half of
``diamp run``: it reads the store back (every checksum verified), estimates S_mu exactly,
computes eta and the output length m (Theorem 5 or 6), aborts when the protocol says so, and
otherwise extracts K = Ext(AB, Z) with the Dodis extractor and self-checks it.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path
from typing import Any, NamedTuple

from diamp.config import AdaptiveProtocol, FixedProtocol, parse_config
from diamp.daq.bitfiles import Hdf5PackedBits
from diamp.daq.store import StoreAbBits, TrialStoreReader
from diamp.daq.traces import read_traces, traces_digest
from diamp.errors import ConfigError, ProtocolError
from diamp.extractors.bits import PackedBits
from diamp.extractors.checked import Engine, extract_checked
from diamp.extractors.dodis import DodisResult
from diamp.progress import NullProgress, ProgressSink
from diamp.protocol.provenance import UNKNOWN, parse_provenance
from diamp.protocol.scan import StoreScan, scan_store
from diamp.protocol.security import (
    AdaptiveOutputLength,
    OutputLength,
    output_length,
    output_length_adaptive,
    z_min_entropy,
)
from diamp.timing.section import parse_timing
from diamp.timing.verify import (
    TimingVerification,
    check_verdicts,
    excluded_blocks,
    verify_timing,
)

__all__ = ["AmplifyParams", "AmplifyResult", "amplify", "params_from_config"]

log = logging.getLogger(__name__)

ProtocolSettings = FixedProtocol | AdaptiveProtocol


@dataclass(frozen=True)
class AmplifyParams:
    """What parameter estimation and extraction need besides the data."""

    mu: Fraction
    protocol: ProtocolSettings
    verify_bits: int = 64
    segment_trials: int = 2**22
    threads: int | None = None  # None: what suits the FFT backend
    engine: Engine = "exact"  # [extractor] engine: "exact" or "fft" (same bits)


@dataclass(frozen=True)
class AmplifyResult:
    """Outcome of one amplification: ``key`` is None exactly when the protocol aborted."""

    scan: StoreScan
    params: AmplifyParams
    s_mu_obs: Fraction
    length: OutputLength | None
    adaptive: AdaptiveOutputLength | None
    abort_reason: str | None
    key: PackedBits | None
    extraction: DodisResult | None
    z_sha256: str
    z_bits: int
    started_utc: str
    finished_utc: str
    timing: TimingVerification | None = None
    excluded_blocks: tuple[int, ...] = ()  # by the timing checks (policy "exclude")
    post_selection_blocks: int = 0  # B of the union bound paid for "exclude" (spec §11b)
    traces_sha256: str | None = None  # digest of timing.h5's traces the timing was judged on
    provenance: dict[str, Any] = field(default_factory=lambda: dict(UNKNOWN))

    @property
    def status(self) -> str:
        """Either "ok" or "abort"."""
        return "abort" if self.abort_reason else "ok"

    @property
    def m(self) -> int:
        """Certified output length (0 on abort)."""
        return 0 if self.key is None else len(self.key)


def params_from_config(
    config_text: str, source: str, overrides: dict[str, Any] | None = None
) -> AmplifyParams:
    """Build parameters from a run config (e.g. the one stored in a run), with overrides.

    ``overrides`` may set ``mu`` and any ``[protocol]`` key (``eps``, ``bound``, …); they are
    validated exactly like the config file.
    """
    cfg = parse_config(config_text, source, stored=True).config
    overrides = dict(overrides or {})
    mu = overrides.pop("mu", None)
    protocol: ProtocolSettings = cfg.protocol
    if overrides:
        data = {**protocol.model_dump(), **overrides}
        try:
            protocol = type(protocol).model_validate(data)
        except ValueError as err:
            raise ConfigError(f"{source}: invalid override of [protocol]: {err}") from err
    mu_value = cfg.sources.mu if mu is None else Fraction(mu)
    return AmplifyParams(
        mu_value,
        protocol,
        cfg.extractor.verify_bits,
        cfg.run.segment_trials,
        engine=cfg.extractor.engine,
    )


def _output_length(
    n: int, s_mu_obs: Fraction, params: AmplifyParams, post_selection: int = 0
) -> tuple[OutputLength, AdaptiveOutputLength | None, str | None]:
    p = params.protocol
    if isinstance(p, FixedProtocol):
        length = output_length(
            n, params.mu, p.s_mu_threshold, p.eps, p.eps_s, p.eps_ea, p.bound, post_selection
        )
        if s_mu_obs < p.s_mu_threshold:
            return (
                length,
                None,
                (
                    f"S_mu,obs = {float(s_mu_obs):.6g} is below the threshold S_mu = "
                    f"{float(p.s_mu_threshold):.6g} fixed before the run (Theorem 5)"
                ),
            )
        return length, None, None
    adaptive = output_length_adaptive(
        n, params.mu, s_mu_obs, p.s_mu_max, p.bins, p.eps / p.bins, p.eps_s, p.bound, post_selection
    )
    if adaptive.bin_index == 0:
        return (
            adaptive.result,
            adaptive,
            (
                f"S_mu,obs = {float(s_mu_obs):.6g} is below the first bin ΔS = "
                f"{float(adaptive.delta_s):.6g} (Theorem 6 outputs nothing)"
            ),
        )
    return adaptive.result, adaptive, None


def amplify(
    store_path: Path, params: AmplifyParams, progress: ProgressSink | None = None
) -> AmplifyResult:
    """Estimate, decide, extract and self-check; see the module docs."""
    progress = progress or NullProgress()
    started = datetime.now(UTC).isoformat()
    with TrialStoreReader(store_path) as reader:
        stored_blocks = len(reader.blocks())
        provenance = parse_provenance(reader.attribute("provenance"))
    checked = _verify_timing(store_path, stored_blocks)
    timing, timing_reason, excluded = checked.result, checked.reason, checked.excluded
    # A rule that drops blocks after their data are seen chooses among 2^B block sets,
    # whether or not it dropped any this time: B = every stored block (spec §11b).
    post_selection = stored_blocks if checked.selecting else 0
    scan = scan_store(store_path, params.segment_trials, exclude=excluded, progress=progress)
    n = scan.total.n
    if n == 0:
        raise ProtocolError(
            f"{store_path}: every one of the {stored_blocks} blocks was excluded by the timing "
            "checks; nothing can be certified"
            if excluded
            else f"{store_path}: the store holds no trials"
        )
    with TrialStoreReader(store_path) as reader:
        z_bits, z_sha256 = reader.verify_z()
    if z_bits != 2 * n:
        raise ProtocolError(
            f"{store_path}: Z holds {z_bits} bits, the protocol needs d = 2n = {2 * n}"
            + (f" ({len(excluded)} blocks excluded by timing)" if excluded else "")
        )
    s_mu_obs = scan.total.s_mu(params.mu)
    length, adaptive, reason = _output_length(n, s_mu_obs, params, post_selection)
    reason = timing_reason or reason
    if reason is None and length.m <= 0:
        reason = (
            f"output length m = {length.m} <= 0: eta = {length.eta:.6g} does not exceed the "
            "extractor break-even rate (too few trials or too small a violation)"
        )
    key = extraction = None
    if reason is None:
        extraction = _extract(store_path, length.m, z_sha256, params, progress, excluded)
        key = extraction.output
    log.info(
        "amplification %s: m = %d", "aborted" if reason else "ok", 0 if key is None else len(key)
    )
    return AmplifyResult(
        scan=scan,
        params=params,
        s_mu_obs=s_mu_obs,
        length=length,
        adaptive=adaptive,
        abort_reason=reason,
        key=key,
        extraction=extraction,
        z_sha256=z_sha256,
        z_bits=z_bits,
        timing=timing,
        excluded_blocks=excluded,
        post_selection_blocks=post_selection,
        traces_sha256=checked.traces_sha256,
        provenance=provenance,
        started_utc=started,
        finished_utc=datetime.now(UTC).isoformat(),
    )


class _Timing(NamedTuple):
    """The run's timing re-verified from what it stored (see :func:`_verify_timing`)."""

    result: TimingVerification | None
    reason: str | None  # why nothing may be certified, or None
    excluded: tuple[int, ...]  # blocks the exclude policy drops
    selecting: bool  # policy "exclude": blocks are chosen after the data
    traces_sha256: str | None = None  # digest of the traces judged (bound by the certificate)


def _verify_timing(store_path: Path, blocks: int) -> _Timing:
    """Re-verify the run's timing from what it stored.

    The exclusions are derived here from the traces, independently of acquisition, and must
    equal what the run recorded (``timing_excluded_blocks``); a disagreement aborts.
    """
    with TrialStoreReader(store_path) as reader:
        section_text = reader.attribute("timing_section")
        recorded = reader.attribute("timing_excluded_blocks")
        if section_text is None:
            return _Timing(None, None, (), False)
        config = parse_config(reader.config_text, f"{store_path}:/config", stored=True).config
    selecting = config.timing is not None and config.timing.policy == "exclude"
    traces = store_path.with_name("timing.h5")
    if not traces.exists():
        reason = f"timing: the run declares timing checks but {traces} is missing"
        return _Timing(None, reason, (), selecting)
    section = parse_timing(section_text, f"{store_path}:/timing_section")
    checks = read_traces(traces)
    result = verify_timing(section, checks)
    problem: str | None = None
    if len(result.checks) != blocks + 1:
        problem = (
            f"timing: {len(result.checks)} checks for {blocks} blocks; every block must be "
            "bracketed by timing checks"
        )
        excluded: tuple[int, ...] = ()
    elif selecting:
        excluded = excluded_blocks(check_verdicts(section, checks))
        agrees = recorded is not None and tuple(json.loads(recorded)) == excluded
        problem = None if agrees else (
            f"timing: the traces exclude blocks {list(excluded)}, the run recorded "
            f"{recorded}; nothing is certified"
        )  # fmt: skip
    else:
        excluded = ()
        if result.verdict != "pass":
            problem = "timing verification failed: " + "; ".join(result.reasons[:3])
        elif config.run.blocks != blocks:
            problem = f"timing: the run stopped after {blocks} of {config.run.blocks} blocks"
    return _Timing(result, problem, excluded, selecting, traces_digest(checks))


def _extract(
    store_path: Path,
    m: int,
    z_sha256: str,
    params: AmplifyParams,
    progress: ProgressSink,
    exclude: tuple[int, ...] = (),
) -> DodisResult:
    """K = Ext(AB, Z) streamed from the store, self-checked; Z re-verified afterwards."""
    ab = StoreAbBits(store_path, exclude=exclude)  # checksums verified as blocks are read
    z = Hdf5PackedBits(store_path, "z")
    checked = extract_checked(
        "dodis",
        ab,
        z,
        m,
        check_bits=params.verify_bits,
        threads=params.threads,
        progress=progress,
        engine=params.engine,
    )
    with TrialStoreReader(store_path) as reader:
        if reader.verify_z()[1] != z_sha256:
            raise ProtocolError(f"{store_path}: Z changed during extraction; nothing is certified")
    return checked.result


def z_requirement(n: int, mu: Fraction) -> float:
    """H_min(Z | XYE) lower bound for d = 2n SV bits (spec §4, Theorem 5)."""
    return z_min_entropy(2 * n, mu)
