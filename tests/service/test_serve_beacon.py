"""The beacon inside ``diamp serve``: pulses from a DIRA tier carry the run's certificate hash."""

from __future__ import annotations

import hashlib
import itertools
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from typer.testing import CliRunner

from diamp.cli import app as cli
from diamp.service.app import create_app
from diamp.service.settings import load_settings

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent / "beacon"))
from _nistir_oracle import check_link, check_pulse
from _svc import config_text, dira_run, serve, write_config

runner = CliRunner()
BEACON = (
    "\n[beacon]\nperiod_s = 0.25\ntier = 'dira'\ngenerate_key = true\nkey_bits = 2048\n"
    "key_file = 'b/key.pem'\ncertificate_file = 'b/cert.pem'\nstate_db = 'b/pulses.sqlite'\n"
)


def test_pulses_from_a_dira_tier_point_at_the_bell_test_evidence(tmp_path: Path) -> None:
    key = np.random.default_rng(8).integers(0, 256, 64 * 400, dtype=np.uint8).tobytes()
    _, cert = dira_run(tmp_path, key)
    text = config_text(
        sources='[[sources]]\nkind = "dira"\nname = "dira"\nrun = "run"\n',
        tiers='[[tiers]]\nname = "dira"\nsources = ["dira"]\nchunk_bytes = 1024\n',
    )
    path, _ = write_config(tmp_path, text + BEACON)
    with serve(create_app(load_settings(path))) as base:
        deadline = time.monotonic() + 30
        while True:
            r = httpx.get(f"{base}/beacon/2.0/pulse/last")
            if r.status_code == 200 and r.json()["pulse"]["pulseIndex"] >= 4:
                break
            assert time.monotonic() < deadline, "no pulses from the service's beacon"
            time.sleep(0.1)
        last = r.json()["pulse"]
        chain = last["chainIndex"]
        pulses = [
            httpx.get(f"{base}/beacon/2.0/chain/{chain}/pulse/{i}").json()["pulse"]
            for i in range(1, last["pulseIndex"] + 1)
        ]
        pem = httpx.get(f"{base}/beacon/2.0/certificate/{last['certificateId']}").content
        digest = hashlib.sha512(cert).hexdigest()
        evidence = httpx.get(f"{base}/v1/certificates/{digest}")
        verified = runner.invoke(cli, ["beacon", "verify", base, "--json"])
    assert verified.exit_code == 0, verified.output
    for prev, cur in itertools.pairwise(pulses):
        check_link(prev, cur)
    values = set()
    for p in pulses:
        check_pulse(p, pem)  # the independent NISTIR 8213 oracle
        assert p["external"]["value"].lower() == digest  # signed: the run's certificate hash
        value = bytes.fromhex(p["localRandomValue"])
        assert value in key and value not in values  # the DIRA key's bytes, each used once
        values.add(value)
    assert evidence.status_code == 200 and evidence.content == cert


def test_beacon_period_override_is_validated(tmp_path: Path) -> None:
    path, _ = write_config(tmp_path, config_text())
    r = runner.invoke(cli, ["serve", str(path), "--beacon-period", "1"])
    assert r.exit_code == 2 and "has no [beacon] table" in r.output
    text = config_text(tiers='[[tiers]]\nname = "dira"\nsources = ["vac"]\n') + BEACON
    (tmp_path / "service.toml").write_text(text)
    r = runner.invoke(cli, ["serve", str(path), "--beacon-period", "0.0005"])
    assert r.exit_code == 2 and "whole milliseconds" in r.output


def test_a_beacon_on_an_unknown_tier_is_a_config_error(tmp_path: Path) -> None:
    path, _ = write_config(tmp_path, config_text() + BEACON)
    with pytest.raises(Exception, match=r"beacon.tier 'dira' is not a tier"):
        load_settings(path)


def test_the_shipped_service_config_runs_a_beacon() -> None:
    settings = load_settings(Path(__file__).parents[2] / "configs" / "service.toml")
    assert settings.beacon is not None and settings.beacon.generate_key
    assert settings.beacon.tier in {t.name for t in settings.tiers}
