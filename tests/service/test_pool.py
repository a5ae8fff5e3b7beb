"""The pool: each byte at most once (threads, reopen), freshness, discards, duplicate chunks."""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path

import pytest
from _svc import fill_counter, words

import diamp.service.pool as pool_module
from diamp.service.errors import PoolEmpty, PoolError
from diamp.service.pool import Pool


def test_concurrent_takes_never_share_a_byte(tmp_path: Path) -> None:
    path = tmp_path / "p.sqlite"
    fill_counter(path, "t", 40_000, chunk_words=777)
    pool = Pool(path, reserve_bytes=4096)
    got: list[list[int]] = [[] for _ in range(8)]

    def worker(i: int) -> None:
        for k in range(400):
            got[i].extend(words(pool.take(8 * (1 + (k + i) % 11), "t").data))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    served = [w for g in got for w in g]
    assert len(served) == len(set(served)) and max(served) < 40_000
    assert len(served) == sum(1 + (k + i) % 11 for i in range(8) for k in range(400))


def test_reopen_after_unclean_stop_continues_after_the_reservation(tmp_path: Path) -> None:
    path = tmp_path / "p.sqlite"
    fill_counter(path, "t", 10_000, chunk_words=1000)
    first = Pool(path, reserve_bytes=8000)
    a = words(first.take(80, "t").data)  # reserves 1000 words, serves 10
    assert a == list(range(10))
    # no close(): the process "dies" holding 990 reserved words in memory
    second = Pool(path, reserve_bytes=8)
    b = words(second.take(80, "t").data)
    assert b == list(range(1000, 1010))  # the reserved-but-unserved range is lost, not repeated
    assert second.level("t") == 8 * (10_000 - 1010)


def test_new_pools_get_large_pages_and_old_ones_keep_theirs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def page_size(path: Path) -> int:
        with sqlite3.connect(path) as conn:
            return int(conn.execute("PRAGMA page_size").fetchone()[0])

    fill_counter(tmp_path / "new.sqlite", "t", 100)
    assert page_size(tmp_path / "new.sqlite") == pool_module.PAGE_SIZE == 1 << 16
    monkeypatch.setattr(pool_module, "PAGE_SIZE", 4096)  # a pool made before the change
    fill_counter(tmp_path / "old.sqlite", "t", 10_000, chunk_words=1000)
    monkeypatch.undo()
    old = Pool(tmp_path / "old.sqlite", reserve_bytes=8)
    assert words(old.take(80, "t").data) == list(range(10))
    old.close()
    assert page_size(tmp_path / "old.sqlite") == 4096  # opened, served from, unchanged
    again = Pool(tmp_path / "old.sqlite", reserve_bytes=8)
    assert words(again.take(8000, "t").data) == list(range(10, 1010))
    again.close()


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        ("UPDATE chunk SET data = substr(data, 1, 100) WHERE id = 2", "shorter than its size"),
        ("UPDATE chunk SET data = NULL WHERE id = 2", "shorter than its size"),
        ("UPDATE chunk SET data = zeroblob(0) WHERE id = 2", "shorter than its size"),
    ],
)
def test_edited_chunk_data_is_refused_and_nothing_served(
    tmp_path: Path, edit: str, reason: str
) -> None:
    path = tmp_path / "p.sqlite"
    fill_counter(path, "t", 3000, chunk_words=1000)
    with sqlite3.connect(path) as conn:
        conn.execute(edit)
    pool = Pool(path, reserve_bytes=8)
    first = words(pool.take(8000, "t").data)  # chunk 1, untouched
    assert first == list(range(1000))
    with pytest.raises(PoolError, match=f"chunk 2: stored data {reason}"):
        pool.take(800, "t")  # past what is left of chunk 2's data
    pool.close()
    again = Pool(path, reserve_bytes=8)
    with pytest.raises(PoolError, match="chunk 2"):  # still refused: never served short
        again.take(800, "t")
    again.close()


def test_take_spans_chunks_and_reports_provenance(tmp_path: Path) -> None:
    pool = Pool(tmp_path / "p.sqlite", reserve_bytes=1)
    pool.append("t", b"\x01" * 10, {"n": 1}, ["a"], ["aa" * 64])
    pool.append("t", b"\x02" * 10, {"n": 2}, ["b"])
    d = pool.take(15, "t")
    assert d.data == b"\x01" * 10 + b"\x02" * 5
    assert [(s.offset, s.length) for s in d.segments] == [(0, 10), (0, 5)]
    assert d.dira_certificates == ("aa" * 64,) and d.sources == ("a", "b")
    assert d.segments[1].to_dict()["provenance"] == {"n": 2}
    assert pool.take(5, "t").data == b"\x02" * 5


