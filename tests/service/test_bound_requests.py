"""Requests are bound to this server (issue 15, item 4): the signed @authority must be one it
answers for, one Host header, a bounded header block. Real servers on 127.0.0.1."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx
from _svc import config_text, serve, settings_for

from diamp.service.app import create_app
from diamp.service.client import signed_headers

PATH = "/v1/random?bytes=16"  # a signed route: authentication runs before anything else


def get(base: str, key: bytes, signed_for: str | None = None, **extra: str) -> httpx.Response:
    """GET PATH from ``base`` signed for the URL ``signed_for`` (default: ``base``)."""
    url = (signed_for or base) + PATH
    headers = signed_headers(key, "alice", url)
    if signed_for is not None:
        headers["Host"] = signed_for.split("//", 1)[1]
    return httpx.get(base + PATH, headers={**headers, **extra}, timeout=30)


def test_a_request_signed_for_another_host_is_refused(tmp_path: Path) -> None:
    settings, keys = settings_for(tmp_path, config_text())
    key = keys["alice"]
    with serve(create_app(settings)) as base:
        port = base.rsplit(":", 1)[1]
        assert get(base, key).status_code != 401
        assert get(base, key, f"http://localhost:{port}").status_code != 401
        # captured from a request to another instance that shares the clients file
        refused = get(base, key, "http://rng.example.org:8443")
        assert refused.status_code == 401
        assert "rng.example.org:8443" in refused.text and "not one this server" in refused.text
        assert 'reason="authority"' in httpx.get(f"{base}/metrics").text


def test_public_authorities_name_the_proxy(tmp_path: Path) -> None:
    text = config_text(server='public_authorities = ["rng.example.org"]')
    settings, keys = settings_for(tmp_path, text)
    with serve(create_app(settings)) as base:
        assert get(base, keys["alice"], "http://rng.example.org").status_code != 401
        assert get(base, keys["alice"]).status_code == 401  # only the public name counts


def _raw(base: str, lines: list[str]) -> bytes:
    host, port = base.split("//", 1)[1].split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        return sock.recv(4096)


def test_two_host_headers_and_huge_headers_are_refused(tmp_path: Path) -> None:
    settings, keys = settings_for(tmp_path, config_text())
    with serve(create_app(settings)) as base:
        own = signed_headers(keys["alice"], "alice", base + PATH)
        host = base.split("//", 1)[1]
        signed = [f"{k}: {v}" for k, v in own.items()]
        reply = _raw(base, [f"GET {PATH} HTTP/1.1", f"Host: {host}", f"Host: {host}", *signed])
        assert reply.split(b"\r\n", 1)[0].split()[1] == b"400", reply[:200]
        huge = get(base, keys["alice"], **{"X-Padding": "a" * (1 << 20)})
        assert huge.status_code in (400, 431), huge.status_code
        over = get(base, keys["alice"], **{"X-Padding": "a" * (20 << 10)})  # over 16 KiB
        assert over.status_code == 431 and "exceeds 16384" in over.json()["detail"], over.text
        assert get(base, keys["alice"]).status_code != 401
