"""The one atomic-write helper: mode from the start, nothing half-written, exclusive writes."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from diamp.atomic import atomic_target, write_atomic
from diamp.errors import StorageError


def test_write_replaces_whole_and_keeps_the_mode(tmp_path: Path) -> None:
    target = tmp_path / "key.bin"
    write_atomic(target, b"first", mode=0o600)
    write_atomic(target, b"second", mode=0o600)
    assert target.read_bytes() == b"second"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["key.bin"]


def test_the_temporary_file_is_private_before_any_byte(tmp_path: Path) -> None:
    with atomic_target(tmp_path / "secret", mode=0o600) as tmp:
        assert stat.S_IMODE(tmp.stat().st_mode) == 0o600 and tmp.stat().st_size == 0
        tmp.write_bytes(b"x")


def test_a_failure_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "certificate.json"
    write_atomic(target, b"old")
    with (
        pytest.raises(StorageError, match="cannot write file: disk full"),
        atomic_target(target) as tmp,
    ):
        tmp.write_bytes(b"half")
        raise RuntimeError("disk full")  # as h5py reports some write failures
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["certificate.json"]


def test_an_os_error_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match=r"missing/k\.bin: cannot write the key"):
        write_atomic(tmp_path / "missing" / "k.bin", b"k", what="the key")


def test_exclusive_never_replaces(tmp_path: Path) -> None:
    target = tmp_path / "beacon.key"
    write_atomic(target, b"one", exclusive=True)
    with pytest.raises(StorageError, match="exists; refusing to overwrite"):
        write_atomic(target, b"two", exclusive=True)
    assert target.read_bytes() == b"one"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["beacon.key"]


def test_umask_is_respected(tmp_path: Path) -> None:
    old = os.umask(0o077)
    try:
        write_atomic(tmp_path / "f", b"x", mode=0o644)
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "f").stat().st_mode) == 0o600
