"""Service configuration (``diamp serve CONFIG``): a versioned TOML file, typed by pydantic.

Unknown keys, wrong types and out-of-range values are errors naming the file and the dotted
key. Typing is strict: no string-to-number or boolean-to-number coercion (``port = "8443"`` and
``port = true`` are errors), no infinities or NaN anywhere; only paths are given as strings
and lists as arrays. Relative paths are taken relative to the config file's folder.
Sections::

    schema_version = 1
    [server]     host, port, TLS files, client key file, request caps, rate limits
    [pool]       SQLite path or PostgreSQL url, freshness limit, fill target, reservation
    [extractor]  Toeplitz block size, epsilon, seed (generated, a file, or a DIRA key)
    [health]     alpha of the SP 800-90B health tests
    [checks]     period and sizes of the SP 800-90B / SP 800-22 checks, assessment floor
    [[sources]]  kind = "simulated" | "serial" | "file" | "dira", each with an entropy model
    [[tiers]]    name, the sources XOR-ed into it (seed 000 eq. 1), public (no signature)
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    Field,
    StrictBool,
    ValidationError,
    model_validator,
)

from diamp.service.beacon.settings import BeaconSettings
from diamp.service.errors import ServiceConfigError
from diamp.service.public import parse_networks
from diamp.service.source_settings import (
    DeclaredEntropy,
    DiraSource,
    FileSource,
    Name,
    SerialSource,
    SimulatedSource,
    SourceSettings,
    VacuumEntropyModel,
    _Section,
)
from diamp.tomlconfig import ConfigPath, Seconds, read_text, refuse_renamed, validate_toml

__all__ = [
    "SCHEMA_VERSION",
    "DeclaredEntropy",
    "DiraSource",
    "FileSource",
    "SerialSource",
    "ServiceSettings",
    "SimulatedSource",
    "SourceSettings",
    "TierSettings",
    "VacuumEntropyModel",
    "load_settings",
    "parse_settings",
]

SCHEMA_VERSION = 1


class ServerSettings(_Section):
    """``[server]``: listening address, TLS, clients, per-request caps and rate limits."""

    host: str = Field(default="127.0.0.1", min_length=1, max_length=253,
                      pattern=r"^[A-Za-z0-9._:%-]+$")  # fmt: skip
    """Address to listen on (`diamp serve --host` overrides it)."""
    port: int = Field(default=8443, ge=0, le=65535)
    """TCP port to listen on, 0 for any free port (`--port` overrides it)."""
    tls_cert: ConfigPath | None = None
    """PEM certificate for HTTPS; given together with `tls_key`, checked before the server
    starts."""
    tls_key: ConfigPath | None = None
    """Unencrypted PEM private key of `tls_cert` (the server cannot prompt for a passphrase)."""
    clients: ConfigPath | None = None
    """Clients file (TOML: client id → 256-bit key, written by `diamp keys new`); must not be
    readable by group or others."""
    max_request_bytes: int = Field(default=1 << 20, ge=1, le=1 << 26)
    """Largest `bytes` one request may draw; more is 413."""
    max_json_length: int = Field(default=1024, ge=1, le=1 << 16)
    """Largest `length` of one ANU-compatible `/v1/random/json` request; more is 413."""
    rate_requests_per_second: float = Field(default=200.0, gt=0, le=1e9)
    """Per-client request rate (token bucket); over it is 429."""
    rate_burst_requests: int = Field(default=400, ge=1, le=1 << 30)
    """Per-client burst of requests above the rate."""
    rate_bytes_per_second: float = Field(default=64.0 * (1 << 20), gt=0, le=2.0**53)
    """Per-client rate of served bytes; over it is 429."""
    rate_burst_bytes: int = Field(default=128 << 20, ge=1, le=1 << 53)
    """Per-client burst of bytes above the rate."""
    replay_window_seconds: int = Field(default=300, ge=1, le=300)
    """A signed request's `created` must be at most this old (and not before the server started)."""
    clock_skew_seconds: int = Field(default=5, ge=0, le=60)
    """How far in the future a request's `created` may lie (clock differences)."""
    nonce_cache_size: int = Field(default=1_000_000, ge=1000, le=1 << 30)
    """Nonces remembered within the replay window; each nonce is accepted once."""
    public_authorities: Annotated[  # a TOML array (a list) becomes the tuple
        tuple[Annotated[str, Field(min_length=1, max_length=255, pattern=r"^[^\s/?#@]+$")], ...],
        Field(strict=False),
    ] = ()
    """``host[:port]`` names the signed ``@authority`` may take; empty: the address served."""
    trusted_proxies: Annotated[
        tuple[Annotated[str, Field(min_length=1, max_length=64)], ...], Field(strict=False)
    ] = ()
    """Addresses or CIDR networks of reverse proxies whose `X-Forwarded-For` names the client
    of a public tier; empty: the header is never read (the TCP peer is the client)."""
    public_rate_requests_per_second: float = Field(default=5.0, gt=0, le=1e9)
    """Per-address request rate of unsigned requests to public tiers (token bucket)."""
    public_rate_burst_requests: int = Field(default=20, ge=1, le=1 << 30)
    """Per-address burst of requests above the public rate."""
    public_rate_bytes_per_second: float = Field(default=64.0 * 1024, gt=0, le=2.0**53)
    """Per-address rate of bytes served to unsigned requests."""
    public_rate_burst_bytes: int = Field(default=1 << 20, ge=1, le=1 << 53)
    """Per-address burst of bytes (1 MiB: one ANU request of 1024 strings of 1024 bytes)."""
    allow_plain_api_keys: StrictBool = False
    """Serve `auth = "api_key"` tiers without TLS (local use only: `host` must be a loopback
    address, e.g. behind a TLS-terminating proxy on the same host)."""
    signature_tag: str | None = Field(
        default=None, min_length=1, max_length=128, pattern=r"^[\x20-\x7e]+$"
    )
    """If set, only RFC 9421 signatures with this ``tag`` parameter are accepted (else 401
    ``bad_tag``); unset, any tag or none."""

    @model_validator(mode="after")
    def _tls_pair(self) -> ServerSettings:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("tls_cert and tls_key must be given together")
        parse_networks(self.trusted_proxies)  # a ValueError naming the bad entry
        if self.allow_plain_api_keys and self.host not in _LOOPBACK:
            raise ValueError(
                f"allow_plain_api_keys is for local use: host must be a loopback address "
                f"({', '.join(sorted(_LOOPBACK))}), found {self.host!r}"
            )
        return self


_LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})


class PoolSettings(_Section):
    """``[pool]``: where extracted bytes wait, for how long, and how many to keep ready.

    ``path`` is the SQLite file (the default). ``url = "postgresql://…"`` keeps the pool, the
    nonce cache and the rate limits in PostgreSQL instead, so several hosts serve one pool;
    the pool's anchor file is then ``anchor`` (default ``service-pool.anchor``), one per host.
    ``fill = false`` serves from the pool without running the sources (a second host).
    ``shared = true``: other ``diamp serve`` processes on this host use the same SQLite pool,
    so nonces and rate limits are kept beside it for all of them (always so with ``url``).
    """

    path: ConfigPath = Path("service-pool.sqlite")
    """SQLite database of the pool (its anchor `POOL.anchor` lies beside it)."""
    url: str | None = Field(default=None, min_length=14, max_length=4096,
                            pattern=r"^postgres(ql)?://[^\s]+$")  # fmt: skip
    """PostgreSQL URL (`postgresql://…`) of a pool several hosts share, instead of `path`."""
    anchor: ConfigPath | None = None
    """With `url`: this host's anchor file (default `service-pool.anchor`)."""
    freshness_seconds: Seconds = 86400.0
    """Bytes older than this are dropped, never served."""
    target_bytes: int = Field(default=4 << 20, ge=1024, le=1 << 40)
    """Bytes to keep ready per tier."""
    reserve_bytes: int = Field(default=1 << 16, ge=1, le=1 << 26)
    """Reservation quantum: committed to the database before any byte of it is served (a kill
    loses at most this much)."""
    fill: bool = True
    """Run the sources and fill the pool (`false`: serve only what is already in it)."""
    shared: bool = False
    """Other `diamp serve` processes on this host use the same SQLite pool (nonces and rate
    limits beside it)."""

    @model_validator(mode="after")
    def _one_place(self) -> PoolSettings:
        if self.url is not None and "path" in self.model_fields_set:
            raise ValueError("path names the SQLite file; with url, name the anchor file")
        if self.url is None and self.anchor is not None:
            raise ValueError("anchor applies with url only (SQLite keeps it beside path)")
        return self


