"""The server's client registry: reloads on change, keeps the last good file, retires keys."""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import time
from pathlib import Path

import pytest

from diamp.service.clients import ClientRegistry
from diamp.service.errors import AuthError, KeyFileError
from diamp.service.keys import add_client, api_key, revoke_client, rotate_client


def _check(registry: ClientRegistry, keyid: str, key: bytes) -> str | None:
    """None if a message signed with ``key`` verifies for ``keyid``, else the reason."""
    message = os.urandom(40)
    mac = hmac.new(key, message, hashlib.sha256).digest()

    def verifies(k: bytes) -> bool:
        return hmac.compare_digest(hmac.new(k, message, hashlib.sha256).digest(), mac)

    try:
        registry.match(keyid, verifies)
    except AuthError as err:
        return str(err.fields["reason"])
    return None


def _api(registry: ClientRegistry, value: str) -> str:
    try:
        return registry.api_client(value)
    except AuthError as err:
        return f"refused:{err.fields['reason']}"


@pytest.fixture
def clients(tmp_path: Path) -> Path:
    return tmp_path / "clients.toml"


def test_new_client_is_found_on_its_first_request(clients: Path) -> None:
    alice = add_client(clients, "alice")
    registry = ClientRegistry(clients, interval=3600)  # only a miss makes it look
    assert _check(registry, "alice", alice) is None
    assert _check(registry, "bob", b"b" * 32) == "unknown_key"
    bob = add_client(clients, "bob")
    assert _check(registry, "bob", bob) is None  # the miss re-read the file
    assert _api(registry, api_key(bob).hex()) == "bob"
    assert _check(registry, "alice", bob) == "bad_signature"
    assert registry.reloads == {"ok": 1, "failed": 0}


def test_revocation_is_seen_at_the_next_check(clients: Path) -> None:
    alice = add_client(clients, "alice")
    registry = ClientRegistry(clients, interval=0)
    revoke_client(clients, "alice")
    assert _check(registry, "alice", alice) == "revoked"
    assert _api(registry, api_key(alice).hex()) == "refused:revoked"
    assert _check(registry, "alice", b"x" * 32) == "bad_signature"  # not told to strangers
    assert len(registry) == 0


def test_hot_path_does_not_look_before_the_interval(clients: Path) -> None:
    alice = add_client(clients, "alice")
    registry = ClientRegistry(clients, interval=3600)
    revoke_client(clients, "alice")
    assert _check(registry, "alice", alice) is None  # a hit: the file is not even stat-ed
    registry.interval = 0
    assert _check(registry, "alice", alice) == "revoked"


def test_rotation_grace_then_refusal(clients: Path, tmp_path: Path) -> None:
    old = add_client(clients, "alice")
    now = [0.0]
    registry = ClientRegistry(clients, interval=0, clock=lambda: now[0])
    entry = rotate_client(clients, "alice", tmp_path / "alice.key", grace=60)
    until = entry.previous_until
    assert until is not None
    now[0] = until - 1
    assert _check(registry, "alice", entry.key) is None
    assert _check(registry, "alice", old) is None
    assert _api(registry, api_key(old).hex()) == "alice"
    now[0] = until
    assert _check(registry, "alice", old) == "rotated"
    assert _api(registry, api_key(old).hex()) == "refused:rotated"
    assert _check(registry, "alice", entry.key) is None
    assert _api(registry, api_key(entry.key).hex()) == "alice"


def test_rotation_without_grace_refuses_the_old_key_at_once(clients: Path, tmp_path: Path) -> None:
    old = add_client(clients, "alice")
    registry = ClientRegistry(clients, interval=0)
    new = rotate_client(clients, "alice", tmp_path / "alice.key").key
    assert _check(registry, "alice", old) == "bad_signature"
    assert _api(registry, api_key(old).hex()) == "refused:unknown_key"
    assert _check(registry, "alice", new) is None


