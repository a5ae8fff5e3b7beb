"""The steps every random-bytes route takes, and ``GET /v1/random`` as a pure ASGI handler.

:func:`authenticate` (the signed ``@authority`` and the RFC 9421 signature), :func:`take`
(tier, size cap, rate limit, the draw) and :func:`draw_headers` (where a draw came from)
are shared by the FastAPI routes of :mod:`diamp.service.app` and by
:class:`RandomFastPath`. The latter answers ``GET /v1/random`` whose query is in its plain
form (``bytes`` as a decimal without leading zeros, optional ``format`` and ``tier``, each
once, nothing percent-encoded, nothing else) without FastAPI's dependency injection and
validation, which cost more than the rest of the request together. Every other query form
goes on to the FastAPI route, which validates it, answers 422 where it must and documents
the route in ``/openapi.json``; a request is authenticated once, either way, by the same
:func:`authenticate`, and served by the same :func:`take`.
"""

from __future__ import annotations

import base64
import functools
import re
import time
from collections.abc import Iterable, Mapping
from typing import Any

from fastapi import HTTPException  # noqa: TID253 - server-only module
from fastapi.concurrency import run_in_threadpool  # noqa: TID253 - server-only module
from fastapi.responses import JSONResponse  # noqa: TID253 - server-only module

from diamp.service.auth import Accepted, RequestParts, normalize_authority
from diamp.service.core import RateLimiter, Service
from diamp.service.draw import Draw, Segment
from diamp.service.errors import AuthError, PoolEmpty, PoolError, TierUnavailable

__all__ = [
    "MAX_BYTES",
    "MAX_HEADER_BYTES",
    "SIMULATED_FLAG",
    "RandomFastPath",
    "authenticate",
    "authenticate_deferred",
    "canonical_query",
    "draw_headers",
    "field_values",
    "header_problem",
    "take",
]

MAX_HEADER_BYTES = 16 * 1024
"""Largest request header block accepted (names, values and separators); more is 431."""
MAX_BYTES = 1 << 26
"""Largest ``bytes`` a request may name (the largest ``[server] max_request_bytes``)."""
SIMULATED_FLAG = {True: "true", False: "false", None: "unknown"}
"""``X-Diamp-Simulated`` for a draw's or certificate's ``simulated`` (True, False, None)."""
_SIGNATURE = {"WWW-Authenticate": "Signature"}
_API_KEY = {"WWW-Authenticate": 'ApiKey header="x-api-key"'}


def authenticate(
    service: Service, headers: Mapping[str, str], scope: Mapping[str, Any], tier: str | None
) -> str:
    """The verified client id of a request for ``tier``, or 401 (counted by reason).

    ``headers`` maps lowercase names to the first value of each (as Starlette's do). A tier
    with ``auth = "api_key"`` takes the ``x-api-key`` header (:func:`api_key_client`);
    every other (and an unknown) tier an RFC 9421 signature, checked against every field
    line of ``scope`` (:func:`field_values`). The 401's ``detail`` starts with the reason
    label, as ``"replay: …"``.
    """
    client, _ = authenticate_deferred(service, headers, scope, tier, defer=False)
    return client


def authenticate_deferred(
    service: Service, headers: Mapping[str, str], scope: Mapping[str, Any], tier: str | None,
    *, defer: bool = True,
) -> tuple[str, Accepted | None]:  # fmt: skip
    """:func:`authenticate`, leaving the nonce to :func:`take` when the state is shared.

    Returns the client id and, when ``defer`` and the nonces and buckets are shared with other
    processes (shared memory or a database), the checked request whose nonce :func:`take`
    must record, under one lock or in one transaction with the client's tokens
    (:meth:`diamp.service.core.RateLimiter.admit_request`); else None (the nonce is recorded
    already, or the tier takes an API key).
    """
    if service.tier_auth.get(tier or service.default_tier) == "api_key":
        return api_key_client(service, headers), None
    scheme = scope.get("scheme", "http")
    host = headers.get("host", "")
    authority = normalize_authority(host, scheme)
    server = scope.get("server") or ("", None)
    public = tuple(service.settings.server.public_authorities)
    allowed = allowed_authorities(public, scheme, str(server[0]).lower(), server[1])
    if authority not in allowed:
        service.metrics.auth_failures.labels("authority").inc()
        raise HTTPException(
            401,
            f"authority: @authority {authority!r} is not one this server answers for "
            f"({', '.join(sorted(allowed))}); sign requests for this server",
            headers=_SIGNATURE,
        )
    parts = RequestParts(
        method=scope["method"],
        authority=authority,
        path=scope.get("raw_path", b"").decode("latin-1") or "/",
        query="?" + scope.get("query_string", b"").decode("latin-1"),
        scheme=scheme,
        host=host.strip(),
    )
    verifier = service.verifier
    try:
        accepted = verifier.check(field_values(scope.get("headers", ())), parts)
        if defer and verifier.shared is not None and service.limiter.shared is not None:
            return accepted.keyid, accepted
        verifier.remember(accepted)
    except AuthError as err:
        raise _refused(service, err) from err
    return accepted.keyid, None


