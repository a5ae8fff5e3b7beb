"""A run directory verifies itself: swapped, substituted or edited parts are refused by name.

Issue 15, item 2: block files record their index, the root records every block's hash, the
stored config is checked against its hash on every read, and ``--resume`` never redraws a
damaged Z in silence. Each test damages a copy of one small real run and runs the real
readers (``diamp stats``, ``diamp amplify``, ``diamp run --resume``).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from _runconfig import run_config, write_config
from diamp.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A finished 4-block run and its config."""
    base = tmp_path_factory.mktemp("integrity")
    text = run_config(
        run={"seed": 15, "blocks": 4, "trials_per_block": 500_000},
        device={"visibility": 1.0},
        protocol={"s_mu_threshold": "0.008"},
    )
    config = write_config(base, text)
    out = base / "run"
    result = runner.invoke(app, ["run", str(config), "--out", str(out), "-q"])
    assert result.exit_code == 0, result.output
    return out, config


@pytest.fixture
def run_copy(finished: tuple[Path, Path], tmp_path: Path) -> Path:
    copy = tmp_path / "run"
    shutil.copytree(finished[0], copy)
    return copy


def stats(run: Path) -> list[str]:
    return ["stats", str(run / "trials.h5"), "--mu", "0.0075"]


def refused(args: list[str], *needles: str) -> str:
    result = runner.invoke(app, args)
    assert result.exit_code != 0, result.output
    assert "Traceback" not in result.output
    text = " ".join(result.output.split())
    for needle in needles:
        assert needle in text, text
    return text


def test_swapped_block_files_are_refused(run_copy: Path) -> None:
    _swap_blocks(run_copy)
    for command in (stats(run_copy), ["amplify", str(run_copy), "-q"]):
        refused(command, "block 000001", "index")


def test_block_substituted_with_its_index_rewritten_is_refused(run_copy: Path) -> None:
    """A forger who also fixes the index attribute still meets the root's hash list."""
    import h5py

    blocks = run_copy / "trials.blocks"
    shutil.copy(blocks / "000002.h5", blocks / "000001.h5")
    with h5py.File(blocks / "000001.h5", "r+") as f:
        f["block"].attrs["index"] = 1
    refused(stats(run_copy), "block 000001", "not the one the root recorded")


def test_edited_stored_config_is_refused_before_any_length_is_certified(run_copy: Path) -> None:
    import h5py

    with h5py.File(run_copy / "trials.h5", "r+") as f:
        text = f.attrs["config"]
        assert 'mu = "0.0075"' in text
        f.attrs["config"] = text.replace('mu = "0.0075"', 'mu = "0.0055"')
    before = sorted(p.name for p in run_copy.iterdir())
    refused(["amplify", str(run_copy), "-q"], "config", "config_sha256")
    assert sorted(p.name for p in run_copy.iterdir()) == before  # no certificate written


def test_stripped_hash_list_is_refused(run_copy: Path) -> None:
    import h5py

    with h5py.File(run_copy / "trials.h5", "r+") as f:
        f.attrs["block_sha256"] = json.dumps(json.loads(f.attrs["block_sha256"])[:3])
    refused(stats(run_copy), "block_sha256 lists 3 blocks", "links 4")


def test_resume_refuses_a_damaged_z_instead_of_drawing_a_new_one(
    run_copy: Path, finished: tuple[Path, Path]
) -> None:
    import h5py

    zfile = run_copy / "trials.z.h5"
    with h5py.File(zfile, "r+") as f:
        damaged = int(f["z"][0]) ^ 0x80
        f["z"][0] = damaged
    key = (run_copy / "key.bin").read_bytes()
    refused(["run", str(finished[1]), "--resume", str(run_copy), "-q"], "z", "sha256 mismatch")
    assert (run_copy / "key.bin").read_bytes() == key
    with h5py.File(zfile, "r") as f:
        assert int(f["z"][0]) == damaged  # left for inspection, not replaced by a new draw


def test_resume_of_a_finished_run_verifies_and_changes_nothing(
    run_copy: Path, finished: tuple[Path, Path]
) -> None:
    before = {p.name: p.stat().st_mtime_ns for p in run_copy.rglob("*")}
    result = runner.invoke(app, ["run", str(finished[1]), "--resume", str(run_copy), "-q"])
    assert result.exit_code == 0, result.output
    assert "nothing changed" in " ".join(result.output.split())
    assert {p.name: p.stat().st_mtime_ns for p in run_copy.rglob("*")} == before


