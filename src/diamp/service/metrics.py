"""Prometheus metrics: the SLIs of seed 004 for one service instance.

Counters and the latency histogram are updated by the API; pool levels, source health,
entropy estimates and throughput are read from the pipeline when ``/metrics`` is scraped
(a custom collector), so they are never stale. Every metric lives in the service's own
registry (two apps in one process do not share counters).

=============================================  ====================================================
``diamp_bytes_served_total``                   bytes served, by tier
``diamp_requests_total``                       requests, by route and status code
``diamp_request_seconds``                      request latency histogram, by route
``diamp_auth_failures_total``                  401 answers, by reason
``diamp_clients``                              clients in the clients file not revoked
``diamp_clients_reloads_total``                new versions of the clients file, by result (ok,
                                               failed: the last good version stays in force)
``diamp_clients_file_ok``                      1 if the clients file's last reading succeeded
``diamp_rate_limited_total``                   429 answers
``diamp_public_requests_total``                unsigned requests to public tiers, by tier and
                                               result (served, rate_limited, refused); never by
                                               address
``diamp_public_bytes_served_total``            bytes served to unsigned requests, by tier (also
                                               in ``diamp_bytes_served_total``)
``diamp_pool_bytes``                           fresh unserved bytes, by tier
``diamp_tier_available``                       1 if the tier's policy is met, by tier
``diamp_tier_available_seconds``               seconds the tier could serve (policy met, pool not
                                               empty), by tier, since it first could; with
``diamp_tier_observed_seconds``                (seconds since then) and their quotient
``diamp_tier_availability_ratio``              the tier's availability;
``diamp_tier_warmup_seconds``                  seconds from the start until the tier first could
                                               serve
``diamp_source_healthy``                       1 ok, 0 quarantined or exhausted, by source
``diamp_health_pass_rate``                     raw blocks passing the SP 800-90B health tests, by
                                               source
``diamp_entropy_per_bit``                      min-entropy per raw bit: declared, SP 800-90B
                                               assessed, and the floor an assessment must reach
                                               (``min_assessed_fraction`` × declared)
``diamp_source_min_entropy_bits``              min-entropy per raw sample, by source and kind:
                                               declared, assessed (SP 800-90B), in_force =
                                               min(declared, assessed)
``diamp_source_raw_samples_total``             raw samples read, by source (throughput)
``diamp_source_output_bytes_total``            extracted (or DIRA) bytes produced, by source
``diamp_source_extractor_info``                the Toeplitz engine of a raw source (value 1), by
                                               source, engine (gf2, fft) and exactness (exact,
                                               fft-bound)
``diamp_check_failures_total``                 failed periodic checks, by source and check
``diamp_source_quarantined``                   1 while the source is quarantined, by source
``diamp_source_quarantines_total``             quarantines since the start, by source
``diamp_health_blocks_total``                  raw blocks through the continuous tests, by source
                                               and result (passed, failed)
``diamp_pool_target_bytes``                    the pool level the pipeline refills each tier to
``diamp_beacon_running``                       1 while the beacon engine runs (0: stopped on an
                                               error)
``diamp_beacon_period_seconds``                the beacon's pulse period
``diamp_beacon_pulses_published_total``        pulses published by this process
``diamp_beacon_pulses_late_total``             of those, published more than the tolerance after
                                               their time stamp (:func:`late_tolerance`)
``diamp_beacon_pulses_missed_total``           slots the beacon passed over (woken late, a slow
                                               pulse) or whose draw failed
``diamp_beacon_last_pulse_timestamp_seconds``  time stamp of the last published pulse
``diamp_build_info``                           version of diamp and Python (value 1)
``process_*``, ``python_info``                 the process collector's CPU, memory, descriptors,
                                               start
=============================================  ====================================================

No ``*_created`` series are exported: a counter's start is the process start
(``process_start_time_seconds``), and the extra series only doubled the scrape.
"""

from __future__ import annotations

import logging
import platform
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    Info,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from diamp.service.beacon.errors import BeaconStoreError

if TYPE_CHECKING:
    from diamp.service.beacon.engine import BeaconEngine
    from diamp.service.beacon.pulse import Pulse
    from diamp.service.pipeline import Pipeline
    from diamp.service.pool import Pool

__all__ = ["Metrics", "late_tolerance"]

log = logging.getLogger(__name__)

disable_created_metrics()  # type: ignore[no-untyped-call]