def _refused(service: Service, err: AuthError) -> HTTPException:
    """The 401 for a refused signature, counted by its reason."""
    reason = str(err.fields.get("reason", "other"))
    service.metrics.auth_failures.labels(reason).inc()
    return HTTPException(401, f"{reason}: {err}", headers=_SIGNATURE)


def field_values(raw: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    """Lowercase field name → its lines, each trimmed, joined by ", " (RFC 9421 §2.1)."""
    found: dict[str, list[str]] = {}
    for name, value in raw:
        found.setdefault(name.decode("latin-1").lower(), []).append(
            value.decode("latin-1").strip(" \t")
        )
    return {name: ", ".join(values) for name, values in found.items()}


def api_key_client(service: Service, headers: Mapping[str, str]) -> str:
    """The client whose API key the ``x-api-key`` header holds, or 401 (counted by reason)."""
    try:
        return service.clients.api_client(headers.get("x-api-key", ""))
    except AuthError as err:
        reason = str(err.fields.get("reason", "other"))
        service.metrics.auth_failures.labels(reason).inc()
        raise HTTPException(401, f"{reason}: {err}", headers=_API_KEY) from err


@functools.lru_cache(maxsize=64)
def allowed_authorities(
    public: tuple[str, ...], scheme: str, host: str, port: int | None
) -> frozenset[str]:
    """The ``@authority`` values this server answers for (401 for any other).

    ``[server] public_authorities`` lists them (e.g. a reverse proxy's name); by default it
    is the address the request arrived at (``host``, ``port``; and ``localhost`` on a
    loopback address), so a request signed for another instance sharing the clients file
    is refused.
    """
    allowed = {normalize_authority(a, scheme) for a in public}
    if not allowed:
        names = {host, "localhost"} if host in ("127.0.0.1", "::1", "localhost") else {host}
        for name in names:
            shown = f"[{name}]" if ":" in name else name
            allowed.add(normalize_authority(shown if port is None else f"{shown}:{port}", scheme))
    return frozenset(allowed)


async def take(
    service: Service, client: str, nbytes: int, tier: str | None,
    limiter: RateLimiter | None = None, nonce: Accepted | None = None,
) -> Draw:  # fmt: skip
    """Check tier, size cap and rate limit, then draw (422, 413, 429 or 503 otherwise).

    The draw comes from the pool's memory on the event loop when it holds enough; otherwise
    (a reservation must be committed first) it is made in a worker thread. ``limiter``: the
    buckets ``client`` spends from (default: the signed clients', ``service.limiter``).
    ``nonce``: a checked request whose nonce is recorded with the rate limit, in one
    transaction (:func:`authenticate_deferred`; 401 ``replay`` if it was seen before). A
    request refused 422 or 413 records no nonce: its replay, which carries the same signed
    query, is refused the same way and gets nothing either.
    """
    if tier is not None and tier not in service.pipeline.tiers:
        raise HTTPException(
            422, f"unknown tier {tier!r}; tiers: {', '.join(service.pipeline.tiers)}"
        )
    cap = service.settings.server.max_request_bytes
    if nbytes > cap:
        raise HTTPException(413, f"at most {cap} bytes per request, asked for {nbytes}")
    try:
        wait, epoch = (limiter or service.limiter).admit_request(client, nbytes, nonce)
    except AuthError as err:  # the deferred nonce was a replay
        raise _refused(service, err) from err
    except PoolError as err:  # the shared rate-limit state failed: nothing was decided
        retry = {"Retry-After": "5"}
        raise HTTPException(503, f"service unavailable: {err}", headers=retry) from err
    if wait:
        service.metrics.rate_limited.inc()
        raise HTTPException(
            429, "rate limit exceeded", headers={"Retry-After": str(max(1, round(wait)))}
        )
    try:
        draw = service.draw_held(nbytes, tier, epoch)
        if draw is None:
            draw = await run_in_threadpool(service.draw, nbytes, tier)
    except (TierUnavailable, PoolEmpty) as err:
        raise HTTPException(503, str(err), headers={"Retry-After": "1"}) from err
    except PoolError as err:  # the pool database failed: nothing was served
        raise HTTPException(503, f"pool unavailable: {err}", headers={"Retry-After": "5"}) from err
    return draw


def draw_headers(draw: Draw) -> dict[str, str]:
    """Where a draw came from: tier, simulated (true/false/unknown), sources, certificates."""
    headers = {"X-Diamp-Tier": draw.tier, "Cache-Control": "no-store"}
    headers["X-Diamp-Simulated"] = SIMULATED_FLAG[draw.simulated]
    names = dict.fromkeys(e["source"] for e in draw.simulated_sources)
    if names:
        headers["X-Diamp-Simulated-Sources"] = ",".join(names)
    if draw.dira_certificates:
        headers["X-Diamp-Dira-Certificates"] = ",".join(draw.dira_certificates)
    return headers


_Origin = tuple[tuple[str, ...], tuple[str, ...], str]


@functools.lru_cache(maxsize=256)
def _raw_headers(tier: str, origins: tuple[_Origin, ...]) -> tuple[tuple[bytes, bytes], ...]:
    """:func:`draw_headers` as ASGI pairs, computed once per origin.

    They depend only on the tier and, per segment, its sources, certificates and provenance
    (draws from one chunk share them).
    """
    segments = tuple(Segment(0, 0, 1, 0.0, s, d, p) for s, d, p in origins)
    found = draw_headers(Draw(b"", tier, segments))
    return tuple((k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in found.items())


_VALUE = re.compile(rb"[A-Za-z0-9._-]{1,64}\Z")
_KEYS = (b"bytes", b"format", b"tier")
_FORMATS = {b"binary": "binary", b"hex": "hex", b"base64": "base64"}


def canonical_query(query: bytes) -> tuple[int, str, str | None] | None:
    """(bytes, format, tier) of a ``/v1/random`` query in its plain form, else None.

    Plain: ``bytes`` (1 … :data:`MAX_BYTES`, decimal, no leading zero), optional ``format``
    (binary, hex, base64) and ``tier`` (1–64 of ``A-Za-z0-9._-``), each once, in any order,
    and no other parameter. Exactly the values the FastAPI route accepts as they are.
    """
    found: dict[bytes, bytes] = {}
    for item in query.split(b"&"):
        key, eq, value = item.partition(b"=")
        if not eq or key in found or key not in _KEYS or _VALUE.match(value) is None:
            return None
        found[key] = value
    raw = found.get(b"bytes")
    if raw is None or not raw.isdigit() or raw.startswith(b"0") or len(raw) > 9:
        return None
    nbytes, fmt = int(raw), _FORMATS.get(found.get(b"format", b"binary"))
    if nbytes > MAX_BYTES or fmt is None:
        return None
    tier = found.get(b"tier")
    return nbytes, fmt, None if tier is None else tier.decode("ascii")


_WANTED = (b"host", b"x-api-key")
_BINARY = (b"content-type", b"application/octet-stream")
_TEXT = (b"content-type", b"text/plain; charset=utf-8")
_CLOSE = (b"connection", b"close")


def header_problem(headers: Iterable[tuple[bytes, bytes]]) -> tuple[int, str] | None:
    """Why a request's header block is refused, as (status, detail), or None.

    431 for a block over :data:`MAX_HEADER_BYTES`, 400 for more than one ``Host`` header
    (no single authority to bind a signature to).
    """
    size = hosts = 0
    for name, value in headers:
        size += len(name) + len(value) + 4
        hosts += len(name) == 4 and name.lower() == b"host"
    if size > MAX_HEADER_BYTES:
        return 431, f"request header block of {size} bytes exceeds {MAX_HEADER_BYTES}"
    if hosts > 1:
        return 400, f"{hosts} Host headers: a request names exactly one authority"
    return None


class RandomFastPath:
    """``GET /v1/random`` with a plain query, answered before FastAPI (see the module docs)."""

    def __init__(self, service: Service) -> None:
        self.service = service

    async def serve(self, scope: Any, receive: Any, send: Any) -> bool:
        """Answer a plain ``GET /v1/random`` (and count it in the request metrics).

        False, with nothing sent, for any other request and for a header block
        :func:`header_problem` refuses: the app's routes and middleware answer those.
        """
        if scope["type"] != "http" or scope["path"] != "/v1/random" or scope["method"] != "GET":
            return False
        query = canonical_query(scope.get("query_string", b""))
        if query is None or header_problem(scope["headers"]) is not None:
            return False
        status, start = 500, time.perf_counter()  # 500: an exception goes on to the server
        try:
            await self._serve(scope, send, *query)
            status = 200
        except HTTPException as err:
            status = err.status_code
            answer = JSONResponse({"detail": err.detail}, err.status_code, err.headers)
            await answer(scope, receive, send)
        finally:
            self.service.metrics.observe_request("/v1/random", status, time.perf_counter() - start)
        return True

    async def _serve(self, scope: Any, send: Any, nbytes: int, fmt: str, tier: str | None) -> None:
        headers: dict[str, str] = {}
        for name, value in scope["headers"]:
            name = name.lower()
            if name in _WANTED and name.decode() not in headers:  # the first, as Starlette's
                headers[name.decode()] = value.decode("latin-1")
        client, nonce = authenticate_deferred(self.service, headers, scope, tier)
        draw = await take(self.service, client, nbytes, tier, nonce=nonce)
        origins = tuple((s.sources, s.dira_certificates, s.provenance) for s in draw.segments)
        if fmt == "binary":
            body, kind = draw.data, _BINARY
        else:
            text = draw.data.hex() if fmt == "hex" else base64.b64encode(draw.data).decode()
            body, kind = text.encode(), _TEXT
        head = [*_raw_headers(draw.tier, origins), (b"content-length", b"%d" % len(body)), kind]
        balance = self.service.balance
        if balance is not None and balance.should_close():  # more connections than its share
            head.append(_CLOSE)
        await send({"type": "http.response.start", "status": 200, "headers": head})
        await send({"type": "http.response.body", "body": body})
