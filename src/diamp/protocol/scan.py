"""Stream a trial store once: verified blocks → Bell counts, per-block/segment series, AB."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from diamp.daq.store import BlockInfo, TrialStoreReader
from diamp.extractors.bits import PackedBits
from diamp.progress import NullProgress, ProgressSink
from diamp.protocol.bell import AbDigest, AbPacker, BellAccumulator, BellCounts

__all__ = ["StoreScan", "scan_store", "series_dict"]


@dataclass(frozen=True)
class StoreScan:
    """Everything parameter estimation and extraction need from a store."""

    run_id: str
    config_text: str
    blocks: tuple[BlockInfo, ...]
    total: BellCounts
    block_counts: tuple[BellCounts, ...]
    segment_counts: tuple[BellCounts, ...]
    segment_trials: int
    ab: PackedBits | None
    ab_sha256: str


def scan_store(
    path: Path,
    segment_trials: int = 2**22,
    *,
    with_ab: bool = False,
    exclude: tuple[int, ...] = (),
    progress: ProgressSink | None = None,
) -> StoreScan:
    """Read every block of the store at ``path`` (checksums verified) and summarise it.

    The SHA-256 of the packed AB string is always computed (streamed); ``with_ab`` also keeps
    AB in memory (``2n / 8`` bytes). Blocks in ``exclude`` (by the timing checks) are left
    out of everything: counts, series, AB; ``blocks`` lists only the blocks used.
    """
    progress = progress or NullProgress()
    with TrialStoreReader(path) as reader:
        blocks = tuple(b for b in reader.blocks() if b.index not in exclude)
        n = sum(b.n_trials for b in blocks)
        acc = BellAccumulator(segment_trials=segment_trials)
        packer = AbPacker(n) if with_ab else None
        digest = AbDigest()
        update = progress.start("Reading and verifying blocks", n)
        done = 0
        for info in blocks:
            trials = reader.read_block(info)
            acc.add_block(trials)
            digest.add(trials)
            if packer is not None:
                packer.add(trials)
            done += info.n_trials
            update(done)
        ab = PackedBits(packer.finish(), 2 * n) if packer is not None else None
        return StoreScan(
            run_id=reader.run_id,
            config_text=reader.config_text,
            blocks=blocks,
            total=acc.total,
            block_counts=tuple(acc.blocks),
            segment_counts=tuple(acc.segments),
            segment_trials=segment_trials,
            ab=ab,
            ab_sha256=digest.hexdigest(),
        )


def _series(counts: tuple[BellCounts, ...], mu: Fraction) -> list[dict[str, object]]:
    return [
        {"n_trials": c.n, "chsh": c.chsh(), "s_mu_float": float(c.s_mu(mu)) if c.n else None}
        for c in counts
    ]


def series_dict(scan: StoreScan, mu: Fraction) -> dict[str, object]:
    """Per-block and per-segment CHSH and S_mu series (JSON-ready)."""
    return {
        "segment_trials": scan.segment_trials,
        "blocks": _series(scan.block_counts, mu),
        "segments": _series(scan.segment_counts, mu),
    }
