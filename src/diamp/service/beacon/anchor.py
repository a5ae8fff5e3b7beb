"""The beacon's anchor (``KEY.anchor`` beside the signing key): an index is never issued twice.

The pulse store (SQLite) can be lost or restored; a beacon that opened an empty store would
issue chain 1 pulse 1 again, validly signed, with a different value. The anchor file beside
the signing key (:mod:`diamp.service.anchor`) records every pulse's (chain, pulse index,
time stamp, ``outputValue``) after the pulse is persisted and before it is published, so a
published pulse is always anchored (a crash in between leaves the store one pulse ahead,
which the store republishes unchanged and the anchor then records).

At start the store must hold the anchored pulse with the anchored ``outputValue``; a missing
or empty store, one without that pulse (lost, or restored from an older backup) or with other
content is refused. ``--new-chain`` starts a new chain whose index is above both the anchored
chain and every chain in the store; pulse indices restart at 1 (status "new chain", as NIST
Beacon 2.0 allows), so no (chain, pulse) index is issued twice and no published value is
contradicted: the old chain's pulses are not re-served from an empty store. A store
without an anchor (made before anchors existed) is adopted at the first start.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from diamp.service.anchor import AnchorFile, anchor_path
from diamp.service.beacon.errors import BeaconStoreError
from diamp.service.beacon.pulse import Pulse
from diamp.service.beacon.store import PulseStore
from diamp.service.errors import StateError

__all__ = ["BeaconAnchor", "check_store_file"]

log = logging.getLogger(__name__)
RECOVERY = (
    "recover with `diamp serve CONFIG --new-chain` (a new chain above every anchored index; "
    "docs/service.md, 'Losing or restoring state')"
)


def _says(last: dict[str, Any]) -> str:
    when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(last.get("time_ms", 0)) // 1000))
    value = str(last.get("output_value", ""))[:16]
    if not int(last.get("pulse", 0)):
        return f"chain {last.get('chain')} opened ({when}), no pulse issued yet"
    return f"chain {last.get('chain')} pulse {last.get('pulse')} ({when}, outputValue {value}…)"


class BeaconAnchor:
    """The anchor of the beacon whose signing key is ``key_file``."""

    def __init__(self, key_file: Path) -> None:
        self.file = AnchorFile(anchor_path(key_file))
        self.last: dict[str, Any] | None = None

    def load(self) -> dict[str, Any] | None:
        """Read and check the file; the newest record (None: no anchor yet)."""
        found = self.file.records()
        self.last = found[-1] if found else None
        return self.last

    def record(self, pulse: Pulse, event: str | None = None) -> None:
        """Anchor ``pulse`` (fsynced) unless it is not newer than the anchored one.

        Raises
        ------
        BeaconStoreError
            If the file's last record is not this beacon's last one: another beacon uses the
            same signing key and anchor (a copy of the state still in use); the pulse is not
            anchored, so it is never published.
        """
        key = (pulse.chain_index, pulse.pulse_index)
        line: dict[str, Any] = {
            "v": 1, "chain": pulse.chain_index, "pulse": pulse.pulse_index,
            "time_ms": pulse.time_ms, "output_value": pulse.output_value.hex(),
            "certificate": pulse.certificate_id.hex(),
        }  # fmt: skip
        if event:
            line["event"] = event
        with self.file.locked() as on_file:
            self._own(on_file, pulse.name)
            if self.last is not None and key <= (int(self.last["chain"]), int(self.last["pulse"])):
                return
            self.file.append(line)
            self.last = line

    def mark_chain(self, chain: int) -> None:
        """Anchor a new chain before its first pulse (``pulse`` 0: none issued yet)."""
        with self.file.locked() as on_file:
            self._own(on_file, f"chain {chain}")
            self.last = {"v": 1, "chain": chain, "pulse": 0, "time_ms": int(time.time() * 1000),
                         "output_value": "", "event": "new chain"}  # fmt: skip
            self.file.append(self.last)

    def _own(self, on_file: dict[str, Any] | None, what: str) -> None:
        """Refuse to go on when the file's last record is not the one this beacon holds."""
        if (
            on_file is None
            or self.last is None
            or all(on_file.get(k) == self.last.get(k) for k in ("chain", "pulse", "output_value"))
        ):
            return
        raise BeaconStoreError(
            f"{self.file.path}: the anchor now ends at {_says(on_file)}, not at this beacon's "
            f"{_says(self.last)}: another beacon uses this signing key and anchor (a copy of "
            f"the beacon state still in use); {what} is not published; stop the other beacon, "
            f"then {RECOVERY}"
        )

    def check(self, store: PulseStore, *, new_chain: bool) -> int:
        """Check ``store`` against the anchor; the chain index a new chain must exceed.

        Raises
        ------
        StateError
            If the store lacks the anchored pulse or holds it with another ``outputValue``
            (unless ``new_chain``).
        """
        last = self.load()
        self.file.rotate()
        newest = store.last_pulse(published=False)
        if last is None:  # a first start, or a store from before anchors: adopt it
            if newest is not None:
                self.record(newest, "adopted")
            return 0
        chain, index = int(last["chain"]), int(last["pulse"])
        if new_chain:
            return chain
        where = f"{store.path}: beacon state"
        says = f"anchor {self.file.path} records {_says(last)}"
        top_chain = store.last_chain()
        if index == 0 and top_chain is not None and top_chain.chain_index >= chain:
            if newest is not None and newest.chain_index >= chain:
                self.record(newest, "caught up with the store")
            return chain
        found = None if index == 0 else _find(store, chain, index)
        if found is None:
            top = "no pulses" if newest is None else f"up to {newest.name}"
            raise StateError(
                f"{where} holds {top}, not the anchored pulse (lost, or restored from an older "
                f"backup: issuing from it would re-issue indices); {says}; {RECOVERY}",
                path=str(store.path),
            )
        if found.output_value.hex() != last.get("output_value"):
            raise StateError(
                f"{where} holds {found.name} with outputValue {found.output_value.hex()[:16]}…, "
                f"not the anchored one (another beacon's state); {says}; {RECOVERY}",
                path=str(store.path),
            )
        if newest is not None:
            self.record(newest, "caught up with the store")
        return chain


def _find(store: PulseStore, chain: int, index: int) -> Pulse | None:
    """The anchored pulse in ``store``, published or not."""
    for pulse in store.unpublished():
        if (pulse.chain_index, pulse.pulse_index) == (chain, index):
            return pulse
    return store.pulse(chain, index)


def check_store_file(path: Path, key_file: Path, *, new_chain: bool) -> None:
    """Refuse a missing or empty pulse store that its anchor says held pulses.

    Called before the store is opened (opening would create it).
    """
    anchor = BeaconAnchor(key_file)
    last = anchor.load()
    if last is None or new_chain:
        return
    says = f"anchor {anchor.file.path} records {_says(last)}"
    if not path.exists():
        raise StateError(f"{path}: beacon state is missing; {says}; {RECOVERY}", path=str(path))
    if path.stat().st_size == 0:
        raise StateError(
            f"{path}: beacon state is empty (0 bytes); {says}; {RECOVERY}", path=str(path)
        )
