"""The HTTP API: ``create_app(settings)`` builds a FastAPI app around one :class:`Service`.

=====================================  ====================================================
``GET /v1/random``                     ``bytes=N&format=binary|hex|base64[&tier=…]`` (signed)
``GET /v1/random/json``,               ANU-compatible ``length=N&type=uint8|uint16|hex16|hex8
``GET /API/jsonI.php``                 [&size=B][&tier=…]`` → ``{"type","length","data",
                                       "success"}`` (signed, or unsigned for a public tier:
                                       :mod:`diamp.service.anu_api`)
``GET /v1/status``                     sources, health, pool levels, entropy estimates,
                                       recent quarantines, the beacon's state
``GET /status``                        the same as one self-contained HTML page
``GET /v1/certificates/{sha512}``      the DIRA certificate file with that SHA-512, else 404
``GET /healthz``                       200 while some tier can serve, else 503
``GET /metrics``                       Prometheus text format
``/docs``, ``/openapi.json``           OpenAPI
=====================================  ====================================================

Every draw says where it came from in response headers: ``X-Diamp-Tier``,
``X-Diamp-Simulated`` (``true`` if a contributing source is simulated, ``unknown`` if one is of
unknown provenance, else ``false``), ``X-Diamp-Simulated-Sources`` (their names, when not
``false``) and ``X-Diamp-Dira-Certificates``. A served DIRA certificate is the file as it is
(its SHA-512 is its identity), with ``X-Diamp-Simulated`` and ``X-Diamp-Provenance-Status``
headers and ``X-Diamp-Allowed-Simulated: true`` when it was admitted only by
``allow_simulated``.

Random bytes are served only to RFC 9421-signed requests (:mod:`diamp.service.auth`); for a
tier with ``auth = "api_key"``, to requests with a client's ``x-api-key``
(:mod:`diamp.service.clients`); and at the ANU routes to unsigned requests for a public tier,
rate-limited per address: failures get 401 (counted by reason), over-rate clients 429 with
``Retry-After``, an empty pool or an unavailable tier 503. ``GET /v1/random`` with a query in
plain form is answered by :class:`~diamp.service.fastpath.RandomFastPath` before FastAPI
routes it (same checks, same answers; the route here documents it and serves every other
form). This module is imported only when the server starts, so it imports FastAPI at module
level.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Path, Query, Request  # noqa: TID253 - server-only module
from fastapi.responses import HTMLResponse, JSONResponse, Response  # noqa: TID253 - server-only module

from diamp.service.anu_api import anu_router
from diamp.service.beacon.api import beacon_router
from diamp.service.beaconhost import beacon_host
from diamp.service.core import Service
from diamp.service.fastpath import (
    MAX_BYTES,
    SIMULATED_FLAG,
    RandomFastPath,
    authenticate,
    draw_headers,
    header_problem,
    take,
)
from diamp.service.settings import ServiceSettings
from diamp.service.status_page import PAGE_HEADERS, full_status, render_status_page

__all__ = ["BackgroundTask", "create_app"]

BackgroundTask = Callable[[Service], Coroutine[Any, Any, None]]


class _HeaderGuard:
    """Pure ASGI middleware: refuse oversized header blocks (431) and repeated Host (400).

    A request with two ``Host`` headers has no single authority, so its signature cannot be
    bound to this server; a huge header block is refused before any route sees it.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            problem = header_problem(scope.get("headers", []))
            if problem is not None:
                await _plain(send, *problem)
                return
        await self.app(scope, receive, send)


async def _plain(send: Any, status: int, text: str) -> None:
    body = json.dumps({"detail": text}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})  # fmt: skip
    await send({"type": "http.response.body", "body": body})


