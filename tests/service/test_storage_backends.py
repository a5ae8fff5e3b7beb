"""The storage backends (SQLite, PostgreSQL) under the same tests: pools, nonces, rate limits.

Every test runs once per backend (the ``backend`` fixture: SQLite in ``tmp_path``, or a fresh
database on a PostgreSQL server the tests start). Several ``Pool`` objects on one database
stand for several processes or hosts: each has its own connection, as a process would.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from _svc import config_text, settings_for, words

from diamp.service.auth import Accepted, RequestParts, Verifier, sign_request
from diamp.service.errors import AuthError, PoolEmpty, PoolError, StateError
from diamp.service.pool import Pool
from diamp.service.settings import parse_settings
from diamp.service.shared import SharedBuckets, SharedNonces, open_shared
from diamp.service.state import open_pool

TIER = "standard"


def _pool(tmp: Path, url: str | None, **kw: object) -> Pool:
    return Pool(tmp / "pool.sqlite", url=url, shared=True, **kw)  # type: ignore[arg-type]


def _fill(pool: Pool, nwords: int, chunk_words: int = 512) -> None:
    for lo in range(0, nwords, chunk_words):
        data = np.arange(lo, min(lo + chunk_words, nwords), dtype=">u8").tobytes()
        pool.append(TIER, data, {"test": "counter"}, ["vac"])


def test_four_connections_never_take_the_same_byte(tmp_path: Path, backend: str | None) -> None:
    first = _pool(tmp_path, backend, reserve_bytes=512)
    _fill(first, 20_000)
    pools = [first] + [_pool(tmp_path, backend, reserve_bytes=512) for _ in range(3)]
    got: list[list[int]] = [[] for _ in pools]

    def drain(i: int) -> None:
        size = 8 * (1 + i)  # different sizes: reservations end at different offsets
        while True:
            try:
                got[i].extend(words(pools[i].take(size, TIER).data))
            except PoolEmpty:
                return

    threads = [threading.Thread(target=drain, args=(i,)) for i in range(len(pools))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    every = [w for part in got for w in part]
    assert all(part for part in got), "a connection got nothing: the test shows no sharing"
    assert len(every) == len(set(every)), "a byte was served twice"
    assert len(every) > 19_000  # at most the tail of each reservation is left unserved
    for p in pools:
        p.close()


def test_a_discard_elsewhere_drops_this_connections_reservation(
    tmp_path: Path, backend: str | None
) -> None:
    server, filler = _pool(tmp_path, backend, reserve_bytes=4096), _pool(tmp_path, backend)
    _fill(filler, 4096)
    server.take(8, TIER)  # reserves 4096 bytes in memory
    assert filler.discard_source("vac") > 0
    with pytest.raises(PoolEmpty):  # the reserved bytes came from the discarded source
        server.take(8, TIER)
    server.close()
    filler.close()


def _request(nonce: str, key: bytes, created: int) -> tuple[dict[str, str], RequestParts]:
    parts = RequestParts("GET", "diamp.test", "/v1/random", "?bytes=32")
    headers = sign_request(key, "alice", parts, created=created, nonce=nonce)
    return {k.lower(): v for k, v in headers.items()}, parts


def test_a_replayed_request_is_refused_by_another_process(
    tmp_path: Path, backend: str | None
) -> None:
    key = b"k" * 32
    stores = [open_shared(tmp_path / "pool.sqlite", backend) for _ in range(2)]
    verifiers = [Verifier({"alice": key}, nonces=SharedNonces(db)) for db in stores]
    headers, parts = _request("n" * 16, key, verifiers[0].started)
    assert verifiers[0].verify(headers, parts) == "alice"
    with pytest.raises(AuthError) as err:
        verifiers[1].verify(headers, parts)
    assert err.value.fields["reason"] == "replay"
    other, parts = _request("m" * 16, key, verifiers[0].started)  # another nonce: fine
    assert verifiers[1].verify(other, parts) == "alice"
    for db in stores:
        db.close()


def test_a_clients_rate_is_limited_across_processes(tmp_path: Path, backend: str | None) -> None:
    stores = [open_shared(tmp_path / "pool.sqlite", backend) for _ in range(3)]
    buckets = [SharedBuckets(db, 1e-6, 5, 1e9, 1 << 30) for db in stores]
    answers = [buckets[i % 3].admit("alice", 32) for i in range(15)]
    assert sum(1 for a in answers if a == 0) == 5  # the burst, once, whichever process asks
    assert all(a > 0 for a in answers[5:])
    assert buckets[0].admit("bob", 32) == 0  # per client
    for db in stores:
        db.close()


def _settings(tmp: Path, url: str | None, anchor: str = "") -> object:
    pool = f"url = '{url}'\n{anchor}" if url else ""
    text = config_text(pool=pool)
    if url:
        text = text.replace("path = 'pool.sqlite'\n", "")
    if (tmp / "clients.toml").exists():
        return parse_settings(text, str(tmp / "service.toml"))
    return settings_for(tmp, text)[0]


def test_a_database_rolled_back_under_a_serving_pool_is_refused(
    tmp_path: Path, backend: str | None
) -> None:
    settings = _settings(tmp_path, backend)
    pool = open_pool(settings)  # type: ignore[arg-type]
    _fill(pool, 2048)
    pool.reserve_bytes = 64
    pool.take(64, TIER)
    pool.take(64, TIER)
    seq = int(pool.meta("anchor_seq") or 0)
    other = _pool(tmp_path, backend)  # an old backup put back under the running server
    other.database.execute("UPDATE meta SET value = ? WHERE key = 'anchor_seq'", (str(seq - 2),))
    other.close()
    with pytest.raises(PoolError, match="restored or replaced while serving"):
        pool.take(64, TIER)
    pool.close()
    with pytest.raises(StateError, match="behind its anchor"):
        open_pool(settings)  # type: ignore[arg-type]


def test_postgres_hosts_share_one_pool_and_a_lost_database_is_refused(
    tmp_path: Path, postgres: object
) -> None:
    url = postgres.new_database()  # type: ignore[attr-defined]
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()
    first = open_pool(_settings(one, url))  # type: ignore[arg-type]
    _fill(first, 4096)
    second = open_pool(_settings(two, url))  # type: ignore[arg-type]  # joins, own anchor
    assert second.meta("pool_id") == first.meta("pool_id")
    first.reserve_bytes = second.reserve_bytes = 8000
    got = words(first.take(8000, TIER).data) + words(second.take(8000, TIER).data)
    assert len(got) == len(set(got)) == 2000
    first.close()
    second.close()
    lost = postgres.new_database()  # type: ignore[attr-defined]  # the database is gone
    with pytest.raises(StateError, match="no pool identity"):
        open_pool(_settings(one, lost))  # type: ignore[arg-type]
    recovered = open_pool(_settings(one, url), new_pool=True)  # type: ignore[arg-type]
    with pytest.raises(PoolEmpty):  # every chunk went: their taken may have been rolled back
        recovered.take(8, TIER)
    recovered.close()


def test_a_failed_rate_limit_store_is_an_error_not_a_rate_decision(tmp_path: Path) -> None:
    """A database failure must not read as "wait a second" (429): it is raised (503)."""
    db = open_shared(tmp_path / "pool.sqlite", None)
    buckets = SharedBuckets(db, 1.0, 5, 1e9, 1 << 30)
    assert buckets.admit("alice", 64) == 0.0
    db.close()
    with pytest.raises(PoolError, match="rate-limit state unavailable"):
        buckets.admit("alice", 64)


def test_one_transaction_refuses_a_replay_sent_to_the_other_process(
    tmp_path: Path, backend: str | None
) -> None:
    """Nonce and tokens in one transaction: a replay elsewhere is refused and spends nothing."""
    key = b"k" * 32
    stores = [open_shared(tmp_path / "pool.sqlite", backend) for _ in range(2)]
    nonces = [SharedNonces(db) for db in stores]
    verifiers = [Verifier({"alice": key}, nonces=n) for n in nonces]
    buckets = [
        SharedBuckets(db, 1e-6, 3, 1e9, 1 << 30, nonces=n)
        for db, n in zip(stores, nonces, strict=True)
    ]
    headers, parts = _request("n" * 16, key, verifiers[0].started)
    accepted = verifiers[0].check(headers, parts)
    assert buckets[0].admit_request("alice", 32, accepted) == (0.0, None)
    again = verifiers[1].check(headers, parts)  # the signature still verifies ...
    with pytest.raises(AuthError) as err:  # ... but its nonce was recorded by the other one
        buckets[1].admit_request("alice", 32, again)
    assert err.value.fields["reason"] == "replay"
    with pytest.raises(AuthError):  # nor does the first process accept it twice
        verifiers[0].verify(headers, parts)
    fresh = [verifiers[i % 2].check(*_request(f"fresh-{i:04d}", key, verifiers[0].started))
             for i in range(3)]  # fmt: skip
    waits = [buckets[i % 2].admit_request("alice", 32, a)[0] for i, a in enumerate(fresh)]
    assert waits[:2] == [0.0, 0.0] and waits[2] > 0  # burst 3: the replay spent no token
    with pytest.raises(AuthError):  # a rate-limited request's nonce is recorded all the same
        verifiers[0].verify(*_request("fresh-0002", key, verifiers[0].started))
    for db in stores:
        db.close()


def test_a_nonce_without_a_nonce_store_is_a_wiring_error(tmp_path: Path) -> None:
    db = open_shared(tmp_path / "pool.sqlite", None)
    buckets = SharedBuckets(db, 1.0, 5, 1e9, 1 << 30)
    with pytest.raises(PoolError, match="no shared nonce store"):
        buckets.admit_request("alice", 32, Accepted("alice", "n" * 16, 1e12))
    db.close()


def test_the_discard_counter_reaches_a_shared_pool_without_a_take(
    tmp_path: Path, backend: str | None
) -> None:
    """take_held follows discards too: read in the admission (PostgreSQL) or by itself."""
    server, filler = _pool(tmp_path, backend, reserve_bytes=4096), _pool(tmp_path, backend)
    _fill(filler, 4096)
    server.take(8, TIER)  # 4096 bytes reserved in memory
    db = open_shared(tmp_path / "pool.sqlite", backend)
    bucket = SharedBuckets(db, 1e9, 10**9, 1e12, 1 << 40, epoch=True)
    epoch = bucket.admit_request("alice", 8)[1]
    assert epoch == ("" if backend else None)  # PostgreSQL: read in the same statement
    assert server.take_held(8, TIER, epoch) is not None
    assert filler.discard_source("vac") > 0
    epoch = bucket.admit_request("alice", 8)[1]
    assert epoch == ("1" if backend else None)
    assert server.take_held(8, TIER, epoch) is None  # the reservation was dropped
    assert server.take_held(8, TIER) is None  # and stays dropped
    with pytest.raises(PoolEmpty):
        server.take(8, TIER)
    for closing in (db, server, filler):
        closing.close()


def test_only_the_requests_file_gives_up_durability(tmp_path: Path) -> None:
    """Nonces and buckets: synchronous = OFF (shared.py says why); the pool keeps FULL."""
    shared = open_shared(tmp_path / "pool.sqlite", None)
    pool = _pool(tmp_path, None)
    try:
        assert shared.query("PRAGMA synchronous") == [(0,)]  # OFF
        assert pool.database.query("PRAGMA synchronous") == [(2,)]  # FULL
    finally:
        shared.close()
        pool.close()


def test_a_corrupt_requests_file_is_refused_with_what_to_do(tmp_path: Path) -> None:
    (tmp_path / "pool.requests.sqlite").write_bytes(b"not a database, " * 512)
    with pytest.raises(PoolError, match=r"pool\.requests\.sqlite: .*delete it while no server"):
        open_shared(tmp_path / "pool.sqlite", None)
