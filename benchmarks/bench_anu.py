"""What the ANU-compatible JSON costs next to raw bytes, on one `diamp serve`, in the same run.

Starts ``diamp serve`` (pool prefilled with random bytes, pipeline off, the "standard" tier
public, rate limits out of the way) and drives it with the light keep-alive client of
``bench_service.py``: the same 1024 bytes per request as

* ``GET /v1/random?bytes=1024`` (signed; answered by the pure ASGI fast path),
* ``GET /v1/random/json?length=1024`` (signed; the ANU route, uint8),
* ``GET /API/jsonI.php?length=1024`` (unsigned, public tier; uint8),
* ``GET /API/jsonI.php?length=1&type=hex16&size=1024`` (unsigned; one hex string).

The four are run R times in rotated order, so load from other processes falls on all of
them; the ratio to the raw route is reported per repeat with its median, min and max.

    .venv/bin/python benchmarks/bench_anu.py [--count 3000] [--conns 8] [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_service import bench_config, drive_requests, prefill, requests_for, start
from diamp.service.keys import add_client

ROUTES = (
    ("raw /v1/random", "/v1/random?bytes=1024", True),
    ("json signed", "/v1/random/json?length=1024", True),
    ("ANU public uint8", "/API/jsonI.php?length=1024", False),
    ("ANU public hex16", "/API/jsonI.php?length=1&type=hex16&size=1024", False),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=3000, help="requests per route and run")
    parser.add_argument("--conns", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}"
    )
    text = bench_config().replace(
        'name = "standard"\nsources = ["vac"]\n',
        'name = "standard"\nsources = ["vac"]\npublic = true\n',
    )
    text = text.replace(
        "[server]\n",
        "[server]\npublic_rate_requests_per_second = 1e9\npublic_rate_burst_requests = 1000000000\n"
        "public_rate_bytes_per_second = 1e12\npublic_rate_burst_bytes = 1000000000000\n",
    )
    results: dict[str, list[dict[str, float]]] = {}
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        key = add_client(tmp / "clients.toml", "bench")
        (tmp / "service.toml").write_text(text)
        prefill(
            tmp / "service-pool.sqlite", args.repeats * len(ROUTES) * args.count * 1024 + (4 << 20)
        )
        proc, port = start(
            [sys.executable, "-c", "from diamp.cli import main; main()", "serve",
             str(tmp / "service.toml"), "--port", "0"],
            tmp / "diamp.log",
        )  # fmt: skip
        try:
            for _, path, signed in ROUTES:  # warm-up
                drive_requests(port, requests_for(port, path, 200, key if signed else None), 4)
            for rep in range(args.repeats):
                order = ROUTES[rep % len(ROUTES) :] + ROUTES[: rep % len(ROUTES)]
                for name, path, signed in order:
                    reqs = requests_for(port, path, args.count, key if signed else None)
                    results.setdefault(name, []).append(drive_requests(port, reqs, args.conns))
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    base = results[ROUTES[0][0]]
    print(f"{'route':<20} {'req/s (median)':>15} {'p50 ms':>8} {'p99 ms':>8}   ratio to raw")
    for name, _, _ in ROUTES:
        runs = results[name]
        ratios = [r["rps"] / b["rps"] for r, b in zip(runs, base, strict=True)]
        print(
            f"{name:<20} {statistics.median(r['rps'] for r in runs):>15.0f} "
            f"{statistics.median(r['p50_ms'] for r in runs):>8.2f} "
            f"{statistics.median(r['p99_ms'] for r in runs):>8.2f}   "
            f"{statistics.median(ratios):.2f} (min {min(ratios):.2f}, max {max(ratios):.2f})"
        )


if __name__ == "__main__":
    main()