_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class _PipelineCollector(Collector):
    def __init__(self, pipeline: Pipeline, pool: Pool) -> None:
        self.pipeline, self.pool = pipeline, pool

    def collect(self) -> Iterator[Any]:
        p = self.pipeline
        pool = GaugeMetricFamily("diamp_pool_bytes", "Fresh unserved pool bytes", labels=["tier"])
        avail = GaugeMetricFamily("diamp_tier_available", "Tier policy met", labels=["tier"])
        up = CounterMetricFamily(
            "diamp_tier_available_seconds", "Seconds the tier could serve", labels=["tier"]
        )
        seen = CounterMetricFamily(
            "diamp_tier_observed_seconds", "Seconds since the tier first served", labels=["tier"]
        )
        warm = GaugeMetricFamily(
            "diamp_tier_warmup_seconds", "Seconds until the tier first could serve", labels=["tier"]
        )
        ratio = GaugeMetricFamily(
            "diamp_tier_availability_ratio", "Available / observed seconds", labels=["tier"]
        )
        target = GaugeMetricFamily(
            "diamp_pool_target_bytes", "Pool level refilled to", labels=["tier"]
        )
        for name in p.tiers:
            pool.add_metric([name], self.pool.level(name))
            target.add_metric([name], p.settings.pool.target_bytes)
            avail.add_metric([name], 0 if p.tier_problem(name) else 1)
            a = p.availability_now(name)
            up.add_metric([name], a.available_seconds)
            seen.add_metric([name], a.observed_seconds)
            ratio.add_metric([name], a.ratio)
            warm.add_metric([name], a.warmup_seconds)
        yield from (pool, target, avail, up, seen, ratio, warm)
        yield from self._sources()

    def _sources(self) -> Iterator[Any]:
        p = self.pipeline
        healthy = GaugeMetricFamily("diamp_source_healthy", "Source ok", labels=["source"])
        rate = GaugeMetricFamily(
            "diamp_health_pass_rate", "Health-test pass rate", labels=["source"]
        )
        ent = GaugeMetricFamily(
            "diamp_entropy_per_bit", "Min-entropy per raw bit", labels=["source", "estimate"]
        )
        bits = GaugeMetricFamily(
            "diamp_source_min_entropy_bits",
            "Min-entropy per raw sample: declared, assessed, in force",
            labels=["source", "kind"],
        )
        raw = CounterMetricFamily("diamp_source_raw_samples", "Raw samples read", labels=["source"])
        out = CounterMetricFamily(
            "diamp_source_output_bytes", "Bytes produced (extracted or DIRA)", labels=["source"]
        )
        fails = CounterMetricFamily(
            "diamp_check_failures", "Failed periodic checks", labels=["source", "check"]
        )
        quar = GaugeMetricFamily("diamp_source_quarantined", "Quarantined", labels=["source"])
        quars = CounterMetricFamily(
            "diamp_source_quarantines", "Quarantines since the start", labels=["source"]
        )
        blocks = CounterMetricFamily(
            "diamp_health_blocks", "Raw blocks tested", labels=["source", "result"]
        )
        engine = GaugeMetricFamily(
            "diamp_source_extractor_info", "Toeplitz engine of a raw source",
            labels=["source", "engine", "exactness"],
        )  # fmt: skip
        for name, rt in p.sources.items():
            h = rt.health
            if rt.params is not None:
                e = p.extraction.describe(rt.params)
                engine.add_metric([name, e["engine"], e["exactness"]], 1)
            healthy.add_metric([name], 1 if h.status == "ok" else 0)
            rate.add_metric([name], h.pass_rate)
            for kind, value in (
                ("declared", h.declared), ("assessed", h.assessed), ("in_force", h.in_force),
            ):  # fmt: skip
                if value is not None:
                    bits.add_metric([name, kind], value)
            if h.declared is not None:
                ent.add_metric([name, "declared"], h.declared / h.bits_per_sample)
                floor = h.checks.min_assessed_fraction * h.declared
                ent.add_metric([name, "floor"], floor / h.bits_per_sample)
            check = h.last_checks.get("sp800_90b")
            if check is not None:
                assessed = float(check.detail["assessed_min_entropy"])
                ent.add_metric([name, "sp800_90b"], assessed / h.bits_per_sample)
            quar.add_metric([name], 1 if h.status == "quarantined" else 0)
            quars.add_metric([name], h.quarantines)
            blocks.add_metric([name, "passed"], h.blocks_passed)
            blocks.add_metric([name, "failed"], h.blocks_failed)
            raw.add_metric([name], rt.raw_samples)
            out.add_metric([name], rt.extracted_bytes)
            for kind in ("sp800_90b", "sp800_22"):
                fails.add_metric([name, kind], h.check_failures.get(kind, 0))
        yield from (healthy, rate, ent, bits, raw, out, fails, quar, quars, blocks, engine)


