"""The live CHSH/S_mu estimate: a report every segment of trials, whatever the chunking."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from diamp.config import load_config
from diamp.protocol.bell import BellCounts, LiveBell, count_trials
from diamp.protocol.run import acquire

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


@settings(max_examples=60, deadline=None)
@given(
    blocks=st.lists(st.integers(0, 300), min_size=1, max_size=4),
    segment=st.integers(1, 64),
    chunk=st.integers(1, 100),
    seed=st.integers(0, 2**32 - 1),
)
def test_reports_fall_on_segment_boundaries_of_each_block(
    blocks: list[int], segment: int, chunk: int, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    data = [rng.integers(0, 16, size=n, dtype=np.uint8) for n in blocks]
    seen: list[BellCounts] = []
    live = LiveBell(segment, seen.append)
    per_block = []
    for trials in data:
        for start in range(0, trials.size, chunk):
            live.feed(trials[start : start + chunk])
        per_block.append(live.end_block())
    # oracle: the running totals at every segment end and block end, by direct counting
    everything = np.concatenate(data)
    ends, base = [], 0
    for n in blocks:
        ends += [base + k for k in range(segment, n + 1, segment)]
        if n % segment:
            ends.append(base + n)
        base += n
    assert [c.n for c in seen] == ends
    assert seen == [count_trials(everything[:end]) for end in ends]
    assert per_block == [count_trials(trials) for trials in data]
    assert live.total == count_trials(everything)


class Recorder:
    def __init__(self) -> None:
        self.updates: dict[str, list[tuple[float, str | None]]] = {}

    def start(self, description: str, total: float):  # type: ignore[no-untyped-def]
        rows = self.updates.setdefault(description, [])
        return lambda completed, text=None: rows.append((completed, text))

    def log(self, message: str) -> None:
        pass


def test_acquisition_shows_the_estimate_every_segment(tmp_path: Path) -> None:
    shutil.copytree(CONFIGS, tmp_path / "configs")
    path = tmp_path / "configs" / "run.toml"
    text = (CONFIGS / "simulated-readout.toml").read_text()
    for old, new in [
        ("blocks = 4\n", "blocks = 2\n"),
        ("trials_per_block = 4_194_304\n", "trials_per_block = 3_145_733\n"),
        ("segment_trials = 4_194_304\n", "segment_trials = 2_097_152\n"),
    ]:
        assert old in text
        text = text.replace(old, new)
    path.write_text(text)
    loaded = load_config(path)
    sink = Recorder()
    acquire(loaded, tmp_path / "trials.h5", "r", sink)
    texts = [(done, text) for done, text in sink.updates["Bell trials"] if text is not None]
    n = 3 * 2**20 + 5
    # readouts deliver 2^20 outcomes per acquisition: reports at 2^21 and at the block's end
    assert [done for done, _ in texts] == [2**21, n, n + 2**21, 2 * n]
    assert all("CHSH 2." in text and "S_mu +0.00" in text for _, text in texts)
