"""`diamp keys list | revoke | rotate` and the clients file they rewrite (atomic, locked)."""

from __future__ import annotations

import hashlib
import json
import stat
import subprocess
import sys
import time
import tomllib
from datetime import datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from diamp.cli import app
from diamp.service.errors import KeyFileError
from diamp.service.keys import (
    ClientEntry,
    add_client,
    api_key,
    fingerprint,
    load_clients,
    parse_clients,
    read_clients,
    read_key_file,
    render_clients,
    revoke_client,
    rotate_client,
)

runner = CliRunner()


def _keys(*args: str) -> tuple[int, str, str]:
    r = runner.invoke(app, ["keys", *args])
    return r.exit_code, r.stdout, r.output


def test_list_shows_fingerprints_and_states_never_keys(tmp_path: Path) -> None:
    clients = tmp_path / "clients.toml"
    alice, bob = add_client(clients, "alice"), add_client(clients, "bob")
    revoke_client(clients, "bob")
    code, stdout, _ = _keys("list", "--clients", str(clients), "--json")
    assert code == 0
    rows = {r["id"]: r for r in json.loads(stdout)["clients"]}
    assert rows["alice"]["state"] == "active" and rows["bob"]["state"] == "revoked"
    # the fingerprint is SHA-256 of the key bytes (independent computation), truncated
    assert rows["alice"]["fingerprint"] == "sha256:" + hashlib.sha256(alice).hexdigest()[:16]
    assert rows["bob"]["revoked_utc"].endswith("Z")
    code, text, _ = _keys("list", "--clients", str(clients))
    assert code == 0 and "alice\tactive" in text and "bob\trevoked 20" in text
    for secret in (alice, bob, api_key(alice)):
        assert secret.hex() not in stdout + text


def test_revoke_keeps_the_entry_and_the_id_is_never_reused(tmp_path: Path) -> None:
    clients = tmp_path / "clients.toml"
    add_client(clients, "alice")
    code, stdout, _ = _keys("revoke", "alice", "--clients", str(clients), "--json")
    assert code == 0 and json.loads(stdout)["already"] is False
    assert "alice" not in load_clients(clients)  # the server's view: not a valid key
    code, stdout, _ = _keys("revoke", "alice", "--clients", str(clients), "--json")
    assert code == 0 and json.loads(stdout)["already"] is True  # idempotent
    with pytest.raises(KeyFileError, match="already exists"):
        add_client(clients, "alice")
    assert stat.S_IMODE(clients.stat().st_mode) == 0o600


def test_rotate_replaces_the_key_file_and_keeps_the_old_key_for_the_grace(tmp_path: Path) -> None:
    clients, out = tmp_path / "clients.toml", tmp_path / "alice.key"
    old = add_client(clients, "alice")
    out.write_text(old.hex() + "\n")
    out.chmod(0o600)
    code, stdout, _ = _keys("rotate", "alice", "--clients", str(clients), "--out", str(out),
                            "--grace", "120", "--json")  # fmt: skip
    assert code == 0, stdout
    new = read_key_file(out)
    assert new != old and stat.S_IMODE(out.stat().st_mode) == 0o600
    row = json.loads(stdout)
    assert row["state"] == "rotating" and row["fingerprint"] == fingerprint(new)
    assert row["previous_fingerprint"] == fingerprint(old)
    entry = read_clients(clients)["alice"]
    assert entry.key == new and entry.previous_key == old
    assert entry.previous_until is not None and 100 < entry.previous_until - time.time() <= 121
    # a second rotation without grace: the first replaced key is gone at once, and this one too
    entry = rotate_client(clients, "alice", out)
    assert entry.previous_key is None and read_key_file(out) == entry.key != new


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["rotate", "nobody", "--out", "{tmp}/k"], 2, "no client 'nobody' (clients: alice, bob)"),
        (["revoke", "nobody"], 2, "no client 'nobody'"),
        (["rotate", "bob", "--out", "{tmp}/k"], 2, "was revoked on"),
        (["rotate", "alice", "--out", "{tmp}/k", "--grace", "-1"], 2, "--grace: expected 0"),
        (["rotate", "alice", "--out", "{tmp}/k", "--grace", "700000"], 2, "--grace"),
        (["rotate", "alice", "--out", "{tmp}/clients.toml"], 2, "that is the clients file"),
        (["rotate", "alice", "--out", "{tmp}/no/such/dir/k"], 2, "cannot write a key file"),
    ],
)
def test_refusals_are_one_line_and_change_nothing(
    tmp_path: Path, args: list[str], code: int, message: str
) -> None:
    clients = tmp_path / "clients.toml"
    add_client(clients, "alice")
    add_client(clients, "bob")
    revoke_client(clients, "bob")
    before = clients.read_bytes()
    argv = [a.replace("{tmp}", str(tmp_path)) for a in args]
    got, _, output = _keys(*argv, "--clients", str(clients))
    assert got == code and message in output, output
    assert len(output.strip().splitlines()) == 1 and "Traceback" not in output
    assert clients.read_bytes() == before
    assert not (tmp_path / "k").exists()


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("schema_version = 1\n[clients.alice]\nkey = = 'abc'\n", "line 3"),
        ("schema_version = 1\n[clients.alice]\nkey = '" + "0" * 64 + "'\nrevoked_utc = 'soon'\n",
         "clients.alice.revoked_utc"),
        ("schema_version = 1\n[clients.alice]\nkey = '" + "0" * 64 + "'\nprevious_key = '"
         + "1" * 64 + "'\n", "previous_key and previous_until_utc"),
        ("schema_version = 1\n[clients.alice]\nkey = '" + "0" * 64 + "'\nprevious_key = 'x'\n"
         "previous_until_utc = '2026-01-01T00:00:00Z'\n", "clients.alice.previous_key"),
    ],
)  # fmt: skip
def test_malformed_clients_file_is_named_for_every_command(
    tmp_path: Path, text: str, named: str
) -> None:
    clients = tmp_path / "clients.toml"
    clients.write_text(text)
    clients.chmod(0o600)
    for args in (["list"], ["revoke", "alice"], ["rotate", "alice", "--out", str(tmp_path / "k")]):
        code, _, output = _keys(*args, "--clients", str(clients))
        assert code == 2 and named in output and "Traceback" not in output, output
    assert clients.read_text() == text


