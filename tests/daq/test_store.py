"""Trial store v2: writer/reader round trip, the documented schema, and every refusal.

The oracle side reads files with plain h5py/hashlib, following docs/trial-store.md, and never
uses diamp's own reading code.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import diamp
from diamp.daq.store import TrialStoreReader, TrialStoreWriter
from diamp.errors import DiampError, StorageError, StoreIntegrityError

CONFIG_TEXT = 'schema_version = 1\n# a config: "quoted", ü, ∑\n[run]\nseed = 1\n'
CONFIG_SHA = hashlib.sha256(CONFIG_TEXT.encode("utf-8")).hexdigest()
RUN_ID = "20250101T000000Z-0123abcd"
ROOT_ATTRS = {
    "schema",
    "schema_version",
    "run_id",
    "config",
    "config_sha256",
    "software_version",
    "created_utc",
    "block_sha256",
}


def sha(data: bytes | np.ndarray) -> str:
    raw = data.tobytes() if isinstance(data, np.ndarray) else data
    return hashlib.sha256(raw).hexdigest()


def random_trials(rng: np.random.Generator, size: int) -> np.ndarray:
    return rng.integers(0, 16, size=size, dtype=np.uint8)


def random_z(rng: np.random.Generator, bits: int) -> np.ndarray:
    """Z packed MSB-first with zero padding, as the doc requires."""
    return np.packbits(rng.integers(0, 2, size=bits, dtype=np.uint8))


def write_store(
    path: Path,
    blocks: list[np.ndarray],
    z_bits: int | None,
    rng: np.random.Generator,
) -> np.ndarray | None:
    """Write a store with the writer; returns the packed Z written (or None)."""
    z = None
    with TrialStoreWriter(path, RUN_ID, CONFIG_TEXT, CONFIG_SHA) as writer:
        for index, block in enumerate(blocks):
            info = writer.append_block(block)
            assert info.index == index
            assert info.n_trials == block.size
            assert info.sha256 == sha(block)
            assert info.status == "complete"
        assert writer.n_blocks == len(blocks)
        if z_bits is not None:
            z = random_z(rng, z_bits)
            assert writer.write_z(z, z_bits) == sha(z)
    return z


@pytest.fixture
def three_blocks(tmp_path: Path) -> tuple[Path, list[np.ndarray], np.ndarray]:
    """A complete store of three blocks (sizes 1000, 1501, 777) and Z of 2n bits."""
    rng = np.random.default_rng(20250101)
    blocks = [random_trials(rng, size) for size in (1000, 1501, 777)]
    path = tmp_path / "trials.h5"
    z = write_store(path, blocks, 2 * sum(b.size for b in blocks), rng)
    assert z is not None
    return path, blocks, z


def read_all(path: Path) -> tuple[list[np.ndarray], np.ndarray, int]:
    """Everything through diamp's reader (blocks verified, Z verified)."""
    with TrialStoreReader(path) as reader:
        data = [trials for _, trials in reader.iter_blocks()]
        z, bits = reader.read_z()
    return data, z, bits


# --------------------------------------------------------------------------- round trip


def test_round_trip_blocks_and_z(three_blocks: tuple[Path, list[np.ndarray], np.ndarray]) -> None:
    path, blocks, z = three_blocks
    with TrialStoreReader(path) as reader:
        assert reader.run_id == RUN_ID
        assert reader.config_text == CONFIG_TEXT
        infos = reader.blocks()
        assert [i.index for i in infos] == [0, 1, 2]
        assert [i.n_trials for i in infos] == [b.size for b in blocks]
        assert [i.sha256 for i in infos] == [sha(b) for b in blocks]
        assert [i.status for i in infos] == ["complete"] * 3
        assert reader.n_trials() == sum(b.size for b in blocks)
        for (info, got), want in zip(reader.iter_blocks(), blocks, strict=True):
            assert got.dtype == np.uint8
            np.testing.assert_array_equal(got, want)
            np.testing.assert_array_equal(reader.read_block(info), want)
        z_read, bits = reader.read_z()
    assert bits == 2 * sum(b.size for b in blocks)
    assert z_read.dtype == np.uint8
    np.testing.assert_array_equal(z_read, z)


