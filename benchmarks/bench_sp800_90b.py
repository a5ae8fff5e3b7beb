"""Wall time of the SP 800-90B tracks and of each estimator, against same-run baselines.

Run on purpose (not part of the test suite):

    PYTHONPATH=src .venv/bin/python benchmarks/bench_sp800_90b.py [--samples 1000000]
        [--baseline-samples 20000] [--full-iid]

Target: the non-IID track on 10^6 8-bit samples in at most 10 s wall on 2 cores (the
reference tool 1.1.7 takes about 40 s). Baselines, measured in the same run: the slow
direct definitions of the test oracles (``tests/analysis/oracles_sp800_90b.py``) on
``--baseline-samples`` samples, scaled linearly to the full size (a lower bound on their
cost for the superlinear ones), and for the permutation tests a plain-numpy shuffle plus
statistics. Peak RSS is the process maximum so far (``ru_maxrss``).
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "analysis"))

import oracles_sp800_90b as oracle  # noqa: E402

from diamp.analysis.sp800_90b import assess_iid, assess_non_iid, prepare_samples  # noqa: E402
from diamp.analysis.sp800_90b.noniid import _tasks  # noqa: E402
from diamp.analysis.sp800_90b.permutation import NAMES, _Context  # noqa: E402

VECTOR = Path("/work/shared/vectors/sp800-90b/biased_1bit_p06_1M.bin")


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


ORACLES: dict[str, Callable[[list[int]], Any]] = {
    "mcv": oracle.mcv,
    "collision": oracle.collision_p,
    "markov": oracle.markov,
    "compression": oracle.compression,
    "tuples": oracle.t_tuple_and_lrs,
    "multi_mcw": oracle.multi_mcw,
    "lag": oracle.lag,
    "multi_mmc": oracle.multi_mmc,
    "lz78y": oracle.lz78y,
}


def per_estimator(label: str, seq: np.ndarray, k: int, small: np.ndarray) -> None:
    """Each estimator alone (one thread), and its oracle on ``small`` scaled to len(seq)."""
    print(f"\n{label}: {len(seq):,} symbols, k = {k}")
    print(f"  {'estimator':<12} {'ours (s)':>9} {'oracle (s, scaled)':>19} {'ratio':>8}")
    ours_total = base_total = 0.0
    big = _tasks(seq, k, k == 2)
    for name, task in big.items():
        t, _ = timed(task)
        fn = ORACLES[name]
        if name == "compression" and len(small) < 7000:
            print(f"  {name:<12} {t:9.3f} {'(needs > 6000 bits)':>19}")
            continue
        tb, _ = timed(lambda fn=fn: fn(small.tolist()))
        scaled = tb * len(seq) / len(small)
        ours_total += t
        base_total += scaled
        print(f"  {name:<12} {t:9.3f} {scaled:19.1f} {scaled / t:8.0f}x")
    print(f"  {'sum':<12} {ours_total:9.3f} {base_total:19.1f} {base_total / ours_total:8.0f}x")


def non_iid(label: str, samples: np.ndarray, width: int, baseline: int) -> None:
    t, r = timed(lambda: assess_non_iid(samples, width, workers=2))
    print(
        f"\n== non-IID track, {label}: {t:.2f} s wall (2 threads), peak RSS {rss_mb():.0f} MB; "
        f"H_original {r.h_original:.6f}, H_bitstring {r.h_bitstring}, "
        f"min-entropy {r.min_entropy:.6f}"
    )
    prepared = prepare_samples(samples, width)
    small = prepare_samples(samples[:baseline], width)
    per_estimator("literal", prepared.symbols, prepared.k, small.symbols)
    if not prepared.binary:
        per_estimator("bitstring", prepared.bitstring(), 2, small.bitstring())


def numpy_shuffle_statistics(raw: np.ndarray, rng: np.random.Generator) -> list[float]:
    """Baseline for one permutation round: numpy shuffle and vectorised statistics 0–17."""
    x = rng.permutation(raw).astype(np.int64)
    mean = raw.mean()
    ex = np.abs(np.cumsum(x) - np.arange(1, len(x) + 1) * mean).max()
    up = x[:-1] <= x[1:]
    change = np.flatnonzero(up[1:] != up[:-1])
    runs = np.diff(np.concatenate([[-1], change, [len(up) - 1]]))
    med = np.median(x)
    below = x < med
    mch = np.flatnonzero(below[1:] != below[:-1])
    mruns = np.diff(np.concatenate([[-1], mch, [len(x) - 1]]))
    stats = [ex, len(runs), runs.max(), max(up.sum(), (~up).sum()), len(mruns), mruns.max()]
    stats += [float((x[:-p] == x[p:]).sum()) for p in (1, 2, 8, 16, 32)]
    stats += [float((x[:-p] * x[p:]).sum()) for p in (1, 2, 8, 16, 32)]
    return stats


def iid(label: str, samples: np.ndarray, width: int, full: bool) -> None:
    t, r = timed(lambda: assess_iid(samples, width, seed=1))
    print(
        f"\n== IID track, {label}: {t:.2f} s wall, {r.permutation.permutations:,} shuffles "
        f"until every statistic settled, IID = {r.iid}, peak RSS {rss_mb():.0f} MB"
    )
    prepared = prepare_samples(samples, width)
    ctx = _Context(prepared)
    from concurrent.futures import ThreadPoolExecutor

    seeds = np.arange(32, dtype=np.uint64)
    active = np.ones(len(NAMES), np.bool_)
    active[18] = False
    with ThreadPoolExecutor(2) as pool:
        ctx.batch(seeds[:2], active, pool)  # warm up
        t_stats, _ = timed(lambda: ctx.batch(seeds, active, pool))
        only = np.zeros(len(NAMES), np.bool_)
        only[18] = True
        t_bz2, _ = timed(lambda: ctx.batch(seeds[:8], only, pool))
    rng = np.random.default_rng(0)
    t_np, _ = timed(lambda: [numpy_shuffle_statistics(prepared.raw, rng) for _ in range(8)])
    per, per_bz2, per_np = t_stats / 32, t_bz2 / 8, t_np / 8
    print(
        f"  one shuffle, statistics 1–18: {per * 1e3:.1f} ms (numpy baseline "
        f"{per_np * 1e3:.1f} ms, {per_np / per:.1f}x); bzip2 statistic: {per_bz2 * 1e3:.0f} ms"
    )
    print(
        f"  all 10,000 shuffles with every statistic open: ≈ {10_000 * per:.0f} s without "
        f"bzip2, ≈ {10_000 * (per + per_bz2):.0f} s with it (data failing compression)"
    )
    if full:
        walk = (np.cumsum(np.random.default_rng(5).integers(0, 3, len(samples))) % 256).astype(
            np.uint8
        )
        t, r = timed(lambda: assess_iid(walk, 8, seed=1))
        print(
            f"  measured, random walk (not IID): {t:.0f} s, {r.permutation.permutations:,} shuffles"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=1_000_000)
    parser.add_argument("--baseline-samples", type=int, default=20_000)
    parser.add_argument("--full-iid", action="store_true", help="also run a failing IID track")
    args = parser.parse_args()
    n = args.samples
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"python {platform.python_version()}, numpy {np.__version__}"
    )
    rng = np.random.default_rng(2024)
    uniform8 = rng.integers(0, 256, n).astype(np.uint8)
    skewed8 = np.minimum(rng.geometric(0.08, n) - 1, 255).astype(np.uint8)
    bits = np.fromfile(VECTOR, dtype=np.uint8)[:n]
    assess_non_iid(uniform8[:5000], 8)  # load the compiled kernels
    non_iid("10^6 uniform 8-bit samples", uniform8, 8, args.baseline_samples)
    non_iid("10^6 skewed 8-bit samples (geometric)", skewed8, 8, args.baseline_samples)
    non_iid("10^6 1-bit samples (shared vector, p = 0.6)", bits, 1, args.baseline_samples)
    iid("10^6 uniform 8-bit samples", uniform8, 8, args.full_iid)
    iid("10^6 1-bit samples (shared vector)", bits, 1, False)


if __name__ == "__main__":
    main()
