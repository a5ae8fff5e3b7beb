"""Sources of the service: raw-sample streams (simulated, serial, file) and DIRA keys.

A raw stream yields blocks of samples (``uint8``, each below 2^bits_per_sample; a sample's
bits enter the raw bit string MSB-first) and has a ``position`` that the pipeline persists
*before* using a block, so after a restart the stream resumes past everything it has
already handed out: a crash loses data, it never replays it. A serial device cannot be
rewound or skipped; its repeats are caught by the pool's duplicate-chunk check instead.

A DIRA key (``key.bin`` beside ``certificate.json`` with ``status = "ok"``) is already
uniform: its bytes are used as they are, never re-extracted, and are checked against the
certificate's SHA-256 and bit count on load. Its certificate's SHA-512 (of the file bytes)
is the provenance every draw that used it carries.

Simulated randomness never passes for certified: :func:`admit_dira` refuses a key whose
certificate's provenance is simulated or unknown unless the config allows it
(``allow_simulated = true``), and :func:`source_origin` says for every source whether its
output is simulated (true), from hardware (false) or of unknown provenance (null).
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from diamp.analysis.entropy_models import vacuum_min_entropy, vacuum_min_entropy_worst_case
from diamp.errors import DiampError, StorageError
from diamp.protocol.provenance import PARTS
from diamp.service.anchor import anchor_path
from diamp.service.errors import ServiceConfigError, SourceError
from diamp.service.hwm import StreamMark
from diamp.service.settings import (
    FileSource,
    SerialSource,
    ServiceSettings,
    SimulatedSource,
    VacuumEntropyModel,
)
from diamp.service.simulated import BLOCK_SAMPLES, SimulatedDevice

__all__ = [
    "DiraKey",
    "FileStream",
    "RawStream",
    "SerialStream",
    "SimulatedStream",
    "admit_dira",
    "combine_simulated",
    "declared_min_entropy",
    "load_dira_key",
    "open_stream",
    "source_origin",
]

# Serial URLs that reach a simulation, not a device (as diamp.daq.station.SIMULATED_ADDRESSES;
# pyserial's loop:// echoes what is written and is no QRNG at all).
SIMULATED_URLS = ("qrngsim://", "loop://")


class RawStream(Protocol):
    """A stream of raw samples with a persistable position."""

    name: str
    bits_per_sample: int

    @property
    def position(self) -> int:
        """Where the stream stands (restored with :meth:`seek` after a restart)."""
        ...

    def seek(self, position: int) -> None:
        """Continue from ``position`` (as returned by :attr:`position`)."""
        ...

    def read(self) -> np.ndarray | None:
        """The next samples, or None when none are ready (yet, or ever: exhausted)."""
        ...


def declared_min_entropy(cfg: SimulatedSource | SerialSource | FileSource, bits: int) -> float:
    """Min-entropy per raw sample from the source's entropy model (seed 000 eq. 6 or declared).

    A vacuum model gives its worst case over classical offsets (k σ_c, default 5); the
    centred value only when the config says ``centred = true``.

    Raises
    ------
    ServiceConfigError
        If the model's ADC width differs from the sample width, or the value exceeds it.
    """
    e = cfg.entropy
    if isinstance(e, VacuumEntropyModel):
        if e.bits != bits:
            raise ServiceConfigError(
                f"source {cfg.name!r}: entropy.bits = {e.bits} but samples have {bits} bits",
                key=f"sources.{cfg.name}.entropy.bits",
            )
        k = e.offset_sigma_c  # the worst case (default 5 sigma_c); None only if centred = true
        try:
            if k is None:
                h = vacuum_min_entropy(
                    e.bits, e.v_min, e.v_max, e.gamma, sigma_total=e.sigma_total, centre=e.centre
                ).min_entropy
            else:
                h = vacuum_min_entropy_worst_case(
                    e.bits, e.v_min, e.v_max, e.gamma, max_offset_sigma_c=k,
                    sigma_total=e.sigma_total, centre=e.centre,
                ).min_entropy  # fmt: skip
        except DiampError as err:
            raise ServiceConfigError(f"source {cfg.name!r}: entropy: {err}") from err
    else:
        h = e.min_entropy
    if not 0 < h <= bits:
        raise ServiceConfigError(
            f"source {cfg.name!r}: min-entropy per sample must lie in (0, {bits}], found {h:.6g}",
            key=f"sources.{cfg.name}.entropy",
        )
    return h


@dataclass
class SimulatedStream:
    """A :class:`~diamp.service.simulated.SimulatedDevice` paced at ``samples_per_second``.

    A paced read returns the device blocks that are due, at most :attr:`max_read_blocks`,
    drawn on one thread per core: one persisted position per read, so a fast device costs one
    durable cursor write per 2^20 samples, not per block. An unpaced read returns one block.
    """

    cfg: SimulatedSource
    clock: Callable[[], float] = time.monotonic
    device: SimulatedDevice = field(init=False)

    def __post_init__(self) -> None:
        self.name = self.cfg.name
        self.device = SimulatedDevice(self.cfg)
        self.bits_per_sample = self.device.bits_per_sample
        self._started = self.clock()
        self._emitted = 0
        self._threads: ThreadPoolExecutor | None = None

    @property
    def position(self) -> int:
        """Next block index."""
        return self.device.block

    def seek(self, position: int) -> None:
        """Resume at block ``position``."""
        self.device.block = position

    max_read_blocks: int = 16

    def read(self) -> np.ndarray | None:
        """The next due blocks (at least one), or None while the pacing rate holds them back."""
        rate = self.cfg.samples_per_second
        count = 1  # unpaced: one block a read, as fast as the reader asks
        if rate is not None:
            due = rate * (self.clock() - self._started) - self._emitted
            if due < 0:
                return None
            count = min(self.max_read_blocks, 1 + int(due) // BLOCK_SAMPLES)
        first = self.device.block
        if count == 1:
            out = self.device.block_at(first)
        else:  # the blocks are independent: drawn on every core
            if self._threads is None:
                self._threads = ThreadPoolExecutor(os.cpu_count() or 1, "diamp-device")
            out = np.concatenate(list(self._threads.map(self.device.block_at,
                                                        range(first, first + count))))  # fmt: skip
        self.device.block = first + count
        self._emitted += out.size
        return out

    def close(self) -> None:
        """Stop the drawing threads."""
        if self._threads is not None:
            self._threads.shutdown(wait=True)
            self._threads = None


@dataclass
class FileStream:
    """Samples from a file, or the files of a folder in name order, each read once.

    8-bit samples are the file's bytes; 1-bit samples are its bits, MSB-first.
    """

    name: str
    path: Path
    bits_per_sample: int
    block_bytes: int = 1 << 17
    reserve_reads: int = 16  # a read past the file's mark reserves this many reads ahead
    _offset: int = 0
    mark: StreamMark | None = None
    _reserved: int = 0

    def __post_init__(self) -> None:
        if self.path.is_dir():
            self.files = sorted(p for p in self.path.iterdir() if p.is_file())
        elif self.path.is_file():
            self.files = [self.path]
        else:
            raise SourceError(f"source {self.name!r}: {self.path} not found", path=str(self.path))
        self.sizes = [p.stat().st_size for p in self.files]

    @property
    def exhausted(self) -> bool:
        """True once every byte has been read."""
        return self._offset >= sum(self.sizes)

    @property
    def position(self) -> int:
        """Bytes read so far over all files."""
        return self._offset

    def seek(self, position: int) -> None:
        """Continue after ``position`` bytes."""
        self._offset = position

    def anchor(self, pool_id: str, cursor: int, *, recover: bool = False) -> int:
        """Keep the file's own record of what was read (``FILE.served.hwm``, beside it).

        Returns where the stream continues (checked against ``cursor``, the pool's position;
        see :class:`~diamp.service.hwm.StreamMark`) and seeks there.
        """
        head = b""
        if self.files:
            try:
                with self.files[0].open("rb") as fh:
                    head = fh.read(1 << 16)
            except OSError as err:
                where = self.files[0]
                raise SourceError(f"source {self.name!r}: {where}: {err}", path=str(where)) from err
        identity = hashlib.sha256(head).hexdigest()
        where = anchor_path(self.path, ".served.hwm")
        self.mark = StreamMark(self.name, where, f"sha256-64k:{identity}", pool_id)
        self.seek(start := self.mark.open(cursor, recover=recover))
        self._reserved = start
        return start

    def read(self) -> np.ndarray | None:
        """Up to ``block_bytes`` of the next file bytes as samples; None when all are read."""
        start = self._offset
        for p, size in zip(self.files, self.sizes, strict=True):
            if start < size:
                take = min(self.block_bytes, size - start)
                if self.mark is not None and self._offset + take > self._reserved:
                    ahead = self._offset + self.reserve_reads * self.block_bytes
                    self.mark.reserve(self._reserved, ahead)  # recorded before it is read
                    self._reserved = ahead
                with p.open("rb") as fh:
                    fh.seek(start)
                    data = fh.read(take)
                self._offset += len(data)
                raw = np.frombuffer(data, dtype=np.uint8)
                return raw.copy() if self.bits_per_sample == 8 else np.unpackbits(raw)
            start -= size
        return None


class SerialStream:
    """A serial QRNG through :class:`diamp.daq.qrng.SerialQrng` (its own stuck/bias checks)."""

    def __init__(self, cfg: SerialSource, block_bytes: int = 1 << 14) -> None:
        from diamp.daq.qrng import SerialQrng

        self.name = cfg.name
        self.bits_per_sample: int = cfg.bits_per_sample
        self.device = SerialQrng(cfg.url, mu=cfg.mu, name=cfg.name, timeout=cfg.timeout)
        self.block_bytes = block_bytes
        self._read = 0

    @property
    def position(self) -> int:
        """Bytes read in this process (a device cannot be rewound)."""
        return self._read

    def seek(self, position: int) -> None:
        """A device stream cannot be positioned: ignored."""

    def read(self) -> np.ndarray | None:
        """``block_bytes`` from the device; a device failure raises :class:`SourceError`."""
        try:
            data = self.device.read_bytes(self.block_bytes)
        except DiampError as err:
            raise SourceError(f"source {self.name!r}: {err}", source=self.name) from err
        self._read += len(data)
        raw = np.frombuffer(data, dtype=np.uint8)
        return raw.copy() if self.bits_per_sample == 8 else np.unpackbits(raw)

    def close(self) -> None:
        """Close the port."""
        self.device.close()


@dataclass(frozen=True)
class DiraKey:
    """A certified DIRA key: whole bytes usable as-is, its certificate's identity and provenance.

    ``provenance`` is the certificate's (``status`` "unknown" when it has none);
    ``allowed_simulated`` is set by :func:`admit_dira` when the key was admitted only because
    the config says ``allow_simulated = true``.
    """

    name: str
    key: bytes
    certificate_path: Path
    certificate_sha512: str
    run_id: str
    provenance: dict[str, Any] = field(default_factory=dict)
    allowed_simulated: bool = False

    @property
    def simulated(self) -> bool | None:
        """False only for a recorded provenance with no simulated part; None when unknown."""
        return dira_simulated(self.provenance)

    def origin(self) -> dict[str, Any]:
        """JSON-ready: simulated (true/false/null), provenance status, parts, how admitted."""
        p = self.provenance
        return {
            "simulated": self.simulated,
            "status": str(p.get("status", "unknown")),
            "simulated_parts": _parts(p),
            "allowed_simulated": self.allowed_simulated,
        }


def dira_simulated(provenance: Any) -> bool | None:
    """Whether a certificate's provenance says simulated: True, False, or None (unknown).

    Hardware (False) needs ``status = "recorded"``, ``simulated = false``, no simulated parts
    listed, and every part (inputs, z, outcomes; timing when present) saying
    ``simulated = false``; a part that says otherwise, or does not say, makes it simulated
    (as :func:`diamp.protocol.provenance.run_provenance` counts); anything else is unknown.
    """
    if not isinstance(provenance, dict):
        return None
    if provenance.get("simulated") is True:
        return True
    if provenance.get("status") != "recorded" or provenance.get("simulated") is not False:
        return None
    for key in PARTS:
        part = provenance.get(key)
        if part is None and key == "timing":
            continue
        if not isinstance(part, dict):
            return None
        if part.get("simulated", True) is not False:
            return True
    return None if provenance.get("simulated_parts") else False


def _parts(provenance: dict[str, Any]) -> list[str]:
    """The simulated parts a provenance lists, else the parts that do not deny it."""
    parts = provenance.get("simulated_parts")
    if isinstance(parts, list) and parts:
        return [str(p) for p in parts]
    return [
        key for key in PARTS
        if isinstance(provenance.get(key), dict)
        and provenance[key].get("simulated", True) is not False
    ]  # fmt: skip


def combine_simulated(flags: Iterable[bool | None]) -> bool | None:
    """Simulated flag of sources XOR-ed together: True, else None (unknown), else False.

    True if one is simulated, None if one is of unknown provenance, False if all are hardware.
    """
    seen = list(flags)
    return True if True in seen else (None if None in seen else False)


def admit_dira(key: DiraKey, allow_simulated: bool, what: str, where: str, flag: str) -> DiraKey:
    """``key`` if its run is from hardware, or marked as admitted if ``allow_simulated``.

    Raises
    ------
    ServiceConfigError
        For a simulated or unknown-provenance run without ``allow_simulated``: names ``what``
        (the source or the extractor seed), the certificate, the provenance and the setting
        to change (``allow_simulated = true`` in ``where``; ``flag`` is its dotted key).
    """
    simulated = key.simulated
    if simulated is False:
        return key
    if allow_simulated:
        return replace(key, allowed_simulated=True)
    p = key.provenance
    if simulated:
        parts = ", ".join(_parts(p)) or "not named"
        found = f"SIMULATED (provenance status {p.get('status')!r}, simulated parts: {parts})"
    else:
        reason = p.get("reason") or "the certificate does not say where its data came from"
        found = f"of UNKNOWN provenance (status {p.get('status', 'unknown')!r}: {reason})"
    raise ServiceConfigError(
        f"{what}: the DIRA run certified by {key.certificate_path} is {found}; simulated "
        f"randomness never passes for certified. Set allow_simulated = true in {where} to "
        "use it anyway, marked simulated in /v1/status, the X-Diamp-Simulated header and "
        "beacon pulses",
        key=flag, path=str(key.certificate_path),
    )  # fmt: skip


def load_dira_key(name: str, run: Path) -> DiraKey:
    """Load and check ``run``/certificate.json and its key; keep the key's whole bytes.

    The run is read by :func:`diamp.protocol.certificate.load_certified_run`, as the run
    report reads it: when the folder holds the trial store, every block, AB, Z and the
    config are verified against the certificate; a served folder may hold only the
    certificate and the key, which are then checked against each other.

    Raises
    ------
    SourceError
        If a file is missing, the status is not "ok", the certificate fails its checks, or
        the key's size or SHA-256 differs from the certificate (the message names the file
        and the field).
    """
    from diamp.protocol.certificate import load_certified_run

    try:
        has_store = (run / "trials.h5").exists()
        run_data = load_certified_run(run, require_key=True, check_store=has_store)
    except StorageError as err:
        path = err.fields.get("path", str(run))
        raise SourceError(f"source {name!r}: {err}", source=name, path=path) from err
    cert, key = run_data.certificate, run_data.key or b""
    return DiraKey(
        name, key[: cert.output_bits // 8], run_data.path, run_data.certificate_sha512,
        cert.run_id, dict(cert.provenance),
    )  # fmt: skip


def source_origin(cfg: SimulatedSource | SerialSource | FileSource) -> dict[str, Any]:
    """Where a raw source's samples come from: ``simulated`` true, false or null (unknown).

    ``kind = "simulated"`` and serial URLs of a simulation (``qrngsim://``, ``loop://``) are
    simulated; another serial URL is a device; a file does not say where its samples came
    from, so its provenance is unknown.
    """
    if isinstance(cfg, SimulatedSource):
        seed = "fresh from os.urandom" if cfg.seed is None else cfg.seed
        return {"simulated": True, "basis": f"simulated {cfg.family} QRNG (seed {seed})"}
    if isinstance(cfg, SerialSource):
        if cfg.url.startswith(SIMULATED_URLS):
            return {"simulated": True, "basis": f"simulated serial device {cfg.url}"}
        return {"simulated": False, "basis": f"serial device {cfg.url}"}
    return {"simulated": None, "basis": "file of samples (does not say where they came from)"}


def open_stream(
    cfg: SimulatedSource | SerialSource | FileSource,
    settings: ServiceSettings,
    clock: Callable[[], float] = time.monotonic,
) -> RawStream:
    """The raw stream a source config describes (``clock`` paces a simulated device)."""
    if isinstance(cfg, SimulatedSource):
        return SimulatedStream(cfg, clock)
    if isinstance(cfg, SerialSource):
        return SerialStream(cfg)
    return FileStream(cfg.name, settings.resolve(cfg.path), cfg.bits_per_sample)
