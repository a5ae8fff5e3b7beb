"""``diamp serve --workers N``: N server processes on one port, one pool.

The first process (the *leader*, the one ``diamp serve`` started) opens the pool and checks
it against its anchor (``--new-pool`` recovery included), runs the extraction pipeline and
the beacon, and serves requests. Only then are the other N − 1 processes (*workers*) started
(``spawn``: fresh interpreters, nothing inherited but the listening socket); each opens the
same pool and serves from it (:class:`diamp.service.serving.ServingOnly`), and none runs a
source, the pipeline or the beacon's clock:

* bytes: every process reserves from the pool database in its own transactions, so no
  byte goes to two processes (:mod:`diamp.service.pool`); a discard by the leader (a
  quarantined source) makes every worker drop its in-memory reservations at its next take;
* nonces and rate limits: in memory the first process shares with the workers
  (:mod:`diamp.service.workerstate`; on PostgreSQL, or with ``[pool] shared = true``, in the
  database: :mod:`diamp.service.shared`), so a replayed request is refused and a client's
  rate is limited whichever process answers;
* the beacon routes read the pulse store the leader writes.

Each process listens on a socket of its own, all bound to the port with ``SO_REUSEPORT``
(Linux): the kernel spreads new connections over them by a hash of their addresses. One
socket shared by all (the fallback where ``SO_REUSEPORT`` is missing) lets whichever process
wakes first accept every connection that is waiting: 16 keep-alive connections opened at once
all went to one process, the others idle. The hash spreads connections only roughly (16 of
them 12/4 as often as 8/8), so the processes publish their connection counts and one above its
share closes a connection after an answer (:mod:`diamp.service.balance`). Every process also
keeps large freed buffers for reuse (:func:`keep_large_buffers`). A worker binds its socket
only once it can serve; until then the first process answers alone. A worker exits when the
leader does (``PR_SET_PDEATHSIG``, and a check of the parent's pid), so a killed leader
never leaves workers serving a pool that nobody fills or checks.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import multiprocessing
import os
import signal
import socket
import sys
import threading
import time
from typing import TYPE_CHECKING, Any

from diamp.service.balance import Balance
from diamp.service.workerstate import available as memfd_available

if TYPE_CHECKING:
    from diamp.service.settings import ServiceSettings

__all__ = ["MALLOC_TUNING", "bind", "keep_large_buffers", "serve_processes"]

log = logging.getLogger(__name__)


def bind(host: str, port: int, *, reuse_port: bool = False) -> socket.socket:
    """A listening TCP socket (IPv6 when ``host`` has a colon).

    ``reuse_port``: ``SO_REUSEPORT``, so that each ``--workers`` process listens on a socket
    of its own on the same port (see the module docs).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port and hasattr(socket, "SO_REUSEPORT"):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def _uvicorn_config(app: Any, settings: ServiceSettings, options: dict[str, Any]) -> Any:
    import uvicorn

    tls = options.get("tls") or (None, None)
    return uvicorn.Config(
        app, loop="uvloop", http="httptools", log_level=options.get("log_level", "info"),
        access_log=False, ssl_certfile=tls[0], ssl_keyfile=tls[1],
        proxy_headers=False,  # X-Forwarded-*: only [server] trusted_proxies (service.public)
    )  # fmt: skip


def serve_processes(
    app: Any, settings: ServiceSettings, workers: int, sock: socket.socket,
    options: dict[str, Any],
) -> None:  # fmt: skip
    """Serve ``app`` (the leader's) here and start ``workers - 1`` worker processes.

    ``options``: ``log_level`` and ``tls`` (cert, key) as ``diamp serve`` was given them,
    ``parent`` (this process's pid) and ``started`` (when its verifier started).
    The workers are stopped when this returns.
    """
    import uvicorn

    keep_large_buffers()
    context = multiprocessing.get_context("spawn")
    balance = Balance.create(workers) if workers > 1 and memfd_available() else None
    if balance is not None:
        options = {**options, "balance": balance.handle()}
    procs = [
        context.Process(target=_worker_main, args=(settings, sock, options, i), daemon=False)
        for i in range(1, workers)
    ]  # each binds its own socket once ready; until then the first process answers alone
    server = uvicorn.Server(_uvicorn_config(app, settings, options))
    _balanced(app, server, balance)
    try:
        for p in procs:
            p.start()
        server.run(sockets=[sock])
    finally:
        for p in procs:
            if p.is_alive():
                os.kill(p.pid or 0, signal.SIGTERM)
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.kill()
                p.join()


