"""The core install runs without SciPy (issue 18: SciPy is only in the ``test`` extra).

A child interpreter gets a ``scipy`` package first on its path whose import fails, so
``import scipy`` (and every ``scipy.*``) raises ModuleNotFoundError there and in any worker
process it starts. It runs the tests of randomness through the CLI (SP 800-22 on 2^20 bits,
SP 800-90B non-IID and IID, six Diehard tests) and the rest through the API (health-test
cutoffs and a monitor, the entropy models, the simulated service devices, a Dodis extraction
on numba's kernels, started with scipy absent), and reports every
number. The same child with SciPy importable must report the same numbers, bit for bit.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

SRC = Path(__file__).resolve().parents[1] / "src"

CHILD = r"""
import hashlib, json, sys
from pathlib import Path

hidden = sys.argv[2] == "hidden"
try:
    import scipy  # noqa: F401
    scipy_importable = True
except ModuleNotFoundError:
    scipy_importable = False
assert scipy_importable != hidden, "the scipy blocker did not take effect as intended"

from typer.testing import CliRunner
from diamp.cli import app

tmp = Path(sys.argv[1])
runner = CliRunner()
out = {}


def untimed(value):
    if isinstance(value, dict):
        return {k: untimed(v) for k, v in value.items() if "seconds" not in k}
    return [untimed(v) for v in value] if isinstance(value, list) else value


def cli(name, *args):
    r = runner.invoke(app, [*args, "--json"])
    assert r.exception is None or isinstance(r.exception, SystemExit), (args, r.output)
    assert r.exit_code in (0, 4), (args, r.exit_code, r.output)  # 4: sp800-90b "not IID"
    out[name] = {"exit": r.exit_code, "data": untimed(json.loads(r.stdout))}


cli("sp800_22", "test", "sp800-22", str(tmp / "bits.bin"), "-n", "1048576", "--workers", "1")
cli("sp800_90b", "test", "sp800-90b", str(tmp / "samples.bin"), "-b", "8")
cli("sp800_90b_iid", "test", "sp800-90b", str(tmp / "samples.bin"), "-b", "8", "--iid")
diehard = ["sums", "runs", "birthdays", "count_1s_str", "parking_lot", "3dsphere"]
cli("diehard", "test", "diehard", str(tmp / "words.bin"), "-p", "4", "--workers", "1",
    "-d", ",".join(f"diehard_{name}" for name in diehard))

from diamp.analysis import entropy_models as em
from diamp.analysis.sp800_90b import HealthMonitor, adaptive_proportion_cutoff
from diamp.service.settings import SimulatedSource
from diamp.service.simulated import SimulatedDevice

out["cutoffs"] = [
    adaptive_proportion_cutoff(h, w, a, m)
    for h in (0.5, 1.0, 2.0, 3.3, 4.0, 6.25, 8.0)
    for w in (512, 1024)
    for a in (2.0**-20, 2.0**-40)
    for m in ("binomial", "sp800-90b")
]
probs = em.vacuum_bin_probabilities(12, -5.0, 5.0, 10.0)
out["entropy"] = [
    em.vacuum_min_entropy(8, -4.0, 4.0, 10.0).min_entropy,
    em.vacuum_min_entropy(32, -4.0, 4.0, 1e3).min_entropy,
    em.vacuum_min_entropy_worst_case(8, -4.0, 4.0, 10.0, max_offset_sigma_c=5.0).min_entropy,
    hashlib.sha256(probs.tobytes()).hexdigest(),
    em.phase_fluctuation_entropy(1.0, 0.5).min_entropy,
    em.phase_fluctuation_entropy(30.0, 0.5).min_entropy,
    em.spatial_entropy([0.5, 0.25, 0.25, 0.0]).intrinsic_randomness,
]
vacuum = {"model": "vacuum", "bits": 8, "v_min": -4.0, "v_max": 4.0, "gamma": 10.0}
devices = {}
for family, entropy in (("vacuum-fluctuation", vacuum),
                        ("phase-fluctuation", {"model": "declared", "min_entropy": 3.95})):
    src = SimulatedSource.model_validate(
        {"kind": "simulated", "name": "s", "family": family, "seed": 7, "entropy": entropy}
    )
    dev = SimulatedDevice(src)
    monitor = HealthMonitor(3.0, dev.bits_per_sample)
    blocks = [dev.next_block() for _ in range(3)]
    failures = sum(len(monitor.feed(b)) for b in blocks)
    digest = hashlib.sha256(b"".join(b.tobytes() for b in blocks)).hexdigest()
    devices[family] = [digest, failures, monitor.proportion_cutoff]
out["devices"] = devices

import numpy as np
from diamp.extractors.bits import PackedBits
from diamp.extractors.dodis import dodis_extract

rng = np.random.default_rng(23)
x, y = (rng.integers(0, 2, 5000, dtype=np.uint8) for _ in range(2))
got = dodis_extract(PackedBits.from_bits(x), PackedBits.from_bits(y), 300).output.unpack()
direct = [int(np.count_nonzero(x[: 5000 - j] & y[j:]) & 1) for j in range(300)]
out["dodis"] = [got.tolist() == direct, hashlib.sha256(got.tobytes()).hexdigest()]
out["scipy_modules"] = sorted(m for m in sys.modules if m.split(".")[0] == "scipy")
print(json.dumps(out))
"""


def _child(tmp: Path, hidden: bool) -> dict[str, Any]:
    paths = [str(tmp / "hide"), str(SRC)] if hidden else [str(SRC)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp), "hidden" if hidden else "visible"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env=env,
        cwd=tmp,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def test_the_core_runs_and_gives_the_same_numbers_without_scipy(tmp_path: Path) -> None:
    hide = tmp_path / "hide" / "scipy"
    hide.mkdir(parents=True)
    (hide / "__init__.py").write_text(
        'raise ModuleNotFoundError("No module named \'scipy\' (hidden)", name="scipy")\n'
    )
    rng = np.random.default_rng(22)
    (tmp_path / "bits.bin").write_bytes(rng.integers(0, 256, 2**17, dtype=np.uint8).tobytes())
    (tmp_path / "samples.bin").write_bytes(rng.integers(0, 256, 20_000, dtype=np.uint8).tobytes())
    (tmp_path / "words.bin").write_bytes(rng.integers(0, 256, 2**22, dtype=np.uint8).tobytes())

    without = _child(tmp_path, hidden=True)
    assert without["scipy_modules"] == []
    sp22 = without["sp800_22"]["data"]["tests"]
    assert len(sp22) == 15  # all 15 tests ran on the 2^20-bit sequence
    for name in ("NonOverlappingTemplate", "Serial", "ApproximateEntropy", "BlockFrequency"):
        values = np.array(sp22[name]["pvalues"], dtype=float)
        assert np.all((values > 0.0) & (values <= 1.0)), name
    iid = without["sp800_90b_iid"]["data"]
    assert 0.0 < iid["chi_square_goodness_of_fit"]["p_value"] <= 1.0
    diehard = without["diehard"]["data"]["tests"]
    assert len(diehard) == 6
    assert all(t["status"] == "ok" for t in diehard.values()), diehard
    assert without["devices"]["vacuum-fluctuation"][2] > 0
    assert without["dodis"][0]  # the FFT engine (numba kernels) against the definition

    with_scipy = _child(tmp_path, hidden=False)
    for key in without:
        if key != "scipy_modules":
            assert without[key] == with_scipy[key], key
