"""`diamp serve` as a process after its databases are lost: refused, then explicitly recovered.

A real server (a ``diamp serve`` subprocess on 127.0.0.1) serves a DIRA tier to a signed
client and publishes beacon pulses; it is killed (SIGKILL), its pool and beacon databases are
deleted, and

- ``diamp serve`` exits 2 with one line naming the pool database and its anchor;
- ``--new-pool`` alone still exits 2: the beacon state is missing too;
- ``--new-pool --new-chain`` serves again: the DIRA bytes come after every byte served before
  (each located in the run's key: 0 repeated offsets), pulses continue in chain 2 from pulse 1,
  and no (chain, pulse) index is issued twice.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
from _svc import config_text, dira_run, write_config

from diamp.service.client import Client

SRC = str(Path(__file__).parents[2] / "src")
PIECE = 16
BEACON = (
    "\n[beacon]\nperiod_s = 0.2\ntier = 'standard'\ngenerate_key = true\nkey_bits = 2048\n"
    "key_file = 'b/key.pem'\ncertificate_file = 'b/cert.pem'\nstate_db = 'b/pulses.sqlite'\n"
)


def _cmd(config: Path, *flags: str) -> list[str]:
    return [sys.executable, "-c", "from diamp.cli import main; main()", "serve", str(config),
            "--port", "0", "--log-level", "info", *flags]  # fmt: skip


def _start(config: Path, *flags: str) -> tuple[subprocess.Popen[bytes], str]:
    log = config.parent / f"serve-{time.monotonic_ns()}.log"
    with log.open("wb") as err:
        proc = subprocess.Popen(_cmd(config, *flags), stderr=err, stdout=subprocess.DEVNULL,
                                env={**os.environ, "PYTHONPATH": SRC})  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        m = re.search(r"running on (http://127\.0\.0\.1:\d+)", log.read_text())
        if m:
            return proc, m.group(1)
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    raise RuntimeError("server did not start: " + log.read_text())


def _refused(config: Path, *flags: str) -> str:
    done = subprocess.run(_cmd(config, *flags), capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": SRC}, check=False)  # fmt: skip
    assert done.returncode == 2, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    return lines[0]


def _fetch(base: str, key: bytes, n: int) -> tuple[list[bytes], list[tuple[int, int]]]:
    got: list[bytes] = []
    deadline = time.monotonic() + 60
    with Client(base, "alice", key) as c:
        while len(got) < n:
            try:
                got.append(c.random(PIECE, tier="dira"))
            except Exception:
                assert time.monotonic() < deadline, "the DIRA tier did not fill"
                time.sleep(0.1)
    pulses: list[tuple[int, int]] = []
    while len(pulses) < 3:
        r = httpx.get(f"{base}/beacon/2.0/pulse/last", timeout=5)
        if r.status_code == 200:
            p = r.json()["pulse"]
            pulses = [(p["chainIndex"], i) for i in range(1, p["pulseIndex"] + 1)]
        assert time.monotonic() < deadline, "no pulses"
        time.sleep(0.1)
    return got, pulses


def _kill(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)


def test_lost_databases_are_refused_then_recovered_without_a_repeat(tmp_path: Path) -> None:
    dira_key = np.random.default_rng(15).integers(0, 256, 1 << 16, dtype=np.uint8).tobytes()
    dira_run(tmp_path, dira_key)
    text = config_text(
        sources=config_text().split("[[tiers]]")[0].split("[checks]\nenabled = false\n")[1]
        + '[[sources]]\nkind = "dira"\nname = "lab"\nrun = "run"\n',
        tiers='[[tiers]]\nname = "standard"\nsources = ["vac"]\nchunk_bytes = 256\n'
        '[[tiers]]\nname = "dira"\nsources = ["lab"]\nchunk_bytes = 64\n',
        pool="reserve_bytes = 16",
    ).replace("target_bytes = 262144", "target_bytes = 1024")
    config, keys = write_config(tmp_path, text + BEACON)
    proc, base = _start(config)
    try:
        before, old_pulses = _fetch(base, keys["alice"], 10)
    finally:
        _kill(proc)
    for db in ("pool.sqlite", "b/pulses.sqlite"):
        for suffix in ("", "-wal", "-shm"):
            (tmp_path / f"{db}{suffix}").unlink(missing_ok=True)
    line = _refused(config)
    assert "pool.sqlite: pool database is missing; anchor" in line and "--new-pool" in line
    line = _refused(config, "--new-pool")
    assert "pulses.sqlite: beacon state is missing; anchor" in line and "--new-chain" in line
    proc, base = _start(config, "--new-pool", "--new-chain")
    try:
        after, new_pulses = _fetch(base, keys["alice"], 10)
        gone = httpx.get(f"{base}/beacon/2.0/chain/1/pulse/1", timeout=5).status_code
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    offsets = [dira_key.find(piece) for piece in before + after]
    assert all(o >= 0 for o in offsets)
    used = [b for o in offsets for b in range(o, o + PIECE)]
    assert len(used) == len(set(used))  # 0 repeated key bytes
    assert min(offsets[len(before) :]) > max(offsets[: len(before)])
    assert {c for c, _ in old_pulses} == {1} and {c for c, _ in new_pulses} == {2}
    assert not set(old_pulses) & set(new_pulses)  # 0 re-issued (chain, pulse) indices
    assert gone == 404  # the lost chain is not served from the new store, never contradicted
