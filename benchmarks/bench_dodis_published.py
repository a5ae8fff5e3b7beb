"""Dodis extraction at the published size, from packed files on disk.

N = 2,684,354,560 bits per input (2·20·2^26, as in the ETH experiment), m = the strict-bound
m of the published experiment (``diamp rate --n 1342177280 --mu 0.0075 --s-mu 0.00296``).
Runs ``diamp extract dodis`` as a child process and reports wall time and peak RSS against
the issue's budget (10 minutes, 6 GiB on 2 cores). Needs ~700 MB of disk in --dir.

    .venv/bin/python benchmarks/bench_dodis_published.py [--dir /tmp/diamp-bench] [--n N]
        [--engine fft|exact]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

from diamp.protocol.security import output_length

PUBLISHED_N = 2_684_354_560
BUDGET_SECONDS = 600
BUDGET_BYTES = 6 * 2**30


def make_input(path: Path, nbits: int, seed: int) -> None:
    if path.exists() and path.stat().st_size == nbits // 8:
        return
    rng = np.random.default_rng(seed)
    with open(path, "wb") as fh:
        for start in range(0, nbits // 8, 2**26):
            fh.write(rng.bytes(min(2**26, nbits // 8 - start)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=Path("/tmp/diamp-bench"))
    parser.add_argument("--n", type=int, default=PUBLISHED_N)
    parser.add_argument("--threads", type=int, default=None, help="default: diamp decides")
    parser.add_argument("--engine", default="fft", choices=["fft", "exact"])
    args = parser.parse_args()
    m = output_length(1_342_177_280, Fraction("0.0075"), Fraction("0.00296"), 1e-12).m
    args.dir.mkdir(parents=True, exist_ok=True)
    x, y, out = args.dir / "ab.bin", args.dir / "z.bin", args.dir / "key.bin"
    make_input(x, args.n, 1)
    make_input(y, args.n, 2)
    diamp = Path(sys.executable).with_name("diamp")
    cmd = [str(diamp), "extract", "dodis", str(x), str(y), "--m", str(m), "-o", str(out)]
    cmd += ["--json", "-q", "--engine", args.engine]
    cmd += [] if args.threads is None else ["--threads", str(args.threads)]
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores; N = {args.n:,}, m = {m:,}; "
        f"engine {args.engine}"
    )
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    if proc.returncode != 0:
        print(proc.stderr)
        raise SystemExit(proc.returncode)
    report = json.loads(proc.stdout)
    print(f"wall {wall:.1f} s (budget {BUDGET_SECONDS} s: {wall / BUDGET_SECONDS:.2f} of it)")
    print(f"peak RSS {peak / 2**30:.2f} GiB (budget 6 GiB: {peak / BUDGET_BYTES:.2f} of it)")
    print(
        f"extract {report['seconds']['extract']:.1f} s, self-check of "
        f"{len(report['checked_positions'])} bits {report['seconds']['verify']:.1f} s"
    )
    print(
        f"{report['exactness']}: transform length {report['fft_length']:,}, "
        f"block {report['block_bits']:,} bits, "
        f"round-off bound {report['roundoff_bound']:.3g}, max residual {report['max_residual']:.3g}"
    )
    print(f"output sha256 {report['output_sha256']}")


if __name__ == "__main__":
    main()
