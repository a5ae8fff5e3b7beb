"""The run report's file edge: read a run directory, write ``report.html``.

:func:`load_run` reads what the report needs with
:func:`diamp.protocol.certificate.load_certified_run` (the certificate, the key it names, the
trial store's run id, all checked) and fails closed with a :class:`~diamp.errors.StorageError`
that names the file, the field and what was expected and found. :func:`write_run_report`
builds the page with :func:`diamp.report.run.build_run_report` and writes it atomically with
mode 0o600: the page shows key bits (bit image, one-time pad), so it is as secret as the key.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from diamp.protocol.certificate import CERTIFICATE_NAME

if TYPE_CHECKING:
    from diamp.report.run import RunData, RunReport

__all__ = ["REPORT_NAME", "WrittenReport", "load_run", "write_run_report"]

REPORT_NAME = "report.html"


@dataclass(frozen=True)
class WrittenReport:
    """Where the report went, and the report itself."""

    path: Path
    report: RunReport


def load_run(run_dir: Path, certificate: str = CERTIFICATE_NAME) -> RunData:
    """Read the certificate (default ``certificate.json``) and key of a run directory.

    Raises
    ------
    StorageError
        If the directory, certificate or key is missing, unreadable or inconsistent: the
        certificate is checked field by field, the key's size and SHA-256 against the
        certificate, and the certificate's run id against ``trials.h5``.
    """
    import numpy as np

    from diamp.protocol.certificate import load_certified_run
    from diamp.report.run import RunData

    run = load_certified_run(run_dir, certificate)
    if run.key is None:
        return RunData(run.certificate, None, 0, str(run_dir))
    key = np.frombuffer(run.key, dtype=np.uint8)
    return RunData(run.certificate, key, run.certificate.output_bits, str(run_dir))


def write_run_report(
    run_dir: Path,
    out: Path | None = None,
    *,
    certificate: str = CERTIFICATE_NAME,
    sp800_22_sequences: int | None = None,
    workers: int | None = None,
) -> WrittenReport:
    """Build the report of ``run_dir`` and write it (default ``run_dir/report.html``).

    The file is written atomically (temporary file, fsync, rename) with mode 0o600.

    Raises
    ------
    StorageError
        As :func:`load_run`, or if the page cannot be written.
    """
    from diamp.atomic import write_atomic
    from diamp.report.run import build_run_report

    run = load_run(run_dir, certificate)
    report = build_run_report(run, sp800_22_sequences=sp800_22_sequences, workers=workers)
    target = out if out is not None else run_dir / REPORT_NAME
    write_atomic(target, report.html.encode("utf-8"), mode=0o600, what="the report")
    return WrittenReport(target, report)
