"""`diamp serve` as a process: concurrent signed clients, SIGKILL mid-serving, restart, no repeats.

The pool is filled with 8-byte counters and every request asks for a multiple of 8 bytes,
so each served word names exactly which pool word it is: a repeat anywhere (across
requests, clients or the restart) shows up as a duplicate word, with certainty.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from _svc import config_text, fill_counter, raw_get_many, words, write_config

SRC = str(Path(__file__).parents[2] / "src")


def _start(config: Path) -> tuple[subprocess.Popen[bytes], str]:
    env = {**os.environ, "PYTHONPATH": SRC}
    log = config.parent / f"serve-{time.monotonic_ns()}.log"
    with log.open("wb") as err:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "from diamp.cli import main; main()",
                "serve",
                str(config),
                "--port",
                "0",
                "--log-level",
                "info",
            ],
            stderr=err,
            stdout=subprocess.DEVNULL,
            env=env,
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        m = re.search(r"running on (http://127\.0\.0\.1:\d+)", log.read_text())
        if m:
            return proc, m.group(1)
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    raise RuntimeError("server did not start: " + log.read_text())


def _run_clients(
    base: str,
    key: bytes,
    count: int,
    workers: int,
    kill: subprocess.Popen[bytes] | None = None,
    kill_after: int = 0,
) -> list[bytes]:
    got: list[bytes] = []
    paths = [f"/v1/random?bytes={8 * (1 + k % 4)}" for k in range(count)]

    async def main() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(raw_get_many(base, paths, key, workers, got, stop))
        if kill is not None:
            while len(got) < kill_after and not task.done():
                await asyncio.sleep(0.005)
            kill.send_signal(signal.SIGKILL)  # mid-serving: requests are in flight
            stop.set()
        await task

    asyncio.run(main())
    return got


def _serve_counter_pool(tmp: Path, nwords: int) -> tuple[Path, bytes]:
    text = config_text(
        pool="fill = false\nreserve_bytes = 4096",
        server="rate_requests_per_second = 1e6\nrate_burst_requests = 1000000",
    )
    config, keys = write_config(tmp, text)
    fill_counter(tmp / "pool.sqlite", "standard", nwords, chunk_words=5000)
    return config, keys["alice"]


def _check_unique(responses: list[bytes], nwords: int) -> int:
    served = [w for r in responses for w in words(r)]
    assert len(served) == len(set(served)), "a byte range was served twice"
    assert all(0 <= w < nwords for w in served)
    return len(served)


@pytest.mark.slow
def test_kill_and_restart_in_the_middle_of_serving(tmp_path: Path) -> None:
    config, key = _serve_counter_pool(tmp_path, 60_000)
    proc, base = _start(config)
    try:
        first = _run_clients(base, key, 3000, 8, kill=proc, kill_after=1000)
    finally:
        proc.kill()
        proc.wait()
    assert len(first) >= 1000
    proc, base = _start(config)
    try:
        second = _run_clients(base, key, 2000, 8)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    assert len(second) == 2000
    _check_unique(first + second, 60_000)


@pytest.mark.slow
def test_1e5_concurrent_requests_get_no_repeated_byte(tmp_path: Path) -> None:
    config, key = _serve_counter_pool(tmp_path, 300_000)
    proc, base = _start(config)
    try:
        got = _run_clients(base, key, 100_000, 16)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    assert len(got) == 100_000
    assert _check_unique(got, 300_000) == sum(1 + k % 4 for k in range(100_000))
