"""``diamp serve``, ``diamp keys new``, ``diamp client fetch``: the randomness service.

Register with ``app.command("serve")(serve_command)``, ``app.add_typer(keys_app)`` and
``app.add_typer(client_app)``. Heavy imports (FastAPI, uvicorn, httpx) happen inside the
commands so ``diamp --help`` stays fast.
"""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from diamp.cli.common import bad_option, console, emit_json, fail
from diamp.errors import ConfigError, DiampError

if TYPE_CHECKING:
    from diamp.service.settings import ServiceSettings

__all__ = ["client_app", "keys_app", "serve_command"]

_NEW_POOL = (
    "Recovery: start a fresh pool after a lost or restored pool database; sources continue "
    "after every anchored position (docs/service.md, 'Losing or restoring state')."
)
_WORKERS = (
    "Server processes sharing one pool, nonce cache and rate limits (the first also runs the "
    "sources and the beacon); docs/service.md, 'Several processes, several hosts'."
)
_NEW_CHAIN = (
    "Recovery: start a new beacon chain above every anchored index after a lost or restored "
    "beacon state (docs/service.md, 'Losing or restoring state')."
)


def serve_command(
    config: Annotated[
        Path, typer.Argument(help="Service config (TOML), e.g. configs/service.toml.")
    ],
    host: Annotated[
        str | None, typer.Option(help="Listen address (overrides [server] host).")
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="Listen port (overrides [server] port; 0: any free port).")
    ] = None,
    clients: Annotated[
        Path | None,
        typer.Option(help="Clients file with the pre-shared keys (overrides [server] clients)."),
    ] = None,
    beacon_period: Annotated[
        float | None,
        typer.Option(
            "--beacon-period",
            metavar="SECONDS",
            help="Beacon pulse period (overrides [beacon] period_s; whole milliseconds).",
        ),
    ] = None,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
    new_pool: Annotated[bool, typer.Option("--new-pool", help=_NEW_POOL)] = False,
    new_chain: Annotated[bool, typer.Option("--new-chain", help=_NEW_CHAIN)] = False,
    workers: Annotated[int, typer.Option(min=1, max=64, help=_WORKERS)] = 1,
) -> None:
    """Serve random bytes to RFC 9421-signed requests, filling the pool from the sources.

    With an enabled ``[beacon]`` table the service also publishes NIST Beacon 2.0 pulses
    under ``/beacon/2.0/`` from the configured tier (``configs/service.toml`` does, with a
    throw-away signing key generated on first start). A pool or beacon database that
    disagrees with its anchor file is refused (exit 2) until ``--new-pool`` / ``--new-chain``.
    """
    from diamp.service.app import create_app

    try:
        settings = _serve_settings(config, host, port, clients, beacon_period)
        tls = settings.tls_files()  # before anything opens: a bad file is exit 2, no traceback
        sock = _bind(settings, workers)  # first: the beacon's pulse uris name the port bound
        try:
            settings = settings.with_server(port=sock.getsockname()[1])
            app = create_app(settings, new_pool=new_pool, new_chain=new_chain, processes=workers)
        except BaseException:
            sock.close()
            raise
    except DiampError as err:
        raise fail(err) from err
    _serve(app, settings, tls, log_level, workers, sock)


def _serve(app: Any, settings: ServiceSettings, tls: tuple[str, str] | None,
           log_level: str, workers: int, sock: socket.socket) -> None:  # fmt: skip
    from diamp.service.workers import serve_processes

    scheme = "https" if tls else "http"
    host_shown, bound = sock.getsockname()[:2]
    host_shown = f"[{host_shown}]" if ":" in host_shown else host_shown
    running = f"{workers} processes running" if workers > 1 else "running"
    console.print(f"diamp serve: {running} on {scheme}://{host_shown}:{bound}",
                  soft_wrap=True, highlight=False)  # fmt: skip
    service = app.state.service
    state = None if service.worker_state is None else service.worker_state.handle()
    options = {"log_level": log_level, "tls": tls, "parent": os.getpid(),
               "started": service.verifier.started, "state": state,
               "reuse_port": workers > 1}  # fmt: skip
    serve_processes(app, settings, workers, sock, options)


def _bind(settings: ServiceSettings, workers: int) -> socket.socket:
    """The listening socket (``--workers``: the port is reused by each worker; exit 1 if taken)."""
    from diamp.service.workers import bind

    host, port = settings.server.host, settings.server.port
    try:
        return bind(host, port, reuse_port=workers > 1)
    except OSError as err:
        raise DiampError(f"cannot listen on {host}:{port}: {err.strerror or err}") from err


