"""A file of raw samples keeps its own record of what was read (``FILE.served.hwm``).

The pool's anchor catches a database restored on its own; it cannot catch a database restored
*together with* an equally old anchor from one backup. For a DIRA key the run's ``served.hwm``
catches that; for a file of raw samples the same Toeplitz seed over the same samples would
give the same output again, so the file keeps its own mark beside it. Every test uses a real
file, a real SQLite pool with its anchor and the real pipeline; served output is compared
piece by piece (random samples: equal pieces mean re-served bytes).
"""

from __future__ import annotations

import itertools
import shutil
from pathlib import Path

import numpy as np
import pytest
from _svc import config_text, write_config

from diamp.service.anchor import AnchorFile
from diamp.service.core import Service
from diamp.service.errors import StateError
from diamp.service.settings import parse_settings

PIECE = 64
POOL_FILES = ("pool.sqlite", "pool.sqlite-wal", "pool.sqlite-shm", "pool.sqlite.anchor",
              "pool.sqlite.seed")  # fmt: skip


def _config(folder: Path, samples: Path) -> Path:
    source = (
        f'[[sources]]\nkind = "file"\nname = "u"\npath = "{samples}"\n'
        'entropy = { model = "declared", min_entropy = 7.5 }\n'
    )
    tiers = '[[tiers]]\nname = "t"\nsources = ["u"]\nchunk_bytes = 4096\n'
    path, _ = write_config(folder, config_text(sources=source, tiers=tiers))
    return path


@pytest.fixture
def samples(tmp_path: Path) -> Path:
    path = tmp_path / "u.bin"
    path.write_bytes(np.random.default_rng(11).integers(0, 256, 6 << 20, np.uint8).tobytes())
    return path


def _serve(config: Path, reads: int, new_pool: bool = False) -> tuple[list[bytes], int]:
    """Start, let the pipeline read at least ``reads`` more blocks of the file while serving
    everything it extracts, stop; (served pieces, the stream's position at the end)."""
    service = Service(parse_settings(config.read_text(), str(config)), new_pool=new_pool)
    try:
        stream = service.pipeline.sources["u"].stream
        assert stream is not None
        goal = stream.position + reads * (1 << 17)
        served: list[bytes] = []
        while stream.position < goal and not stream.exhausted:
            service.pipeline.step()
            while service.pool.level("t") >= PIECE:
                served.append(service.draw(PIECE, "t").data)
        return served, stream.position
    finally:
        service.stop()


def _no_repeats(*runs: list[bytes]) -> None:
    pieces = [p for run in runs for p in run]
    assert pieces and len(pieces) == len(set(pieces)), "a served piece was served again"


def _backup(folder: Path, to: Path) -> None:
    to.mkdir()
    for name in POOL_FILES:
        if (folder / name).exists():
            shutil.copy2(folder / name, to / name)


def _restore(backup: Path, folder: Path) -> None:
    for name in POOL_FILES:
        (folder / name).unlink(missing_ok=True)
        if (backup / name).exists():
            shutil.copy2(backup / name, folder / name)


def test_the_file_is_marked_ahead_of_every_read(samples: Path, tmp_path: Path) -> None:
    config = _config(tmp_path, samples)
    _, position = _serve(config, reads=3)
    marks = AnchorFile(tmp_path / "u.bin.served.hwm").records()
    assert marks[0]["event"] == "first mark" and marks[0]["to"] == 0
    assert marks[-1]["to"] >= position  # reserved before read
    assert all(a["to"] == b["from"] for a, b in itertools.pairwise(marks))


def test_a_restart_continues_after_everything_read(samples: Path, tmp_path: Path) -> None:
    config = _config(tmp_path, samples)
    first, position = _serve(config, reads=3)
    second, _ = _serve(config, reads=3)
    marks = AnchorFile(tmp_path / "u.bin.served.hwm").records()
    assert next(m for m in marks if m.get("event") == "continued")["from"] >= position
    _no_repeats(first, second)


@pytest.mark.slow
def test_pool_and_anchor_restored_together_are_refused(samples: Path, tmp_path: Path) -> None:
    """The case the pool's anchor cannot see: both restored from one old backup."""
    config = _config(tmp_path, samples)
    early, _ = _serve(config, reads=2)
    _backup(tmp_path, tmp_path / "backup")
    later, _ = _serve(config, reads=20)  # past the reservation the backup knew
    _restore(tmp_path / "backup", tmp_path)
    with pytest.raises(StateError, match=r"u\.bin\.served\.hwm: source 'u': the file's samples "
                       r"were reserved up to byte \d+ .*--new-pool") as refused:  # fmt: skip
        Service(parse_settings(config.read_text(), str(config)))
    assert "\n" not in str(refused.value)
    recovered, _ = _serve(config, reads=2, new_pool=True)
    _no_repeats(early, later, recovered)


@pytest.mark.slow
def test_a_second_pool_reading_the_file_is_refused(samples: Path, tmp_path: Path) -> None:
    config = _config(tmp_path, samples)
    other = tmp_path / "other"
    other.mkdir()
    copy = _config(other, samples)
    first, _ = _serve(config, reads=2)
    _backup(tmp_path, other / "copy")
    _restore(other / "copy", other)  # the whole pool copied to a second place
    second, _ = _serve(config, reads=20)
    with pytest.raises(StateError, match=r"or another pool reads this file"):
        Service(parse_settings(copy.read_text(), str(copy)))
    _no_repeats(first, second)


def test_an_edited_mark_is_refused(samples: Path, tmp_path: Path) -> None:
    config = _config(tmp_path, samples)
    _serve(config, reads=2)
    mark = tmp_path / "u.bin.served.hwm"
    lines = mark.read_bytes().splitlines(keepends=True)
    edited = lines[0].replace(b'"to":0', b'"to":1')
    assert edited != lines[0]
    mark.write_bytes(b"".join([edited, *lines[1:]]))
    with pytest.raises(StateError, match=r"u\.bin\.served\.hwm"):
        Service(parse_settings(config.read_text(), str(config)))
