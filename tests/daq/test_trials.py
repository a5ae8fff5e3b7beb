"""Trial sources: composed parts equal the simulated lab; the controller sees only the protocol."""

from __future__ import annotations

import hashlib
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from diamp.config import SourcesSection, parse_config
from diamp.daq.sim.lab import SimulatedLab
from diamp.daq.store import TrialStoreReader, TrialStoreWriter
from diamp.daq.trials import (
    ComposedTrials,
    SimulatedInputs,
    SimulatedOutcomes,
    SimulatedZ,
    compose_trials,
)
from diamp.errors import ConfigError
from diamp.progress import NullProgress
from diamp.protocol.acquire import AcquisitionPlan, acquire_blocks

CONFIG = """
schema_version = 1
[run]
seed = 77
blocks = 3
trials_per_block = 5000
segment_trials = 2048
[sources]
mu = "0.01"
alice = { model = "iid", bias = 0.005 }
bob = { model = "markov", bias = -0.004 }
z_source = "bob"
[device]
model = "quantum"
visibility = 0.9
readout_fidelity = 0.97
[protocol]
s_mu_threshold = "0.001"
"""


def lab() -> SimulatedLab:
    return SimulatedLab.from_config(parse_config(CONFIG).config)


def test_simulated_parts_equal_the_simulated_lab() -> None:
    sim = lab()
    source = ComposedTrials(SimulatedInputs(sim), SimulatedOutcomes(sim), SimulatedZ(sim))
    seen: list[np.ndarray] = []
    for index in range(3):
        trials = source.block(index, 5000, seen.append)
        assert np.array_equal(trials, sim.block(index))
    assert np.array_equal(np.concatenate(seen), np.concatenate([sim.block(i) for i in range(3)]))
    assert np.array_equal(source.z(30_001, lambda done: None), sim.z_packed(30_001))


def test_every_simulated_part_says_so_with_generator_and_seed() -> None:
    sim = lab()
    described = ComposedTrials(SimulatedInputs(sim), SimulatedOutcomes(sim), SimulatedZ(sim))
    parts = described.describe()
    assert set(parts) == {"inputs", "outcomes", "z"}
    for part in parts.values():
        assert part["origin"] == "simulated" and part["seed"] == 77 and "PCG64" in part["generator"]
    assert parts["z"]["model"] == {"bob": {"model": "markov", "bias": -0.004}}
    assert parts["outcomes"]["model"]["visibility"] == 0.9


@pytest.mark.parametrize("part", ["inputs", "z", "outcomes"])
def test_an_instrument_part_without_a_station_is_refused(part: str) -> None:
    sources = SourcesSection.model_validate(
        {"mu": "0.01", "inputs": "simulated", "z": "simulated", "outcomes": "simulated"}
        | {part: "instruments"}
    )
    with pytest.raises(ConfigError, match=rf"sources\.{part} = 'instruments'"):
        compose_trials(sources, lab(), None)


class CountingSource:
    """A trial source that is neither the simulated lab nor a station."""

    def __init__(self) -> None:
        self.blocks: list[int] = []

    def describe(self) -> dict[str, Any]:
        return {"inputs": {"origin": "test"}}

    def run_attributes(self) -> dict[str, str]:
        return {"made_by": "CountingSource"}

    def begin_block(self, index: int) -> dict[str, str]:
        return {"label": f"block {index}"}

    def block(self, index: int, count: int, on_trials: Any) -> np.ndarray:
        self.blocks.append(index)
        trials = ((np.arange(count) + index) % 16).astype(np.uint8)
        on_trials(trials)
        return trials

    def z(self, n_bits: int, progress: Any) -> np.ndarray:
        progress(n_bits)
        return np.full((n_bits + 7) // 8, 0xA5, dtype=np.uint8)


def test_the_controller_takes_any_trial_source(tmp_path: Path) -> None:
    source = CountingSource()
    plan = AcquisitionPlan(blocks=3, trials_per_block=1000, segment_trials=256, mu=Fraction(1, 100))
    path = tmp_path / "trials.h5"
    with TrialStoreWriter(path, "run-t", "cfg", hashlib.sha256(b"cfg").hexdigest()) as store:
        acquire_blocks(store, source, plan, NullProgress())
    assert source.blocks == [0, 1, 2]
    with TrialStoreReader(path) as reader:
        assert reader.attribute("made_by") == "CountingSource"
        infos = reader.blocks()
        assert [info.index for info in infos] == [0, 1, 2]
        for info in infos:
            expected = ((np.arange(1000) + info.index) % 16).astype(np.uint8)
            assert np.array_equal(reader.read_block(info), expected)
        nbits, _ = reader.verify_z()
    assert nbits == 2 * 3 * 1000
