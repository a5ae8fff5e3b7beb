"""dieharder 3.31.1 as an oracle: run one test on a file, parse its p-values.

The comparison must run in CI (``.ci/run`` installs dieharder and sets
``DIAMP_REQUIRE_DIEHARDER=1``); elsewhere it is skipped only when the binary is missing.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest


def dieharder_binary() -> str:
    """Path of dieharder, or skip (fail when DIAMP_REQUIRE_DIEHARDER is set)."""
    path = shutil.which("dieharder")
    if path is None:
        if os.environ.get("DIAMP_REQUIRE_DIEHARDER"):
            pytest.fail("DIAMP_REQUIRE_DIEHARDER is set but dieharder is not installed")
        pytest.skip("dieharder is not installed (apt-get install dieharder)")
    return path


@dataclass(frozen=True)
class Reference:
    """dieharder's printed results of one test: final p-values and per-psample p-values.

    ``pvalues[k]`` are the psample p-values of the k-th statistic, sorted (dieharder sorts
    them for its KS test before printing).
    """

    final: list[float]
    pvalues: list[list[float]]
    assessments: list[str]


_LINE = re.compile(r"^\s*(diehard_\w+)\|\s*([0-9.]+)\|\s*(PASSED|WEAK|FAILED)\s*$", re.M)
_VALUE = re.compile(r"^\|([0-9.]+)\|$", re.M)


def run_dieharder(path: Path, number: int, psamples: int) -> Reference:
    """``dieharder -g 201 -f PATH -d NUMBER -p PSAMPLES`` with per-psample output."""
    cmd = [dieharder_binary(), "-g", "201", "-f", str(path), "-d", str(number),
           "-p", str(psamples), "-D", "8", "-D", "128", "-D", "256", "-D", "65536"]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=900).stdout
    lines = _LINE.findall(out)
    values = [float(v) for v in _VALUE.findall(out)]
    assert lines and len(values) == psamples * len(lines), out
    return Reference(
        [float(p) for _, p, _ in lines],
        [values[k * psamples : (k + 1) * psamples] for k in range(len(lines))],
        [a for _, _, a in lines],
    )
