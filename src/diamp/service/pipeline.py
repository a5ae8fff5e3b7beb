"""The single-source pipeline of seed 000, per source, feeding the pool tier by tier.

raw samples ──(position persisted first)──> SP 800-90B health tests ──> Toeplitz hashing of
``block_bits`` raw bits, output length by the leftover hash lemma at ``eps``
(:class:`diamp.extractors.params.ToeplitzParams`), on the extraction workers
(:mod:`diamp.service.extraction`: a fixed-seed engine, the exact GF(2) table one
:class:`diamp.extractors.gf2.TableToeplitz` or the FFT one
:class:`diamp.extractors.realtime.FixedSeedToeplitz`, every configured core, fair between
sources), ``check_bits`` output bits of every block re-checked from the definition (a
mismatch quarantines the source) ──> the source's output buffer, in block order ──> a tier
takes equal-length pieces of all its sources' buffers, XORs them (seed 000 eq. 1) and
appends the chunk with its provenance to the pool.

The output length m of a block comes from the source's *in-force* min-entropy,
min(declared, assessed) once an SP 800-90B assessment exists (spec §11d); until the first
assessment a raw source's output is diverted to the checks and never served (with
``[checks] enabled = false`` the declared value is in force). A later assessment applies to
the blocks extracted after it (blocks still in flight at the old value are dropped).

DIRA keys skip the first two steps: their certified bytes go to the buffer as they are (the
key offset is persisted first, and before it the run's high-water mark ``RUN/served.hwm``,
:mod:`diamp.service.hwm`, when the pool is anchored). A raw stream's position is anchored
``RESERVE_AHEAD`` reads ahead (:meth:`diamp.service.pool.Pool.set_cursor`), so after a lost
database the stream continues past everything it handed out.

A byte of a source's buffer goes to exactly one tier, so no two tiers share input. A tier
serves only while none of its sources is quarantined; a quarantined source's buffered and
pooled bytes are discarded.

Every chunk's provenance says, per source and for the chunk, whether it is ``simulated``
(true), from hardware (false) or of unknown provenance (null); ``simulated_sources`` names
the sources that are not hardware. One such source marks the whole chunk.

Availability is accounted per tier on the pipeline's clock (:attr:`Pipeline.availability`):
a tier counts as available while none of its sources is quarantined, the pipeline runs and
its pool holds bytes; the state seen at the end of a step holds until the next step. The
warm-up until a tier first could serve is counted apart (:class:`Availability`).
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np

from diamp.errors import DiampError
from diamp.extractors.bits import PackedBits
from diamp.extractors.params import ToeplitzParams
from diamp.service.availability import Availability
from diamp.service.errors import PoolError, ServiceConfigError, SourceError
from diamp.service.extraction import Extraction, available_cores
from diamp.service.health import SourceHealth, run_sp800_22, run_sp800_90b
from diamp.service.hwm import RunMark
from diamp.service.pool import Pool
from diamp.service.runtime import SourceRuntime
from diamp.service.seed import load_seed
from diamp.service.settings import DiraSource, ServiceSettings, TierSettings, VacuumEntropyModel
from diamp.service.sources import (
    DiraKey,
    FileStream,
    admit_dira,
    combine_simulated,
    declared_min_entropy,
    load_dira_key,
    open_stream,
    source_origin,
)

__all__ = ["Pipeline", "SourceRuntime"]

log = logging.getLogger(__name__)
RESERVE_AHEAD = 16  # a raw stream's anchored floor runs this many reads ahead of its position


class Pipeline:
    """Sources, extraction and tier assembly, run by :meth:`start` in a background thread."""

    def __init__(
        self,
        settings: ServiceSettings,
        pool: Pool,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings, self.pool, self.clock = settings, pool, clock
        self.tiers = {t.name: t for t in settings.tiers}
        self.seed = load_seed(settings, pool)
        material = self._material = self.seed.material
        self._check_rng = np.random.default_rng(secrets.randbits(128))  # self-check positions
        ex = settings.extractor
        self.extraction = Extraction(
            material, ex.check_bits, ex.workers or available_cores(), self._check_rng, ex.engine
        )
        self.sources: dict[str, SourceRuntime] = {}
        for cfg in settings.sources:
            tiers = [t.name for t in settings.tiers if cfg.name in t.sources]
            self.sources[cfg.name] = self._runtime(cfg, tiers, material)
        self.error = ""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.availability = {name: Availability() for name in self.tiers}
        self._ticked = clock()

    def _runtime(self, cfg: Any, tiers: list[str], material: np.ndarray) -> SourceRuntime:
        alpha, checks = self.settings.health.alpha, self.settings.checks
        if isinstance(cfg, DiraSource):
            key = admit_dira(
                load_dira_key(cfg.name, self.settings.resolve(cfg.run)), cfg.allow_simulated,
                f"source {cfg.name!r}", f"the [[sources]] entry {cfg.name!r}",
                f"sources.{cfg.name}.allow_simulated",
            )  # fmt: skip
            health = SourceHealth(cfg.name, 8, None, alpha, checks, clock=self.clock)
            rt = SourceRuntime(cfg.name, "dira", health, tiers, dira=key, origin=key.origin())
            rt.mark = self._mark(cfg, key)
            if (self.pool.cursor(cfg.name) or 0) >= len(key.key):
                health.status = "exhausted"
            return rt
        stream = open_stream(cfg, self.settings, clock=self.clock)
        bits = stream.bits_per_sample
        h = declared_min_entropy(cfg, bits)
        try:
            params = self._params(bits, h)
        except DiampError as err:
            raise ServiceConfigError(f"source {cfg.name!r}: extractor: {err}") from err
        if params.seed_bits > 8 * material.size:
            raise ServiceConfigError(
                f"source {cfg.name!r}: Toeplitz seed needs {params.seed_bits} bits, the "
                f"configured seed has {8 * material.size}: lower extractor.block_bits or "
                "supply a longer seed",
                key="extractor.seed",
            )
        seed = self._seed(params)
        self.extraction.engine(params)  # the seed's spectrum, once per block shape
        position = self.pool.cursor(cfg.name)
        if isinstance(stream, FileStream) and self.pool.anchor is not None:
            start = stream.anchor(self.pool.anchor.pool_id, position or 0,
                                  recover=self.pool.recovered)  # fmt: skip
            if start != position:
                self.pool.set_cursor(cfg.name, start)
        elif position is not None:
            stream.seek(position)
        health = SourceHealth(cfg.name, bits, h, alpha, checks, clock=self.clock)
        e = cfg.entropy
        health.model = f"vacuum: {e.label()}" if isinstance(e, VacuumEntropyModel) else "declared"
        rt = SourceRuntime(
            cfg.name, cfg.kind, health, tiers, stream, params=params, seed=seed,
            origin=source_origin(cfg),
        )  # fmt: skip
        rt.in_force = h
        rt.diverting = checks.enabled  # nothing is served before the first assessment
        return rt

    def _mark(self, cfg: DiraSource, key: DiraKey) -> RunMark | None:
        """The run's high-water mark, checked against the pool's cursor (anchored pools)."""
        if self.pool.anchor is None:
            return None
        run = self.settings.resolve(cfg.run)
        mark = RunMark(cfg.name, run, key.certificate_sha512, self.pool.anchor.pool_id)
        cursor = self.pool.cursor(cfg.name) or 0
        start = mark.open(cursor, recover=self.pool.recovered)
        if start != cursor:
            self.pool.set_cursor(cfg.name, start)
        return mark

    def _params(self, bits: int, h: float) -> ToeplitzParams:
        """Toeplitz parameters of one block at ``h`` bits of min-entropy per sample."""
        block_samples = self.settings.extractor.block_bits // bits
        return ToeplitzParams.from_params(
            block_samples * bits, block_samples * h, self.settings.extractor.eps
        )

    def _seed(self, params: ToeplitzParams) -> PackedBits:
        """The first n + m − 1 bits of the seed material (MSB-first)."""
        return PackedBits.from_bits(np.unpackbits(self._material)[: params.seed_bits])

    def _apply_in_force(self, rt: SourceRuntime) -> None:
        """Recompute the block's output length from the in-force min-entropy (fewer bits)."""
        h, params = rt.health.in_force, rt.params
        if h is None or params is None or h == rt.in_force:
            return
        try:
            rt.params = self._params(rt.health.bits_per_sample, h)
            rt.seed = self._seed(rt.params)  # the same material, cut to n + m - 1 bits
        except DiampError as err:
            raise SourceError(
                f"source {rt.name}: no output at the in-force min-entropy {h:.6g} bits/sample: "
                f"{err}"
            ) from err
        rt.in_force = h
        log.info("source %s: in-force min-entropy %.6g bits/sample, m = %d", rt.name, h,
                 rt.params.m)  # fmt: skip

    # --- tiers ---------------------------------------------------------------------------

    def tier_problem(self, tier: str) -> str | None:
        """Why ``tier`` cannot serve (a quarantined source), or None."""
        t = self.tiers[tier]
        bad = [s for s in t.sources if self.sources[s].health.status == "quarantined"]
        if bad:
            reasons = "; ".join(f"{s}: {self.sources[s].health.reason}" for s in bad)
            return f"tier {tier!r} needs all of {t.sources}; quarantined: {reasons}"
        return None

    def quarantine(self, name: str, reason: str) -> None:
        """Quarantine ``name`` and discard its unserved output (buffers and pool)."""
        rt = self.sources[name]
        rt.health.quarantine(reason)
        rt.raw.clear()
        rt.jobs.cancel()
        rt.out.clear()
        rt.divert.clear()
        dropped = self.pool.discard_source(name)
        log.warning("discarded %d unserved pool bytes of source %s", dropped, name)

    # --- one step of work ----------------------------------------------------------------

    def step(self, wait: bool = True) -> bool:
        """Produce and assemble what the tiers below target need; True if anything moved.

        With ``wait`` every block handed to the extraction workers in this step is delivered
        before it returns; without (the background thread), finished blocks are collected
        as they come and reading goes on meanwhile.
        """
        self._tick()
        try:
            return self._step(wait)
        finally:
            self._observe()

    def _tick(self) -> None:
        """Add the time since the last step to every tier, as available or not."""
        now = self.clock()
        dt, self._ticked = max(now - self._ticked, 0.0), now
        for a in self.availability.values():
            a.add(dt)

    def _observe(self) -> None:
        for name, a in self.availability.items():
            a.available = (
                not self.error and self.tier_problem(name) is None and self.pool.level(name) > 0
            )
            a.started |= a.available

    def availability_now(self, tier: str) -> Availability:
        """A copy of ``tier``'s accounting including the time since the last step."""
        a = replace(self.availability[tier])
        a.add(max(self.clock() - self._ticked, 0.0))
        return a

    def _step(self, wait: bool) -> bool:
        self._readmit()
        worked = self._collect_all(block=False)
        target = self.settings.pool.target_bytes
        needy = [
            t for t in self.tiers.values()
            if self.tier_problem(t.name) is None and self.pool.level(t.name) < target
        ]  # fmt: skip
        for rt in self.sources.values():
            if rt.health.status != "ok":
                continue
            cap = 2 * max(self.tiers[t].chunk_bytes for t in rt.tiers) if rt.tiers else 0
            if rt.diverting or (any(t.name in rt.tiers for t in needy) and len(rt.out) < cap):
                worked |= self._produce(rt)
        if wait or not worked:  # nothing else to do: wait for the extraction workers
            worked |= self._collect_all(block=True, every=wait)
        for t in sorted(needy, key=lambda t: self.pool.level(t.name)):
            while self._assemble(t) and self.pool.level(t.name) < target:
                worked = True
        return worked

    def _readmit(self) -> None:
        wait = self.settings.health.readmit_seconds
        if wait is None:
            return
        now = self.clock()
        for rt in self.sources.values():
            h = rt.health
            if h.status == "quarantined" and now >= h.quarantined_at + wait:
                h.readmit()
                if rt.dira is None and self.settings.checks.enabled:  # re-assess first
                    rt.diverting, h.next_check = True, now

    def _produce(self, rt: SourceRuntime) -> bool:
        try:
            if rt.dira is not None:
                return self._produce_dira(rt, rt.dira)
            return self._produce_raw(rt)
        except DiampError as err:
            self.quarantine(rt.name, str(err))
            return True

    def _produce_dira(self, rt: SourceRuntime, dira: DiraKey) -> bool:
        start = self.pool.cursor(rt.name) or 0
        stop = min(len(dira.key), start + max(self.tiers[t].chunk_bytes for t in rt.tiers))
        if stop <= start:
            rt.health.status = "exhausted"
            return False
        if rt.mark is not None:
            rt.mark.reserve(start, stop)  # the run's own record first
        self.pool.set_cursor(rt.name, stop)  # persisted before the bytes are used
        rt.out += dira.key[start:stop]
        rt.extracted_bytes += stop - start
        return True

    def _collect_all(self, block: bool, every: bool = False) -> bool:
        """Deliver finished jobs; ``block``: wait for one (``every``: all). True if any."""
        delivered = False
        for rt in self.sources.values():
            while rt.jobs.queue and (block or rt.jobs.queue[0].future.done()):
                delivered |= self._collect(rt)
                block = block and every
        return delivered

    def _collect(self, rt: SourceRuntime) -> bool:
        """Deliver ``rt``'s oldest job (waits for it); any failure of it quarantines."""
        job = rt.jobs.queue.popleft()
        try:
            for row in job.future.result():  # block order; a check may change m or quarantine
                if job.params is not rt.params or rt.health.status == "quarantined":
                    break  # at a min-entropy no longer in force, or quarantined: dropped
                self._deliver(rt, row.tobytes())
        except DiampError as err:
            self.quarantine(rt.name, str(err))
        return True

    def _produce_raw(self, rt: SourceRuntime) -> bool:
        stream, params, _ = rt.extraction()
        if self.extraction.full(rt.jobs):  # its share of the workers is busy: wait for one
            self._collect(rt)
            if rt.health.status != "ok":
                return True
            params = rt.extraction()[1]
        before = stream.position
        samples = stream.read()
        if samples is None:
            if getattr(stream, "exhausted", False):
                rt.health.status = "exhausted"
            return False
        now = stream.position
        ahead = now + RESERVE_AHEAD * max(now - before, 1)
        self.pool.set_cursor(rt.name, now, reserve_to=ahead)  # persisted (anchored) before use
        rt.raw_samples += samples.size
        failure = rt.health.test(samples)
        if failure is not None:
            self.quarantine(rt.name, failure)
            return True
        rt.raw.append(samples)
        bits = stream.bits_per_sample
        per_block = params.n // bits
        blocks = rt.raw_count // per_block
        if blocks:
            allraw = np.concatenate(rt.raw)
            cut = blocks * per_block
            rt.raw = [allraw[cut:]] if allraw.size > cut else []
            samples = allraw[:cut].reshape(blocks, per_block)
            self.extraction.submit(rt.jobs, samples, bits, params)
        return True

    def _deliver(self, rt: SourceRuntime, data: bytes) -> None:
        """One extracted block's bytes: to the periodic checks or to the output buffer."""
        rt.extracted_bytes += len(data)
        if rt.diverting:
            rt.divert += data
            self._maybe_check(rt)
        else:
            rt.out += data
            if self.clock() >= rt.health.next_check and self.settings.checks.enabled:
                rt.diverting = rt.health.recent_samples() is not None

    def _maybe_check(self, rt: SourceRuntime) -> None:
        c = self.settings.checks
        need = c.sp800_22_sequences * c.sp800_22_length
        samples, declared = rt.health.recent_samples(), rt.health.declared
        if 8 * len(rt.divert) < need or samples is None:
            return  # keep diverting until both samples are there
        if declared is None:  # fail closed: a raw source always declares
            raise SourceError(f"source {rt.name}: periodic check without a declared entropy")
        packed = np.frombuffer(bytes(rt.divert), dtype=np.uint8)
        rt.divert.clear()
        rt.diverting = False
        rt.health.next_check = self.clock() + c.period_seconds
        for result in (
            run_sp800_90b(samples, rt.health.bits_per_sample, declared, c),
            run_sp800_22(packed, c),
        ):
            rt.health.record(result)
        if rt.health.status == "quarantined":
            self.quarantine(rt.name, rt.health.reason)
            return
        self._apply_in_force(rt)

    def _assemble(self, tier: TierSettings) -> bool:
        runtimes = [self.sources[s] for s in tier.sources]
        length = min(tier.chunk_bytes, *(len(rt.out) for rt in runtimes))
        ended = any(rt.health.status == "exhausted" for rt in runtimes)
        if length == 0 or (length < tier.chunk_bytes and not ended):
            return False
        parts = []
        for rt in runtimes:
            parts.append(np.frombuffer(bytes(rt.out[:length]), dtype=np.uint8))
            del rt.out[:length]
        data = np.bitwise_xor.reduce(np.stack(parts), axis=0).tobytes()
        dira = [rt.dira.certificate_sha512 for rt in runtimes if rt.dira is not None]
        try:
            self.pool.append(tier.name, data, self._provenance(tier, runtimes), tier.sources, dira)
        except PoolError as err:
            for rt in runtimes:
                self.quarantine(rt.name, str(err))
        return True

    def _provenance(self, tier: TierSettings, runtimes: list[SourceRuntime]) -> dict[str, Any]:
        parts: dict[str, Any] = {}
        for rt in runtimes:
            if rt.dira is not None:
                parts[rt.name] = {
                    "kind": "dira",
                    "simulated": rt.simulated,
                    "run_id": rt.dira.run_id,
                    "certificate_sha512": rt.dira.certificate_sha512,
                    "provenance_status": rt.origin["status"],
                    "allowed_simulated": rt.dira.allowed_simulated,
                    "extractor": "none (certified key used as-is)",
                }
            else:
                p = rt.extraction()[1]
                parts[rt.name] = {
                    "kind": rt.kind,
                    "simulated": rt.simulated,
                    "extractor": {"name": "toeplitz", "n": p.n, "m": p.m, "eps": p.eps,
                                  "error": p.error, "min_entropy": p.min_entropy,
                                  **self.extraction.describe(p)},
                    "health": "passed SP 800-90B repetition count and adaptive proportion",
                }  # fmt: skip
        flags = [rt.simulated for rt in runtimes]
        return {
            "tier": tier.name, "combine": "xor",
            "simulated": combine_simulated(flags),
            "simulated_sources": [rt.name for rt in runtimes if rt.simulated is not False],
            "sources": parts, "time_unix": time.time(),
        }  # fmt: skip

    # --- background thread --------------------------------------------------------------

    def start(self, idle_seconds: float = 0.05) -> None:
        """Fill the pool in a daemon thread until :meth:`stop`."""
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._run, args=(idle_seconds,), name="diamp-pipeline", daemon=True
        )
        self._thread.start()

    def _run(self, idle_seconds: float) -> None:
        while not self._stop.is_set():
            try:
                worked = self.step(wait=False)
            except Exception as err:  # fail closed: stop filling, keep the reason visible
                log.exception("pipeline stopped")
                self.error = f"pipeline stopped: {type(err).__name__}: {err}"
                return
            if not worked:
                self._stop.wait(idle_seconds)

    def stop(self) -> None:
        """Stop the thread (waits for the current step) and the extraction workers."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        for rt in self.sources.values():
            rt.jobs.cancel()
        self.extraction.close()
        for rt in self.sources.values():
            close = getattr(rt.stream, "close", None)
            if close is not None:
                close()
