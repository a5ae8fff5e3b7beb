"""The API on a real uvicorn server (127.0.0.1) driven by httpx: auth, formats, limits, TLS."""

from __future__ import annotations

import base64
import datetime
import hashlib
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from _svc import config_text, dira_run, fill_counter, nonce, serve, settings_for, words

from diamp.service.app import create_app
from diamp.service.auth import RequestParts, sign_request
from diamp.service.client import Client, ClientError


def _signed(
    key: bytes,
    url: str,
    *,
    keyid: str = "alice",
    created: int | None = None,
    n: str | None = None,
    method: str = "GET",
) -> dict[str, str]:
    u = httpx.URL(url)
    parts = RequestParts(
        method, u.netloc.decode(), u.raw_path.split(b"?")[0].decode(), "?" + u.query.decode()
    )
    return sign_request(key, keyid, parts, created=created or int(time.time()), nonce=n or nonce())


@pytest.fixture
def counter_server(tmp_path: Path):  # type: ignore[no-untyped-def]
    text = config_text(
        pool="fill = false", server="rate_burst_requests = 50\nrate_requests_per_second = 5"
    )
    settings, keys = settings_for(tmp_path, text)
    fill_counter(tmp_path / "pool.sqlite", "standard", 20_000)
    app = create_app(settings)
    with serve(app) as base:
        yield base, keys["alice"], app


def test_every_authentication_failure_gets_401_and_is_counted(counter_server) -> None:  # type: ignore[no-untyped-def]
    base, key, app = counter_server
    url = f"{base}/v1/random?bytes=16"
    h = _signed(key, url)
    with httpx.Client() as c:
        assert c.get(url, headers=h).status_code == 200
        cases = {
            "missing_signature": {},
            "replay": h,
            "too_old": _signed(key, url, created=int(time.time()) - 400),
            "unknown_key": _signed(b"x" * 32, url, keyid="mallory"),
            "bad_signature": _signed(b"y" * 32, url),  # wrong key for alice
        }
        for reason, headers in cases.items():
            r = c.get(url, headers=headers)
            assert r.status_code == 401, reason
            assert r.content.startswith(b"{") and b"detail" in r.content  # no random bytes
        tampered = _signed(key, url)
        assert c.get(f"{base}/v1/random?bytes=4096", headers=tampered).status_code == 401
        metrics = c.get(f"{base}/metrics").text
    for reason in [*cases, "bad_signature"]:
        assert f'diamp_auth_failures_total{{reason="{reason}"}}' in metrics
    assert 'diamp_requests_total{route="/v1/random",status="401"} 6.0' in metrics
    assert app.state.service.pool.level("standard") == 8 * 20_000 - 16


def test_formats_json_status_and_caps(counter_server) -> None:  # type: ignore[no-untyped-def]
    base, key, _ = counter_server
    with Client(base, "alice", key) as c:
        seen = (
            words(c.random(64))
            + words(c.random(64, format="hex"))
            + words(c.random(64, format="base64"))
        )
        assert seen == list(range(24))
        r = c.get("/v1/random/json", {"length": 4, "type": "uint16"})
        body = r.json()
        assert body["success"] is True and body["type"] == "uint16" and body["length"] == 4
        assert body["data"] == [0, 0, 0, 24]  # big-endian uint16s of the counter word 24
        hexes = c.get("/v1/random/json", {"length": 2, "type": "hex16", "size": 8}).json()["data"]
        assert [int(h, 16) for h in hexes] == [25, 26]
        assert c.get("/v1/random", {"bytes": (1 << 20) + 1}).status_code == 413
        # an unknown tier is a bad parameter (422), not a pause worth retrying (503)
        assert c.get("/v1/random", {"bytes": 8, "tier": "nope"}).status_code == 422
    with httpx.Client() as plain:
        status = plain.get(f"{base}/v1/status").json()
        assert status["tiers"]["standard"]["available"] is True
        assert status["sources"]["vac"]["declared_min_entropy_per_sample"] == pytest.approx(
            6.257, abs=1e-3
        )
        assert plain.get(f"{base}/healthz").status_code == 200
        assert "/v1/random" in plain.get(f"{base}/openapi.json").json()["paths"]
        assert plain.get(f"{base}/v1/certificates/{'0' * 128}").status_code == 404


def test_rate_limit_gives_429(counter_server) -> None:  # type: ignore[no-untyped-def]
    base, key, _ = counter_server
    with Client(base, "alice", key) as c:
        codes = [c.get("/v1/random", {"bytes": 8}).status_code for _ in range(60)]
    assert codes[:50] == [200] * 50 and 429 in codes[50:]


