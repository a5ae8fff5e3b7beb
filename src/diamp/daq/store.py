"""Trial store v2: one HDF5 file per run, crash-safe, with a fixed schema outside tools can read.

Layout (documented for users in ``docs/trial-store.md``)::

    trials.h5              the root: attrs schema = "diamp.trials", schema_version = 2, run_id,
                           config (the run config as TOML text), config_sha256,
                           software_version, created_utc (+ station_snapshot, timing_section)
    trials.h5:/blocks/000000  external link to trials.blocks/000000.h5:/block
    trials.blocks/000000.h5:/block/trials
                           uint8, one trial per byte, v = 8x + 4y + 2a + b (lzf-compressed)
    trials.blocks/000000.h5:/block
                           attrs: n_trials, sha256 (of the uint8 trial bytes), status
                           ("complete"), run_id (must equal the root's), snapshot, …
    trials.h5:/z           external link to trials.z.h5:/z, uint8, Z packed MSB-first;
                           attrs: bits, sha256 (of the packed bytes)

HDF5 follows the links transparently (``f["blocks/000000/trials"]``). Crash safety: every
file is written under a temporary name, fsynced and renamed into place, and the small root
is rewritten the same way after each block; a kill at any moment therefore leaves the
previous root (without the block in flight) or the new one, never a half-written file.
Readers verify every checksum and refuse incomplete, foreign or corrupted blocks with a
:class:`~diamp.errors.StoreIntegrityError` naming the block. h5py objects never leave
this module. Schema 1 stores (blocks inside the root file) are still read.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self, TypeVar

import numpy as np

from diamp import __version__
from diamp.daq.atomic import write_h5_atomic
from diamp.errors import DiampError, StorageError, StoreIntegrityError

if TYPE_CHECKING:
    import h5py

__all__ = ["SCHEMA", "SCHEMA_VERSION", "BlockInfo", "TrialStoreReader", "TrialStoreWriter"]

SCHEMA = "diamp.trials"
T = TypeVar("T")
SCHEMA_VERSION = 2
_READABLE_VERSIONS = (1, 2)
_CHUNK = 2**20
_STATUS_COMPLETE = "complete"
_STATUS_WRITING = "writing"


def block_name(index: int) -> str:
    """The group name of block ``index`` ("000000", "000001", …)."""
    return f"{index:06d}"


def sha256_hex(data: np.ndarray) -> str:
    """SHA-256 of the raw bytes of a contiguous ``uint8`` array."""
    return hashlib.sha256(np.ascontiguousarray(data).data).hexdigest()


def block_dir(root: Path) -> Path:
    """The directory of a store's block files (``trials.h5`` -> ``trials.blocks/``)."""
    return root.with_name(root.stem + ".blocks")


def z_file(root: Path) -> Path:
    """The file holding a store's Z (``trials.h5`` -> ``trials.z.h5``)."""
    return root.with_name(root.stem + ".z.h5")


@dataclass(frozen=True)
class BlockInfo:
    """What the store says about one block."""

    index: int
    n_trials: int
    sha256: str
    status: str


