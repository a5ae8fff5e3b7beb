"""A beacon served by uvicorn on 127.0.0.1 with a fast period, checked over HTTP."""

from __future__ import annotations

import itertools
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import _nistir_oracle as nistir
import httpx
import pytest
from _beacon_helpers import serve_in_thread, wait_for
from typer.testing import CliRunner

from diamp.cli import app as cli_app
from diamp.service.beacon.__main__ import create_beacon_app
from diamp.service.beacon.client import verify_url
from diamp.service.beacon.provenance import urandom_source
from diamp.service.beacon.settings import BeaconSettings, build_engine

PERIOD_MS = 200
N_PULSES = 6


@pytest.fixture(scope="module")
def beacon(
    tmp_path_factory: pytest.TempPathFactory, _session_keypair: tuple[Path, Path]
) -> Iterator[tuple[str, list[dict]]]:
    state = tmp_path_factory.mktemp("beacon-api")
    keypair = tuple(Path(shutil.copy2(p, state / p.name)) for p in _session_keypair)
    settings = BeaconSettings(
        period_s=PERIOD_MS / 1000,
        key_file=keypair[0],
        certificate_file=keypair[1],
        state_db=state / "pulses.sqlite",
        public_base_uri="http://beacon.test",
    )
    engine = build_engine(settings, urandom_source, served_at=None)
    with serve_in_thread(create_beacon_app(engine)) as url:
        with httpx.Client(base_url=url) as client:

            def enough() -> bool:
                r = client.get("/beacon/2.0/pulse/last")
                return r.status_code == 200 and r.json()["pulse"]["pulseIndex"] >= N_PULSES

            wait_for(enough, what=f"{N_PULSES} pulses")
            pulses = [
                client.get(f"/beacon/2.0/chain/1/pulse/{i}").json()["pulse"]
                for i in range(1, N_PULSES + 1)
            ]
        yield url, pulses


def test_pulses_verify_with_independent_oracle(
    beacon: tuple[str, list[dict]], keypair: tuple[Path, Path]
) -> None:
    _, pulses = beacon
    pem = keypair[1].read_bytes()
    for p in pulses:
        nistir.check_pulse(p, pem)
        assert p["period"] == PERIOD_MS
        assert p["uri"] == f"http://beacon.test/beacon/2.0/chain/1/pulse/{p['pulseIndex']}"
    for a, b in itertools.pairwise(pulses):
        nistir.check_link(a, b)
        step = nistir.time_ms(b["timeStamp"]) - nistir.time_ms(a["timeStamp"])
        assert step % PERIOD_MS == 0 and step > 0
        assert (step == PERIOD_MS) == (b["statusCode"] & 2 == 0)
    assert all(nistir.time_ms(p["timeStamp"]) % PERIOD_MS == 0 for p in pulses)
    assert pulses[0]["statusCode"] == 1


def test_routes_and_404(beacon: tuple[str, list[dict]], keypair: tuple[Path, Path]) -> None:
    url, pulses = beacon
    with httpx.Client(base_url=url) as c:
        last = c.get("/beacon/2.0/chain/last/pulse/last").json()["pulse"]
        assert last["pulseIndex"] >= N_PULSES
        assert c.get("/beacon/2.0/chain/1/pulse/last").json()["pulse"]["chainIndex"] == 1
        third = pulses[2]
        t = nistir.time_ms(third["timeStamp"])
        assert c.get(f"/beacon/2.0/pulse/time/{t}").json()["pulse"] == third
        assert c.get(f"/beacon/2.0/pulse/time/{t - 1}").json()["pulse"] == third
        assert c.get(f"/beacon/2.0/pulse/time/previous/{t}").json()["pulse"] == pulses[1]
        assert c.get(f"/beacon/2.0/pulse/time/next/{t}").json()["pulse"] == pulses[3]
        assert c.get("/beacon/2.0/chain/1/pulse/999999").status_code == 404
        assert c.get("/beacon/2.0/chain/7/pulse/1").status_code == 404
        assert c.get("/beacon/2.0/pulse/time/previous/0").status_code == 404
        assert c.get("/beacon/2.0/certificate/" + "ab" * 64).status_code == 404
        cert = c.get(f"/beacon/2.0/certificate/{third['certificateId']}")
        assert cert.status_code == 200 and cert.content == keypair[1].read_bytes()


def test_verify_url_and_cli(beacon: tuple[str, list[dict]], keypair: tuple[Path, Path]) -> None:
    url, _ = beacon
    report = verify_url(url, chain=1, first=1, last=N_PULSES)
    assert report.ok, report.failures
    assert report.pulses == N_PULSES
    result = CliRunner().invoke(
        cli_app,
        [
            "beacon",
            "verify",
            url,
            "--from",
            "2",
            "--to",
            str(N_PULSES),
            "--json",
            "--certificate",
            str(keypair[1]),
        ],
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["ok"] is True


def test_wrong_certificate_fails_on_certificate_id(
    beacon: tuple[str, list[dict]], other_keypair: tuple[Path, Path]
) -> None:
    url, _ = beacon
    report = verify_url(url, chain=1, first=1, last=3, certificates=[other_keypair[1]])
    assert not report.ok
    assert {f.field for f in report.failures} == {"certificateId"}
    assert {f.pulse for f in report.failures} == {f"chain 1 pulse {i}" for i in (1, 2, 3)}
