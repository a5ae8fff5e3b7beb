"""Beacon settings (the ``[beacon]`` table of a service config) and building the engine.

A stand-alone beacon config is a TOML file with ``schema_version = 1`` and a ``[beacon]``
table; :func:`load_beacon_settings` reads it. Relative paths are resolved against the config
file's directory.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from diamp.errors import ConfigError
from diamp.service.beacon.anchor import BeaconAnchor, check_store_file
from diamp.service.beacon.crypto import generate_keypair, load_signer
from diamp.service.beacon.engine import BeaconEngine
from diamp.service.beacon.provenance import ExternalValue, RandomSource
from diamp.service.beacon.pulse import Pulse
from diamp.service.beacon.store import PulseStore
from diamp.tomlconfig import ConfigPath, HttpUri, read_text, refuse_renamed, validate_toml

__all__ = ["BeaconSettings", "build_engine", "load_beacon_settings", "served_uri"]

EVERY_ADDRESS = ("0.0.0.0", "::", "[::]", "")
"""Hosts that listen on every address: no one URL to put in a pulse."""


class BeaconSettings(BaseModel):
    """How the beacon runs: period, keys, state and where its randomness comes from."""

    # strict: no string-to-number or bool-to-int coercion; no inf or NaN
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)

    enabled: bool = True
    """Publish pulses (`false`: the table is kept but the beacon does not run)."""
    period_s: float = Field(60.0, description="Pulse period in seconds (whole milliseconds).")
    key_file: ConfigPath = Path("beacon/beacon-key.pem")
    """RSA signing key (PEM); its anchor `KEY.anchor` lies beside it."""
    certificate_file: ConfigPath = Path("beacon/beacon-cert.pem")
    """Self-signed certificate of the key (its SHA-512 is each pulse's certificateId)."""
    state_db: ConfigPath = Path("beacon/pulses.sqlite")
    """SQLite database of the pulses (persisted before they are published)."""
    tier: str = Field(
        "dira", min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$",
        description="Service pool tier the localRandomValue comes from.",
    )  # fmt: skip
    reserve_pulses: int = Field(64, ge=0, le=1 << 20)
    """Pulses whose draws are set aside from `tier` ahead of time, out of the API clients'
    reach, so that a pulse is not missed while clients empty the pool (0: draw at each
    pulse)."""
    public_base_uri: HttpUri | None = None
    """Public URL of the service in the signed pulse `uri`s (behind a proxy, or a name instead
    of an address); unset: the address the service listens on, after binding (a port-0 or
    `--port` listener included). Required when listening on every address (`0.0.0.0`, `::`)."""
    generate_key: bool = Field(False, description="Create a throw-away key if none exists.")
    key_bits: int = Field(4096, ge=2048, le=16384)
    """RSA key size when `generate_key` creates one."""
    external_file: ConfigPath | None = Field(
        None, description="If set, SHA-512 of this file's bytes is each pulse's external value."
    )

    @model_validator(mode="before")
    @classmethod
    def _renamed(cls, data: Any) -> Any:
        return refuse_renamed(data, {
            "base_uri": "is now public_base_uri; leave it out and pulses name the address the "
                        "service listens on",
        })  # fmt: skip

    @field_validator("period_s")
    @classmethod
    def _whole_ms(cls, value: float) -> float:
        ms = round(value * 1000)
        if ms < 10 or abs(ms - value * 1000) > 1e-6 or ms >= 2**32:
            raise ValueError(f"expected whole milliseconds from 0.01 s, found {value}")
        return value

    @property
    def period_ms(self) -> int:
        """The period in milliseconds (the ``period`` field of every pulse)."""
        return round(self.period_s * 1000)

    def resolved(self, base: Path) -> BeaconSettings:
        """A copy with relative file paths taken relative to ``base``."""
        paths = {
            name: base / getattr(self, name)
            for name in ("key_file", "certificate_file", "state_db", "external_file")
            if getattr(self, name) is not None and not getattr(self, name).is_absolute()
        }
        return self.model_copy(update=paths)


class _BeaconFile(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    schema_version: int
    beacon: BeaconSettings


def load_beacon_settings(path: Path) -> BeaconSettings:
    """Read a stand-alone beacon config (``schema_version = 1``, ``[beacon]``)."""
    text, where = read_text(path, ConfigError, "beacon config")
    loaded = validate_toml(text, where, _BeaconFile, ConfigError)
    return loaded.beacon.resolved(path.parent)


def _file_external(path: Path) -> Callable[[], ExternalValue]:
    source_id = hashlib.sha512(f"diamp:external-file:{path.name}".encode()).digest()

    def read() -> ExternalValue:
        try:
            data = path.read_bytes()
        except OSError as err:
            raise ConfigError(f"{path}: cannot read external value file: {err}") from err
        return ExternalValue(source_id, 0, hashlib.sha512(data).digest())

    return read


def served_uri(host: str, port: int, *, tls: bool = False) -> str:
    """The base URL of a service listening on ``host``:``port`` (after binding: a real port).

    Raises
    ------
    ConfigError
        For a listener on every address (no one address to name: set
        ``[beacon] public_base_uri``) or port 0 (not bound yet).
    """
    if host in EVERY_ADDRESS:
        raise ConfigError(
            f"beacon.public_base_uri: required when listening on every address ({host!r}): "
            "pulses name the one URL they are served at"
        )
    if not 0 < port < 65536:
        raise ConfigError(f"beacon: the service's port is {port}, not a bound port")
    name = f"[{host.replace('%', '%25')}]" if ":" in host else host
    return f"{'https' if tls else 'http'}://{name}:{port}"


def build_engine(
    settings: BeaconSettings,
    source: RandomSource,
    *,
    served_at: str | None,
    clock: Callable[[], float] = time.time,
    after_persist: Callable[[Pulse], None] | None = None,
    new_chain: bool = False,
    store: PulseStore | None = None,
) -> BeaconEngine:
    """The engine for ``settings``: keys (generated first if allowed), store, signer, anchor.

    Pulse ``uri``s start with ``settings.public_base_uri``, else with ``served_at`` (the
    address the beacon is served at, :func:`served_uri`); a different base starts a new
    chain, and pulses already signed keep theirs.

    The anchor ``KEY.anchor`` beside the key file is checked against the store
    (:mod:`diamp.service.beacon.anchor`); ``new_chain`` starts a chain above every anchored
    index (``diamp serve --new-chain``). ``store``: the pulse store to use (a PostgreSQL one
    several hosts share) instead of the SQLite file ``state_db``.
    """
    base_uri = settings.public_base_uri or served_at
    if base_uri is None:
        raise ConfigError("beacon.public_base_uri: not set, and the served address is unknown")
    key, cert = settings.key_file, settings.certificate_file
    if settings.generate_key and not key.exists() and not cert.exists():
        if key.parent != cert.parent:
            raise ConfigError("beacon.generate_key needs key_file and certificate_file in one dir")
        made_key, made_cert = generate_keypair(key.parent, bits=settings.key_bits)
        made_key.rename(key)
        made_cert.rename(cert)
    external = None if settings.external_file is None else _file_external(settings.external_file)
    if store is None:
        check_store_file(settings.state_db, key, new_chain=new_chain)
        store = PulseStore(settings.state_db)
    return BeaconEngine(
        store,
        load_signer(key, cert),
        source,
        period_ms=settings.period_ms,
        base_uri=base_uri,
        external=external,
        clock=clock,
        after_persist=after_persist,
        anchor=BeaconAnchor(key),
        new_chain=new_chain,
    )
