"""Dask LocalCluster speed-up: 2 workers against 1 worker on the same Dodis extraction.

N = 2^30 bits per input from packed files, m = 2^22, the same FFT length for both runs;
the clusters are started (and warmed up) before the clock starts, so the ratio measures the
extraction, not process start-up. Target (issue 3): speed-up >= 1.6 on 2 cores.

    .venv/bin/python benchmarks/bench_dask_scaling.py [--log-n 30] [--dir /tmp/diamp-bench]
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np

from diamp.daq.bitfiles import PackedFileBits
from diamp.extractors.distributed import correlate_parity_dask, dask_client


def make_input(path: Path, nbytes: int, seed: int) -> Path:
    if not (path.exists() and path.stat().st_size == nbytes):
        rng = np.random.default_rng(seed)
        with open(path, "wb") as fh:
            for start in range(0, nbytes, 2**26):
                fh.write(rng.bytes(min(2**26, nbytes - start)))
    return path


def timed_run(
    workers: int, x: PackedFileBits, y: PackedFileBits, m: int, fft: int
) -> tuple[float, str]:
    with dask_client(workers=workers) as client:
        client.wait_for_workers(workers)
        correlate_parity_dask(client, x, y, 64, max_fft_length=2**16)  # warm up imports, numba
        started = time.perf_counter()
        result = correlate_parity_dask(client, x, y, m, max_fft_length=fft, workers_per_machine=2)
        return time.perf_counter() - started, result.output.sha256()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--log-n", type=int, default=30)
    parser.add_argument("--m", type=int, default=2**22)
    parser.add_argument("--fft", type=int, default=2**24)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/diamp-bench"))
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    nbytes = 2**args.log_n // 8
    x = PackedFileBits(make_input(args.dir / f"x{args.log_n}.bin", nbytes, 11))
    y = PackedFileBits(make_input(args.dir / f"y{args.log_n}.bin", nbytes, 12))
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores; N = 2^{args.log_n}, "
        f"m = {args.m:,}, FFT length {args.fft:,}"
    )
    one, sha1 = timed_run(1, x, y, args.m, args.fft)
    two, sha2 = timed_run(2, x, y, args.m, args.fft)
    print(f"1 worker  {one:7.1f} s")
    print(f"2 workers {two:7.1f} s   speed-up {one / two:.2f}x (target >= 1.6)")
    print(f"outputs identical: {sha1 == sha2} ({sha1})")


if __name__ == "__main__":
    main()
