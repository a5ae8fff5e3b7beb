"""``diamp init``: the example configs ship in the package and copy out runnable.

The oracle for "what an example needs" is independent of :mod:`diamp.config.examples`:
every string value of the parsed config that names a file beside it in the shipped folder.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from diamp.cli import app

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "src" / "diamp" / "examples"
DIAMP_EXE = Path(sys.executable).parent / "diamp"
NAMES = sorted(p.stem for p in SHIPPED.glob("*.toml"))
runner = CliRunner()


def invoke(*args: object) -> Result:
    return runner.invoke(app, [str(a) for a in args])


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def _needed(name: str) -> set[str]:
    """The config and every shipped file one of its string values names (oracle)."""
    data = tomllib.loads((SHIPPED / f"{name}.toml").read_text(encoding="utf-8"))
    named = {s for s in _strings(data) if "/" in s and (SHIPPED / s).is_file()}
    # a pyvisa-sim instrument reads instruments/<type>.yaml beside the config (simulated
    # readouts and QRNGs have no definition file)
    for table in data.get("instruments", {}).values():
        definition = f"instruments/{table['type']}.yaml"
        if table.get("backend") == "sim" and (SHIPPED / definition).is_file():
            named.add(definition)
    return {f"{name}.toml", *named}


def _tree(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_configs_in_a_checkout_are_the_shipped_examples() -> None:
    assert (REPO / "configs").resolve() == SHIPPED.resolve()
    assert {"simulated", "service", "eth-2024-sim"} <= set(NAMES)


def test_list_names_every_shipped_example() -> None:
    result = invoke("init", "--list")
    assert result.exit_code == 0, result.output
    listed = [line.split()[0] for line in result.stdout.splitlines()]
    assert listed == NAMES
    data = json.loads(invoke("init", "--list", "--json").stdout)
    assert [e["name"] for e in data["examples"]] == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_init_writes_the_example_and_what_it_reads(name: str, tmp_path: Path) -> None:
    dest = tmp_path / "new" / "folder"
    result = invoke("init", "--example", name, dest, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["config"] == str(dest / f"{name}.toml")
    written = _tree(dest)
    assert set(written) == _needed(name)
    for relative, content in written.items():
        assert content == (SHIPPED / relative).read_bytes(), relative
    assert sorted(data["files"]) == sorted(str(dest / r) for r in written)


@pytest.mark.parametrize("name", [n for n in NAMES if n != "service"])
def test_written_run_config_finds_its_timing_section(name: str, tmp_path: Path) -> None:
    from diamp.config import load_config
    from diamp.protocol.assemble import check_files

    assert invoke("init", "-e", name, tmp_path).exit_code == 0
    check_files(load_config(tmp_path / f"{name}.toml"))  # raises on a missing section


def test_written_service_config_loads(tmp_path: Path) -> None:
    from diamp.service.settings import load_settings

    assert invoke("init", "-e", "service", tmp_path).exit_code == 0
    load_settings(tmp_path / "service.toml")


def test_init_refuses_to_overwrite_and_writes_nothing(tmp_path: Path) -> None:
    mine = tmp_path / "timing" / "eth-2024.toml"
    mine.parent.mkdir()
    mine.write_text("my own timing\n", encoding="utf-8")
    result = invoke("init", tmp_path)
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and str(mine) in lines[0] and "--force" in lines[0], result.stderr
    assert _tree(tmp_path) == {"timing/eth-2024.toml": b"my own timing\n"}
    forced = invoke("init", tmp_path, "--force")
    assert forced.exit_code == 0, forced.output
    assert _tree(tmp_path) == {r: (SHIPPED / r).read_bytes() for r in _needed("simulated")}


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["-e", "no-such"], ["no-such", "simulated", "service"]),
        ([], ["is not a folder"]),
    ],
)
def test_init_refusals(args: list[str], words: list[str], tmp_path: Path) -> None:
    target = tmp_path / "a-file"
    target.write_text("x", encoding="utf-8")
    result = invoke("init", *args, target)
    assert result.exit_code == 2, result.output
    for word in words:
        assert word in result.stderr, result.stderr
    assert _tree(tmp_path) == {"a-file": b"x"}


def test_init_without_folder_is_a_usage_error() -> None:
    result = invoke("init", "--json")
    assert result.exit_code == 2
    assert "DIR" in json.loads(result.stdout)["error"]


@pytest.mark.slow
def test_init_then_run_is_the_demo(tmp_path: Path) -> None:
    """README: ``diamp init demo && diamp run demo/simulated.toml`` (about 10-40 s)."""
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    init = subprocess.run(
        [str(DIAMP_EXE), "init", "demo"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False, env=env,
    )  # fmt: skip
    assert init.returncode == 0, init.stderr
    run = subprocess.run(
        [str(DIAMP_EXE), "run", "demo/simulated.toml", "--out", "run"],
        cwd=tmp_path, capture_output=True, text=True, timeout=900, check=False, env=env,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr
    for row in ("certified m", "CHSH S", "certificate", "report: "):
        assert row in run.stdout and row not in run.stderr, row
    cert = json.loads((tmp_path / "run" / "certificate.json").read_text(encoding="utf-8"))
    assert cert["status"] == "ok" and cert["m"] >= 1_000_000


@pytest.mark.slow
def test_wheel_ships_every_example(tmp_path: Path) -> None:
    """A built wheel holds exactly the tracked example files (build isolation: needs PyPI).

    Built from a copy of the tracked files: an in-tree build reuses build/, where files
    of an earlier build would linger.
    """
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    tree = tmp_path / "tree"
    for relative in tracked:
        source, target = REPO / relative, tree / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            target.symlink_to(os.readlink(source))
        elif source.is_file():
            shutil.copy2(source, target)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(tree)],
        capture_output=True, text=True, timeout=900, check=True,
    )  # fmt: skip
    (wheel,) = tmp_path.glob("diamp-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        shipped = {n.removeprefix("diamp/examples/") for n in zf.namelist()
                   if n.startswith("diamp/examples/")}  # fmt: skip
    prefix = "src/diamp/examples/"
    assert shipped == {t.removeprefix(prefix) for t in tracked if t.startswith(prefix)}
    for name in NAMES:
        assert _needed(name) <= shipped, name


def test_the_next_step_printed_is_the_command_for_that_example(tmp_path: Path) -> None:
    run = invoke("init", tmp_path / "demo").stdout.splitlines()[-1]
    assert run == f"next: diamp run {tmp_path / 'demo' / 'simulated.toml'}"
    lines = invoke("init", "-e", "service", tmp_path / "svc").stdout.splitlines()
    keys, serve = lines[-1].removeprefix("next: ").split(" && ")
    assert serve.split()[:3] == ["diamp", "serve", str(tmp_path / "svc" / "service.toml")]
    made = invoke(*keys.split()[1:])  # the printed `diamp keys new …` works as printed
    assert made.exit_code == 0, made.output
    assert (tmp_path / "svc" / "clients.toml").exists() and (
        tmp_path / "svc" / "alice.key"
    ).exists()
