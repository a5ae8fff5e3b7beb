"""Several ``diamp serve`` processes on one database, on both backends: no byte twice.

Two servers on different ports share one pool (SQLite: one file with ``[pool] shared``;
PostgreSQL: one database, each server in its own folder with its own anchor, as two hosts
would be); the first runs ``--workers 2``. The pool is filled with 8-byte counters, so a
byte served twice shows as a repeated counter. Eight signed clients load both servers, the
first server is killed (SIGKILL) mid-load, restarted, and loaded again: every answer is
recorded and no counter appears twice. A signed request answered by one server is refused as
replayed by the other; a client's burst is spent once across both servers and all processes.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from _svc import config_text, nonce, write_config

from diamp.service.auth import RequestParts, sign_request
from diamp.service.pool import Pool

pytestmark = pytest.mark.slow
SRC = str(Path(__file__).parents[2] / "src")
AUTHORITY = "diamp.test"
PIECE = 64


def _configs(tmp: Path, url: str | None, server: str = "") -> tuple[Path, Path, bytes]:
    """Two configs on one pool (the same file for SQLite) and alice's key."""
    server = f"public_authorities = ['{AUTHORITY}']\n{server}"
    pool = "fill = false\nreserve_bytes = 4096\n"
    text = config_text(server=server, pool=pool + ("shared = true\n" if url is None else ""))
    if url is None:
        config, keys = write_config(tmp, text)
        return config, config, keys["alice"]
    text = text.replace("path = 'pool.sqlite'\n", f"url = '{url}'\n")
    (tmp / "a").mkdir()
    (tmp / "b").mkdir()
    first, keys = write_config(tmp / "a", text)
    (tmp / "b" / "clients.toml").write_bytes((tmp / "a" / "clients.toml").read_bytes())
    (tmp / "b" / "clients.toml").chmod(0o600)
    second = tmp / "b" / "service.toml"
    second.write_text(text)
    return first, second, keys["alice"]


def _fill(tmp: Path, url: str | None, nwords: int) -> None:
    pool = Pool(tmp / "pool.sqlite", url=url)
    for lo in range(0, nwords, 4096):
        data = np.arange(lo, min(lo + 4096, nwords), dtype=">u8").tobytes()
        pool.append("standard", data, {"test": "counter"}, ["vac"])
    pool.close()


def _start(config: Path, *flags: str) -> tuple[subprocess.Popen[bytes], int]:
    log = config.parent / f"serve-{time.monotonic_ns()}.log"
    cmd = [sys.executable, "-c", "from diamp.cli import main; main()", "serve", str(config),
           "--port", "0", "--log-level", "info", *flags]  # fmt: skip
    with log.open("wb") as err:
        proc = subprocess.Popen(cmd, stderr=err, stdout=subprocess.DEVNULL,
                                env={**os.environ, "PYTHONPATH": SRC})  # fmt: skip
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and proc.poll() is None:
        m = re.search(r"running on http://127\.0\.0\.1:(\d+)", log.read_text())
        if m:
            return proc, int(m.group(1))
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    raise RuntimeError("server did not start: " + log.read_text())


def _stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
    proc.wait(timeout=60)


def _signed(key: bytes, path: str) -> bytes:
    base, _, query = path.partition("?")
    parts = RequestParts("GET", AUTHORITY, base, "?" + query)
    headers = sign_request(key, "alice", parts, created=int(time.time()), nonce=nonce())
    extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    return f"GET {path} HTTP/1.1\r\nHost: {AUTHORITY}\r\n{extra}\r\n".encode()


async def _exchange(port: int, request: bytes) -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        return await _roundtrip(reader, writer, request)
    finally:
        writer.close()


