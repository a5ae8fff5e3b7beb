"""A real PostgreSQL server for the tests, from the distribution's package.

``initdb`` and ``postgres`` from ``/usr/lib/postgresql/*/bin`` (Debian's layout) or the
``PATH`` make a cluster in a temporary directory, listening on 127.0.0.1 at a free port (and
a socket in that directory); it is stopped and removed afterwards. PostgreSQL refuses to run
as root, so as root (CI) the cluster belongs to the ``postgres`` user (or ``nobody``).

Missing binaries skip the tests, unless ``DIAMP_REQUIRE_POSTGRES=1`` (set by ``.ci/run``
after installing the package), which makes them fail instead.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

REQUIRE = "DIAMP_REQUIRE_POSTGRES"


def binaries() -> Path | None:
    """The folder holding ``initdb`` and ``postgres`` (newest version), or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_version)
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _version(path: str) -> int:
    part = Path(path).parents[1].name
    return int(part) if part.isdigit() else 0


def require_binaries() -> Path:
    """The binaries' folder, or skip (fail when ``DIAMP_REQUIRE_POSTGRES=1``)."""
    found = binaries()
    if found is None:
        if os.environ.get(REQUIRE) == "1":
            pytest.fail(f"{REQUIRE}=1 but PostgreSQL is not installed (apt-get install postgresql)")
        pytest.skip("PostgreSQL binaries not found (apt-get install postgresql)")
    return found


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PostgresServer:
    """A running cluster: :meth:`new_database` gives a fresh database's URL."""

    def __init__(self, port: int, user: str) -> None:
        self.port, self.user = port, user

    def url(self, database: str) -> str:
        """The connection URL of ``database``."""
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """Create an empty database; its URL."""
        import psycopg

        name = "t_" + uuid.uuid4().hex[:12]
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"'.encode())
        return self.url(name)


@contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    """Start a throw-away cluster on 127.0.0.1 (see the module docs); stop and remove it."""
    bin_dir = require_binaries()
    if os.environ.get(REQUIRE) != "1":
        pytest.importorskip("psycopg")
    tmp = Path(tempfile.mkdtemp(prefix="diamp-pg-"))
    owner: dict[str, int] = {}
    if os.geteuid() == 0:  # postgres refuses root: the cluster belongs to an ordinary user
        entry = _ordinary_user()
        owner = {"user": entry.pw_uid, "group": entry.pw_gid}
        os.chown(tmp, entry.pw_uid, entry.pw_gid)
    data, port, user = tmp / "data", _free_port(), "diamp"
    log = (tmp / "server.log").open("wb")
    proc = None
    try:
        subprocess.run(
            [str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", user, "-E", "UTF8",
             "--no-sync", "--no-instructions"],
            check=True, stdout=subprocess.DEVNULL, stderr=log, **owner,  # type: ignore[arg-type]
        )  # fmt: skip
        proc = subprocess.Popen(
            [str(bin_dir / "postgres"), "-D", str(data), "-p", str(port), "-k", str(tmp),
             "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "max_connections=200",
             "-c", "full_page_writes=off"],
            stdout=subprocess.DEVNULL, stderr=log, **owner,  # type: ignore[arg-type]
        )  # fmt: skip
        server = PostgresServer(port, user)
        _wait_ready(server, proc, tmp / "server.log")
        yield server
    finally:
        if proc is not None:
            proc.send_signal(signal.SIGINT)  # fast shutdown
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()
        shutil.rmtree(tmp, ignore_errors=True)


def _ordinary_user() -> pwd.struct_passwd:
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise RuntimeError("no ordinary user (postgres, nobody) to run PostgreSQL as")


def _wait_ready(server: PostgresServer, proc: subprocess.Popen[bytes], log: Path) -> None:
    import psycopg

    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None:
            raise RuntimeError("PostgreSQL exited: " + log.read_text(errors="replace")[-2000:])
        try:
            psycopg.connect(server.url("postgres"), connect_timeout=2).close()
            return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
