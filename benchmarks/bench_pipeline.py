"""Pipeline throughput: raw input MB/s per core and on 2 cores, GF(2) engine against FFT.

Each measurement runs the exact GF(2) table engine (``engine = "gf2"`` at ``--block-bits``,
the shipped 2^14) and the FFT engine (``engine = "fft"`` at ``--fft-bits``, 2^20: what the
service shipped before) interleaved in the same run, so that load from other processes
hits both alike:

1. the engines alone, 1 and 2 threads: Toeplitz of the shipped vacuum source's blocks
   (8 bits/sample, in-force ~4.45 bits/sample after its first assessment, and the declared
   6.2571 before it), check_bits = 16;
2. the pipeline in this process (``Pipeline.step(wait=False)``, as its thread runs it), one
   unpaced simulated vacuum source, SQLite pool, 1 and 2 extraction workers;
3. ``diamp serve`` with that one source (paced at 50 Msample/s, as shipped), the rate read
   from ``diamp_source_raw_samples_total`` / ``diamp_source_output_bytes_total`` on
   ``/metrics`` over ``--seconds`` after a warm-up (the first assessment included), 1 and 2
   workers, against seed 000's device rates;
4. what the parts cost on their own: the simulated device and the SP 800-90B health tests.

    PYTHONPATH=src .venv/bin/python benchmarks/bench_pipeline.py [--seconds 20]
        [--block-bits 16384] [--fft-bits 1048576]

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


ENGINE = tuple[str, int]  # (engine, block_bits)


def config(tmp: Path, engine: ENGINE, workers: int, paced: bool, checks: bool) -> Path:
    # "unpaced": a pace far above any rate, so that reads take up to 16 device blocks at once
    # as at device speed (an unpaced simulated source reads one block at a time)
    pace = f"samples_per_second = {50e6 if paced else 1e12}\n"
    name = f"{engine[0]}-{engine[1]}-{workers}-{paced}-{checks}"
    text = (
        "schema_version = 1\n[server]\nport = 0\n"
        f"[pool]\npath = 'pool-{name}.sqlite'\ntarget_bytes = {1 << 40}\n"
        f'[extractor]\nblock_bits = {engine[1]}\nworkers = {workers}\nengine = "{engine[0]}"\n'
        f"[checks]\nenabled = {'true' if checks else 'false'}\n"
        f'[[sources]]\nkind = "simulated"\nname = "vacuum"\nfamily = "vacuum-fluctuation"\n'
        f'{pace}{VACUUM}\n[[tiers]]\nname = "standard"\nsources = ["vacuum"]\n'
        "chunk_bytes = 1048576\n"  # as shipped: one durable pool write per MiB
    )
    path = tmp / f"service-{name}.toml"
    path.write_text(text)
    return path


def _engine(kind: str, n: int, h: float, rng: np.random.Generator) -> tuple[object, int]:
    from diamp.extractors.bits import PackedBits
    from diamp.extractors.gf2 import TableToeplitz
    from diamp.extractors.params import ToeplitzParams
    from diamp.extractors.realtime import FixedSeedToeplitz

    p = ToeplitzParams.from_params(n, n // 8 * h, 2.0**-64)
    seed = PackedBits.from_bits(rng.integers(0, 2, p.seed_bits, dtype=np.uint8))
    cls = TableToeplitz if kind == "gf2" else FixedSeedToeplitz
    return cls(seed, n, p.m), p.m


def engines(new: ENGINE, old: ENGINE, rounds: int) -> None:
    rng = np.random.default_rng(0)
    data = rng.integers(0, 256, (1 << 25) // 8, dtype=np.uint8)  # 4 MiB of raw input
    for h in (4.45, 6.2571):
        built = {e: _engine(e[0], e[1], h, rng) for e in (new, old)}
        probe = {e: data[: 2 * e[1] // 8].reshape(2, -1) for e in built}
        for e in built:  # same bits as the other engine at that size
            other = _engine("fft" if e[0] == "gf2" else "gf2", e[1], h, np.random.default_rng(1))
            mine = _engine(e[0], e[1], h, np.random.default_rng(1))
            a = mine[0].extract(probe[e], check_bits=16).output  # type: ignore[attr-defined]
            b = other[0].extract(probe[e], check_bits=16).output  # type: ignore[attr-defined]
            assert np.array_equal(a, b), e
        for threads in (1, 2):
            wall = {e: 0.0 for e in built}
            cpu = {e: 0.0 for e in built}
            for _ in range(rounds):
                for e, (eng, _m) in built.items():
                    rows = data.reshape(-1, e[1] // 8)
                    parts = [rows[k::threads] for k in range(threads)]
                    run = eng.extract  # type: ignore[attr-defined]
                    workers = [
                        threading.Thread(target=run, args=(part,), kwargs={"check_bits": 16})
                        for part in parts
                    ]
                    t0, c0 = time.perf_counter(), time.process_time()
                    for w in workers:
                        w.start()
                    for w in workers:
                        w.join()
                    wall[e] += time.perf_counter() - t0
                    cpu[e] += time.process_time() - c0
            mb = rounds * data.size / 1e6
            rn, ro = mb / wall[new], mb / wall[old]
            print(f"  h {h:6.4f}, {threads} thread(s): {old[0]} 2^{old[1].bit_length() - 1} "
                  f"{ro:7.2f} MB/s  {new[0]} 2^{new[1].bit_length() - 1} {rn:7.2f} MB/s  "
                  f"ratio {rn / ro:5.1f}x | per CPU-second: {mb / cpu[old]:6.2f} "
                  f"{mb / cpu[new]:6.2f} MB")  # fmt: skip


def pipeline_rate(engine: ENGINE, workers: int, seconds: float) -> tuple[float, float]:
    """(raw MB/s, raw MB per CPU-second of this process)."""
    from diamp.service.pipeline import Pipeline
    from diamp.service.pool import Pool
    from diamp.service.settings import load_settings

    with tempfile.TemporaryDirectory() as d:
        s = load_settings(config(Path(d), engine, workers, paced=False, checks=False))
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


def server_rate(cfg: Path, seconds: float) -> tuple[float, float, float, str]:
    """Raw MB/s, output MB/s, raw MB per CPU-second and diamp_source_healthy of the server."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    log = cfg.with_suffix(".log")
    with log.open("wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-c", "from diamp.cli import main; main()", "serve", str(cfg),
             "--port", "0"],
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
    ap.add_argument("--block-bits", type=int, default=1 << 14, help="GF(2) engine's blocks")
    ap.add_argument("--fft-bits", type=int, default=1 << 20, help="FFT engine's blocks")
    ap.add_argument("--rounds", type=int, default=3, help="engine rounds (interleaved)")
    ap.add_argument("--skip-server", action="store_true")
    args = ap.parse_args()
    new, old = ("gf2", args.block_bits), ("fft", args.fft_bits)
    print(f"machine: {platform.machine()} {platform.processor() or ''}, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f}, Python {platform.python_version()}, "
          f"gf2 at {new[1]} bits, fft at {old[1]} bits")  # fmt: skip
    print("1. engines alone (raw input MB/s)")
    engines(new, old, args.rounds)
    print("2. pipeline in process, one unpaced vacuum source (raw input MB/s)")
    for workers in (1, 2):
        o = pipeline_rate(old, workers, args.seconds / 2)
        n = pipeline_rate(new, workers, args.seconds / 2)
        print(f"  {workers} worker(s): fft {o[0]:7.2f}  gf2 {n[0]:7.2f}  ratio "
              f"{n[0] / o[0]:5.1f}x | per CPU-second: fft {o[1]:6.2f} gf2 {n[1]:6.2f}")  # fmt: skip
    if not args.skip_server:
        print(
            "3. diamp serve, one vacuum source at 50 Msample/s, from /metrics (raw / output MB/s)"
        )
        with tempfile.TemporaryDirectory() as d:
            for workers in (1, 2):
                o_raw, o_out, o_cpu, _ = server_rate(
                    config(Path(d), old, workers, paced=True, checks=True), args.seconds
                )
                n_raw, n_out, n_cpu, q = server_rate(
                    config(Path(d), new, workers, paced=True, checks=True), args.seconds
                )
                print(f"  {workers} worker(s): fft {o_raw:6.2f} / {o_out:6.2f}  gf2 {n_raw:6.2f}"
                      f" / {n_out:6.2f}  ratio {n_raw / o_raw:5.1f}x  healthy {q} | raw MB per "
                      f"CPU-second: fft {o_cpu:6.2f} gf2 {n_cpu:6.2f}")  # fmt: skip
                if workers == 2:
                    for name, need in DEVICES.items():
                        verdict = "sustained" if n_raw >= 0.98 * need else "NOT sustained"
                        print(f"    {name} ({need:5.1f} MB/s raw): {verdict}")
    print("4. the parts alone")
    parts(2.0)
    print(f"load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
