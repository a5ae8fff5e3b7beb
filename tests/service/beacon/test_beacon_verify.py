"""Tampered pulses and wrong certificates fail verification on the right pulse and field."""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

from diamp.cli import app as cli_app
from diamp.service.beacon.client import verify_files
from diamp.service.beacon.crypto import Signer, load_certificate, load_signer
from diamp.service.beacon.engine import BeaconEngine
from diamp.service.beacon.errors import PulseVerificationError
from diamp.service.beacon.provenance import urandom_source
from diamp.service.beacon.pulse import ListValue, Pulse, format_timestamp
from diamp.service.beacon.store import PulseStore
from diamp.service.beacon.verify import verify_pulses

PERIOD = 1000


@pytest.fixture
def chain(tmp_path: Path, keypair: tuple[Path, Path]) -> list[Pulse]:
    now = [int(time.time()) // 3600 * 3_600_000 - 3 * PERIOD]
    engine = BeaconEngine(
        PulseStore(tmp_path / "p.sqlite"),
        load_signer(*keypair),
        urandom_source,
        period_ms=PERIOD,
        clock=lambda: now[0] / 1000,
    )
    pulses = []
    for _ in range(6):  # straddles an hour boundary: pulses 4.. have a new hour anchor
        now[0] = engine.next_slot()
        pulses.append(engine.emit(now[0]))
    return pulses


def resign(pulse: Pulse, signer: Signer, **changes: object) -> Pulse:
    changed = replace(pulse, **changes)  # type: ignore[arg-type]
    signed = replace(changed, signature_value=signer.sign(changed.signed_bytes()))
    return replace(signed, output_value=signed.computed_output())


def failures(pulses: list[Pulse], keys: tuple[Path, Path]) -> set[tuple[str, str]]:
    cert = load_certificate(keys[1])
    report = verify_pulses(
        [(p.name, p) for p in pulses], {cert.id_hex: cert}, trusted={cert.id_hex}
    )
    return {(f.pulse, f.field) for f in report.failures}


def test_untouched_chain_verifies(chain: list[Pulse], keypair: tuple[Path, Path]) -> None:
    assert failures(chain, keypair) == set()


def test_report_raises_naming_pulse_and_field(
    chain: list[Pulse], keypair: tuple[Path, Path]
) -> None:
    cert = load_certificate(keypair[1])
    chain[1] = replace(chain[1], output_value=bytes(64))
    report = verify_pulses([(p.name, p) for p in chain], {cert.id_hex: cert})
    with pytest.raises(PulseVerificationError) as info:
        report.raise_for_failures()
    assert (info.value.fields["pulse"], info.value.fields["field"]) == (
        "chain 1 pulse 2",
        "outputValue",
    )


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("signature_value", b"\x00" * 256, {"signatureValue", "outputValue"}),
        ("output_value", hashlib.sha512(b"x").digest(), {"outputValue"}),
        (
            "local_random_value",
            hashlib.sha512(b"x").digest(),
            {"signatureValue", "outputValue", "localRandomValue"},
        ),
        ("status_code", 2, {"signatureValue", "outputValue", "statusCode"}),
    ],
)
def test_tampered_field_is_named(
    chain: list[Pulse], keypair: tuple[Path, Path], field: str, value: object, expected: set[str]
) -> None:
    chain[2] = replace(chain[2], **{field: value})  # type: ignore[arg-type]
    found = failures(chain, keypair)
    assert {f for p, f in found if p == "chain 1 pulse 3"} == expected


def test_tampered_output_breaks_the_next_link(
    chain: list[Pulse], keypair: tuple[Path, Path]
) -> None:
    chain[2] = replace(chain[2], output_value=hashlib.sha512(b"x").digest())
    assert ("chain 1 pulse 4", "listValues.previous") in failures(chain, keypair)


def test_resigned_by_the_operator_still_fails(
    chain: list[Pulse], keypair: tuple[Path, Path]
) -> None:
    """Even with the key, changing a revealed value or the chain is caught."""
    signer = load_signer(*keypair)
    p3 = chain[2]
    chain[2] = resign(p3, signer, local_random_value=hashlib.sha512(b"other").digest())
    found = failures(chain, keypair)
    assert ("chain 1 pulse 3", "localRandomValue") in found
    assert ("chain 1 pulse 3", "signatureValue") not in found


