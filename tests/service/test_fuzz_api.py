"""Schema-driven fuzzing of the HTTP API (issue 15, item 6) with schemathesis.

A real ``diamp serve`` process runs the shipped ``configs/service.toml`` (beacon on, pool
pre-filled) on 127.0.0.1. For every operation of its own ``/openapi.json`` schemathesis
generates requests that fit the schema and requests that do not; each is sent unsigned, and
again with a valid RFC 9421 signature (:func:`diamp.service.client.signed_headers` over the
exact URL sent). No answer may be a 500 (503 stays allowed: an empty pool or an unavailable
tier), and the server's log must hold no traceback. Deterministic (derandomized) and small:
a few dozen examples per operation.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from _svc import fill_counter
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from diamp.service.beacon.crypto import generate_keypair
from diamp.service.client import signed_headers
from diamp.service.keys import add_client

schemathesis = pytest.importorskip("schemathesis")
requests = pytest.importorskip("requests")

REPO = Path(__file__).resolve().parents[2]
SRC = str(REPO / "src")
MAX_EXAMPLES = 25


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, bytes, Path]]:
    """``diamp serve`` of the shipped config: (base URL, alice's key, the server's log)."""
    folder = tmp_path_factory.mktemp("api-fuzz")
    config = folder / "service.toml"
    shutil.copy(REPO / "configs" / "service.toml", config)
    key = add_client(folder / "clients.toml", "alice")
    generate_keypair(folder / "beacon", bits=2048)  # the config's files; 4096 bits take long
    for i, tier in enumerate(("standard", "hybrid")):
        fill_counter(folder / "service-pool.sqlite", tier, 1 << 16, start=i << 20)
    port, log = _free_port(), folder / "server.log"
    env = {**os.environ, "PYTHONPATH": SRC, "COLUMNS": "500"}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-c", "from diamp.cli import main; main()", "serve", str(config),
             "--port", str(port), "--clients", str(folder / "clients.toml")],
            stdout=out, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120  # the first start generates a 4096-bit beacon key
        while True:
            try:
                if httpx.get(base + "/openapi.json", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"server did not start: {log.read_text()}")
            time.sleep(0.2)
        yield base, key, log
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert "Traceback" not in log.read_text(), log.read_text()


def _operations(base: str) -> list[Any]:
    schema = schemathesis.openapi.from_url(base + "/openapi.json")
    return [result.ok() for result in schema.get_all_operations()]


def _send(session: Any, case: Any, base: str, key: bytes | None) -> Any:
    kwargs = case.as_transport_kwargs(base_url=base)
    request = requests.Request(
        method=kwargs["method"], url=kwargs["url"], params=kwargs.get("params"),
        headers=kwargs.get("headers"), cookies=kwargs.get("cookies"),
        data=kwargs.get("data"), json=kwargs.get("json"),
    ).prepare()  # fmt: skip
    if key is not None:  # signed over the exact URL on the request line
        request.headers.update(signed_headers(key, "alice", request.url))
    return session.send(request, timeout=30, allow_redirects=False)


def _fuzz(strategy: Any, send: Any, statuses: set[int]) -> Any:
    @settings(
        max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
        suppress_health_check=list(HealthCheck),
    )  # fmt: skip
    @given(case=strategy)
    def run(case: Any) -> None:
        response = send(case)
        statuses.add(response.status_code)
        assert response.status_code != 500, (case.as_curl_command(), response.text)
        assert response.status_code < 500 or response.status_code == 503, response.text

    return run


@pytest.mark.slow  # about 30 s per parametrization
@pytest.mark.parametrize("signed", [False, True], ids=["unsigned", "signed"])
def test_no_500_and_no_traceback_for_generated_requests(
    server: tuple[str, bytes, Path], signed: bool
) -> None:
    from schemathesis import GenerationMode

    base, key, log = server
    operations = _operations(base)
    assert any(op.path == "/v1/random" for op in operations)
    assert any(op.path.startswith("/beacon/2.0/") for op in operations)
    seen: dict[str, set[int]] = {}
    with requests.Session() as session:
        for op in operations:
            strategy = st.one_of(
                op.as_strategy(GenerationMode.POSITIVE), op.as_strategy(GenerationMode.NEGATIVE)
            )

            _fuzz(strategy, lambda case: _send(session, case, base, key if signed else None),
                  seen.setdefault(op.path, set()))()  # fmt: skip
    assert "Traceback" not in log.read_text(), log.read_text()
    if signed:  # the signatures were good: some random bytes were served
        assert 200 in seen["/v1/random"] | seen["/v1/random/json"], seen
    else:
        assert seen["/v1/random"] <= {401, 422}, seen
