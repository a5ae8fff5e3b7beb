"""The beacon's HTTP interface, shaped like NIST's Beacon 2.0 REST API.

``beacon_router(engine)`` returns a FastAPI ``APIRouter`` to mount in the service app:

=============================================  ==============================================
``GET /beacon/2.0/pulse/last``                 newest published pulse (newest chain)
``GET /beacon/2.0/chain/last/pulse/last``      the same
``GET /beacon/2.0/chain/{c}/pulse/last``       newest pulse of chain ``c``
``GET /beacon/2.0/chain/{c}/pulse/{p}``        pulse ``p`` of chain ``c``
``GET /beacon/2.0/pulse/time/{ms}``            the pulse at time ``ms`` (ms since the epoch),
                                               or else the first one after it
``GET /beacon/2.0/pulse/time/previous/{ms}``   the last pulse strictly before ``ms``
``GET /beacon/2.0/pulse/time/next/{ms}``       the first pulse strictly after ``ms``
``GET /beacon/2.0/certificate/{id}``           the PEM certificate whose SHA-512 (DER) is ``id``
=============================================  ==============================================

Pulses are served as ``{"pulse": {...}}``, byte for byte as stored; missing pulses and
certificates answer 404. Only published pulses are visible. FastAPI is imported inside the
function so that importing this module stays cheap.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from diamp.service.beacon.engine import BeaconEngine
from diamp.service.beacon.store import PulseStore

if TYPE_CHECKING:
    from fastapi import APIRouter

__all__ = ["beacon_router"]

PEM_TYPE = "application/x-pem-file"
SQLITE_MAX = 2**63 - 1
"""SQLite integers are signed 64-bit: larger indices or times are 422, never an overflow."""


def beacon_router(
    engine: BeaconEngine | PulseStore, certificates: Mapping[str, bytes] | None = None
) -> APIRouter:
    """The ``/beacon/2.0`` routes over the engine's store.

    ``certificates`` adds PEM certificates by ``certificateId`` (lower-case hex) besides those
    the store keeps for every chain it signed.
    """
    from fastapi import APIRouter, HTTPException
    from fastapi import Path as P
    from fastapi.responses import Response

    store = engine.store if isinstance(engine, BeaconEngine) else engine
    extra = {k.lower(): v for k, v in (certificates or {}).items()}
    router = APIRouter(prefix="/beacon/2.0", tags=["beacon"])

    def pulse_response(text: str | None, what: str) -> Response:
        if text is None:
            raise HTTPException(status_code=404, detail=f"no pulse {what}")
        return Response(content=text, media_type="application/json")

    @router.get("/pulse/last", response_model=None)
    def last() -> Response:
        return pulse_response(store.last_json(), "published yet")

    @router.get("/chain/last/pulse/last", response_model=None)
    def chain_last() -> Response:
        return pulse_response(store.last_json(), "published yet")

    @router.get("/chain/{chain}/pulse/last", response_model=None)
    def last_of_chain(chain: int = P(ge=0, le=SQLITE_MAX)) -> Response:
        return pulse_response(store.last_json(chain), f"in chain {chain}")

    @router.get("/chain/{chain}/pulse/{pulse}", response_model=None)
    def by_index(
        chain: int = P(ge=0, le=SQLITE_MAX), pulse: int = P(ge=0, le=SQLITE_MAX)
    ) -> Response:
        return pulse_response(store.pulse_json(chain, pulse), f"{pulse} in chain {chain}")

    @router.get("/pulse/time/previous/{ms}", response_model=None)
    def previous(ms: int = P(ge=0, le=SQLITE_MAX)) -> Response:
        return pulse_response(store.by_time(ms, "previous"), f"before {ms}")

    @router.get("/pulse/time/next/{ms}", response_model=None)
    def following(ms: int = P(ge=0, le=SQLITE_MAX)) -> Response:
        return pulse_response(store.by_time(ms, "next"), f"after {ms}")

    @router.get("/pulse/time/{ms}", response_model=None)
    def at(ms: int = P(ge=0, le=SQLITE_MAX)) -> Response:
        return pulse_response(store.by_time(ms, "at"), f"at or after {ms}")

    @router.get("/certificate/{certificate_id}", response_model=None)
    def certificate(certificate_id: str = P(max_length=256)) -> Response:
        pem = store.certificate(certificate_id.lower()) or extra.get(certificate_id.lower())
        if pem is None:
            raise HTTPException(status_code=404, detail=f"no certificate {certificate_id}")
        return Response(content=pem, media_type=PEM_TYPE)

    return router