def _serve_settings(
    config: Path, host: str | None, port: int | None, clients: Path | None,
    beacon_period: float | None,
) -> ServiceSettings:  # fmt: skip
    """The config with the command-line overrides applied."""
    from diamp.service.settings import load_settings

    settings = load_settings(config)
    settings = settings.with_server(  # validated like the file: --port -1 is exit 2
        host=host, port=port, clients=None if clients is None else clients.resolve()
    )
    if beacon_period is not None:
        settings = _with_beacon_period(settings, beacon_period, config)
    return settings


def _with_beacon_period(settings: ServiceSettings, period: float, config: Path) -> ServiceSettings:
    from pydantic import ValidationError

    from diamp.service.beacon.settings import BeaconSettings

    if settings.beacon is None:
        raise ConfigError(f"{config}: --beacon-period: the config has no [beacon] table")
    try:  # validated again: the period must be whole milliseconds
        beacon = BeaconSettings.model_validate({**settings.beacon.model_dump(), "period_s": period})
    except ValidationError as err:
        message = err.errors()[0]["msg"]
        raise ConfigError(f"--beacon-period {period}: {message}") from err
    return settings.model_copy(update={"beacon": beacon})


keys_app = typer.Typer(
    name="keys",
    help="Pre-shared client keys of the service.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


@keys_app.command("new")
def keys_new(
    client_id: Annotated[
        str, typer.Argument(metavar="ID", help="Client id (letters, digits, . _ -).")
    ],
    clients: Annotated[
        Path, typer.Option(help="Server's clients file (created if missing, mode 0600).")
    ],
    out: Annotated[
        Path, typer.Option(help="Client's key file to write (64 hex characters, mode 0600).")
    ],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print JSON (keys: id, clients, key_file).")
    ] = False,
) -> None:
    """Add a client with a fresh 256-bit key to the clients file and write its key file."""
    from diamp.service.keys import add_client, write_key_file

    try:
        if out.exists():
            raise bad_option("--out", f"{out} exists; refusing to overwrite a key file")
        key = add_client(clients, client_id)
        write_key_file(out, key)
    except DiampError as err:
        raise fail(err) from err
    if as_json:
        emit_json({"id": client_id, "clients": str(clients), "key_file": str(out)})
    else:
        console.print(f"client {client_id!r} added to {clients}; key written to {out} (mode 0600)")


client_app = typer.Typer(
    name="client",
    help="Talk to a diamp randomness service.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


@client_app.command("fetch")
def client_fetch(
    url: Annotated[str, typer.Option(help="Server base URL, e.g. https://127.0.0.1:8443.")],
    key_id: Annotated[str, typer.Option(help="Client id (keyid of the signature).")],
    key_file: Annotated[Path, typer.Option(help="Key file (64 hex characters, mode 0600).")],
    nbytes: Annotated[int, typer.Option("--bytes", help="Number of random bytes.", min=1)],
    format: Annotated[str, typer.Option(help="Wire format: binary, hex or base64.")] = "binary",
    tier: Annotated[
        str | None, typer.Option(help="Output tier (default: the server's first).")
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option("-o", "--output", help="Write the bytes here (default: stdout as hex)."),
    ] = None,
    ca_cert: Annotated[
        Path | None, typer.Option(help="CA bundle or self-signed certificate for https.")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print JSON (keys: bytes, hex or file).")
    ] = False,
    api_key: Annotated[
        bool,
        typer.Option("--api-key", help='Send the x-api-key header (tiers with auth = "api_key").'),
    ] = False,
) -> None:
    """Fetch random bytes with an RFC 9421-signed request (hmac-sha256, pre-shared key)."""
    from diamp.service.client import Client
    from diamp.service.keys import read_key_file

    if format not in ("binary", "hex", "base64"):
        raise bad_option("--format", f"expected binary, hex or base64, found {format!r}")
    try:
        key = read_key_file(key_file)
        verify = str(ca_cert) if ca_cert else True
        with Client(
            url, key_id, key, verify=verify, auth="api_key" if api_key else "signature"
        ) as c:
            data = c.random(nbytes, tier=tier, format=format)  # type: ignore[arg-type]
    except DiampError as err:
        raise fail(err) from err
    if output is not None:
        output.write_bytes(data)
    if as_json:
        emit_json(
            {"bytes": len(data), "file": str(output)}
            if output
            else {"bytes": len(data), "hex": data.hex()}
        )
    elif output is None:
        sys.stdout.write(data.hex() + "\n")


from diamp.cli.keys import keys_list, keys_revoke, keys_rotate  # noqa: E402  (one group)

keys_app.command("list")(keys_list)
keys_app.command("revoke")(keys_revoke)
keys_app.command("rotate")(keys_rotate)
