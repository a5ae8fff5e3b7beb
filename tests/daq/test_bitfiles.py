"""Bit files: packed files, HDF5 datasets and the trial store's AB as streaming bit sources."""

from __future__ import annotations

import hashlib
import pickle
from pathlib import Path

import numpy as np
import pytest

from diamp.daq.bitfiles import (
    Hdf5PackedBits,
    PackedBitWriter,
    PackedFileBits,
    open_bits,
    write_packed,
)
from diamp.errors import StorageError
from diamp.extractors.bits import BitSource, PackedBits


def random_bits(seed: int, n: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 2, n, dtype=np.uint8)


def test_packed_file_reads_ranges_masks_the_tail_and_pickles_as_its_path(tmp_path: Path) -> None:
    bits = random_bits(1, 1003)
    data = np.packbits(bits)
    data[-1] |= 0x1F  # garbage in the 5 padding bits must read as zero
    path = tmp_path / "x.bin"
    path.write_bytes(data.tobytes())
    source = PackedFileBits(path, 1003)
    assert isinstance(source, BitSource) and source.nbits == 1003
    assert np.array_equal(np.unpackbits(source.read_bytes(0, 200))[:1003], bits)
    assert source.read_bytes(120, 122).tolist() == np.packbits(bits)[120:122].tolist()
    assert source.read_bytes(126, 130).size == 0
    clone = pickle.loads(pickle.dumps(source))
    assert clone.path == path and np.array_equal(
        clone.read_bytes(0, 126), source.read_bytes(0, 126)
    )
    assert PackedFileBits(path).nbits == 8 * 126


def test_packed_file_refuses_a_wrong_bit_count_and_a_truncated_file(tmp_path: Path) -> None:
    path = tmp_path / "x.bin"
    path.write_bytes(bytes(10))
    with pytest.raises(StorageError, match="check --bits"):
        PackedFileBits(path, 99)
    with pytest.raises(StorageError, match="cannot read bit file"):
        PackedFileBits(tmp_path / "missing.bin")
    source = PackedFileBits(path)
    path.write_bytes(bytes(4))
    with pytest.raises(StorageError, match="short read"):
        source.read_bytes(0, 10)


def test_hdf5_dataset_uses_its_bits_attribute(tmp_path: Path) -> None:
    import h5py

    bits = random_bits(2, 77)
    path = tmp_path / "d.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("z", data=np.packbits(bits)).attrs["bits"] = 77
        f.create_dataset("wide", data=np.zeros(4, dtype=np.uint16))
    source = Hdf5PackedBits(path, "z")
    assert source.nbits == 77
    assert np.array_equal(np.unpackbits(source.read_bytes(0, 10))[:77], bits)
    assert (
        pickle.loads(pickle.dumps(source)).read_bytes(0, 10).tolist() == np.packbits(bits).tolist()
    )
    with pytest.raises(StorageError, match="no dataset"):
        Hdf5PackedBits(path, "nope")
    with pytest.raises(StorageError, match="expected 1-d uint8"):
        Hdf5PackedBits(path, "wide")
    assert isinstance(open_bits(f"{path}:/z"), Hdf5PackedBits)


def test_open_bits_reads_the_ab_string_of_a_trial_store(tmp_path: Path) -> None:
    from diamp.daq.store import TrialStoreWriter

    trials = np.random.default_rng(3).integers(0, 16, 101, dtype=np.uint8)
    store = tmp_path / "trials.h5"
    with TrialStoreWriter(store, "run", "cfg", hashlib.sha256(b"cfg").hexdigest()) as w:
        w.append_block(trials)
        w.write_z(np.packbits(np.zeros(202, dtype=np.uint8)), 202)
    ab = np.empty(202, dtype=np.uint8)
    ab[0::2], ab[1::2] = (trials >> 1) & 1, trials & 1
    source = open_bits(f"{store}:AB")
    assert source.nbits == 202
    assert np.array_equal(np.unpackbits(source.read_bytes(0, 26))[:202], ab)
    with pytest.raises(StorageError, match="--bits says 200"):
        open_bits(f"{store}:AB", 200)


def test_writers_round_trip_msb_first(tmp_path: Path) -> None:
    bits = random_bits(4, 1001)
    write_packed(tmp_path / "a.bin", PackedBits.from_bits(bits), chunk_bytes=7)
    assert (tmp_path / "a.bin").read_bytes() == np.packbits(bits).tobytes()
    with PackedBitWriter(tmp_path / "b.bin") as writer:
        for chunk in np.array_split(bits, 13):
            writer.write(chunk)
    assert writer.nbits == 1001
    assert (tmp_path / "b.bin").read_bytes() == np.packbits(bits).tobytes()


def test_packed_writer_leaves_nothing_behind_on_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="interrupted"), PackedBitWriter(tmp_path / "c.bin") as w:
        w.write(np.ones(9, dtype=np.uint8))
        raise ValueError("interrupted")
    assert list(tmp_path.iterdir()) == []
