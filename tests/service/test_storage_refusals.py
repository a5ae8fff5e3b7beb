"""Refusals of the storage options: ``[pool] url``, ``anchor``, ``shared`` and ``--workers``.

Invalid values are exit 2 naming the key; a PostgreSQL server that cannot be reached and a
port that is taken are runtime failures, exit 1; one line each, never a traceback.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from _svc import config_text, write_config
from typer.testing import CliRunner

from diamp.cli import app

runner = CliRunner()


def _serve(config: Path, *flags: str) -> tuple[int, str]:
    result = runner.invoke(app, ["serve", str(config), *flags])
    assert "Traceback" not in result.output, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, result.output


@pytest.mark.parametrize(
    ("pool", "found"),
    [
        ("url = 'mysql://db/x'", "pool.url"),
        ("url = 'postgresql://'", "pool.url"),
        ("url = 'postgresql://db/x y'", "pool.url"),
        ("url = 5", "pool.url"),
        ("anchor = 'a.anchor'", "anchor applies with url only"),
        ("shared = 1", "pool.shared"),
    ],
)
def test_bad_storage_settings_are_exit_2(tmp_path: Path, pool: str, found: str) -> None:
    config, _ = write_config(tmp_path, config_text(pool=f"fill = false\n{pool}"))
    code, output = _serve(config, "--port", "0")
    assert code == 2, output
    assert found in output, output


def test_url_and_path_together_are_exit_2(tmp_path: Path) -> None:
    text = config_text(pool="url = 'postgresql://diamp@127.0.0.1/x'")  # keeps path = …
    config, _ = write_config(tmp_path, text)
    code, output = _serve(config, "--port", "0")
    assert code == 2 and "with url, name the anchor file" in output, output


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_an_unreachable_database_is_exit_1_in_one_line(tmp_path: Path) -> None:
    pytest.importorskip("psycopg")
    text = config_text(pool="fill = false").replace(
        "path = 'pool.sqlite'", f"url = 'postgresql://diamp:secret@127.0.0.1:{_closed_port()}/x'"
    )
    config, _ = write_config(tmp_path, text)
    code, output = _serve(config, "--port", "0")
    assert code == 1, output
    assert "cannot open pool database" in output and "secret" not in output, output
    assert len(output.strip().splitlines()) == 1, output


def test_workers_on_a_taken_port_is_exit_1(tmp_path: Path) -> None:
    config, _ = write_config(tmp_path, config_text(pool="fill = false"))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        code, output = _serve(config, "--port", str(port), "--workers", "2")
    assert code == 1 and f"cannot listen on 127.0.0.1:{port}" in output, output
    assert not (tmp_path / "pool.sqlite").exists()  # nothing opened before the socket


@pytest.mark.parametrize("workers", ["0", "65", "two"])
def test_bad_worker_counts_are_exit_2(tmp_path: Path, workers: str) -> None:
    config, _ = write_config(tmp_path, config_text(pool="fill = false"))
    code, output = _serve(config, "--port", "0", "--workers", workers)
    assert code == 2 and "--workers" in output, output
