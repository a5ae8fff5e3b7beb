"""``diamp serve`` keeps large freed buffers for reuse (glibc ``mallopt``; workers module).

Observed through glibc's own accounting (``mallinfo2``: bytes in mmapped blocks), in a fresh
interpreter each: a 4 MiB buffer gets a mapping of its own by default and comes from the heap
after :func:`keep_large_buffers`; an operator's ``MALLOC_*`` variable leaves glibc alone.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

PROBE = """
import ctypes, json, sys
from diamp.service.workers import keep_large_buffers

class Info(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]

libc = ctypes.CDLL(None)
libc.mallinfo2.restype = Info
tuned = keep_large_buffers() if sys.argv[1] == "tune" else None
before = libc.mallinfo2().hblkhd
buffer = bytearray(4 << 20)
print(json.dumps({"tuned": tuned, "mapped": libc.mallinfo2().hblkhd - before}))
"""


def _probe(mode: str, **env: str) -> dict[str, object]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, mode], capture_output=True, text=True, timeout=120,
        check=True, env={**clean, **env},
    )  # fmt: skip
    result: dict[str, object] = json.loads(proc.stdout)
    return result


def test_large_buffers_come_from_the_heap_once_tuned() -> None:
    default = _probe("plain")
    assert int(default["mapped"]) >= 4 << 20  # glibc's default: a mapping of its own
    tuned = _probe("tune")
    assert tuned["tuned"] is True
    assert tuned["mapped"] == 0


def test_an_operators_malloc_setting_is_left_alone() -> None:
    found = _probe("tune", MALLOC_TRIM_THRESHOLD_="1048576")
    assert found["tuned"] is False
    assert int(found["mapped"]) >= 4 << 20