def late_tolerance(period_s: float) -> float:
    """Seconds after its time stamp a pulse may be published and still be on time.

    A quarter of the period, at most 5 s: signing and persisting take milliseconds, so a
    pulse later than that was held up (a slow draw, a blocked store, an overloaded host).
    """
    return min(5.0, period_s / 4)


class _BeaconCollector(Collector):
    """Pulses published, late and missed by this process; the last pulse from the store."""

    def __init__(self, engine: BeaconEngine) -> None:
        self.published = self.late = 0
        self._lock = threading.Lock()
        self.follow(engine)

    def follow(self, engine: BeaconEngine) -> None:
        """Report ``engine`` from now on (a host that took over the clock again); counts go on."""
        self.engine = engine
        engine.on_publish.append(self._published)

    def _published(self, pulse: Pulse) -> None:
        delay = self.engine.clock() - pulse.time_ms / 1000
        with self._lock:
            self.published += 1
            if delay > late_tolerance(self.engine.period_ms / 1000):
                self.late += 1

    def collect(self) -> Iterator[Any]:
        e = self.engine
        with self._lock:
            published, late = self.published, self.late
        running = e.running and e.error is None
        yield GaugeMetricFamily("diamp_beacon_running", "Beacon engine running", int(running))
        yield GaugeMetricFamily("diamp_beacon_period_seconds", "Pulse period", e.period_ms / 1000)
        for name, doc, value in (
            ("published", "Pulses published", published),
            ("late", "Pulses published late", late),
            ("missed", "Slots without a pulse", e.missed),
        ):
            yield CounterMetricFamily(f"diamp_beacon_pulses_{name}", doc, value)
        try:
            last = e.store.last_pulse()
        except BeaconStoreError as err:  # the engine stops on it too: running says so
            log.warning("metrics: no last pulse: %s", err)
            last = None
        if last is not None:
            yield GaugeMetricFamily(
                "diamp_beacon_last_pulse_timestamp_seconds",
                "Time stamp of the last published pulse",
                last.time_ms / 1000,
            )


_ROUTES = frozenset({
    "/v1/random", "/v1/random/json", "/API/jsonI.php", "/v1/status", "/status",
    "/v1/certificates", "/healthz", "/metrics",
})  # fmt: skip
"""The ``route`` labels of the request metrics (any other path is counted as ``other``)."""


class Metrics:
    """The service's registry with its request-side metrics."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.bytes_served = Counter("diamp_bytes_served", "Bytes served", ["tier"], registry=r)
        self.requests = Counter("diamp_requests", "Requests", ["route", "status"], registry=r)
        self.latency = Histogram(
            "diamp_request_seconds", "Request latency", ["route"], buckets=_BUCKETS, registry=r
        )
        self.auth_failures = Counter(
            "diamp_auth_failures", "Requests answered 401", ["reason"], registry=r
        )
        self.rate_limited = Counter("diamp_rate_limited", "Requests answered 429", registry=r)
        self._latency: dict[str, Any] = {}  # the metrics' children, looked up once each
        self._count: dict[tuple[str, int], Any] = {}
        self._beacon: _BeaconCollector | None = None
        self.public_requests = Counter(
            "diamp_public_requests", "Unsigned requests to public tiers", ["tier", "result"],
            registry=r,
        )  # fmt: skip
        self.public_bytes = Counter(
            "diamp_public_bytes_served", "Bytes served to unsigned requests", ["tier"], registry=r
        )
        from diamp import __version__

        Info("diamp_build", "Build information", registry=r).info(
            {"version": __version__, "python": platform.python_version()}
        )
        ProcessCollector(registry=r)
        PlatformCollector(registry=r)

    def observe_request(self, path: str, status: int, seconds: float) -> None:
        """Count one answered request of ``path`` by status, and its latency."""
        route = "/v1/certificates" if path.startswith("/v1/certificates/") else path
        if route not in _ROUTES:
            route = "other"
        latency = self._latency.get(route)
        if latency is None:
            latency = self._latency[route] = self.latency.labels(route)
        count = self._count.get((route, status))
        if count is None:
            count = self._count[route, status] = self.requests.labels(route, str(status))
        latency.observe(seconds)
        count.inc()

    def watch(self, pipeline: Pipeline, pool: Pool) -> None:
        """Report the pipeline's state at every scrape."""
        self.registry.register(_PipelineCollector(pipeline, pool))

    def watch_beacon(self, engine: BeaconEngine) -> None:
        """Count the beacon's pulses and report its state at every scrape."""
        if self._beacon is not None:
            self._beacon.follow(engine)
            return
        self._beacon = _BeaconCollector(engine)
        self.registry.register(self._beacon)

    def render(self) -> bytes:
        """The text exposition format."""
        from prometheus_client import generate_latest

        return generate_latest(self.registry)
