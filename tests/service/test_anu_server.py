"""Public tiers and the ANU routes on a real uvicorn server (127.0.0.1).

The ``quantumrand`` and ``quantumrandom`` packages from PyPI run unmodified except for their
base URL (the module attribute ``URL``); their numbers are checked against the pool's
bytes: the public tier is filled with 8-byte big-endian counters, so the served stream is
known and a byte served twice would show as a repeated counter.
"""

from __future__ import annotations

import binascii
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from _svc import config_text, fill_counter, serve, settings_for

from diamp.service.app import create_app
from diamp.service.client import Client, signed_headers

START = 0x1E3779B97F4A0000  # counters of the public tier (varied bytes, below 2^63)
WORDS = 40_000
TIERS = (
    '[[tiers]]\nname = "standard"\nsources = ["vac"]\n'
    '[[tiers]]\nname = "pub"\nsources = ["vac"]\npublic = true\n'
    '[[tiers]]\nname = "empty"\nsources = ["vac"]\npublic = true\n'
)
BURST = 30


class Stream:
    """The public tier's bytes in serving order, and how many have been served."""

    def __init__(self) -> None:
        self.data = np.arange(START, START + WORDS, dtype=">u8").tobytes()
        self.at = 0

    def take(self, n: int) -> bytes:
        out = self.data[self.at : self.at + n]
        self.at += n
        return out


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, bytes, Stream]]:
    tmp = tmp_path_factory.mktemp("anu")
    limits = (
        f'trusted_proxies = ["127.0.0.1"]\npublic_rate_burst_requests = {BURST}\n'
        "public_rate_requests_per_second = 0.001\nmax_request_bytes = 65536"
    )
    settings, keys = settings_for(tmp, config_text(pool="fill = false", server=limits, tiers=TIERS))
    fill_counter(tmp / "pool.sqlite", "standard", 20_000)
    fill_counter(tmp / "pool.sqlite", "pub", WORDS, start=START)
    with serve(create_app(settings), proxy_headers=False) as base:  # as diamp serve runs it
        yield base, keys["alice"], Stream()


def _anu(base: str, query: str, forwarded: str | None = None, **kw: str) -> httpx.Response:
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    return httpx.get(f"{base}/API/jsonI.php?{query}", headers={**headers, **kw})


def test_quantumrand_works_unmodified_against_a_public_tier(
    server: tuple[str, bytes, Stream], monkeypatch: pytest.MonkeyPatch
) -> None:
    import quantumrand

    base, _, stream = server
    monkeypatch.setattr(quantumrand, "URL", base + "/API/jsonI.php")
    got = quantumrand.get_data("uint16", 5)
    assert got == [int.from_bytes(stream.take(2), "big") for _ in range(5)]
    assert quantumrand.hex(4, 3) == stream.take(12).hex()
    assert quantumrand.binary(7, 16) == stream.take(112)
    assert quantumrand.get_data("hex16", 3, 2) == [stream.take(2).hex() for _ in range(3)]
    array = quantumrand.uint16(6)
    assert array.dtype == np.uint16
    assert array.tolist() == [int.from_bytes(stream.take(2), "big") for _ in range(6)]
    roll = quantumrand.randint(1, 6)  # fetches 1024 uint16 (size=1024) through its cache
    assert 1 <= roll <= 6
    stream.take(2048)


def test_quantumrandom_works_with_only_its_base_url_changed(
    server: tuple[str, bytes, Stream], monkeypatch: pytest.MonkeyPatch
) -> None:
    import quantumrandom

    base, _, stream = server
    monkeypatch.setattr(quantumrandom, "URL", base + "/API/jsonI.php")
    assert quantumrandom.get_data("uint16", 3) == [
        int.from_bytes(stream.take(2), "big") for _ in range(3)
    ]
    assert quantumrandom.hex(2, 5) == stream.take(10).hex()
    assert quantumrandom.binary(3, 4) == stream.take(12)


def test_both_routes_serve_every_type_from_the_pool_in_order(
    server: tuple[str, bytes, Stream],
) -> None:
    base, _, stream = server
    for path in ("/API/jsonI.php", "/v1/random/json"):
        fwd = {"X-Forwarded-For": "192.0.2.10"}
        r = httpx.get(f"{base}{path}?length=3&type=uint8", headers=fwd)
        assert r.status_code == 200 and r.json() == {
            "type": "uint8", "length": 3, "data": list(stream.take(3)), "success": True,
        }  # fmt: skip
        assert r.headers["X-Diamp-Tier"] == "pub" and "X-Diamp-Simulated" in r.headers
        assert r.headers["Cache-Control"] == "no-store"
        body = httpx.get(f"{base}{path}?length=2&type=hex8&size=5", headers=fwd).json()
        hexes = [stream.take(5).hex(), stream.take(5).hex()]
        assert body == {"type": "hex8", "length": 2, "size": 5, "data": hexes, "success": True}
        body = httpx.get(f"{base}{path}?length=2&type=hex16&size=3", headers=fwd).json()
        assert body["type"] == "string" and body["size"] == 3
        assert binascii.unhexlify("".join(body["data"])) == stream.take(6)


