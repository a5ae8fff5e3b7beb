"""``GET /v1/random`` in plain form skips FastAPI; every answer equals the FastAPI route's."""

from __future__ import annotations

import asyncio
import base64
import collections
from pathlib import Path
from typing import Any

import httpx
import pytest
from _svc import config_text, fill_counter, serve, settings_for, words

from diamp.service.app import create_app
from diamp.service.client import signed_headers
from diamp.service.fastpath import MAX_BYTES, RandomFastPath, canonical_query


@pytest.mark.parametrize(
    ("query", "parsed"),
    [
        (b"bytes=32", (32, "binary", None)),
        (b"bytes=1&format=hex", (1, "hex", None)),
        (b"format=base64&tier=t.1_-x&bytes=7", (7, "base64", "t.1_-x")),
        (b"bytes=%d" % MAX_BYTES, (MAX_BYTES, "binary", None)),
    ],
)
def test_plain_queries_are_parsed(query: bytes, parsed: tuple[int, str, str | None]) -> None:
    assert canonical_query(query) == parsed


@pytest.mark.parametrize(
    "query",
    [
        b"",  # bytes is required
        b"bytes=",
        b"bytes=0",
        b"bytes=032",  # valid for FastAPI, but not the plain form
        b"bytes=-1",
        b"bytes=+1",
        b"bytes=%d" % (MAX_BYTES + 1),
        b"bytes=1234567890",
        b"bytes=%33%32",
        b"bytes=32&bytes=16",  # repeated
        b"bytes=32&format=octal",
        b"bytes=32&format=HEX",
        b"bytes=32&tier=",
        b"bytes=32&tier=a%2Fb",
        b"bytes=32&tier=" + b"t" * 65,
        b"bytes=32&other=1",  # FastAPI ignores unknown parameters; the plain form has none
        b"bytes=32&",
        b"bytes=32&format",
        b"bytes=32=1",
    ],
)
def test_other_queries_go_to_the_fastapi_route(query: bytes) -> None:
    assert canonical_query(query) is None


@pytest.fixture
def served(tmp_path: Path):  # type: ignore[no-untyped-def]
    text = config_text(
        pool="fill = false", server="rate_burst_requests = 40\nrate_requests_per_second = 0.001"
    )
    settings, keys = settings_for(tmp_path, text)
    fill_counter(tmp_path / "pool.sqlite", "standard", 20_000, chunk_words=3000)
    app = create_app(settings)
    with serve(app) as base:
        yield base, keys["alice"], app


def _get(c: httpx.Client, base: str, key: bytes | None, query: str) -> httpx.Response:
    url = f"{base}/v1/random?{query}"
    return c.get(url, headers={} if key is None else signed_headers(key, "alice", url))


def _decoded(r: httpx.Response) -> bytes:
    fmt = r.url.params.get("format", "binary")
    if fmt == "binary":
        return r.content
    return bytes.fromhex(r.text) if fmt == "hex" else base64.b64decode(r.text, validate=True)


def _shape(r: httpx.Response) -> tuple[int, dict[str, str], str | None]:
    """Status, headers but date and length, and the body unless it is random bytes."""
    headers = {k: v for k, v in r.headers.items() if k not in ("date", "content-length")}
    if "retry-after" in headers:  # seconds until a token: both about the same, rounded
        headers["retry-after"] = "present"
    return r.status_code, headers, None if r.status_code == 200 else r.text


# each pair: a plain query (the ASGI handler) and the same request in another form (FastAPI)
PAIRS = [
    ("bytes=24", "bytes=024"),
    ("bytes=24&format=hex", "format=hex&bytes=24&unused=1"),
    ("bytes=24&format=base64&tier=standard", "bytes=24&format=base64&tier=standar%64"),
    ("bytes=24&tier=nosuch", "bytes=24&tier=nosuc%68"),
    ("bytes=20000000", "bytes=020000000"),  # over [server] max_request_bytes: 413
]


