"""The run report's file edge: read a run directory, write ``report.html``.

:func:`load_run` reads and checks what the report needs (the certificate, the key it names,
the trial store's run id) and fails closed with a :class:`~diamp.errors.StorageError` that
names the file, the field and what was expected and found. :func:`write_run_report` builds
the page with :func:`diamp.analysis.report.build_run_report` and writes it atomically with
mode 0o600: the page shows key bits (bit image, one-time pad), so it is as secret as the key.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from diamp.errors import StorageError

if TYPE_CHECKING:
    import numpy as np

    from diamp.analysis.report import CertificateView, RunData, RunReport

__all__ = ["REPORT_NAME", "WrittenReport", "load_run", "write_run_report"]

REPORT_NAME = "report.html"


@dataclass(frozen=True)
class WrittenReport:
    """Where the report went, and the report itself."""

    path: Path
    report: RunReport


def _read_certificate(path: Path) -> object:
    if not path.is_file():
        raise StorageError(
            f"{path}: no certificate (a run directory holds certificate.json once `diamp run` "
            "has finished or aborted)",
            path=str(path),
        )
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as err:
        raise StorageError(f"{path}: not UTF-8 text ({err.reason})", path=str(path)) from err
    except json.JSONDecodeError as err:
        raise StorageError(
            f"{path}: not valid JSON at line {err.lineno} column {err.colno}: {err.msg}",
            path=str(path),
        ) from err
    except OSError as err:
        raise StorageError(f"{path}: cannot read: {err.strerror}", path=str(path)) from err


def _key_path(run_dir: Path, cert: CertificateView) -> Path:
    name = cert.output_file
    if name is None or cert.output_sha256 is None:
        raise StorageError(
            f"{cert.source}: field 'output.file'/'output.sha256': expected the key's file name "
            f"and hash for a run with status ok, found {name!r}/{cert.output_sha256!r}",
            path=cert.source,
            field="output",
        )
    if Path(name).name != name or name in ("", ".", ".."):
        raise StorageError(
            f"{cert.source}: field 'output.file': expected a file name in the run directory, "
            f"found {name!r}",
            path=cert.source,
            field="output.file",
        )
    return run_dir / name


def _read_key(run_dir: Path, cert: CertificateView) -> np.ndarray:
    import numpy as np

    path = _key_path(run_dir, cert)
    if not path.is_file():
        raise StorageError(f"{path}: key file named by the certificate not found", path=str(path))
    data = path.read_bytes()
    expected = -(-cert.output_bits // 8)
    if len(data) != expected:
        raise StorageError(
            f"{path}: expected {expected:,} bytes for the certificate's {cert.output_bits:,} bits, "
            f"found {len(data):,}",
            path=str(path),
        )
    digest = hashlib.sha256(data).hexdigest()
    if digest != cert.output_sha256:
        raise StorageError(
            f"{path}: SHA-256 expected {cert.output_sha256} (certificate), found {digest}",
            path=str(path),
        )
    return np.frombuffer(data, dtype=np.uint8)


def _check_store(run_dir: Path, cert: CertificateView) -> None:
    from diamp.daq.store import TrialStoreReader

    store = run_dir / "trials.h5"
    if not store.is_file():
        raise StorageError(
            f"{store}: trial store not found (not a diamp run directory?)", path=str(store)
        )
    with TrialStoreReader(store) as reader:
        run_id = reader.run_id
    if run_id != cert.run_id:
        raise StorageError(
            f"{cert.source}: field 'run_id': expected {run_id!r} (the run id of {store}), "
            f"found {cert.run_id!r}",
            path=cert.source,
            field="run_id",
        )


def load_run(run_dir: Path, certificate: str = "certificate.json") -> RunData:
    """Read the certificate (default ``certificate.json``) and key of a run directory.

    Raises
    ------
    StorageError
        If the directory, certificate or key is missing, unreadable or inconsistent: the
        certificate is checked field by field, the key's size and SHA-256 against the
        certificate, and the certificate's run id against ``trials.h5``.
    """
    from diamp.analysis.report import RunData, parse_certificate

    if not run_dir.is_dir():
        raise StorageError(
            f"{run_dir}: not a directory (expected a run directory)", path=str(run_dir)
        )
    path = run_dir / certificate
    cert = parse_certificate(_read_certificate(path), str(path))
    _check_store(run_dir, cert)
    key = _read_key(run_dir, cert) if cert.status == "ok" else None
    return RunData(cert, key, cert.output_bits if key is not None else 0, str(run_dir))


def write_run_report(
    run_dir: Path,
    out: Path | None = None,
    *,
    certificate: str = "certificate.json",
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
    from diamp.analysis.report import build_run_report
    from diamp.atomic import write_atomic

    run = load_run(run_dir, certificate)
    report = build_run_report(run, sp800_22_sequences=sp800_22_sequences, workers=workers)
    target = out if out is not None else run_dir / REPORT_NAME
    try:
        write_atomic(target, report.html.encode("utf-8"), mode=0o600)
    except OSError as err:
        raise StorageError(
            f"{target}: cannot write the report: {err.strerror}", path=str(target)
        ) from err
    return WrittenReport(target, report)
