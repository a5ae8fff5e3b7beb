"""Trial store layout: names, constants, checks shared by the writer and the reader."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from diamp.errors import StorageError

if TYPE_CHECKING:
    pass


SCHEMA = "diamp.trials"
T = TypeVar("T")
SCHEMA_VERSION = 3
_READABLE_VERSIONS = (1, 2, 3)
BLOCK_HASHES = "block_sha256"  # root attribute (schema 3): JSON list, one SHA-256 per block
# Attributes every schema-3 root or block has; any other text attribute X carries X_sha256.
ROOT_BASE = frozenset(
    {"schema", "schema_version", "run_id", "config_sha256", "software_version", "created_utc",
     BLOCK_HASHES}
)  # fmt: skip
BLOCK_BASE = frozenset({"n_trials", "sha256", "status", "run_id", "index"})
_CHUNK = 2**20
_STATUS_COMPLETE = "complete"


def block_name(index: int) -> str:
    """The group name of block ``index`` ("000000", "000001", …)."""
    return f"{index:06d}"


def text_sha256(text: str) -> str:
    """SHA-256 (hex) of a text's UTF-8 bytes (the stored config's ``config_sha256``)."""
    return hashlib.sha256(text.encode()).hexdigest()


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
