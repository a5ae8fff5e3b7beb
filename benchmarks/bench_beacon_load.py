"""The beacon at a 1 s period while clients take every byte of its tier, with and without its share.

Runs ``diamp serve`` on a copy of ``configs/service.toml`` (its simulated sources, the
pipeline on, the beacon on the ``standard`` tier) twice in one run: with the shipped
``[beacon] reserve_pulses`` (the share) and with ``reserve_pulses = 0`` (a draw at each
pulse, as before the share existed). Each time, ``--conns`` keep-alive connections of signed
clients (several client keys, so the per-client rate limit does not hold them back) ask for
``--nbytes`` of the beacon's tier as fast as the server answers, for ``--seconds``; the
pool's target is cut to 64 KiB so the clients keep it empty. Afterwards it reads
``/metrics``: pulses published, missed and late, and the bytes clients got. The load starts once the
tier first holds bytes (the simulated sources' output is kept back until their first
SP 800-90B assessment).

    .venv/bin/python benchmarks/bench_beacon_load.py [--seconds 60] [--conns 16]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from diamp.service.client import signed_headers
from diamp.service.keys import add_client

ROOT = Path(__file__).resolve().parents[1]
METRICS = ("diamp_beacon_pulses_published_total", "diamp_beacon_pulses_missed_total",
           "diamp_beacon_pulses_late_total")  # fmt: skip


def _config(folder: Path, share: int) -> Path:
    shutil.copytree(ROOT / "configs", folder, dirs_exist_ok=True)
    text = (folder / "service.toml").read_text()
    text = re.sub(r"(?m)^target_bytes = .*$", "target_bytes = 65536", text)
    text = re.sub(r"(?m)^reserve_bytes = .*$", "reserve_bytes = 4096", text)
    text = re.sub(r"(?m)^reserve_pulses = .*$", f"reserve_pulses = {share}", text)
    text = re.sub(r"(?m)^rate_requests_per_second = .*$", "rate_requests_per_second = 100000.0",
                  text)  # fmt: skip
    path = folder / "service.toml"
    path.write_text(text)
    return path


def _start(config: Path, log: Path) -> tuple[subprocess.Popen[bytes], int]:
    clients = str(config.parent / "clients.toml")
    args = [sys.executable, "-c", "from diamp.cli import main; main()", "serve", str(config),
            "--port", "0", "--beacon-period", "1", "--clients", clients]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    with log.open("wb") as err:
        proc = subprocess.Popen(args, stderr=err, stdout=subprocess.DEVNULL, env=env)
    for _ in range(3600):
        m = re.search(r"running on http://127\.0\.0\.1:(\d+)", log.read_text())
        if m:
            return proc, int(m.group(1))
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError(log.read_text())


async def _client(port: int, name: str, key: bytes, nbytes: int, until: float) -> list[int]:
    path = f"/v1/random?bytes={nbytes}&format=binary&tier=standard"
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    counts = [0, 0]  # bytes received, refused requests
    while time.monotonic() < until:
        h = signed_headers(key, name, f"http://127.0.0.1:{port}{path}")
        extra = "".join(f"{k}: {v}\r\n" for k, v in h.items())
        writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{extra}\r\n".encode())
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(re.search(rb"(?i)content-length: (\d+)", head).group(1))  # type: ignore[union-attr]
        await reader.readexactly(length)
        if head[9:12] == b"200":
            counts[0] += length
        else:
            counts[1] += 1
    writer.close()
    return counts


def _metrics(port: int) -> dict[str, float]:
    import httpx

    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=30).text
    out = {}
    for name in METRICS:
        m = re.search(rf"(?m)^{name} ([0-9.e+]+)$", text)
        out[name] = float(m.group(1)) if m else float("nan")
    return out


def _warm(port: int, timeout_s: float = 600.0) -> None:
    """Wait until the tier has served-ready bytes (after the sources' first assessment)."""
    import httpx

    until = time.monotonic() + timeout_s
    while time.monotonic() < until:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=30).text
        m = re.search(r'(?m)^diamp_pool_bytes\{tier="standard"\} ([0-9.e+]+)$', text)
        if m and float(m.group(1)) >= 65536 / 2:
            time.sleep(2.0)  # a top-up of the share (every quarter period)
            return
        time.sleep(0.5)
    raise RuntimeError("the standard tier never filled")


def run(share: int, seconds: float, conns: int, nbytes: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        config = _config(folder, share)
        keys = [(f"load{i}", add_client(folder / "clients.toml", f"load{i}")) for i in range(conns)]
        proc, port = _start(config, folder / "serve.log")
        try:
            _warm(port)  # the sources' first assessment, then the share fills
            before = _metrics(port)
            until = time.monotonic() + seconds

            async def main() -> list[list[int]]:
                return await asyncio.gather(*(_client(port, n, k, nbytes, until) for n, k in keys))

            got = asyncio.run(main())
            after = _metrics(port)
        finally:
            proc.terminate()
            proc.wait(timeout=60)
    out = {k.removeprefix("diamp_beacon_pulses_").removesuffix("_total"): after[k] - before[k]
           for k in METRICS}  # fmt: skip
    out["client_MB"] = sum(g[0] for g in got) / 1e6
    out["refused"] = sum(g[1] for g in got)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--conns", type=int, default=16)
    parser.add_argument("--nbytes", type=int, default=4096)
    args = parser.parse_args()
    head = f"# {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    load = f"{args.conns} clients x {args.nbytes} B for {args.seconds:.0f} s"
    print(f"{head}; {load}, beacon period 1 s")
    print(f"{'share':>6s} {'published':>9s} {'missed':>6s} {'late':>5s} {'client MB':>9s} "
          f"{'refused':>8s}")  # fmt: skip
    for share in (64, 0):
        r = run(share, args.seconds, args.conns, args.nbytes)
        print(f"{share:6d} {r['published']:9.0f} {r['missed']:6.0f} {r['late']:5.0f} "
              f"{r['client_MB']:9.2f} {r['refused']:8.0f}")  # fmt: skip


if __name__ == "__main__":
    main()
