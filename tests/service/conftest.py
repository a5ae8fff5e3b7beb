"""Fixtures of the service tests: one real simulated DIRA run per session."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from _postgres import PostgresServer, postgres_server
from typer.testing import CliRunner

from _runconfig import run_config, write_config
from diamp.cli import app

# A small quantum run that certifies a few thousand bits (as in tests/test_cli.py): n = 800,006
# trials of a perfect |Psi+>, S_mu,obs ~ 0.0119 above the threshold 0.0108.
SIMULATED_RUN = run_config(
    run={"seed": 41, "blocks": 2, "trials_per_block": 400_003},
    device={"model": "quantum", "visibility": 1.0, "readout_fidelity": 1.0},
    protocol={"s_mu_threshold": "0.0108"},
)


@pytest.fixture(scope="session")
def simulated_run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run directory made by ``diamp run`` from the simulated lab (status ok, key.bin)."""
    tmp = tmp_path_factory.mktemp("simulated-run")
    out = tmp / "run"
    result = CliRunner().invoke(app, ["run", str(write_config(tmp, SIMULATED_RUN)), "--out",
                                      str(out), "-q"])  # fmt: skip
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture
def simulated_run(simulated_run_dir: Path, tmp_path: Path) -> Path:
    """This test's copy of the simulated run (certificate and key only), at ``tmp_path/run``."""
    run = tmp_path / "run"
    run.mkdir()
    for name in ("certificate.json", "key.bin"):
        shutil.copy2(simulated_run_dir / name, run / name)
    return run


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL server on 127.0.0.1 for the session (skipped without its binaries)."""
    with postgres_server() as server:
        yield server


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str | None:
    """Each storage backend in turn: None for SQLite, a fresh database's URL for PostgreSQL."""
    if request.param == "sqlite":
        return None
    server: PostgresServer = request.getfixturevalue("postgres")
    return server.new_database()
