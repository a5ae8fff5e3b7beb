"""A NIST Randomness Beacon 2.0 publisher and verifier (NISTIR 8213).

- :mod:`~diamp.service.beacon.pulse`: the pulse model, NIST's JSON and the signed bytes;
- :mod:`~diamp.service.beacon.crypto`: RSA PKCS#1 v1.5 / SHA-512 keys, ``certificateId``;
- :mod:`~diamp.service.beacon.store`: SQLite store (persist before publish, never re-issue);
- :mod:`~diamp.service.beacon.engine`: one pulse per period, precommitment one pulse ahead;
- :mod:`~diamp.service.beacon.provenance`: the randomness source protocol and where DIRA
  run certificates go (the signed ``external`` block: ``external.value`` is the SHA-512 of
  the DIRA run certificate file when one run contributed; a value from a simulated or
  unknown-provenance source carries the simulated-source marker, ``SIMULATED_SOURCE_ID``);
- :mod:`~diamp.service.beacon.api`: the ``/beacon/2.0`` FastAPI router;
- :mod:`~diamp.service.beacon.verify` and :mod:`~diamp.service.beacon.client`: verification
  of pulses from files or a base URL.

The modules that need FastAPI or httpx import them lazily; importing this package is cheap.
"""

from __future__ import annotations

from diamp.service.beacon.api import beacon_router
from diamp.service.beacon.engine import BeaconEngine
from diamp.service.beacon.errors import (
    BeaconError,
    BeaconStoreError,
    PulseFormatError,
    PulseVerificationError,
)
from diamp.service.beacon.provenance import (
    DIRA_SOURCE_ID,
    SIMULATED_SOURCE_ID,
    Draw,
    ExternalValue,
    RandomSource,
    SimpleDraw,
    urandom_source,
)
from diamp.service.beacon.pulse import Pulse
from diamp.service.beacon.settings import BeaconSettings, build_engine, load_beacon_settings
from diamp.service.beacon.store import PulseStore

__all__ = [
    "DIRA_SOURCE_ID",
    "SIMULATED_SOURCE_ID",
    "BeaconEngine",
    "BeaconError",
    "BeaconSettings",
    "BeaconStoreError",
    "Draw",
    "ExternalValue",
    "Pulse",
    "PulseFormatError",
    "PulseStore",
    "PulseVerificationError",
    "RandomSource",
    "SimpleDraw",
    "beacon_router",
    "build_engine",
    "load_beacon_settings",
    "urandom_source",
]
