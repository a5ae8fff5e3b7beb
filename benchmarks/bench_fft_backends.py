"""FFT backends (numpy, scipy, ducc0, pyFFTW, MKL) at the engine's planned lengths, vs MKL.

Three measurements, each optional:

- ``--lengths``: one block step of the correlation engine (two in-place real transforms and
  an inverse, through :mod:`diamp.extractors.fft` exactly as the engine calls them) at the
  power-of-two lengths the planner uses (2^20 … 2^26; the published Dodis plans 2^26).
  Backends interleaved round by round; medians, and ratios against MKL's median.
- ``--dodis N``: ``diamp extract dodis`` of N-bit random inputs (the published N =
  2,684,354,560 with ``--dodis published``) with ``DIAMP_FFT`` set to each backend, rounds
  interleaved; wall time, ratio to MKL, and whether every backend wrote the same key.
- ``--sizes``: installed size (``du -sm``) of throwaway venvs in /tmp: the core install
  (``pip install -c constraints.txt -e .``, MKL included on x86_64), that venv without MKL
  (numpy's own FFT; scipy is no longer in the core), with each other candidate backend
  (scipy included), and with each extra.

Backends that do not import are skipped and named. Run on purpose:

    .venv/bin/python benchmarks/bench_fft_backends.py --lengths 20 22 24 26 --rounds 5
    .venv/bin/python benchmarks/bench_fft_backends.py --dodis published --rounds 1
    .venv/bin/python benchmarks/bench_fft_backends.py --sizes
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

from diamp.extractors.fft import AUTO_ORDER, fft_backend

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_dodis_published import make_input

ROOT = Path(__file__).resolve().parents[1]
PUBLISHED_N = 2_684_354_560
BASELINE = "mkl"
EXTRA_PACKAGES = {"ducc0": "ducc0", "pyfftw": "pyfftw", "scipy": "scipy"}
MKL_PACKAGES = ["mkl_fft", "mkl", "intel-openmp", "intel-cmplr-lib-ur", "tbb", "tcmlib", "umf"]


def available() -> list[str]:
    names = []
    for name in AUTO_ORDER:
        try:
            fft_backend(name)
        except Exception as err:  # report any failing backend and go on
            print(f"skipped {name}: {err}")
        else:
            names.append(name)
    return names


def block_step(name: str, length: int) -> float:
    """Seconds for rfft(x), rfft(y) in place and one inverse, as the engine runs them."""
    fft = fft_backend(name)
    rng = np.random.default_rng(length)
    fx = np.zeros(length // 2 + 1, np.complex128)
    fy = np.zeros_like(fx)
    rx, ry = fx.view(np.float64)[:length], fy.view(np.float64)[:length]
    rx[:] = rng.integers(0, 2, length)
    ry[:] = rng.integers(0, 2, length)
    started = time.perf_counter()
    fft.rfft(rx, length, out=fx)
    fft.rfft(ry, length, out=fy)
    fx *= fy.conj()
    fft.irfft(fx, length, out=ry)
    return time.perf_counter() - started


def bench_lengths(names: list[str], logs: list[int], rounds: int) -> None:
    print("| L | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    for log in logs:
        times: dict[str, list[float]] = {name: [] for name in names}
        for name in names:
            block_step(name, 1 << log)  # warm-up: plans, twiddles, page faults
        for _ in range(rounds):
            for name in names:
                times[name].append(block_step(name, 1 << log))
        medians = {name: statistics.median(t) for name, t in times.items()}
        base = medians.get(BASELINE)
        cells = [
            f"{medians[n] * 1e3:.0f} ms" + (f" ({medians[n] / base:.2f}x)" if base else "")
            for n in names
        ]
        print(f"| 2^{log} | " + " | ".join(cells) + " |", flush=True)


def bench_dodis(names: list[str], nbits: int, rounds: int, workdir: Path) -> None:
    from diamp.protocol.security import output_length

    m = output_length(nbits // 2, Fraction("0.0075"), Fraction("0.00296"), 1e-12).m
    workdir.mkdir(parents=True, exist_ok=True)
    x, y = workdir / "ab.bin", workdir / "z.bin"
    make_input(x, nbits, 1)
    make_input(y, nbits, 2)
    diamp = Path(sys.executable).with_name("diamp")
    print(f"Dodis: N = {nbits:,} bits, m = {m:,}")
    walls: dict[str, list[float]] = {name: [] for name in names}
    keys: dict[str, set[str]] = {name: set() for name in names}
    for _ in range(rounds):
        for name in names:
            out = workdir / f"key-{name}.bin"
            cmd = [str(diamp), "extract", "dodis", str(x), str(y), "--m", str(m), "-o", str(out)]
            cmd += ["--json", "-q", "--engine", "fft"]
            started = time.perf_counter()
            env = {**os.environ, "DIAMP_FFT": name}
            proc = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
            wall = time.perf_counter() - started
            if proc.returncode != 0:
                raise SystemExit(f"{name}: {proc.stderr.strip()}")
            report = json.loads(proc.stdout)
            walls[name].append(wall)
            keys[name].add(hashlib.sha256(out.read_bytes()).hexdigest())
            print(
                f"  {name}: {wall:.1f} s (L = {report['fft_length']:,}, "
                f"max residual {report['max_residual']:.3g})",
                flush=True,
            )
    base = statistics.median(walls[BASELINE]) if BASELINE in walls else None
    for name in names:
        wall = statistics.median(walls[name])
        ratio = f", {wall / base:.2f}x {BASELINE}" if base else ""
        print(f"{name}: median {wall:.1f} s over {rounds} round(s){ratio}")
    digests = set().union(*keys.values())
    print(f"keys identical across backends: {len(digests) == 1} ({sorted(digests)[0][:16]}…)")


def du_mb(path: Path) -> int:
    return int(subprocess.run(["du", "-sm", str(path)], capture_output=True, text=True,
                              check=True).stdout.split()[0])  # fmt: skip


def pip(venv: Path, *args: str) -> None:
    constraints = str(ROOT / "constraints.txt")
    cmd = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "-c", constraints]
    subprocess.run([*cmd, *args], check=True)


def bench_sizes(base: Path) -> None:
    core = base / "core"
    shutil.rmtree(base, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(core)], check=True)
    pip(core, "-e", str(ROOT))
    print(f"core install (MKL included on x86_64): {du_mb(core)} MB")
    lean = base / "core-without-mkl"
    shutil.copytree(core, lean, symlinks=True)
    python = str(lean / "bin" / "python")
    subprocess.run([python, "-m", "pip", "uninstall", "-q", "-y", *MKL_PACKAGES], check=False)
    print(f"core without MKL (numpy's FFT only): {du_mb(lean)} MB")
    for name, package in EXTRA_PACKAGES.items():
        venv = base / f"lean-{name}"
        shutil.copytree(lean, venv, symlinks=True)
        pip(venv, package)
        print(f"core without MKL + {name} ({package}): {du_mb(venv)} MB")
    for extra in ("service", "dask", "lab", "all"):
        venv = base / f"core-{extra}"
        shutil.copytree(core, venv, symlinks=True)
        pip(venv, "-e", f"{ROOT}[{extra}]")
        print(f"core + [{extra}]: {du_mb(venv)} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", type=int, nargs="*", help="log2 of the transform lengths")
    parser.add_argument("--dodis", help="input bits, or 'published'")
    parser.add_argument("--sizes", action="store_true")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--backends", nargs="+", help="default: every installed backend")
    parser.add_argument("--dir", type=Path, default=Path("/tmp/diamp-fft-bench"))
    args = parser.parse_args()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, load "
        f"{os.getloadavg()[0]:.1f}; Python {platform.python_version()}, numpy {np.__version__}"
    )
    names = [n for n in available() if args.backends is None or n in args.backends]
    if args.lengths:
        bench_lengths(names, args.lengths, args.rounds)
    if args.dodis:
        nbits = PUBLISHED_N if args.dodis == "published" else int(args.dodis)
        bench_dodis(names, nbits, args.rounds, args.dir)
    if args.sizes:
        bench_sizes(args.dir / "venvs")


if __name__ == "__main__":
    main()
