"""Simulated randomness never passes for certified (issue 14, item 2).

A ``dira`` source or a DIRA extractor seed whose run is simulated or of unknown provenance is
refused at startup unless ``allow_simulated = true``; admitted, it is shown as simulated in
``/v1/status``, the ``X-Diamp-Simulated`` headers, the pool provenance and the served
certificate's headers. The runs are real: ``diamp run`` on the simulated lab (the
``simulated_run`` fixture), copied per test.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from _svc import config_text, serve, settings_for, write_config

from _certificates import HARDWARE_PROVENANCE
from diamp.service.app import create_app
from diamp.service.client import Client
from diamp.service.core import Service
from diamp.service.errors import ServiceConfigError, SourceError
from diamp.service.pool import Pool
from diamp.service.settings import ServiceSettings, load_settings, parse_settings

SRC = str(Path(__file__).parents[2] / "src")
TIER = '[[tiers]]\nname = "dira"\nsources = ["lab"]\nchunk_bytes = 64\n'


def dira_source(allow: str | None = None) -> str:
    flag = "" if allow is None else f"allow_simulated = {allow}\n"
    return f'[[sources]]\nkind = "dira"\nname = "lab"\nrun = "run"\n{flag}'


def dira_settings(tmp_path: Path, allow: str | None = None) -> tuple[ServiceSettings, bytes]:
    settings, keys = settings_for(tmp_path, config_text(sources=dira_source(allow), tiers=TIER))
    return settings, keys["alice"]


def rewrite(tmp_path: Path, text: str) -> ServiceSettings:
    """The settings of ``text`` written over ``tmp_path/service.toml`` (clients kept)."""
    path = tmp_path / "service.toml"
    path.write_text(text)
    return parse_settings(text, str(path))


def set_provenance(run: Path, provenance: dict[str, Any] | None) -> bytes:
    """Rewrite the run's certificate with ``provenance`` (None: without one); its bytes."""
    doc = json.loads((run / "certificate.json").read_text())
    if provenance is None:
        del doc["provenance"]
    else:
        doc["provenance"] = provenance
    raw = json.dumps(doc, indent=2).encode()
    (run / "certificate.json").write_bytes(raw)
    return raw


def filled(service: Service, tier: str, nbytes: int) -> None:
    deadline = time.monotonic() + 60
    while service.pool.level(tier) < nbytes:
        assert time.monotonic() < deadline, f"tier {tier!r} did not fill"
        service.pipeline.step()


# --- refusal -----------------------------------------------------------------------------


def test_a_simulated_run_is_refused_naming_certificate_provenance_and_flag(
    simulated_run: Path, tmp_path: Path
) -> None:
    settings, _ = dira_settings(tmp_path)
    with pytest.raises(ServiceConfigError) as info:
        Service(settings)
    message = str(info.value)
    assert message.startswith("source 'lab': ")
    assert f"certified by {simulated_run / 'certificate.json'} is SIMULATED" in message
    assert "provenance status 'recorded', simulated parts: inputs, z, outcomes" in message
    assert "Set allow_simulated = true in the [[sources]] entry 'lab'" in message
    assert info.value.exit_code == 2
    assert info.value.fields["key"] == "sources.lab.allow_simulated"