def test_pool_empty_is_503(tmp_path: Path) -> None:
    settings, keys = settings_for(tmp_path, config_text(pool="fill = false"))
    with serve(create_app(settings)) as base, Client(base, "alice", keys["alice"]) as c:
        r = c.get("/v1/random", {"bytes": 8})
        assert r.status_code == 503 and "fresh bytes" in r.json()["detail"]
        assert httpx.get(f"{base}/healthz").status_code == 503


def test_tier_that_loses_a_source_stops_serving(tmp_path: Path) -> None:
    from _svc import VACUUM

    sources = "".join(
        f'[[sources]]\nkind = "simulated"\nname = "{n}"\nfamily = "vacuum-fluctuation"\n'
        f"seed = {k}\n{VACUUM}\n{extra}\n"
        for k, (n, extra) in enumerate(
            [("vac", ""), ("flaky", 'fault = "stuck"\nfault_after = 700000')]
        )
    )
    tiers = (
        '[[tiers]]\nname = "standard"\nsources = ["vac"]\n'
        '[[tiers]]\nname = "hybrid"\nsources = ["vac", "flaky"]\n'
    )
    settings, keys = settings_for(tmp_path, config_text(sources=sources, tiers=tiers))
    app = create_app(settings)
    with serve(app) as base, Client(base, "alice", keys["alice"]) as c:
        pipeline = app.state.service.pipeline
        deadline = time.monotonic() + 60
        served_hybrid = 0
        while pipeline.sources["flaky"].health.status == "ok" and time.monotonic() < deadline:
            if c.get("/v1/random", {"bytes": 32768, "tier": "hybrid"}).status_code == 200:
                served_hybrid += 1  # draining the tier makes the pipeline read on
            time.sleep(0.01)
        assert pipeline.sources["flaky"].health.status == "quarantined"
        r = c.get("/v1/random", {"bytes": 32, "tier": "hybrid"})
        assert r.status_code == 503 and "quarantined" in r.json()["detail"]
        assert c.get("/v1/random", {"bytes": 32, "tier": "standard"}).status_code == 200
        status = httpx.get(f"{base}/v1/status").json()
        assert status["tiers"]["hybrid"]["available"] is False
        assert status["sources"]["flaky"]["status"] == "quarantined"
        metrics = httpx.get(f"{base}/metrics").text
        assert 'diamp_tier_available{tier="hybrid"} 0.0' in metrics
        assert 'diamp_source_healthy{source="flaky"} 0.0' in metrics
    assert served_hybrid > 0


def test_dira_certificate_served_by_hash(tmp_path: Path) -> None:
    key = np.random.default_rng(3).integers(0, 256, 4096, dtype=np.uint8).tobytes()
    _, cert = dira_run(tmp_path, key)
    sources = '[[sources]]\nkind = "dira"\nname = "dira"\nrun = "run"\n'
    tiers = '[[tiers]]\nname = "dira"\nsources = ["dira"]\nchunk_bytes = 1024\n'
    settings, keys = settings_for(tmp_path, config_text(sources=sources, tiers=tiers))
    with serve(create_app(settings)) as base, Client(base, "alice", keys["alice"]) as c:
        for _ in range(100):
            r = c.get("/v1/random", {"bytes": 1000, "tier": "dira"})
            if r.status_code == 200:
                break
            time.sleep(0.05)
        assert r.content == key[:1000]
        digest = hashlib.sha512(cert).hexdigest()
        assert r.headers["X-Diamp-Dira-Certificates"] == digest
        got = httpx.get(f"{base}/v1/certificates/{digest}")
        assert got.status_code == 200 and got.content == cert


def _self_signed(tmp: Path) -> tuple[Path, Path]:
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp / "server.pem", tmp / "server.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def test_tls_with_a_throwaway_certificate(tmp_path: Path) -> None:
    cert, tls_key = _self_signed(tmp_path)
    settings, keys = settings_for(tmp_path, config_text(pool="fill = false"))
    fill_counter(tmp_path / "pool.sqlite", "standard", 1000)
    with serve(create_app(settings), ssl_certfile=str(cert), ssl_keyfile=str(tls_key)) as base:
        assert base.startswith("https://")
        with Client(base, "alice", keys["alice"], verify=str(cert)) as c:
            assert words(c.random(32)) == [0, 1, 2, 3]
        with (
            Client(base, "alice", keys["alice"]) as c,
            pytest.raises(ClientError, match="CERTIFICATE"),
        ):
            c.random(8)  # not trusted without the certificate
    assert base64  # (formats covered above)
