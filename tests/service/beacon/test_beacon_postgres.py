"""The pulse store on PostgreSQL: several hosts, one chain, one clock.

Every test runs against a real PostgreSQL server the tests start (``postgres`` fixture of
``tests/service/conftest.py``). Each host has its own connection, its own copy of the signing
key and its own anchor file, as separate machines would.
"""

from __future__ import annotations

import itertools
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from _nistir_oracle import check_link, check_pulse
from _postgres import PostgresServer
from _svc import config_text, serve, write_config
from test_beacon_engine import T0, Clock, CountingSource, emit_n

from diamp.service.beacon.anchor import BeaconAnchor
from diamp.service.beacon.crypto import load_signer
from diamp.service.beacon.engine import BeaconEngine
from diamp.service.beacon.errors import BeaconStoreError
from diamp.service.beacon.pulse import STATUS_GAP, Pulse
from diamp.service.beacon.store import PulseStore


@pytest.fixture
def open_store() -> Iterator[Callable[[str], PulseStore]]:
    """``open_store(url)``: a host's connection to the store, closed after the test."""
    opened: list[PulseStore] = []

    def open_one(url: str) -> PulseStore:
        opened.append(PulseStore.postgres(url))
        return opened[-1]

    yield open_one
    for store in opened:
        store.close()


class Crash(Exception):
    """The host dies between persisting a pulse and publishing it."""


def _host(tmp: Path, name: str, keys: tuple[Path, Path]) -> tuple[Path, Path]:
    """A host's own copy of the beacon's key and certificate (its anchor lies beside)."""
    folder = tmp / name
    folder.mkdir()
    return shutil.copy(keys[0], folder / "key.pem"), shutil.copy(keys[1], folder / "cert.pem")


def _engine(store: PulseStore, keys: tuple[Path, Path], clock: Clock, **kw: object) -> BeaconEngine:
    return BeaconEngine(
        store, load_signer(*keys), kw.pop("source", CountingSource()),  # type: ignore[arg-type]
        clock=clock, period_ms=1000, anchor=BeaconAnchor(keys[0]), **kw,  # type: ignore[arg-type]
    )  # fmt: skip


def _chain(store: PulseStore, chain: int) -> list[dict[str, object]]:
    import json

    out = []
    for index in itertools.count(1):
        text = store.pulse_json(chain, index)
        if text is None:
            return out
        out.append(json.loads(text)["pulse"])


def test_only_one_host_leads_and_a_standby_continues_the_chain(
    tmp_path: Path,
    keypair: tuple[Path, Path],
    postgres: PostgresServer,
    open_store: Callable[[str], PulseStore],
) -> None:
    url = postgres.new_database()
    a_keys, b_keys = _host(tmp_path, "a", keypair), _host(tmp_path, "b", keypair)
    store_a, store_b = open_store(url), open_store(url)
    assert store_a.lead() and not store_b.lead()  # one clock for all hosts
    clock = Clock(T0 + 1)
    source = CountingSource()
    engine_a = _engine(store_a, a_keys, clock, source=source)
    first = emit_n(engine_a, clock, 3)

    def crash(_pulse: Pulse) -> None:
        raise Crash

    engine_a.after_persist = crash
    clock.ms = engine_a.next_slot()
    with pytest.raises(Crash):  # pulse 4 persisted, not published: the host dies
        engine_a.emit(clock.ms)
    assert store_b.last_json() == store_a.last_json()  # the standby serves pulse 3
    assert not store_b.lead()  # the dead host still holds its connection
    store_a.close()  # its connection ends: the server frees the lock as the session ends
    deadline = time.monotonic() + 30
    while not store_b.lead():
        assert time.monotonic() < deadline, "the lock of a closed session was never freed"
        time.sleep(0.05)
    clock.ms += 5000  # the takeover takes a few periods
    engine_b = _engine(store_b, b_keys, clock, source=source)  # republishes pulse 4
    rest = emit_n(engine_b, clock, 2)
    pulses = _chain(store_b, first[0].chain_index)
    assert [p["pulseIndex"] for p in pulses] == [1, 2, 3, 4, 5, 6]
    assert rest[0].pulse_index == 5 and rest[0].status_code == STATUS_GAP
    pem = keypair[1].read_bytes()
    for p in pulses:
        check_pulse(p, pem)  # the independent NISTIR 8213 oracle
    for prev, cur in itertools.pairwise(pulses):
        check_link(prev, cur)
    assert len({p["localRandomValue"] for p in pulses}) == 6


def test_two_writers_of_one_index_never_both_succeed(
    tmp_path: Path,
    keypair: tuple[Path, Path],
    postgres: PostgresServer,
    open_store: Callable[[str], PulseStore],
) -> None:
    url = postgres.new_database()
    clock = Clock(T0 + 1)
    engine = _engine(open_store(url), _host(tmp_path, "a", keypair), clock)
    (pulse,) = emit_n(engine, clock, 1)
    other = open_store(url)  # a second host that ignored the leader lock
    from dataclasses import replace

    forged = replace(pulse, local_random_value=bytes(64))
    with pytest.raises(BeaconStoreError, match="never issued twice"):
        other.persist(forged, None)
    other.persist(pulse, None)  # the same pulse again: a no-op
    assert other.pulse(pulse.chain_index, 1) == pulse


