"""Dask execution: a LocalCluster, and an external scheduler with workers as processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from diamp.daq.bitfiles import PackedFileBits
from diamp.extractors.bits import PackedBits
from diamp.extractors.correlate import correlate_parity
from diamp.extractors.distributed import correlate_parity_dask, dask_client

DASK = Path(sys.executable).with_name("dask")


def write_random(path: Path, nbytes: int, seed: int) -> Path:
    path.write_bytes(np.random.default_rng(seed).bytes(nbytes))
    return path


def test_local_cluster_matches_single_process(tmp_path: Path) -> None:
    x = PackedFileBits(write_random(tmp_path / "x.bin", 2**20, 1))
    y = PackedFileBits(write_random(tmp_path / "y.bin", 2**20, 2))
    m = 5000
    local = correlate_parity(x, y, m, max_fft_length=2**16)
    with dask_client(workers=2) as client:
        remote = correlate_parity_dask(client, x, y, m, max_fft_length=2**16, engine="fft")
        # an in-memory source is scattered, not re-read
        mem = PackedBits(np.frombuffer((tmp_path / "x.bin").read_bytes(), np.uint8).copy(), 2**23)
        again = correlate_parity_dask(client, mem, y, m, max_fft_length=2**16, engine="fft")
        exact = correlate_parity_dask(client, x, y, m, max_fft_length=2**16, engine="exact")
    assert remote.output == local.output == again.output == exact.output
    assert remote.fft_length == 2**16 and remote.max_residual <= remote.error_bound < 0.25
    assert exact.exactness == "exact" and remote.exactness == "fft-bound"


@pytest.fixture
def external_cluster(tmp_path: Path) -> Iterator[tuple[str, list[subprocess.Popen[bytes]]]]:
    scheduler_file = tmp_path / "scheduler.json"
    env = {**os.environ, "DASK_DISTRIBUTED__WORKER__DAEMON": "False"}
    procs: list[subprocess.Popen[bytes]] = []
    log = open(tmp_path / "cluster.log", "wb")
    try:
        procs.append(
            subprocess.Popen(
                [
                    str(DASK),
                    "scheduler",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    "0",
                    "--no-dashboard",
                    "--scheduler-file",
                    str(scheduler_file),
                ],
                stdout=log,
                stderr=log,
                env=env,
            )
        )
        deadline = time.monotonic() + 60
        while not scheduler_file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert scheduler_file.exists(), (tmp_path / "cluster.log").read_text()
        time.sleep(0.2)  # the file is written before it is complete on slow machines
        for _ in range(2):
            procs.append(
                subprocess.Popen(
                    [
                        str(DASK),
                        "worker",
                        "--scheduler-file",
                        str(scheduler_file),
                        "--nthreads",
                        "1",
                        "--no-nanny",
                        "--host",
                        "127.0.0.1",
                        "--no-dashboard",
                        "--memory-limit",
                        "0",
                    ],
                    stdout=log,
                    stderr=log,
                    env=env,
                )
            )
        import json

        address = json.loads(scheduler_file.read_text())["address"]
        yield address, procs
    finally:
        for proc in reversed(procs):
            proc.kill()
            proc.wait(timeout=30)
        log.close()


def test_external_scheduler_survives_a_killed_worker(
    tmp_path: Path, external_cluster: tuple[str, list[subprocess.Popen[bytes]]]
) -> None:
    address, procs = external_cluster
    x = PackedFileBits(write_random(tmp_path / "x.bin", 2**22, 3))
    y = PackedFileBits(write_random(tmp_path / "y.bin", 2**22, 4))
    m = 2**15
    expected = correlate_parity(x, y, m, max_fft_length=2**18)
    killed = threading.Event()
    victim = procs[1]

    def progress(done: int, total: int) -> None:
        if not killed.is_set() and done < total:
            os.kill(victim.pid, signal.SIGKILL)  # a worker dies while work is in flight
            killed.set()

    with dask_client(scheduler=address) as client:
        client.wait_for_workers(2, timeout=60)
        result = correlate_parity_dask(
            client, x, y, m, max_fft_length=2**18, block_bits=2**16, progress=progress
        )
        assert killed.is_set()
        assert victim.wait(timeout=30) == -signal.SIGKILL
        assert len(client.scheduler_info()["workers"]) == 1
    assert result.output == expected.output


def test_dask_target_needs_exactly_one_place() -> None:
    from diamp.errors import ExtractionError
    from diamp.extractors.distributed import DaskTarget

    assert DaskTarget(workers=2).label == "local:2"
    assert DaskTarget(scheduler="tcp://h:1").label == "tcp://h:1"
    for bad in (DaskTarget, lambda: DaskTarget(2, "tcp://h:1"), lambda: DaskTarget(workers=0)):
        with pytest.raises(ExtractionError, match="workers"):
            bad()


def test_checked_toeplitz_on_a_local_cluster_matches_local(tmp_path: Path) -> None:
    from diamp.extractors.checked import extract_checked
    from diamp.extractors.distributed import DaskTarget

    n, m = 2**19, 1001
    raw = PackedFileBits(write_random(tmp_path / "r.bin", n // 8, 5))
    seed = PackedFileBits(write_random(tmp_path / "s.bin", (n + m - 1) // 8, 6), n + m - 1)
    local = extract_checked("toeplitz", raw, seed, m, check_bits=8, max_fft_length=2**16)
    remote = extract_checked(
        "toeplitz", raw, seed, m, check_bits=8, max_fft_length=2**16, dask=DaskTarget(workers=1)
    )
    assert remote.output == local.output and len(remote.checked_positions) == 8
