"""Key management against a real server: no restart for new, revoked or rotated keys; API keys."""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from _svc import config_text, fill_counter, serve, settings_for, write_config
from test_server import _self_signed
from typer.testing import CliRunner

from diamp.cli import app
from diamp.service.app import create_app
from diamp.service.client import Client, ClientError, signed_headers
from diamp.service.keys import api_key, read_key_file
from diamp.service.settings import load_settings

runner = CliRunner()


def _until(condition: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    """Poll ``condition`` (the server re-reads the clients file about once a second)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not seen within {timeout} s: {what}")
        time.sleep(0.1)


def _status(base: str, keyid: str, key_file: Path) -> tuple[int, str]:
    url = f"{base}/v1/random?bytes=8"
    r = httpx.get(url, headers=signed_headers(read_key_file(key_file), keyid, url))
    return r.status_code, r.text


def _keys(*args: str) -> None:
    r = runner.invoke(app, ["keys", *args])
    assert r.exit_code == 0, r.output


def test_new_revoke_rotate_on_a_running_server(tmp_path: Path) -> None:
    settings, _ = settings_for(tmp_path, config_text(pool="fill = false"))
    fill_counter(tmp_path / "pool.sqlite", "standard", 10_000)
    clients = str(tmp_path / "clients.toml")
    bob, old = tmp_path / "bob.key", tmp_path / "bob.old"  # key files: current, replaced
    with serve(create_app(settings)) as base:
        _keys("new", "bob", "--clients", clients, "--out", str(bob))
        assert _status(base, "bob", bob)[0] == 200  # the first request finds the new client
        old.write_bytes(bob.read_bytes())
        old.chmod(0o600)
        _keys("rotate", "bob", "--clients", clients, "--out", str(bob))
        _until(lambda: _status(base, "bob", old)[0] == 401, "old key refused after rotate")
        assert _status(base, "bob", bob)[0] == 200
        prev = tmp_path / "bob.prev"
        prev.write_bytes(bob.read_bytes())
        prev.chmod(0o600)
        _keys("rotate", "bob", "--clients", clients, "--out", str(bob), "--grace", "600")
        _until(lambda: _status(base, "bob", bob)[0] == 200, "new key accepted after rotate")
        assert _status(base, "bob", prev)[0] == 200  # the replaced key, within its grace
        _keys("revoke", "bob", "--clients", clients)
        _until(lambda: _status(base, "bob", bob)[0] == 401, "revoked key refused")
        assert _status(base, "bob", prev)[0] == 401
        code, text = _status(base, "bob", bob)
        assert code == 401 and "revoked" in text
        metrics = httpx.get(f"{base}/metrics").text
    assert 'diamp_auth_failures_total{reason="revoked"}' in metrics
    assert 'diamp_clients_reloads_total{result="ok"}' in metrics
    assert "diamp_clients_file_ok 1.0" in metrics


def test_a_corrupt_clients_file_keeps_serving_the_last_good_one(tmp_path: Path) -> None:
    settings, keys = settings_for(tmp_path, config_text(pool="fill = false"))
    fill_counter(tmp_path / "pool.sqlite", "standard", 1000)
    clients = tmp_path / "clients.toml"
    with serve(create_app(settings)) as base, Client(base, "alice", keys["alice"]) as c:
        clients.write_text(clients.read_text()[:40])  # a half-written file, in place
        _until(lambda: "diamp_clients_file_ok 0.0" in httpx.get(f"{base}/metrics").text,
               "failed reload exported")  # fmt: skip
        assert len(c.random(8)) == 8


def _api_config(tmp: Path, server: str) -> str:
    tiers = ('[[tiers]]\nname = "standard"\nsources = ["vac"]\n'
             '[[tiers]]\nname = "private"\nsources = ["vac"]\nauth = "api_key"\n')  # fmt: skip
    return config_text(pool="fill = false", tiers=tiers, server=server)


def test_api_key_tier_over_tls(tmp_path: Path) -> None:
    cert, tls_key = _self_signed(tmp_path)
    server = (f"tls_cert = '{cert.name}'\ntls_key = '{tls_key.name}'\n"
              "rate_burst_requests = 3\nrate_requests_per_second = 0.001\n")  # fmt: skip
    path, keys = write_config(tmp_path, _api_config(tmp_path, server), ("alice", "bob"))
    fill_counter(tmp_path / "pool.sqlite", "private", 1000)
    fill_counter(tmp_path / "pool.sqlite", "standard", 1000, start=1000)
    settings = load_settings(path)
    with serve(create_app(settings), ssl_certfile=str(cert), ssl_keyfile=str(tls_key)) as base:
        url = f"{base}/v1/random?bytes=8&tier=private"
        with httpx.Client(verify=ssl.create_default_context(cafile=str(cert))) as h:
            ok = h.get(url, headers={"x-api-key": api_key(keys["alice"]).hex()})
            assert ok.status_code == 200 and ok.headers["X-Diamp-Tier"] == "private"
            refused = {
                "unsigned": {},
                "malformed": {"x-api-key": "secret"},
                "unknown_key": {"x-api-key": api_key(b"m" * 32).hex()},
                "signature": signed_headers(keys["alice"], "alice", url),
                "signing key": {"x-api-key": keys["alice"].hex()},
            }
            for what, headers in refused.items():
                r = h.get(url, headers=headers)
                assert r.status_code == 401, what
                assert r.headers["WWW-Authenticate"].startswith("ApiKey"), what
            json_url = f"{base}/v1/random/json?length=2&tier=private"  # the FastAPI route too
            assert h.get(json_url).status_code == 401
            r = h.get(json_url, headers={"x-api-key": api_key(keys["bob"]).hex()})
            assert r.status_code == 200 and len(r.json()["data"]) == 2
            # the signature tier still takes signatures only
            std = f"{base}/v1/random?bytes=8"
            assert (
                h.get(std, headers={"x-api-key": api_key(keys["alice"]).hex()}).status_code == 401
            )
        with Client(base, "alice", keys["alice"], verify=str(cert), auth="api_key") as c:
            for _ in range(2):  # alice's 2nd and 3rd request: her burst of 3 is spent ...
                assert len(c.random(8, tier="private")) == 8
            with pytest.raises(ClientError) as info:
                c.random(8, tier="private")
            assert info.value.fields["status"] == 429
        with Client(base, "bob", keys["bob"], verify=str(cert), auth="api_key") as c:
            assert len(c.random(8, tier="private")) == 8  # ... bob's is his own


def test_api_key_tier_refused_without_tls(tmp_path: Path) -> None:
    path, _ = write_config(tmp_path, _api_config(tmp_path, ""))
    r = runner.invoke(app, ["serve", str(path), "--port", "0"])
    assert r.exit_code == 2 and "allow_plain_api_keys" in r.output and "['private']" in r.output
    assert len(r.output.strip().splitlines()) == 1 and "Traceback" not in r.output
    (tmp_path / "clients.toml").unlink()
    path, _ = write_config(tmp_path, _api_config(
        tmp_path, "allow_plain_api_keys = true\nhost = '0.0.0.0'"))  # fmt: skip
    r = runner.invoke(app, ["serve", str(path), "--port", "0"])
    assert r.exit_code == 2 and "loopback" in r.output and "Traceback" not in r.output


def test_plain_api_keys_on_loopback_when_allowed(tmp_path: Path) -> None:
    path, keys = write_config(tmp_path, _api_config(tmp_path, "allow_plain_api_keys = true"))
    fill_counter(tmp_path / "pool.sqlite", "private", 100)
    settings = load_settings(path)
    r = runner.invoke(app, ["serve", str(path), "--port", "0", "--host", "0.0.0.0"])
    assert r.exit_code == 2 and "--host" in r.output and "loopback" in r.output
    with serve(create_app(settings)) as base:
        with Client(base, "alice", keys["alice"], auth="api_key") as c:
            assert len(c.random(8, tier="private")) == 8
    with pytest.raises(ClientError, match="https only"):
        Client("http://example.org", "alice", keys["alice"], auth="api_key")


@pytest.mark.slow
def test_every_worker_process_sees_new_and_revoked_keys(tmp_path: Path) -> None:
    """``diamp serve --workers 2``: each process re-reads the clients file on its own."""
    from test_hosts import _start, _stop

    path, _ = write_config(tmp_path, config_text(pool="fill = false\nreserve_bytes = 4096"))
    fill_counter(tmp_path / "pool.sqlite", "standard", 20_000)
    clients, bob = str(tmp_path / "clients.toml"), tmp_path / "bob.key"
    proc, port = _start(path, "--workers", "2")
    try:
        base = f"http://127.0.0.1:{port}"
        _keys("new", "bob", "--clients", clients, "--out", str(bob))
        # a fresh connection per request: the kernel spreads them over both processes
        assert [_status(base, "bob", bob)[0] for _ in range(20)] == [200] * 20
        _keys("revoke", "bob", "--clients", clients)
        time.sleep(1.5)  # not an assertion on time: past the re-read interval of every process
        _until(lambda: _status(base, "bob", bob)[0] == 401, "revoked in some process")
        assert [_status(base, "bob", bob)[0] for _ in range(20)] == [401] * 20
    finally:
        _stop(proc)
