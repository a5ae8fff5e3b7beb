"""Prometheus metrics: the SLIs of seed 004 for one service instance.

Counters and the latency histogram are updated by the API; pool levels, source health,
entropy estimates and throughput are read from the pipeline when ``/metrics`` is scraped
(a custom collector), so they are never stale. Every metric lives in the service's own
registry (two apps in one process do not share counters).

==================================  =========================================================
``diamp_bytes_served_total``         bytes served, by tier
``diamp_requests_total``             requests, by route and status code
``diamp_request_seconds``            request latency histogram, by route
``diamp_auth_failures_total``        401 answers, by reason
``diamp_rate_limited_total``         429 answers
``diamp_pool_bytes``                 fresh unserved bytes, by tier
``diamp_tier_available``             1 if the tier's policy is met, by tier
``diamp_tier_available_seconds``     seconds the tier could serve (policy met, pool not
                                     empty), by tier, since it first could; with
``diamp_tier_observed_seconds``      (seconds since then) and their quotient
``diamp_tier_availability_ratio``    the tier's availability;
``diamp_tier_warmup_seconds``        seconds from the start until the tier first could serve
``diamp_source_healthy``             1 ok, 0 quarantined or exhausted, by source
``diamp_health_pass_rate``           raw blocks passing the SP 800-90B health tests, by source
``diamp_entropy_per_bit``            min-entropy per raw bit: declared and SP 800-90B assessed
``diamp_source_min_entropy_bits``    min-entropy per raw sample, by source and kind: declared,
                                     assessed (SP 800-90B), in_force = min(declared, assessed)
``diamp_source_raw_samples_total``   raw samples read, by source (throughput)
``diamp_source_output_bytes_total``  extracted (or DIRA) bytes produced, by source
``diamp_check_failures_total``       failed periodic checks, by source and check
==================================  =========================================================
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from diamp.service.pipeline import Pipeline
    from diamp.service.pool import Pool

__all__ = ["Metrics"]

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
        for name in p.tiers:
            pool.add_metric([name], self.pool.level(name))
            avail.add_metric([name], 0 if p.tier_problem(name) else 1)
            a = p.availability_now(name)
            up.add_metric([name], a.available_seconds)
            seen.add_metric([name], a.observed_seconds)
            ratio.add_metric([name], a.ratio)
            warm.add_metric([name], a.warmup_seconds)
        yield from (pool, avail, up, seen, ratio, warm)
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
        for name, rt in p.sources.items():
            h = rt.health
            healthy.add_metric([name], 1 if h.status == "ok" else 0)
            rate.add_metric([name], h.pass_rate)
            for kind, value in (
                ("declared", h.declared), ("assessed", h.assessed), ("in_force", h.in_force),
            ):  # fmt: skip
                if value is not None:
                    bits.add_metric([name, kind], value)
            if h.declared is not None:
                ent.add_metric([name, "declared"], h.declared / h.bits_per_sample)
            check = h.last_checks.get("sp800_90b")
            if check is not None:
                assessed = float(check.detail["assessed_min_entropy"])
                ent.add_metric([name, "sp800_90b"], assessed / h.bits_per_sample)
            raw.add_metric([name], rt.raw_samples)
            out.add_metric([name], rt.extracted_bytes)
            for kind in ("sp800_90b", "sp800_22"):
                fails.add_metric([name, kind], h.check_failures.get(kind, 0))
        yield from (healthy, rate, ent, bits, raw, out, fails)


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

    def watch(self, pipeline: Pipeline, pool: Pool) -> None:
        """Report the pipeline's state at every scrape."""
        self.registry.register(_PipelineCollector(pipeline, pool))

    def render(self) -> bytes:
        """The text exposition format."""
        from prometheus_client import generate_latest

        return generate_latest(self.registry)
