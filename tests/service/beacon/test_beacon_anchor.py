"""A beacon whose state database is lost never re-issues an index (issue 15, item 1).

Real keys, a real SQLite pulse store and the anchor file beside the key: the store is deleted,
emptied or replaced by an older backup; the beacon refuses to start, naming the store, the
anchor and what it records; ``--new-chain`` starts a chain above every anchored index, so no
(chain, pulse) index is issued twice and no published ``outputValue`` is contradicted.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import _nistir_oracle as nistir
import pytest

from diamp.service.anchor import AnchorFile
from diamp.service.beacon.engine import BeaconEngine
from diamp.service.beacon.errors import BeaconStoreError
from diamp.service.beacon.provenance import urandom_source
from diamp.service.beacon.pulse import STATUS_NEW_CHAIN, Pulse
from diamp.service.beacon.settings import BeaconSettings, build_engine
from diamp.service.errors import StateError

PERIOD_MS = 1000
T0 = int(time.time()) // 3600 * 3_600_000  # inside the certificate's validity
SRC = Path(__file__).resolve().parents[3] / "src"


class Clock:
    def __init__(self) -> None:
        self.ms = T0

    def __call__(self) -> float:
        return self.ms / 1000


def _settings(tmp_path: Path, keys: tuple[Path, Path]) -> BeaconSettings:
    return BeaconSettings(
        period_s=PERIOD_MS / 1000,
        key_file=keys[0],
        certificate_file=keys[1],
        state_db=tmp_path / "state" / "pulses.sqlite",
    )


def _issue(engine: BeaconEngine, clock: Clock, n: int) -> list[Pulse]:
    out = []
    for _ in range(n):
        clock.ms += PERIOD_MS
        out.append(engine.emit(engine.next_slot()))
    engine.store.close()
    return out


def _engine(settings: BeaconSettings, clock: Clock, new_chain: bool = False) -> BeaconEngine:
    return build_engine(
        settings,
        urandom_source,
        served_at="http://127.0.0.1:8000",
        clock=clock,
        new_chain=new_chain,
    )


def _no_reissue(old: list[Pulse], new: list[Pulse]) -> None:
    indices = [(p.chain_index, p.pulse_index) for p in old + new]
    assert len(indices) == len(set(indices)), "a (chain, pulse) index was issued twice"


def _drop(db: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        db.with_name(db.name + suffix).unlink(missing_ok=True)


@pytest.mark.parametrize(
    ("loss", "said"),
    [
        (
            "deleted",
            r"pulses\.sqlite: beacon state is missing; anchor .*key\.pem\.anchor "
            r"records chain 1 pulse 3 \(",
        ),
        ("emptied", r"pulses\.sqlite: beacon state is empty \(0 bytes\); anchor .*chain 1 pulse 3"),
        (
            "backup",
            r"pulses\.sqlite: beacon state holds up to chain 1 pulse 1, not the anchored "
            r"pulse \(lost, or restored from an older backup",
        ),
    ],
)
def test_lost_beacon_state_is_refused_then_a_new_chain_never_reissues(
    tmp_path: Path, keypair: tuple[Path, Path], loss: str, said: str
) -> None:
    settings, clock = _settings(tmp_path, keypair), Clock()
    db = settings.state_db
    engine = _engine(settings, clock)
    old = _issue(engine, clock, 1)
    shutil.copy2(db, tmp_path / "backup.sqlite")  # closed: the WAL is checkpointed
    old += _issue(_engine(settings, clock), clock, 2)
    _drop(db)
    if loss == "emptied":
        db.write_bytes(b"")
    if loss == "backup":
        shutil.copy2(tmp_path / "backup.sqlite", db)
    with pytest.raises(StateError, match=said) as refused:
        _engine(settings, clock)
    assert "--new-chain" in str(refused.value) and "\n" not in str(refused.value)
    fresh = _engine(settings, clock, new_chain=True)
    assert fresh.chain.chain_index == 2
    new = _issue(fresh, clock, 3)
    assert [(p.chain_index, p.pulse_index) for p in new] == [(2, 1), (2, 2), (2, 3)]
    assert new[0].status_code & STATUS_NEW_CHAIN
    _no_reissue(old, new)
    again = _engine(settings, clock)  # the new chain continues after a normal restart
    try:
        assert again.chain.chain_index == 2
        for p in old:  # an old pulse is either gone or exactly as published: never contradicted
            kept = again.store.pulse(p.chain_index, p.pulse_index)
            assert kept is None or kept.output_value == p.output_value
        pem = keypair[1].read_bytes()
        for p in new:
            nistir.check_pulse(p.to_dict(), pem)
    finally:
        again.store.close()


def test_a_new_chain_without_pulses_survives_a_restart(
    tmp_path: Path, keypair: tuple[Path, Path]
) -> None:
    settings, clock = _settings(tmp_path, keypair), Clock()
    old = _issue(_engine(settings, clock), clock, 2)
    _drop(settings.state_db)
    _engine(settings, clock, new_chain=True).store.close()  # crashed before its first pulse
    engine = _engine(settings, clock)
    assert engine.chain.chain_index == 2
    _no_reissue(old, _issue(engine, clock, 1))


def test_another_beacons_state_is_refused(tmp_path: Path, keypair: tuple[Path, Path]) -> None:
    settings, clock = _settings(tmp_path, keypair), Clock()
    _issue(_engine(settings, clock), clock, 2)
    other = settings.model_copy(update={"state_db": tmp_path / "other" / "pulses.sqlite"})
    anchor = keypair[0].with_name(keypair[0].name + ".anchor")
    saved = anchor.read_bytes()
    anchor.unlink()
    _issue(_engine(other, Clock()), Clock(), 2)  # same indices, other values
    anchor.write_bytes(saved)
    with pytest.raises(
        StateError,
        match=r"holds chain 1 pulse 2 with outputValue [0-9a-f]+…, "
        r"not the anchored one",
    ):
        _engine(other, clock)


def test_a_copy_of_the_state_still_in_use_is_stopped_before_publishing(
    tmp_path: Path, keypair: tuple[Path, Path]
) -> None:
    """Two beacons with one key and anchor (the state copied while in use): the first to
    anchor the next index publishes it, the other is stopped and never publishes it."""
    settings, clock = _settings(tmp_path, keypair), Clock()
    first = _engine(settings, clock)
    _issue(first, clock, 2)
    copy = tmp_path / "copy" / "pulses.sqlite"
    copy.parent.mkdir()
    shutil.copy2(settings.state_db, copy)
    first = _engine(settings, clock)
    second = _engine(settings.model_copy(update={"state_db": copy}), clock)
    published: list[Pulse] = []
    second.on_publish.append(published.append)
    try:
        won = _issue(first, clock, 1)[0]
        with pytest.raises(BeaconStoreError, match=r"key\.pem\.anchor: the anchor now ends at "
                           r"chain 1 pulse 3 .* another beacon uses this signing key"):  # fmt: skip
            second.emit(second.next_slot())
        assert published == []  # persisted in the copy, never published
        with pytest.raises(StateError, match=r"not the anchored one \(another beacon's state\)"):
            _engine(settings.model_copy(update={"state_db": copy}), clock)  # nor at a restart
        assert (won.chain_index, won.pulse_index) == (1, 3)
    finally:
        second.store.close()


def test_a_store_from_before_anchors_is_adopted(tmp_path: Path, keypair: tuple[Path, Path]) -> None:
    settings, clock = _settings(tmp_path, keypair), Clock()
    old = _issue(_engine(settings, clock), clock, 3)
    anchor = AnchorFile(keypair[0].with_name(keypair[0].name + ".anchor"))
    anchor.path.unlink()
    engine = _engine(settings, clock)
    assert anchor.records()[-1]["pulse"] == 3 and anchor.records()[-1]["event"] == "adopted"
    new = _issue(engine, clock, 1)
    assert (new[0].chain_index, new[0].pulse_index) == (1, 4)
    _no_reissue(old, new)


def test_every_published_pulse_is_anchored_first(
    tmp_path: Path, keypair: tuple[Path, Path]
) -> None:
    settings, clock = _settings(tmp_path, keypair), Clock()
    engine = _engine(settings, clock)
    seen: list[int] = []
    anchor = AnchorFile(keypair[0].with_name(keypair[0].name + ".anchor"))
    engine.on_publish.append(lambda p: seen.append(anchor.records()[-1]["pulse"]))
    pulses = _issue(engine, clock, 3)
    assert seen == [p.pulse_index for p in pulses]
    assert anchor.records()[-1]["output_value"] == pulses[-1].output_value.hex()


def test_standalone_beacon_refuses_with_one_line(
    tmp_path: Path, keypair: tuple[Path, Path]
) -> None:
    settings, clock = _settings(tmp_path, keypair), Clock()
    _issue(_engine(settings, clock), clock, 1)
    _drop(settings.state_db)
    config = tmp_path / "beacon.toml"
    config.write_text(
        f"schema_version = 1\n[beacon]\nkey_file = '{keypair[0]}'\n"
        f"certificate_file = '{keypair[1]}'\nstate_db = '{settings.state_db}'\n"
    )
    env = {"PYTHONPATH": str(SRC)}
    cmd = [sys.executable, "-m", "diamp.service.beacon", str(config), "--port", "0"]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=60, check=False)
    assert done.returncode == 2
    assert done.stderr.startswith("error: ") and "beacon state is missing" in done.stderr
    assert "Traceback" not in done.stderr
