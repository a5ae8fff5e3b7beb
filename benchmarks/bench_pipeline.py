"""Pipeline throughput: raw input MB/s per core and on 2 cores, new engine against the old.

Four measurements, each with the current (generic, per-block) engine and the fixed-seed
engine interleaved in the same run, so that load from other processes hits both alike:

1. the engines alone, one thread: Toeplitz of ``--block-bits`` raw bits of the shipped
   vacuum source (8 bits/sample, in-force 6.2571 bits/sample), check_bits = 16;
2. the pipeline in this process (``Pipeline.step(wait=False)``, as its thread runs it), one
   unpaced simulated vacuum source, SQLite pool, 1 and 2 extraction workers;
3. ``diamp serve`` with that one source (paced at 50 Msample/s, as shipped), the rate read
   from ``diamp_source_raw_samples_total`` / ``diamp_source_output_bytes_total`` on
   ``/metrics`` over ``--seconds`` after a warm-up (the first assessment included);
4. what the parts cost on their own: the simulated device and the SP 800-90B health tests.

The old engine is put back by replacing the job function of ``diamp.service.extraction``
with one that runs ``extract_checked`` block by block (what the pipeline did before).

    .venv/bin/python benchmarks/bench_pipeline.py [--seconds 20] [--block-bits 1048576]

Targets (issue 16): >= 8 MB/s raw input per core, >= 14 MB/s on 2 cores; seed 000 device
rates: 16 Mbit/s single-photon (2 MB/s), 300 Mbit/s phase (37.5 MB/s), 400 Mbit/s vacuum
(50 MB/s), hybrid XOR tier at 16 Mbit/s.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
VACUUM = (
    'entropy = { model = "vacuum", bits = 8, v_min = -4.0, v_max = 4.0, gamma = 10.0, '
    "max_offset_sigma_c = 5.0 }"
)
DEVICES = {"single-photon 16 Mbit/s": 2.0, "phase 300 Mbit/s": 37.5, "vacuum 400 Mbit/s": 50.0}
OLD_ENGINE = """
import numpy as np
import diamp.service.extraction as ex
from diamp.extractors.bits import PackedBits
from diamp.extractors.checked import extract_checked

