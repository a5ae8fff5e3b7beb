"""A stand-alone beacon server: ``python -m diamp.service.beacon CONFIG [--port N]``.

It serves only the beacon routes, with ``localRandomValue`` from the operating system's
randomness (no DIRA evidence): for tests, demos and kill tests. ``diamp serve`` runs the same
engine and router inside the randomness service, fed by its pool.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from diamp.errors import DiampError
from diamp.service.beacon.api import beacon_router
from diamp.service.beacon.engine import BeaconEngine
from diamp.service.beacon.provenance import urandom_source
from diamp.service.beacon.pulse import Pulse
from diamp.service.beacon.settings import build_engine, load_beacon_settings, served_uri

if TYPE_CHECKING:
    from fastapi import FastAPI


def create_beacon_app(engine: BeaconEngine) -> FastAPI:
    """A FastAPI app with the beacon router; the lifespan starts and stops the engine."""
    from fastapi import FastAPI

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine.start()
        try:
            yield
        finally:
            engine.stop()

    app = FastAPI(title="diamp beacon", lifespan=lifespan)
    app.include_router(beacon_router(engine))
    return app


def _killer(index: int | None) -> Callable[[Pulse], None] | None:
    def after_persist(pulse: Pulse) -> None:
        if pulse.pulse_index == index:  # die between persist and publish, as a crash would
            os.kill(os.getpid(), signal.SIGKILL)

    return after_persist if index is not None else None


def main(argv: list[str] | None = None) -> None:
    """Parse arguments and serve until interrupted."""
    import uvicorn

    parser = argparse.ArgumentParser(prog="python -m diamp.service.beacon", description=__doc__)
    parser.add_argument("config", type=Path, help="TOML with schema_version = 1 and [beacon]")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port to bind (8000)")
    parser.add_argument(
        "--kill-after-persist",
        type=int,
        default=None,
        metavar="P",
        help="SIGKILL this process after persisting pulse P and before publishing it (tests)",
    )
    parser.add_argument(
        "--new-chain", action="store_true", help="start a new chain after lost beacon state"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    try:
        settings = load_beacon_settings(args.config)
        sock = _listen(args.host, args.port)  # first: the pulse uris name the bound port
        try:
            served = (
                None if settings.public_base_uri else served_uri(args.host, sock.getsockname()[1])
            )
            engine = build_engine(
                settings,
                urandom_source,
                served_at=served,
                after_persist=_killer(args.kill_after_persist),
                new_chain=args.new_chain,
            )
        except BaseException:
            sock.close()
            raise
    except DiampError as err:  # one line, no traceback, the error's exit status
        sys.stderr.write(f"error: {err}\n")
        raise SystemExit(err.exit_code) from err
    sys.stderr.write(f"beacon running on {engine.base_uri}\n")
    config = uvicorn.Config(create_beacon_app(engine), log_level="warning")
    uvicorn.Server(config).run(sockets=[sock])


def _listen(host: str, port: int) -> socket.socket:
    from diamp.service.workers import bind

    try:
        return bind(host, port)
    except OSError as err:
        raise DiampError(f"cannot listen on {host}:{port}: {err.strerror or err}") from err


if __name__ == "__main__":
    main()
