"""The beacon's share of its tier (issue 16, item 5): clients cannot drain what pulses need.

A real service (simulated vacuum source, real SQLite pool, the pipeline stepped by hand) and
the share the server builds for its beacon (:func:`diamp.service.share.share_for`). Clients
empty the tier; the share still serves its pulses; nothing it serves was served to anyone
else; a quarantine or age drops what it holds; a beacon engine fed by the share emits every
pulse while a client thread takes every byte the pool gets.
"""

from __future__ import annotations

import itertools
import threading
import time
from pathlib import Path

import pytest
from _svc import config_text, settings_for

from diamp.errors import DiampError
from diamp.service.core import Service
from diamp.service.errors import PoolEmpty, TierUnavailable
from diamp.service.share import share_for

PULSES = 8


@pytest.fixture
def service(tmp_path: Path) -> Service:
    settings, _ = settings_for(tmp_path, config_text(pool="reserve_bytes = 256"))
    svc = Service(settings)
    for _ in range(3):
        svc.pipeline.step()
    yield svc
    svc.stop()


def _drain(service: Service) -> list[bytes]:
    got = []
    while True:
        try:
            got.append(service.draw(64, "standard").data)
        except PoolEmpty:
            return got


def test_clients_cannot_drain_the_share(service: Service) -> None:
    share = share_for(service, "standard", PULSES)
    assert share is not None
    share.fill()
    assert share.held == PULSES
    clients = _drain(service)  # the pool is empty for everyone else now
    assert clients
    pulses = [share(64) for _ in range(PULSES)]
    with pytest.raises(PoolEmpty):
        share(64)  # the share is used up and the pool is empty: a draw, refused as usual
    pieces = clients + [d.data for d in pulses]
    assert len(pieces) == len(set(pieces)), "a byte served twice"
    spans = sorted((s.chunk_id, s.offset, s.offset + s.length) for d in pulses for s in d.segments)
    for (c1, _, end), (c2, start, _) in itertools.pairwise(spans):
        assert c1 != c2 or end <= start, "two pulses share pool bytes"


def test_a_quarantine_drops_what_the_share_holds(service: Service) -> None:
    share = share_for(service, "standard", PULSES)
    assert share is not None
    share.fill()
    service.pipeline.quarantine("vac", "test: a failed health test")
    with pytest.raises(TierUnavailable):
        share(64)
    assert share.held == 0


def test_draws_older_than_the_freshness_limit_are_dropped(service: Service) -> None:
    share = share_for(service, "standard", PULSES)
    assert share is not None
    share.fill()
    share.clock = lambda: 1e12  # far past every draw's chunk time (the pool's clock is not)
    share(32)  # another size: drawn from the pool, after the share forgot what is stale
    assert share.held == 0


def test_no_share_when_zero_pulses(service: Service) -> None:
    assert share_for(service, "standard", 0) is None


def test_the_beacon_emits_every_pulse_while_clients_take_everything(
    service: Service, tmp_path: Path, keypair: tuple[Path, Path]
) -> None:
    from diamp.service.beacon.settings import BeaconSettings, build_engine

    share = share_for(service, "standard", PULSES)
    assert share is not None
    share.fill()
    settings = BeaconSettings(period_s=1.0, key_file=keypair[0], certificate_file=keypair[1],
                              state_db=tmp_path / "pulses.sqlite", tier="standard")  # fmt: skip
    clock = [float(int(time.time()))]  # inside the certificate's validity
    engine = build_engine(
        settings, share, served_at="http://127.0.0.1:8000", clock=lambda: clock[0]
    )
    engine.on_publish.append(lambda _p: share.fill())
    stop = threading.Event()
    taken: list[bytes] = []

    def client() -> None:  # takes every byte the pool has, as fast as it can
        while not stop.is_set():
            try:
                taken.append(service.draw(64, "standard").data)
            except DiampError:
                service.pipeline.step()  # the sources go on producing

    thread = threading.Thread(target=client)
    thread.start()
    try:
        pulses = []
        for _ in range(3 * PULSES):
            clock[0] += 1.0
            pulses.append(engine.emit(engine.next_slot()))  # raises if a draw fails
    finally:
        stop.set()
        thread.join()
        engine.store.close()
    assert [p.pulse_index for p in pulses] == list(range(1, 3 * PULSES + 1))
    values = [p.local_random_value for p in pulses]
    assert len(set(values)) == len(values)
    assert taken, "the client took nothing: the test did not load the pool"
