"""Marsaglia's Diehard battery as dieharder 3.31.1 runs it on a file (``-g 201``).

The input is read as dieharder's raw file input reads it: 32-bit little-endian words
(:func:`words_from_bytes`), each test from the first word. Seventeen tests
(:data:`TESTS`, dieharder's ``-d 0`` … ``-d 16``) give p-values equal to dieharder's on
the same file, except where dieharder departs from Marsaglia's published description
(birthdays, bitstream, DNA, sums: ``DiehardTest.differs``), which diamp follows unless
``dieharder_compat`` asks for dieharder's behaviour. Unlike dieharder, no word is read
twice unless asked (``rewind``): a test that needs more data than the input holds reports
how many bits it needs.
"""

from diamp.analysis.diehard.battery import (
    DiehardOutcome,
    DiehardResult,
    assess,
    run_battery,
    run_test,
    words_from_bytes,
)
from diamp.analysis.diehard.catalogue import TESTS, DiehardTest, find_test
from diamp.analysis.diehard.report import format_report, report_to_json

__all__ = [
    "TESTS",
    "DiehardOutcome",
    "DiehardResult",
    "DiehardTest",
    "assess",
    "find_test",
    "format_report",
    "report_to_json",
    "run_battery",
    "run_test",
    "words_from_bytes",
]
