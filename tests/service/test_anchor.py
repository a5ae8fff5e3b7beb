"""Anchor files: append-only, hash-chained, fsynced; edits refused, torn tails dropped."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from diamp.service.anchor import AnchorFile
from diamp.service.errors import StateError


def _filled(tmp_path: Path, n: int) -> AnchorFile:
    f = AnchorFile(tmp_path / "x.anchor")
    for i in range(n):
        f.append({"seq": i})
    return f


def test_records_chain_each_line_to_the_one_before(tmp_path: Path) -> None:
    f = _filled(tmp_path, 3)
    lines = f.path.read_bytes().splitlines()
    records = f.records()
    assert [r["seq"] for r in records] == [0, 1, 2]
    assert records[0]["prev"] == "0" * 64
    assert records[2]["prev"] == hashlib.sha256(lines[1]).hexdigest()


def test_an_edited_line_is_refused(tmp_path: Path) -> None:
    f = _filled(tmp_path, 3)
    f.path.write_bytes(f.path.read_bytes().replace(b'"seq":1', b'"seq":7'))
    with pytest.raises(StateError, match=r"x\.anchor: anchor line 3 does not chain"):
        f.records()


def test_a_torn_last_line_is_ignored_and_cut_before_the_next_append(tmp_path: Path) -> None:
    f = _filled(tmp_path, 2)
    with f.path.open("ab") as fh:
        fh.write(b'{"seq": 2, "pr')  # a crash mid-write: never fsynced, never used
    assert [r["seq"] for r in f.records()] == [0, 1]
    f.append({"seq": 3})
    assert [r["seq"] for r in f.records()] == [0, 1, 3]


def test_rotation_keeps_the_last_record_and_the_history(tmp_path: Path) -> None:
    f = _filled(tmp_path, 50)
    f.rotate(max_bytes=100)
    old = AnchorFile(tmp_path / "x.anchor.1").records()
    new = f.records()
    assert len(old) == 50 and len(new) == 1 and new[0]["seq"] == 49
    f.append({"seq": 50})
    assert [r["seq"] for r in f.records()] == [49, 50]
