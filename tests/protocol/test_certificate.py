"""The certificate's one parser and loader: refusals name the file, the field and the values.

The run report's refusals of a real run are tested in tests/report/test_run_report.py; these
tests use small valid documents (tests/_certificates.py) and break one thing at a time.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest

import diamp
from _certificates import certificate_doc
from diamp.errors import StorageError
from diamp.protocol.certificate import load_certified_run, parse_certificate

KEY = bytes(range(200))


def _run_dir(tmp: Path, doc: dict[str, Any], key: bytes = KEY) -> Path:
    run = tmp / "run"
    run.mkdir(exist_ok=True)
    (run / "key.bin").write_bytes(key)
    (run / "certificate.json").write_text(json.dumps(doc), encoding="utf-8")
    return run


def test_parse_certificate_rejects_non_objects() -> None:
    with pytest.raises(
        StorageError, match=r"x\.json: field '\(document\)': expected a JSON object"
    ):
        parse_certificate([1, 2], "x.json")


def test_the_schema_is_defined_once() -> None:
    src = Path(diamp.__file__).parent
    places = [p for p in src.rglob("*.py") if '"diamp.certificate/1"' in p.read_text("utf-8")]
    assert [p.relative_to(src).as_posix() for p in places] == ["protocol/certificate/view.py"]


def test_a_valid_run_loads_with_its_identity(tmp_path: Path) -> None:
    run = _run_dir(tmp_path, certificate_doc(KEY))
    loaded = load_certified_run(run, check_store=False)
    assert loaded.key == KEY
    assert loaded.certificate.output_bits == 8 * len(KEY)
    raw = (run / "certificate.json").read_bytes()
    assert loaded.certificate_sha512 == hashlib.sha512(raw).hexdigest()
    assert loaded.path == run / "certificate.json"


def test_an_absolute_key_path_into_the_run_directory_is_accepted(tmp_path: Path) -> None:
    run = tmp_path / "run"
    doc = certificate_doc(KEY, file=str(run / "key.bin"))
    assert load_certified_run(_run_dir(tmp_path, doc), check_store=False).key == KEY


@pytest.mark.parametrize("name", ["../key.bin", "sub/key.bin", "/elsewhere/key.bin", "..", ""])
def test_a_key_outside_the_run_directory_is_refused(tmp_path: Path, name: str) -> None:
    run = _run_dir(tmp_path, certificate_doc(KEY, file=name))
    message = f"field 'output.file': expected a file name in the run directory, found {name!r}"
    with pytest.raises(StorageError, match=rf"certificate\.json: {re.escape(message)}"):
        load_certified_run(run, check_store=False)


def test_a_key_source_needs_status_ok_first(tmp_path: Path) -> None:
    doc = certificate_doc(KEY, status="abort")
    run = _run_dir(tmp_path, doc)
    assert load_certified_run(run, check_store=False).key is None  # a report shows the abort
    with pytest.raises(StorageError, match="status: expected 'ok', found 'abort'"):
        load_certified_run(run, require_key=True, check_store=False)
    (run / "certificate.json").write_text('{"status": "aborted"}', encoding="utf-8")
    with pytest.raises(StorageError, match="status: expected 'ok', found 'aborted'"):
        load_certified_run(run, require_key=True, check_store=False)


@pytest.mark.parametrize(
    ("key", "message"),
    [
        (KEY[:-1], "expected 200 bytes for the certificate's 1,600 bits, found 199"),
        (bytes(200), "SHA-256 expected"),
    ],
)
def test_a_key_that_differs_from_its_certificate_is_refused(
    tmp_path: Path, key: bytes, message: str
) -> None:
    run = _run_dir(tmp_path, certificate_doc(KEY), key)
    with pytest.raises(StorageError, match=re.escape(f"key.bin: {message}")) as err:
        load_certified_run(run, check_store=False)
    assert "does not match its certificate" in str(err.value)
    assert err.value.fields["path"] == str(run / "key.bin")


def test_the_trial_store_is_required_unless_told_otherwise(tmp_path: Path) -> None:
    run = _run_dir(tmp_path, certificate_doc(KEY))
    with pytest.raises(StorageError, match=r"trials\.h5: trial store not found"):
        load_certified_run(run)


@pytest.mark.parametrize(
    ("provenance", "needle"),
    [
        ({"simulated": "no"}, r"field 'provenance\.simulated': expected true, false or null"),
        (["simulated"], r"field 'provenance': expected an object"),
    ],
)
def test_an_edited_provenance_is_refused_naming_the_field(provenance: object, needle: str) -> None:
    doc = certificate_doc(b"\x5a" * 16)
    doc["provenance"] = provenance
    with pytest.raises(StorageError, match=needle):
        parse_certificate(doc, "edited.json")


def test_a_certificate_without_provenance_reads_as_unknown() -> None:
    view = parse_certificate(certificate_doc(b"\x5a" * 16), "old.json")
    assert view.provenance["simulated"] is None and view.provenance["status"] == "unknown"
    recorded = {"status": "recorded", "simulated": False}
    doc = certificate_doc(b"\x5a" * 16)
    doc["provenance"] = recorded
    assert parse_certificate(doc, "new.json").provenance == recorded
