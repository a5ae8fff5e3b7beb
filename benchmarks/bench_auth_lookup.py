"""Cost of the reloading client registry on the request path, next to a fixed key mapping.

Verifies N fresh RFC 9421 signatures (signed ahead, not counted) with a
:class:`~diamp.service.auth.Verifier` over a fixed mapping (what the server did before the
registry) and over a :class:`~diamp.service.clients.ClientRegistry` reading a real clients
file (``interval`` 1 s, as served), interleaved R times so that load from other processes
falls on both; prints µs per request and the ratio per repeat (median, min, max). Then the
``x-api-key`` lookup, which compares against every client's key, for 10, 100 and 1000
clients.

    .venv/bin/python benchmarks/bench_auth_lookup.py [--requests 20000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

from diamp.service.auth import RequestParts, Verifier, sign_request
from diamp.service.clients import ClientRegistry
from diamp.service.keys import add_client, api_key

PARTS = RequestParts("GET", "127.0.0.1:8443", "/v1/random", "?bytes=32")


def signed(key: bytes, n: int) -> list[dict[str, str]]:
    now = int(time.time())
    out = []
    for _ in range(n):
        h = sign_request(key, "alice", PARTS, created=now, nonce=os.urandom(16).hex())
        out.append({"signature-input": h["Signature-Input"], "signature": h["Signature"]})
    return out


def per_request(verifier: Verifier, requests: list[dict[str, str]]) -> float:
    start = time.perf_counter()
    for headers in requests:
        verifier.verify(headers, PARTS)
    return (time.perf_counter() - start) / len(requests) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(f"# {platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}")
    with tempfile.TemporaryDirectory() as tmp:
        clients = Path(tmp) / "clients.toml"
        key = add_client(clients, "alice")
        for i in range(99):
            add_client(clients, f"c{i}")
        time.sleep(2.1)  # past the fresh-file window: the steady state
        ratios = []
        for r in range(args.repeats):
            fixed = Verifier({"alice": key})
            registry = Verifier(ClientRegistry(clients))
            runs = [("fixed", fixed), ("registry", registry)]
            times = {}
            for name, v in runs if r % 2 == 0 else runs[::-1]:
                times[name] = per_request(v, signed(key, args.requests))
            ratios.append(times["registry"] / times["fixed"])
            print(f"repeat {r}: fixed {times['fixed']:.2f} µs, registry "
                  f"{times['registry']:.2f} µs, ratio {ratios[-1]:.3f}")  # fmt: skip
        print(f"signature verify, registry/fixed: median {statistics.median(ratios):.3f}, "
              f"min {min(ratios):.3f}, max {max(ratios):.3f}")  # fmt: skip
        for n in (10, 100, 1000):
            many = Path(tmp) / f"many{n}.toml"
            keys = [add_client(many, f"c{i}") for i in range(n)]
            registry_n = ClientRegistry(many, interval=3600)
            value = api_key(keys[-1]).hex()
            count = max(200, args.requests // n)
            start = time.perf_counter()
            for _ in range(count):
                registry_n.api_client(value)
            us = (time.perf_counter() - start) / count * 1e6
            print(f"x-api-key lookup, {n} clients: {us:.1f} µs per request")


if __name__ == "__main__":
    main()
