"""SIGKILL at random moments: nothing complete is lost, and resuming gives the uninterrupted run.

``diamp run`` is started as a real process and killed with SIGKILL (no handler runs) at
seeded random times, again and again; after every kill the store must open and verify, and
``--resume`` must finish the run with exactly the trials, Z and key of an uninterrupted run.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from _runconfig import run_config
from diamp.daq.store import TrialStoreReader, TrialStoreWriter, block_dir, z_file
from diamp.errors import StoreIntegrityError

CONFIG = run_config(
    run={"seed": 77, "blocks": 48, "trials_per_block": 524_288, "segment_trials": 524_288},
    sources={"alice": {"model": "iid", "bias": 0.003}, "bob": {"model": "iid", "bias": 0.003}},
    device={"visibility": 0.95},
    protocol={"s_mu_threshold": "0.004"},
)

DIAMP = str(Path(sys.executable).with_name("diamp"))

CFG_SHA = hashlib.sha256(b"cfg").hexdigest()  # the stored config must match its hash


def content(store: Path) -> tuple[list[str], str]:
    with TrialStoreReader(store) as reader:
        blocks = [
            hashlib.sha256(reader.read_block(b).tobytes()).hexdigest() for b in reader.blocks()
        ]
        return blocks, reader.verify_z()[1]


def complete_blocks(store: Path) -> int:
    """Blocks a killed store holds; every one of them must verify."""
    if not store.exists():
        return 0
    with TrialStoreReader(store) as reader:
        return reader.verified_prefix()


def _kill_when(proc: subprocess.Popen[bytes], ready: Callable[[], bool], extra_s: float) -> bool:
    """SIGKILL ``proc`` ``extra_s`` after ``ready()`` holds; False if it finished first."""
    deadline = time.monotonic() + 120
    while not ready() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.002)
    time.sleep(extra_s)
    if proc.poll() is not None:
        return False
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    return True


@pytest.mark.slow
def test_random_sigkills_then_resume_equal_uninterrupted_run(tmp_path: Path) -> None:
    config = tmp_path / "run.toml"
    config.write_text(CONFIG)
    full = tmp_path / "full"
    done = subprocess.run([DIAMP, "run", str(config), "--out", str(full), "-q"], timeout=300)
    assert done.returncode == 0
    run = tmp_path / "killed"
    store = run / "trials.h5"
    rng = np.random.default_rng(20261122)
    # kill points: during start-up, at random block counts (plus up to one block's time, so
    # some land mid-write), and while Z is drawn or the key extracted
    targets = sorted(int(k) for k in rng.choice(np.arange(1, 47), size=4, replace=False))
    plan: list[Callable[[], bool]] = [lambda: True]
    plan += [lambda k=k: len(list(block_dir(store).glob("*.h5"))) >= k for k in targets]
    plan.append(lambda: z_file(store).exists())
    seen = []
    for ready in plan:
        args = ["--resume", str(run)] if store.exists() else ["--out", str(run)]
        proc = subprocess.Popen([DIAMP, "run", str(config), *args, "-q"])
        assert _kill_when(proc, ready, float(rng.uniform(0.0, 0.08))), "finished before the kill"
        seen.append(complete_blocks(store))  # opens and verifies, whatever the moment
    assert seen == sorted(seen) and seen[-1] == 48, seen
    # a kill that lands after block t's file is renamed into place but before the root links
    # it loses exactly that block (the one in flight), never an earlier one
    assert all(k >= t - 1 for k, t in zip(seen[1:], targets, strict=False)), (seen, targets)
    resumed = subprocess.run([DIAMP, "run", str(config), "--resume", str(run), "-q"], timeout=300)
    assert resumed.returncode == 0
    assert content(store) == content(full / "trials.h5")
    assert (run / "key.bin").read_bytes() == (full / "key.bin").read_bytes()
    assert not list(run.glob(".*.tmp")) and not list(block_dir(store).glob(".*.tmp"))


def test_resume_discards_the_block_in_flight_and_leftovers(tmp_path: Path) -> None:
    """The files a kill can leave: a renamed block file not yet linked, temporaries."""
    rng = np.random.default_rng(5)
    path = tmp_path / "trials.h5"
    blocks = [rng.integers(0, 16, 1000, dtype=np.uint8) for _ in range(3)]
    with TrialStoreWriter(path, "run-x", "cfg", CFG_SHA) as writer:
        for block in blocks[:2]:
            writer.append_block(block)
    linked_root = path.read_bytes()
    with TrialStoreWriter.resume(path, CFG_SHA) as writer:
        writer.append_block(blocks[2])
    path.write_bytes(linked_root)  # as if killed after block 2's file, before the new root
    (block_dir(path) / "000002.h5.tmp").write_bytes(b"partial")
    path.with_name("trials.h5.tmp").write_bytes(b"partial root")
    z_file(path).with_name("trials.z.h5.tmp").write_bytes(b"partial z")
    path.with_name(".trials.h5.k3x9q.tmp").write_bytes(b"partial root")
    z_file(path).with_name(".trials.z.h5.a7b2c.tmp").write_bytes(b"partial z")
    with TrialStoreWriter.resume(path, CFG_SHA) as writer:
        assert writer.n_blocks == 2 and not writer.has_z
    assert sorted(p.name for p in block_dir(path).iterdir()) == ["000000.h5", "000001.h5"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["trials.blocks", "trials.h5"]


def test_block_file_of_another_run_is_refused(tmp_path: Path) -> None:
    rng = np.random.default_rng(6)
    block = rng.integers(0, 16, 1000, dtype=np.uint8)
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        with TrialStoreWriter(tmp_path / name / "trials.h5", f"run-{name}", "cfg", CFG_SHA) as w:
            w.append_block(block)
    other = block_dir(tmp_path / "b" / "trials.h5") / "000000.h5"
    os.replace(other, block_dir(tmp_path / "a" / "trials.h5") / "000000.h5")
    with pytest.raises(StoreIntegrityError, match=r"block 000000: belongs to run 'run-b'"):
        complete_blocks(tmp_path / "a" / "trials.h5")


def test_missing_block_file_names_block_and_file(tmp_path: Path) -> None:
    path = tmp_path / "trials.h5"
    with TrialStoreWriter(path, "run-x", "cfg", CFG_SHA) as writer:
        for _ in range(2):
            writer.append_block(np.zeros(10, dtype=np.uint8))
    (block_dir(path) / "000001.h5").unlink()
    with pytest.raises(
        StoreIntegrityError, match=r"block 000001: its file trials.blocks/000001.h5"
    ):
        complete_blocks(path)


def test_new_store_refuses_leftover_block_files(tmp_path: Path) -> None:
    path = tmp_path / "trials.h5"
    block_dir(path).mkdir()
    TrialStoreWriter(path, "run-x", "cfg", CFG_SHA).close()  # an empty directory is fine
    path.unlink()
    (block_dir(path) / "000000.h5").write_bytes(b"x")
    with pytest.raises(Exception, match="already exists"):
        TrialStoreWriter(path, "run-y", "cfg", CFG_SHA)
