"""The library entry points of a run and of a re-amplification.

:func:`run` is ``diamp run``: it owns the run directory (created, or resumed after checking
its preconditions), acquires the trials (:func:`acquire`), amplifies them
(:func:`diamp.protocol.amplify.amplify`), writes the key (mode 0600) and the certificate,
and writes the HTML report. :func:`reamplify` is ``diamp amplify``: parameter estimation and
extraction again on a stored run, written beside the originals as
``certificate.amplify-NNN.json`` and ``key.amplify-NNN.bin``. The CLI only parses arguments
and prints what these return.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from diamp.atomic import write_atomic
from diamp.config import LoadedConfig, load_config
from diamp.daq.store import TrialStoreReader, TrialStoreWriter
from diamp.errors import ConfigError, DiampError, StorageError
from diamp.progress import NullProgress, ProgressSink
from diamp.protocol.acquire import acquire_blocks, new_run_id
from diamp.protocol.amplify import AmplifyResult, amplify, params_from_config
from diamp.protocol.assemble import check_files, open_parts
from diamp.protocol.certificate import (
    CERTIFICATE_NAME,
    CertifiedRun,
    build_certificate,
    dump_json,
    load_certified_run,
)
from diamp.protocol.provenance import run_provenance

__all__ = ["ReportStatus", "RunOutput", "acquire", "reamplify", "run", "write_report"]

log = logging.getLogger(__name__)

STORE_NAME = "trials.h5"
TIMING_NAME = "timing.h5"


@dataclass(frozen=True)
class ReportStatus:
    """The report written after a run: its path, or why it is missing or disagrees."""

    path: Path | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        """Written, with every recomputation agreeing."""
        return self.error is None


@dataclass(frozen=True)
class RunOutput:
    """What a run or re-amplification wrote: the result, the certificate and the key."""

    result: AmplifyResult
    run_dir: Path
    certificate: dict[str, Any]
    certificate_path: Path
    key_path: Path | None
    report: ReportStatus | None = None


def acquire(
    loaded: LoadedConfig,
    store_path: Path,
    run_id: str,
    progress: ProgressSink | None = None,
    *,
    resume: bool = False,
    should_stop: Callable[[], bool] | None = None,
) -> None:
    """Acquire every block of ``loaded`` into ``store_path``, then Z.

    The parts are assembled from the config (:func:`diamp.protocol.assemble.open_parts`);
    with ``[instruments]`` the station is opened and configured first, and its snapshot is
    stored with the run and with every block; where every part comes from is stored as the
    root attribute ``provenance`` (:mod:`diamp.protocol.provenance`). ``resume`` continues
    an interrupted store (:meth:`TrialStoreWriter.resume`; the config must be the same).
    ``should_stop`` is polled between blocks (:class:`~diamp.protocol.acquire.Interrupted`).
    """
    with open_parts(loaded) as parts:
        store = (
            TrialStoreWriter.resume(store_path, loaded.sha256)
            if resume
            else TrialStoreWriter(store_path, run_id, loaded.text, loaded.sha256)
        )
        with store:
            monitor = parts.monitor(store_path.with_name(TIMING_NAME), store.run_id)
            timing = None if monitor is None else monitor.provenance
            provenance = run_provenance(parts.source.describe(), timing, loaded.sha256)
            store.set_attribute("provenance", json.dumps(provenance))
            acquire_blocks(
                store,
                parts.source,
                parts.plan,
                progress or NullProgress(),
                monitor=monitor,
                should_stop=should_stop,
            )


def _run_dir(loaded: LoadedConfig, out_dir: Path | None, resume: Path | None) -> tuple[Path, str]:
    """The run directory and run id: a new one, or the one to resume (checked)."""
    if resume is not None:
        if out_dir is not None and out_dir != resume:
            raise ConfigError("--out/--resume: give the run directory once (with --resume)")
        if not (resume / STORE_NAME).exists():
            raise ConfigError(
                f"--resume: nothing to resume: {resume}/{STORE_NAME} does not exist (the run "
                f"stopped before its first write); start it again with --out {resume}",
                path=str(resume),
            )
        with TrialStoreReader(resume / STORE_NAME) as reader:
            return resume, reader.run_id
    run_id = new_run_id()
    run_dir = out_dir or Path("runs") / f"{loaded.config.run.name}-{run_id}"
    if (run_dir / STORE_NAME).exists():
        raise ConfigError(
            f"--out: {run_dir}/{STORE_NAME} exists; choose another directory or --resume",
            path=str(run_dir),
        )
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as err:  # a file where a folder must be
        raise ConfigError(f"--out: cannot create {run_dir}: {err.strerror or err}") from err
    except OSError as err:  # read-only, no permission, full disk: a runtime failure
        raise StorageError(
            f"{run_dir}: cannot create the run directory: {err.strerror or err}"
        ) from err
    return run_dir, run_id


def run(
    config: Path | LoadedConfig,
    *,
    out_dir: Path | None = None,
    resume: Path | None = None,
    progress: ProgressSink | None = None,
    should_stop: Callable[[], bool] | None = None,
    report: bool = True,
    on_run_dir: Callable[[Path], None] | None = None,
) -> RunOutput:
    """A complete run: trials, Z, statistics, output length, extraction, key, certificate.

    ``out_dir`` (default ``runs/<name>-<run id>``) must not hold a store yet; ``resume``
    continues the interrupted run in that directory instead. ``on_run_dir`` learns the run
    directory as soon as it is known (so an interrupted run can say how to resume).
    The key (mode 0600) and certificate are on disk before the report is attempted; a
    report failure is returned in :attr:`RunOutput.report`, never raised.
    """
    loaded = config if isinstance(config, LoadedConfig) else load_config(config)
    check_files(loaded)
    created = resume is None and (out_dir is None or not out_dir.exists())
    run_dir, run_id = _run_dir(loaded, out_dir, resume)
    if on_run_dir is not None:
        on_run_dir(run_dir)
    params = params_from_config(loaded.text, loaded.path)
    store = run_dir / STORE_NAME
    try:
        acquire(loaded, store, run_id, progress, resume=resume is not None, should_stop=should_stop)
    except DiampError as err:
        if err.exit_code == 2 and created and not any(run_dir.iterdir()):
            run_dir.rmdir()  # a config refused before anything was written: leave nothing
        raise
    result = amplify(store, params, progress)
    output = _write_outputs(result, run_dir, "")
    if not report:
        return output
    return RunOutput(**{**output.__dict__, "report": write_report(run_dir)})


def finished_run(config: Path | LoadedConfig, run_dir: Path) -> CertifiedRun | None:
    """The run in ``run_dir`` if it already finished (has its certificate), fully verified.

    ``--resume`` of a finished run changes nothing: the config must be the one the run
    started with, and the store (every block, the config, Z) and the key are verified
    against the certificate (:func:`~diamp.protocol.certificate.load_certified_run`). None
    when the run has no certificate yet (it is resumed).
    """
    if not (run_dir / CERTIFICATE_NAME).exists():
        return None
    loaded = config if isinstance(config, LoadedConfig) else load_config(config)
    with TrialStoreReader(run_dir / STORE_NAME) as reader:
        stored = reader.attribute("config_sha256")
    if stored != loaded.sha256:
        raise ConfigError(
            f"--resume: {run_dir} was run with another config (sha256 {stored}, "
            f"{loaded.path} has {loaded.sha256})",
            path=str(run_dir),
        )
    return load_certified_run(run_dir)


def _next_suffix(run_dir: Path) -> str:
    index = 1
    while (run_dir / f"certificate.amplify-{index:03d}.json").exists():
        index += 1
    return f".amplify-{index:03d}"


def reamplify(
    run_dir: Path, overrides: dict[str, Any] | None = None, progress: ProgressSink | None = None
) -> RunOutput:
    """Parameter estimation and extraction again on the run in ``run_dir``; the store is read only.

    ``overrides`` may set ``mu`` and any ``[protocol]`` key, validated like the config.
    Writes ``certificate.amplify-NNN.json`` and ``key.amplify-NNN.bin`` (the next free NNN).
    """
    store = run_dir / STORE_NAME
    with TrialStoreReader(store) as reader:
        config_text = reader.config_text
    params = params_from_config(config_text, f"{store}:/config", overrides)
    result = amplify(store, params, progress)
    return _write_outputs(result, run_dir, _next_suffix(run_dir))


def _write_outputs(result: AmplifyResult, run_dir: Path, suffix: str) -> RunOutput:
    """Write the key (mode 0600: it is secret) and then the certificate that names it."""
    cert_path = run_dir / f"certificate{suffix}.json"
    key_path = run_dir / f"key{suffix}.bin" if result.key is not None else None
    if key_path is not None and result.key is not None:
        write_atomic(key_path, result.key.data.tobytes(), mode=0o600, what="the key")
    cert = build_certificate(result, None if key_path is None else key_path.name)
    write_atomic(cert_path, dump_json(cert), what="the certificate")
    return RunOutput(result, run_dir, cert, cert_path, key_path)


def write_report(run_dir: Path) -> ReportStatus:
    """Write ``run_dir/report.html`` after a run; a failure is returned, never raised.

    The certificate and key are already on disk, and the report can be made again with
    ``diamp report RUN_DIR``.
    """
    from diamp.report.files import write_run_report  # the report is an edge: loaded on use

    try:
        written = write_run_report(run_dir)
    except Exception as err:  # the run's results are saved whatever the report does
        if not isinstance(err, DiampError):
            log.exception("report of %s failed", run_dir)
        what = str(err) if isinstance(err, DiampError) else f"{type(err).__name__}: {err}"
        return ReportStatus(None, f"report not written: {what}")
    failed = written.report.failed_checks
    if failed:
        names = "; ".join(c.name for c in failed)
        return ReportStatus(
            written.path,
            f"{written.path}: the certificate disagrees with its recomputation: {names}",
        )
    return ReportStatus(written.path)