def test_empty_pool_consumes_nothing(tmp_path: Path) -> None:
    pool = Pool(tmp_path / "p.sqlite", reserve_bytes=1)
    pool.append("t", os.urandom(100), {}, ["a"])
    with pytest.raises(PoolEmpty):
        pool.take(101, "t")
    assert pool.level("t") == 100
    with pytest.raises(PoolEmpty):
        pool.take(1, "other-tier")


def test_freshness_limit(tmp_path: Path) -> None:
    now = [1000.0]
    pool = Pool(tmp_path / "p.sqlite", freshness_seconds=60, reserve_bytes=50, clock=lambda: now[0])
    pool.append("t", os.urandom(100), {}, ["a"])
    pool.take(10, "t")  # 50 reserved in memory, 50 stored
    now[0] = 1061.0
    assert pool.level("t") == 0
    with pytest.raises(PoolEmpty):
        pool.take(1, "t")


def test_duplicate_chunk_refused_and_discard_by_source(tmp_path: Path) -> None:
    pool = Pool(tmp_path / "p.sqlite", reserve_bytes=4)
    data = os.urandom(64)
    pool.append("t", data, {}, ["a", "b"])
    with pytest.raises(PoolError, match="stored before"):
        pool.append("u", data, {}, ["c"])
    pool.append("t", os.urandom(64), {}, ["c"])
    pool.take(1, "t")  # reserves 4 bytes of the first chunk
    assert pool.discard_source("b") == 63
    assert pool.level("t") == 64
    assert pool.take(64, "t").sources == ("c",)


def test_foreign_schema_refused(tmp_path: Path) -> None:
    path = tmp_path / "p.sqlite"
    Pool(path).close()
    with sqlite3.connect(path) as db:
        db.execute("UPDATE meta SET value = '99' WHERE key = 'schema'")
    with pytest.raises(PoolError, match="expected 1, found 99"):
        Pool(path)


def test_take_held_serves_only_reserved_memory_and_never_waits(tmp_path: Path) -> None:
    path = tmp_path / "p.sqlite"
    fill_counter(path, "t", 1000, chunk_words=300)
    pool = Pool(path, reserve_bytes=80)
    assert pool.take_held(8, "t") is None  # nothing reserved yet: nothing consumed
    assert pool.level("t") == 8000
    assert words(pool.take(8, "t").data) == [0]  # reserves words 0-9
    held = pool.take_held(72, "t")
    assert held is not None and words(held.data) == list(range(1, 10))
    assert held.segments[0].offset == 8 and held.tier == "t"
    assert pool.take_held(8, "t") is None  # memory used up: the database is not touched
    assert words(pool.take(8, "t").data) == [10]
    busy = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with pool._lock:  # e.g. a thread committing a reservation
            busy.set()
            release.wait(10)

    t = threading.Thread(target=hold)
    t.start()
    busy.wait(10)
    assert pool.take_held(8, "t") is None  # would wait for the lock: declines instead
    release.set()
    t.join()
    assert words(pool.take(16, "t").data) == [11, 12]
    with pytest.raises(PoolError, match="at least 1 byte"):
        pool.take_held(0, "t")


def test_large_draws_reserve_ahead_and_a_crash_never_repeats_them(tmp_path: Path) -> None:
    from diamp.service.pool import AHEAD, LARGE_DRAW

    path = tmp_path / "p.sqlite"
    total = 16 * LARGE_DRAW // 8
    fill_counter(path, "t", total, chunk_words=LARGE_DRAW // 8)
    first = Pool(path, reserve_bytes=8)
    assert words(first.take(LARGE_DRAW, "t").data) == list(range(LARGE_DRAW // 8))
    ahead = AHEAD * LARGE_DRAW  # committed at once: the next draws come from memory
    second_draw = first.take_held(LARGE_DRAW, "t")
    assert second_draw is not None and second_draw.segments[0].offset == 0
    assert first._db.execute("PRAGMA secure_delete").fetchone() == (2,)  # FAST
    # no close(): the process "dies" holding the rest of the reservation in memory
    second = Pool(path, reserve_bytes=8)
    after = words(second.take(8, "t").data)
    assert after == [ahead // 8]  # the unserved rest of the reservation is lost, not repeated
    assert second.level("t") == 8 * total - ahead - 8