def _flip_block_byte(run: Path) -> None:
    import h5py

    with h5py.File(run / "trials.blocks" / "000002.h5", "r+") as f:
        f["block/trials"][10] ^= 1


def _edit_certificate(field: str, value: object) -> Callable[[Path], None]:
    def edit(run: Path) -> None:
        path = run / "certificate.json"
        cert = json.loads(path.read_text())
        node = cert
        *parents, last = field.split(".")
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        node[last] = value
        path.write_text(json.dumps(cert))

    return edit


def _swap_blocks(run: Path) -> None:
    blocks = run / "trials.blocks"
    (blocks / "000001.h5").rename(blocks / "tmp.h5")
    (blocks / "000002.h5").rename(blocks / "000001.h5")
    (blocks / "tmp.h5").rename(blocks / "000002.h5")


def _edit_store_config(run: Path) -> None:
    import h5py

    with h5py.File(run / "trials.h5", "r+") as f:
        f.attrs["config"] = f.attrs["config"].replace('mu = "0.0075"', 'mu = "0.0055"')


def _foreign_z(run: Path) -> None:
    import h5py

    with h5py.File(run / "trials.z.h5", "r+") as f:
        f["z"].attrs["run_id"] = "20250101T000000Z-00000000"


# Damage to the store: every reader of the store must refuse it, naming what is damaged.
STORE_DAMAGE: dict[str, tuple[Callable[[Path], None], str]] = {
    "deleted block": (lambda r: (r / "trials.blocks" / "000003.h5").unlink(), "block 000003"),
    "swapped blocks": (_swap_blocks, "block 000001"),
    "edited config": (_edit_store_config, "config"),
    "foreign Z": (_foreign_z, "z"),
    "truncated block": (
        lambda r: (r / "trials.blocks" / "000001.h5").write_bytes(
            (r / "trials.blocks" / "000001.h5").read_bytes()[:2000]
        ),
        "block 000001",
    ),
    "flipped block": (_flip_block_byte, "block 000002"),
    "deleted Z": (lambda r: (r / "trials.z.h5").unlink(), "z"),
}
# Edits of the certificate: every reader that holds a certificate must notice.
CERT_DAMAGE: dict[str, tuple[Callable[[Path], None], str]] = {
    "edited ab_sha256": (_edit_certificate("inputs.ab_sha256", "0" * 64), "inputs.ab_sha256"),
    "edited z_sha256": (_edit_certificate("inputs.z_sha256", "1" * 64), "inputs.z_sha256"),
    "edited block hash": (_edit_certificate("blocks.1.sha256", "2" * 64), "blocks.1.sha256"),
    "edited config hash": (_edit_certificate("config_sha256", "3" * 64), "config_sha256"),
}


DAMAGE = {**STORE_DAMAGE, **CERT_DAMAGE}
STORE_READERS = ("stats", "amplify")
CERT_READERS = ("report", "resume", "dira source")


def _read(reader: str, run: Path, config: Path, needle: str) -> None:
    """Run one reader of the run directory and check it refuses, naming ``needle``."""
    if reader == "dira source":  # the loader the service's dira source and seed use
        from diamp.service.errors import SourceError
        from diamp.service.sources import load_dira_key

        with pytest.raises(SourceError) as info:
            load_dira_key("lab", run)
        assert needle in str(info.value), str(info.value)
        return
    args = {
        "stats": stats(run),
        "amplify": ["amplify", str(run), "-q"],
        "report": ["report", str(run)],
        "resume": ["run", str(config), "--resume", str(run), "-q"],
    }[reader]
    refused(args, needle)


MATRIX = [
    (case, reader)
    for case in sorted(DAMAGE)
    for reader in (STORE_READERS + CERT_READERS if case in STORE_DAMAGE else CERT_READERS)
    if not (reader == "stats" and "Z" in case)  # stats reads the trials only, never Z
]


@pytest.mark.parametrize(("case", "reader"), MATRIX)
def test_every_reader_refuses_every_damage(
    run_copy: Path, finished: tuple[Path, Path], case: str, reader: str
) -> None:
    damage, needle = DAMAGE[case]
    before = {p.name for p in run_copy.iterdir()}
    damage(run_copy)
    _read(reader, run_copy, finished[1], needle)
    assert {p.name for p in run_copy.iterdir()} <= before  # nothing new certified or written
