"""Load on `diamp serve` over loopback, next to a plain FastAPI endpoint, in the same run.

Starts ``diamp serve`` (auth on, pool prefilled with random bytes, pipeline off so only the
serving path is measured) and a plain FastAPI app whose endpoint returns ``os.urandom(N)``,
both with uvicorn + uvloop + httptools, one process each. A light keep-alive HTTP/1.1
client (raw asyncio) drives each with C connections and reports requests/s, MB/s, p50 and
p99 latency for 32-byte and 1 MiB requests, and the ratio to the plain endpoint.

Fairness: the client signs every diamp request ahead of its run (RFC 9421, a fresh nonce
and ``created`` each), so its signing cost is not counted against the server, which still
verifies one fresh signature per request. The two servers are measured R times,
interleaved (the order alternates between repeats), so load from other processes on the
machine falls on both; the ratio is reported per repeat with its median, min and max.
Also measures the pipeline's sustained extraction rate (Toeplitz, one core), which bounds
the long-run serving rate.

    .venv/bin/python benchmarks/bench_service.py [--small 20000] [--large 150] [--conns 16]
        [--repeats 5] [--no-pipeline] [--plain-async]

The plain endpoint is a ``def`` route (FastAPI runs it in its thread pool); with
``--plain-async`` it is an ``async def`` route (on the event loop, no thread hop).

Targets (issue 16): diamp/plain >= 0.8 at 32 bytes and >= 0.7 at 1 MiB, with auth.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from diamp.service.client import signed_headers
from diamp.service.keys import add_client
from diamp.service.pool import Pool

ROOT = Path(__file__).resolve().parents[1]
PLAIN = """
import os, uvicorn
from fastapi import FastAPI, Query
from fastapi.responses import Response
app = FastAPI()
@app.get("/v1/random")
DEF random(nbytes: int = Query(alias="bytes")) -> Response:
    return Response(os.urandom(nbytes), media_type="application/octet-stream")
uvicorn.run(app, host="127.0.0.1", port=0, loop="uvloop", http="httptools", log_level="info",
            access_log=False)
"""


def start(args: list[str], log: Path) -> tuple[subprocess.Popen[bytes], int]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    with log.open("wb") as err:
        proc = subprocess.Popen(args, stderr=err, stdout=subprocess.DEVNULL, env=env)
    for _ in range(3600):  # imports and the first beacon key take a while
        m = re.search(r"running on http://127\.0\.0\.1:(\d+)", log.read_text())
        if m:
            return proc, int(m.group(1))
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError(log.read_text())


async def one_connection(port: int, requests: list[bytes], lat: list[float]) -> int:
    """Send ``requests`` one after the other, keep-alive; reconnect after ``Connection: close``."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    received = 0
    for request in requests:
        t0 = time.perf_counter()
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = int(re.search(rb"(?i)content-length: (\d+)", head).group(1))  # type: ignore[union-attr]
        body = await reader.readexactly(length)
        lat.append(time.perf_counter() - t0)
        if status != 200:
            raise RuntimeError(f"HTTP {status}: {body[:200]!r}")
        received += len(body)
        if re.search(rb"(?i)\r\nconnection: close\r\n", head):  # e.g. --workers rebalancing
            writer.close()
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.close()
    return received


def prepare(port: int, nbytes: int, count: int, key: bytes | None) -> list[bytes]:
    """Every request of one run, signed ahead (fresh nonce and ``created`` each) for diamp."""
    return requests_for(port, f"/v1/random?bytes={nbytes}&format=binary", count, key)