async def _roundtrip(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> tuple[int, bytes]:
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    m = re.search(rb"(?i)content-length: (\d+)", head)
    return int(head[9:12]), await reader.readexactly(int(m.group(1)) if m else 0)


async def _client(port: int, key: bytes, count: int, got: list[bytes], stop: threading.Event,
                  statuses: list[int]) -> None:  # fmt: skip
    """``count`` signed requests over one keep-alive connection (new ones after a 503)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for _ in range(count):
            if stop.is_set():
                return
            status, body = await _roundtrip(
                reader, writer, _signed(key, f"/v1/random?bytes={PIECE}")
            )
            statuses.append(status)
            if status == 200:
                got.append(body)
            else:
                assert status == 503, body[:200]
    except (ConnectionError, asyncio.IncompleteReadError):
        return  # the server was killed under this client
    finally:
        writer.close()


def _load(ports: list[int], key: bytes, count: int, got: list[bytes],
          stop: threading.Event) -> threading.Thread:  # fmt: skip
    """Eight clients, spread over ``ports``, in a thread; every 200 body lands in ``got``."""
    statuses: list[int] = []

    async def main() -> None:
        await asyncio.gather(*(_client(ports[i % len(ports)], key, count, got, stop, statuses)
                               for i in range(8)))  # fmt: skip

    thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    thread.start()
    return thread


def _words(bodies: list[bytes]) -> list[int]:
    return [w for b in bodies for w in np.frombuffer(b, dtype=">u8").tolist()]


def test_two_servers_one_pool_survive_a_kill_without_a_repeat(
    tmp_path: Path, backend: str | None
) -> None:
    # all eight clients sign as alice: limits far above what they ask, so only 200 or 503
    limits = "rate_requests_per_second = 1000000.0\nrate_burst_requests = 1000000\n"
    first, second, key = _configs(tmp_path, backend, limits)
    _fill(first.parent, backend, 60_000)
    a, port_a = _start(first, "--workers", "2")
    b: subprocess.Popen[bytes] | None = None
    got: list[bytes] = []
    try:
        b, port_b = _start(second)
        stop = threading.Event()
        load = _load([port_a, port_b], key, 150, got, stop)
        deadline = time.monotonic() + 120
        while len(got) < 300 and load.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        a.send_signal(signal.SIGKILL)  # mid-load: its clients' requests are in flight
        a.wait(timeout=30)
        load.join(timeout=180)
        before = len(got)
        assert before >= 300
        a, port_a = _start(first, "--workers", "2")
        load = _load([port_a, port_b], key, 50, got, threading.Event())
        load.join(timeout=180)
        assert len(got) > before  # both servers answered again after the restart
        replay = _signed(key, f"/v1/random?bytes={PIECE}")
        first_answer = asyncio.run(_exchange(port_b, replay))
        again = [asyncio.run(_exchange(port, replay)) for port in (port_a, port_a, port_b)]
    finally:
        _stop(a)
        if b is not None:
            _stop(b)
    words = _words(got)
    assert len(words) == len(set(words)), f"{len(words) - len(set(words))} counters served twice"
    assert first_answer[0] == 200
    assert [s for s, _ in again] == [401, 401, 401]
    assert all(b"replay:" in body for _, body in again)


def test_a_clients_rate_is_limited_across_servers_and_workers(
    tmp_path: Path, backend: str | None
) -> None:
    limits = "rate_burst_requests = 12\nrate_requests_per_second = 0.001\n"
    first, second, key = _configs(tmp_path, backend, limits)
    _fill(first.parent, backend, 8192)
    a, port_a = _start(first, "--workers", "2")
    b: subprocess.Popen[bytes] | None = None
    try:
        b, port_b = _start(second)

        async def fire() -> list[int]:  # one connection per request: spread over the workers
            ports = [port_a, port_b] * 15
            answers = [await _exchange(p, _signed(key, "/v1/random?bytes=8")) for p in ports]
            return [s for s, _ in answers]

        statuses = asyncio.run(fire())
    finally:
        _stop(a)
        if b is not None:
            _stop(b)
    assert statuses.count(200) == 12, statuses  # the burst, once, across every process
    assert statuses.count(429) == 18, statuses


def _served(metrics: bytes) -> float:
    m = re.search(rb'diamp_bytes_served_total\{tier="standard"\} ([0-9.e+]+)', metrics)
    return float(m.group(1)) if m else 0.0


def test_workers_in_shared_memory_refuse_a_replay_and_share_a_burst(tmp_path: Path) -> None:
    """``--workers 2`` on a plain SQLite pool: nonces and buckets in shared memory.

    Each process has a socket of its own on the port (``SO_REUSEPORT``); the test finds a
    connection the other process accepted (its ``/metrics`` shows nothing served), so the
    replay and the rest of the burst are sent to the process that did not see the first.
    """
    server = f"public_authorities = ['{AUTHORITY}']\n"
    server += "rate_burst_requests = 6\nrate_requests_per_second = 0.001\n"
    pool = "fill = false\nreserve_bytes = 4096\n"
    config, keys = write_config(tmp_path, config_text(server=server, pool=pool))
    _fill(tmp_path, None, 4096)
    proc, port = _start(config, "--workers", "2")
    log = max(tmp_path.glob("serve-*.log"), key=lambda p: p.stat().st_mtime)
    metrics = f"GET /metrics HTTP/1.1\r\nHost: {AUTHORITY}\r\n\r\n".encode()

    async def scenario() -> tuple[list[int], list[int], bytes]:
        first = await asyncio.open_connection("127.0.0.1", port)
        request = _signed(keys["alice"], "/v1/random?bytes=8")
        statuses = [(await _roundtrip(*first, request))[0]]
        other = None
        for _ in range(64):  # a connection the other process accepted
            conn = await asyncio.open_connection("127.0.0.1", port)
            if _served((await _roundtrip(*conn, metrics))[1]) == 0:
                other = conn
                break
            conn[1].close()
            await conn[1].wait_closed()
        assert other is not None, "every connection went to one process"
        status, body = await _roundtrip(*other, request)
        fresh = [(await _roundtrip(*conn, _signed(keys["alice"], "/v1/random?bytes=8")))[0]
                 for conn in (other, first) * 4]  # fmt: skip
        for conn in (first, other):
            conn[1].close()
            await conn[1].wait_closed()
        return [*statuses, status], fresh, body

    try:
        deadline = time.monotonic() + 90
        while log.read_text().count("Application startup complete") < 2:
            assert time.monotonic() < deadline and proc.poll() is None, log.read_text()
            time.sleep(0.1)
        (first, replay), fresh, body = asyncio.run(scenario())
    finally:
        _stop(proc)
    assert not (tmp_path / "pool.requests.sqlite").exists()  # no database for these
    assert (first, replay) == (200, 401) and body.startswith(b'{"detail":"replay:'), body
    assert fresh == [200] * 5 + [429] * 3  # burst 6: the first and five more, across both