@settings(max_examples=15, deadline=None)
@given(
    sizes=st.lists(st.integers(min_value=1, max_value=3000), min_size=1, max_size=5),
    z_bits=st.integers(min_value=1, max_value=200),
    seed=st.integers(min_value=0, max_value=2**32 - 1),
)
def test_round_trip_property(sizes: list[int], z_bits: int, seed: int) -> None:
    import h5py

    rng = np.random.default_rng(seed)
    blocks = [random_trials(rng, size) for size in sizes]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "trials.h5"
        z = write_store(path, blocks, z_bits, rng)
        got, z_read, bits = read_all(path)
        # plain h5py sees the same thing
        with h5py.File(path, "r") as f:
            plain = [f["blocks"][name]["trials"][()] for name in sorted(f["blocks"])]
            plain_z = f["z"][()]
    assert len(got) == len(blocks) == len(plain)
    for a, b, c in zip(got, blocks, plain, strict=True):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(c, b)
    assert bits == z_bits
    np.testing.assert_array_equal(z_read, z)
    np.testing.assert_array_equal(plain_z, z)


def test_large_block_crosses_chunk_boundary(tmp_path: Path) -> None:
    """A block longer than one 2^20-byte chunk reads back intact, chunked at 2^20."""
    import h5py

    rng = np.random.default_rng(7)
    block = random_trials(rng, 2**20 + 12345)
    path = tmp_path / "trials.h5"
    write_store(path, [block], 2 * block.size, rng)
    with h5py.File(path, "r") as f:
        ds = f["blocks/000000/trials"]
        assert ds.chunks == (2**20,)
        assert (ds.compression, ds.compression_opts) == ("gzip", 1)
    got, _, _ = read_all(path)
    np.testing.assert_array_equal(got[0], block)


# --------------------------------------------------------------------------- schema per the doc


def test_root_attributes_exactly_as_documented(
    three_blocks: tuple[Path, list[np.ndarray], np.ndarray],
) -> None:
    import h5py

    path, _, _ = three_blocks
    before = datetime.now(UTC)
    with h5py.File(path, "r") as f:
        attrs = dict(f.attrs)
        assert set(attrs) == ROOT_ATTRS
        assert attrs["schema"] == "diamp.trials"
        assert isinstance(attrs["schema"], str)
        assert isinstance(attrs["schema_version"], int | np.integer)
        assert not isinstance(attrs["schema_version"], bool | np.bool_)
        assert int(attrs["schema_version"]) == 3
        assert json.loads(attrs["block_sha256"]) == [
            hashlib.sha256(b.tobytes()).hexdigest() for b in three_blocks[1]
        ]
        assert attrs["run_id"] == RUN_ID
        assert attrs["config"] == CONFIG_TEXT
        assert attrs["config_sha256"] == CONFIG_SHA
        assert attrs["software_version"] == diamp.__version__
        for key in ROOT_ATTRS - {"schema_version"}:
            assert isinstance(attrs[key], str), key
        created = datetime.fromisoformat(attrs["created_utc"])
        assert created.utcoffset() is not None and created.utcoffset().total_seconds() == 0
        assert abs((before - created).total_seconds()) < 600
        assert set(f) == {"blocks", "z"}


def test_blocks_and_z_exactly_as_documented(
    three_blocks: tuple[Path, list[np.ndarray], np.ndarray],
) -> None:
    import h5py

    path, blocks, z = three_blocks
    with h5py.File(path, "r") as f:
        assert sorted(f["blocks"]) == ["000000", "000001", "000002"]
        for index, want in enumerate(blocks):
            group = f["blocks"][f"{index:06d}"]
            assert isinstance(group, h5py.Group)
            assert set(group) == {"trials"}
            assert set(group.attrs) == {"n_trials", "sha256", "status", "run_id", "index"}
            assert group.attrs["run_id"] == RUN_ID and int(group.attrs["index"]) == index
            link = f["blocks"].get(f"{index:06d}", getlink=True)
            assert isinstance(link, h5py.ExternalLink)
            assert (link.filename, link.path) == (f"trials.blocks/{index:06d}.h5", "/block")
            ds = group["trials"]
            assert ds.dtype == np.uint8 and ds.ndim == 1
            assert (ds.compression, ds.compression_opts) == ("gzip", 1)
            assert ds.chunks is not None and ds.chunks[0] <= 2**20
            assert isinstance(group.attrs["n_trials"], int | np.integer)
            assert int(group.attrs["n_trials"]) == want.size == ds.shape[0]
            assert group.attrs["status"] == "complete"
            assert group.attrs["sha256"] == sha(ds[()]) == sha(want)
        zds = f["z"]
        assert isinstance(zds, h5py.Dataset)
        assert zds.dtype == np.uint8 and zds.ndim == 1
        assert set(zds.attrs) == {"bits", "sha256", "run_id"}
        zlink = f.get("z", getlink=True)
        assert (zlink.filename, zlink.path) == ("trials.z.h5", "/z")
        bits = int(zds.attrs["bits"])
        assert isinstance(zds.attrs["bits"], int | np.integer)
        assert bits == 2 * sum(b.size for b in blocks)
        assert zds.shape[0] == (bits + 7) // 8
        assert zds.attrs["sha256"] == sha(zds[()]) == sha(z)