@pytest.mark.parametrize(
    "damage",
    [
        lambda text: text[: len(text) // 2],  # half-written
        lambda text: text.replace("schema_version = 1", "schema_version = 2"),
        lambda text: text + "\n[clients.bob]\nkey = 'nothex'\n",
        lambda text: "",
    ],
)
def test_a_bad_file_keeps_the_last_good_version(
    clients: Path, damage: object, caplog: pytest.LogCaptureFixture
) -> None:
    alice = add_client(clients, "alice")
    registry = ClientRegistry(clients, interval=0)
    clients.write_text(damage(clients.read_text()))  # type: ignore[operator]
    with caplog.at_level(logging.ERROR, logger="diamp.service.clients"):
        assert _check(registry, "alice", alice) is None
        assert _check(registry, "alice", alice) is None
    assert registry.reloads["failed"] >= 1 and registry.file_ok is False
    assert len([r for r in caplog.records if "last good version" in r.message]) == 1
    metrics = {m.name: m for m in registry.collect()}
    assert metrics["diamp_clients_file_ok"].samples[0].value == 0
    failed = [
        s for s in metrics["diamp_clients_reloads"].samples if s.labels == {"result": "failed"}
    ]
    assert failed[0].value >= 1
    bob = add_client(clients.with_name("other.toml"), "bob")  # a good file comes back
    os.replace(clients.with_name("other.toml"), clients)
    assert _check(registry, "bob", bob) is None and registry.file_ok is True
    assert _check(registry, "alice", alice) == "unknown_key"


def test_group_readable_file_is_not_loaded(clients: Path) -> None:
    alice = add_client(clients, "alice")
    registry = ClientRegistry(clients, interval=0)
    revoke_client(clients, "alice")
    hour_ago = time.time_ns() - 3600 * 10**9  # not a fresh file: stat alone decides
    os.utime(clients, ns=(hour_ago, hour_ago))
    clients.chmod(0o644)
    assert _check(registry, "alice", alice) is None  # last good version: not revoked yet
    assert _check(registry, "alice", alice) is None
    assert registry.file_ok is False and registry.reloads["failed"] == 1  # once per version
    clients.chmod(0o600)  # only the change time tells (st_ctime_ns)
    assert _check(registry, "alice", alice) == "revoked"
    with pytest.raises(KeyFileError, match="mode 0644"):
        clients.chmod(0o644)
        ClientRegistry(clients)  # at start: refused, the server does not start


def test_a_restored_backup_does_not_readmit_a_revoked_key(clients: Path) -> None:
    alice = add_client(clients, "alice")
    backup = clients.read_bytes()
    registry = ClientRegistry(clients, interval=0)
    revoke_client(clients, "alice")
    assert _check(registry, "alice", alice) == "revoked"
    tmp = clients.with_name("restore.tmp")
    tmp.write_bytes(backup)
    tmp.chmod(0o600)
    os.replace(tmp, clients)
    assert _check(registry, "alice", alice) == "revoked"
    assert _api(registry, api_key(alice).hex()) == "refused:revoked"


def test_same_stamp_rewrite_of_a_fresh_file_is_still_seen(clients: Path) -> None:
    """A recently written file is compared by content: same size, inode and mtime hide nothing."""
    alice = add_client(clients, "alice")
    registry = ClientRegistry(clients, interval=0)
    st = os.stat(clients)
    text = clients.read_text()
    revoked = text.replace(alice.hex(), os.urandom(32).hex())  # same length
    with open(clients, "r+") as fh:
        fh.write(revoked)
    os.utime(clients, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert (os.stat(clients).st_size, os.stat(clients).st_ino) == (st.st_size, st.st_ino)
    assert _check(registry, "alice", alice) == "bad_signature"


@pytest.mark.parametrize(
    ("value", "reason"),
    [("", "missing_api_key"), ("zz" * 32, "malformed"), ("ab" * 31, "malformed"),
     ("ab" * 33, "malformed"), ("AB" * 32, "unknown_key")],
)  # fmt: skip
def test_api_key_refusals(clients: Path, value: str, reason: str) -> None:
    add_client(clients, "alice")
    assert _api(ClientRegistry(clients), value) == f"refused:{reason}"


def test_api_key_is_not_the_signing_key(clients: Path) -> None:
    alice = add_client(clients, "alice")
    registry = ClientRegistry(clients)
    assert _api(registry, alice.hex()) == "refused:unknown_key"
    expected = hmac.new(alice, b"diamp api key v1", hashlib.sha256).hexdigest()
    assert _api(registry, expected) == _api(registry, expected.upper()) == "alice"


def test_lookups_during_rewrites_never_fail_a_steady_client(clients: Path) -> None:
    """Readers on four threads while the file is rewritten 30 times: alice is always in force."""
    import threading

    alice = add_client(clients, "alice")
    registry = ClientRegistry(clients, interval=0)
    done, errors = threading.Event(), []

    def reader() -> None:
        while not done.is_set():
            try:
                assert _check(registry, "alice", alice) is None
                assert _api(registry, api_key(alice).hex()) == "alice"
                _api(registry, os.urandom(32).hex())  # misses: forced re-reads
            except Exception as err:  # reported below, with the thread's view
                errors.append(repr(err))
                return

    threads = [threading.Thread(target=reader) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        for i in range(30):
            add_client(clients, f"c{i}")
            if i % 3 == 0:
                rotate_client(clients, f"c{i}", clients.with_name(f"c{i}.key"))
    finally:
        done.set()
        for t in threads:
            t.join(timeout=60)
    assert errors == []
    assert registry.reloads["failed"] == 0 and len(registry) == 31
