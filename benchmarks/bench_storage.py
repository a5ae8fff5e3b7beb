"""Requests/s at 32 B: 1 vs 2 worker processes, SQLite vs PostgreSQL, in the same run.

Five servers are measured in turn, in rounds (the order alternates, so load from other
processes on the machine falls on all of them alike), each ``diamp serve`` with auth on, the
pool prefilled and the pipeline off (only the serving path is measured):

* SQLite, 1 process: nonces and rate limits in its memory (the default);
* SQLite, ``--workers 2``: nonces and rate limits in memory the two processes share
  (:mod:`diamp.service.workerstate`), each process on a socket of its own (``SO_REUSEPORT``);
* SQLite, ``--workers 2`` with ``[pool] shared = true``: nonces and rate limits in
  ``POOL.requests.sqlite`` (the way for processes started apart), one transaction each;
* PostgreSQL, 1 and 2 processes: everything in the database, one statement per request.

The client shares the 2 cores with the servers, so every CPU-second it takes is one the
servers lack: it must cost as little as possible. It signs every request before the timed
phase (RFC 9421, a fresh nonce and ``created`` each: the server still verifies each signature
and records each nonce) and sends them over keep-alive HTTP/1.1 connections with ``wrk``
(``--client wrk``, the default where ``wrk`` is installed, e.g. ``apt-get install wrk``: a C
load generator, each request sent once by ``benchmarks/wrk_signed.lua`` for ``--seconds``)
or with the raw asyncio client of ``bench_service.py`` (``--client python``, ``--requests``
each run), which takes several times more CPU per request. Its CPU per request is printed
(``client µs``) next to the servers' (``server µs``: user + system time of every server
process, from ``/proc``). Connections are opened only once every process serves: a
connection opened before a worker listens goes to the first process and, kept alive, stays
there for the whole run. PostgreSQL is the distribution's server, started in a temporary
directory as the tests do, unless ``--postgres-url`` names one. The load average is printed
before and after.

    .venv/bin/python benchmarks/bench_storage.py [--client wrk|python] [--seconds 5]
        [--requests 6000] [--conns 16] [--rounds 3] [--no-postgres]

Target (issue 16): 2 workers >= 1.3 x 1 worker at 32 B on 2 cores.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from bench_service import drive_requests, prepare, start
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
RUNS = (
    ("SQLite", "memory", 1),
    ("SQLite", "memory", 2),
    ("SQLite", "database", 2),
    ("PostgreSQL", "database", 1),
    ("PostgreSQL", "database", 2),
)


@contextlib.contextmanager
def postgres(url: str | None) -> Iterator[str]:
    if url is not None:
        yield url
        return
    sys.path.insert(0, str(ROOT / "tests" / "service"))
    from _postgres import postgres_server

    with postgres_server() as server:
        yield server.new_database()


def setup(folder: Path, url: str | None, nbytes: int, shared: bool = False) -> tuple[Path, bytes]:
    folder.mkdir()
    key = add_client(folder / "clients.toml", "bench")
    pool = f"url = '{url}'" if url else "path = 'pool.sqlite'" + ("\nshared = true" * shared)
    (folder / "service.toml").write_text(CONFIG.format(pool=pool))
    p = Pool(folder / "pool.sqlite", url=url)
    for _ in range(-(-nbytes // (1 << 20))):
        p.append("standard", os.urandom(1 << 20), {"benchmark": "os.urandom prefill"}, ["vac"])
    p.close()
    return folder / "service.toml", key


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` and its children (the workers), from /proc."""
    pids = [pid]
    with contextlib.suppress(OSError):
        pids += [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    total = 0
    for p in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def measure(config: Path, workers: int, key: bytes, args: argparse.Namespace) -> dict[str, float]:
    """req/s, and client and server CPU µs per request, of one server."""
    cmd = [sys.executable, "-c", "from diamp.cli import main; main()", "serve", str(config),
           "--port", "0", "--workers", str(workers)]  # fmt: skip
    log = config.parent / f"serve-{workers}.log"
    proc, port = start(cmd, log)
    try:
        ready(log, workers)
        drive_requests(port, prepare(port, 32, 400, key), args.conns)  # warm-up: reserves
        if args.client == "wrk":
            signed = prepare(port, 32, args.seconds * MAX_RPS, key)  # not timed: the signing
            server = cpu_seconds(proc.pid)
            rps, count, client = drive_wrk(port, signed, args.conns, args.seconds, config.parent)
        else:
            signed = prepare(port, 32, args.requests, key)  # not timed: the client's signing
            client, server = time.process_time(), cpu_seconds(proc.pid)
            rps, count = drive_requests(port, signed, args.conns)["rps"], args.requests
            client = time.process_time() - client
        server = cpu_seconds(proc.pid) - server
        return {"rps": rps, "client": client / count * 1e6, "server": server / count * 1e6}
    finally:
        proc.terminate()
        proc.wait(timeout=60)


MAX_RPS = 15_000
"""Requests signed per second of a ``wrk`` run: more than one 2-core host answers."""


def drive_wrk(
    port: int, signed: list[bytes], conns: int, seconds: int, folder: Path
) -> tuple[float, int, float]:
    """Requests/s, requests answered and client CPU seconds of one ``wrk`` run.

    Refuses a run with any answer but 200 or any socket error (e.g. a request sent twice,
    answered 401 replay, when ``signed`` ran out).
    """
    file = folder / "signed.requests"
    file.write_bytes(b"".join(r + b"\0" for r in signed))
    script = Path(__file__).with_name("wrk_signed.lua")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(
        ["wrk", "-t1", f"-c{conns}", f"-d{seconds}s", "-s", str(script),
         f"http://127.0.0.1:{port}", "--", str(file), "1"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    file.unlink()
    if "Non-2xx" in out or "Socket errors" in out:
        raise RuntimeError(f"wrk: answers other than 200 or socket errors:\n{out}")
    found = re.search(r"(\d+) requests in .*?Requests/sec:\s+([\d.]+)", out, re.S)
    if found is None:
        raise RuntimeError(f"wrk printed no rate:\n{out}")
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return float(found.group(2)), int(found.group(1)), cpu


def ready(log: Path, workers: int, timeout_s: float = 120.0) -> None:
    """Wait until every process serves (see the module docs)."""
    deadline = time.monotonic() + timeout_s
    while log.read_text().count("Application startup complete") < workers:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{workers} processes did not start: {log.read_text()}")
        time.sleep(0.1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--client", choices=("wrk", "python"),
                        default="wrk" if shutil.which("wrk") else "python",
                        help="load generator (default: wrk where installed)")  # fmt: skip
    parser.add_argument("--seconds", type=int, default=5, help="length of a wrk run")
    parser.add_argument("--requests", type=int, default=6000, help="requests per python run")
    parser.add_argument("--conns", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--postgres-url", default=None)
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}; load average {os.getloadavg()}; "
          f"client {args.client}")  # fmt: skip
    runs = [r for r in RUNS if not (args.no_postgres and r[0] == "PostgreSQL")]
    per_run = args.seconds * MAX_RPS if args.client == "wrk" else args.requests
    need = 32 * (per_run + 400) * 2 * args.rounds + (16 << 20)
    with tempfile.TemporaryDirectory() as d, contextlib.ExitStack() as stack:
        tmp = Path(d)
        url = None if args.no_postgres else stack.enter_context(postgres(args.postgres_url))
        configs = {
            ("SQLite", "memory"): setup(tmp / "sqlite", None, need),
            ("SQLite", "database"): setup(tmp / "shared", None, need, shared=True),
        }
        if url is not None:
            configs[("PostgreSQL", "database")] = setup(tmp / "pg", url, need * 2)
        found: dict[tuple[str, str, int], list[dict[str, float]]] = {r: [] for r in runs}
        for i in range(args.rounds):
            for b, state, w in runs if i % 2 == 0 else runs[::-1]:
                config, key = configs[(b, state)]
                found[(b, state, w)].append(measure(config, w, key, args))
    report(found)
    print(f"load average after: {os.getloadavg()}")


def report(found: dict[tuple[str, str, int], list[dict[str, float]]]) -> None:
    """Medians per server, then the ratios the issue asks for."""
    med = {r: {k: statistics.median(x[k] for x in v) for k in v[0]} for r, v in found.items()}
    print(f"{'backend':10} {'state':9} {'workers':>7} {'req/s':>7} {'client µs':>9} "
          f"{'server µs':>9}  req/s per round")  # fmt: skip
    for (b, state, w), v in found.items():
        m = med[(b, state, w)]
        rounds = " ".join(f"{x['rps']:.0f}" for x in v)
        print(f"{b:10} {state:9} {w:7d} {m['rps']:7.0f} {m['client']:9.1f} {m['server']:9.1f}  "
              f"{rounds}")  # fmt: skip
    one = med[("SQLite", "memory", 1)]["rps"]
    ones, twos = found[("SQLite", "memory", 1)], found[("SQLite", "memory", 2)]
    paired = [b["rps"] / a["rps"] for a, b in zip(ones, twos, strict=True)]
    print(f"SQLite --workers 2 (shared memory) / 1 process: "
          f"{med[('SQLite', 'memory', 2)]['rps'] / one:.2f} (medians), per round (measured one "
          f"after the other) {' '.join(f'{r:.2f}' for r in paired)}, their median "
          f"{statistics.median(paired):.2f}  (target >= 1.3)")  # fmt: skip
    c1, c2 = med[("SQLite", "memory", 1)], med[("SQLite", "memory", 2)]
    print(f"  from CPU per request: 2 cores / (server + client) of 2 workers over 1 / server of "
          f"1 process = {2 * c1['server'] / (c2['server'] + c2['client']):.2f} (an estimate for "
          "2 idle cores, not a measurement)")  # fmt: skip
    print(f"SQLite --workers 2 (shared = true, database) / 1 process: "
          f"{med[('SQLite', 'database', 2)]['rps'] / one:.2f}")  # fmt: skip
    if ("PostgreSQL", "database", 1) in med:
        pg1, pg2 = (
            med[("PostgreSQL", "database", 1)]["rps"],
            med[("PostgreSQL", "database", 2)]["rps"],
        )
        print(f"PostgreSQL: 2 workers / 1 worker = {pg2 / pg1:.2f}; 1 worker PostgreSQL / "
              f"SQLite = {pg1 / one:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
