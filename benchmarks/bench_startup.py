"""Start-up cost of diamp commands, whole process: help, version, and a tiny extraction.

Each contender is a separate process, timed from start to exit, the contenders alternating,
``--repeat`` rounds in this one run; medians and minima of wall time and CPU time (user +
system) are printed with the machine and its load average (other processes share the cores:
compare only numbers from the same run; CPU time is less sensitive to that load):

* ``python -c pass`` (the interpreter alone) and ``python -c "import numpy"``;
* ``diamp --help`` and ``diamp --version``;
* ``diamp extract dodis X Y --m 4096 -o OUT -q --engine exact`` (and ``fft``) on 4096-bit
  inputs: the extraction itself takes microseconds, so this is the command's fixed cost
  (imports, kernel load, file setup), printed also net of the interpreter's start. The kernels
  come from diamp's native code cache (``diamp.extractors._native``): run the command once
  before timing so that the cache exists (the benchmark does, untimed).

The processes run as an installed diamp does, from byte-code caches (``__pycache__``): the
benchmark drops ``PYTHONDONTWRITEBYTECODE`` from their environment, and the untimed warm-up
round writes the caches of an editable checkout (compiling ~20 modules from source costs
about 0.04 s per process).

With ``--baseline-src DIR`` every diamp contender also runs with ``PYTHONPATH=DIR`` (another
checkout's ``src``), interleaved with this one, and the ratios are printed. ``--breakdown``
adds one in-process measurement of where the exact extraction's fixed cost goes.

    PYTHONPATH=src .venv/bin/python benchmarks/bench_startup.py [--repeat 15]

Targets (issue 18, item 3): ``diamp --help`` < 0.3 s; ``diamp extract dodis`` fixed cost
< 0.3 s.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_exact_engine import load, machine

BREAKDOWN = """
import sys, time
marks = [("start", time.perf_counter(), time.process_time())]
def mark(name):
    marks.append((name, time.perf_counter(), time.process_time()))
import typer; mark("typer")
import diamp.cli; mark("diamp.cli (the entry point, no command)")
diamp.cli.build(["extract"]); mark("diamp extract registered (diamp.cli.extract)")
import numpy; mark("numpy")
from diamp.extractors._native import load; mark("native kernel loader")
load("diamp.extractors._bit_kernels"); mark("bit kernels (2, native code cache, llvmlite)")
load("diamp.extractors._ntt_kernels"); mark("NTT kernels (13, native code cache)")
for (_, w0, c0), (name, w1, c1) in zip(marks, marks[1:]):
    print(f"  {name:38s} {w1 - w0:6.3f} s wall {c1 - c0:6.3f} s cpu")
"""


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds of one process invocation, and the CPU seconds (user + sys) it used."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return seconds, cpu


def contenders(work: Path, baseline: str | None) -> dict[str, tuple[list[str], dict[str, str]]]:
    """Name -> (command, environment) of every process to time."""
    python = sys.executable
    diamp = str(Path(python).with_name("diamp"))
    x, y = work / "x.bin", work / "y.bin"
    x.write_bytes(os.urandom(512))
    y.write_bytes(os.urandom(512))
    # as installed: modules load from their byte-code caches (written by the warm-up round)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    runs: dict[str, tuple[list[str], dict[str, str]]] = {
        "python -c pass": ([python, "-c", "pass"], env),
        "python -c 'import numpy'": ([python, "-c", "import numpy"], env),
    }
    sources = [("", env)]
    if baseline is not None:
        sources.append((" [baseline]", dict(env, PYTHONPATH=baseline)))
    for label, source_env in sources:
        runs[f"diamp --help{label}"] = ([diamp, "--help"], source_env)
        runs[f"diamp --version{label}"] = ([diamp, "--version"], source_env)
        for engine in ("exact", "fft"):
            out = work / f"{engine}{len(label)}.bin"
            cmd = [diamp, "extract", "dodis", str(x), str(y), "--m", "4096", "-o", str(out)]
            runs[f"extract dodis tiny, {engine}{label}"] = (
                [*cmd, "-q", "--engine", engine],
                source_env,
            )
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--baseline-src", default=None, help="another checkout's src directory")
    parser.add_argument("--breakdown", action="store_true", help="where the fixed cost goes")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        runs = contenders(Path(tmp), args.baseline_src)
        print(f"machine: {machine()}")
        print(f"load average before: {load()}")
        for cmd, env in runs.values():  # warm-up: numba's cache, the page cache
            timed(cmd, env)
        walls: dict[str, list[float]] = {name: [] for name in runs}
        cpus: dict[str, list[float]] = {name: [] for name in runs}
        for _ in range(args.repeat):
            for name, (cmd, env) in runs.items():
                wall, cpu = timed(cmd, env)
                walls[name].append(wall)
                cpus[name].append(cpu)
    print(f"{args.repeat} rounds, seconds:          wall median (min)     cpu median (min)")
    for name in runs:
        w, c = walls[name], cpus[name]
        print(
            f"  {name:36s} {statistics.median(w):6.3f} ({min(w):6.3f})   "
            f"{statistics.median(c):6.3f} ({min(c):6.3f})"
        )
    interpreter = statistics.median(walls["python -c pass"])
    for engine in ("exact", "fft"):
        total = statistics.median(walls[f"extract dodis tiny, {engine}"])
        print(
            f"fixed cost of diamp extract dodis --engine {engine}: {total:.3f} s whole process, "
            f"{total - interpreter:.3f} s net of the interpreter's start (target < 0.3 s)"
        )
    help_time = statistics.median(walls["diamp --help"])
    print(f"diamp --help: {help_time:.3f} s (target < 0.3 s)")
    if args.baseline_src is not None:
        for name in runs:
            if name.endswith(" [baseline]"):
                mine = name.removesuffix(" [baseline]")
                ratio = statistics.median(walls[name]) / statistics.median(walls[mine])
                cpu = statistics.median(cpus[name]) / statistics.median(cpus[mine])
                print(f"baseline / this, {mine}: {ratio:.2f}x wall, {cpu:.2f}x cpu")
    print(f"load average after: {load()}")
    if args.breakdown:
        print("in-process breakdown of the exact extraction's fixed cost (one run):")
        subprocess.run([sys.executable, "-c", BREAKDOWN], check=True)


if __name__ == "__main__":
    main()