MALLOC_TUNING = (("MALLOC_MMAP_THRESHOLD_", -3, 32 << 20), ("MALLOC_TRIM_THRESHOLD_", -1, 64 << 20))
"""glibc ``mallopt`` settings of a server process: (environment variable, parameter, value)."""


def keep_large_buffers() -> bool:
    """Let glibc reuse the memory of large freed buffers instead of returning it at once.

    A server process allocates and frees megabytes per large draw (a reservation holds up
    to 8 chunks, a response its body). glibc gives buffers over its mmap threshold their
    own mappings and hands freed memory above its trim threshold back to the kernel, so
    every new buffer was fresh memory, and its first touch a page fault per 4 KiB: reading
    8 held chunks of 1 MiB took 0.72 ms per MiB against 0.21 ms with these settings
    (``M_MMAP_THRESHOLD`` 32 MiB, glibc's largest; ``M_TRIM_THRESHOLD`` 64 MiB, at most
    what a process keeps beyond its use). Nothing is changed where the operator set
    either environment variable, or where the C library has no ``mallopt`` (not glibc);
    returns whether both took effect.
    """
    if any(name in os.environ for name, _, _ in MALLOC_TUNING):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    return all(mallopt(param, value) == 1 for _, param, value in MALLOC_TUNING)


def _die_with_parent(parent: int) -> None:
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="diamp-parent-watch", daemon=True).start()
    if os.getppid() != parent:
        os.kill(os.getpid(), signal.SIGTERM)


def _worker_main(
    settings: ServiceSettings, sock: socket.socket, options: dict[str, Any], index: int
) -> None:
    """A worker process: open the pool, serve on the leader's socket until told to stop."""
    _die_with_parent(int(options["parent"]))
    keep_large_buffers()
    import uvicorn

    from diamp.errors import DiampError
    from diamp.service.app import create_app

    logging.basicConfig(level=logging.WARNING)
    try:
        app = create_app(settings, worker=True, state=options.get("state"))
    except DiampError as err:
        log.error("worker %d: %s", index, err)  # the library logs; the CLI prints
        sys.exit(1)
    # Requests signed after the first process started are fresh for every process: a
    # request queued on the shared socket while this one was starting is not refused.
    app.state.service.verifier.started = int(options["started"])
    if hasattr(socket, "SO_REUSEPORT") and options.get("reuse_port"):
        try:
            own = bind(settings.server.host, sock.getsockname()[1], reuse_port=True)
        except OSError as err:
            log.error("worker %d: cannot listen on the port: %s (the others serve)", index, err)
            sys.exit(1)
        sock.close()  # the kernel spreads new connections over the processes' sockets
        sock = own
    server = uvicorn.Server(_uvicorn_config(app, settings, options))
    handle = options.get("balance")
    _balanced(app, server, None if handle is None else handle.open(index))
    server.run(sockets=[sock])


def _balanced(app: Any, server: Any, balance: Balance | None) -> None:
    """Let ``app`` answer with ``Connection: close`` beyond its share (:mod:`.balance`).

    The count is uvicorn's set of open connections; without it (another uvicorn), nothing
    is balanced rather than every answer failing.
    """
    connections = getattr(getattr(server, "server_state", None), "connections", None)
    if balance is not None and isinstance(connections, set):
        balance.count = lambda: len(connections)
        app.state.service.balance = balance
