"""Resource exhaustion fails closed (issue 15, item 3): a one-line error, complete blocks kept.

Two real limits, each in its own ``diamp`` process: a file-size limit (``RLIMIT_FSIZE``, any
user: writes past it fail with EFBIG) and, where the test may mount one (root, as in CI), a
small tmpfs that fills up (ENOSPC) and is then enlarged so that ``--resume`` finishes with
the key an uninterrupted run gives.
"""

from __future__ import annotations

import os
import resource
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from _runconfig import run_config, write_config

DIAMP = [sys.executable, "-c", "from diamp.cli import main; main()"]


def small_config(tmp_path: Path) -> Path:
    text = run_config(
        run={"seed": 3, "blocks": 6, "trials_per_block": 1_000_000},
        device={"visibility": 1.0},
        protocol={"s_mu_threshold": "0.008"},
    )
    return write_config(tmp_path, text)


def diamp(*args: object, limit: int | None = None) -> subprocess.CompletedProcess[str]:
    def limited() -> None:
        if limit is not None:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of a kill
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return subprocess.run(
        [*DIAMP, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=600,
        preexec_fn=limited,
        check=False,
    )


def assert_fails_closed(result: subprocess.CompletedProcess[str], reason: str) -> None:
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    both = result.stdout + result.stderr
    assert "Traceback" not in both and "Exception ignored" not in both, both
    errors = [line for line in both.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and reason in errors[0], both


@pytest.mark.slow
def test_file_size_limit_is_a_one_line_error_and_resume_finishes(tmp_path: Path) -> None:
    config = small_config(tmp_path)
    reference = tmp_path / "reference"
    assert diamp("run", config, "--out", reference, "-q").returncode == 0
    out = tmp_path / "run"
    # the block files (~0.8 MB each) fit, Z (1.5 MB of packed bits) does not
    failed = diamp("run", config, "--out", out, "-q", limit=1_000_000)
    assert_fails_closed(failed, "File too large")
    kept = sorted(p.name for p in (out / "trials.blocks").iterdir())
    assert kept == [f"{i:06d}.h5" for i in range(6)]  # every complete block is kept
    assert not list(out.glob(".*.tmp")) and not (out / "certificate.json").exists()
    resumed = diamp("run", config, "--resume", out, "-q")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert (out / "key.bin").read_bytes() == (reference / "key.bin").read_bytes()


def _mount_tmpfs(where: Path, size: str) -> bool:
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    where.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
        capture_output=True,
        check=False,
    )
    return done.returncode == 0


@pytest.mark.slow
def test_full_disk_is_a_one_line_error_and_resume_finishes(tmp_path: Path) -> None:
    disk = tmp_path / "disk"
    if not _mount_tmpfs(disk, "3m"):
        pytest.skip("needs root to mount a small tmpfs (CI runs as root); EFBIG is tested above")
    try:
        config = small_config(tmp_path)
        out = disk / "run"
        failed = diamp("run", config, "--out", out, "-q")
        assert_fails_closed(failed, "No space left on device")
        kept = sorted((out / "trials.blocks").iterdir())
        assert kept, "at least one complete block fits in 3 MB"
        subprocess.run(["mount", "-o", "remount,size=64m", str(disk)], check=True)
        resumed = diamp("run", config, "--resume", out, "-q")
        assert resumed.returncode == 0, resumed.stdout + resumed.stderr
        reference = tmp_path / "reference"
        assert diamp("run", config, "--out", reference, "-q").returncode == 0
        assert (out / "key.bin").read_bytes() == (reference / "key.bin").read_bytes()
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


class _ReadOnly:
    """A folder that can be made read-only: a tmpfs remounted ``ro`` (root, as in CI, where
    file modes do not bind) or, for any other user, its permission bits."""

    def __init__(self, where: Path) -> None:
        self.where, self.mounted = where, _mount_tmpfs(where, "64m")
        if not self.mounted:
            where.mkdir(exist_ok=True)

    def set(self, read_only: bool) -> None:
        if self.mounted:
            mode = "ro" if read_only else "rw"
            subprocess.run(["mount", "-o", f"remount,{mode}", str(self.where)], check=True)
            return
        for path in [self.where, *(p for p in self.where.rglob("*") if p.is_dir())]:
            path.chmod(0o555 if read_only else 0o755)

    def close(self) -> None:
        self.set(False)
        if self.mounted:
            subprocess.run(["umount", "-l", str(self.where)], check=False)


@pytest.mark.slow
def test_read_only_folder_is_a_one_line_error_and_resume_finishes(tmp_path: Path) -> None:
    folder = _ReadOnly(tmp_path / "ro")
    try:
        config = small_config(tmp_path)
        folder.set(True)
        refused = diamp("run", config, "--out", folder.where / "new", "-q")
        assert_fails_closed(refused, "Read-only file system" if folder.mounted else "denied")
        assert str(folder.where / "new") in refused.stderr + refused.stdout
        folder.set(False)
        out = folder.where / "run"
        assert diamp("run", config, "--out", out, "-q", limit=1_000_000).returncode == 1
        blocks = {p.name: p.read_bytes() for p in (out / "trials.blocks").iterdir()}
        folder.set(True)  # e.g. the disk went read-only after an error
        failed = diamp("run", config, "--resume", out, "-q")
        assert_fails_closed(failed, "Read-only file system" if folder.mounted else "denied")
        assert {p.name: p.read_bytes() for p in (out / "trials.blocks").iterdir()} == blocks
        folder.set(False)
        resumed = diamp("run", config, "--resume", out, "-q")
        assert resumed.returncode == 0, resumed.stdout + resumed.stderr
        reference = tmp_path / "reference"
        assert diamp("run", config, "--out", reference, "-q").returncode == 0
        assert (out / "key.bin").read_bytes() == (reference / "key.bin").read_bytes()
    finally:
        folder.close()
