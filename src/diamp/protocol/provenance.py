"""Provenance: where a run's inputs, Z, Bell outcomes and timing checks came from.

At acquisition the trial source and the timing monitor describe their parts (simulated with
generator and seed, or the instruments with name, type, backend, address and identity read
from the device); :func:`run_provenance` joins them with the config's hash and says whether
anything was simulated. The result is stored with the run (root attribute ``provenance``) and
copied into every certificate of it. A store written before provenance was recorded reads as
:data:`UNKNOWN`, never as hardware.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

__all__ = ["PARTS", "UNKNOWN", "parse_provenance", "run_provenance", "summary"]

PARTS = ("inputs", "z", "outcomes", "timing")

UNKNOWN: dict[str, Any] = {
    "status": "unknown",
    "simulated": None,
    "reason": "the store was written before diamp recorded where its data came from",
}


def run_provenance(
    parts: Mapping[str, Mapping[str, Any]], timing: Mapping[str, Any] | None, config_sha256: str
) -> dict[str, Any]:
    """The provenance of a run: every part, ``simulated`` when any part is, the config hash.

    ``parts`` is the trial source's description (inputs, z, outcomes); ``timing`` the timing
    monitor's (None without timing checks). A part that does not say is taken as simulated.
    """
    described: dict[str, Any] = {key: dict(parts[key]) for key in ("inputs", "z", "outcomes")}
    described["timing"] = None if timing is None else dict(timing)
    simulated = [key for key, part in described.items() if part and part.get("simulated", True)]
    return {
        "status": "recorded",
        "simulated": bool(simulated),
        "simulated_parts": simulated,
        "config_sha256": config_sha256,
        **described,
    }


def parse_provenance(text: str | None) -> dict[str, Any]:
    """The provenance stored with a run, or :data:`UNKNOWN` for a store without one."""
    if text is None:
        return dict(UNKNOWN)
    try:
        found = json.loads(text)
    except ValueError:
        found = None
    if not isinstance(found, dict) or not isinstance(found.get("simulated"), bool):
        return {**UNKNOWN, "reason": "the stored provenance is not readable"}
    return found


def summary(provenance: Mapping[str, Any]) -> str:
    """One line for a terminal or a heading: SIMULATED, instruments, or unknown."""
    if provenance.get("simulated") is None:
        return "UNKNOWN (the store does not say where its data came from)"
    if provenance["simulated"]:
        parts = ", ".join(provenance.get("simulated_parts") or ["some parts"])
        return f"SIMULATED ({parts}): not certified randomness from a device"
    return "instruments (no part simulated)"
