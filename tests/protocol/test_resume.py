"""Interrupting and resuming a run: the finished store equals an uninterrupted one."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from _runconfig import run_config
from diamp.config import parse_config
from diamp.daq.store import TrialStoreReader
from diamp.errors import ConfigError, StoreIntegrityError
from diamp.protocol.acquire import Interrupted
from diamp.protocol.run import acquire


def config(blocks: int = 5, trials: int = 30_001) -> str:
    return run_config(
        run={"seed": 31, "blocks": blocks, "trials_per_block": trials},
        sources={
            "alice": {"model": "iid", "bias": 0.003},
            "bob": {"model": "markov", "bias": 0.003},
        },
        device={"visibility": 0.95},
        protocol={"s_mu_threshold": "0.005"},
    )


def content(path: Path) -> tuple[list[str], str]:
    with TrialStoreReader(path) as reader:
        blocks = [reader.read_block(b) for b in reader.blocks()]  # verified
        return [hashlib.sha256(b.tobytes()).hexdigest() for b in blocks], reader.verify_z()[1]


def test_interrupted_and_resumed_equals_uninterrupted(tmp_path: Path) -> None:
    loaded = parse_config(config(), "run.toml")
    acquire(loaded, tmp_path / "full.h5", "run-full")
    calls = 0

    def stop_after_two() -> bool:
        nonlocal calls
        calls += 1
        return calls > 2

    with pytest.raises(Interrupted, match="2 of 5 blocks complete"):
        acquire(loaded, tmp_path / "part.h5", "run-part", should_stop=stop_after_two)
    with TrialStoreReader(tmp_path / "part.h5") as reader:
        assert [b.index for b in reader.blocks()] == [0, 1]
    acquire(loaded, tmp_path / "part.h5", "ignored", resume=True)
    assert content(tmp_path / "part.h5") == content(tmp_path / "full.h5")
    with TrialStoreReader(tmp_path / "part.h5") as reader:
        assert reader.run_id == "run-part"  # the run keeps its identity


def test_block_in_flight_is_dropped_and_regenerated(tmp_path: Path) -> None:
    import h5py

    loaded = parse_config(config(blocks=3), "run.toml")
    acquire(loaded, tmp_path / "full.h5", "a")
    acquire(loaded, tmp_path / "crash.h5", "b")
    with h5py.File(tmp_path / "crash.h5", "r+") as f:
        f["blocks/000002"].attrs["status"] = "writing"  # as if killed while writing block 2
        del f["z"]
    acquire(loaded, tmp_path / "crash.h5", "b", resume=True)
    assert content(tmp_path / "crash.h5") == content(tmp_path / "full.h5")


def test_resume_refuses_other_config_and_corruption(tmp_path: Path) -> None:
    import h5py
    import numpy as np

    loaded = parse_config(config(blocks=3), "run.toml")
    acquire(loaded, tmp_path / "s.h5", "a")
    other = parse_config(config(blocks=4), "other.toml")
    with pytest.raises(ConfigError, match="another config") as info:  # exit 2: bad argument
        acquire(other, tmp_path / "s.h5", "a", resume=True)
    assert info.value.exit_code == 2
    with h5py.File(tmp_path / "s.h5", "r+") as f:
        data = f["blocks/000001/trials"][()]
        data[5] ^= np.uint8(1)
        f["blocks/000001/trials"][...] = data
    with pytest.raises(StoreIntegrityError, match="block 000001"):
        acquire(loaded, tmp_path / "s.h5", "a", resume=True)


@pytest.mark.slow
def test_sigint_stops_after_a_block_and_resume_finishes(tmp_path: Path) -> None:
    path = tmp_path / "run.toml"
    path.write_text(config(blocks=60, trials=2**21))
    out = tmp_path / "run"
    diamp = Path(sys.executable).with_name("diamp")
    proc = subprocess.Popen(
        [str(diamp), "run", str(path), "--out", str(out), "-q"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    store = out / "trials.h5"
    deadline = time.monotonic() + 60
    blocks_dir = out / "trials.blocks"
    while time.monotonic() < deadline and (
        not blocks_dir.exists() or len(list(blocks_dir.glob("*.h5"))) < 2
    ):
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGINT)
    output = proc.communicate(timeout=120)[0].decode()
    assert proc.returncode == 130, output
    assert "--resume" in output
    with TrialStoreReader(store) as reader:
        blocks = reader.blocks()
        assert 0 < len(blocks) < 60 and all(b.status == "complete" for b in blocks)
    resumed = subprocess.run(
        [str(diamp), "run", str(path), "--resume", str(out), "-q"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert resumed.returncode in (0, 3), resumed.stdout + resumed.stderr
    assert (out / "certificate.json").exists()
    with TrialStoreReader(store) as reader:
        assert len(reader.blocks()) == 60
