"""The extraction engine from config and command line to the certificate's ``exactness``.

``[extractor] engine`` ("fft" or "exact") and ``diamp extract … --engine`` choose the
correlation engine; the key is the same bits either way, and every certificate says which
evidence stands behind it: ``extractor.exactness`` = "exact" (NTT) or "fft-bound" (FFT with
its round-off bound). Certificates written before the field existed read as "fft-bound".
"""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from _certificates import certificate_doc
from _runconfig import run_config
from diamp.cli import app
from diamp.config import parse_config
from diamp.errors import ConfigError, StorageError
from diamp.protocol.amplify import amplify, params_from_config
from diamp.protocol.certificate import build_certificate, parse_certificate
from diamp.protocol.run import run

RUNNER = CliRunner()

# 2 blocks of 400_003 trials of a perfect device: m ~ 4,500 bits at this threshold.
SMALL: dict[str, Any] = {
    "run": {"name": "engine", "seed": 20250607, "blocks": 2, "trials_per_block": 400_003},
    "sources": {
        "mu": "0.0075",
        "alice": {"model": "iid", "bias": 0.004},
        "bob": {"model": "markov", "bias": 0.004},
        "z_source": "alice",
    },
    "device": {"model": "quantum", "visibility": 1.0, "readout_fidelity": 1.0},
    "protocol": {"mode": "fixed", "s_mu_threshold": "0.0108", "eps": 1e-12},
}


def config(engine: str | None) -> str:
    extractor = {"verify_bits": 64} if engine is None else {"verify_bits": 64, "engine": engine}
    return run_config(SMALL, {"extractor": extractor})


# ----------------------------------------------------------------------------- config


def test_the_engine_defaults_to_exact_and_accepts_fft() -> None:
    assert parse_config(config(None), "c.toml").config.extractor.engine == "exact"
    assert parse_config(config("fft"), "c.toml").config.extractor.engine == "fft"
    assert params_from_config(config("fft"), "c.toml").engine == "fft"
    assert params_from_config(config(None), "c.toml").engine == "exact"


@pytest.mark.parametrize("bad", ["fast", "EXACT", "ntt", ""])
def test_an_unknown_engine_is_a_config_error_naming_the_key(bad: str) -> None:
    with pytest.raises(ConfigError, match=r"extractor\.engine"):
        parse_config(config(bad), "c.toml")


def test_diamp_run_with_an_unknown_engine_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(config("fast"), encoding="utf-8")
    result = RUNNER.invoke(app, ["run", str(path), "--out", str(tmp_path / "run"), "--quiet"])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert "extractor.engine" in "".join(result.output.split())
    assert not (tmp_path / "run" / "trials.h5").exists()


# ------------------------------------------------------------------ run and certificate


