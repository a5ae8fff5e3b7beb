"""Trial store writer (see :mod:`diamp.daq.store` for the layout)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

import numpy as np

from diamp import __version__
from diamp.daq.atomic import temporaries, write_h5_atomic
from diamp.daq.store._layout import (
    _CHUNK,
    _STATUS_COMPLETE,
    BLOCK_HASHES,
    SCHEMA,
    SCHEMA_VERSION,
    BlockInfo,
    _attr_str,
    _check_trials,
    _check_z,
    block_dir,
    block_name,
    sha256_hex,
    text_sha256,
    z_file,
)
from diamp.daq.store.deflate import write_deflated
from diamp.daq.store.reader import TrialStoreReader
from diamp.errors import ConfigError, StorageError, StoreIntegrityError

if TYPE_CHECKING:
    import h5py

__all__ = ["TrialStoreWriter"]


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
        if text_sha256(config_text) != config_sha256:
            raise StorageError(
                f"{self.path}: config_sha256 {config_sha256} is not the SHA-256 of the config "
                f"text ({text_sha256(config_text)})",
                path=str(self.path),
            )
        self._hashes: list[str] = []
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
            f.attrs[BLOCK_HASHES] = json.dumps(self._hashes[: self.n_blocks])
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
        are verified (status, index, run id, checksum against the root's list); an incomplete
        *last* block is dropped; an incomplete block before a complete one, or a checksum
        mismatch, is refused. Block files the root does not link (the block in flight at a
        kill) and temporary files are deleted. A Z that does not verify is refused, never
        redrawn in silence: ``redraw_z`` must say so (the caller tells the operator).
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
                raise ConfigError(
                    f"{path}: the run was started with another config (sha256 {stored}); "
                    "resume with the config it started with",
                    path=str(path),
                    key="--resume",
                )
            complete = reader.verified_prefix()
            # Z is drawn after the last block. A root that links it says it was drawn: then it
            # must verify (size, checksum, run id), never be redrawn in silence, which with
            # instrument inputs would certify a different key.
            z_ok = reader._file.get("z", getlink=True) is not None
            if z_ok:
                reader.verify_z()
                if complete != len(reader.blocks()):
                    raise reader._fail("z", "drawn, but a block before it is incomplete")
            attrs = {key: reader._file.attrs[key] for key in reader._file.attrs}
            hashes = [info.sha256 for info in reader.blocks()[:complete]]
        attrs.pop(BLOCK_HASHES, None)
        writer = cls.__new__(cls)
        writer.path = Path(path)
        writer._blocks_dir = block_dir(writer.path)
        writer._attrs = attrs
        writer._hashes = hashes
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
        leftovers = [*temporaries(self.path), *temporaries(zpath)]
        if not self.has_z:
            leftovers.append(zpath)
        for leftover in leftovers:
            leftover.unlink(missing_ok=True)

    def set_attribute(self, name: str, text: str) -> None:
        """Store a text attribute on the root (e.g. the station snapshot), crash-safe."""
        self._attrs[name] = text
        self._attrs[f"{name}_sha256"] = text_sha256(text)  # verified by every reader
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
            write_deflated(group, "trials", data, _CHUNK)
            for key, value in (attrs or {}).items():
                group.attrs[key] = value
                group.attrs[f"{key}_sha256"] = text_sha256(value)
            group.attrs["n_trials"] = data.size
            group.attrs["sha256"] = digest
            group.attrs["run_id"] = self.run_id
            group.attrs["index"] = index
            group.attrs["status"] = _STATUS_COMPLETE

        write_h5_atomic(self._blocks_dir / f"{block_name(index)}.h5", build, "block file")
        del self._hashes[index:]
        self._hashes.append(digest)
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
