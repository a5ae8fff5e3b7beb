"""Timing verification inside a run: checks between blocks, abort on failure."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from _runconfig import run_config, write_config
from diamp.cli import app
from diamp.daq.store import TrialStoreReader
from diamp.daq.traces import read_traces

runner = CliRunner()


def config_text(blocks: int = 4, policy: str | None = None, **simulate: Any) -> str:
    """Synthetic timing checks (no scopes); ``simulate`` adds to [timing.simulate]."""
    return run_config(
        run={"seed": 9, "blocks": blocks, "trials_per_block": 2_000_000},
        device={"visibility": 1.0},
        protocol={"s_mu_threshold": "0.008"},
        timing={
            "section": "timing/eth-2024.toml",
            "policy": policy,
            "simulate": {"hours_per_block": 0.45, **simulate},
        },
    )


def make_run(tmp_path: Path, **simulate: Any) -> Path:
    return write_config(tmp_path, config_text(**simulate))


def test_run_with_clean_timing_certifies_and_records_it(tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = runner.invoke(app, ["run", str(make_run(tmp_path)), "--out", str(out), "-q"])
    assert result.exit_code == 0, result.output
    cert = json.loads((out / "certificate.json").read_text())
    assert cert["status"] == "ok" and cert["m"] > 0
    assert cert["excluded_blocks"]["post_selection_blocks"] == 0  # policy abort selects nothing
    assert cert["timing"]["verdict"] == "pass"
    assert len(cert["timing"]["checks"]) == 5  # before block 0 and after each of 4 blocks
    assert cert["timing"]["budget"]["t_d_ns"] == 109.83
    assert [c.label for c in read_traces(out / "timing.h5")][:2] == [
        "before block 0",
        "after block 0",
    ]
    report = runner.invoke(
        app, ["timing", "report", str(out), "--timing", str(tmp_path / "timing" / "eth-2024.toml")]
    )
    assert report.exit_code == 0 and (out / "timing.html").exists()


def test_jitter_mid_run_stops_acquisition_and_aborts(tmp_path: Path) -> None:
    out = tmp_path / "run"
    config = make_run(tmp_path, jitter_device="qrng", jitter_from_check=2)
    result = runner.invoke(app, ["run", str(config), "--out", str(out), "-q"])
    assert result.exit_code == 3, result.output
    cert = json.loads((out / "certificate.json").read_text())
    assert cert["status"] == "abort" and cert["m"] == 0
    assert "timing verification failed" in cert["abort_reason"]
    assert "jitter on" in cert["abort_reason"] and "qrng" in cert["abort_reason"]
    assert not (out / "key.bin").exists()
    with TrialStoreReader(out / "trials.h5") as reader:
        assert len(reader.blocks()) == 2  # check 2 (after block 1) failed: no further blocks
        assert reader.attribute("timing_section") is not None


def test_missing_traces_abort_the_certificate(tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert (
        runner.invoke(app, ["run", str(make_run(tmp_path)), "--out", str(out), "-q"]).exit_code == 0
    )
    (out / "timing.h5").unlink()
    again = runner.invoke(app, ["amplify", str(out), "-q"])
    assert again.exit_code == 3
    cert = json.loads((out / "certificate.amplify-001.json").read_text())
    assert "timing.h5 is missing" in cert["abort_reason"]


def test_exclude_policy_drops_bracketing_blocks_and_extracts_from_the_rest(tmp_path: Path) -> None:
    """Jitter from check 4 on: blocks 3, 4, 5 lose a passing check, blocks 0-2 are used."""
    import h5py
    import numpy as np

    from diamp.extractors.bits import PackedBits
    from diamp.extractors.dodis import dodis_extract

    text = config_text(blocks=6, policy="exclude", jitter_device="qrng", jitter_from_check=4)
    config = write_config(tmp_path, text)
    out = tmp_path / "run"
    result = runner.invoke(app, ["run", str(config), "--out", str(out), "-q"])
    assert result.exit_code == 0, result.output
    cert = json.loads((out / "certificate.json").read_text())
    assert cert["excluded_blocks"]["blocks"] == [3, 4, 5]
    assert [b["index"] for b in cert["blocks"]] == [0, 1, 2]
    # the choice among 2^6 block sets is paid for: m is what `diamp rate` gives with B = 6
    assert cert["excluded_blocks"]["post_selection_blocks"] == 6
    assert cert["security"]["post_selection_blocks"] == 6
    rate = runner.invoke(
        app,
        ["rate", "--n", str(cert["n_trials"]), "--mu", cert["mu"], "--s-mu", "0.008",
         "--post-selection-blocks", "6", "--json"],
    )  # fmt: skip
    assert rate.exit_code == 0, rate.output
    assert json.loads(rate.output)["m"] == cert["m"]
    unpaid = runner.invoke(
        app, ["rate", "--n", str(cert["n_trials"]), "--mu", cert["mu"], "--s-mu", "0.008", "--json"]
    )
    assert json.loads(unpaid.output)["m"] > cert["m"]
    assert cert["timing"]["verdict"] == "fail"  # the record says what happened
    assert any("jitter on" in r and "qrng" in r for r in cert["timing"]["reasons"])
    # oracle from the files with plain h5py: every block stored, only 0-2 counted and extracted
    with h5py.File(out / "trials.h5", "r") as f:
        assert sorted(f["blocks"]) == [f"{k:06d}" for k in range(6)]  # every trial recorded
        kept = np.concatenate([f[f"blocks/{k:06d}/trials"][()] for k in range(3)])
        z, d = f["z"][()], int(f["z"].attrs["bits"])
    assert cert["n_trials"] == kept.size and d == 2 * kept.size
    counts = np.bincount(kept, minlength=16)
    want = {f"{(v >> 1) & 1}{v & 1}{v >> 3}{(v >> 2) & 1}": int(counts[v]) for v in range(16)}
    assert cert["counts"] == want
    ab = np.empty(2 * kept.size, dtype=np.uint8)
    ab[0::2], ab[1::2] = (kept >> 1) & 1, kept & 1
    key = dodis_extract(PackedBits(np.packbits(ab), ab.size), PackedBits(z, d), cert["m"])
    assert key.output.data.tobytes() == (out / "key.bin").read_bytes()


def test_exclude_policy_refuses_a_tampered_exclusion_record(tmp_path: Path) -> None:
    import h5py

    text = config_text(policy="exclude", jitter_device="qrng", jitter_from_check=3)
    config = write_config(tmp_path, text)
    out = tmp_path / "run"
    assert runner.invoke(app, ["run", str(config), "--out", str(out), "-q"]).exit_code in (0, 3)
    with h5py.File(out / "trials.h5", "r+") as f:
        f.attrs["timing_excluded_blocks"] = "[3]"  # claims block 2 was fine
    edited = runner.invoke(app, ["amplify", str(out), "-q"])
    assert edited.exit_code == 1  # the attribute's own checksum catches the edit
    assert "timing_excluded_blocks" in " ".join(edited.output.split())
    with h5py.File(out / "trials.h5", "r+") as f:  # a forger who recomputes the checksum too
        f.attrs["timing_excluded_blocks_sha256"] = hashlib.sha256(b"[3]").hexdigest()
    again = runner.invoke(app, ["amplify", str(out), "-q"])
    assert again.exit_code == 3  # ... still meets the traces, which exclude block 2 as well
    cert = json.loads((out / "certificate.amplify-001.json").read_text())
    assert "the traces exclude blocks [2, 3]" in cert["abort_reason"]


def test_edited_timing_trace_is_refused_by_amplify_and_report(tmp_path: Path) -> None:
    """timing.h5 carries a checksum per trace, and the certificate binds their digest."""
    import h5py

    out = tmp_path / "run"
    result = runner.invoke(app, ["run", str(make_run(tmp_path)), "--out", str(out), "-q"])
    assert result.exit_code == 0, result.output
    cert = json.loads((out / "certificate.json").read_text())
    assert len(cert["timing_traces_sha256"]) == 64
    with h5py.File(out / "timing.h5", "r+") as f:
        check = f["checks/000002"]
        name = sorted(check)[0]
        check[name]["low"][3] += 0.01  # one sample of one trace, one check
    for args in (["amplify", str(out), "-q"], ["report", str(out)]):
        again = runner.invoke(app, args)
        assert again.exit_code == 1, again.output
        text = " ".join(again.output.split())
        assert f"/checks/000002/{name}: sha256 mismatch" in text and "Traceback" not in text
