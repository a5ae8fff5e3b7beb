"""Refusals without tracebacks (issue 15, items 5 and 9): TLS files, a damaged stored seed,
bad clients-file entries, and query parameters out of range (an empty ``tier=`` included)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from _svc import config_text, fill_counter, serve, settings_for
from typer.testing import CliRunner

from diamp.cli import app
from diamp.service.app import create_app
from diamp.service.client import signed_headers
from diamp.service.errors import KeyFileError
from diamp.service.keys import load_clients
from diamp.service.pool import Pool

runner = CliRunner()


def _serve(config: Path) -> tuple[int, str]:
    result = runner.invoke(app, ["serve", str(config), "--port", "0"])
    assert "Traceback" not in result.output, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, result.output


@pytest.mark.parametrize("missing", ["tls_cert", "tls_key"])
def test_missing_tls_file_is_exit_2_naming_it(tmp_path: Path, missing: str) -> None:
    (tmp_path / "present.pem").write_text("x")
    names = {"tls_cert": "present.pem", "tls_key": "present.pem", missing: "absent.pem"}
    server = "".join(f"{k} = '{v}'\n" for k, v in names.items())
    settings_for(tmp_path, config_text(server=server, pool="fill = false"))
    code, output = _serve(tmp_path / "service.toml")
    assert code == 2, output
    assert f"server.{missing}" in output and "absent.pem" in output and "not found" in output


def test_tls_files_that_are_not_pem_are_exit_2(tmp_path: Path) -> None:
    (tmp_path / "c.pem").write_text("not a certificate\n")
    (tmp_path / "k.pem").write_text("not a key\n")
    server = "tls_cert = 'c.pem'\ntls_key = 'k.pem'\n"
    settings_for(tmp_path, config_text(server=server, pool="fill = false"))
    code, output = _serve(tmp_path / "service.toml")
    assert code == 2 and "c.pem" in output and "PEM" in output, output


@pytest.mark.parametrize(
    ("option", "value"), [("--port", "-1"), ("--port", "65536"), ("--host", ""), ("--host", "a b")]
)
def test_bad_server_overrides_are_exit_2_naming_the_option(
    tmp_path: Path, option: str, value: str
) -> None:
    settings_for(tmp_path, config_text(pool="fill = false"))
    result = runner.invoke(app, ["serve", str(tmp_path / "service.toml"), option, value])
    assert result.exit_code == 2 and f"{option}:" in result.output, result.output


@pytest.mark.parametrize("stored", ["zz" * 16, "abc", "ab cd", "é" * 4, ""])
def test_damaged_stored_seed_is_one_line_naming_pool_and_field(tmp_path: Path, stored: str) -> None:
    settings_for(tmp_path, config_text(pool="fill = false"))
    pool = Pool(tmp_path / "pool.sqlite")
    pool.set_meta("extractor_seed_hex", stored)
    pool.close()
    code, output = _serve(tmp_path / "service.toml")
    assert code == 1, output
    line = output.strip()
    assert "\n" not in line and "pool.sqlite" in line and "extractor_seed_hex" in line, output


@pytest.mark.parametrize(
    ("entries", "named"),
    [
        ("clients = 5\n", "clients"),
        ("[clients.bob]\nkey = 5\n", "clients.bob"),
        ("[clients.bob]\nkey = ['00']\n", "clients.bob"),
        (f"[clients.bob]\nkey = '{'0' * 64}'\nkye = 'typo'\n", "clients.bob"),
        (f"[clients.bob]\nkey = '{'0' * 64}'\ncreated_utc = 2026-01-01T00:00:00Z\n", "bob"),
        ("[clients.bob]\nkey = 'not hex'\n", "clients.bob.key"),
        (f"[clients.'b o b']\nkey = '{'0' * 64}'\n", "clients.b o b"),
        ("clients = []\n", "clients"),
    ],
)
def test_bad_clients_file_entries_are_refused_naming_them(
    tmp_path: Path, entries: str, named: str
) -> None:
    path = tmp_path / "clients.toml"
    path.write_text("schema_version = 1\n" + entries)
    path.chmod(0o600)
    with pytest.raises(KeyFileError, match=named) as info:
        load_clients(path)
    assert info.value.exit_code == 2


@pytest.fixture(scope="module")
def signed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, bytes]]:
    tmp = tmp_path_factory.mktemp("refusals")
    settings, keys = settings_for(tmp, config_text(pool="fill = false"))
    fill_counter(tmp / "pool.sqlite", "standard", 1000)
    with serve(create_app(settings)) as base:
        yield base, keys["alice"]


@pytest.mark.parametrize(
    "query",
    [
        "/v1/random?bytes=8&tier=",
        "/v1/random?bytes=8&tier=%20",
        "/v1/random?bytes=8&tier=no/such",
        "/v1/random?bytes=8&tier=nosuch",
        "/v1/random?bytes=0",
        "/v1/random?bytes=-1",
        "/v1/random?bytes=99999999999999999999999",
        "/v1/random?bytes=8&format=octal",
        "/v1/random/json?length=1&tier=",
        "/v1/random/json?length=0",
        "/v1/random/json?length=65537",
        "/v1/random/json?length=1&size=0",
        "/v1/random/json?length=1&size=1025",
        "/v1/random/json?length=1&type=int8",
    ],
)
def test_out_of_range_query_parameters_are_422(signed: tuple[str, bytes], query: str) -> None:
    base, key = signed
    response = httpx.get(base + query, headers=signed_headers(key, "alice", base + query))
    assert response.status_code == 422, (query, response.text)


def test_the_default_tier_needs_no_tier_parameter(signed: tuple[str, bytes]) -> None:
    base, key = signed
    url = base + "/v1/random?bytes=8"
    response = httpx.get(url, headers=signed_headers(key, "alice", url))
    assert response.status_code == 200 and response.headers["X-Diamp-Tier"] == "standard"