def test_doc_plain_h5py_recipe_runs(
    three_blocks: tuple[Path, list[np.ndarray], np.ndarray],
) -> None:
    """The 'Reading with plain h5py' snippet of docs/trial-store.md, verbatim in substance."""
    import h5py

    path, blocks, z = three_blocks
    with h5py.File(path, "r") as f:
        assert f.attrs["schema"] == "diamp.trials" and f.attrs["schema_version"] == 3
        counts = np.zeros(16, dtype=np.int64)
        for name in sorted(f["blocks"]):
            g = f["blocks"][name]
            t = g["trials"][()]
            assert g.attrs["status"] == "complete" and len(t) == g.attrs["n_trials"]
            assert hashlib.sha256(t.tobytes()).hexdigest() == g.attrs["sha256"]
            counts += np.bincount(t, minlength=16)
        zz = f["z"][()]
        d = int(f["z"].attrs["bits"])
    want = np.bincount(np.concatenate(blocks), minlength=16)
    np.testing.assert_array_equal(counts, want)
    np.testing.assert_array_equal(zz, z)
    assert d == 2 * sum(b.size for b in blocks)


def test_z_padding_bits_zero_and_msb_first(tmp_path: Path) -> None:
    """Z bits round-trip MSB-first; the last byte's padding bits are zero (d = 13)."""
    import h5py

    bits = np.array([1, 0, 1, 1, 0, 0, 0, 1, 1, 1, 0, 1, 1], dtype=np.uint8)
    packed = np.packbits(bits)
    assert packed.tolist() == [0b10110001, 0b11011000]
    path = tmp_path / "trials.h5"
    with TrialStoreWriter(path, RUN_ID, CONFIG_TEXT, CONFIG_SHA) as writer:
        writer.append_block(np.array([0, 5, 15], dtype=np.uint8))
        writer.write_z(packed, 13)
    with h5py.File(path, "r") as f:
        raw = f["z"][()]
        assert raw.tolist() == [0b10110001, 0b11011000]
        assert int(f["z"].attrs["bits"]) == 13
        assert int(raw[-1]) & 0b111 == 0
    z, d = read_all(path)[1:]
    assert d == 13
    np.testing.assert_array_equal(np.unpackbits(z)[:d], bits)


def test_writer_never_stores_nonzero_z_padding(tmp_path: Path) -> None:
    """docs/trial-store.md: Z padding bits are zero; the writer must not store other bytes."""
    import h5py

    path = tmp_path / "trials.h5"
    dirty = np.array([0xFF, 0xFF], dtype=np.uint8)  # 13 valid bits, 3 padding bits set
    with TrialStoreWriter(path, RUN_ID, CONFIG_TEXT, CONFIG_SHA) as writer:
        writer.append_block(np.array([1, 2, 3], dtype=np.uint8))
        try:
            writer.write_z(dirty, 13)
        except StorageError:
            return  # refusing is fine
    with h5py.File(path, "r") as f:
        assert int(f["z"][()][-1]) & 0b111 == 0, "the store holds Z with non-zero padding bits"


def test_writer_handles_empty_z_cleanly(tmp_path: Path) -> None:
    """d = 0: either stored and read back, or refused with StorageError (never a raw h5py error)."""
    path = tmp_path / "trials.h5"
    with TrialStoreWriter(path, RUN_ID, CONFIG_TEXT, CONFIG_SHA) as writer:
        writer.append_block(np.array([1], dtype=np.uint8))
        try:
            writer.write_z(np.zeros(0, dtype=np.uint8), 0)
        except StorageError:
            return
    z, bits = read_all(path)[1:]
    assert bits == 0 and z.size == 0