class SeedSettings(_Section):
    """``[extractor.seed]``: where the Toeplitz seed comes from.

    ``generate``: 2^21 bits from ``os.urandom`` at the first start, kept in the pool database;
    ``file``: a file of bits packed MSB-first; ``dira``: the key of a DIRA run (its
    certificate must say ``status = "ok"``). The seed is never served.

    A ``dira`` seed whose run is simulated or of unknown provenance is refused unless
    ``allow_simulated = true`` (then ``/v1/status`` shows it as admitted that way).
    """

    kind: Literal["generate", "file", "dira"] = "generate"
    """`"generate"` (2^21 bits from the operating system, kept in the pool), `"file"` or
    `"dira"`."""
    path: ConfigPath | None = None
    """The seed file (packed MSB-first) or the DIRA run folder; none with `generate`."""
    allow_simulated: StrictBool = False
    """Admit a DIRA key whose run is simulated or of unknown provenance (then shown as such)."""

    @model_validator(mode="after")
    def _path(self) -> SeedSettings:
        if (self.kind == "generate") != (self.path is None):
            what = "takes no" if self.kind == "generate" else "needs a"
            raise ValueError(f"seed kind {self.kind!r} {what} path")
        if self.allow_simulated and self.kind != "dira":
            raise ValueError(f"allow_simulated applies to seed kind 'dira' only, not {self.kind!r}")
        return self


class ExtractorSettings(_Section):
    """``[extractor]``: Toeplitz hashing per raw block (leftover hash lemma at ``eps``).

    After hashing a block, ``check_bits`` output bits at random positions are recomputed
    from the definition (O(block_bits) each); a mismatch quarantines the source and the
    block is never served. ``workers`` threads hash the blocks of all sources (default:
    one per core this process may run on). ``engine`` picks the Toeplitz engine.
    """

    block_bits: int = Field(default=1 << 20, ge=1024, le=1 << 24)
    """Raw bits hashed per Toeplitz block."""
    engine: Literal["auto", "gf2", "fft"] = "auto"
    """Toeplitz engine: ``gf2`` (exact table look-up, fastest on small blocks), ``fft``
    (floating point with a round-off bound, for large blocks), or ``auto``: ``gf2`` for blocks
    of at most 2^17 raw bits, ``fft`` above (the measured crossover, docs/service.md)."""
    eps: float = Field(default=2.0**-64, gt=0, lt=1)
    """Leftover-hash-lemma error per block; the output length follows from it and the in-force
    entropy."""
    check_bits: int = Field(default=16, ge=1, le=1 << 24)
    """Output bits of every block recomputed from the definition; a mismatch quarantines the
    source."""
    workers: int | None = Field(default=None, ge=1, le=1024)
    """Threads that hash the blocks of all sources (none: one per core this process may run
    on)."""
    seed: SeedSettings = SeedSettings()
    """Where the Toeplitz seed comes from."""


class HealthSettings(_Section):
    """``[health]``: SP 800-90B health tests: false-alarm rate, and re-admission.

    ``alpha`` is a false-alarm probability per opportunity: per sample for the repetition
    count test, per window for the adaptive proportion test. SP 800-90B §4.4 allows
    2^-40 ≤ alpha ≤ 2^-20. At 2^-20 a source at exactly its declared entropy fails about
    once per 10⁶ samples, several times a second at QRNG rates (seed 000: 2–50 Msample/s);
    the default 2^-40 (cutoffs higher by a factor of about 2) fails at most once per
    1.1 × 10¹² samples, at 50 Msample/s once per 6 h at worst and far less often for a
    source above its declared entropy. ``readmit_seconds`` (default: never) lets a
    quarantined source back in with fresh test state after that long (its discarded output
    stays discarded; its output is held again until it is re-assessed).
    """

    alpha: float = Field(default=2.0**-40, ge=2.0**-40, le=2.0**-20)
    """False-alarm probability of the SP 800-90B health tests per sample (repetition count) or
    window (adaptive proportion)."""
    readmit_seconds: Seconds | None = None
    """Let a quarantined source back in after this long (none: quarantine lasts until restart)."""