def test_group_readable_clients_file_is_refused(tmp_path: Path) -> None:
    clients = tmp_path / "clients.toml"
    add_client(clients, "alice")
    clients.chmod(0o640)
    for args in (["list"], ["revoke", "alice"]):
        code, _, output = _keys(*args, "--clients", str(clients))
        assert code == 2 and "mode 0640" in output and "chmod 600" in output


def test_failed_clients_file_write_leaves_the_key_file_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The new key file is put in place only after the clients file names the new key."""
    import diamp.service.keys as keys

    clients, out = tmp_path / "clients.toml", tmp_path / "alice.key"
    old = add_client(clients, "alice")
    out.write_text(old.hex() + "\n")
    out.chmod(0o600)
    before = clients.read_bytes()

    def full_disk(path: Path, entries: object) -> None:
        raise KeyFileError(f"{path}: cannot write a key file: No space left on device")

    monkeypatch.setattr(keys, "_update", full_disk)
    with pytest.raises(KeyFileError, match="No space left"):
        rotate_client(clients, "alice", out)
    assert clients.read_bytes() == before and read_key_file(out) == old
    assert sorted(p.name for p in tmp_path.iterdir()) == ["alice.key", "clients.toml",
                                                          "clients.toml.lock"]  # fmt: skip


_ADD = """
import sys
from diamp.service.keys import add_client, revoke_client
path, prefix = sys.argv[1], sys.argv[2]
for i in range(6):
    add_client(path, f"{prefix}-{i}")
revoke_client(path, f"{prefix}-0")
"""


def test_concurrent_invocations_lose_no_update(tmp_path: Path) -> None:
    """Six processes add and revoke clients at once; the file holds every change."""
    clients = tmp_path / "clients.toml"
    add_client(clients, "seed")
    env = {"PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}
    procs = [
        subprocess.Popen([sys.executable, "-c", _ADD, str(clients), f"p{n}"], env=env)
        for n in range(6)
    ]
    assert [p.wait(timeout=120) for p in procs] == [0] * 6
    entries = read_clients(clients)
    assert len(entries) == 1 + 6 * 6
    revoked = sorted(cid for cid, e in entries.items() if e.revoked_utc is not None)
    assert revoked == [f"p{n}-0" for n in range(6)]
    assert not list(tmp_path.glob(".clients.toml.*.tmp"))


_STAMPS = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1)).map(
    lambda d: d.strftime("%Y-%m-%dT%H:%M:%SZ")
)
_ENTRY = st.tuples(
    st.binary(min_size=32, max_size=32), _STAMPS, st.none() | _STAMPS,
    st.none() | st.tuples(st.binary(min_size=32, max_size=32), _STAMPS), st.none() | _STAMPS,
)  # fmt: skip


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.from_regex(r"[A-Za-z0-9._-]{1,64}", fullmatch=True), _ENTRY,
                       max_size=6))  # fmt: skip
def test_rendered_clients_file_reads_back_as_written(entries: dict[str, tuple]) -> None:  # type: ignore[type-arg]
    """What `diamp keys` writes, the server reads back exactly (tomllib as the oracle)."""
    written = {}
    for cid, (key, created, rotated, prev, revoked) in entries.items():
        previous, until = prev if prev else (None, None)
        written[cid] = ClientEntry(cid, key, created, rotated, previous, until, revoked)
    text = render_clients(written)
    assert parse_clients(text, Path("clients.toml")) == written
    raw = tomllib.loads(text).get("clients", {})
    assert {cid: bytes.fromhex(e["key"]) for cid, e in raw.items()} == {
        cid: e.key for cid, e in written.items()
    }


def test_list_shows_a_grace_period(tmp_path: Path) -> None:
    clients = tmp_path / "clients.toml"
    add_client(clients, "alice")
    entry = rotate_client(clients, "alice", tmp_path / "alice.key", grace=300)
    code, text, _ = _keys("list", "--clients", str(clients))
    assert code == 0 and f"alice\trotating until {entry.previous_until_utc}\t" in text
