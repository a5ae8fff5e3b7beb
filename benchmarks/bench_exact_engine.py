"""Whole-process Dodis extraction: diamp's exact (NTT) engine against cryptomite, m = N/2.

Each contender is a separate process invocation on the same packed bit files (MSB-first),
timed from start to exit, alternating, ``--repeat`` times in this one run; the medians and
their ratio are printed with the machine and its load average (other processes share the
cores, so compare only numbers from the same run), together with the CPU seconds each
process used (user + system; less sensitive to other load than wall time):

* ``diamp extract dodis X Y --bits N --m M -o OUT --engine exact -q`` (and, for reference,
  ``--engine fft``);
* a small script that reads the files with numpy, calls ``cryptomite.Dodis(N, M).extract``
  and writes the output, run by cryptomite's own interpreter. cryptomite is never a
  dependency of diamp (its licence forbids commercial use): install it in a separate venv,

      python3 -m venv /tmp/cryptovenv && /tmp/cryptovenv/bin/pip install cryptomite numpy

cryptomite needs N prime with primitive root 2 (it computes the cyclic-shift variant), so
N defaults to the largest such prime below 2^24, as in ``bench_dodis_baselines.py``. The
outputs differ (cyclic vs non-cyclic shifts); the work is the same kind.

    .venv/bin/python benchmarks/bench_exact_engine.py [--log-n 24] [--repeat 5] \
        [--baseline-src ../other-checkout/src]

Target (issue 14, item 7): the exact engine >= 10x faster than cryptomite at N ~ 2^24.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_dodis_baselines import prime_with_root_two_below

CRYPTOMITE_SCRIPT = """
import sys
import numpy as np
from cryptomite import Dodis
x_path, y_path, out = sys.argv[1], sys.argv[2], sys.argv[5]
n, m = int(sys.argv[3]), int(sys.argv[4])
x = np.unpackbits(np.fromfile(x_path, dtype=np.uint8))[:n].tolist()
y = np.unpackbits(np.fromfile(y_path, dtype=np.uint8))[:n].tolist()
bits = Dodis(n, m).extract(x, y)
np.packbits(np.array(bits, dtype=np.uint8)).tofile(out)
"""


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    python = platform.python_version()
    return f"{model}, {os.cpu_count()} cores, {platform.machine()}, Python {python}"


def load() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def timed(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """Wall seconds of one process invocation, and the CPU seconds (user + sys) it used."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return seconds, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--log-n", type=int, default=24)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--cryptomite-python", default="/tmp/cryptovenv/bin/python")
    parser.add_argument("--skip-fft", action="store_true", help="do not time --engine fft")
    parser.add_argument("--dir", type=Path, default=None, help="for the bit files (temp dir)")
    parser.add_argument(
        "--baseline-src",
        default=None,
        help="also time --engine exact with PYTHONPATH=DIR (another checkout's src), interleaved",
    )
    args = parser.parse_args()
    if not Path(args.cryptomite_python).exists():
        sys.exit(f"{args.cryptomite_python} not found; create the venv as the docstring says")
    n = prime_with_root_two_below(2**args.log_n)
    m = n // 2
    diamp = str(Path(sys.executable).with_name("diamp"))
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        work = Path(tmp)
        x, y = work / "x.bin", work / "y.bin"
        rng = np.random.default_rng(12345)
        for path in (x, y):
            data = np.frombuffer(rng.bytes((n + 7) // 8), dtype=np.uint8).copy()
            data[-1] &= (0xFF << (8 - n % 8)) & 0xFF if n % 8 else 0xFF
            data.tofile(path)
        script = work / "cryptomite_dodis.py"
        script.write_text(CRYPTOMITE_SCRIPT)

        def diamp_cmd(engine: str, out: str = "") -> list[str]:
            return [
                diamp, "extract", "dodis", str(x), str(y), "--bits", str(n), "--m", str(m),
                "-o", str(work / f"{out or engine}.bin"), "--engine", engine, "-q",
            ]  # fmt: skip

        contenders = {"diamp exact": diamp_cmd("exact")}
        envs: dict[str, dict[str, str] | None] = {}
        if args.baseline_src is not None:
            contenders["exact baseline"] = diamp_cmd("exact", "baseline")
            envs["exact baseline"] = dict(os.environ, PYTHONPATH=args.baseline_src)
        if not args.skip_fft:
            contenders["diamp fft"] = diamp_cmd("fft")
        contenders["cryptomite"] = [
            args.cryptomite_python, str(script), str(x), str(y), str(n), str(m),
            str(work / "cryptomite.bin"),
        ]  # fmt: skip
        print(f"machine: {machine()}")
        print(f"N = {n:,} (largest prime with primitive root 2 below 2^{args.log_n}), m = {m:,}")
        print(f"load average before: {load()}")
        for name in contenders:  # warm-up: numba's cache, the page cache
            if name != "cryptomite":
                timed(contenders[name], envs.get(name))
        times: dict[str, list[float]] = {name: [] for name in contenders}
        cpus: dict[str, list[float]] = {name: [] for name in contenders}
        for i in range(args.repeat):
            for name, cmd in contenders.items():
                wall, cpu = timed(cmd, envs.get(name))
                times[name].append(wall)
                cpus[name].append(cpu)
            print(
                f"  round {i + 1}: "
                + ", ".join(
                    f"{name} {times[name][-1]:.2f} s (cpu {cpus[name][-1]:.2f} s)"
                    for name in contenders
                )
                + f"  (load {load()})"
            )
        if not args.skip_fft:
            same = (work / "exact.bin").read_bytes() == (work / "fft.bin").read_bytes()
            print(f"exact and fft outputs identical: {same}")
        if args.baseline_src is not None:
            same = (work / "exact.bin").read_bytes() == (work / "baseline.bin").read_bytes()
            print(f"exact and baseline outputs identical: {same}")
    medians = {name: statistics.median(t) for name, t in times.items()}
    cpu_medians = {name: statistics.median(t) for name, t in cpus.items()}
    for name, value in medians.items():
        print(
            f"median {name:12s} {value:8.2f} s wall, {cpu_medians[name]:8.2f} s cpu "
            f"(whole process, {args.repeat} runs)"
        )
    ratio = medians["cryptomite"] / medians["diamp exact"]
    cpu_ratio = cpu_medians["cryptomite"] / cpu_medians["diamp exact"]
    print(f"cryptomite / diamp exact = {ratio:.1f}x wall (target >= 10x), {cpu_ratio:.1f}x cpu")
    if "exact baseline" in medians:
        before = medians["cryptomite"] / medians["exact baseline"]
        before_cpu = cpu_medians["cryptomite"] / cpu_medians["exact baseline"]
        print(f"cryptomite / exact baseline = {before:.1f}x wall, {before_cpu:.1f}x cpu")
    print(f"load average after: {load()}")


if __name__ == "__main__":
    main()
