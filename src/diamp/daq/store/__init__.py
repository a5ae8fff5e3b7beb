"""Trial store v3: one HDF5 file per run, crash-safe, with a fixed schema outside tools can read.

Layout (documented for users in ``docs/trial-store.md``)::

    trials.h5              the root: attrs schema = "diamp.trials", schema_version = 3, run_id,
                           config (the run config as TOML text), config_sha256,
                           software_version, created_utc (+ station_snapshot, timing_section)
    trials.h5:/blocks/000000  external link to trials.blocks/000000.h5:/block
    trials.blocks/000000.h5:/block/trials
                           uint8, one trial per byte, v = 8x + 4y + 2a + b (gzip level 1)
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
this package (``writer``, ``reader``). Schema 1 stores (blocks inside the root file) are still
read.
"""

from __future__ import annotations

from diamp.daq.store._layout import (
    SCHEMA,
    SCHEMA_VERSION,
    BlockInfo,
    block_dir,
    block_name,
    sha256_hex,
    z_file,
)
from diamp.daq.store.reader import StoreAbBits, TrialStoreReader
from diamp.daq.store.writer import TrialStoreWriter

__all__ = [
    "SCHEMA",
    "SCHEMA_VERSION",
    "BlockInfo",
    "StoreAbBits",
    "TrialStoreReader",
    "TrialStoreWriter",
    "block_dir",
    "block_name",
    "sha256_hex",
    "z_file",
]
