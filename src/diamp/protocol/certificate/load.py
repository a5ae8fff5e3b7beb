"""Loading a run directory's certificate and the key it certifies, both verified.

:func:`load_certified_run` is the one way diamp reads a finished run back (the run report,
the service's ``dira`` source and extractor seed): the certificate is read as strict UTF-8
JSON and checked with :func:`~diamp.protocol.certificate.parse_certificate`; the key file it
names must lie in the run directory and match the certificate's bit count and SHA-256; on
request the certificate's run id is checked against the trial store ``trials.h5``. Every
refusal is a :class:`~diamp.errors.StorageError` that names the file, the field and what was
expected and found.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final

from diamp.errors import StorageError
from diamp.protocol.certificate.view import CertificateView, parse_certificate

if TYPE_CHECKING:
    from diamp.daq.store import BlockInfo

__all__ = ["CERTIFICATE_NAME", "CertifiedRun", "load_certified_run", "read_certificate"]

CERTIFICATE_NAME: Final = "certificate.json"
"""The certificate of a run directory (``diamp amplify`` adds ``certificate.amplify-NNN.json``)."""


@dataclass(frozen=True)
class CertifiedRun:
    """A run's checked certificate and the key it certifies.

    Attributes
    ----------
    certificate
        The checked certificate.
    key
        The key file's bytes, bits packed MSB-first (⌈output_bits / 8⌉ bytes; bits past
        ``output_bits`` in the last byte are padding), verified against the certificate's
        size and SHA-256; ``None`` when the run aborted.
    path
        The certificate file.
    certificate_sha512
        SHA-512 (hex) of the certificate file's bytes: its identity in provenance records.
    """

    certificate: CertificateView
    key: bytes | None
    path: Path
    certificate_sha512: str


def _read_bytes(path: Path) -> bytes:
    if not path.is_file():
        raise StorageError(
            f"{path}: no certificate (a run directory holds certificate.json once `diamp run` "
            "has finished or aborted)",
            path=str(path),
        )
    try:
        return path.read_bytes()
    except OSError as err:
        raise StorageError(f"{path}: cannot read: {err.strerror}", path=str(path)) from err


def _decode(path: Path, raw: bytes) -> object:
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as err:
        raise StorageError(f"{path}: not UTF-8 text ({err.reason})", path=str(path)) from err
    except json.JSONDecodeError as err:
        raise StorageError(
            f"{path}: not valid JSON at line {err.lineno} column {err.colno}: {err.msg}",
            path=str(path),
        ) from err


def _require_ok(path: Path, doc: object) -> None:
    """Refuse a certificate without a key before anything else is checked."""
    status = doc.get("status") if isinstance(doc, Mapping) else None
    if status != "ok":
        raise StorageError(
            f"{path}: status: expected 'ok', found {status!r} (only a run that finished "
            "with status ok has a key)",
            path=str(path),
            field="status",
        )


def read_certificate(path: Path, *, require_key: bool = False) -> tuple[bytes, CertificateView]:
    """The bytes of the certificate file ``path`` and its checked view.

    With ``require_key`` a status other than "ok" is refused first.

    Raises
    ------
    StorageError
        If the file is missing, unreadable, not UTF-8 JSON, or fails
        :func:`~diamp.protocol.certificate.parse_certificate`.
    """
    raw = _read_bytes(path)
    doc = _decode(path, raw)
    if require_key:
        _require_ok(path, doc)
    return raw, parse_certificate(doc, str(path))


def _key_path(run_dir: Path, cert: CertificateView) -> Path:
    """The key file: a bare name in the run directory, or an absolute path into it."""
    name = cert.output_file
    if name is None or cert.output_sha256 is None:
        raise StorageError(
            f"{cert.source}: field 'output.file'/'output.sha256': expected the key's file name "
            f"and hash for a run with status ok, found {name!r}/{cert.output_sha256!r}",
            path=cert.source,
            field="output",
        )
    given = Path(name)
    if given.is_absolute() and given.parent.resolve() == run_dir.resolve():
        name = given.name
    if Path(name).name != name or name in ("", ".", ".."):
        raise StorageError(
            f"{cert.source}: field 'output.file': expected a file name in the run directory, "
            f"found {cert.output_file!r}",
            path=cert.source,
            field="output.file",
        )
    return run_dir / name


def _read_key(run_dir: Path, cert: CertificateView) -> bytes:
    path = _key_path(run_dir, cert)
    if not path.is_file():
        raise StorageError(f"{path}: key file named by the certificate not found", path=str(path))
    try:
        data = path.read_bytes()
    except OSError as err:
        raise StorageError(f"{path}: cannot read the key: {err.strerror}", path=str(path)) from err
    expected = -(-cert.output_bits // 8)
    if len(data) != expected:
        raise StorageError(
            f"{path}: expected {expected:,} bytes for the certificate's {cert.output_bits:,} bits, "
            f"found {len(data):,}: the file does not match its certificate",
            path=str(path),
        )
    digest = hashlib.sha256(data).hexdigest()
    if digest != cert.output_sha256:
        raise StorageError(
            f"{path}: SHA-256 expected {cert.output_sha256} (certificate), found {digest}: "
            "the file does not match its certificate",
            path=str(path),
        )
    return data


def _mismatch(cert: CertificateView, field: str, expected: object, found: object) -> StorageError:
    return StorageError(
        f"{cert.source}: field {field!r}: the store has {expected}, the certificate says "
        f"{found}: the run directory does not match its certificate",
        path=cert.source,
        field=field,
    )


def _check_store(run_dir: Path, cert: CertificateView) -> None:
    """The certificate against ``trials.h5``: run id, config, every block, AB, counts and Z.

    The store is read through its own verifying reader (block index, root hash list, data
    checksums, config hash), then every number the certificate binds is recomputed from it:
    a deleted, truncated, swapped, foreign or flipped block or Z, and an edited hash in the
    certificate, are refused naming the block or field.
    """
    from diamp.daq.store import TrialStoreReader
    from diamp.errors import DiampError
    from diamp.protocol.scan import scan_store

    store = run_dir / "trials.h5"
    if not store.is_file():
        raise StorageError(
            f"{store}: trial store not found (not a diamp run directory?)", path=str(store)
        )
    with TrialStoreReader(store) as reader:
        run_id = reader.run_id
        config_sha = hashlib.sha256(reader.config_text.encode()).hexdigest()  # verified read
        z_bits, z_sha256 = reader.verify_z()
    if run_id != cert.run_id:
        raise StorageError(
            f"{cert.source}: field 'run_id': expected {run_id!r} (the run id of {store}), "
            f"found {cert.run_id!r}",
            path=cert.source,
            field="run_id",
        )
    bound = cert.raw.get("config_sha256", cert.provenance.get("config_sha256"))
    if bound is not None and bound != config_sha:
        raise _mismatch(cert, "config_sha256", config_sha, bound)
    try:
        scan = scan_store(store, cert.segment_trials, exclude=cert.excluded_blocks)
    except DiampError as err:
        raise StorageError(str(err), path=str(store)) from err
    _check_blocks(cert, scan.blocks)
    _check_traces(run_dir, cert)
    inputs = cert.raw.get("inputs") or {}
    for field, expected in (
        ("inputs.ab_sha256", scan.ab_sha256),
        ("inputs.z_sha256", z_sha256),
        ("inputs.z_bits", z_bits),
    ):
        found = inputs.get(field.split(".")[1])
        if found != expected:
            raise _mismatch(cert, field, expected, found)
    if scan.total.n != cert.n_trials:
        raise _mismatch(cert, "n_trials", scan.total.n, cert.n_trials)
    if scan.total.as_abxy() != dict(cert.counts):
        raise _mismatch(cert, "counts", "other counts", "these")


def _check_traces(run_dir: Path, cert: CertificateView) -> None:
    """The timing traces the certificate was judged on: their digest, when it binds one."""
    from diamp.daq.traces import read_traces, traces_digest
    from diamp.errors import DiampError

    bound = cert.raw.get("timing_traces_sha256")
    if bound is None:
        return
    try:
        found = traces_digest(read_traces(run_dir / "timing.h5"))
    except DiampError as err:
        raise StorageError(str(err), path=str(run_dir / "timing.h5")) from err
    if found != bound:
        raise _mismatch(cert, "timing_traces_sha256", found, bound)


def _check_blocks(cert: CertificateView, blocks: tuple[BlockInfo, ...]) -> None:
    listed = cert.raw.get("blocks")
    if not isinstance(listed, list) or len(listed) != len(blocks):
        count = len(listed) if isinstance(listed, list) else listed
        raise _mismatch(cert, "blocks", f"{len(blocks)} blocks used", f"{count}")
    for i, (info, entry) in enumerate(zip(blocks, listed, strict=True)):
        want = {"index": info.index, "n_trials": info.n_trials, "sha256": info.sha256}
        for key, value in want.items():
            found = entry.get(key) if isinstance(entry, Mapping) else None
            if found != value:
                raise _mismatch(cert, f"blocks.{i}.{key}", value, found)


def load_certified_run(
    run_dir: Path,
    certificate: str = CERTIFICATE_NAME,
    *,
    require_key: bool = False,
    check_store: bool = True,
) -> CertifiedRun:
    """Read and verify the certificate (default ``certificate.json``) and key of ``run_dir``.

    Parameters
    ----------
    run_dir
        The run directory.
    certificate
        File name of the certificate in ``run_dir``.
    require_key
        Refuse a run whose status is not "ok" (checked first: a key source needs a key).
    check_store
        Check the certificate's run id against ``run_dir/trials.h5`` (which must exist).

    Raises
    ------
    StorageError
        If the directory, certificate or key is missing, unreadable or inconsistent: the
        certificate is checked field by field, the key's size and SHA-256 against the
        certificate and, with ``check_store``, the run id against ``trials.h5``.
    """
    if not run_dir.is_dir():
        raise StorageError(
            f"{run_dir}: not a directory (expected a run directory)", path=str(run_dir)
        )
    path = run_dir / certificate
    raw, cert = read_certificate(path, require_key=require_key)
    if check_store:
        _check_store(run_dir, cert)
    key = _read_key(run_dir, cert) if cert.status == "ok" else None
    return CertifiedRun(cert, key, path, hashlib.sha512(raw).hexdigest())