def _attr_str(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _check_trials(index: int, data: np.ndarray) -> None:
    if data.dtype != np.uint8 or data.ndim != 1 or data.size == 0:
        raise StorageError(f"block {index}: trials must be a non-empty 1-d uint8 array")
    if int(data.max()) >= 16:
        bad = int(np.argmax(data >= 16))
        raise StorageError(
            f"block {index}: invalid trial value {int(data[bad])} at position {bad} "
            "(v = 8x + 4y + 2a + b must be 0..15)"
        )


def _check_z(packed: np.ndarray, bits: int) -> None:
    if packed.dtype != np.uint8 or packed.ndim != 1 or packed.size != (bits + 7) // 8:
        raise StorageError(
            f"z: expected {(bits + 7) // 8} packed uint8 bytes for {bits} bits, "
            f"found {packed.dtype} {packed.shape}"
        )
    spare = 8 * packed.size - bits
    if spare and int(packed[-1]) & ((1 << spare) - 1):
        raise StorageError(f"z: the {spare} padding bits after bit {bits} are not zero")


class TrialStoreWriter:
    """Create a run store and append blocks to it (crash-safe: see the module docs).

    A block becomes part of the run only when its file is complete on disk and the root that
    links it has been renamed into place, so a crash loses at most the block in flight.
    """

    def __init__(self, path: str | Path, run_id: str, config_text: str, config_sha256: str) -> None:
        self.path = Path(path)
        self._blocks_dir = block_dir(self.path)
        taken = [p for p in (self.path, z_file(self.path)) if p.exists()]
        if self._blocks_dir.is_dir() and any(self._blocks_dir.iterdir()):
            taken.append(self._blocks_dir)
        if taken:
            raise StorageError(
                f"{taken[0]}: cannot create trial store: the path already exists",
                path=str(self.path),
            )
        self._attrs: dict[str, Any] = {
            "schema": SCHEMA,
            "schema_version": SCHEMA_VERSION,
            "run_id": run_id,
            "config": config_text,
            "config_sha256": config_sha256,
            "software_version": __version__,
            "created_utc": datetime.now(UTC).isoformat(),
        }
        self.n_blocks = 0
        self.has_z = False
        try:
            self._blocks_dir.mkdir(exist_ok=True)
        except OSError as err:
            raise StorageError(
                f"{self._blocks_dir}: cannot create trial store: {err}", path=str(self.path)
            ) from err
        self._write_root()

    @property
    def run_id(self) -> str:
        """The run identifier."""
        return str(self._attrs["run_id"])

    def _write_root(self) -> None:
        import h5py

        def build(f: h5py.File) -> None:
            for key, value in self._attrs.items():
                f.attrs[key] = value
            blocks = f.create_group("blocks")
            prefix = self._blocks_dir.name
            for index in range(self.n_blocks):
                name = block_name(index)
                blocks[name] = h5py.ExternalLink(f"{prefix}/{name}.h5", "/block")
            if self.has_z:
                f["z"] = h5py.ExternalLink(z_file(self.path).name, "/z")

        write_h5_atomic(self.path, build, "trial store root")

    @classmethod
    def resume(cls, path: str | Path, config_sha256: str) -> TrialStoreWriter:
        """Reopen an interrupted store to append further blocks.

        The store must have been started with the same config (by SHA-256). Linked blocks
        are verified (status, run id and checksum); an incomplete *last* block is dropped; an
        incomplete block before a complete one, or a checksum mismatch, is refused. Block
        files the root does not link (the block in flight at a kill) and temporary files are
        deleted; a Z that does not verify is dropped and drawn again.
        """
        with TrialStoreReader(path) as reader:
            if reader.schema_version != SCHEMA_VERSION:
                raise StoreIntegrityError(
                    f"{path}: a schema {reader.schema_version} store cannot be resumed by this "
                    f"diamp (writes schema {SCHEMA_VERSION}); start a new run",
                    path=str(path),
                )
            stored = _attr_str(reader._file.attrs.get("config_sha256", ""))
            if stored != config_sha256:
                raise StoreIntegrityError(
                    f"{path}: the run was started with another config (sha256 {stored}); "
                    "resume with the config it started with",
                    path=str(path),
                )
            complete = reader.verified_prefix()
            trials = sum(info.n_trials for info in reader.blocks()[:complete])
            try:
                z_ok = reader.verify_z()[0] == 2 * trials  # Z belongs to exactly these blocks
            except StoreIntegrityError:
                z_ok = False
            attrs = {key: reader._file.attrs[key] for key in reader._file.attrs}
        writer = cls.__new__(cls)
        writer.path = Path(path)
        writer._blocks_dir = block_dir(writer.path)
        writer._attrs = attrs
        writer.n_blocks = complete
        writer.has_z = z_ok
        writer._write_root()
        writer._remove_strays()
        return writer

    def _remove_strays(self) -> None:
        """Delete block files the root does not link, and leftovers of interrupted writes."""
        linked = {f"{block_name(i)}.h5" for i in range(self.n_blocks)}
        for entry in self._blocks_dir.iterdir():
            if entry.name not in linked:
                entry.unlink()
        zpath = z_file(self.path)
        leftovers = [
            self.path.with_name(self.path.name + ".tmp"),
            zpath.with_name(zpath.name + ".tmp"),
        ]
        if not self.has_z:
            leftovers.append(zpath)
        for leftover in leftovers:
            leftover.unlink(missing_ok=True)

    def set_attribute(self, name: str, text: str) -> None:
        """Store a text attribute on the root (e.g. the station snapshot), crash-safe."""
        self._attrs[name] = text
        self._write_root()

    def append_block(self, trials: np.ndarray, attrs: dict[str, str] | None = None) -> BlockInfo:
        """Write the next block (``uint8`` trials) and link it from the root.

        ``attrs`` are extra text attributes of the block (e.g. its instrument snapshot).
        """
        data = np.ascontiguousarray(trials)
        _check_trials(self.n_blocks, data)
        index = self.n_blocks
        digest = sha256_hex(data)

        def build(f: h5py.File) -> None:
            group = f.create_group("block")
            group.create_dataset(
                "trials",
                data=data,
                chunks=(min(_CHUNK, data.size),),
                compression="lzf",
                shuffle=False,
            )
            for key, value in (attrs or {}).items():
                group.attrs[key] = value
            group.attrs["n_trials"] = data.size
            group.attrs["sha256"] = digest
            group.attrs["run_id"] = self.run_id
            group.attrs["status"] = _STATUS_COMPLETE

        write_h5_atomic(self._blocks_dir / f"{block_name(index)}.h5", build, "block file")
        self.n_blocks += 1
        self._write_root()
        return BlockInfo(index, data.size, digest, _STATUS_COMPLETE)

    def write_z(self, packed: np.ndarray, bits: int) -> str:
        """Store Z (packed MSB-first, ``bits`` valid bits); returns its SHA-256."""
        _check_z(packed, bits)
        digest = sha256_hex(packed)

        def build(f: h5py.File) -> None:
            chunks = (min(_CHUNK, packed.size),) if packed.size else None
            ds = f.create_dataset("z", data=packed, chunks=chunks)
            ds.attrs["bits"] = bits
            ds.attrs["sha256"] = digest
            ds.attrs["run_id"] = self.run_id

        write_h5_atomic(z_file(self.path), build, "Z file")
        self.has_z = True
        self._write_root()
        return digest

    def close(self) -> None:
        """Nothing to flush: every write is complete on disk when its method returns."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _fail_closed(method: Callable[..., T]) -> Callable[..., T]:
    """Turn h5py's internal errors (damaged metadata, e.g. after a kill) into diamp errors."""

    @functools.wraps(method)
    def wrapper(self: TrialStoreReader, *args: Any, **kwargs: Any) -> T:
        try:
            return method(self, *args, **kwargs)
        except DiampError:
            raise
        except (RuntimeError, KeyError, ValueError, OSError) as err:
            raise StoreIntegrityError(
                f"{self.path}: damaged HDF5 structure ({type(err).__name__}: {err}); "
                "the store cannot be trusted",
                path=str(self.path),
            ) from err

    return wrapper


class TrialStoreReader:
    """Read a trial store, verifying the schema and every checksum."""

    def __init__(self, path: str | Path) -> None:
        import h5py

        self.path = Path(path)
        try:
            self._file = h5py.File(self.path, "r")
        except FileNotFoundError as err:
            raise StorageError(f"{self.path}: trial store not found", path=str(self.path)) from err
        except OSError as err:
            raise StoreIntegrityError(
                f"{self.path}: not a readable HDF5 trial store: {err}", path=str(self.path)
            ) from err
        try:
            self._check_root()
        except DiampError:
            self._file.close()
            raise
        except (RuntimeError, KeyError, ValueError, OSError) as err:
            self._file.close()
            raise StoreIntegrityError(
                f"{self.path}: damaged HDF5 structure ({type(err).__name__}: {err})",
                path=str(self.path),
            ) from err

    def _fail(self, where: str, message: str, **fields: Any) -> StoreIntegrityError:
        return StoreIntegrityError(
            f"{self.path}: {where}: {message}", path=str(self.path), **fields
        )

    def _check_root(self) -> None:
        attrs = self._file.attrs
        schema = _attr_str(attrs.get("schema", ""))
        if schema != SCHEMA:
            raise self._fail("root", f"schema: expected {SCHEMA!r}, found {schema!r}")
        version = attrs.get("schema_version")
        if version is None or int(version) not in _READABLE_VERSIONS:
            raise self._fail(
                "root",
                f"schema_version: expected one of {_READABLE_VERSIONS}, found {version!r}",
            )
        self.schema_version = int(version)
        for key in ("run_id", "config"):
            if key not in attrs:
                raise self._fail("root", f"missing attribute {key!r}")
        if "blocks" not in self._file:
            raise self._fail("root", "missing group /blocks")

    @property
    def run_id(self) -> str:
        """The run identifier."""
        return _attr_str(self._file.attrs["run_id"])

    def attribute(self, name: str) -> str | None:
        """A text attribute of the run (e.g. ``timing_section``), or None."""
        value = self._file.attrs.get(name)
        return None if value is None else _attr_str(value)

    @property
    def config_text(self) -> str:
        """The run config (TOML text) stored with the run."""
        return _attr_str(self._file.attrs["config"])

    @_fail_closed
    def blocks(self) -> list[BlockInfo]:
        """Every block in order; refuses gaps in the numbering."""
        names = sorted(self._file["blocks"].keys())
        infos = []
        for expected, name in enumerate(names):
            if name != block_name(expected):
                raise self._fail(
                    f"block {block_name(expected)}", f"missing (next block found: {name})"
                )
            group = self._group(expected)
            infos.append(
                BlockInfo(
                    index=expected,
                    n_trials=int(group.attrs.get("n_trials", -1)),
                    sha256=_attr_str(group.attrs.get("sha256", "")),
                    status=_attr_str(group.attrs.get("status", "")),
                )
            )
        return infos

    def _group(self, index: int) -> h5py.Group:
        """Block ``index``'s group, following the link to its file; refuses a foreign block."""
        name = block_name(index)
        link = self._file["blocks"].get(name, getlink=True)
        target = getattr(link, "filename", None)
        try:
            group = self._file["blocks"][name]
        except (KeyError, OSError, RuntimeError) as err:
            where = f"its file {target} is missing or unreadable" if target else "unreadable"
            raise self._fail(f"block {name}", f"{where} ({err})", block=index) from err
        if self.schema_version >= 2:
            owner = _attr_str(group.attrs.get("run_id", ""))
            if owner != self.run_id:
                raise self._fail(
                    f"block {name}",
                    f"belongs to run {owner!r}, not to this run {self.run_id!r}",
                    block=index,
                )
        return group

    @_fail_closed
    def verified_prefix(self) -> int:
        """How many leading blocks are complete and verify; refuses a damaged middle.

        An incomplete *last* block is tolerated (it was in flight); a complete block after
        an incomplete one, or any checksum mismatch, raises naming the block.
        """
        infos = self.blocks()
        complete = 0
        for info in infos:
            if info.status != _STATUS_COMPLETE:
                break
            self.read_block(info)  # checksum verified, or raise naming the block
            complete += 1
        if any(info.status == _STATUS_COMPLETE for info in infos[complete:]):
            raise self._fail(
                f"block {block_name(complete)}",
                "incomplete but later blocks are complete; the store is not a clean prefix "
                "of a run",
                block=complete,
            )
        return complete

    @_fail_closed
    def read_block(self, info: BlockInfo) -> np.ndarray:
        """The trials of one block, after checking status, size and SHA-256."""
        where = f"block {block_name(info.index)}"
        if info.status != _STATUS_COMPLETE:
            raise self._fail(
                where, f"incomplete (status {info.status!r}, expected 'complete')", block=info.index
            )
        group = self._group(info.index)
        if "trials" not in group:
            raise self._fail(where, "dataset 'trials' is missing", block=info.index)
        ds = group["trials"]
        if ds.dtype != np.uint8 or ds.ndim != 1:
            raise self._fail(
                where, f"trials: expected 1-d uint8, found {ds.dtype} {ds.shape}", block=info.index
            )
        if ds.shape[0] != info.n_trials:
            raise self._fail(
                where,
                f"n_trials: attribute says {info.n_trials}, dataset holds {ds.shape[0]}",
                block=info.index,
            )
        try:
            data = ds[()]
        except OSError as err:
            raise self._fail(where, f"unreadable data ({err})", block=info.index) from err
        found = sha256_hex(data)
        if found != info.sha256:
            raise self._fail(
                where, f"sha256 mismatch (expected {info.sha256}, found {found})", block=info.index
            )
        return np.asarray(data, dtype=np.uint8)

    @_fail_closed
    def read_slice(self, info: BlockInfo, start: int, stop: int) -> np.ndarray:
        """Trials ``[start, stop)`` of a block (no checksum: verify the block with read_block)."""
        try:
            data = self._group(info.index)["trials"][start:stop]
        except (OSError, KeyError) as err:
            raise self._fail(f"block {block_name(info.index)}", f"unreadable ({err})") from err
        return np.asarray(data, dtype=np.uint8)

    def iter_blocks(self) -> Iterator[tuple[BlockInfo, np.ndarray]]:
        """Stream (info, trials) block by block, verified."""
        for info in self.blocks():
            yield info, self.read_block(info)

    def n_trials(self) -> int:
        """Total trials over all blocks (from the attributes; reading verifies them)."""
        return sum(info.n_trials for info in self.blocks())

    def _z(self) -> h5py.Dataset:
        """The ``/z`` dataset, following the link to its file; refuses a foreign Z."""
        if "z" not in self._file:
            raise self._fail("z", "dataset /z is missing (the run did not finish drawing Z)")
        link = self._file.get("z", getlink=True)
        try:
            ds = self._file["z"]
        except (KeyError, OSError, RuntimeError) as err:
            target = getattr(link, "filename", "the root file")
            raise self._fail("z", f"{target} is missing or unreadable ({err})") from err
        if self.schema_version >= 2 and _attr_str(ds.attrs.get("run_id", "")) != self.run_id:
            raise self._fail("z", f"belongs to run {_attr_str(ds.attrs.get('run_id', ''))!r}")
        return ds

    @_fail_closed
    def verify_z(self, chunk_bytes: int = 2**24) -> tuple[int, str]:
        """Check Z's size and SHA-256 by streaming it; returns (bits, sha256)."""
        import hashlib

        ds = self._z()
        if "bits" not in ds.attrs:
            raise self._fail("z", "missing attribute 'bits'")
        bits = int(ds.attrs["bits"])
        expected = _attr_str(ds.attrs.get("sha256", ""))
        size = (bits + 7) // 8
        if ds.dtype != np.uint8 or ds.ndim != 1 or ds.shape[0] != size:
            raise self._fail(
                "z", f"expected {size} packed uint8 bytes for {bits} bits, found {ds.shape}"
            )
        digest = hashlib.sha256()
        try:
            for start in range(0, size, chunk_bytes):
                digest.update(np.ascontiguousarray(ds[start : start + chunk_bytes]).data)
        except OSError as err:
            raise self._fail("z", f"unreadable data ({err})") from err
        if digest.hexdigest() != expected:
            raise self._fail(
                "z", f"sha256 mismatch (expected {expected}, found {digest.hexdigest()})"
            )
        return bits, expected

    @_fail_closed
    def read_z(self) -> tuple[np.ndarray, int]:
        """Z as (packed bytes MSB-first, number of bits), after checking size and SHA-256."""
        ds = self._z()
        bits = ds.attrs.get("bits")
        expected_digest = _attr_str(ds.attrs.get("sha256", ""))
        if bits is None:
            raise self._fail("z", "missing attribute 'bits'")
        bits = int(bits)
        if ds.dtype != np.uint8 or ds.ndim != 1 or ds.shape[0] != (bits + 7) // 8:
            raise self._fail(
                "z",
                f"expected {(bits + 7) // 8} packed uint8 bytes for {bits} bits, found {ds.shape}",
            )
        try:
            packed = np.asarray(ds[()], dtype=np.uint8)
        except OSError as err:
            raise self._fail("z", f"unreadable data ({err})") from err
        found = sha256_hex(packed)
        if found != expected_digest:
            raise self._fail("z", f"sha256 mismatch (expected {expected_digest}, found {found})")
        return packed, bits

    def close(self) -> None:
        """Close the file."""
        self._file.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class StoreAbBits:
    """The AB string of a trial store as a streaming bit source.

    AB = a_0 b_0 a_1 b_1 … over all blocks except ``exclude`` (by the timing checks), 2 bits
    per trial, 4 trials per byte, MSB-first.
    Each block's status and SHA-256 are verified the first time it is touched; a failure
    raises :class:`StoreIntegrityError` naming the block. Pickles as the path.
    """

    def __init__(self, path: str | Path, exclude: tuple[int, ...] = ()) -> None:
        self.path = Path(path)
        with TrialStoreReader(self.path) as reader:
            self._blocks = [b for b in reader.blocks() if b.index not in exclude]
        self._starts = np.cumsum([0] + [b.n_trials for b in self._blocks])
        self._reader: TrialStoreReader | None = None
        self._verified: set[int] = set()

    @property
    def nbits(self) -> int:
        """2 × the number of trials."""
        return 2 * int(self._starts[-1])

    def _trials(self, first: int, last: int) -> np.ndarray:
        """Trials ``[first, last)`` across blocks (each block verified once)."""
        if self._reader is None:
            self._reader = TrialStoreReader(self.path)
        out = np.empty(last - first, dtype=np.uint8)
        index = int(np.searchsorted(self._starts, first, side="right")) - 1
        pos = first
        while pos < last:
            info = self._blocks[index]
            if index not in self._verified:
                self._reader.read_block(info)  # status, size and checksum, or raise
                self._verified.add(index)
            lo = pos - int(self._starts[index])
            hi = min(info.n_trials, last - int(self._starts[index]))
            out[pos - first : pos - first + hi - lo] = self._reader.read_slice(info, lo, hi)
            pos += hi - lo
            index += 1
        return out

    def read_bytes(self, start: int, stop: int) -> np.ndarray:
        """Packed AB bytes ``[start, stop)``, clipped to the string."""
        n = int(self._starts[-1])
        first, last = max(0, 4 * start), min(n, 4 * stop)
        if last <= first:
            return np.zeros(0, dtype=np.uint8)
        trials = self._trials(first, last)
        ab = np.empty(2 * trials.size, dtype=np.uint8)
        ab[0::2] = (trials >> 1) & 1
        ab[1::2] = trials & 1
        return np.packbits(ab)

    def __getstate__(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "_blocks": self._blocks,
            "_starts": self._starts,
            "_reader": None,
            "_verified": set(),
        }
