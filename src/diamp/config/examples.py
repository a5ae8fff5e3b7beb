"""The example configs shipped inside the package, and copying one out (``diamp init``).

The examples live in ``diamp/examples/`` (package data; ``configs/`` in a checkout is a link
to that folder), so ``pip install diamp`` alone can run the demo. A config names other files
relative to its own folder; :func:`example_files` finds them, so that a copy runs:

- ``[timing] section`` (e.g. ``timing/eth-2024.toml``);
- ``instruments/<type>.yaml``, the pyvisa-sim definition of every SCPI instrument (pulse
  generator, oscilloscope) whose ``backend`` is ``"sim"``.

Files the service creates at run time (its pool database, beacon keys) are not examples.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path, PurePosixPath
from typing import Any

from diamp.errors import ConfigError

__all__ = ["DEFAULT_EXAMPLE", "Example", "example_files", "examples", "write_example"]

DEFAULT_EXAMPLE = "simulated"


@dataclass(frozen=True)
class Example:
    """One shipped config: its name (file stem), file name and first comment line."""

    name: str
    file: str
    summary: str


def _root() -> Traversable:
    return resources.files("diamp") / "examples"


def _summary(text: str) -> str:
    """The first sentence of the config's opening comment line."""
    first = text.splitlines()[0] if text else ""
    if not first.startswith("#"):
        return ""
    sentence = first.removeprefix("#").strip().split(". ")[0]
    return sentence.rstrip(":").rstrip(".") + "."


def examples() -> list[Example]:
    """The shipped example configs, by name."""
    found = [
        Example(item.name.removesuffix(".toml"), item.name, _summary(item.read_text("utf-8")))
        for item in _root().iterdir()
        if item.name.endswith(".toml") and item.is_file()
    ]
    return sorted(found, key=lambda e: e.name)


def _find(name: str) -> Example:
    known = examples()
    for example in known:
        if name in (example.name, example.file):
            return example
    names = ", ".join(e.name for e in known)
    raise ConfigError(f"no example named {name!r}; the examples are {names}", key="--example")


def _references(data: dict[str, Any]) -> list[str]:
    """Files (relative, POSIX) a parsed config reads from beside itself."""
    refs: list[str] = []
    timing = data.get("timing")
    if isinstance(timing, dict) and isinstance(timing.get("section"), str):
        refs.append(timing["section"])
    instruments = data.get("instruments")
    if isinstance(instruments, dict):
        for table in instruments.values():
            if isinstance(table, dict) and _pyvisa_sim(table):
                refs.append(f"instruments/{table['type']}.yaml")
    return refs


def _pyvisa_sim(table: dict[str, Any]) -> bool:
    """An SCPI instrument on the ``sim`` backend: pyvisa-sim reads its YAML definition.

    (A simulated QRNG is a ``qrngsim://`` URL and a simulated readout an in-process server.)
    """
    from diamp.daq.registry import INSTRUMENTS

    kind = INSTRUMENTS.get(str(table.get("type")))
    scpi = kind is not None and kind.role in ("pulse-generator", "oscilloscope")
    return scpi and table.get("backend") == "sim"


def example_files(name: str) -> list[str]:
    """The example's file and every file it references, as relative POSIX paths."""
    example = _find(name)
    data = tomllib.loads((_root() / example.file).read_text("utf-8"))
    files = [example.file]
    for ref in _references(data):
        path = PurePosixPath(ref)
        if path.is_absolute() or ".." in path.parts:
            raise ConfigError(f"example {example.file} references {ref} outside its folder")
        if str(path) not in files:
            files.append(str(path))
    return files


def _source(relative: str) -> Traversable:
    item = _root()
    for part in PurePosixPath(relative).parts:
        item = item / part
    if not item.is_file():  # a broken package, not a user error
        raise ConfigError(f"the installed examples lack {relative}; reinstall diamp")
    return item


def write_example(name: str, dest: Path, *, force: bool = False) -> list[Path]:
    """Copy example ``name`` and the files it references into folder ``dest``.

    Every target is checked before anything is written: an existing file is refused
    (naming it) unless ``force``, and so is a ``dest`` that is not a folder. Returns the
    paths written, the config first.
    """
    from diamp.atomic import write_atomic

    files = example_files(name)
    if dest.exists() and not dest.is_dir():
        raise ConfigError(f"{dest} exists and is not a folder", path=str(dest))
    targets = [dest.joinpath(*PurePosixPath(f).parts) for f in files]
    for target in targets:
        if target.is_dir() or (target.exists() and not force):
            raise ConfigError(
                f"{target} exists; refusing to overwrite it (--force replaces the example files)",
                path=str(target),
            )
    for relative, target in zip(files, targets, strict=True):
        target.parent.mkdir(parents=True, exist_ok=True)
        # exclusive: a file that appeared since the check is still not overwritten
        data = _source(relative).read_bytes()
        write_atomic(target, data, what="the example", exclusive=not force)
    return targets