def _old(engine, samples, bits, check_bits, rng):
    seed = PackedBits.from_bits(np.unpackbits(engine.seed_words.view('>u8').view(np.uint8))
                                [: engine.n + engine.m - 1])
    rows = ex.packed_blocks(samples, bits)
    out = [extract_checked('toeplitz', PackedBits(r, engine.n), seed, engine.m,
                           check_bits=check_bits, rng=rng, threads=1).output.data
           for r in rows]
    return np.stack(out)[:, : engine.m // 8]

ex._hash = _old
"""


def config(tmp: Path, block_bits: int, workers: int, paced: bool, checks: bool) -> Path:
    pace = "samples_per_second = 50e6\n" if paced else ""
    text = (
        "schema_version = 1\n[server]\nport = 0\n"
        f"[pool]\npath = 'pool-{workers}-{paced}.sqlite'\ntarget_bytes = {1 << 40}\n"
        f"[extractor]\nblock_bits = {block_bits}\nworkers = {workers}\n"
        f"[checks]\nenabled = {'true' if checks else 'false'}\n"
        f'[[sources]]\nkind = "simulated"\nname = "vacuum"\nfamily = "vacuum-fluctuation"\n'
        f'{pace}{VACUUM}\n[[tiers]]\nname = "standard"\nsources = ["vacuum"]\n'
    )
    path = tmp / f"service-{workers}-{paced}-{checks}.toml"
    path.write_text(text)
    return path


def engines(block_bits: int, rounds: int) -> None:
    from diamp.extractors.bits import PackedBits
    from diamp.extractors.checked import extract_checked
    from diamp.extractors.params import ToeplitzParams
    from diamp.extractors.realtime import FixedSeedToeplitz

    n = block_bits
    p = ToeplitzParams.from_params(n, n // 8 * 6.2571, 2.0**-64)
    rng = np.random.default_rng(0)
    seed = PackedBits.from_bits(rng.integers(0, 2, p.seed_bits, dtype=np.uint8))
    blocks = max(2, (1 << 23) // n)
    packed = rng.integers(0, 256, (blocks, n // 8), dtype=np.uint8)
    engine = FixedSeedToeplitz(seed, n, p.m)
    new = engine.extract(packed, check_bits=16).output
    for b in range(blocks):  # the benchmark's own sanity check: same bits
        old = extract_checked("toeplitz", PackedBits(packed[b], n), seed, p.m, check_bits=16)
        assert old.output.data.tobytes() == new[b].tobytes()

    def old_engine(rows: np.ndarray) -> None:
        for r in rows:
            extract_checked("toeplitz", PackedBits(r, n), seed, p.m, check_bits=16, threads=1)

    def new_engine(rows: np.ndarray) -> None:
        engine.extract(rows, check_bits=16)

    mb = blocks * n / 8e6
    for threads in (1, 2):
        t = {"old": 0.0, "new": 0.0, "old cpu": 0.0, "new cpu": 0.0}
        for _ in range(rounds):
            for name, f in (("old", old_engine), ("new", new_engine)):
                parts = [packed[k::threads] for k in range(threads)]
                workers = [threading.Thread(target=f, args=(part,)) for part in parts]
                t0, c0 = time.perf_counter(), time.process_time()
                for w in workers:
                    w.start()
                for w in workers:
                    w.join()
                t[name] += time.perf_counter() - t0
                t[f"{name} cpu"] += time.process_time() - c0
        old, new = rounds * mb / t["old"], rounds * mb / t["new"]
        per_core = rounds * mb / t["old cpu"], rounds * mb / t["new cpu"]
        print(f"  engine, {threads} thread(s): old {old:7.2f} MB/s  new {new:7.2f} MB/s  "
              f"ratio {new / old:5.1f}x | per CPU-second: old {per_core[0]:6.2f} "
              f"new {per_core[1]:6.2f} MB")  # fmt: skip


def pipeline_rate(block_bits: int, workers: int, seconds: float, old: bool) -> tuple[float, float]:
    """(raw MB/s, raw MB per CPU-second of this process)."""
    from diamp.service.pipeline import Pipeline
    from diamp.service.pool import Pool
    from diamp.service.settings import load_settings

    if old:
        exec(OLD_ENGINE, {})
    with tempfile.TemporaryDirectory() as d:
        s = load_settings(config(Path(d), block_bits, workers, paced=False, checks=False))
        p = Pipeline(s, Pool(Path(d) / "p.sqlite"))
        rt = p.sources["vacuum"]
        for _ in range(4):
            p.step(wait=False)
        raw0, t0, c0 = rt.raw_samples, time.perf_counter(), time.process_time()
        while time.perf_counter() - t0 < seconds:
            p.step(wait=False)
        mb = (rt.raw_samples - raw0) / 1e6
        rate = mb / (time.perf_counter() - t0), mb / (time.process_time() - c0)
        status = rt.health.status
        p.stop()
    if status != "ok":
        raise RuntimeError(f"the source was {status}: {rt.health.reason}")
    return rate


def scrape(port: int) -> tuple[float, float, str]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as r:
        text = r.read().decode()
    raw = re.search(r'diamp_source_raw_samples_total\{source="vacuum"\} (\S+)', text)
    out = re.search(r'diamp_source_output_bytes_total\{source="vacuum"\} (\S+)', text)
    ok = re.search(r'diamp_source_healthy\{source="vacuum"\} (\S+)', text)
    if raw is None or out is None:
        raise RuntimeError("metrics without the vacuum source's counters")
    return float(raw.group(1)), float(out.group(1)), ok.group(1) if ok else "?"


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def server_rate(cfg: Path, seconds: float, old: bool) -> tuple[float, float, float, str]:
    """Raw MB/s, output MB/s, raw MB per CPU-second and diamp_source_healthy of the server."""
    code = (OLD_ENGINE if old else "") + "\nfrom diamp.cli import main; main()"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    log = cfg.with_suffix(f".{old}.log")
    with log.open("wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-c", code, "serve", str(cfg), "--port", "0"],
            stderr=err, stdout=subprocess.DEVNULL, env=env,
        )  # fmt: skip
    try:
        port = 0
        for _ in range(1200):
            m = re.search(r"running on http://127\.0\.0\.1:(\d+)", log.read_text())
            if m:
                port = int(m.group(1))
                break
            if proc.poll() is not None:
                raise RuntimeError(log.read_text())
            time.sleep(0.05)
        while scrape(port)[1] < 4e6:  # warm-up: past the first assessment, output flowing
            time.sleep(0.5)
        (raw0, out0, _), t0, c0 = scrape(port), time.perf_counter(), cpu_seconds(proc.pid)
        time.sleep(seconds)
        (raw1, out1, healthy), t1, c1 = scrape(port), time.perf_counter(), cpu_seconds(proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    mb = (raw1 - raw0) / 1e6
    return mb / (t1 - t0), (out1 - out0) / (t1 - t0) / 1e6, mb / (c1 - c0), healthy


def parts(seconds: float) -> None:
    from diamp.analysis.sp800_90b import HealthMonitor
    from diamp.service.settings import SimulatedSource
    from diamp.service.simulated import SimulatedDevice

    cfg = SimulatedSource.model_validate_json(
        '{"kind": "simulated", "name": "v", "family": "vacuum-fluctuation", "entropy": {"model":'
        ' "vacuum", "bits": 8, "v_min": -4.0, "v_max": 4.0, "gamma": 10.0}}'
    )
    device = SimulatedDevice(cfg)
    count, t0 = 0, time.perf_counter()
    samples = []
    while time.perf_counter() - t0 < seconds:
        samples.append(device.next_block())
        count += samples[-1].size
    print(f"  simulated vacuum device alone: {count / (time.perf_counter() - t0) / 1e6:7.1f} MB/s")
    x = np.concatenate(samples[:64])
    monitor = HealthMonitor(6.2571, 8, alpha=2.0**-40)
    t0 = time.perf_counter()
    for _ in range(5):
        monitor.feed(x)
    rate = 5 * x.size / (time.perf_counter() - t0) / 1e6
    print(f"  SP 800-90B RCT + APT alone:    {rate:7.1f} MB/s ({len(monitor.failures)} failures)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=20.0, help="per server measurement")
    ap.add_argument("--block-bits", type=int, default=1 << 20)
    ap.add_argument("--rounds", type=int, default=3, help="engine rounds (interleaved)")
    ap.add_argument("--skip-server", action="store_true")
    args = ap.parse_args()
    print(f"machine: {platform.machine()} {platform.processor() or ''}, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f}, Python {platform.python_version()}, "
          f"block_bits {args.block_bits}")  # fmt: skip
    print("1. engines alone (raw input MB/s)")
    engines(args.block_bits, args.rounds)
    print("2. pipeline in process, one unpaced vacuum source (raw input MB/s)")
    for workers in (1, 2):
        old = pipeline_rate(args.block_bits, workers, args.seconds / 2, old=True)
        new = pipeline_rate(args.block_bits, workers, args.seconds / 2, old=False)
        print(f"  {workers} worker(s): old {old[0]:7.2f}  new {new[0]:7.2f}  ratio "
              f"{new[0] / old[0]:5.1f}x | per CPU-second: old {old[1]:6.2f} "
              f"new {new[1]:6.2f}")  # fmt: skip
    if not args.skip_server:
        print("3. diamp serve, one vacuum source, from /metrics (raw / output MB/s)")
        with tempfile.TemporaryDirectory() as d:
            for workers in (1, 2):
                cfg = config(Path(d), args.block_bits, workers, paced=True, checks=True)
                o_raw, o_out, o_cpu, _ = server_rate(cfg, args.seconds, old=True)
                n_raw, n_out, n_cpu, q = server_rate(cfg, args.seconds, old=False)
                print(f"  {workers} worker(s): old {o_raw:6.2f} / {o_out:6.2f}  new {n_raw:6.2f}"
                      f" / {n_out:6.2f}  ratio {n_raw / o_raw:5.1f}x  healthy {q} | raw MB per "
                      f"CPU-second: old {o_cpu:6.2f} new {n_cpu:6.2f}")  # fmt: skip
                if workers == 2:
                    for name, need in DEVICES.items():
                        verdict = "sustained" if n_raw >= need else "NOT sustained"
                        print(f"    {name} ({need:5.1f} MB/s raw): {verdict}")
    print("4. the parts alone")
    parts(2.0)


if __name__ == "__main__":
    main()
