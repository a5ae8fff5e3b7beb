"""Acquisition throughput into the trial store (simulated lab, station included).

Runs ``diamp.protocol.acquire.acquire`` on ``configs/eth-2024-sim.toml`` with a chosen number
of 2^26-trial blocks and reports trials/s and peak RSS, against the issue-5 target of
10 M trials/s (20 x 2^26 trials in under 3 minutes) on 2 cores.

    .venv/bin/python benchmarks/bench_acquire.py [--blocks 20] [--dir /tmp/diamp-bench]
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import time
from pathlib import Path

from diamp.config import load_config, parse_config
from diamp.protocol.run import acquire

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "eth-2024-sim.toml"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=20)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/diamp-bench"))
    args = parser.parse_args()
    text = CONFIG.read_text().replace("blocks = 20\n", f"blocks = {args.blocks}\n")
    loaded = parse_config(text, str(CONFIG))  # path kept: instruments/ resolve beside it
    load_config(CONFIG)  # the shipped config itself must validate
    args.dir.mkdir(parents=True, exist_ok=True)
    store = args.dir / "acquire.h5"
    store.unlink(missing_ok=True)
    n = loaded.config.n_trials
    started = time.perf_counter()
    acquire(loaded, store, "bench")
    wall = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; {args.blocks} blocks, n = {n:,}")
    print(
        f"acquisition incl. Z: {wall:.1f} s, {n / wall / 1e6:.1f} M trials/s "
        f"(target 10 M/s: {n / wall / 1e7:.1f}x), peak RSS {peak:.2f} GiB, "
        f"store {store.stat().st_size / 2**30:.2f} GiB"
    )
    store.unlink()


if __name__ == "__main__":
    main()
