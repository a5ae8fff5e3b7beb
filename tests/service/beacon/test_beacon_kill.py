"""Kill the beacon process (SIGKILL) mid-run and mid-pulse, restart it, check the chain.

The server is ``python -m diamp.service.beacon`` in a subprocess on 127.0.0.1. After a kill:
the chain continues (same chain index, contiguous pulse indices), the first pulse after the
downtime carries the gap status, no pulse is re-issued (everything fetched before the kill is
byte-identical afterwards), and a pulse persisted but not published when the process died is
published unchanged.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import _nistir_oracle as nistir
import httpx
from _beacon_helpers import free_socket, wait_for

from diamp.service.beacon.client import verify_url

PERIOD_S = 0.25
SRC = Path(__file__).resolve().parents[3] / "src"


def write_config(tmp_path: Path, keys: tuple[Path, Path], port: int) -> Path:
    config = tmp_path / "beacon.toml"
    config.write_text(
        "schema_version = 1\n[beacon]\n"
        f"period_s = {PERIOD_S}\nkey_file = '{keys[0]}'\ncertificate_file = '{keys[1]}'\n"
        f"state_db = '{tmp_path / 'pulses.sqlite'}'\n"
    )
    return config


@contextmanager
def server(config: Path, port: int, log: Path, *extra: str) -> Iterator[subprocess.Popen[bytes]]:
    env = dict(os.environ, PYTHONPATH=f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    cmd = [sys.executable, "-m", "diamp.service.beacon", str(config), "--port", str(port), *extra]
    with log.open("ab") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)


def last_index(url: str) -> int:
    try:
        r = httpx.get(f"{url}/beacon/2.0/pulse/last", timeout=2)
    except httpx.HTTPError:
        return 0
    return int(r.json()["pulse"]["pulseIndex"]) if r.status_code == 200 else 0


def fetch_raw(url: str, n: int) -> list[bytes]:
    with httpx.Client(base_url=url, timeout=5) as c:
        return [c.get(f"/beacon/2.0/chain/1/pulse/{i}").content for i in range(1, n + 1)]


def check_chain(raw: list[bytes], pem: bytes) -> list[dict]:
    pulses = [json.loads(r)["pulse"] for r in raw]
    for p in pulses:
        nistir.check_pulse(p, pem)
        assert p["chainIndex"] == 1
    for a, b in itertools.pairwise(pulses):
        nistir.check_link(a, b)
        step = nistir.time_ms(b["timeStamp"]) - nistir.time_ms(a["timeStamp"])
        assert step > 0 and step % a["period"] == 0
        assert bool(b["statusCode"] & 2) == (step > a["period"]), (a["pulseIndex"], step)
    return pulses


def test_sigkill_mid_run_then_restart(tmp_path: Path, keypair: tuple[Path, Path]) -> None:
    sock = free_socket()
    port = sock.getsockname()[1]
    sock.close()
    url = f"http://127.0.0.1:{port}"
    config, log = write_config(tmp_path, keypair, port), tmp_path / "server.log"
    with server(config, port, log) as proc:
        wait_for(lambda: last_index(url) >= 4, what="pulses before the kill")
        n = last_index(url)
        before = fetch_raw(url, n)
        time.sleep(PERIOD_S * 0.37)  # kill at an arbitrary phase of the period
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    killed_at = time.time() * 1000
    time.sleep(4 * PERIOD_S)  # downtime of several periods
    with server(config, port, log):
        wait_for(lambda: last_index(url) >= n + 4, what="pulses after the restart")
        m = last_index(url)
        after = fetch_raw(url, m)
        report = verify_url(url, chain=1, certificates=[keypair[1]])
    assert after[:n] == before  # nothing re-issued or changed
    pulses = check_chain(after, keypair[1].read_bytes())
    assert [p["pulseIndex"] for p in pulses] == list(range(1, m + 1))
    resumed = [p for p in pulses if nistir.time_ms(p["timeStamp"]) > killed_at]
    assert resumed and resumed[0]["statusCode"] == 2  # the gap is marked
    assert report.ok, [str(f) for f in report.failures]


def test_killed_between_persist_and_publish(tmp_path: Path, keypair: tuple[Path, Path]) -> None:
    sock = free_socket()
    port = sock.getsockname()[1]
    sock.close()
    url = f"http://127.0.0.1:{port}"
    config, log = write_config(tmp_path, keypair, port), tmp_path / "server.log"
    with server(config, port, log, "--kill-after-persist", "3") as proc:
        assert proc.wait(30) == -signal.SIGKILL
    db = sqlite3.connect(tmp_path / "pulses.sqlite")
    rows = db.execute(
        "SELECT pulse_index, published, json FROM pulses ORDER BY pulse_index"
    ).fetchall()
    db.close()
    assert [(i, pub) for i, pub, _ in rows] == [(1, 1), (2, 1), (3, 0)]
    persisted = rows[2][2].encode()
    time.sleep(3 * PERIOD_S)
    with server(config, port, log):
        wait_for(lambda: last_index(url) >= 6, what="pulses after the restart")
        after = fetch_raw(url, 6)
        report = verify_url(url, chain=1, certificates=[keypair[1]])
    assert after[2] == persisted  # republished byte for byte
    pulses = check_chain(after, keypair[1].read_bytes())
    assert pulses[3]["statusCode"] == 2
    assert report.ok, [str(f) for f in report.failures]
