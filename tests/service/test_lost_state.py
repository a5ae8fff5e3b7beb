"""State that cannot be lost silently (issue 15, item 1): the pool database and its anchors.

Every test uses a real DIRA run (``diamp run`` on the simulated lab, copied per test), a real
SQLite pool and real anchor files. The pool's database is lost in each way the review named
(deleted, emptied, replaced by an older backup, copied to a second directory with the same
run, restored without its ``-wal`` file); the service must refuse to start with a message that
names the files, what each says and the recovery, and after ``--new-pool`` it must continue
*after* every key byte it served before: each served piece is located in the run's key and
no key offset is ever served twice.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest
from _svc import config_text, write_config
from typer.testing import CliRunner

from diamp.cli import app as cli
from diamp.service.anchor import AnchorFile
from diamp.service.core import Service
from diamp.service.errors import PoolError, StateError
from diamp.service.settings import ServiceSettings, parse_settings

TIER = '[[tiers]]\nname = "dira"\nsources = ["lab"]\nchunk_bytes = 64\n'
PIECE = 16  # bytes per draw; one reservation per draw (reserve_bytes = 16)


def _config(folder: Path, run: Path) -> Path:
    source = f'[[sources]]\nkind = "dira"\nname = "lab"\nrun = "{run}"\nallow_simulated = true\n'
    text = config_text(sources=source, tiers=TIER, pool="reserve_bytes = 16")
    path, _ = write_config(folder, text)
    return path


def _settings(config: Path) -> ServiceSettings:
    return parse_settings(config.read_text(), str(config))


def _serve(
    config: Path, draws: int, steps: int = 2, new_pool: bool = False, keep: list | None = None
) -> list[bytes]:
    """Start the service (no thread), fill ``steps`` chunks, serve ``draws`` pieces, stop."""
    service = Service(_settings(config), new_pool=new_pool)
    try:
        for _ in range(steps):
            service.pipeline.step()
        got = [service.draw(PIECE, "dira").data for _ in range(draws)]
        if keep is not None:
            keep.append(service)
            return got
    except BaseException:
        service.stop()
        raise
    service.stop()
    return got


def _offsets(key: bytes, served: list[bytes]) -> list[int]:
    """Where each served piece sits in the key (each must occur exactly once there)."""
    out = []
    for piece in served:
        at = key.find(piece)
        assert at >= 0 and key.find(piece, at + 1) < 0, "piece not uniquely in the key"
        out.append(at)
    return out


def _no_repeats(key: bytes, before: list[bytes], after: list[bytes]) -> None:
    """0 repeated key bytes; everything served after comes after everything served before."""
    old, new = _offsets(key, before), _offsets(key, after)
    used = [b for o in old + new for b in range(o, o + PIECE)]
    assert len(used) == len(set(used)), "a key byte was served twice"
    assert new and min(new) >= max(old) + PIECE


def _drop_db(pool: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        pool.with_name(pool.name + suffix).unlink(missing_ok=True)


@pytest.fixture
def lab(simulated_run: Path, tmp_path: Path) -> tuple[Path, bytes]:
    """The service config over this test's copy of the run; the run's key."""
    return _config(tmp_path, simulated_run), (simulated_run / "key.bin").read_bytes()


def test_a_fresh_pool_is_anchored_and_the_run_marked(lab: tuple[Path, bytes]) -> None:
    config, key = lab
    served = _serve(config, draws=3)
    anchor = AnchorFile(config.parent / "pool.sqlite.anchor").records()
    marks = AnchorFile(config.parent / "run" / "served.hwm").records()
    assert anchor[0]["event"] == "created or adopted"
    assert anchor[-1]["seq"] == int(
        sqlite3.connect(config.parent / "pool.sqlite")
        .execute("SELECT value FROM meta WHERE key = 'anchor_seq'")
        .fetchone()[0]
    )
    assert anchor[-1]["cursors"]["lab"] == marks[-1]["to"] == 128  # two chunks of 64 bytes
    assert _offsets(key, served) == [0, 16, 32]


@pytest.mark.parametrize(
    ("loss", "said"),
    [
        (
            "deleted",
            r"pool\.sqlite: pool database is missing; anchor .*pool\.sqlite\.anchor "
            r"records pool [0-9a-f]{32} at state \d+",
        ),
        ("emptied", r"pool\.sqlite: pool database is empty \(0 bytes\); anchor "),
    ],
)
def test_a_lost_pool_is_refused_then_new_pool_continues_after_it(
    lab: tuple[Path, bytes], loss: str, said: str
) -> None:
    config, key = lab
    before = _serve(config, draws=5)
    db = config.parent / "pool.sqlite"
    _drop_db(db)
    if loss == "emptied":
        db.write_bytes(b"")
    with pytest.raises(StateError, match=said) as refused:
        Service(_settings(config))
    assert "--new-pool" in str(refused.value) and "\n" not in str(refused.value)
    _no_repeats(key, before, _serve(config, draws=5, new_pool=True))


def test_an_older_backup_is_refused(lab: tuple[Path, bytes]) -> None:
    config, key = lab
    db = config.parent / "pool.sqlite"
    before = _serve(config, draws=2)
    backup = config.parent / "backup.sqlite"
    shutil.copy2(db, backup)
    before += _serve(config, draws=4)
    shutil.copy2(backup, db)
    with pytest.raises(
        StateError,
        match=r"pool database is at state \d+, behind its anchor "
        r"\(restored from an older backup",
    ):
        Service(_settings(config))
    _no_repeats(key, before, _serve(config, draws=4, new_pool=True))


def test_a_database_restored_without_its_wal_is_refused(lab: tuple[Path, bytes]) -> None:
    config, key = lab
    db = config.parent / "pool.sqlite"
    held: list[Service] = []
    before = _serve(config, draws=2, keep=held)
    with sqlite3.connect(db) as c:  # the state so far reaches the main file
        c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    before += [held[0].draw(PIECE, "dira").data for _ in range(3)]  # only in the -wal now
    main_file = db.read_bytes()
    held[0].stop()
    _drop_db(db)
    db.write_bytes(main_file)  # restored without its -wal
    with pytest.raises(StateError, match=r"behind its anchor .* without its -wal file"):
        Service(_settings(config))
    _no_repeats(key, before, _serve(config, draws=3, new_pool=True))


def test_a_crash_between_anchor_and_commit_rolls_forward(lab: tuple[Path, bytes]) -> None:
    config, key = lab
    db = config.parent / "pool.sqlite"
    before = _serve(config, draws=2, steps=3)
    shutil.copy2(db, config.parent / "before-last.sqlite")
    before += _serve(config, draws=1, steps=0)  # one reservation: anchored, then committed
    shutil.copy2(config.parent / "before-last.sqlite", db)  # as if the commit never happened
    after = _serve(config, draws=3, steps=0)  # starts: only the last change is missing
    _no_repeats(key, before, after)


def test_a_copy_in_a_second_directory_is_refused(lab: tuple[Path, bytes], tmp_path: Path) -> None:
    config, key = lab
    run = tmp_path / "run"
    before = _serve(config, draws=3)
    second = tmp_path / "second"
    second.mkdir()
    copy = _config(second, run)
    shutil.copy2(config.parent / "pool.sqlite", second / "pool.sqlite")
    with pytest.raises(
        StateError,
        match=r"second/pool\.sqlite: pool database is pool [0-9a-f]+ "
        r"at state \d+, but its anchor .*second/pool\.sqlite\.anchor is missing",
    ):
        Service(_settings(copy))
    _no_repeats(key, before, _serve(copy, draws=3, new_pool=True))
    with pytest.raises(
        StateError,
        match=r"run/served\.hwm: source 'lab': the run's key was "
        r"reserved up to byte \d+ by pool [0-9a-f]+ .*; this pool",
    ):
        Service(_settings(config))  # the first pool, now behind the run's mark


def test_a_copy_with_its_anchor_is_caught_by_the_runs_mark(
    lab: tuple[Path, bytes], tmp_path: Path
) -> None:
    config, key = lab
    run = tmp_path / "run"
    before = _serve(config, draws=2)
    second = tmp_path / "second"
    second.mkdir()
    copy = _config(second, run)
    for name in ("pool.sqlite", "pool.sqlite.anchor"):
        shutil.copy2(config.parent / name, second / name)
    before += _serve(config, draws=4, steps=2)  # the original goes on using the run
    with pytest.raises(
        StateError,
        match=r"served\.hwm: source 'lab': the run's key was "
        r"reserved up to byte \d+ .* its database is older than the run's record, "
        r"or another pool uses this run",
    ):
        Service(_settings(copy))
    _no_repeats(key, before, _serve(copy, draws=3, new_pool=True))


def test_two_live_pools_on_one_run_stop_at_the_next_reservation(
    lab: tuple[Path, bytes], tmp_path: Path
) -> None:
    config, _ = lab
    second = tmp_path / "second"
    second.mkdir()
    copy = _config(second, tmp_path / "run")
    held: list[Service] = []
    _serve(config, draws=1, keep=held)
    other = Service(_settings(copy), new_pool=True)  # a second pool takes over the run
    try:
        other.pipeline.step()
        held[0].pipeline.step()  # the first pool's next reservation is refused
        lab_source = held[0].pipeline.sources["lab"].health
        assert lab_source.status == "quarantined"
        assert "another pool uses this DIRA run" in lab_source.reason
    finally:
        other.stop()
        held[0].stop()


def test_an_old_pool_without_anchor_is_adopted(lab: tuple[Path, bytes]) -> None:
    config, key = lab
    before = _serve(config, draws=3)
    for name in ("pool.sqlite.anchor", "run/served.hwm"):
        (config.parent / name).unlink()
    with sqlite3.connect(config.parent / "pool.sqlite") as c:  # as before anchors existed
        c.execute("DELETE FROM meta WHERE key IN ('pool_id', 'anchor_seq')")
    after = _serve(config, draws=3, steps=1)
    assert AnchorFile(config.parent / "pool.sqlite.anchor").records()[0]["cursors"]["lab"] == 128
    _no_repeats(key, before, after)


def test_new_pool_keeps_the_generated_seed(tmp_path: Path) -> None:
    path, _ = write_config(tmp_path, config_text())
    first = Service(_settings(path))
    seed = first.pipeline.seed.material.tobytes()
    first.stop()
    _drop_db(tmp_path / "pool.sqlite")
    again = Service(_settings(path), new_pool=True)
    try:
        assert again.pipeline.seed.material.tobytes() == seed  # from pool.sqlite.seed
    finally:
        again.stop()


def test_raw_streams_continue_past_their_anchored_position(tmp_path: Path) -> None:
    path, _ = write_config(tmp_path, config_text())
    first = Service(_settings(path))
    for _ in range(3):
        first.pipeline.step()
    used = first.pool.cursor("vac") or 0
    first.stop()
    _drop_db(tmp_path / "pool.sqlite")
    again = Service(_settings(path), new_pool=True)
    try:
        assert used > 0
        assert (again.pool.cursor("vac") or 0) >= used
        assert again.pipeline.sources["vac"].stream.position >= used  # type: ignore[union-attr]
    finally:
        again.stop()


def test_diamp_serve_refuses_a_lost_pool_with_one_line_and_exit_2(
    lab: tuple[Path, bytes],
) -> None:
    config, _ = lab
    _serve(config, draws=1)
    _drop_db(config.parent / "pool.sqlite")
    result = CliRunner().invoke(cli, ["serve", str(config), "--port", "0"])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "pool database is missing" in lines[0], result.output
    assert "pool.sqlite.anchor" in lines[0] and "--new-pool" in lines[0]


def test_a_pool_taken_over_by_new_pool_stops_serving(lab: tuple[Path, bytes]) -> None:
    config, _ = lab
    held: list[Service] = []
    _serve(config, draws=1, keep=held)
    takeover = Service(_settings(config), new_pool=True)  # while the first still runs
    try:
        with pytest.raises(
            PoolError,
            match=r"pool\.sqlite\.anchor: the anchor now records pool "
            r"[0-9a-f]+, not this pool",
        ):
            for _ in range(8):  # past the bytes already reserved in memory
                held[0].draw(PIECE, "dira")
    finally:
        takeover.stop()
        held[0].stop()
