"""The Diehard section: Marsaglia's battery on the key, beside SP 800-22.

The key's whole bytes (packed MSB-first) are read as dieharder 3.31.1's raw file input
reads a file: 32-bit little-endian words, each test from the first word, no word twice.
Tests whose default 100 repetitions need more bits than the key holds are listed with
the bits they need, as the seed paper runs "all tests from the Diehard battery for which
the string is sufficiently long".
"""

from __future__ import annotations

from typing import Any

from diamp.analysis.diehard import report_to_json, run_battery, words_from_bytes
from diamp.analysis.diehard.battery import MIN_WORDS
from diamp.report.run.model import RunData
from diamp.report.run.page import Raw, Section, esc, table

__all__ = ["diehard_section"]

_CLASS = {"PASSED": "ok", "WEAK": "na", "FAILED": "bad"}


def diehard_section(run: RunData, workers: int | None = None) -> Section:
    """Run the Diehard tests that the key is long enough for; list the others."""
    title = "Diehard battery on the key"
    nbytes = 0 if run.key_packed is None else run.key_bits // 8
    if run.key_packed is None or nbytes < 4 * MIN_WORDS:
        body = f"<p>The key holds {nbytes:,} whole bytes: too short for the battery.</p>"
        return Section("diehard", title, body, {"tested": False})
    words = words_from_bytes(run.key_packed[:nbytes].tobytes())
    result = run_battery(words, workers=workers)
    rows: list[list[Any]] = []
    for r in result.results:
        if r.status != "ok":
            about = "" if r.test.exact else "about "
            rows.append([r.test.number, r.test.name, "—", "—", Raw(
                f'<span class="na">insufficient data: needs {about}{r.bits_needed:,} bits</span>'
            )])  # fmt: skip
            continue
        values = ", ".join(f"{p:.6f}" for p in r.final_pvalues)
        verdicts = " ".join(
            f'<span class="{_CLASS[v]}">{v}</span>' for v in r.assessments
        )  # fmt: skip
        flag = f" <small>(dieharder: {esc(r.test.flag)})</small>" if r.test.flag else ""
        rows.append([r.test.number, r.test.name, r.psamples, values, Raw(verdicts + flag)])
    ran = sum(r.status == "ok" for r in result.results)
    body = (
        f"<p>The key's {nbytes:,} bytes ({32 * words.size:,} bits in 32-bit little-endian "
        f"words) through Marsaglia's Diehard tests as dieharder 3.31.1 numbers them, with its "
        f"default sizes (100 repetitions each) and its assessment (FAILED below 10<sup>-6</sup>, "
        f"WEAK below 0.005 or above 0.995). {ran} of {len(result.results)} tests fit in the "
        f"key; no bit is used twice. Where dieharder departs from Marsaglia's description "
        f"(birthdays, bitstream, DNA, sums) Marsaglia's definitions are used. "
        f"Wall time {result.wall_seconds:.2f} s.</p>"
        + table(["-d", "test", "psamples", "KS p-value(s)", "assessment"], rows, "diehard")
    )
    data = {"tested": True, **report_to_json(result), "wall_seconds": result.wall_seconds}
    return Section("diehard", title, body, data)