def test_both_paths_give_the_same_answers_and_never_the_same_bytes(served) -> None:  # type: ignore[no-untyped-def]
    base, key, _ = served
    seen: list[int] = []
    answered: collections.Counter[int] = collections.Counter()

    def count(r: httpx.Response) -> None:
        answered[r.status_code] += r.url.path == "/v1/random"

    with httpx.Client(event_hooks={"response": [count]}) as c:
        for plain, other in PAIRS:
            a, b = _get(c, base, key, plain), _get(c, base, key, other)
            assert _shape(a) == _shape(b), (plain, other)
            for r in (a, b):
                if r.status_code == 200:
                    data = _decoded(r)
                    assert len(data) == 24
                    seen += words(data)
        assert _shape(_get(c, base, None, "bytes=24")) == _shape(_get(c, base, None, "bytes=024"))
        url = f"{base}/v1/random?bytes=24"
        h = signed_headers(key, "alice", url)
        assert c.get(url, headers=h).status_code == 200
        replay = c.get(url, headers=h)
        assert replay.status_code == 401 and "replay:" in replay.text
        limited = [_get(c, base, key, "bytes=8").status_code for _ in range(40)]
        assert 429 in limited
        assert _shape(_get(c, base, key, "bytes=8")) == _shape(_get(c, base, key, "bytes=08"))
        metrics = c.get(f"{base}/metrics").text
    assert len(seen) == len(set(seen)) == 3 * 2 * 3  # three 200 pairs of 3 words, none twice
    assert 'diamp_requests_total{route="/v1/random",status="422"} 2.0' in metrics
    for status, n in answered.items():  # each request counted once, whichever path took it
        assert f'diamp_requests_total{{route="/v1/random",status="{status}"}} {n}.0' in metrics
    assert f'diamp_request_seconds_count{{route="/v1/random"}} {answered.total()}.0' in metrics
    assert 'diamp_auth_failures_total{reason="replay"} 1.0' in metrics
    assert "diamp_rate_limited_total" in metrics


def test_the_handler_passes_every_other_request_on(tmp_path: Path) -> None:
    settings, keys = settings_for(tmp_path, config_text(pool="fill = false"))
    fill_counter(tmp_path / "pool.sqlite", "standard", 1000)
    service = create_app(settings).state.service
    passed: list[str] = []
    handler = RandomFastPath(service)
    sent: list[Any] = []

    async def send(message: Any) -> None:
        sent.append(message)

    async def receive() -> Any:
        return {"type": "http.request", "body": b""}

    def call(method: str, path: str, query: str, signed: bool = True, hosts: int = 1) -> None:
        url = f"http://127.0.0.1:8000{path}?{query}"
        h = signed_headers(keys["alice"], "alice", url) if signed else {}
        scope = {
            "type": "http", "method": method, "scheme": "http", "path": path,
            "raw_path": path.encode(), "query_string": query.encode(),
            "server": ("127.0.0.1", 8000), "headers": [(b"host", b"127.0.0.1:8000")] * hosts
            + [(k.lower().encode(), v.encode()) for k, v in h.items()],
        }  # fmt: skip
        before = len(sent)
        if not asyncio.run(handler.serve(scope, receive, send)):
            assert len(sent) == before  # nothing sent for a request passed on
            passed.append(f"{method} {path}?{query}")

    try:
        call("GET", "/v1/random", "bytes=16")
        call("GET", "/v1/random", "bytes=16", signed=False)
        call("GET", "/v1/random", "bytes=016")
        call("HEAD", "/v1/random", "bytes=16")
        call("GET", "/v1/random/json", "length=4")
        call("GET", "/v1/random/", "bytes=16")
        call("GET", "/v1/random", "bytes=15", hosts=2)  # the header guard refuses it
    finally:
        service.stop()
    starts = [m for m in sent if m["type"] == "http.response.start"]
    assert [m["status"] for m in starts] == [200, 401]
    head = dict(starts[0]["headers"])
    assert head[b"content-length"] == b"16" and head[b"cache-control"] == b"no-store"
    assert head[b"x-diamp-tier"] == b"standard" and b"x-diamp-simulated" in head
    assert (b"www-authenticate", b"Signature") in starts[1]["headers"]
    assert passed == [
        "GET /v1/random?bytes=016",
        "HEAD /v1/random?bytes=16",
        "GET /v1/random/json?length=4",
        "GET /v1/random/?bytes=16",
        "GET /v1/random?bytes=15",
    ]


def test_openapi_still_documents_the_random_route(tmp_path: Path) -> None:
    settings, _ = settings_for(tmp_path, config_text(pool="fill = false"))
    app = create_app(settings)
    try:
        op = app.openapi()["paths"]["/v1/random"]["get"]
    finally:
        app.state.service.stop()
    params = {p["name"]: p for p in op["parameters"]}
    assert set(params) == {"bytes", "format", "tier"} and params["bytes"]["required"]
    assert params["bytes"]["schema"]["maximum"] == MAX_BYTES