def test_a_beacon_stopped_by_a_store_error_resigns(
    tmp_path: Path,
    keypair: tuple[Path, Path],
    postgres: PostgresServer,
    open_store: Callable[[str], PulseStore],
) -> None:
    url = postgres.new_database()
    store, standby = open_store(url), open_store(url)
    assert store.lead()
    engine = _engine(store, _host(tmp_path, "a", keypair), Clock(int(time.time() * 1000)))
    engine.period_ms = 50
    original = store.persist

    def broken(pulse: Pulse, commitment: object) -> None:
        original(pulse, commitment)  # type: ignore[arg-type]
        raise BeaconStoreError("disk gone")

    store.persist = broken  # type: ignore[method-assign]
    engine.clock = time.time
    engine.start()
    deadline = time.monotonic() + 20
    while engine.running and time.monotonic() < deadline:
        time.sleep(0.02)
    assert engine.error is not None and not store.leading
    assert standby.lead()  # resigned, not only stopped: the standby can take over at once


def test_an_empty_database_behind_a_hosts_anchor_is_refused(
    tmp_path: Path,
    keypair: tuple[Path, Path],
    postgres: PostgresServer,
    open_store: Callable[[str], PulseStore],
) -> None:
    from diamp.service.errors import StateError

    keys = _host(tmp_path, "a", keypair)
    clock = Clock(T0 + 1)
    emit_n(_engine(open_store(postgres.new_database()), keys, clock), clock, 2)
    fresh = open_store(postgres.new_database())  # the database lost, recreated empty
    with pytest.raises(StateError, match="not the anchored pulse"):
        _engine(fresh, keys, clock)


BEACON = (
    "\n[beacon]\nperiod_s = 0.2\ntier = 'standard'\ngenerate_key = false\n"
    "key_file = 'b/key.pem'\ncertificate_file = 'b/cert.pem'\n"
)


def _config(tmp: Path, url: str, keys: tuple[Path, Path], *, fill: bool) -> Path:
    """A host's config: its own keys and anchors; one host fills the pool (as documented)."""
    tmp.mkdir()
    (tmp / "b").mkdir()
    shutil.copy(keys[0], tmp / "b" / "key.pem")
    shutil.copy(keys[1], tmp / "b" / "cert.pem")
    pool = f"anchor = 'pool.anchor'\nfill = {str(fill).lower()}\n"
    text = config_text(pool=pool).replace("path = 'pool.sqlite'\n", f"url = '{url}'\n")
    path, _ = write_config(tmp, text + BEACON)
    return path


def _last(base: str) -> dict[str, object] | None:
    r = httpx.get(f"{base}/beacon/2.0/pulse/last", timeout=10)
    return r.json()["pulse"] if r.status_code == 200 else None


def _wait(base: str, index: int) -> dict[str, object]:
    deadline = time.monotonic() + 60
    while True:
        last = _last(base)
        if last is not None and int(last["pulseIndex"]) >= index:  # type: ignore[call-overload]
            return last
        assert time.monotonic() < deadline, f"no pulse {index} at {base}"
        time.sleep(0.05)


@pytest.mark.slow
def test_two_servers_one_database_the_standby_takes_over(
    tmp_path: Path,
    keypair: tuple[Path, Path],
    postgres: PostgresServer,
    open_store: Callable[[str], PulseStore],
) -> None:
    from diamp.service.app import create_app
    from diamp.service.settings import load_settings

    url = postgres.new_database()
    app_a = create_app(load_settings(_config(tmp_path / "a", url, keypair, fill=True)))
    app_b = create_app(load_settings(_config(tmp_path / "b", url, keypair, fill=False)))
    assert app_a.state.beacon.engine is not None and app_b.state.beacon.standby
    with serve(app_b) as base_b:
        with serve(app_a):
            before = _wait(base_b, 3)  # B serves the pulses A's clock makes
            assert app_b.state.beacon.standby
        stopped = _last(base_b)
        after = _wait(base_b, int(stopped["pulseIndex"]) + 3)  # type: ignore[index, call-overload]
        assert app_b.state.beacon.engine is not None  # B took over
        chain = int(after["chainIndex"])  # type: ignore[call-overload]
        assert chain == before["chainIndex"]  # the same chain, continued
        pulses = [
            httpx.get(f"{base_b}/beacon/2.0/chain/{chain}/pulse/{i}").json()["pulse"]
            for i in range(1, int(after["pulseIndex"]) + 1)  # type: ignore[call-overload]
        ]
    pem = keypair[1].read_bytes()
    for p in pulses:
        check_pulse(p, pem)
    for prev, cur in itertools.pairwise(pulses):
        check_link(prev, cur)
    assert len({p["localRandomValue"] for p in pulses}) == len(pulses)
