"""Run configs for the tests: one base, per-section overrides, rendered as TOML text.

Every test that needs a run config (``schema_version = 1``, ``diamp.config``) builds it here,
so a schema change is made once::

    text = run_config(run={"seed": 9, "blocks": 4}, device={"visibility": 1.0})
    path = write_config(tmp_path, text)  # + configs/timing/, configs/instruments/ if needed

:data:`BASE` holds only the required keys (everything else is the schema's default) and states
where every part of a trial comes from (``sources.inputs``, ``z``, ``outcomes``, all
``"simulated"``). Overrides are mappings of section -> key -> value, applied in order
(positional *layers*, e.g. a module's shape, then keyword sections):

- a value replaces the key, ``None`` removes it; a section given as ``None`` is dropped;
- giving ``device.model`` or ``protocol.mode`` starts that section afresh (each device model
  and protocol mode has its own keys);
- ``instruments`` maps names to whole tables (``[instruments.NAME]``, a given table replaces
  the one before); ``None`` removes one; :func:`sim_instrument` is a pyvisa-sim instrument;
- values are Python values (str, int, float, bool, list, dict as inline table) or
  :class:`Raw` TOML text, written verbatim (for malformed values).

A test keeps its own numbers (seeds, sizes, biases) as overrides, and states the origins its
instruments need (``sources={"outcomes": "instruments"}`` with readouts, ``inputs`` and ``z``
with QRNGs).
"""

from __future__ import annotations

import json
import re
import shutil
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

__all__ = ["BASE", "CONFIGS", "Raw", "run_config", "sim_instrument", "toml_value", "write_config"]

CONFIGS = Path(__file__).resolve().parents[1] / "configs"

Overrides = Mapping[str, Mapping[str, Any] | None]

BASE: dict[str, dict[str, Any]] = {
    "run": {"seed": 20241223, "blocks": 8, "trials_per_block": 4_194_304},
    "sources": {
        "mu": "0.0075",
        "inputs": "simulated",
        "z": "simulated",
        "outcomes": "simulated",
    },
    "device": {"model": "quantum", "visibility": 0.95},
    "protocol": {"s_mu_threshold": "0.0065"},
}

# A key whose value selects the section's model: naming it starts the section afresh.
_TAGS = {"device": "model", "protocol": "mode"}


class Raw(str):
    """TOML text written as it is (``Raw("= 1.0")``, ``Raw('"0.0075"')``)."""

    __slots__ = ()


def _key(name: str) -> str:
    return name if re.fullmatch(r"[A-Za-z0-9_-]+", name) else json.dumps(name, ensure_ascii=False)


def toml_value(value: Any) -> str:
    """One TOML value: :class:`Raw` verbatim, dicts as inline tables."""
    if isinstance(value, Raw):
        return str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, Mapping):
        items = ", ".join(f"{_key(k)} = {toml_value(v)}" for k, v in value.items())
        return f"{{ {items} }}" if items else "{}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise TypeError(f"no TOML form for {value!r}")


def _merge(sections: dict[str, dict[str, Any] | None], layer: Overrides) -> None:
    for name, values in layer.items():
        if values is None:
            sections[name] = None
            continue
        current = sections.get(name)
        tag = _TAGS.get(name)
        fresh = current is None or (tag is not None and values.get(tag) is not None)
        merged = {} if fresh else dict(current or {})
        for key, value in values.items():
            if value is None:
                merged.pop(key, None)
            else:
                merged[key] = value
        sections[name] = merged


def run_config(
    *layers: Overrides,
    top: str = "schema_version = 1",
    drop: Iterable[str] = (),
    **sections: Mapping[str, Any] | None,
) -> str:
    """Run config text: :data:`BASE`, then each layer, then ``sections``.

    ``top`` is the text before the first table (the schema version); ``drop`` removes whole
    sections.
    """
    merged: dict[str, dict[str, Any] | None] = {k: dict(v) for k, v in BASE.items()}
    for layer in (*layers, sections):
        _merge(merged, layer)
    lines = [top, ""]
    for name, values in merged.items():
        if values is None or name in drop:
            continue
        if name == "instruments":
            for inst, table in values.items():
                lines.append(f"[instruments.{_key(inst)}]")
                lines.extend(f"{_key(k)} = {toml_value(v)}" for k, v in table.items())
                lines.append("")
            continue
        lines.append(f"[{name}]")
        lines.extend(f"{_key(k)} = {toml_value(v)}" for k, v in values.items())
        lines.append("")
    return "\n".join(lines)


def sim_instrument(kind: str, node: str, **fields: Any) -> dict[str, Any]:
    """An ``[instruments.*]`` table on its pyvisa-sim definition (``instruments/KIND.yaml``).

    The address is the one the definition serves, ``TCPIP::KIND-node.sim::INSTR``.
    """
    address = f"TCPIP::{kind}-{node.lower()}.sim::INSTR"
    return {"type": kind, "backend": "sim", "address": address, "node": node, **fields}


def write_config(folder: Path, text: str, name: str = "run.toml", *, beside: bool = True) -> Path:
    """Write ``text`` to ``folder/name``; return the path.

    With ``beside`` (the default) the files the config refers to relative to itself are copied
    next to it, as in ``configs/``: ``timing/`` when it has a ``[timing]`` section, and
    ``instruments/`` (the pyvisa-sim definitions) when an instrument uses backend ``sim``.
    """
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    if beside:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError:
            data = {}  # a malformed config under test refers to nothing
        instruments = data.get("instruments")
        needs = {
            "timing": "timing" in data,
            "instruments": isinstance(instruments, dict)
            and any(
                isinstance(i, dict) and i.get("backend") == "sim" for i in instruments.values()
            ),
        }
        for sub, needed in needs.items():
            if needed:
                shutil.copytree(CONFIGS / sub, folder / sub, dirs_exist_ok=True)
    return path
