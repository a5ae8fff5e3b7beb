"""Trace files keep each scope trace's provenance (instrument, channel, snapshot), optionally."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from diamp.daq.traces import TraceSource, read_traces, write_traces
from diamp.errors import TimingError
from diamp.timing.section import load_timing
from diamp.timing.simulate import simulated_checks

ETH = Path(__file__).resolve().parents[2] / "configs" / "timing" / "eth-2024.toml"


def _with_sources(checks: list) -> list:  # type: ignore[type-arg]
    out = []
    for check in checks:
        records = tuple(
            dataclasses.replace(
                rec,
                source=TraceSource(
                    f"scope-{rec.node.lower()}", 1 + i % 4, json.dumps({"idn": f"T{i}"})
                ),
            )
            if rec.role != "remote"  # one trace without provenance: both kinds in one file
            else rec
            for i, rec in enumerate(check.records)
        )
        out.append(dataclasses.replace(check, records=records))
    return out


def test_provenance_round_trips_and_old_files_read_without_it(tmp_path: Path) -> None:
    checks = _with_sources(
        simulated_checks(load_timing(ETH), checks=2, hours=1, rng=np.random.default_rng(1))
    )
    path = tmp_path / "t.h5"
    write_traces(path, checks)
    back = read_traces(path)
    for written, read in zip(checks, back, strict=True):
        by_name = {r.name: r for r in written.records}
        for rec in read.records:
            assert rec.source == by_name[rec.name].source
            assert np.array_equal(rec.trace.low, by_name[rec.name].trace.low)
    reference = {r.name: r for r in back[0].records}["A-reference"].source  # written first
    assert reference is not None and json.loads(reference.snapshot) == {"idn": "T0"}
    assert (reference.instrument, reference.channel) == ("scope-a", 1)
    assert [r.source for r in back[0].records if r.role == "remote"] == [None, None]


def test_incomplete_provenance_is_refused(tmp_path: Path) -> None:
    import h5py

    checks = _with_sources(
        simulated_checks(load_timing(ETH), checks=1, hours=0, rng=np.random.default_rng(2))
    )
    path = tmp_path / "t.h5"
    write_traces(path, checks)
    with h5py.File(path, "r+") as f:
        del f["checks/000000/B-qrng"].attrs["channel"]
    with pytest.raises(TimingError, match=r"000000/B-qrng: provenance incomplete.*channel"):
        read_traces(path)