def test_writer_refuses_invalid_trial_values(tmp_path: Path) -> None:
    """docs/trial-store.md: values 16-255 are invalid; the writer must not store them."""
    path = tmp_path / "trials.h5"
    with TrialStoreWriter(path, RUN_ID, CONFIG_TEXT, CONFIG_SHA) as writer:
        with pytest.raises(DiampError):
            writer.append_block(np.array([0, 15, 16, 3], dtype=np.uint8))


@pytest.mark.parametrize(
    "bad",
    [
        np.array([], dtype=np.uint8),
        np.array([1, 2, 3], dtype=np.int64),
        np.zeros((2, 2), dtype=np.uint8),
    ],
    ids=["empty", "int64", "2d"],
)
def test_writer_refuses_malformed_blocks(tmp_path: Path, bad: np.ndarray) -> None:
    import h5py

    path = tmp_path / "trials.h5"
    with TrialStoreWriter(path, RUN_ID, CONFIG_TEXT, CONFIG_SHA) as writer:
        with pytest.raises(StorageError):
            writer.append_block(bad)
        writer.append_block(np.array([4], dtype=np.uint8))
    with h5py.File(path, "r") as f:
        assert sorted(f["blocks"]) == ["000000"]


def test_writer_refuses_z_of_wrong_size(tmp_path: Path) -> None:
    path = tmp_path / "trials.h5"
    with TrialStoreWriter(path, RUN_ID, CONFIG_TEXT, CONFIG_SHA) as writer:
        writer.append_block(np.array([4], dtype=np.uint8))
        with pytest.raises(StorageError):
            writer.write_z(np.zeros(3, dtype=np.uint8), 8)


def test_writer_refuses_existing_file(
    three_blocks: tuple[Path, list[np.ndarray], np.ndarray],
) -> None:
    path, _, _ = three_blocks
    before = sha(path.read_bytes())
    with pytest.raises(StorageError):
        TrialStoreWriter(path, "other", "x", sha(b"x"))
    assert sha(path.read_bytes()) == before


# --------------------------------------------------------------------------- refusals


def _expect_block_error(path: Path, block: str) -> StoreIntegrityError:
    with pytest.raises(StoreIntegrityError) as info:
        read_all(path)
    assert f"block {block}" in str(info.value)
    return info.value


def test_reader_refuses_flipped_bit(
    three_blocks: tuple[Path, list[np.ndarray], np.ndarray],
) -> None:
    import h5py

    path, blocks, _ = three_blocks
    with h5py.File(path, "r+") as f:
        ds = f["blocks/000001/trials"]
        data = ds[()]
        data[700] ^= 0b0001  # stays a valid trial value; sha256 attribute left unchanged
        ds[...] = data
    err = _expect_block_error(path, "000001")
    assert getattr(err, "block", None) == 1
    with TrialStoreReader(path) as reader:
        infos = reader.blocks()
        np.testing.assert_array_equal(reader.read_block(infos[0]), blocks[0])  # others still fine
        np.testing.assert_array_equal(reader.read_block(infos[2]), blocks[2])