@pytest.fixture(scope="module")
def exact_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small run with the exact engine (no HTML report: it is not what is tested here)."""
    base = tmp_path_factory.mktemp("engine")
    path = base / "exact.toml"
    path.write_text(config("exact"), encoding="utf-8")
    return run(path, out_dir=base / "run", report=False).run_dir


def test_a_run_with_the_exact_engine_says_so_in_its_certificate(exact_run: Path) -> None:
    cert = json.loads((exact_run / "certificate.json").read_text(encoding="utf-8"))
    assert cert["status"] == "ok" and cert["m"] > 1000
    assert cert["extractor"]["exactness"] == "exact"
    assert cert["extractor"]["roundoff_bound"] == 0.0
    assert parse_certificate(cert, "certificate.json").exactness == "exact"


def test_the_fft_engine_gives_the_same_key_and_says_fft_bound(exact_run: Path) -> None:
    store = exact_run / "trials.h5"
    params = params_from_config(config("exact"), "c.toml")
    result = amplify(store, replace(params, engine="fft"))
    cert = build_certificate(result, None)
    assert cert["extractor"]["exactness"] == "fft-bound"
    assert 0 < cert["extractor"]["roundoff_bound"] < 0.25
    assert result.key is not None
    assert result.key.data.tobytes() == (exact_run / "key.bin").read_bytes()


# ------------------------------------------------------------------- certificate view


def _with_extractor(section: dict[str, Any] | None) -> dict[str, Any]:
    doc = certificate_doc(bytes(range(32)))
    doc["extractor"] = section
    return doc


OLD_SECTION = {
    "name": "dodis-noncyclic",
    "block_bits": 1024,
    "lag_bits": 256,
    "fft_length": 2048,
    "roundoff_bound": 1e-9,
    "max_residual": 1e-12,
    "checked_positions": [1, 2],
}


def test_a_certificate_from_before_the_field_reads_as_fft_bound() -> None:
    assert parse_certificate(_with_extractor(OLD_SECTION), "old.json").exactness == "fft-bound"


def test_a_certificate_without_extraction_has_no_exactness() -> None:
    assert parse_certificate(_with_extractor(None), "abort.json").exactness is None
    assert parse_certificate(certificate_doc(b"\x01"), "bare.json").exactness is None


@pytest.mark.parametrize("value", ["exact", "fft-bound"])
def test_both_values_are_read(value: str) -> None:
    doc = _with_extractor({**OLD_SECTION, "exactness": value})
    assert parse_certificate(doc, "c.json").exactness == value


@pytest.mark.parametrize("value", ["approximate", None, 1, True])
def test_an_edited_exactness_is_refused_naming_the_field(value: object) -> None:
    doc = _with_extractor({**OLD_SECTION, "exactness": value})
    with pytest.raises(StorageError, match=r"c\.json: field 'extractor\.exactness'"):
        parse_certificate(copy.deepcopy(doc), "c.json")


# ------------------------------------------------------------------------ diamp extract


def _files(tmp: Path, x_bytes: int, y_bytes: int, seed: int) -> tuple[Path, Path]:
    rng = np.random.default_rng(seed)
    x, y = tmp / "x.bin", tmp / "y.bin"
    x.write_bytes(rng.bytes(x_bytes))
    y.write_bytes(rng.bytes(y_bytes))
    return x, y


@pytest.mark.parametrize("kind", ["dodis", "toeplitz"])
def test_diamp_extract_engines_write_the_same_bits(tmp_path: Path, kind: str) -> None:
    m = 8 * 1001  # Toeplitz: raw 8 · 4000 bits, seed n + m - 1 = 40_007 bits in 5001 bytes
    x, y = _files(tmp_path, 5003 if kind == "dodis" else 4000, 5003 if kind == "dodis" else 5001, 3)
    reports = {}
    for engine in ("fft", "exact"):
        out = tmp_path / f"{engine}.bin"
        args = ["extract", kind, str(x), str(y), "--m", str(m), "-o", str(out), "--json", "-q"]
        result = RUNNER.invoke(app, [*args, "--engine", engine])
        assert result.exit_code == 0, result.output
        reports[engine] = json.loads(result.stdout)
        assert reports[engine]["engine"] == engine
    assert reports["exact"]["exactness"] == "exact"
    assert reports["fft"]["exactness"] == "fft-bound"
    assert (tmp_path / "fft.bin").read_bytes() == (tmp_path / "exact.bin").read_bytes()
    assert reports["fft"]["output_sha256"] == reports["exact"]["output_sha256"]


@pytest.mark.parametrize("kind", ["dodis", "toeplitz"])
def test_diamp_extract_refuses_an_unknown_engine_with_exit_2(tmp_path: Path, kind: str) -> None:
    x, y = _files(tmp_path, 8, 8, 4)
    out = tmp_path / "out.bin"
    args = ["extract", kind, str(x), str(y), "--m", "8", "-o", str(out), "--engine", "fast"]
    result = RUNNER.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert "--engine" in result.output and "fast" in result.output
    assert not out.exists()