def requests_for(port: int, path: str, count: int, key: bytes | None) -> list[bytes]:
    """``count`` GETs of ``path``, each signed ahead when ``key`` (a fresh nonce each)."""
    out = []
    for _ in range(count):
        extra = ""
        if key is not None:
            h = signed_headers(key, "bench", f"http://127.0.0.1:{port}{path}")
            extra = "".join(f"{k}: {v}\r\n" for k, v in h.items())
        out.append(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{extra}\r\n".encode())
    return out


def drive(port: int, nbytes: int, count: int, conns: int, key: bytes | None) -> dict[str, float]:
    requests = prepare(port, nbytes, count, key)  # not timed: the client's cost
    return drive_requests(port, requests, conns)


def drive_requests(port: int, requests: list[bytes], conns: int) -> dict[str, float]:
    """Send ``requests`` over ``conns`` keep-alive connections; rates and latencies."""
    import uvloop

    lat: list[float] = []
    count = len(requests)

    async def main() -> int:
        parts = [requests[i::conns] for i in range(conns)]
        got = await asyncio.gather(*(one_connection(port, p, lat) for p in parts))
        return sum(got)

    t0 = time.perf_counter()
    total = uvloop.run(main())
    wall = time.perf_counter() - t0
    a = np.array(lat) * 1e3
    return {
        "rps": count / wall,
        "mbps": total / wall / 1e6,
        "p50_ms": float(np.percentile(a, 50)),
        "p99_ms": float(np.percentile(a, 99)),
        "wall_s": wall,
    }


def prefill(pool_path: Path, nbytes: int) -> None:
    pool = Pool(pool_path)
    chunk = 1 << 20
    for _ in range(-(-nbytes // chunk)):
        pool.append("standard", os.urandom(chunk), {"benchmark": "os.urandom prefill"}, ["vac"])
    pool.close()


def extraction_rate(seconds: float = 5.0) -> float:
    """MB/s of Toeplitz output of the shipped vacuum source, one core."""
    from diamp.service.pipeline import Pipeline
    from diamp.service.settings import load_settings

    settings = load_settings(ROOT / "configs" / "service.toml")
    settings = settings.model_copy(
        update={"sources": settings.sources[:1], "tiers": settings.tiers[:1]}
    )
    with tempfile.TemporaryDirectory() as d:
        p = Pipeline(settings, Pool(Path(d) / "p.sqlite"))
        rt = p.sources["vacuum"]
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            p._produce(rt)
            p._collect_all(block=True, every=True)  # the extraction workers' blocks
            rt.out.clear()
        return rt.extracted_bytes / (time.perf_counter() - t0) / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=20_000, help="32-byte requests per run")
    parser.add_argument("--large", type=int, default=150, help="1 MiB requests per run")
    parser.add_argument("--conns", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=5, help="interleaved runs per server")
    parser.add_argument("--no-pipeline", action="store_true", help="skip the extraction rate")
    parser.add_argument(
        "--plain-async",
        action="store_true",
        help="plain endpoint as `async def` (on the event loop) instead of `def` (thread pool)",
    )
    args = parser.parse_args()
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}"
    )
    sizes = (("32 B", 32, args.small), ("1 MiB", 1 << 20, args.large))
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        key = add_client(tmp / "clients.toml", "bench")
        (tmp / "service.toml").write_text(bench_config())
        need = args.repeats * sum(n * c for _, n, c in sizes) + (4 << 20)
        prefill(tmp / "service-pool.sqlite", need)
        diamp, dport = start(
            [sys.executable, "-c", "from diamp.cli import main; main()", "serve",
             str(tmp / "service.toml"), "--port", "0"],
            tmp / "diamp.log",
        )  # fmt: skip
        plain_code = PLAIN.replace("DEF", "async def" if args.plain_async else "def")
        plain, pport = start([sys.executable, "-c", plain_code], tmp / "plain.log")
        servers = (("diamp (auth)", dport, key), ("plain FastAPI", pport, None))
        results: dict[tuple[str, str], list[dict[str, float]]] = {}
        try:
            for _, port, k in servers:  # warm-up
                drive(port, 32, 200, 4, k)
            for rep in range(args.repeats):
                order = servers if rep % 2 == 0 else servers[::-1]
                for label, nbytes, count in sizes:
                    for name, port, k in order:
                        r = drive(port, nbytes, count, args.conns, k)
                        results.setdefault((label, name), []).append(r)
        finally:
            for proc in (diamp, plain):
                proc.terminate()
                proc.wait(timeout=30)
    report(results, sizes, servers)
    if not args.no_pipeline:
        print(
            f"pipeline extraction (Toeplitz, vacuum source, 1 core): {extraction_rate():.2f} MB/s"
        )


def bench_config() -> str:
    """The shipped service config, pipeline off, rate limits out of the way, source ``vac``."""
    text = (ROOT / "configs" / "service.toml").read_text()
    text = (
        text.replace("[pool]\n", "[pool]\nfill = false\n")
        .replace("rate_requests_per_second = 200.0", "rate_requests_per_second = 1e9")
        .replace("rate_burst_requests = 400", "rate_burst_requests = 1000000000")
    )
    text = text.replace(
        "[server]\n",
        "[server]\nclients = 'clients.toml'\nrate_bytes_per_second = 1e12\n"
        "rate_burst_bytes = 1000000000000\n",
    )
    return text.replace('name = "vacuum"', 'name = "vac"').replace(
        'sources = ["vacuum"]', 'sources = ["vac"]'
    )


def report(
    results: dict[tuple[str, str], list[dict[str, float]]],
    sizes: tuple[tuple[str, int, int], ...],
    servers: tuple[tuple[str, int, bytes | None], ...],
) -> None:
    """Medians per server and size, then the per-repeat ratios with their spread."""
    print(
        f"{'size':6} {'server':14} {'req/s':>9} {'MB/s':>9} {'p50 ms':>8} {'p99 ms':>8}  (medians)"
    )
    for label, _, _ in sizes:
        for name, _, _ in servers:
            runs = results[(label, name)]
            med = {f: float(np.median([r[f] for r in runs])) for f in runs[0]}
            print(
                f"{label:6} {name:14} {med['rps']:9.0f} {med['mbps']:9.1f} "
                f"{med['p50_ms']:8.2f} {med['p99_ms']:8.2f}"
            )
    for label, _, _ in sizes:
        d, p = results[(label, servers[0][0])], results[(label, servers[1][0])]
        ratios = [a["rps"] / b["rps"] for a, b in zip(d, p, strict=True)]
        shown = " ".join(f"{r:.2f}" for r in ratios)
        print(
            f"{label}: diamp/plain req/s median {np.median(ratios):.2f} "
            f"(min {min(ratios):.2f}, max {max(ratios):.2f}; per repeat: {shown})"
        )


if __name__ == "__main__":
    main()
