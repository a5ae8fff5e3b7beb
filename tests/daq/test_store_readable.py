"""A run any HDF5 tool reads: gzip-compressed trials, checked with h5dump and plain h5py.

- the trial chunks diamp compresses itself (in parallel) are byte for byte the chunks HDF5's
  own gzip filter writes (the oracle), for sizes around the chunk length;
- ``h5dump`` (the distribution's ``hdf5-tools``) prints the demo run's trial values, Z and a
  timing trace equal to h5py's; without it the test skips, unless ``DIAMP_REQUIRE_H5DUMP=1``
  (set by ``.ci/run``, which installs it), so CI always runs it;
- the "Reading with plain h5py" example of ``docs/trial-store.md`` runs as written on the
  demo run;
- a store written before schema 3's gzip (LZF-compressed blocks) is still read and verified.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest

from diamp.daq.store import TrialStoreReader
from diamp.daq.store.deflate import LEVEL, write_deflated

if TYPE_CHECKING:
    import h5py

ROOT = Path(__file__).resolve().parents[2]
DIAMP = [sys.executable, "-c", "from diamp.cli import main; main()"]


def _chunks(write: object, data: np.ndarray, chunk: int) -> list[bytes]:
    import h5py

    buf = io.BytesIO()
    with h5py.File(buf, "w") as f:
        write(f, data, chunk)  # type: ignore[operator]
    with h5py.File(buf, "r") as f:
        ds = f["t"]
        assert ds.compression == "gzip" and ds.compression_opts == LEVEL
        assert np.array_equal(ds[()], data)
        n = -(-data.size // ds.chunks[0])
        return [ds.id.read_direct_chunk((k * ds.chunks[0],))[1] for k in range(n)]


def _by_hdf5(f: h5py.File, data: np.ndarray, chunk: int) -> None:
    f.create_dataset("t", data=data, chunks=(min(chunk, data.size),), compression="gzip",
                     compression_opts=LEVEL)  # fmt: skip


def _by_diamp(f: h5py.File, data: np.ndarray, chunk: int) -> None:
    write_deflated(f, "t", data, chunk)


@pytest.mark.parametrize("size", [1, 4095, 4096, 4097, 3 * 4096, 3 * 4096 + 17])
def test_parallel_chunks_equal_hdf5s_own_gzip(size: int) -> None:
    data = np.random.default_rng(size).integers(0, 16, size, dtype=np.uint8)
    assert _chunks(_by_diamp, data, 4096) == _chunks(_by_hdf5, data, 4096)


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``diamp run configs/simulated.toml``, the README's demo, in its own process."""
    out = tmp_path_factory.mktemp("demo") / "run"
    args = ["run", str(ROOT / "configs/simulated.toml"), "--out", str(out), "-q"]
    done = subprocess.run([*DIAMP, *args], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return out


def _h5dump() -> str:
    found = shutil.which("h5dump")
    if found is None:
        if os.environ.get("DIAMP_REQUIRE_H5DUMP") == "1":
            pytest.fail(
                "h5dump is required here (DIAMP_REQUIRE_H5DUMP=1): apt-get install hdf5-tools"
            )
        pytest.skip("h5dump not installed (apt-get install hdf5-tools); CI requires it")
    return found


def _dumped(h5dump: str, file: Path, dataset: str, dtype: type) -> np.ndarray:
    """The values ``h5dump`` prints for ``dataset`` (no indices, no wrapping)."""
    done = subprocess.run([h5dump, "-y", "-w", "0", "-d", dataset, str(file)],
                          capture_output=True, text=True, check=True)  # fmt: skip
    body = re.search(r"DATA \{(.*?)\}", done.stdout, re.S)
    assert body is not None, done.stdout[:500]
    values = np.array(body.group(1).replace(",", " ").split(), dtype=dtype)
    assert values.size, f"h5dump printed no values for {dataset}"
    return values


def test_h5dump_prints_the_trials_z_and_traces_h5py_reads(demo_run: Path) -> None:
    import h5py

    h5dump = _h5dump()
    root = demo_run / "trials.h5"
    with h5py.File(root, "r") as f:
        names = sorted(f["blocks"])
        assert len(names) == 8
        for name in (names[0], names[-1]):  # every trial of two blocks, through the links
            ours = f["blocks"][name]["trials"][()]
            assert np.array_equal(_dumped(h5dump, root, f"/blocks/{name}/trials", np.uint8), ours)
        assert np.array_equal(_dumped(h5dump, root, "/z", np.uint8), f["z"][()])
    with h5py.File(demo_run / "timing.h5", "r") as f:
        check = sorted(f["checks"])[0]
        trace = sorted(f["checks"][check])[0]
        path = f"/checks/{check}/{trace}/low"
        dumped = _dumped(h5dump, demo_run / "timing.h5", path, np.float64)
        assert np.allclose(dumped, f[path][()], rtol=1e-12, atol=0)


def test_the_documented_plain_h5py_example_runs(
    demo_run: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    doc = (ROOT / "docs" / "trial-store.md").read_text()
    section = doc.split("## Reading with plain h5py", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code is not None
    monkeypatch.chdir(demo_run)
    scope: dict[str, object] = {}
    exec(compile(code.group(1), "docs/trial-store.md", "exec"), scope)
    with TrialStoreReader(demo_run / "trials.h5") as reader:
        n = reader.n_trials()
    assert int(np.sum(scope["counts"])) == n  # type: ignore[call-overload]
    assert scope["d"] == 2 * n


def test_a_store_with_lzf_blocks_is_still_read(demo_run: Path, tmp_path: Path) -> None:
    import h5py

    run = tmp_path / "run"
    shutil.copytree(demo_run, run)
    block = run / "trials.blocks" / "000003.h5"
    with h5py.File(block, "r") as f:
        data, attrs = f["block/trials"][()], dict(f["block"].attrs)
    block.unlink()
    with h5py.File(block, "w") as f:  # as diamp wrote blocks before gzip
        g = f.create_group("block")
        g.create_dataset("trials", data=data, chunks=(1 << 20,), compression="lzf")
        g.attrs.update(attrs)
    with TrialStoreReader(run / "trials.h5") as reader:
        read = [reader.read_block(info) for info in reader.blocks()]  # each hash checked
        assert np.array_equal(read[3], data)
