"""Throughput of the simulated lab and of the Bell statistics, against same-run baselines.

Run on purpose (not part of the test suite):

    .venv/bin/python benchmarks/bench_core.py [--trials 67108864] [--repeat 3]

Targets (issue 2): simulation >= 20 M trials/s; statistics >= 300 M trials/s on one core.
Baselines: a plain-numpy simulation of the same model (uniform words compared against the
same thresholds with fancy indexing) and ``numpy.bincount`` for the counts.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Callable

import numpy as np

from diamp.config import parse_config
from diamp.daq.sim.lab import SimulatedLab
from diamp.daq.sim.rng import Stream, stream_rng, uniform_u32
from diamp.protocol.bell import AbPacker, count_trials

CONFIG = """
schema_version = 1
[run]
seed = 7
blocks = 1
trials_per_block = {trials}
[sources]
mu = "0.0075"
alice = {{ model = "iid", bias = 0.004 }}
bob = {{ model = "markov", bias = 0.004 }}
[device]
model = "quantum"
visibility = 0.95
readout_fidelity = 0.985
"""


def best_of(repeat: int, fn: Callable[[], object]) -> float:
    fn()  # warm up (numba compilation, page faults)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def numpy_simulation(lab: SimulatedLab, trials: int) -> np.ndarray:
    """Baseline: the same model in vectorised numpy."""
    seed = 7
    x = (uniform_u32(stream_rng(seed, Stream.ALICE_INPUTS, 0), trials) < 2**31).astype(np.uint8)
    y = (uniform_u32(stream_rng(seed, Stream.BOB_INPUTS, 0), trials) < 2**31).astype(np.uint8)
    u = uniform_u32(stream_rng(seed, Stream.DEVICE, 0), trials).astype(np.uint64)
    thr = lab.device._thresholds
    xy = 2 * x + y
    k = (u >= thr[xy, 0]).astype(np.uint8) + (u >= thr[xy, 1]) + (u >= thr[xy, 2])
    return (4 * xy + k).astype(np.uint8)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=2**26)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    n = args.trials
    os.environ.setdefault("NUMBA_NUM_THREADS", "1")
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"python {platform.python_version()}, numpy {np.__version__}; n = {n:,} trials"
    )
    lab = SimulatedLab.from_config(parse_config(CONFIG.format(trials=n)).config)

    t_sim = best_of(args.repeat, lambda: lab.block(0))
    t_sim_np = best_of(args.repeat, lambda: numpy_simulation(lab, n))
    trials = lab.block(0)
    t_count = best_of(args.repeat, lambda: count_trials(trials))
    t_bincount = best_of(args.repeat, lambda: np.bincount(trials, minlength=16))

    def pack() -> None:
        p = AbPacker(n)
        p.add(trials)
        p.finish()

    t_pack = best_of(args.repeat, pack)
    rows = [
        ("simulation (diamp, incl. Markov SV source)", n / t_sim, n / t_sim_np, "numpy model"),
        ("Bell counts (diamp numba kernel)", n / t_count, n / t_bincount, "np.bincount"),
        ("AB packing (diamp numba kernel)", n / t_pack, None, ""),
    ]
    print(f"{'step':45s} {'M trials/s':>12s} {'baseline':>12s} {'ratio':>7s}")
    for name, rate, base, base_name in rows:
        if base is None:
            print(f"{name:45s} {rate / 1e6:12.1f}")
        else:
            ratio = rate / base
            print(f"{name:45s} {rate / 1e6:12.1f} {base / 1e6:12.1f} {ratio:7.2f}x  ({base_name})")


if __name__ == "__main__":
    main()