def test_diamp_serve_refuses_it_with_exit_2_and_no_traceback(
    simulated_run: Path, tmp_path: Path
) -> None:
    path, _ = write_config(tmp_path, config_text(sources=dira_source(), tiers=TIER))
    env = {**os.environ, "PYTHONPATH": SRC, "COLUMNS": "500"}
    proc = subprocess.run(
        [sys.executable, "-c", "from diamp.cli import main; main()", "serve", str(path),
         "--port", "0"],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    text = " ".join((proc.stdout + proc.stderr).split())
    assert "Traceback" not in text
    assert "error: source 'lab':" in text
    assert str(simulated_run / "certificate.json") in text
    assert "SIMULATED (provenance status 'recorded', simulated parts: inputs, z, outcomes)" in text
    assert "allow_simulated = true" in text


def test_a_certificate_without_provenance_is_unknown_and_refused(
    simulated_run: Path, tmp_path: Path
) -> None:
    set_provenance(simulated_run, None)
    settings, _ = dira_settings(tmp_path)
    with pytest.raises(ServiceConfigError, match=r"is of UNKNOWN provenance \(status 'unknown'"):
        Service(settings)
    service = Service(rewrite(tmp_path, config_text(sources=dira_source("true"), tiers=TIER)))
    try:
        status = service.status()["sources"]["lab"]
        assert status["simulated"] is None
        assert status["dira"]["provenance"] == {
            "simulated": None, "status": "unknown", "simulated_parts": [],
            "allowed_simulated": True,
        }  # fmt: skip
        filled(service, "dira", 64)
        draw = service.draw(64, "dira")
        assert draw.simulated is None
        assert draw.simulated_sources[0]["simulated"] is None
    finally:
        service.stop()


def test_allow_simulated_must_be_a_real_boolean(tmp_path: Path) -> None:
    for value in ('"true"', "1", '"yes"'):
        with pytest.raises(ServiceConfigError, match=r"allow_simulated"):
            rewrite(tmp_path, config_text(sources=dira_source(value), tiers=TIER))
    seed = 'seed = { kind = "generate", allow_simulated = true }'
    with pytest.raises(ServiceConfigError, match=r"allow_simulated applies to seed kind 'dira'"):
        rewrite(tmp_path, config_text(extractor=f"block_bits = 65536\n{seed}"))


# --- admitted: every view says simulated ---------------------------------------------------


def test_allow_simulated_admits_the_run_and_every_view_says_simulated(
    simulated_run: Path, tmp_path: Path
) -> None:
    key = (simulated_run / "key.bin").read_bytes()
    cert = (simulated_run / "certificate.json").read_bytes()
    digest = hashlib.sha512(cert).hexdigest()
    settings, secret = dira_settings(tmp_path, "true")
    app = create_app(settings)
    with serve(app) as base, Client(base, "alice", secret) as c:
        for _ in range(200):
            r = c.get("/v1/random", {"bytes": 64, "tier": "dira"})
            if r.status_code == 200:
                break
            time.sleep(0.05)
        assert r.status_code == 200 and r.content == key[:64]
        assert r.headers["X-Diamp-Simulated"] == "true"
        assert r.headers["X-Diamp-Simulated-Sources"] == "lab"
        assert r.headers["X-Diamp-Dira-Certificates"] == digest
        j = c.get("/v1/random/json", {"length": 8, "tier": "dira"})
        assert j.status_code == 200 and j.headers["X-Diamp-Simulated"] == "true"
        status = httpx.get(f"{base}/v1/status").json()
        served = httpx.get(f"{base}/v1/certificates/{digest}")
        draw = app.state.service.draw(8, "dira")
    lab = status["sources"]["lab"]
    assert lab["simulated"] is True
    assert lab["dira"]["provenance"] == {
        "simulated": True, "status": "recorded",
        "simulated_parts": ["inputs", "z", "outcomes"], "allowed_simulated": True,
    }  # fmt: skip
    assert status["tiers"]["dira"]["simulated"] is True
    assert served.status_code == 200 and served.content == cert  # the file as it is
    assert served.headers["X-Diamp-Simulated"] == "true"
    assert served.headers["X-Diamp-Allowed-Simulated"] == "true"
    assert served.headers["X-Diamp-Provenance-Status"] == "recorded"
    assert served.json()["provenance"]["simulated"] is True
    chunk = draw.segments[0].to_dict()["provenance"]
    assert chunk["simulated"] is True and chunk["simulated_sources"] == ["lab"]
    assert chunk["sources"]["lab"]["simulated"] is True
    assert chunk["sources"]["lab"]["allowed_simulated"] is True
    assert draw.simulated_sources == (
        {"source": "lab", "kind": "dira", "simulated": True, "certificate": digest},
    )


def test_a_public_tier_keeps_the_rules_and_says_simulated_to_unsigned_clients(
    simulated_run: Path, tmp_path: Path
) -> None:
    public = TIER + "public = true\n"
    refused, _ = settings_for(tmp_path, config_text(sources=dira_source(), tiers=public))
    with pytest.raises(ServiceConfigError, match=r"allow_simulated = true"):
        Service(refused)  # public or not, a simulated run needs the flag
    text = config_text(sources=dira_source("true"), tiers=public)
    settings = rewrite(tmp_path, text)
    key = (simulated_run / "key.bin").read_bytes()
    with serve(create_app(settings), proxy_headers=False) as base:
        for _ in range(200):
            r = httpx.get(f"{base}/API/jsonI.php?length=16&type=hex8&size=2")  # unsigned
            if r.status_code == 200:
                break
            time.sleep(0.05)
    assert r.status_code == 200 and r.headers["X-Diamp-Simulated"] == "true"
    assert r.headers["X-Diamp-Simulated-Sources"] == "lab"
    assert bytes.fromhex("".join(r.json()["data"])) == key[:32]


def test_a_hardware_certificate_is_admitted_without_the_flag(
    simulated_run: Path, tmp_path: Path
) -> None:
    """A certificate whose provenance says recorded, no part simulated, needs no flag.

    The service checks a run through ``load_certified_run``: the certificate's schema and
    fields, and the key's size and SHA-256 against it. Nothing signs the provenance (the
    certificate is the operator's own statement; the service serves it by its SHA-512 so
    clients see exactly what was claimed), so a copy of a real run with its provenance
    rewritten to a hardware one is exactly what the service sees of a hardware run.
    """
    cert = set_provenance(simulated_run, HARDWARE_PROVENANCE)
    digest = hashlib.sha512(cert).hexdigest()
    settings, secret = dira_settings(tmp_path)
    with serve(create_app(settings)) as base, Client(base, "alice", secret) as c:
        for _ in range(200):
            r = c.get("/v1/random", {"bytes": 64, "tier": "dira"})
            if r.status_code == 200:
                break
            time.sleep(0.05)
        status = httpx.get(f"{base}/v1/status").json()
        served = httpx.get(f"{base}/v1/certificates/{digest}")
    assert r.status_code == 200 and r.headers["X-Diamp-Simulated"] == "false"
    assert "X-Diamp-Simulated-Sources" not in r.headers
    lab = status["sources"]["lab"]
    assert lab["simulated"] is False and lab["dira"]["provenance"]["allowed_simulated"] is False
    assert status["tiers"]["dira"]["simulated"] is False
    assert served.headers["X-Diamp-Simulated"] == "false"
    assert "X-Diamp-Allowed-Simulated" not in served.headers


def test_one_simulated_source_marks_a_tier_with_a_hardware_run(
    simulated_run: Path, tmp_path: Path
) -> None:
    set_provenance(simulated_run, HARDWARE_PROVENANCE)
    vac = (
        '[[sources]]\nkind = "simulated"\nname = "vac"\nfamily = "vacuum-fluctuation"\nseed = 1\n'
        'entropy = { model = "vacuum", bits = 8, v_min = -4.0, v_max = 4.0, gamma = 10.0, '
        "max_offset_sigma_c = 5.0 }\n"
    )
    tier = '[[tiers]]\nname = "mixed"\nsources = ["lab", "vac"]\nchunk_bytes = 64\n'
    settings, _ = settings_for(tmp_path, config_text(sources=dira_source() + vac, tiers=tier))
    service = Service(settings)
    try:
        assert service.status()["tiers"]["mixed"]["simulated"] is True
        filled(service, "mixed", 64)
        draw = service.draw(64, "mixed")
    finally:
        service.stop()
    assert draw.simulated is True
    assert [e["source"] for e in draw.simulated_sources] == ["vac"]


def test_a_pool_chunk_that_does_not_say_reads_as_unknown(tmp_path: Path) -> None:
    pool = Pool(tmp_path / "pool.sqlite")
    pool.append("t", b"\x01" * 64, {"test": "stored before the flag existed"}, ["a"])
    draw = pool.take(8, "t")
    pool.close()
    assert draw.simulated is None
    assert draw.simulated_sources == ({"source": "a", "kind": "unknown", "simulated": None},)


# --- the extractor seed --------------------------------------------------------------------


def seed_config(allow: str = "") -> str:
    seed = f'seed = {{ kind = "dira", path = "run"{allow} }}'
    return config_text(extractor=f"block_bits = 1024\n{seed}")


def test_a_simulated_dira_seed_is_refused_unless_allowed(
    simulated_run: Path, tmp_path: Path
) -> None:
    settings, _ = settings_for(tmp_path, seed_config())
    with pytest.raises(ServiceConfigError) as info:
        Service(settings)
    message = str(info.value)
    assert message.startswith("extractor.seed: the DIRA run certified by ")
    assert "is SIMULATED" in message and "allow_simulated = true in [extractor] seed" in message
    assert info.value.fields["key"] == "extractor.seed.allow_simulated"
    service = Service(rewrite(tmp_path, seed_config(", allow_simulated = true")))
    try:
        seed = service.status()["extractor_seed"]
    finally:
        service.stop()
    assert seed["kind"] == "dira"
    assert seed["dira"]["simulated"] is True and seed["dira"]["allowed_simulated"] is True
    assert (
        seed["dira"]["certificate_sha512"]
        == hashlib.sha512((simulated_run / "certificate.json").read_bytes()).hexdigest()
    )


# --- beacon pulses -------------------------------------------------------------------------

BEACON = (
    "\n[beacon]\nperiod_s = 0.25\ntier = 'dira'\ngenerate_key = true\nkey_bits = 2048\n"
    "key_file = 'b/key.pem'\ncertificate_file = 'b/cert.pem'\nstate_db = 'b/pulses.sqlite'\n"
)
MARKER_ID = hashlib.sha512(b"diamp:external:simulated-source:v1").hexdigest().upper()


def test_pulses_from_a_simulated_dira_tier_are_marked_and_verify_says_so(
    simulated_run: Path, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from diamp.cli import app as cli

    digest = hashlib.sha512((simulated_run / "certificate.json").read_bytes()).hexdigest()
    text = config_text(sources=dira_source("true"), tiers=TIER) + BEACON
    path, _ = write_config(tmp_path, text)
    runner = CliRunner()
    with serve(create_app(load_settings(path))) as base:
        deadline = time.monotonic() + 30
        while True:
            r = httpx.get(f"{base}/beacon/2.0/pulse/last")
            if r.status_code == 200 and r.json()["pulse"]["pulseIndex"] >= 3:
                break
            assert time.monotonic() < deadline, "no pulses from the service's beacon"
            time.sleep(0.1)
        pulse = r.json()["pulse"]
        verified = runner.invoke(cli, ["beacon", "verify", base, "--json"])
        strict = runner.invoke(cli, ["beacon", "verify", base, "--certified-only"])
    ext = pulse["external"]
    entry = {"source": "lab", "kind": "dira", "simulated": True, "certificate": digest}
    assert ext["sourceId"] == MARKER_ID and ext["statusCode"] == 1
    assert ext["simulatedSources"] == [entry] and ext["diraCertificates"] == [digest]
    statement = {
        "diraCertificates": [digest],
        "operatorExternal": None,
        "simulatedSources": [entry],
        "statement": "diamp:external:simulated-source:v1",
    }
    raw = json.dumps(statement, sort_keys=True, separators=(",", ":")).encode()
    assert ext["value"] == hashlib.sha512(raw).hexdigest().upper()
    assert verified.exit_code == 0, verified.output
    report = json.loads(verified.stdout)
    assert report["ok"] and report["simulated"]
    assert {s["marker"] for s in report["simulated"]} == {"simulated"}
    assert strict.exit_code == 1 and "SIMULATED" in strict.output


def test_pulses_of_the_shipped_config_are_marked_simulated(tmp_path: Path) -> None:
    """configs/service.toml serves simulated QRNGs: its beacon's pulses must say so."""
    from diamp.service.beacon.settings import build_engine

    shipped = Path(__file__).parents[2] / "configs" / "service.toml"
    path = tmp_path / "service.toml"
    path.write_text(shipped.read_text().replace("generate_key = true", "generate_key = true\n"
                                                "key_bits = 2048"))  # fmt: skip
    settings = load_settings(path)
    assert settings.beacon is not None
    service = Service(settings)
    try:
        assert service.status()["tiers"][settings.beacon.tier]["simulated"] is True
        filled(service, settings.beacon.tier, 256)
        engine = build_engine(
            settings.beacon.resolved(settings.base_dir),
            service.source(settings.beacon.tier),
            served_at="http://127.0.0.1:8443",
        )
        pulses = [engine.emit(engine.next_slot() + k * engine.period_ms) for k in range(2)]
    finally:
        service.stop()
    for p in pulses:
        ext = p.to_dict()["external"]
        assert ext["sourceId"] == MARKER_ID and ext["statusCode"] == 1
        assert ext["simulatedSources"] == [
            {"source": "vacuum", "kind": "simulated", "simulated": True}
        ]


def test_a_provenance_that_contradicts_itself_is_not_hardware(
    simulated_run: Path, tmp_path: Path
) -> None:
    """simulated = false at the top, but a part says simulated: refused, naming the part."""
    doc = json.loads((simulated_run / "certificate.json").read_text())
    edited = {**doc["provenance"], "simulated": False, "simulated_parts": []}
    set_provenance(simulated_run, edited)
    settings, _ = dira_settings(tmp_path)
    with pytest.raises(ServiceConfigError, match=r"is SIMULATED .*simulated parts: inputs, z, "):
        Service(settings)
    set_provenance(simulated_run, {**HARDWARE_PROVENANCE, "simulated_parts": 7, "z": "qrng"})
    with pytest.raises(ServiceConfigError, match=r"is of UNKNOWN provenance"):
        Service(settings)


def test_a_run_folder_with_a_damaged_store_is_refused(
    simulated_run_dir: Path, tmp_path: Path
) -> None:
    """With its trial store beside it, a dira run is verified against it (issue 15, item 2)."""
    import shutil

    import h5py

    run = tmp_path / "run"
    shutil.copytree(simulated_run_dir, run)
    with h5py.File(run / "trials.blocks" / "000001.h5", "r+") as f:
        f["block/trials"][5] ^= 1
    settings, _ = dira_settings(tmp_path, allow="true")
    with pytest.raises(SourceError) as info:
        Service(settings)
    assert "block 000001" in str(info.value) and "sha256 mismatch" in str(info.value)
