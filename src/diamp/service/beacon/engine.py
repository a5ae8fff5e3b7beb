"""The beacon engine: one signed pulse per period, aligned to the period boundary.

Each pulse reveals the ``localRandomValue`` committed by the pulse before it and commits to
the next one (``precommitmentValue`` = SHA-512 of it), so a value is drawn from the source one
pulse ahead. The pulse and the next commitment are persisted in one transaction, then the
pulse is published; after a crash the persisted pulse is published unchanged. A change of
signing certificate, period, version or base uri starts a new chain (status
:data:`~diamp.service.beacon.pulse.STATUS_NEW_CHAIN`); a pulse more than one period after its
predecessor (downtime, a failed draw) carries :data:`~diamp.service.beacon.pulse.STATUS_GAP`
and continues the chain.

With an anchor (:mod:`diamp.service.beacon.anchor`, beside the signing key) every pulse is
anchored after it is persisted and before it is published, and the store is checked against
the anchor at start; ``new_chain`` starts a chain above every anchored index.

``listValues``: ``previous`` is the previous pulse; ``hour``, ``day``, ``month`` and ``year``
are the first pulse of this chain in the UTC hour (day, month, year) that contains the
*previous* pulse's time stamp. Without gaps this is NIST's rule (the first pulse of the current
period, or of the period before when this pulse is the first of its period); it also names an
existing pulse after downtime. The first pulse of a chain has zeros and empty uris there.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from diamp.errors import DiampError
from diamp.service.beacon.anchor import BeaconAnchor
from diamp.service.beacon.crypto import Signer
from diamp.service.beacon.errors import BeaconError, BeaconStoreError
from diamp.service.beacon.provenance import ExternalValue, RandomSource, external_block
from diamp.service.beacon.pulse import (
    CIPHER_SUITE,
    HASH_BYTES,
    LIST_TYPES,
    STATUS_GAP,
    STATUS_NEW_CHAIN,
    STATUS_OK,
    VERSION,
    ZERO_HASH,
    ListValue,
    Pulse,
    format_timestamp,
    pulse_uri,
)
from diamp.service.beacon.store import ChainInfo, Commitment, PulseStore

if TYPE_CHECKING:
    from diamp.service.share import BeaconShare

__all__ = ["BeaconEngine", "period_start"]

log = logging.getLogger(__name__)
_HOUR = 3_600_000
_DAY = 24 * _HOUR


def period_start(ms: int, unit: str) -> int:
    """Start (ms) of the UTC hour, day, month or year containing ``ms``."""
    if unit == "hour":
        return ms - ms % _HOUR
    if unit == "day":
        return ms - ms % _DAY
    t = datetime.fromtimestamp(ms // 1000, tz=UTC)
    start = datetime(t.year, t.month if unit == "month" else 1, 1, tzinfo=UTC)
    return int(start.timestamp()) * 1000


class BeaconEngine:
    """Produces, persists and publishes pulses; start/stop it from the app lifespan.

    Parameters
    ----------
    store
        The pulse store (SQLite, or PostgreSQL shared by several hosts).
    signer
        Signing key and certificate.
    source
        ``source(nbytes) -> Draw``: the service pool's tier (DIRA output preferably).
    period_ms
        Pulse period in milliseconds (60000 by default in the settings).
    base_uri
        Public base URL of the service, used in the signed ``uri`` fields.
    external
        Optional operator external value, called once per pulse.
    clock
        Seconds since the epoch (``time.time``); tests may pass their own.
    after_persist
        Called between persisting and publishing a pulse (crash tests).
    anchor
        The beacon's anchor file (checked against the store at start; None: no anchor).
    new_chain
        Start a new chain above every anchored and stored chain (``--new-chain``).
    """

    def __init__(
        self,
        store: PulseStore,
        signer: Signer,
        source: RandomSource,
        *,
        period_ms: int = 60_000,
        base_uri: str = "http://127.0.0.1:8000",
        external: Callable[[], ExternalValue | None] | None = None,
        clock: Callable[[], float] = time.time,
        after_persist: Callable[[Pulse], None] | None = None,
        anchor: BeaconAnchor | None = None,
        new_chain: bool = False,
    ) -> None:
        if not 1 <= period_ms < 2**32:
            raise BeaconError(f"period: expected 1 ms to 2^32-1 ms, found {period_ms} ms")
        self.store, self.signer, self.source = store, signer, source
        self.period_ms, self.base_uri = period_ms, base_uri.rstrip("/")
        self.external, self.clock, self.after_persist = external, clock, after_persist
        self.on_publish: list[Callable[[Pulse], None]] = []
        self.share: BeaconShare | None = None  # the draws set aside for the next pulses
        self.error: DiampError | None = None
        self.missed = 0  # slots the running loop passed over or failed to fill
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.anchor = anchor
        self.chain = self._open(new_chain)

    @property
    def format(self) -> str:
        """What must stay the same within one chain besides the certificate."""
        return f"{VERSION}|cipherSuite={CIPHER_SUITE}|period={self.period_ms}|uri={self.base_uri}"

    def _open(self, new_chain: bool) -> ChainInfo:
        """Check the anchor; publish a pulse left unpublished by a crash; continue or start."""
        after = 0 if self.anchor is None else self.anchor.check(self.store, new_chain=new_chain)
        cert = self.signer.certificate
        self.store.add_certificate(cert.id_hex, cert.pem)
        for pulse in self.store.unpublished():
            log.warning("republishing %s persisted before a crash", pulse.name)
            self._publish(pulse)
        last = self.store.last_chain()
        same = last is not None and (last.certificate_id, last.format) == (cert.id_hex, self.format)
        if last is not None and same and not new_chain:
            return last
        chain = self.store.new_chain(cert.id_hex, self.format, after)
        if self.anchor is not None:
            self.anchor.mark_chain(chain.chain_index)
        log.info("beacon: new chain %d (certificate %s…)", chain.chain_index, cert.id_hex[:16])
        return chain

    def _publish(self, pulse: Pulse) -> None:
        if self.anchor is not None:
            self.anchor.record(pulse)  # persisted, anchored, then published
        self.store.mark_published(pulse.chain_index, pulse.pulse_index)
        for callback in self.on_publish:
            callback(pulse)

    def now_ms(self) -> int:
        """The clock in whole milliseconds."""
        return int(self.clock() * 1000)

    def next_slot(self) -> int:
        """Time stamp (ms) of the next pulse: the next period boundary after the last pulse."""
        now = self.now_ms()
        slot = -(-now // self.period_ms) * self.period_ms
        last = self.store.last_pulse(self.chain.chain_index, published=False)
        if last is not None and slot <= last.time_ms:
            slot = last.time_ms + self.period_ms
        return slot

    def emit(self, time_ms: int) -> Pulse:
        """Build, sign, persist and publish the pulse with time stamp ``time_ms``."""
        if time_ms % self.period_ms:
            raise BeaconError(f"timeStamp {time_ms} is not on a period boundary")
        chain = self.chain.chain_index
        last = self.store.last_pulse(chain, published=False)
        if last is not None and time_ms <= last.time_ms:
            raise BeaconError(f"timeStamp {time_ms} is not after {last.name}")
        index = 1 if last is None else last.pulse_index + 1
        revealed = self._revealed(chain, index, last)
        following = self.source(HASH_BYTES)
        if len(following.data) != HASH_BYTES:
            raise BeaconError(f"source returned {len(following.data)} bytes, not {HASH_BYTES}")
        pulse = self._sign(self._unsigned(time_ms, index, last, revealed, following.data))
        commit = Commitment(
            chain, index + 1, following.data, following.dira_certificates,
            tuple(following.simulated_sources),
        )  # fmt: skip
        self.store.persist(pulse, commit)
        if self.after_persist is not None:
            self.after_persist(pulse)
        self._publish(pulse)
        return pulse

    def _revealed(self, chain: int, index: int, last: Pulse | None) -> Commitment:
        """The value this pulse reveals, with its provenance (drawn now for a chain's first)."""
        if last is None:
            draw = self.source(HASH_BYTES)
            if len(draw.data) != HASH_BYTES:
                raise BeaconError(f"source returned {len(draw.data)} bytes, not {HASH_BYTES}")
            return Commitment(
                chain, index, draw.data, draw.dira_certificates, tuple(draw.simulated_sources)
            )
        commitment = self.store.commitment(chain, index)
        if commitment is None:
            raise BeaconStoreError(
                f"{self.store.path}: no committed value for chain {chain} pulse {index}",
                path=str(self.store.path),
            )
        return commitment

    def _unsigned(
        self, time_ms: int, index: int, last: Pulse | None, revealed: Commitment, following: bytes
    ) -> Pulse:
        chain = self.chain.chain_index
        if last is None:
            status = STATUS_NEW_CHAIN
            lists = tuple(ListValue("", kind, ZERO_HASH) for kind in LIST_TYPES)
        else:
            status = STATUS_GAP if time_ms - last.time_ms > self.period_ms else STATUS_OK
            anchors = [self._anchor(chain, last, unit) for unit in LIST_TYPES[1:]]
            lists = (ListValue(last.uri, "previous", last.output_value), *anchors)
        return Pulse(
            uri=pulse_uri(self.base_uri, chain, index),
            version=VERSION,
            cipher_suite=CIPHER_SUITE,
            period=self.period_ms,
            certificate_id=self.signer.certificate.id,
            chain_index=chain,
            pulse_index=index,
            time_stamp=format_timestamp(time_ms),
            local_random_value=revealed.value,
            external=external_block(
                revealed.dira_certificates,
                None if self.external is None else self.external(),
                revealed.simulated_sources,
            ),
            list_values=lists,
            precommitment_value=hashlib.sha512(following).digest(),
            status_code=status,
        )

    def _anchor(self, chain: int, last: Pulse, unit: str) -> ListValue:
        first = self.store.first_since(chain, period_start(last.time_ms, unit))
        if first is None:  # impossible: ``last`` itself qualifies
            raise BeaconStoreError(f"{self.store.path}: no pulse for the {unit} of {last.name}")
        return ListValue(first.uri, unit, first.output_value)

    def _sign(self, pulse: Pulse) -> Pulse:
        from dataclasses import replace

        signature = self.signer.sign(pulse.signed_bytes())
        signed = replace(pulse, signature_value=signature)
        return replace(signed, output_value=signed.computed_output())

    # running
    def _loop(self) -> None:
        tried: int | None = None  # the last slot this loop tried
        while not self._stop.is_set():
            slot = self.next_slot()
            if self._stop.wait(max(0.0, slot / 1000 - self.clock())):
                return
            now = self.now_ms()
            if now - slot >= self.period_ms:  # woke late: take the latest boundary
                slot = now - now % self.period_ms
            if tried is not None:  # slots passed over (woken late, a slow pulse before)
                self.missed += max(0, (slot - tried) // self.period_ms - 1)
            tried = slot
            try:
                self.emit(slot)
            except BeaconStoreError as err:
                log.error("beacon stopped: %s", err)
                self.error = err
                self.store.resign()  # on a shared store another host may take over
                return
            except DiampError as err:  # a failed draw: skip the slot, the next one is a gap
                self.missed += 1
                log.error("beacon: no pulse at %s: %s", format_timestamp(slot), err)
            except Exception:  # the source is foreign code: log it, keep the beacon alive
                self.missed += 1
                log.exception("beacon: no pulse at %s", format_timestamp(slot))

    @property
    def running(self) -> bool:
        """True while the engine's thread runs (not before start, after stop or an error)."""
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Run the engine in a daemon thread."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="diamp-beacon", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop after the pulse in progress (if any) and wait for the thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    async def run(self) -> None:
        """Run until cancelled (for an app lifespan task)."""
        self.start()
        try:
            await asyncio.Event().wait()
        finally:
            await asyncio.to_thread(self.stop)