class ChecksSettings(_Section):
    """``[checks]``: periodic SP 800-90B on raw samples and SP 800-22 on extracted output.

    The SP 800-90B non-IID assessment of a source's recent raw samples sets its *in-force*
    min-entropy, min(declared, assessed) (SP 800-90B §3.1.5: the smaller of claim and
    estimate; spec §11d), from which every later block's output length is computed. A raw
    source's output is held back (diverted to the check sample, never served) until its
    first assessment exists. A source whose assessment falls below
    ``min_assessed_fraction`` × its declared value is quarantined: its claim is not credible.
    The default 0.6 sits below what the non-IID estimators give healthy sources at 10⁵
    samples (they underestimate: 0.70 of the declared value or more for the shipped ones).
    A source fails its SP 800-22 check when more than ``sp800_22_max_flagged`` rows of the
    final-analysis report fall below the proportion range. Checked output is never served.
    """

    enabled: bool = True
    """Run the periodic SP 800-90B and SP 800-22 checks."""
    period_seconds: Seconds = 3600.0
    """Time between two checks."""
    sp800_90b_samples: int = Field(default=100_000, ge=1000, le=1 << 30)
    """Recent raw samples per source fed to the SP 800-90B non-IID assessment."""
    min_assessed_fraction: float = Field(default=0.6, gt=0, le=1)
    """Quarantine a source assessed below this fraction of its declared min-entropy."""
    sp800_22_sequences: int = Field(default=10, ge=1, le=1 << 20)
    """Sequences of the SP 800-22 check on diverted (never served) output."""
    sp800_22_length: int = Field(default=100_000, ge=1000, le=1 << 30)
    """Bits per SP 800-22 sequence."""
    sp800_22_max_flagged: int = Field(default=3, ge=0, le=1 << 20)
    """Rows of the final-analysis report allowed below the proportion range before the source
    fails."""

    @model_validator(mode="before")
    @classmethod
    def _renamed(cls, data: Any) -> Any:
        return refuse_renamed(data, {
            "sp800_90b_fraction": "was renamed min_assessed_fraction (the assessment also caps "
                                  "the output length now: min(declared, assessed))",
        })  # fmt: skip


class TierSettings(_Section):
    """``[[tiers]]``: a named output, the XOR of all its sources (none may be missing)."""

    name: Name
    """Name of the tier (`?tier=`); the first tier is the default."""
    sources: list[Name] = Field(min_length=1)
    """The sources XOR-ed into this tier, in equal pieces (a source byte goes to one tier)."""
    chunk_bytes: int = Field(default=1 << 16, ge=64, le=1 << 24)
    """Bytes per pool chunk of this tier."""
    public: StrictBool = False
    """Serve this tier without a signature at the ANU JSON routes (`/API/jsonI.php`,
    `/v1/random/json`), rate-limited per client address (`[server] public_rate_*`)."""
    auth: Literal["signature", "api_key"] = "signature"
    """How requests for this tier authenticate: `"signature"` (RFC 9421, the default) or
    `"api_key"` (an `x-api-key` header; needs TLS, see `allow_plain_api_keys`)."""


