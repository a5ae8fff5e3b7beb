"""SP 800-22 suite throughput, against a straightforward numpy baseline measured in the same run.

Run on purpose (not part of the test suite):

    PYTHONPATH=src .venv/bin/python benchmarks/bench_sp800_22.py [--sequences 100 1000]
        [--length 1000000] [--workers 2]

Targets: 100 × 1 Mbit in <= 60 s wall on 2 cores; 1000 × 1 Mbit in <= 10 min. (The
reference sts-2.1.2 needs about 740 CPU-s for 100 × 1 Mbit.)

Baseline: the slow tests written the straightforward way with numpy — template matching by
comparing sliding windows per template, Berlekamp–Massey with numpy vector steps, GF(2)
elimination on uint8 matrices, pattern counts from sliding-window dot products, excursions
by splitting the walk at its zeros — timed single-threaded on one sequence (Linear
Complexity on 100 of its 2000 blocks, scaled), and checked to give the same statistics.
"""

from __future__ import annotations

import argparse
import os
import platform
import threading
import time
from collections.abc import Callable
from typing import Any

import numba
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from diamp.analysis.sp800_22 import TEST_NAMES, Sp80022Params, run_suite
from diamp.analysis.sp800_22.excursions import excursion_stats
from diamp.analysis.sp800_22.linear import linear_complexities, matrix_ranks
from diamp.analysis.sp800_22.patterns import pattern_counts
from diamp.analysis.sp800_22.sequence import evaluate_sequence
from diamp.analysis.sp800_22.templates import reference_templates, template_counts

LC_BLOCKS = 100  # Linear Complexity baseline: blocks timed (of 2000), then scaled


def naive_template_counts(bits: np.ndarray, m: int = 9) -> np.ndarray:
    block = bits.size // 8
    out = np.zeros((8, reference_templates(m).size), dtype=np.int64)
    for i in range(8):
        windows = sliding_window_view(bits[i * block : (i + 1) * block], m)
        for t, value in enumerate(reference_templates(m)):
            pattern = np.array([(int(value) >> (m - 1 - j)) & 1 for j in range(m)], np.uint8)
            out[i, t] = int(np.count_nonzero((windows == pattern).all(axis=1)))
    return out


def naive_berlekamp_massey(s: np.ndarray) -> int:
    n = s.size
    c = np.zeros(n + 1, dtype=np.uint8)
    b = np.zeros(n + 1, dtype=np.uint8)
    c[0] = b[0] = 1
    length, m = 0, -1
    for k in range(n):
        d = (int(s[k]) + int(np.dot(c[1 : length + 1], s[k - length : k][::-1]))) & 1
        if d:
            t = c.copy()
            shift = k - m
            c[shift:] ^= b[: n + 1 - shift]
            if 2 * length <= k:
                length, m, b = k + 1 - length, k, t
    return length


def naive_ranks(bits: np.ndarray) -> np.ndarray:
    count = bits.size // 1024
    out = np.zeros(count, dtype=np.int64)
    for k in range(count):
        a = bits[k * 1024 : (k + 1) * 1024].reshape(32, 32).copy()
        r = 0
        for col in range(32):
            rows = np.flatnonzero(a[r:, col]) + r
            if rows.size == 0:
                continue
            a[[r, rows[0]]] = a[[rows[0], r]]
            below = np.flatnonzero(a[r + 1 :, col]) + r + 1
            a[below] ^= a[r]
            r += 1
            if r == 32:
                break
        out[k] = r
    return out


def naive_pattern_counts(bits: np.ndarray, m: int) -> np.ndarray:
    ext = np.concatenate([bits, bits[: m - 1]]).astype(np.int64)
    weights = 1 << np.arange(m - 1, -1, -1, dtype=np.int64)
    values = sliding_window_view(ext, m) @ weights
    return np.bincount(values, minlength=1 << m)


def naive_excursions(bits: np.ndarray) -> tuple[int, np.ndarray]:
    walk = np.cumsum(2 * bits.astype(np.int64) - 1)
    cycles = [c[c != 0] for c in np.split(walk, np.flatnonzero(walk == 0) + 1)]
    cycles = [c for c in cycles if c.size]
    states = (-4, -3, -2, -1, 1, 2, 3, 4)
    nu = np.zeros((6, 8), dtype=np.int64)
    for c in cycles:
        for i, x in enumerate(states):
            nu[min(int(np.count_nonzero(c == x)), 5), i] += 1
    return len(cycles), nu


