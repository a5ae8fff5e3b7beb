"""Requests/s at 32 B: 1 vs 2 worker processes, SQLite vs PostgreSQL, in the same run.

Four servers are measured in turn, in rounds (the order alternates, so load from other
processes on the machine falls on all of them alike): ``diamp serve`` on a SQLite pool with
1 process (nonces and rate limits in memory: the default) and with ``--workers 2`` (nonces
and rate limits in ``POOL.requests.sqlite``), and on a PostgreSQL pool with 1 and 2
processes (everything in the database). Auth on, pool prefilled, pipeline off: only the
serving path is measured. The client is the light keep-alive one of ``bench_service.py``.
PostgreSQL is the distribution's server, started in a temporary directory as the tests do,
unless ``--postgres-url`` names one.

    .venv/bin/python benchmarks/bench_storage.py [--requests 6000] [--conns 16] [--rounds 3]

Target (issue 16): 2 workers >= 1.3 x 1 worker at 32 B on 2 cores.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from bench_service import drive, start
from diamp.service.keys import add_client
from diamp.service.pool import Pool

ROOT = Path(__file__).resolve().parents[1]
CONFIG = """schema_version = 1
[server]
clients = 'clients.toml'
rate_requests_per_second = 1e9
rate_burst_requests = 1000000000
rate_bytes_per_second = 1e12
rate_burst_bytes = 1000000000000
[pool]
{pool}
fill = false
[extractor]
block_bits = 65536
[checks]
enabled = false
[[sources]]
kind = "simulated"
name = "vac"
family = "vacuum-fluctuation"
seed = 1
entropy = {{ model = "declared", min_entropy = 4.0 }}
[[tiers]]
name = "standard"
sources = ["vac"]
"""


@contextlib.contextmanager
def postgres(url: str | None) -> Iterator[str]:
    if url is not None:
        yield url
        return
    sys.path.insert(0, str(ROOT / "tests" / "service"))
    from _postgres import postgres_server

    with postgres_server() as server:
        yield server.new_database()


def setup(folder: Path, url: str | None, nbytes: int) -> tuple[Path, bytes]:
    folder.mkdir()
    key = add_client(folder / "clients.toml", "bench")
    pool = f"url = '{url}'" if url else "path = 'pool.sqlite'"
    (folder / "service.toml").write_text(CONFIG.format(pool=pool))
    p = Pool(folder / "pool.sqlite", url=url)
    for _ in range(-(-nbytes // (1 << 20))):
        p.append("standard", os.urandom(1 << 20), {"benchmark": "os.urandom prefill"}, ["vac"])
    p.close()
    return folder / "service.toml", key


def measure(config: Path, workers: int, key: bytes, requests: int, conns: int) -> float:
    cmd = [sys.executable, "-c", "from diamp.cli import main; main()", "serve", str(config),
           "--port", "0", "--workers", str(workers)]  # fmt: skip
    log = config.parent / f"serve-{workers}.log"
    proc, port = start(cmd, log)
    try:
        ready(log, workers)
        drive(port, 32, 400, conns, key)  # warm-up: every process reserves and imports
        return drive(port, 32, requests, conns, key)["rps"]
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def ready(log: Path, workers: int, timeout_s: float = 120.0) -> None:
    """Wait until every process serves: connections made before a worker listens all go
    to the first process (they are kept alive, so the whole run would measure one)."""
    deadline = time.monotonic() + timeout_s
    while log.read_text().count("Application startup complete") < workers:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{workers} processes did not start: {log.read_text()}")
        time.sleep(0.1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=6000, help="32-byte requests per run")
    parser.add_argument("--conns", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--postgres-url", default=None)
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}")  # fmt: skip
    need = 32 * (args.requests + 400) * 4 * args.rounds + (16 << 20)
    with tempfile.TemporaryDirectory() as d, postgres(args.postgres_url) as url:
        tmp = Path(d)
        backends = {"SQLite": setup(tmp / "sqlite", None, need),
                    "PostgreSQL": setup(tmp / "pg", url, need)}  # fmt: skip
        runs = [(b, w) for b in backends for w in (1, 2)]
        found: dict[tuple[str, int], list[float]] = {r: [] for r in runs}
        for i in range(args.rounds):
            for b, w in runs if i % 2 == 0 else runs[::-1]:
                config, key = backends[b]
                found[(b, w)].append(measure(config, w, key, args.requests, args.conns))
    med = {r: statistics.median(v) for r, v in found.items()}
    print(f"{'backend':11} {'workers':>7} {'req/s (median)':>15}  rounds")
    for (b, w), v in found.items():
        print(f"{b:11} {w:7d} {med[(b, w)]:15.0f}  {' '.join(f'{x:.0f}' for x in v)}")
    for b in backends:
        print(f"{b}: 2 workers / 1 worker = {med[(b, 2)] / med[(b, 1)]:.2f}")
    for w in (1, 2):
        print(f"{w} worker(s): PostgreSQL / SQLite = "
              f"{med[('PostgreSQL', w)] / med[('SQLite', w)]:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
