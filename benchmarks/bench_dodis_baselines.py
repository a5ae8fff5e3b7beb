"""Dodis extraction against cryptomite and a plain whole-array numpy FFT, m = N/2.

cryptomite (https://pypi.org/project/cryptomite/) is installed into its own virtual
environment (``benchmarks/.venv-cryptomite``), never into diamp's: its licence forbids
commercial use. It needs n prime with primitive root 2, so every contender runs at the
largest such prime <= N. Each contender runs in a child process; wall time of the
extraction and the child's peak RSS are reported, with ratios from this one run.

    .venv/bin/python benchmarks/bench_dodis_baselines.py [--sizes 24 26] [--skip-cryptomite]

Targets (issue 3): diamp >= 20x faster than cryptomite with <= 1/3 of its peak memory.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import venv
from pathlib import Path

HERE = Path(__file__).resolve().parent
CRYPTOMITE_VENV = HERE / ".venv-cryptomite"

SETUP = """
import json, resource, sys, time
import numpy as np
n, m = int(sys.argv[1]), int(sys.argv[2])
rng = np.random.default_rng(12345)
x = rng.integers(0, 2, n, dtype=np.uint8)
y = rng.integers(0, 2, n, dtype=np.uint8)
"""

CHILDREN = {
    "cryptomite": SETUP
    + """
from cryptomite import Dodis
xl, yl = x.tolist(), y.tolist()
t0 = time.perf_counter()
out = Dodis(n, m).extract(xl, yl)
print(json.dumps({"seconds": time.perf_counter() - t0, "bits": len(out),
                  "peak_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
""",
    "numpy-whole-array": SETUP
    + """
t0 = time.perf_counter()
length = 1 << (2 * n - 1).bit_length()
fx = np.fft.rfft(x.astype(np.float64), length)
fy = np.fft.rfft(y.astype(np.float64), length)
corr = np.fft.irfft(np.conj(fx) * fy, length)[:m]
out = (np.rint(corr).astype(np.int64) & 1).astype(np.uint8)
print(json.dumps({"seconds": time.perf_counter() - t0, "bits": int(out.size),
                  "peak_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
""",
    "diamp": SETUP
    + """
from diamp.extractors.bits import PackedBits
from diamp.extractors.dodis import dodis_extract
xp, yp = PackedBits.from_bits(x), PackedBits.from_bits(y)
del x, y
t0 = time.perf_counter()
out = dodis_extract(xp, yp, m)  # default: the FFT backend decides the threads
print(json.dumps({"seconds": time.perf_counter() - t0, "bits": len(out.output),
                  "peak_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
""",
}


def prime_with_root_two_below(limit: int) -> int:
    """Largest prime p <= limit for which 2 is a primitive root (cryptomite's requirement)."""

    def is_prime(p: int) -> bool:
        if p < 2 or p % 2 == 0:
            return p == 2
        d, s = p - 1, 0
        while d % 2 == 0:
            d //= 2
            s += 1
        for a in (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37):
            x = pow(a, d, p)
            if x in (1, p - 1) or a % p == 0:
                continue
            for _ in range(s - 1):
                x = x * x % p
                if x == p - 1:
                    break
            else:
                return False
        return True

    def factors(k: int) -> set[int]:
        out, f = set(), 2
        while f * f <= k:
            while k % f == 0:
                out.add(f)
                k //= f
            f += 1
        if k > 1:
            out.add(k)
        return out

    p = limit
    while True:
        if is_prime(p) and all(pow(2, (p - 1) // q, p) != 1 for q in factors(p - 1)):
            return p
        p -= 1


def cryptomite_python() -> str:
    python = CRYPTOMITE_VENV / "bin" / "python"
    if not python.exists():
        venv.create(CRYPTOMITE_VENV, with_pip=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "cryptomite==0.3.0", "numpy"], check=True
        )
    return str(python)


def run_child(python: str, code: str, n: int, m: int) -> dict[str, float]:
    proc = subprocess.run(
        [python, "-c", code, str(n), str(m)], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-2000:])
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["peak_gib"] = result["peak_kib"] * 1024 / 2**30  # the child's own peak RSS
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[24, 26])
    parser.add_argument("--skip-cryptomite", action="store_true")
    args = parser.parse_args()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, python {platform.python_version()}"
    )
    for log_n in args.sizes:
        n = prime_with_root_two_below(2**log_n)
        m = n // 2
        print(f"\nN = {n:,} (largest prime with primitive root 2 below 2^{log_n}), m = {m:,}")
        results = {"diamp": run_child(sys.executable, CHILDREN["diamp"], n, m)}
        results["numpy-whole-array"] = run_child(
            sys.executable, CHILDREN["numpy-whole-array"], n, m
        )
        if not args.skip_cryptomite:
            results["cryptomite"] = run_child(cryptomite_python(), CHILDREN["cryptomite"], n, m)
        ours = results["diamp"]
        for name, r in results.items():
            speed = r["seconds"] / ours["seconds"]
            memory = r["peak_gib"] / ours["peak_gib"]
            print(
                f"  {name:18s} {r['seconds']:8.2f} s  peak {r['peak_gib']:6.2f} GiB   "
                f"diamp is {speed:5.1f}x faster, uses {1 / memory:4.2f} of its memory"
            )


if __name__ == "__main__":
    main()
