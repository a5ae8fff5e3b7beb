"""Worst observed round-off of the FFT engine per backend and transform length.

For every power-of-two length L the FFT planner can use (16 … 2^26 by default), the FFT
engine (:func:`diamp.extractors.correlate.correlate_parity`) extracts a lag chunk of L/2
from two blocks of L/2 + 1 bits (forced with ``block_bits``/``lag_bits``, so every transform
has length L and two spectra may be summed before an inverse), for three adversarial
inputs: all ones (the largest sums), alternating 1010… and uniformly random. It reports the
largest distance of any computed sum from its nearest integer (``max_residual``: rounding
is exact while this stays below 0.5), how many times below 0.5 the worst of them stays, and
the engine's a-priori bound (which it keeps below 1/4). Every output is compared with the
exact (NTT) engine's.

Backends: every name in :data:`diamp.extractors.fft.BACKENDS` (those that do not import are
skipped and named), chosen with ``DIAMP_FFT`` in a child process each.

    .venv/bin/python benchmarks/fft_roundoff.py [--max-log 26] [--backends numpy ducc0 mkl]

Prints a Markdown table (for docs/extractors.md) and the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

from diamp.extractors.fft import BACKENDS

CHILD = """
import json, sys
import numpy as np
from diamp.extractors.bits import PackedBits
from diamp.extractors.correlate import correlate_parity
from diamp.extractors.fft import fft_backend
from diamp.extractors.ntt import correlate_parity_exact

length = int(sys.argv[1])
block, lag = length // 2 + 1, length // 2
n = 2 * block

def packed(pattern, seed):
    if pattern == "ones":
        data = np.full((n + 7) // 8, 0xFF, dtype=np.uint8)
    elif pattern == "alternating":
        data = np.full((n + 7) // 8, 0b10101010, dtype=np.uint8)
    else:
        data = np.frombuffer(np.random.default_rng(seed).bytes((n + 7) // 8), np.uint8).copy()
    if n % 8:
        data[-1] &= (0xFF << (8 - n % 8)) & 0xFF
    return PackedBits(data, n)

rows = {}
for pattern in ("ones", "alternating", "random"):
    x, y = packed(pattern, length), packed(pattern, length + 1)
    r = correlate_parity(x, y, lag, block_bits=block, lag_bits=lag, max_fft_length=length)
    assert r.fft_length == length
    same = r.output == correlate_parity_exact(x, y, lag).output
    rows[pattern] = {"residual": r.max_residual, "bound": r.error_bound, "exact_equal": same}
print(json.dumps({"backend": fft_backend().name, "rows": rows}))
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
    return f"{model}, {os.cpu_count()} cores, {platform.machine()}"


def _headroom(worst: float) -> str:
    """How many times below 0.5 (where rounding would fail) the worst residual stays."""
    return "∞ (all sums exact)" if worst == 0 else f"{0.5 / worst:.1e}"


def measure(backend: str, length: int) -> dict[str, object] | None:
    env = {**os.environ, "DIAMP_FFT": backend}
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(length)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if proc.returncode != 0:
        if "is not installed" in proc.stderr:
            return None
        raise RuntimeError(proc.stderr[-2000:])
    result: dict[str, object] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--min-log", type=int, default=4)
    parser.add_argument("--max-log", type=int, default=26)
    parser.add_argument("--backends", nargs="+", default=list(BACKENDS))
    args = parser.parse_args()
    print(f"machine: {machine()}, Python {platform.python_version()}\n")
    print(
        "| backend | L | worst residual (ones / 1010… / random) | 0.5 / worst "
        "| a-priori bound (ones) | bits equal the exact engine |"
    )
    print("|---|---|---|---|---|---|")
    for backend in args.backends:
        for log in range(args.min_log, args.max_log + 1):
            found = measure(backend, 2**log)
            if found is None:
                print(f"| {backend} | — | not installed | | | |")
                break
            rows: dict[str, dict[str, float | bool]] = found["rows"]  # type: ignore[assignment]
            worst = max(float(r["residual"]) for r in rows.values())
            residuals = " / ".join(f"{float(r['residual']):.2e}" for r in rows.values())
            equal = all(bool(r["exact_equal"]) for r in rows.values())
            print(
                f"| {found['backend']} | 2^{log} | {residuals} | {_headroom(worst)} "
                f"| {float(rows['ones']['bound']):.2e} | {'yes' if equal else 'NO'} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
