"""The ``diamp`` CLI end to end, checked against an independent oracle.

Every number the CLI reports is recomputed here from the trial store with plain h5py, numpy,
hashlib and fractions, following docs/trial-store.md and the conventions of DESIGN.md:
trial v = 8x + 4y + 2a + b; AB = a0 b0 a1 b1 ...; bits packed MSB-first; Dodis output bit
j = sum_{t=0}^{N-1-j} AB_t * Z_{t+j} mod 2; S_mu = mu_min P(0000) - mu_max (P(0101) + P(1010)
+ P(0011)) with index order a, b, x, y. No diamp statistics or extractor code is used here.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner, Result

import diamp
from _runconfig import Raw, run_config
from diamp.cli import app

REPO = Path(__file__).resolve().parents[1]
DIAMP_EXE = Path(sys.executable).parent / "diamp"
MU = Fraction("0.0075")
ABXY_KEYS = [f"{a}{b}{x}{y}" for a in (0, 1) for b in (0, 1) for x in (0, 1) for y in (0, 1)]
RUN_ID_RE = re.compile(r"^\d{8}T\d{6}Z-[0-9a-f]{8}$")

# Small quantum run: n = 2 x 400_003 = 800_006 trials (odd block length: AB packing must
# carry trials across blocks); at threshold 0.0108 `diamp rate` gives m ~ 4,500 bits while a
# perfect |Psi+> gives S_mu,obs ~ 0.0115 (about 6 standard deviations above the threshold).
SMALL_BLOCKS = 2
SMALL_TRIALS = 400_003
SMALL_THRESHOLD = "0.0108"
SMALL_SEGMENT = 150_000

QUANTUM_DEVICE = {"model": "quantum", "visibility": 1.0, "readout_fidelity": 1.0}
LHV_DEVICE = {"model": "lhv", "noise": 0.0}


def config_text(
    *,
    name: str = "small",
    seed: int = 20250607,
    blocks: int = SMALL_BLOCKS,
    trials: int = SMALL_TRIALS,
    device: dict[str, Any] = QUANTUM_DEVICE,
    threshold: str = SMALL_THRESHOLD,
    top: str = "schema_version = 1",
    **sections: dict[str, Any],
) -> str:
    """The small test run; ``sections`` are further overrides (see _runconfig)."""
    small = {
        "run": {
            "name": name,
            "seed": seed,
            "blocks": blocks,
            "trials_per_block": trials,
            "segment_trials": SMALL_SEGMENT,
        },
        "sources": {
            "mu": "0.0075",
            "alice": {"model": "iid", "bias": 0.004},
            "bob": {"model": "markov", "bias": 0.004},
            "z_source": "alice",
        },
        "device": device,
        "protocol": {
            "mode": "fixed",
            "s_mu_threshold": threshold,
            "eps": 1e-12,
            "bound": "strict",
        },
        "extractor": {"verify_bits": 64},
    }
    return run_config(small, sections, top=top)


# --------------------------------------------------------------------------- oracle


def sha256_hex(data: bytes | np.ndarray) -> str:
    raw = data.tobytes() if isinstance(data, np.ndarray) else data
    return hashlib.sha256(raw).hexdigest()


def file_sha(path: Path) -> str:
    return sha256_hex(path.read_bytes())


@dataclass(frozen=True)
class PlainStore:
    """A trial store read with plain h5py, per docs/trial-store.md."""

    attrs: dict[str, Any]
    block_names: list[str]
    blocks: list[np.ndarray]
    block_attrs: list[dict[str, Any]]
    z_packed: np.ndarray
    z_bits: int
    z_sha256: str

    @property
    def trials(self) -> np.ndarray:
        return np.concatenate(self.blocks)

    @property
    def z(self) -> np.ndarray:
        return np.unpackbits(self.z_packed)[: self.z_bits]


def read_plain(path: Path) -> PlainStore:
    import h5py

    with h5py.File(path, "r") as f:
        assert f.attrs["schema"] == "diamp.trials" and f.attrs["schema_version"] == 3
        names = sorted(f["blocks"])
        blocks, battrs = [], []
        for name in names:
            g = f["blocks"][name]
            t = g["trials"][()]
            assert t.dtype == np.uint8
            assert g.attrs["status"] == "complete" and len(t) == g.attrs["n_trials"]
            assert hashlib.sha256(t.tobytes()).hexdigest() == g.attrs["sha256"]
            blocks.append(t)
            battrs.append(dict(g.attrs))
        z = f["z"][()]
        return PlainStore(
            attrs=dict(f.attrs),
            block_names=names,
            blocks=blocks,
            block_attrs=battrs,
            z_packed=z,
            z_bits=int(f["z"].attrs["bits"]),
            z_sha256=str(f["z"].attrs["sha256"]),
        )


def counts_abxy(trials: np.ndarray) -> dict[str, int]:
    """N(a, b, x, y) keyed "abxy", from v = 8x + 4y + 2a + b."""
    assert int(trials.max()) < 16
    table = np.bincount(trials, minlength=16)
    return {
        f"{a}{b}{x}{y}": int(table[8 * x + 4 * y + 2 * a + b])
        for a in (0, 1)
        for b in (0, 1)
        for x in (0, 1)
        for y in (0, 1)
    }


def s_mu_exact(counts: dict[str, int], mu: Fraction) -> Fraction:
    n = sum(counts.values())
    mu_min = (Fraction(1, 2) - mu) ** 2
    mu_max = (Fraction(1, 2) + mu) ** 2

    def p(key: str) -> Fraction:
        return Fraction(counts[key], n)

    return mu_min * p("0000") - mu_max * (p("0101") + p("1010") + p("0011"))


def chsh_exact(counts: dict[str, int]) -> Fraction:
    def e(x: int, y: int) -> Fraction:
        same = counts[f"00{x}{y}"] + counts[f"11{x}{y}"]
        diff = counts[f"01{x}{y}"] + counts[f"10{x}{y}"]
        return Fraction(same - diff, same + diff)

    return e(0, 0) + e(0, 1) + e(1, 0) - e(1, 1)


def ab_bits(trials: np.ndarray) -> np.ndarray:
    """AB = a_0 b_0 a_1 b_1 ... (bit 1 of v is a, bit 0 is b)."""
    ab = np.empty(2 * trials.size, dtype=np.uint8)
    ab[0::2] = (trials >> 1) & 1
    ab[1::2] = trials & 1
    return ab


def dodis_oracle(x: np.ndarray, y: np.ndarray, m: int) -> np.ndarray:
    """Output bit j = sum_{t=0}^{N-1-j} x_t y_{t+j} mod 2, via Python integers.

    Bit t of X is x_t and bit t of (Y >> j) is y_{t+j} (zero once t + j >= N), so the parity
    of popcount(X & (Y >> j)) is exactly the non-cyclic sum of the definition.
    """
    assert x.size == y.size and 0 <= m <= x.size
    big_x = int.from_bytes(np.packbits(x, bitorder="little").tobytes(), "little")
    big_y = int.from_bytes(np.packbits(y, bitorder="little").tobytes(), "little")
    return np.array([(big_x & (big_y >> j)).bit_count() & 1 for j in range(m)], dtype=np.uint8)


def dodis_bit_direct(x: np.ndarray, y: np.ndarray, j: int) -> int:
    """The definition, literally: sum over t = 0 .. N-1-j of x_t y_{t+j}, mod 2."""
    n = x.size
    return int(np.count_nonzero(x[: n - j] & y[j:])) & 1


def test_oracle_self_check() -> None:
    """The fast oracle equals a naive double loop of the definition (small inputs)."""
    rng = np.random.default_rng(11)
    for n in (1, 2, 7, 8, 9, 37, 64, 65):
        x = rng.integers(0, 2, n, dtype=np.uint8)
        y = rng.integers(0, 2, n, dtype=np.uint8)
        naive = [sum(int(x[t]) * int(y[t + j]) for t in range(n - j)) % 2 for j in range(n)]
        assert dodis_oracle(x, y, n).tolist() == naive
        assert [dodis_bit_direct(x, y, j) for j in range(n)] == naive
    # a hand-checked case: x = 1101, y = 1011 -> K_0 = 1+0+0+1, K_1 = 0+1+0, K_2 = 1+1, K_3 = 1
    x = np.array([1, 1, 0, 1], dtype=np.uint8)
    y = np.array([1, 0, 1, 1], dtype=np.uint8)
    assert dodis_oracle(x, y, 4).tolist() == [0, 1, 0, 1]


# --------------------------------------------------------------------------- CLI helpers

runner = CliRunner()


def invoke(*args: object) -> Result:
    return runner.invoke(app, [str(a) for a in args])


def squash(text: str) -> str:
    """Output with all whitespace removed (rich wraps long lines at the console width)."""
    return "".join(text.split())


def assert_no_traceback(result: Result) -> None:
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"uncaught {result.exception!r}"
    )
    assert "Traceback" not in result.output


def load_cert(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def hash_dir(run_dir: Path) -> dict[str, str]:
    return {p.name: file_sha(p) for p in sorted(run_dir.iterdir()) if p.is_file()}


@dataclass(frozen=True)
class SmallRun:
    config_path: Path
    config_text: str
    run_dir: Path
    result: Result
    cert: dict[str, Any]
    store: PlainStore


@pytest.fixture(scope="module")
def small_run(tmp_path_factory: pytest.TempPathFactory) -> SmallRun:
    base = tmp_path_factory.mktemp("small")
    text = config_text()
    config_path = base / "small.toml"
    config_path.write_text(text, encoding="utf-8")
    run_dir = base / "run"
    result = invoke("run", config_path, "--out", run_dir, "--quiet", "--json")
    assert result.exit_code == 0, result.output
    return SmallRun(
        config_path=config_path,
        config_text=text,
        run_dir=run_dir,
        result=result,
        cert=load_cert(run_dir / "certificate.json"),
        store=read_plain(run_dir / "trials.h5"),
    )


@pytest.fixture
def run_copy(small_run: SmallRun, tmp_path: Path) -> Path:
    """A private copy of the small run directory (amplify writes into it)."""
    dest = tmp_path / "run"
    shutil.copytree(small_run.run_dir, dest)
    return dest


# --------------------------------------------------------------------------- diamp run


def test_run_writes_store_key_and_certificate(small_run: SmallRun) -> None:
    assert small_run.result.exit_code == 0
    assert_no_traceback(small_run.result)
    names = {p.name for p in small_run.run_dir.iterdir()}
    assert {"trials.h5", "key.bin", "certificate.json"} <= names
    # --json prints the certificate (possibly without the bulky series)
    printed = json.loads(small_run.result.stdout)
    for key, value in printed.items():
        assert small_run.cert[key] == value, key


def test_certificate_fields(small_run: SmallRun) -> None:
    cert = small_run.cert
    n = SMALL_BLOCKS * SMALL_TRIALS
    assert cert["schema"] == "diamp.certificate/1"
    assert cert["status"] == "ok"
    assert cert["abort_reason"] is None
    assert cert["n_trials"] == n
    assert Fraction(cert["mu"]) == MU
    assert sorted(cert["counts"]) == ABXY_KEYS
    assert all(isinstance(v, int) for v in cert["counts"].values())
    assert sum(cert["counts"].values()) == n
    assert isinstance(cert["chsh"], float)
    s_mu = Fraction(cert["s_mu_obs"])  # an exact fraction string
    assert cert["s_mu_obs_float"] == float(s_mu)
    assert cert["eps"] == 1e-12
    assert cert["eps_s"] == pytest.approx(1e-12 / 12, rel=1e-12)
    assert cert["eps_ea"] == pytest.approx(1e-12, rel=1e-12)
    assert isinstance(cert["eta"], float) and cert["eta"] > 0
    m = cert["m"]
    assert isinstance(m, int) and m > 1000
    assert cert["bound"] == "strict"
    assert re.fullmatch(r"[0-9a-f]{64}", cert["inputs"]["ab_sha256"])
    assert re.fullmatch(r"[0-9a-f]{64}", cert["inputs"]["z_sha256"])
    assert cert["output"]["bits"] == m
    assert cert["output"]["file"] == "key.bin"
    assert cert["inputs"]["ab_bits"] == cert["inputs"]["z_bits"] == 2 * n
    assert re.fullmatch(r"[0-9a-f]{64}", cert["output"]["sha256"])
    assert cert["software"]["version"] == diamp.__version__
    started = datetime.fromisoformat(cert["timestamps"]["started_utc"])
    finished = datetime.fromisoformat(cert["timestamps"]["finished_utc"])
    assert started.utcoffset() is not None and started.utcoffset().total_seconds() == 0
    assert started <= finished
    assert RUN_ID_RE.match(cert["run_id"])
    assert cert["run_id"] == small_run.store.attrs["run_id"]


def test_store_written_by_run_follows_the_doc(small_run: SmallRun) -> None:
    store = small_run.store
    attrs = store.attrs
    assert set(attrs) == {
        "schema",
        "schema_version",
        "run_id",
        "config",
        "config_sha256",
        "software_version",
        "created_utc",
        "provenance",
        "provenance_sha256",
        "block_sha256",
    }
    assert RUN_ID_RE.match(attrs["run_id"])
    assert attrs["config"] == small_run.config_text  # exactly as read
    assert attrs["config_sha256"] == sha256_hex(small_run.config_text.encode("utf-8"))
    assert attrs["software_version"] == diamp.__version__
    datetime.fromisoformat(attrs["created_utc"])
    assert store.block_names == [f"{i:06d}" for i in range(SMALL_BLOCKS)]
    assert [b.size for b in store.blocks] == [SMALL_TRIALS] * SMALL_BLOCKS
    assert int(store.trials.max()) < 16
    n = SMALL_BLOCKS * SMALL_TRIALS
    assert store.z_bits == 2 * n
    assert store.z_packed.size == math.ceil(2 * n / 8)
    spare = 8 * store.z_packed.size - store.z_bits
    assert int(store.z_packed[-1]) & ((1 << spare) - 1) == 0
    assert sha256_hex(store.z_packed) == store.z_sha256


def test_counts_chsh_and_s_mu_recomputed(small_run: SmallRun) -> None:
    cert = small_run.cert
    counts = counts_abxy(small_run.store.trials)
    assert cert["counts"] == counts
    assert cert["n_trials"] == sum(counts.values())
    chsh = chsh_exact(counts)
    assert cert["chsh"] == pytest.approx(float(chsh), rel=1e-12, abs=1e-12)
    assert 2.7 < float(chsh) < 2.9  # a perfect |Psi+> with CHSH-optimal settings
    s_mu = s_mu_exact(counts, MU)
    assert Fraction(cert["s_mu_obs"]) == s_mu
    assert cert["s_mu_obs_float"] == float(s_mu)
    assert s_mu >= Fraction(SMALL_THRESHOLD)


def test_block_checksums_in_certificate(small_run: SmallRun) -> None:
    blocks = small_run.cert["blocks"]
    assert [b["index"] for b in blocks] == list(range(SMALL_BLOCKS))
    assert [b["n_trials"] for b in blocks] == [t.size for t in small_run.store.blocks]
    assert [b["sha256"] for b in blocks] == [sha256_hex(t) for t in small_run.store.blocks]


def test_input_hashes_recomputed(small_run: SmallRun) -> None:
    inputs = small_run.cert["inputs"]
    ab = ab_bits(small_run.store.trials)
    assert inputs["ab_sha256"] == sha256_hex(np.packbits(ab))
    assert inputs["z_sha256"] == sha256_hex(small_run.store.z_packed)
    assert inputs["z_sha256"] == small_run.store.z_sha256


def test_key_is_dodis_of_ab_and_z(small_run: SmallRun) -> None:
    cert = small_run.cert
    m = cert["m"]
    key = (small_run.run_dir / "key.bin").read_bytes()
    assert len(key) == math.ceil(m / 8)
    assert sha256_hex(key) == cert["output"]["sha256"]
    key_bits = np.unpackbits(np.frombuffer(key, dtype=np.uint8))
    assert not key_bits[m:].any(), "padding bits of key.bin must be zero"
    x = ab_bits(small_run.store.trials)
    y = small_run.store.z
    assert x.size == y.size == 2 * cert["n_trials"]
    want = dodis_oracle(x, y, m)
    mismatches = np.flatnonzero(key_bits[:m] != want)
    assert mismatches.size == 0, f"{mismatches.size} key bits differ, first at {mismatches[:10]}"
    for j in (0, 1, m // 2, m - 1):
        assert int(key_bits[j]) == dodis_bit_direct(x, y, j)


def test_eta_and_m_agree_with_rate(small_run: SmallRun) -> None:
    cert = small_run.cert
    result = invoke(
        "rate", "--n", cert["n_trials"], "--mu", "0.0075", "--s-mu", SMALL_THRESHOLD, "--json"
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["m"] == cert["m"]
    assert data["eta"] == pytest.approx(cert["eta"], rel=1e-12)


def test_stats_json_matches_oracle(small_run: SmallRun) -> None:
    result = invoke("stats", small_run.run_dir / "trials.h5", "--mu", "0.0075", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    store = small_run.store
    counts = counts_abxy(store.trials)
    assert data["run_id"] == store.attrs["run_id"]
    assert data["n_trials"] == SMALL_BLOCKS * SMALL_TRIALS
    assert Fraction(data["mu"]) == MU
    assert data["counts"] == counts
    assert data["chsh"] == pytest.approx(float(chsh_exact(counts)), rel=1e-12)
    assert Fraction(data["s_mu_obs"]) == s_mu_exact(counts, MU)
    assert data["s_mu_obs_float"] == float(s_mu_exact(counts, MU))
    series = data["series"]["blocks"]
    assert len(series) == SMALL_BLOCKS
    for entry, block in zip(series, store.blocks, strict=True):
        c = counts_abxy(block)
        assert entry["n_trials"] == block.size
        assert entry["chsh"] == pytest.approx(float(chsh_exact(c)), rel=1e-12)
        assert entry["s_mu_float"] == pytest.approx(float(s_mu_exact(c, MU)), rel=1e-12)


def test_stats_segments_follow_segment_option(small_run: SmallRun) -> None:
    """Segments of --segment trials restart at each block; the last one of a block is shorter."""
    seg = 100_000
    result = invoke(
        "stats", small_run.run_dir / "trials.h5", "--mu", "0.0075", "--segment", seg, "--json"
    )
    assert result.exit_code == 0, result.output
    segments = json.loads(result.stdout)["series"]["segments"]
    want = []
    for block in small_run.store.blocks:
        for start in range(0, block.size, seg):
            want.append(block[start : start + seg])
    assert [s["n_trials"] for s in segments] == [w.size for w in want]
    for entry, part in zip(segments, want, strict=True):
        c = counts_abxy(part)
        assert entry["s_mu_float"] == pytest.approx(float(s_mu_exact(c, MU)), rel=1e-12)


def test_stats_with_another_mu(small_run: SmallRun) -> None:
    result = invoke("stats", small_run.run_dir / "trials.h5", "--mu", "1/100", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert Fraction(data["s_mu_obs"]) == s_mu_exact(
        counts_abxy(small_run.store.trials), Fraction(1, 100)
    )


def test_run_refuses_existing_out(small_run: SmallRun) -> None:
    before = hash_dir(small_run.run_dir)
    result = invoke("run", small_run.config_path, "--out", small_run.run_dir, "--quiet")
    assert result.exit_code != 0
    assert_no_traceback(result)
    assert "trials.h5" in squash(result.output)
    assert hash_dir(small_run.run_dir) == before


# --------------------------------------------------------------------------- protocol abort


def test_lhv_device_aborts(tmp_path: Path) -> None:
    config = tmp_path / "classical.toml"
    config.write_text(
        config_text(name="classical", trials=50_000, device=LHV_DEVICE, threshold="0.0065"),
        encoding="utf-8",
    )
    run_dir = tmp_path / "run"
    result = invoke("run", config, "--out", run_dir, "--quiet", "--json")
    assert result.exit_code == 3, result.output
    assert_no_traceback(result)
    cert = load_cert(run_dir / "certificate.json")
    assert cert["schema"] == "diamp.certificate/1"
    assert cert["status"] == "abort"
    assert isinstance(cert["abort_reason"], str) and cert["abort_reason"].strip()
    assert cert["m"] == 0
    assert cert["output"]["bits"] == 0
    assert cert["output"]["sha256"] is None
    assert not (run_dir / "key.bin").exists()
    assert not list(run_dir.glob("key*"))
    store = read_plain(run_dir / "trials.h5")
    counts = counts_abxy(store.trials)
    assert cert["counts"] == counts
    s_mu = s_mu_exact(counts, MU)
    assert Fraction(cert["s_mu_obs"]) == s_mu
    assert s_mu < Fraction("0.0065")
    assert float(chsh_exact(counts)) <= 2.0 + 0.05


# --------------------------------------------------------------------------- malformed configs


BAD_CONFIGS = {
    "unknown_key": (config_text(device={**QUANTUM_DEVICE, "visiblity": 0.9}), "device.visiblity"),
    "unknown_section": (config_text(extra={"foo": 1}), "extra"),
    "visibility_out_of_range": (
        config_text(device={**QUANTUM_DEVICE, "visibility": 1.5}),
        "device.visibility",
    ),
    "negative_visibility": (
        config_text(device={**QUANTUM_DEVICE, "visibility": -0.1}),
        "device.visibility",
    ),
    "bias_above_mu": (
        config_text(sources={"alice": {"model": "iid", "bias": 0.01}}),
        "alice.bias",
    ),
    "schema_version_2": (config_text(top="schema_version = 2"), "schema_version"),
    "schema_version_missing": (config_text(top=""), "schema_version"),
    "zero_blocks": (config_text(blocks=0), "run.blocks"),
    "blocks_not_a_number": (config_text(run={"blocks": "two"}), "run.blocks"),
    "bad_threshold": (config_text(threshold="abc"), "protocol.s_mu_threshold"),
    "invalid_toml": (config_text(device={**QUANTUM_DEVICE, "visibility": Raw("= 1.0")}), "line"),
}


@pytest.mark.parametrize("case", sorted(BAD_CONFIGS))
def test_malformed_config_exit_2(tmp_path: Path, case: str) -> None:
    text, key = BAD_CONFIGS[case]
    config = tmp_path / f"bad-{case}.toml"
    config.write_text(text, encoding="utf-8")
    run_dir = tmp_path / "run"
    result = invoke("run", config, "--out", run_dir, "--quiet")
    assert result.exit_code == 2, result.output
    assert_no_traceback(result)
    out = squash(result.output)
    assert squash(str(config)) in out, result.output
    assert key in out, result.output
    assert not (run_dir / "trials.h5").exists()


def test_missing_config_file_exit_2(tmp_path: Path) -> None:
    config = tmp_path / "does-not-exist.toml"
    result = invoke("run", config, "--out", tmp_path / "run", "--quiet")
    assert result.exit_code == 2, result.output
    assert_no_traceback(result)
    assert squash(str(config)) in squash(result.output)
    assert not (tmp_path / "run").exists()


def test_malformed_config_in_bracketed_directory_names_the_file(tmp_path: Path) -> None:
    """Paths are user data: '[lab]' in a directory name must be printed, not eaten as markup."""
    folder = tmp_path / "[lab]"
    folder.mkdir()
    config = folder / "bad.toml"
    config.write_text(config_text(device={**QUANTUM_DEVICE, "visibility": 1.5}), encoding="utf-8")
    result = invoke("run", config, "--out", tmp_path / "run", "--quiet")
    assert result.exit_code == 2, result.output
    assert_no_traceback(result)
    assert squash(str(config)) in squash(result.output), result.output


def test_malformed_config_with_bracketed_key_names_the_key(tmp_path: Path) -> None:
    """An unknown (quoted) key that looks like rich markup is reported, not a crash."""
    config = tmp_path / "bad.toml"
    config.write_text(config_text(device={**QUANTUM_DEVICE, "[/]": 1}), encoding="utf-8")
    result = invoke("run", config, "--out", tmp_path / "run", "--quiet")
    assert result.exit_code == 2, result.output
    assert_no_traceback(result)
    assert "device.[/]" in result.output


def test_malformed_config_subprocess_has_no_traceback(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(config_text(device={**QUANTUM_DEVICE, "visibility": 1.5}), encoding="utf-8")
    proc = subprocess.run(
        [str(DIAMP_EXE), "run", str(config), "--out", str(tmp_path / "run"), "--quiet"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr + proc.stdout
    assert "device.visibility" in squash(proc.stderr)


# --------------------------------------------------------------------------- diamp amplify


def test_amplify_reproduces_key_and_leaves_store_untouched(run_copy: Path) -> None:
    before = hash_dir(run_copy)
    result = invoke("amplify", run_copy, "--quiet", "--json")
    assert result.exit_code == 0, result.output
    assert_no_traceback(result)
    cert_path = run_copy / "certificate.amplify-001.json"
    key_path = run_copy / "key.amplify-001.bin"
    assert cert_path.exists() and key_path.exists()
    after = hash_dir(run_copy)
    for name, digest in before.items():
        assert after[name] == digest, f"{name} changed"
    assert set(after) - set(before) == {cert_path.name, key_path.name}
    original = load_cert(run_copy / "certificate.json")
    cert = load_cert(cert_path)
    assert cert["status"] == "ok"
    assert cert["m"] == original["m"]
    assert cert["output"]["sha256"] == original["output"]["sha256"]
    assert key_path.read_bytes() == (run_copy / "key.bin").read_bytes()
    assert cert["inputs"] == original["inputs"]
    assert cert["counts"] == original["counts"]
    assert cert["s_mu_obs"] == original["s_mu_obs"]


def test_amplify_paper_bound_is_at_least_strict(run_copy: Path) -> None:
    store_hash = file_sha(run_copy / "trials.h5")
    strict = invoke("amplify", run_copy, "--quiet")
    assert strict.exit_code == 0, strict.output
    paper = invoke("amplify", run_copy, "--bound", "paper", "--quiet")
    assert paper.exit_code == 0, paper.output
    c_strict = load_cert(run_copy / "certificate.amplify-001.json")
    c_paper = load_cert(run_copy / "certificate.amplify-002.json")
    assert c_strict["bound"] == "strict" and c_paper["bound"] == "paper"
    assert c_paper["m"] >= c_strict["m"] > 0
    m = c_strict["m"]
    k_strict = np.unpackbits(
        np.frombuffer((run_copy / "key.amplify-001.bin").read_bytes(), np.uint8)
    )
    k_paper = np.unpackbits(
        np.frombuffer((run_copy / "key.amplify-002.bin").read_bytes(), np.uint8)
    )
    assert k_paper.size == 8 * math.ceil(c_paper["m"] / 8)
    # output bit j does not depend on m: the strict key is a prefix of the paper key
    np.testing.assert_array_equal(k_paper[:m], k_strict[:m])
    assert file_sha(run_copy / "trials.h5") == store_hash


def test_amplify_refuses_flipped_bit(run_copy: Path) -> None:
    import h5py

    store = run_copy / "trials.h5"
    with h5py.File(store, "r+") as f:
        ds = f["blocks/000001/trials"]
        data = ds[()]
        data[12345] ^= 0b0010  # flip Alice's output; sha256 attribute not updated
        ds[...] = data
    before = hash_dir(run_copy)
    result = invoke("amplify", run_copy, "--quiet")
    assert result.exit_code != 0
    assert_no_traceback(result)
    assert "block000001" in squash(result.output), result.output
    assert not list(run_copy.glob("key.amplify-*"))
    assert hash_dir(run_copy).items() >= before.items()


def test_amplify_refuses_truncated_store(run_copy: Path) -> None:
    store = run_copy / "trials.h5"
    os.truncate(store, store.stat().st_size // 2)
    result = invoke("amplify", run_copy, "--quiet")
    assert result.exit_code != 0
    assert_no_traceback(result)
    assert squash(str(store)) in squash(result.output), result.output
    assert not list(run_copy.glob("key.amplify-*"))


def test_amplify_with_other_mu(run_copy: Path, small_run: SmallRun) -> None:
    result = invoke("amplify", run_copy, "--mu", "0.005", "--quiet", "--json")
    assert result.exit_code in (0, 3), result.output
    cert = load_cert(run_copy / "certificate.amplify-001.json")
    assert Fraction(cert["mu"]) == Fraction("0.005")
    counts = counts_abxy(small_run.store.trials)
    assert Fraction(cert["s_mu_obs"]) == s_mu_exact(counts, Fraction("0.005"))
    assert Fraction(cert["s_mu_obs"]) != Fraction(small_run.cert["s_mu_obs"])


def test_amplify_without_store(tmp_path: Path) -> None:
    result = invoke("amplify", tmp_path, "--quiet")
    assert result.exit_code != 0
    assert_no_traceback(result)
    assert squash(str(tmp_path / "trials.h5")) in squash(result.output), result.output
    assert list(tmp_path.iterdir()) == []


def test_stats_refuses_invalid_trial_value(run_copy: Path) -> None:
    """A value >= 16 with a matching checksum is still not a trial (docs/trial-store.md)."""
    import h5py

    store = run_copy / "trials.h5"
    with h5py.File(store, "r+") as f:
        g = f["blocks/000001"]
        data = g["trials"][()]
        data[99] = 16
        g["trials"][...] = data
        g.attrs["sha256"] = sha256_hex(data)
        hashes = json.loads(f.attrs["block_sha256"])
        hashes[1] = sha256_hex(data)  # a forger who also fixes the root's hash list
        f.attrs["block_sha256"] = json.dumps(hashes)
    result = invoke("stats", store, "--mu", "0.0075", "--json")
    assert result.exit_code != 0
    assert_no_traceback(result)
    assert "16" in result.output


def test_stats_refuses_corrupted_store(run_copy: Path) -> None:
    import h5py

    store = run_copy / "trials.h5"
    with h5py.File(store, "r+") as f:
        f["blocks/000000"].attrs["status"] = "writing"
    result = invoke("stats", store, "--mu", "0.0075", "--json")
    assert result.exit_code != 0
    assert_no_traceback(result)
    assert "block000000" in squash(result.output), result.output


# --------------------------------------------------------------------------- diamp rate


def test_rate_published_point_strict() -> None:
    result = invoke("rate", "--n", 1342177280, "--mu", "0.0075", "--s-mu", "0.00296", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert abs(data["eta"] - 0.13621490) < 1e-8
    assert data["m"] == 20860818


def test_rate_published_point_paper() -> None:
    result = invoke(
        "rate",
        "--n",
        1342177280,
        "--mu",
        "0.0075",
        "--s-mu",
        "0.00296",
        "--bound",
        "paper",
        "--json",
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert abs(data["eta"] - 0.13621490) < 1e-8
    assert data["m"] == 20860847


INVALID_ARGUMENTS = {
    "rate_bound": (
        ["rate", "--n", "1000", "--mu", "0.0075", "--s-mu", "0.003", "--bound", "loose"],
        "--bound",
    ),
    "rate_mu": (["rate", "--n", "1000", "--mu", "abc", "--s-mu", "0.003"], "--mu"),
    "stats_mu": (["stats", "{store}", "--mu", "abc"], "--mu"),
    "rate_mu_half": (["rate", "--n", "1000", "--mu", "0.5", "--s-mu", "0.003"], "--mu"),
    "rate_n_zero": (["rate", "--n", "0", "--mu", "0.0075", "--s-mu", "0.003"], "--n"),
    "rate_eps_zero": (
        ["rate", "--n", "1000", "--mu", "0.0075", "--s-mu", "0.003", "--eps", "0"],
        "--eps",
    ),
    "rate_s_mu_zero": (["rate", "--n", "1000", "--mu", "0.0075", "--s-mu", "0"], "--s-mu"),
    "rate_s_mu_negative": (["rate", "--n", "1000", "--mu", "0.0075", "--s-mu", "-1"], "--s-mu"),
    "stats_mu_half": (["stats", "{store}", "--mu", "0.5"], "--mu"),
    "stats_segment": (["stats", "{store}", "--mu", "0.0075", "--segment", "0"], "--segment"),
    "amplify_mu_half": (["amplify", "{run}", "--mu", "0.5"], "--mu"),
    "extract_m_zero": (
        ["extract", "dodis", "{run}/key.bin", "{run}/key.bin", "--m", "0", "-o", "{run}/x"],
        "--m",
    ),
    "extract_input_folder": (
        ["extract", "dodis", "{run}", "{run}/key.bin", "--m", "8", "-o", "{run}/x"],
        "is a folder",
    ),
    "extract_output_folder": (
        ["extract", "dodis", "{run}/key.bin", "{run}/key.bin", "--m", "8", "-o", "{run}"],
        "--out",
    ),
    "extract_output_missing_folder": (
        ["extract", "dodis", "{run}/key.bin", "{run}/key.bin", "--m", "8", "-o", "{run}/no/x"],
        "does not exist",
    ),
    "toeplitz_m_above_n": (
        ["extract", "toeplitz", "{run}/key.bin", "{run}/key.bin", "--m", "100000", "-o", "{run}/x"],
        "never outputs more bits",
    ),
    "sp800_90b_seed": (["test", "sp800-90b", "--seed", "-1", "-b", "8", "{run}/key.bin"], "--seed"),
    "amplify_bound": (["amplify", "{run}", "--bound", "loose", "--quiet"], "bound"),
    "amplify_mu": (["amplify", "{run}", "--mu", "abc", "--quiet"], "--mu"),
}


@pytest.mark.parametrize("case", sorted(INVALID_ARGUMENTS))
def test_invalid_argument_values_exit_2(run_copy: Path, case: str) -> None:
    """README: exit status 2 means invalid configuration or arguments."""
    args, name = INVALID_ARGUMENTS[case]
    before = hash_dir(run_copy)
    argv = [a.format(store=run_copy / "trials.h5", run=run_copy) for a in args]
    result = invoke(*argv)
    assert_no_traceback(result)
    assert name in result.output, result.output
    assert hash_dir(run_copy) == before
    assert result.exit_code == 2, result.output


# --------------------------------------------------------------------------- console script


def test_console_script_help() -> None:
    proc = subprocess.run(
        [str(DIAMP_EXE), "--help"], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr
    for command in ("run", "stats", "amplify", "rate"):
        assert re.search(rf"\b{command}\b", proc.stdout), command
    assert "Traceback" not in proc.stderr


# --------------------------------------------------------------------------- the demo


@pytest.mark.slow
def test_demo_config_certifies_a_megabit(tmp_path: Path) -> None:
    run_dir = tmp_path / "demo"
    result = invoke(
        "run", REPO / "configs" / "simulated.toml", "--out", run_dir, "--quiet", "--json"
    )
    assert result.exit_code == 0, result.output
    for name in ("trials.h5", "key.bin", "certificate.json"):
        assert (run_dir / name).is_file(), name
    cert = load_cert(run_dir / "certificate.json")
    m = cert["m"]
    assert cert["status"] == "ok" and m >= 1_000_000
    key = (run_dir / "key.bin").read_bytes()
    assert len(key) == math.ceil(m / 8)
    assert sha256_hex(key) == cert["output"]["sha256"]
    store = read_plain(run_dir / "trials.h5")
    assert store.attrs["config"] == (REPO / "configs" / "simulated.toml").read_text(
        encoding="utf-8"
    )
    counts = counts_abxy(store.trials)
    assert cert["counts"] == counts
    assert Fraction(cert["s_mu_obs"]) == s_mu_exact(counts, MU)
    x = ab_bits(store.trials)
    y = store.z
    assert cert["inputs"]["ab_sha256"] == sha256_hex(np.packbits(x))
    assert cert["inputs"]["z_sha256"] == sha256_hex(store.z_packed)
    key_bits = np.unpackbits(np.frombuffer(key, dtype=np.uint8))
    rng = np.random.default_rng(2024)
    positions = [0, 1, m - 1, *rng.choice(m, size=8, replace=False).tolist()]
    for j in positions:
        assert int(key_bits[j]) == dodis_bit_direct(x, y, int(j)), j


def test_rate_reports_the_chain_error_of_each_bound() -> None:
    base = ("rate", "--n", 1342177280, "--mu", "0.0075", "--s-mu", "0.00296")
    strict = json.loads(invoke(*base, "--json").stdout)
    paper = json.loads(invoke(*base, "--bound", "paper", "--json").stdout)
    assert strict["chain_error"] <= 1e-12 and strict["certified"] is True
    assert paper["chain_error"] >= 1e-7 and paper["certified"] is False
    shown = squash(invoke(*base, "--bound", "paper").output)
    assert "NOTacertifiedepsilon" in shown and "3.8e-07" in shown  # squash drops spaces


def test_rate_pays_for_post_selection() -> None:
    base = ("rate", "--n", 1342177280, "--mu", "0.0075", "--s-mu", "0.00296")
    paid = json.loads(invoke(*base, "--post-selection-blocks", "20", "--json").stdout)
    assert paid["m"] == 20_554_228 and paid["post_selection_blocks"] == 20
    assert paid["post_selection"] is not None and "2^B" in paid["post_selection"]
    refused = invoke(*base, "--post-selection-blocks", "-3")
    assert refused.exit_code == 2
    assert_no_traceback(refused)
    assert "--post-selection-blocks" in squash(refused.output)


def test_config_errors_found_at_run_time_exit_2_and_leave_no_directory(tmp_path: Path) -> None:
    """A missing timing section, an out-of-range instrument setting, a coerced number."""
    from _runconfig import CONFIGS

    base = (CONFIGS / "simulated.toml").read_text()
    cases = {
        "timing": (base.replace('section = "timing/', 'section = "nowhere/'), "timing.section"),
        "setting": (base.replace("sample_rate = 1.2e9", "sample_rate = 1.2e15"), "sample_rate"),
        "bool": (re.sub(r"(?m)^blocks = .*$", "blocks = true", base), "run.blocks"),
        "string": (re.sub(r"(?m)^seed = (.*)$", r'seed = "\1"', base), "run.seed"),
    }
    for name, (text, needle) in cases.items():
        assert text != base, name
        folder = tmp_path / name
        shutil.copytree(CONFIGS, folder)
        (folder / "c.toml").write_text(text)
        out = tmp_path / f"out-{name}"
        result = invoke("run", folder / "c.toml", "--out", out, "-q")
        assert result.exit_code == 2, (name, result.output)
        assert needle in result.output, (name, result.output)
        assert_no_traceback(result)
        assert not out.exists(), name


def test_resume_with_another_config_exits_2(run_copy: Path, tmp_path: Path) -> None:
    from _runconfig import CONFIGS

    other = tmp_path / "configs"
    shutil.copytree(CONFIGS, other)
    (other / "c.toml").write_text((CONFIGS / "simulated.toml").read_text() + "\n# edited\n")
    result = invoke("run", other / "c.toml", "--resume", run_copy, "-q")
    assert result.exit_code == 2, result.output
    assert "another config" in result.output


def test_out_under_a_file_exits_2_naming_the_path(small_run: SmallRun, tmp_path: Path) -> None:
    """A file where the run folder must go is a bad argument (exit 2); a read-only or full
    disk is a runtime failure (exit 1, ``tests/protocol/test_disk_full.py``)."""
    blocker = tmp_path / "file"
    blocker.write_bytes(b"x")
    result = invoke("run", small_run.config_path, "--out", blocker / "run", "--quiet")
    assert result.exit_code == 2, result.output
    assert_no_traceback(result)
    assert f"{blocker / 'run'}" in squash(result.output)