@pytest.mark.parametrize(
    ("index", "change", "field"),
    [
        (4, lambda p: {"time_stamp": format_timestamp(p.time_ms + 1)}, "timeStamp"),
        (4, lambda p: {"time_stamp": format_timestamp(p.time_ms + PERIOD)}, "timeStamp"),
        (4, lambda p: {"status_code": 1}, "statusCode"),
        (4, lambda p: {"period": PERIOD * 2}, "period"),
        (
            4,
            lambda p: {
                "list_values": tuple(
                    replace(v, value=bytes(64)) if v.type == "previous" else v
                    for v in p.list_values
                )
            },
            "listValues.previous",
        ),
        (
            5,
            lambda p: {
                "list_values": tuple(
                    ListValue(
                        p.uri.replace("pulse/5", "pulse/2"), "hour", p.list_value("previous").value
                    )
                    if v.type == "hour"
                    else v
                    for v in p.list_values
                )
            },
            "listValues.hour",
        ),
        (3, lambda p: {"uri": p.uri.replace("pulse/3", "pulse/9")}, "uri"),
    ],
)
def test_resigned_inconsistencies_are_named(
    chain: list[Pulse], keypair: tuple[Path, Path], index: int, change: object, field: str
) -> None:
    signer = load_signer(*keypair)
    chain[index - 1] = resign(chain[index - 1], signer, **change(chain[index - 1]))  # type: ignore[operator]
    assert (f"chain 1 pulse {index}", field) in failures(chain, keypair)


def test_precommitment_tamper_blames_the_revealing_pulse(
    chain: list[Pulse], keypair: tuple[Path, Path]
) -> None:
    signer = load_signer(*keypair)
    chain[1] = resign(chain[1], signer, precommitment_value=hashlib.sha512(b"y").digest())
    assert ("chain 1 pulse 3", "localRandomValue") in failures(chain, keypair)


def test_duplicate_index_with_other_content(chain: list[Pulse], keypair: tuple[Path, Path]) -> None:
    signer = load_signer(*keypair)
    twin = resign(chain[3], signer, external=replace(chain[3].external, status_code=5))
    assert ("twin", "pulseIndex") in {
        (p, f)
        for p, f in _labelled_failures([*[(p.name, p) for p in chain], ("twin", twin)], keypair)
    }


def _labelled_failures(
    items: list[tuple[str, Pulse]], keys: tuple[Path, Path]
) -> set[tuple[str, str]]:
    cert = load_certificate(keys[1])
    report = verify_pulses(items, {cert.id_hex: cert})
    return {(f.pulse, f.field) for f in report.failures}


def test_files_and_cli(
    tmp_path: Path, chain: list[Pulse], keypair: tuple[Path, Path], other_keypair: tuple[Path, Path]
) -> None:
    files = []
    for p in chain:
        path = tmp_path / f"pulse{p.pulse_index}.json"
        path.write_text(json.dumps({"pulse": p.to_dict()}))
        files.append(path)
    assert verify_files(files, [keypair[1]]).ok
    wrong = verify_files(files[:2], [other_keypair[1]])
    assert {f.field for f in wrong.failures} == {"certificateId"}
    runner = CliRunner()
    ok = runner.invoke(
        cli_app, ["beacon", "verify", *map(str, files), "--certificate", str(keypair[1])]
    )
    assert ok.exit_code == 0, ok.output
    data = json.loads(files[3].read_text())
    data["pulse"]["localRandomValue"] = "00" * 64
    files[3].write_text(json.dumps(data))
    bad = runner.invoke(
        cli_app, ["beacon", "verify", *map(str, files), "--certificate", str(keypair[1]), "--json"]
    )
    assert bad.exit_code == 1
    report = json.loads(bad.stdout)
    assert {(f["pulse"].split(" (")[1].rstrip(")"), f["field"]) for f in report["failures"]} >= {
        ("chain 1 pulse 4", "signatureValue"),
        ("chain 1 pulse 4", "localRandomValue"),
    }
    missing = runner.invoke(cli_app, ["beacon", "verify", str(files[0])])
    assert missing.exit_code == 2


def test_keygen_cli(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(
        cli_app, ["beacon", "keygen", "--out", str(tmp_path), "--bits", "2048", "--json"]
    )
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    key = Path(info["key"])
    assert key.stat().st_mode & 0o077 == 0
    assert load_certificate(Path(info["certificate"])).id_hex == info["certificate_id"]
    again = runner.invoke(cli_app, ["beacon", "keygen", "--out", str(tmp_path), "--bits", "2048"])
    assert again.exit_code == 1 and "refusing to overwrite" in again.stderr


@pytest.mark.parametrize("timeout", ["nan", "inf", "0", "-1"])
def test_verify_refuses_a_timeout_that_is_not_a_positive_number(timeout: str) -> None:
    result = CliRunner().invoke(
        cli_app, ["beacon", "verify", "http://127.0.0.1:9/beacon", f"--timeout={timeout}"]
    )
    assert result.exit_code == 2, result.output
    assert "--timeout" in result.output and "Traceback" not in result.output