def timed(fn: Callable[[], Any], repeat: int = 1) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def baseline(bits: np.ndarray, ours: dict[str, float]) -> dict[str, tuple[float, float]]:
    """Test → (baseline seconds, diamp seconds) for one sequence, same statistics checked."""
    out: dict[str, tuple[float, float]] = {}
    t, counts = timed(lambda: naive_template_counts(bits))
    assert np.array_equal(counts, template_counts(bits, 9, bits.size // 8, 8))
    out["NonOverlappingTemplate"] = (t, ours["NonOverlappingTemplate"])
    sub = bits[: LC_BLOCKS * 500]
    t, lcs = timed(
        lambda: [naive_berlekamp_massey(sub[i * 500 : (i + 1) * 500]) for i in range(LC_BLOCKS)]
    )
    assert lcs == linear_complexities(sub, 500).tolist()
    out["LinearComplexity"] = (t * (bits.size // 500) / LC_BLOCKS, ours["LinearComplexity"])
    t, ranks = timed(lambda: naive_ranks(bits))
    assert np.array_equal(ranks, matrix_ranks(bits))
    out["Rank"] = (t, ours["Rank"])
    t, naive = timed(lambda: [naive_pattern_counts(bits, m) for m in (16, 15, 14, 11, 10)])
    fast = pattern_counts(bits, 16)
    assert all(np.array_equal(a, fast[m]) for a, m in zip(naive, (16, 15, 14, 11, 10), strict=True))
    out["Serial+ApproximateEntropy"] = (t, ours["Serial"] + ours["ApproximateEntropy"])
    t, (cycles, nu) = timed(lambda: naive_excursions(bits))
    stats = excursion_stats(bits)
    assert cycles == stats.cycles and np.array_equal(nu, stats.nu)
    out["RandomExcursions"] = (t, ours["RandomExcursions"] + ours["RandomExcursionsVariant"])
    return out


def machine() -> str:
    model = platform.processor() or "?"
    try:
        with open("/proc/cpuinfo") as f:
            model = next(
                line.split(":", 1)[1].strip() for line in f if line.startswith("model name")
            )
    except (OSError, StopIteration):
        pass
    return (
        f"{model}; {len(os.sched_getaffinity(0))} cores available; Python "
        f"{platform.python_version()}, numpy {np.__version__}, numba {numba.__version__}"
    )


def peak_rss_mib(pid: int | str = "self") -> float:
    """VmHWM: the peak resident set of a process since its last exec (0 if it is gone).

    (``getrusage``'s ``ru_maxrss`` would carry the parent's peak into spawned children.)
    """
    try:
        with open(f"/proc/{pid}/status") as f:
            line = next(x for x in f if x.startswith("VmHWM:"))
    except (OSError, StopIteration):
        return 0.0
    return int(line.split()[1]) / 1024


class WorkerPeaks:
    """Polls the peak RSS of this process's children while a run is going on."""

    def __init__(self) -> None:
        self.peaks: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        me = str(os.getpid())
        while not self._stop.wait(0.2):
            for pid in os.listdir("/proc"):
                if pid.isdigit() and self._parent(pid) == me:
                    self.peaks[int(pid)] = max(self.peaks.get(int(pid), 0.0), peak_rss_mib(pid))

    @staticmethod
    def _parent(pid: str) -> str:
        try:
            with open(f"/proc/{pid}/stat") as f:
                return f.read().rsplit(")", 1)[1].split()[1]
        except (OSError, IndexError):
            return ""

    def __enter__(self) -> WorkerPeaks:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def run(sequences: int, length: int, workers: int, packed: np.ndarray) -> float:
    started = time.perf_counter()
    with WorkerPeaks() as peaks:
        result = run_suite(packed, sequences, length, Sp80022Params(), workers=workers)
    wall = time.perf_counter() - started
    cpu = sum(result.seconds.values())
    print(f"\n{sequences} × {length:,} bits, {workers} worker processes: {wall:.1f} s wall")
    print(f"  test compute {cpu:.1f} CPU-s ({1000 * cpu / sequences:.1f} ms per sequence)")
    worker_peak = max(peaks.peaks.values(), default=0.0)
    print(
        f"  peak RSS: this process {peak_rss_mib():.0f} MiB, largest worker {worker_peak:.0f} MiB"
    )
    for name in sorted(TEST_NAMES, key=lambda t: -result.seconds[t]):
        share = result.seconds[name] / cpu
        print(f"    {name:<24} {1000 * result.seconds[name] / sequences:8.2f} ms/seq {share:6.1%}")
    return wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sequences", type=int, nargs="+", default=[100])
    parser.add_argument("--length", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    rng = np.random.default_rng(2024)
    packed = np.frombuffer(rng.bytes(max(args.sequences) * args.length // 8 + 1), np.uint8)

    walls = {k: run(k, args.length, args.workers, packed) for k in args.sequences}
    bits = np.unpackbits(packed[: args.length // 8])
    evaluate_sequence(bits, Sp80022Params())  # warm up
    ours = {t: 0.0 for t in TEST_NAMES}
    for _ in range(3):
        _, spent = evaluate_sequence(bits, Sp80022Params())
        ours = {t: ours[t] + spent[t] / 3 for t in TEST_NAMES}
    per_seq = sum(ours.values())
    rows = baseline(bits, ours)
    print(f"\nper sequence, one core (diamp {1000 * per_seq:.1f} ms for all 15 tests):")
    base_total, ours_total = 0.0, 0.0
    for name, (b, o) in rows.items():
        base_total, ours_total = base_total + b, ours_total + o
        print(
            f"  {name:<27} baseline {1000 * b:9.1f} ms   diamp {1000 * o:7.2f} ms   x{b / o:7.0f}"
        )
    rest = per_seq - ours_total
    suite_ratio = (base_total + rest) / per_seq
    print(f"  these tests together: x{base_total / ours_total:.0f}; whole suite x{suite_ratio:.1f}")
    print(
        f"  baseline estimate for 100 sequences on {args.workers} cores: "
        f"{100 * (base_total + rest) / args.workers:.0f} s"
    )

    for k, wall in walls.items():
        target = 60.0 if k <= 100 else 600.0 * k / 1000
        verdict = "OK" if wall <= target else "MISSED"
        print(f"{k} sequences: {wall:.1f} s wall (target <= {target:.0f} s): {verdict}")


if __name__ == "__main__":
    main()