def test_reader_refuses_corrupted_chunk_bytes_on_disk(
    three_blocks: tuple[Path, list[np.ndarray], np.ndarray],
) -> None:
    """Bytes of block 1's compressed chunk overwritten in the file itself (not through h5py)."""
    import h5py

    path, _, _ = three_blocks
    with h5py.File(path, "r") as f:
        ds = f["blocks/000001/trials"]
        chunk = ds.id.get_chunk_info(0)
        offset, size = chunk.byte_offset, chunk.size
        block_file = Path(ds.file.filename)
    assert size > 16 and block_file != path
    with open(block_file, "r+b") as fh:
        fh.seek(offset + size // 2)
        fh.write(b"\x00\xff" * 4)
    _expect_block_error(path, "000001")


def test_reader_refuses_status_writing(
    three_blocks: tuple[Path, list[np.ndarray], np.ndarray],
) -> None:
    import h5py

    path, _, _ = three_blocks
    with h5py.File(path, "r+") as f:
        f["blocks/000001"].attrs["status"] = "writing"
    err = _expect_block_error(path, "000001")
    assert "writing" in str(err)


def test_reader_refuses_missing_status(
    three_blocks: tuple[Path, list[np.ndarray], np.ndarray],
) -> None:
    import h5py

    path, _, _ = three_blocks
    with h5py.File(path, "r+") as f:
        del f["blocks/000002"].attrs["status"]
    _expect_block_error(path, "000002")


@pytest.mark.parametrize("delta", [1, -1])
def test_reader_refuses_n_trials_mismatch(
    three_blocks: tuple[Path, list[np.ndarray], np.ndarray], delta: int
) -> None:
    import h5py

    path, blocks, _ = three_blocks
    with h5py.File(path, "r+") as f:
        f["blocks/000001"].attrs["n_trials"] = blocks[1].size + delta
    _expect_block_error(path, "000001")


def test_reader_refuses_missing_sha256(
    three_blocks: tuple[Path, list[np.ndarray], np.ndarray],
) -> None:
    import h5py

    path, _, _ = three_blocks
    with h5py.File(path, "r+") as f:
        del f["blocks/000001"].attrs["sha256"]
    _expect_block_error(path, "000001")


def test_reader_refuses_missing_trials_dataset(
    three_blocks: tuple[Path, list[np.ndarray], np.ndarray],
) -> None:
    import h5py

    path, _, _ = three_blocks
    with h5py.File(path, "r+") as f:
        del f["blocks/000001/trials"]
    _expect_block_error(path, "000001")


def test_reader_refuses_gap_in_numbering(
    three_blocks: tuple[Path, list[np.ndarray], np.ndarray],
) -> None:
    import h5py

    path, _, _ = three_blocks
    with h5py.File(path, "r+") as f:
        del f["blocks/000001"]
    with pytest.raises(StoreIntegrityError) as info, TrialStoreReader(path) as reader:
        reader.blocks()
    assert "block 000001" in str(info.value)
    _expect_block_error(path, "000001")


def test_reader_refuses_numbering_not_from_zero(
    three_blocks: tuple[Path, list[np.ndarray], np.ndarray],
) -> None:
    import h5py

    path, _, _ = three_blocks
    with h5py.File(path, "r+") as f:
        f.move("blocks/000000", "blocks/000003")
    _expect_block_error(path, "000000")


@pytest.mark.parametrize("fraction", [0.0, 0.1, 0.5, 0.95])
def test_truncated_file_raises_diamp_error(
    three_blocks: tuple[Path, list[np.ndarray], np.ndarray], fraction: float
) -> None:
    path, _, _ = three_blocks
    size = path.stat().st_size
    os.truncate(path, int(size * fraction))
    with pytest.raises(StorageError) as info:
        read_all(path)
    assert isinstance(info.value, DiampError)
    assert str(path) in str(info.value)


def test_not_an_hdf5_file(tmp_path: Path) -> None:
    path = tmp_path / "trials.h5"
    path.write_bytes(b"this is not an HDF5 file\n" * 100)
    with pytest.raises(StoreIntegrityError):
        read_all(path)


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nothing.h5"
    with pytest.raises(StorageError) as info:
        TrialStoreReader(path)
    assert isinstance(info.value, DiampError)
    assert str(path) in str(info.value)
    assert not path.exists()


@pytest.mark.parametrize(
    ("attr", "value"),
    [
        ("schema", "diamp.other"),
        ("schema", "DIAMP.TRIALS"),
        ("schema_version", 4),
        ("schema_version", 0),
    ],
)
def test_reader_refuses_wrong_schema(
    three_blocks: tuple[Path, list[np.ndarray], np.ndarray], attr: str, value: object
) -> None:
    import h5py

    path, _, _ = three_blocks
    with h5py.File(path, "r+") as f:
        f.attrs[attr] = value
    with pytest.raises(StoreIntegrityError) as info:
        read_all(path)
    assert attr in str(info.value)


@pytest.mark.parametrize("attr", ["schema", "schema_version"])
def test_reader_refuses_missing_schema_attribute(
    three_blocks: tuple[Path, list[np.ndarray], np.ndarray], attr: str
) -> None:
    import h5py

    path, _, _ = three_blocks
    with h5py.File(path, "r+") as f:
        del f.attrs[attr]
    with pytest.raises(StoreIntegrityError) as info:
        read_all(path)
    assert attr in str(info.value)


def test_reader_refuses_missing_z(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    path = tmp_path / "trials.h5"
    blocks = [random_trials(rng, 100)]
    write_store(path, blocks, None, rng)
    with TrialStoreReader(path) as reader:
        np.testing.assert_array_equal(next(reader.iter_blocks())[1], blocks[0])
        with pytest.raises(StoreIntegrityError) as info:
            reader.read_z()
    assert "z" in str(info.value)


def test_reader_refuses_z_sha_mismatch(
    three_blocks: tuple[Path, list[np.ndarray], np.ndarray],
) -> None:
    import h5py

    path, _, _ = three_blocks
    with h5py.File(path, "r+") as f:
        data = f["z"][()]
        data[10] ^= 0x40
        f["z"][...] = data
    with TrialStoreReader(path) as reader:
        with pytest.raises(StoreIntegrityError) as info:
            reader.read_z()
    assert "z" in str(info.value) and "sha256" in str(info.value)


def test_reader_refuses_z_bits_inconsistent(
    three_blocks: tuple[Path, list[np.ndarray], np.ndarray],
) -> None:
    import h5py

    path, _, _ = three_blocks
    with h5py.File(path, "r+") as f:
        f["z"].attrs["bits"] = int(f["z"].attrs["bits"]) + 8
    with TrialStoreReader(path) as reader:
        with pytest.raises(StoreIntegrityError) as info:
            reader.read_z()
    assert "z" in str(info.value)


def test_store_integrity_error_is_a_storage_error_and_diamp_error() -> None:
    err = StoreIntegrityError("x: block 000001: bad", path="x", block=1)
    assert isinstance(err, StorageError) and isinstance(err, DiampError)
    assert err.block == 1 and err.path == "x"


def test_damaged_structure_always_fails_closed(tmp_path: Path) -> None:
    """Garbage at random offsets (as a kill mid-write can leave): verified data or a diamp error."""
    from diamp.errors import DiampError

    rng = np.random.default_rng(4242)
    source = tmp_path / "good.h5"
    with TrialStoreWriter(source, RUN_ID, CONFIG_TEXT, CONFIG_SHA) as writer:
        for _ in range(3):
            writer.append_block(rng.integers(0, 16, 50_000, dtype=np.uint8))
        writer.write_z(np.packbits(rng.integers(0, 2, 300_000, dtype=np.uint8)), 300_000)
    good = source.read_bytes()
    outcomes = {"verified": 0, "refused": 0}
    for attempt in range(60):
        damaged = bytearray(good)
        start = int(rng.integers(0, len(good) - 64))
        damaged[start : start + 64] = rng.bytes(64)
        path = tmp_path / f"bad{attempt}.h5"
        path.write_bytes(bytes(damaged))
        try:
            with TrialStoreReader(path) as reader:
                for _info, _trials in reader.iter_blocks():
                    pass
                reader.verify_z()
            outcomes["verified"] += 1
        except DiampError:
            outcomes["refused"] += 1
    assert outcomes["refused"] > 0  # damage was actually detected, never leaked as another error


def test_schema_1_store_is_read_but_not_resumed(tmp_path: Path) -> None:
    """A schema 1 file (blocks inside the root), written here with plain h5py."""
    import h5py

    rng = np.random.default_rng(11)
    block = random_trials(rng, 500)
    z = random_z(rng, 1000)
    path = tmp_path / "old.h5"
    with h5py.File(path, "w") as f:
        f.attrs.update({"schema": "diamp.trials", "schema_version": 1, "run_id": RUN_ID})
        f.attrs.update({"config": CONFIG_TEXT, "config_sha256": CONFIG_SHA})
        g = f.create_group("blocks/000000")
        g.create_dataset("trials", data=block)
        g.attrs.update({"n_trials": block.size, "sha256": sha(block), "status": "complete"})
        ds = f.create_dataset("z", data=z)
        ds.attrs.update({"bits": 1000, "sha256": sha(z)})
    data, zz, _bits = read_all(path)
    np.testing.assert_array_equal(data[0], block)
    np.testing.assert_array_equal(zz, z)
    with pytest.raises(StoreIntegrityError, match="schema 1 store cannot be resumed"):
        TrialStoreWriter.resume(path, CONFIG_SHA)
