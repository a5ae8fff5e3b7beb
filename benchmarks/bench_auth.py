"""Cost of verifying one RFC 9421 request signature: this tree against a baseline verifier.

The baseline is another version of ``diamp/service/auth.py`` (e.g. the one on ``main``,
``git show main:src/diamp/service/auth.py > /tmp/auth_main.py``), loaded beside this tree's
under another module name. Both verify the same requests, signed ahead of time by diamp's
client with a fresh nonce each, so only verification is measured (parsing, signature base,
HMAC, replay cache). The two are measured R times, interleaved, the order alternating, so
load from other processes falls on both; the ratio is reported per repeat with its median.

    .venv/bin/python benchmarks/bench_auth.py --baseline /tmp/auth_main.py [-n 20000] [-r 7]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import statistics
import sys
import time
from typing import Any

from diamp.service.auth import RequestParts, Verifier, sign_request


def _load(path: str) -> Any:
    spec = importlib.util.spec_from_file_location("baseline_auth", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules["baseline_auth"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def _requests(n: int, now: int, parts: RequestParts) -> list[dict[str, str]]:
    return [
        {k.lower(): v for k, v in sign_request(
            b"a" * 32, "alice", parts, created=now, nonce=os.urandom(16).hex()).items()}
        for _ in range(n)
    ]  # fmt: skip


def _run(verifier: Any, parts: Any, batch: list[dict[str, str]]) -> float:
    start = time.perf_counter()
    for headers in batch:
        verifier.verify(headers, parts)
    return (time.perf_counter() - start) / len(batch)


def main() -> None:
    """Print µs per verification for both verifiers and the ratio, per repeat."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--baseline", required=True)
    ap.add_argument("-n", type=int, default=20_000)
    ap.add_argument("-r", type=int, default=7)
    args = ap.parse_args()
    base = _load(args.baseline)
    now = int(time.time())
    parts = RequestParts("GET", "127.0.0.1:8443", "/v1/random", "?bytes=32&format=hex")
    old_parts = base.RequestParts("GET", "127.0.0.1:8443", "/v1/random", "?bytes=32&format=hex")
    print(f"python {sys.version.split()[0]} on {platform.machine()}, {os.cpu_count()} cpus")
    ratios = []
    for r in range(args.r):
        keys = {"alice": b"a" * 32}
        new_v = Verifier(keys, clock=lambda: now)
        old_v = base.Verifier(keys, clock=lambda: now)
        new_v.started = old_v.started = now - 1
        batches = (_requests(args.n, now, parts), _requests(args.n, now, parts))
        if r % 2:
            t_new = _run(new_v, parts, batches[0])
            t_old = _run(old_v, old_parts, batches[1])
        else:
            t_old = _run(old_v, old_parts, batches[1])
            t_new = _run(new_v, parts, batches[0])
        ratios.append(t_new / t_old)
        print(f"repeat {r}: baseline {t_old * 1e6:.1f} us, this tree {t_new * 1e6:.1f} us, "
              f"ratio {t_new / t_old:.2f}")  # fmt: skip
    print(f"ratio this/baseline: median {statistics.median(ratios):.2f}, "
          f"min {min(ratios):.2f}, max {max(ratios):.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