class ServiceSettings(_Section):
    """The whole service config."""

    schema_version: Literal[1]
    """Version of the config format; only 1 exists."""
    server: ServerSettings = ServerSettings()
    """Listening address, TLS, clients and per-request limits."""
    pool: PoolSettings = PoolSettings()
    """Where extracted bytes wait before they are served."""
    extractor: ExtractorSettings = ExtractorSettings()
    """Toeplitz hashing of raw blocks."""
    health: HealthSettings = HealthSettings()
    """SP 800-90B health tests on every raw sample."""
    checks: ChecksSettings = ChecksSettings()
    """Periodic entropy assessment and statistical checks."""
    sources: list[SourceSettings] = Field(default_factory=list)
    """The randomness sources."""
    tiers: list[TierSettings] = Field(min_length=1)
    """Named outputs, each the XOR of its sources."""
    beacon: BeaconSettings | None = None  # NIST Beacon 2.0 pulses from one tier (issue 8)
    """Publish NIST Beacon 2.0 pulses from one tier (none: no beacon)."""
    base_dir: Path = Path(".")  # set by parse_settings, never read from the file

    @model_validator(mode="before")
    @classmethod
    def _no_base_dir(cls, data: Any) -> Any:
        if isinstance(data, dict) and "base_dir" in data:
            raise ValueError("base_dir: unknown key (paths are relative to the config's folder)")
        return data

    @model_validator(mode="after")
    def _references(self) -> ServiceSettings:
        names = [s.name for s in self.sources]
        if len(set(names)) != len(names):
            raise ValueError(f"source names must be unique, found {names}")
        tiers = [t.name for t in self.tiers]
        if len(set(tiers)) != len(tiers):
            raise ValueError(f"tier names must be unique, found {tiers}")
        for tier in self.tiers:
            unknown = sorted(set(tier.sources) - set(names))
            if unknown:
                raise ValueError(f"tier {tier.name!r} names unknown sources {unknown}")
            if len(set(tier.sources)) != len(tier.sources):
                raise ValueError(f"tier {tier.name!r} lists a source twice")
        _api_keys_need_tls(self)
        if self.beacon is not None and self.beacon.tier not in tiers:
            raise ValueError(f"beacon.tier {self.beacon.tier!r} is not a tier; tiers are {tiers}")
        seed = self.extractor.seed
        for s in self.sources:
            if isinstance(s, DiraSource) and seed.kind == "dira" and seed.path == s.run:
                raise ValueError(
                    f"source {s.name!r}: the extractor seed's DIRA key cannot also be a source"
                )
        return self

    def resolve(self, path: Path) -> Path:
        """``path`` relative to the config file's folder (absolute paths unchanged)."""
        return path if path.is_absolute() else self.base_dir / path

    def with_server(self, **options: Any) -> ServiceSettings:
        """A copy with command-line overrides of ``[server]`` (None: keep), validated.

        Raises
        ------
        ServiceConfigError
            Naming the option (``--port``) when a value is out of range.
        """
        given = {k: v for k, v in options.items() if v is not None}
        try:
            server = ServerSettings.model_validate({**self.server.model_dump(), **given})
        except ValidationError as err:
            item = err.errors()[0]
            name = str(item["loc"][0]) if item["loc"] else next(iter(given), "server")
            raise ServiceConfigError(
                f"--{name.replace('_', '-')}: {item['msg'].removeprefix('Value error, ')}",
                key=f"server.{name}",
            ) from err
        return self.model_copy(update={"server": server})

    def tls_files(self) -> tuple[str, str] | None:
        """The resolved ``(tls_cert, tls_key)``, loaded once to check them, or None (no TLS).

        Raises
        ------
        ServiceConfigError
            Naming the key and the file when one is missing, unreadable or not a PEM
            certificate and matching private key.
        """
        server = self.server
        if server.tls_cert is None or server.tls_key is None:
            return None
        cert, key = self.resolve(server.tls_cert), self.resolve(server.tls_key)
        for name, path in (("server.tls_cert", cert), ("server.tls_key", key)):
            try:
                with path.open("rb"):
                    pass
            except OSError as err:
                reason = "file not found" if isinstance(err, FileNotFoundError) else err.strerror
                raise ServiceConfigError(
                    f"{name}: {path}: cannot read: {reason}", key=name, path=str(path)
                ) from err
        import ssl

        try:
            ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(cert, key, password=b"")
        except (ssl.SSLError, OSError, ValueError) as err:
            raise ServiceConfigError(
                f"server.tls_cert / server.tls_key: {cert} and {key} are not a PEM certificate "
                f"and its unencrypted private key: {err}",
                key="server.tls_cert",
                path=str(cert),
            ) from err
        return str(cert), str(key)


def _api_keys_need_tls(settings: ServiceSettings) -> None:
    """An API key is a bearer secret: refuse it in clear text unless allowed for local use."""
    server = settings.server
    plain = server.tls_cert is None and not server.allow_plain_api_keys
    names = [t.name for t in settings.tiers if t.auth == "api_key"]
    if names and plain:
        raise ValueError(
            f"tiers {names} use auth = 'api_key' but [server] has no tls_cert/tls_key; API "
            f"keys travel in clear text without TLS (set [server] allow_plain_api_keys = true "
            f"for local use on a loopback address)"
        )


def parse_settings(text: str, path: str = "<service config>") -> ServiceSettings:
    """Validate TOML text; relative paths are resolved against ``path``'s folder."""
    settings = validate_toml(
        text, path, ServiceSettings, ServiceConfigError, SCHEMA_VERSION,
        tagged={"sources": {"simulated", "serial", "file", "dira"}},
    )  # fmt: skip
    base = Path(path).parent if path != "<service config>" else Path(".")
    return settings.model_copy(update={"base_dir": base.resolve()})


def load_settings(path: str | Path) -> ServiceSettings:
    """Read and validate a service config file.

    Raises
    ------
    ServiceConfigError
        Naming the file and every bad key.
    """
    text, name = read_text(path, ServiceConfigError, "service config")
    return parse_settings(text, name)
