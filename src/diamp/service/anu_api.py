"""The ANU-compatible JSON routes: ``GET /API/jsonI.php`` and ``GET /v1/random/json``.

Both answer the ANU QRNG JSON API (:mod:`diamp.service.anu`: the query, the body, the
byte order) with an extra ``tier`` parameter, and refuse with the ANU shape
``{"success": false, "message": "…"}``: 422 for a bad parameter, 413 over the server's
caps, 401 for a request that may not draw from the tier, 429 over the rate limit (with
``Retry-After``), 503 when the tier cannot serve. Where the bytes came from is in the
headers, as for every draw (:func:`~diamp.service.fastpath.draw_headers`).

Who may draw is decided in one place, :func:`access`: a request that carries a signature
is verified as every signed request is (any tier, the signed clients' rate limits); an
unsigned one may draw only from a public tier (``[[tiers]] public = true``; without
``tier`` the first public one), rate-limited per client address
(:mod:`diamp.service.public`), and is 401 for any other tier.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Request  # noqa: TID253 - server-only module
from fastapi.responses import JSONResponse  # noqa: TID253 - server-only module
from pydantic import BaseModel

from diamp.service.anu import MAX_LENGTH, MAX_SIZE, TYPES, AnuRefusal, anu_body, anu_error
from diamp.service.anu import parse_anu_query as parse
from diamp.service.core import RateLimiter, Service
from diamp.service.fastpath import authenticate, draw_headers, take
from diamp.service.public import client_address, rate_key

__all__ = ["ANU_PATHS", "AnuData", "AnuError", "access", "anu_router"]

ANU_PATHS = ("/API/jsonI.php", "/v1/random/json")


class AnuData(BaseModel):
    """An ANU answer (``size`` only for the hex types)."""

    type: Literal["uint8", "uint16", "string", "hex8"]
    length: int
    size: int | None = None
    data: list[int] | list[str]
    success: Literal[True]


class AnuError(BaseModel):
    """An ANU refusal."""

    success: Literal[False]
    message: str


def _param(name: str, schema: dict[str, Any], text: str, required: bool = False) -> Any:
    return {"name": name, "in": "query", "required": required, "schema": schema,
            "description": text}  # fmt: skip


_PARAMETERS = [
    _param("length", {"type": "integer", "minimum": 1, "maximum": MAX_LENGTH},
           "Number of elements (at most [server] max_json_length, default 1024)", True),
    _param("type", {"type": "string", "enum": list(TYPES), "default": "uint8"},
           "uint8: 0-255; uint16: big-endian pairs of bytes; hex16/hex8: hex strings"),
    _param("size", {"type": "integer", "minimum": 1, "maximum": MAX_SIZE, "default": 1},
           "Bytes per hex string (hex16, hex8)"),
    _param("tier", {"type": "string", "pattern": "^[A-Za-z0-9._-]{1,64}$"},
           "Output tier (default: the first; unsigned requests: the first public tier)"),
]  # fmt: skip
_REFUSALS: dict[int | str, dict[str, Any]] = {
    code: {"model": AnuError, "description": text}
    for code, text in (
        (401, "Unsigned request for a tier that is not public, or a bad signature"),
        (413, "length over the server's cap, or more bytes than max_request_bytes"),
        (422, "A missing, repeated, unknown or out-of-range parameter"),
        (429, "Rate limit exceeded (Retry-After)"),
        (503, "The tier cannot serve now (Retry-After)"),
    )
}
_SIGNATURE = {"WWW-Authenticate": "Signature"}


def access(service: Service, request: Request, tier: str | None) -> tuple[str, str | None, bool]:
    """Who draws, from which tier, and whether unsigned: ``(client, tier, public)``.

    Raises
    ------
    HTTPException
        401 for a bad signature, or for an unsigned request to a tier that is not public
        (every tier, when none is public); 422 for an unsigned request naming an unknown
        tier.
    """
    headers, public = request.headers, service.public_tiers
    if not public or any(h in headers for h in ("signature-input", "signature", "x-api-key")):
        return authenticate(service, headers, request.scope, tier), tier, False
    name = tier or public[0]
    if name not in public:
        if name not in service.pipeline.tiers:
            raise HTTPException(422, f"unknown tier {name!r}; public tiers: {', '.join(public)}")
        service.metrics.auth_failures.labels("missing_signature").inc()
        raise HTTPException(
            401, f"tier {name!r} is not public: sign the request (RFC 9421)", headers=_SIGNATURE
        )
    trusted = service.trusted_proxies
    forwarded = [
        v.decode("latin-1") for k, v in request.scope["headers"] if k.lower() == b"x-forwarded-for"
    ] if trusted else []  # fmt: skip
    peer = request.scope.get("client")
    return rate_key(client_address(peer[0] if peer else None, forwarded, trusted)), name, True


def _refuse(status: int, message: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse(anu_error(message), status, headers)


async def answer(request: Request) -> JSONResponse:
    """One ANU request (see the module docs)."""
    service: Service = request.app.state.service
    public = False
    try:
        cap = service.settings.server.max_json_length
        query = parse(request.scope.get("query_string", b""), cap)
        client, tier, public = access(service, request, query.tier)
        limiter: RateLimiter | None = service.public_limiter if public else None
        draw = await take(service, client, query.nbytes, tier, limiter)
    except AnuRefusal as err:
        return _refuse(err.status, err.message)
    except HTTPException as err:
        if public:
            result = "rate_limited" if err.status_code == 429 else "refused"
            service.metrics.public_requests.labels(str(tier), result).inc()
        return _refuse(err.status_code, str(err.detail), err.headers)
    if public:
        service.metrics.public_requests.labels(draw.tier, "served").inc()
        service.metrics.public_bytes.labels(draw.tier).inc(len(draw.data))
    return JSONResponse(anu_body(query, draw.data), headers=draw_headers(draw))


def anu_router() -> APIRouter:
    """Both ANU routes, documented with their parameters and answers."""
    router = APIRouter(tags=["random"])
    for path, name in zip(ANU_PATHS, ("anu_legacy", "random_json"), strict=True):
        router.add_api_route(
            path, answer, methods=["GET"], name=name, operation_id=name,
            summary="ANU QRNG-compatible JSON (signed, or unsigned for a public tier)",
            response_model=None, response_class=JSONResponse,
            responses={200: {"model": AnuData, "description": "The numbers"}, **_REFUSALS},
            openapi_extra={"parameters": _PARAMETERS},
        )  # fmt: skip
    return router