def test_unsigned_requests_reach_public_tiers_only(server: tuple[str, bytes, Stream]) -> None:
    base, key, stream = server
    fwd = "192.0.2.20"
    r = _anu(base, "length=1&tier=standard", fwd)
    assert r.status_code == 401 and r.headers["WWW-Authenticate"] == "Signature"
    message = "tier 'standard' is not public: sign the request (RFC 9421)"
    assert r.json() == {"success": False, "message": message}
    assert _anu(base, "length=1&tier=nosuch", fwd).status_code == 422
    # a signature is checked whenever one is sent: a bad one is 401, never a public draw
    bad = signed_headers(b"x" * 32, "alice", f"{base}/API/jsonI.php?length=1&tier=pub")
    r = _anu(base, "length=1&tier=pub", fwd, **bad)
    assert r.status_code == 401 and r.json()["success"] is False
    tiers = httpx.get(f"{base}/v1/status").json()["tiers"]
    assert tiers["pub"]["public"] is True and tiers["standard"]["public"] is False
    # the raw-bytes route stays signed-only, public tier or not
    assert httpx.get(f"{base}/v1/random?bytes=8&tier=pub").status_code == 401
    # signed: any tier, the first by default, at either path
    with Client(base, "alice", key) as c:
        body = c.get("/API/jsonI.php", {"length": 2, "type": "uint16"}).json()
        assert body["data"] == [0, 0]  # the high half of the standard tier's counter 0
        signed = c.get("/v1/random/json", {"length": 1, "tier": "pub"}).json()
        assert signed["data"] == list(stream.take(1))


@pytest.mark.parametrize("path", ["/API/jsonI.php", "/v1/random/json"])
@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("", 422), ("length=0", 422), ("length=-1", 422), ("length=NaN", 422),
        ("length=1.0", 422), ("length=1e2", 422), ("length=abc", 422),
        ("length=99999999999999999999", 422), ("length=65537", 422), ("length=1025", 413),
        ("length=1&type=uint32", 422), ("length=1&size=0", 422), ("length=1&size=1025", 422),
        ("length=1&size=x", 422), ("length=1&length=1", 422), ("length=1&foo=1", 422),
        ("length=1&tier=", 422), ("length=1&tier=%2F", 422),
        ("length=100&type=hex8&size=1000", 413),  # 100 000 bytes > max_request_bytes 65 536
    ],
)  # fmt: skip
def test_refusals_are_anu_shaped_never_500(
    server: tuple[str, bytes, Stream], path: str, query: str, status: int
) -> None:
    base, _, _ = server
    r = httpx.get(f"{base}{path}?{query}", headers={"X-Forwarded-For": "192.0.2.30"})
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"success", "message"} and body["success"] is False
    assert isinstance(body["message"], str) and "\n" not in body["message"]


def test_an_empty_public_tier_is_503_with_retry_after(server: tuple[str, bytes, Stream]) -> None:
    base, _, _ = server
    r = _anu(base, "length=1&tier=empty", "192.0.2.40")
    assert r.status_code == 503 and r.headers["Retry-After"] == "1"
    assert r.json()["success"] is False


def test_rate_limit_is_per_address_behind_a_trusted_proxy(
    server: tuple[str, bytes, Stream],
) -> None:
    base, _, stream = server
    codes = [_anu(base, "length=1", "198.51.100.7").status_code for _ in range(BURST + 5)]
    assert codes == [200] * BURST + [429] * 5
    stream.take(BURST)
    r = _anu(base, "length=1", "198.51.100.7")
    assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
    assert r.json() == {"success": False, "message": "rate limit exceeded"}
    # the client cannot invent a new address in front of the proxy's entry
    assert _anu(base, "length=1", "203.0.113.1, 198.51.100.7").status_code == 429
    # the next address has its own bucket; an IPv6 client's whole /64 shares one
    assert _anu(base, "length=1", "198.51.100.8").json()["data"] == list(stream.take(1))
    for i in range(BURST):
        assert _anu(base, "length=1", f"2001:db8:5:6::{i + 1:x}").status_code == 200
    stream.take(BURST)
    assert _anu(base, "length=1", "2001:db8:5:6:ffff::1").status_code == 429
    metrics = httpx.get(f"{base}/metrics").text
    assert 'diamp_public_requests_total{result="rate_limited",tier="pub"}' in metrics
    assert 'diamp_public_requests_total{result="served",tier="pub"}' in metrics
    assert 'diamp_public_bytes_served_total{tier="pub"}' in metrics
    assert "198.51.100" not in metrics and "2001:db8" not in metrics  # no label per address
    assert 'diamp_requests_total{route="/API/jsonI.php",status="429"}' in metrics


def test_without_trusted_proxies_x_forwarded_for_buys_nothing(tmp_path: Path) -> None:
    text = config_text(
        pool="fill = false", tiers=TIERS,
        server="public_rate_burst_requests = 3\npublic_rate_requests_per_second = 0.001",
    )  # fmt: skip
    settings, _ = settings_for(tmp_path, text)
    fill_counter(tmp_path / "pool.sqlite", "pub", 1000)
    with serve(create_app(settings), proxy_headers=False) as base:
        codes = [_anu(base, "length=8", f"192.0.2.{i}").status_code for i in range(5)]
        assert codes == [200, 200, 200, 429, 429]
        metrics = httpx.get(f"{base}/metrics").text
    assert 'diamp_public_bytes_served_total{tier="pub"} 24.0' in metrics


def test_openapi_documents_both_routes(server: tuple[str, bytes, Stream]) -> None:
    base, _, _ = server
    doc = httpx.get(f"{base}/openapi.json").json()
    for path in ("/API/jsonI.php", "/v1/random/json"):
        op = doc["paths"][path]["get"]
        params = {p["name"]: p for p in op["parameters"]}
        assert set(params) == {"length", "type", "size", "tier"} and params["length"]["required"]
        assert params["type"]["schema"]["enum"] == ["uint8", "uint16", "hex16", "hex8"]
        ok = op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
        refused = op["responses"]["422"]["content"]["application/json"]["schema"]["$ref"]
        assert ok.endswith("/AnuData") and refused.endswith("/AnuError")
    assert doc["paths"]["/API/jsonI.php"]["get"]["operationId"] == "anu_legacy"
