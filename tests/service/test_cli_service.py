"""`diamp keys new`, `diamp client fetch`, `diamp serve` refusals, through the typer app."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from _svc import config_text, fill_counter, serve, settings_for, words
from typer.testing import CliRunner

from diamp.cli import app
from diamp.service.app import create_app
from diamp.service.keys import load_clients, read_key_file

runner = CliRunner()


def test_keys_new_writes_private_files_and_refuses_overwrite(tmp_path: Path) -> None:
    clients, out = tmp_path / "clients.toml", tmp_path / "bob.key"
    r = runner.invoke(
        app, ["keys", "new", "bob", "--clients", str(clients), "--out", str(out), "--json"]
    )
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["id"] == "bob"
    for p in (clients, out):
        assert stat.S_IMODE(p.stat().st_mode) == 0o600
    text = out.read_text()
    assert len(text.strip()) == 64 and int(text, 16) >= 0
    assert load_clients(clients)["bob"] == read_key_file(out) == bytes.fromhex(text.strip())
    again = runner.invoke(
        app, ["keys", "new", "bob", "--clients", str(clients), "--out", str(tmp_path / "b2")]
    )
    assert again.exit_code == 2 and "already exists" in again.output
    assert (
        runner.invoke(
            app, ["keys", "new", "carol", "--clients", str(clients), "--out", str(out)]
        ).exit_code
        == 2
    )


def test_world_readable_key_files_are_refused(tmp_path: Path) -> None:
    _, keys = settings_for(tmp_path, config_text(pool="fill = false"))
    (tmp_path / "clients.toml").chmod(0o644)
    r = runner.invoke(app, ["serve", str(tmp_path / "service.toml"), "--port", "0"])
    assert r.exit_code == 2 and "mode 0644" in r.output and "chmod 600" in r.output
    key_file = tmp_path / "alice.key"
    key_file.write_text(keys["alice"].hex() + "\n")
    key_file.chmod(0o640)
    r = runner.invoke(
        app,
        ["client", "fetch", "--url", "http://127.0.0.1:9", "--key-id", "alice",
         "--key-file", str(key_file), "--bytes", "8"],
    )  # fmt: skip
    assert r.exit_code == 2 and "mode 0640" in r.output


def test_client_fetch_end_to_end(tmp_path: Path) -> None:
    settings, keys = settings_for(tmp_path, config_text(pool="fill = false"))
    fill_counter(tmp_path / "pool.sqlite", "standard", 100)
    key_file = tmp_path / "alice.key"
    key_file.write_text(keys["alice"].hex() + "\n")
    key_file.chmod(0o600)
    out = tmp_path / "out.bin"
    with serve(create_app(settings)) as base:
        common = [
            "client",
            "fetch",
            "--url",
            base,
            "--key-id",
            "alice",
            "--key-file",
            str(key_file),
        ]
        r = runner.invoke(app, [*common, "--bytes", "16", "-o", str(out), "--format", "base64"])
        assert r.exit_code == 0, r.output
        assert words(out.read_bytes()) == [0, 1]
        r = runner.invoke(app, [*common, "--bytes", "8", "--json"])
        assert words(bytes.fromhex(json.loads(r.stdout)["hex"])) == [2]
        r = runner.invoke(app, [*common, "--bytes", "8", "--key-id", "mallory"])
        assert r.exit_code == 1 and "HTTP 401" in r.output


def test_help_texts() -> None:
    for cmd in (["serve", "--help"], ["keys", "new", "--help"], ["client", "fetch", "--help"]):
        r = runner.invoke(app, cmd)
        assert r.exit_code == 0 and "Usage" in r.output