class _Timing:
    """Pure ASGI middleware: request latency histogram and status counts per route."""

    def __init__(self, app: Any, service: Service) -> None:
        self.app, self.metrics = app, service.metrics

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        start = time.perf_counter()

        async def send_status(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            self.metrics.observe_request(scope["path"], status, time.perf_counter() - start)


class _ServiceApp(FastAPI):
    """FastAPI, with a plain ``GET /v1/random`` answered before its middleware stack.

    :class:`~diamp.service.fastpath.RandomFastPath` checks the header block and times the
    request itself, as ``_HeaderGuard`` and ``_Timing`` do for every other request; what it
    does not take (another route, a query in another form, a header block to refuse) goes
    through the whole stack.
    """

    fast_path: RandomFastPath | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        fast = self.fast_path
        if fast is None or not await fast.serve(scope, receive, send):
            await super().__call__(scope, receive, send)


async def _service(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


async def authenticated(request: Request, service: Annotated[Service, Depends(_service)]) -> str:
    """Dependency: the verified client id, or 401 (counted); see :func:`fastpath.authenticate`."""
    return authenticate(service, request.headers, request.scope, request.query_params.get("tier"))


Client = Annotated[str, Depends(authenticated)]
Svc = Annotated[Service, Depends(_service)]


TierName = Annotated[
    str | None,
    Query(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$",
          description="Output tier (default: the first; an empty value is 422, not the default)"),
]  # fmt: skip


def _random_router() -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["random"])

    @router.get("/random", summary="Random bytes (signed requests only)")
    async def random_bytes(
        client: Client, service: Svc,
        nbytes: Annotated[
            int, Query(alias="bytes", ge=1, le=MAX_BYTES, description="Number of bytes")
        ],
        format: Annotated[Literal["binary", "hex", "base64"], Query()] = "binary",
        tier: TierName = None,
    ) -> Response:  # fmt: skip
        draw = await take(service, client, nbytes, tier)
        headers = draw_headers(draw)
        if format == "binary":
            return Response(draw.data, media_type="application/octet-stream", headers=headers)
        text = draw.data.hex() if format == "hex" else base64.b64encode(draw.data).decode()
        return Response(text, media_type="text/plain", headers=headers)

    return router


def _info_router() -> APIRouter:
    router = APIRouter(tags=["service"])

    @router.get("/v1/status", summary="Sources, health, pool levels, entropy estimates")
    def status(service: Svc, request: Request) -> dict[str, Any]:
        return full_status(service, _pulses(request.app))

    @router.get("/status", summary="The status as one HTML page", response_class=HTMLResponse)
    def status_page(service: Svc, request: Request) -> HTMLResponse:
        page = render_status_page(full_status(service, _pulses(request.app)))
        return HTMLResponse(page, headers=PAGE_HEADERS)

    @router.get("/v1/certificates/{sha512}", summary="DIRA certificate by the SHA-512 of its file")
    def certificate(
        service: Svc, sha512: Annotated[str, Path(pattern="^[0-9a-f]{128}$")]
    ) -> Response:
        path = service.certificates.get(sha512)
        if path is None:
            raise HTTPException(404, "no DIRA certificate with that SHA-512 is served here")
        origin = service.certificate_origins[sha512]
        headers = {
            "X-Diamp-Simulated": SIMULATED_FLAG[origin["simulated"]],
            "X-Diamp-Provenance-Status": str(origin["status"]),
        }
        if origin["allowed_simulated"]:
            headers["X-Diamp-Allowed-Simulated"] = "true"
        try:
            body = path.read_bytes()
        except OSError as err:  # removed or unreadable since startup: not served, not a 500
            raise HTTPException(503, f"certificate file unreadable: {err.strerror}") from err
        return Response(body, media_type="application/json", headers=headers)

    @router.get("/healthz", summary="200 while at least one tier can serve")
    def healthz(service: Svc) -> JSONResponse:
        tiers = service.status()["tiers"]
        ok = any(t["available"] and t["pool_bytes"] > 0 for t in tiers.values())
        return JSONResponse({"ok": ok}, status_code=200 if ok else 503)

    @router.get("/metrics", summary="Prometheus metrics")
    def metrics(service: Svc) -> Response:
        return Response(service.metrics.render(), media_type="text/plain; version=0.0.4")

    return router


def _pulses(app: FastAPI) -> Any:
    """What the status shows of the beacon: the engine on the host running it, else the store."""
    host = app.state.beacon
    return None if host is None else (host.engine or host.store)


def create_app(
    settings: ServiceSettings,
    *,
    routers: Sequence[APIRouter] = (),
    background: Sequence[BackgroundTask] = (),
    new_pool: bool = False,
    new_chain: bool = False,
    processes: int = 1,
    worker: bool = False,
    state: Any = None,
) -> FastAPI:
    """The service as a FastAPI app (nothing runs until the app's lifespan starts).

    Parameters
    ----------
    settings
        The validated config.
    routers
        Extra routers mounted as they are (e.g. the beacon's).
    background
        Coroutine functions ``task(service)`` run for the app's lifetime and cancelled
        at shutdown.
    new_pool, new_chain
        Explicit recovery after lost state (``diamp serve --new-pool`` / ``--new-chain``):
        see :mod:`diamp.service.state` and :mod:`diamp.service.beacon.anchor`.
    processes, worker, state
        ``diamp serve --workers N``: N processes serve this pool; ``worker``: this one is not
        the first (it runs no source and no beacon clock; :mod:`diamp.service.workers`);
        ``state``: its handle on the first process's shared nonces and buckets, if any.

    Raises
    ------
    DiampError
        If a source, seed, clients file or the pool cannot be opened;
        :class:`~diamp.service.errors.StateError` if the pool or beacon state disagrees
        with its anchor.
    """
    service = Service(settings, new_pool=new_pool, processes=processes, worker=worker,
                      state=state)  # fmt: skip
    try:
        beacon = beacon_host(service, new_chain=new_chain)
    except BaseException:
        service.stop()
        raise
    if beacon is not None:
        routers = (*routers, beacon_router(beacon.store))

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        service.start()
        if beacon is not None:
            beacon.start()
        tasks = [asyncio.create_task(task(service)) for task in background]
        if beacon is not None:
            tasks.append(asyncio.create_task(beacon.run()))
        try:
            yield
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if beacon is not None:
                beacon.stop()
            service.stop()

    app = _ServiceApp(title="diamp randomness service", version="1", lifespan=lifespan)
    app.state.service = service
    app.state.beacon = beacon
    for router in (_random_router(), anu_router(), _info_router(), *routers):
        app.include_router(router)
    app.add_middleware(_Timing, service=service)
    app.add_middleware(_HeaderGuard)
    app.fast_path = RandomFastPath(service)
    return app
