"""Beacon pulse ``uri``s name where the pulses are served: the bound port, or the public base.

``diamp serve`` runs as a process on 127.0.0.1 with ``--port 0`` (any free port) and with a
``--port`` that differs from the config's; each pulse's ``uri`` must be the URL it is served
at, and fetching that URL must return the very same pulse.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from _svc import config_text, write_config
from typer.testing import CliRunner

from diamp.cli import app as cli

SRC = str(Path(__file__).parents[2] / "src")
BEACON = (
    "\n[beacon]\nperiod_s = 0.25\ntier = 'standard'\ngenerate_key = true\nkey_bits = 2048\n"
    "reserve_pulses = 4\nkey_file = 'b/key.pem'\ncertificate_file = 'b/cert.pem'\n"
    "state_db = 'b/pulses.sqlite'\n"
)


@contextmanager
def diamp_serve(config: Path, *args: str) -> Iterator[str]:
    """``diamp serve CONFIG ARGS`` as a process; yields the base URL it says it serves at."""
    log = config.parent / f"serve-{time.monotonic_ns()}.log"
    with log.open("wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-c", "from diamp.cli import main; main()", "serve", str(config),
             "--log-level", "warning", *args],
            stderr=err, stdout=subprocess.DEVNULL, env={**os.environ, "PYTHONPATH": SRC},
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while (m := re.search(r"running on (http://127\.0\.0\.1:\d+)", log.read_text())) is None:
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        yield m.group(1)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _last_pulse(base: str, at_least: int) -> dict[str, object]:
    deadline = time.monotonic() + 60
    while True:
        r = httpx.get(f"{base}/beacon/2.0/pulse/last", timeout=10)
        if r.status_code == 200 and r.json()["pulse"]["pulseIndex"] >= at_least:
            pulse: dict[str, object] = r.json()["pulse"]
            return pulse
        assert time.monotonic() < deadline, f"no pulse {at_least} at {base}: {r.text[:300]}"
        time.sleep(0.1)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _check_served_where_named(base: str) -> str:
    pulse = _last_pulse(base, 2)
    uri = str(pulse["uri"])
    chain, index = pulse["chainIndex"], pulse["pulseIndex"]
    assert uri == f"{base}/beacon/2.0/chain/{chain}/pulse/{index}"
    fetched = httpx.get(uri, timeout=10)
    assert fetched.status_code == 200 and fetched.json()["pulse"] == pulse
    listed = pulse["listValues"]
    assert isinstance(listed, list)
    previous = next(v for v in listed if v["type"] == "previous")
    assert previous["uri"] == f"{base}/beacon/2.0/chain/{chain}/pulse/{index - 1}"  # type: ignore[operator]
    return uri


@pytest.mark.parametrize("port", ["0", "free"])
def test_pulse_uri_follows_the_bound_port(tmp_path: Path, port: str) -> None:
    config, _ = write_config(tmp_path, config_text(server="port = 8443") + BEACON)
    given = str(_free_port()) if port == "free" else port
    with diamp_serve(config, "--port", given) as base:
        assert port == "0" or base.endswith(f":{given}")
        _check_served_where_named(base)


def test_explicit_public_base_uri_is_used_as_given(tmp_path: Path) -> None:
    public = "https://beacon.example.org/randomness"
    text = config_text() + BEACON + f"public_base_uri = '{public}'\n"
    config, _ = write_config(tmp_path, text)
    with diamp_serve(config, "--port", "0") as base:
        pulse = _last_pulse(base, 1)
    assert pulse["uri"] == f"{public}/beacon/2.0/chain/1/pulse/{pulse['pulseIndex']}"


def test_listening_on_every_address_needs_a_public_base_uri(tmp_path: Path) -> None:
    config, _ = write_config(tmp_path, config_text() + BEACON)
    result = CliRunner().invoke(cli, ["serve", str(config), "--host", "0.0.0.0", "--port", "0"])
    assert result.exit_code == 2, result.output
    assert "beacon.public_base_uri: required when listening on every address" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "b" / "pulses.sqlite").exists()
