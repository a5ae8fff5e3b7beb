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
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from diamp.analysis.entropy_models import vacuum_min_entropy, vacuum_min_entropy_worst_case
from diamp.errors import DiampError, StorageError
from diamp.service.errors import ServiceConfigError, SourceError
from diamp.service.settings import (
    FileSource,
    SerialSource,
    ServiceSettings,
    SimulatedSource,
    VacuumEntropyModel,
)
from diamp.service.simulated import SimulatedDevice

__all__ = [
    "DiraKey",
    "FileStream",
    "RawStream",
    "SerialStream",
    "SimulatedStream",
    "declared_min_entropy",
    "load_dira_key",
    "open_stream",
]


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
    """A :class:`~diamp.service.simulated.SimulatedDevice` paced at ``samples_per_second``."""

    cfg: SimulatedSource
    clock: Callable[[], float] = time.monotonic
    device: SimulatedDevice = field(init=False)

    def __post_init__(self) -> None:
        self.name = self.cfg.name
        self.device = SimulatedDevice(self.cfg)
        self.bits_per_sample = self.device.bits_per_sample
        self._started = self.clock()
        self._emitted = 0

    @property
    def position(self) -> int:
        """Next block index."""
        return self.device.block

    def seek(self, position: int) -> None:
        """Resume at block ``position``."""
        self.device.block = position

    def read(self) -> np.ndarray | None:
        """The next block, or None while the pacing rate holds it back."""
        rate = self.cfg.samples_per_second
        if rate is not None and self._emitted > rate * (self.clock() - self._started):
            return None
        block = self.device.next_block()
        self._emitted += block.size
        return block


@dataclass
class FileStream:
    """Samples from a file, or the files of a folder in name order, each read once.

    8-bit samples are the file's bytes; 1-bit samples are its bits, MSB-first.
    """

    name: str
    path: Path
    bits_per_sample: int
    block_bytes: int = 1 << 17
    _offset: int = 0

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

    def read(self) -> np.ndarray | None:
        """Up to ``block_bytes`` of the next file bytes as samples; None when all are read."""
        start = self._offset
        for p, size in zip(self.files, self.sizes, strict=True):
            if start < size:
                with p.open("rb") as fh:
                    fh.seek(start)
                    data = fh.read(min(self.block_bytes, size - start))
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
    """A certified DIRA key: whole bytes usable as-is, and its certificate's identity."""

    name: str
    key: bytes
    certificate_path: Path
    certificate_sha512: str
    run_id: str


def load_dira_key(name: str, run: Path) -> DiraKey:
    """Load and check ``run``/certificate.json and its key; keep the key's whole bytes.

    The run is read by :func:`diamp.protocol.certificate.load_certified_run`, as the run
    report reads it (without the trial store: a served run folder need not hold it).

    Raises
    ------
    SourceError
        If a file is missing, the status is not "ok", the certificate fails its checks, or
        the key's size or SHA-256 differs from the certificate (the message names the file
        and the field).
    """
    from diamp.protocol.certificate import load_certified_run

    try:
        run_data = load_certified_run(run, require_key=True, check_store=False)
    except StorageError as err:
        path = err.fields.get("path", str(run))
        raise SourceError(f"source {name!r}: {err}", source=name, path=path) from err
    cert, key = run_data.certificate, run_data.key or b""
    return DiraKey(
        name, key[: cert.output_bits // 8], run_data.path, run_data.certificate_sha512, cert.run_id
    )


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
