"""Trial-block compression in the trial store: size and write/read speed, same data, same run.

Takes the first block of a fresh simulated run (``configs/simulated.toml``: 2^22 trials of
the simulated lab, values 0-15) and writes it to an in-memory HDF5 file the way the store
does (2^20-byte chunks) with no filter, LZF (the store's filter before schema 3's gzip) and
gzip levels 1-9, reading each back and checking it. Reports the size relative to one byte
per trial and the best-of-``--repeat`` write and read rates; gzip is the filter every HDF5
tool reads (h5dump, MATLAB, Julia), LZF needs a plugin.

    .venv/bin/python benchmarks/bench_store_compression.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import h5py  # noqa: TID253  (a benchmark script, not a library module)
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CHUNK = 1 << 20
FILTERS: dict[str, dict[str, object]] = {
    "none": {},
    "lzf": {"compression": "lzf"},
    **{f"gzip-{k}": {"compression": "gzip", "compression_opts": k} for k in (1, 2, 4, 6, 9)},
}


def block_of_a_run(folder: Path) -> np.ndarray:
    out = folder / "run"
    cmd = [sys.executable, "-c", "from diamp.cli import main; main()", "run",
           str(ROOT / "configs/simulated.toml"),
           "--out", str(out), "-q"]  # fmt: skip
    subprocess.run(cmd, check=True, capture_output=True, cwd=ROOT)
    with h5py.File(out / "trials.blocks" / "000000.h5", "r") as f:
        return np.asarray(f["block/trials"][()])


def measure(data: np.ndarray, kw: dict[str, object], repeat: int) -> tuple[float, float, float]:
    writes, reads, size = [], [], 0
    for _ in range(repeat):
        buf = io.BytesIO()
        t = time.perf_counter()
        with h5py.File(buf, "w") as f:
            f.create_dataset("trials", data=data, chunks=(min(CHUNK, data.size),), **kw)
        writes.append(time.perf_counter() - t)
        size = len(buf.getvalue())
        t = time.perf_counter()
        with h5py.File(buf, "r") as f:
            back = f["trials"][()]
        reads.append(time.perf_counter() - t)
        if not np.array_equal(back, data):
            raise SystemExit(f"{kw}: read back differs")
    mb = data.size / 1e6
    return size / data.size, mb / min(writes), mb / min(reads)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = block_of_a_run(Path(tmp))
    print(f"# {platform.machine()}, {os.cpu_count()} cores, h5py {h5py.__version__}, "
          f"HDF5 {h5py.version.hdf5_version}; {data.size:,} trials")  # fmt: skip
    print(f"{'filter':8s} {'size/byte':>9s} {'write MB/s':>11s} {'read MB/s':>10s}")
    for name, kw in FILTERS.items():
        ratio, write, read = measure(data, kw, args.repeat)
        print(f"{name:8s} {ratio:9.3f} {write:11.1f} {read:10.1f}")


if __name__ == "__main__":
    main()
