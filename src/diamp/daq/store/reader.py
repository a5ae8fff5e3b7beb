"""Trial store reader and the AB bit source (see :mod:`diamp.daq.store`)."""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

import numpy as np

from diamp.daq.store._layout import (
    _READABLE_VERSIONS,
    _STATUS_COMPLETE,
    BLOCK_BASE,
    BLOCK_HASHES,
    ROOT_BASE,
    SCHEMA,
    BlockInfo,
    T,
    _attr_str,
    block_name,
    sha256_hex,
    text_sha256,
)
from diamp.errors import DiampError, StorageError, StoreIntegrityError

if TYPE_CHECKING:
    import h5py

__all__ = ["StoreAbBits", "TrialStoreReader"]


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
        self._config = self._verified_config()
        self._hashes = self._root_hashes()
        if self.schema_version >= 3:
            # the config was just checked against config_sha256, with its own message
            self._check_text_attrs(self._file.attrs, ROOT_BASE | {"config"}, "root")

    def _verified_config(self) -> str:
        """The stored config text, checked against ``config_sha256`` (every read)."""
        text = _attr_str(self._file.attrs["config"])
        stored = self._file.attrs.get("config_sha256")
        if stored is None:
            if self.schema_version >= 2:
                raise self._fail("root", "missing attribute 'config_sha256'")
            return text
        found = text_sha256(text)
        if found != _attr_str(stored):
            raise self._fail(
                "config",
                f"the stored config does not match config_sha256 (expected {_attr_str(stored)}, "
                f"found {found}): it was edited after the run started",
                field="config",
            )
        return text

    def _check_text_attrs(
        self, attrs: Any, base: frozenset[str], where: str, **fields: Any
    ) -> None:
        """Every text attribute X beyond ``base`` matches its X_sha256 (schema 3)."""
        for name in attrs:
            if name in base or name.endswith("_sha256"):
                continue
            stored = attrs.get(f"{name}_sha256")
            found = text_sha256(_attr_str(attrs[name]))
            if stored is None or _attr_str(stored) != found:
                raise self._fail(
                    where,
                    f"attribute {name!r} does not match {name}_sha256 (expected "
                    f"{'nothing' if stored is None else _attr_str(stored)}, found {found}): "
                    "it was edited after it was written",
                    field=name,
                    **fields,
                )

    def _root_hashes(self) -> list[str] | None:
        """The root's list of block SHA-256 (schema 3), or None for older stores."""
        if self.schema_version < 3:
            return None
        raw = self._file.attrs.get(BLOCK_HASHES)
        try:
            hashes = json.loads(_attr_str(raw)) if raw is not None else None
        except ValueError:
            hashes = None
        if not isinstance(hashes, list) or not all(isinstance(h, str) for h in hashes):
            raise self._fail("root", f"{BLOCK_HASHES}: expected a JSON list of hex digests")
        return hashes

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
        """The run config (TOML text) stored with the run, verified against its SHA-256."""
        return self._config

    @_fail_closed
    def blocks(self) -> list[BlockInfo]:
        """Every block in order; refuses gaps in the numbering."""
        names = sorted(self._file["blocks"].keys())
        for expected, name in enumerate(names):
            if name != block_name(expected):
                raise self._fail(
                    f"block {block_name(expected)}", f"missing (next block found: {name})"
                )
        if self._hashes is not None and len(self._hashes) != len(names):
            raise self._fail(
                "root",
                f"{BLOCK_HASHES} lists {len(self._hashes)} blocks, /blocks links {len(names)}",
            )
        infos = []
        for expected, name in enumerate(names):
            group = self._group(expected)
            digest = _attr_str(group.attrs.get("sha256", ""))
            if self._hashes is not None and digest != self._hashes[expected]:
                raise self._fail(
                    f"block {name}",
                    f"sha256 {digest} is not the one the root recorded for this block "
                    f"({self._hashes[expected]}): the block file was replaced or reordered",
                    block=expected,
                )
            infos.append(
                BlockInfo(
                    index=expected,
                    n_trials=int(group.attrs.get("n_trials", -1)),
                    sha256=digest,
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
        if self.schema_version >= 3:
            self._check_text_attrs(group.attrs, BLOCK_BASE, f"block {name}", block=index)
            recorded = group.attrs.get("index")
            if recorded is None or int(recorded) != index:
                raise self._fail(
                    f"block {name}",
                    f"the file records index {recorded!r}, linked as block {index}: "
                    "block files were renamed or reordered",
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
