"""diamp's Diehard battery against dieharder 3.31.1 on the same files (never skipped in CI).

Three inputs, written at test time (none shipped): uniform bytes from the operating
system, a biased source (each bit 1 with probability 9/16) that must fail, and a
1,000,000-byte key too short for most tests. psamples is small so that neither tool
reads past the end of the 36 MB files (dieharder would rewind; diamp would refuse) and
the comparison takes a few minutes on two cores. Every test's final and per-psample
p-values must agree within 1e-6 (dieharder prints 8 decimals). The four tests on which
dieharder departs from Marsaglia's description (birthdays, bitstream, DNA, sums; their
``differs``) are compared in ``dieharder_compat`` mode, the others in the default mode;
the default of those four is checked against Marsaglia in test_diehard_marsaglia.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from _dieharder import Reference, dieharder_binary, run_dieharder

from diamp.analysis.diehard import (
    TESTS,
    DiehardOutcome,
    DiehardTest,
    find_test,
    run_battery,
    words_from_bytes,
)

pytestmark = pytest.mark.slow

PSAMPLES = 3
SIZE = 36_000_000  # bytes: 9 M words, more than any test reads in 3 psamples
KEY_SIZE = 1_000_000
COMPARED = list(TESTS)
COMPAT = [t for t in TESTS if t.differs is not None]


def _biased(size: int) -> bytes:
    """Bytes whose bits are 1 with probability 1 − ½·(1 − ⅛) = 9/16, independently."""
    rng = np.random.default_rng(20261202)
    r = rng.integers(0, 256, size=(4, size), dtype=np.uint8)
    return (r[0] | (r[1] & r[2] & r[3])).tobytes()


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    dieharder_binary()
    base = tmp_path_factory.mktemp("diehard")
    files = {"urandom": os.urandom(SIZE), "biased": _biased(SIZE), "key": os.urandom(KEY_SIZE)}
    paths = {}
    for name, data in files.items():
        paths[name] = base / f"{name}.bin"
        paths[name].write_bytes(data)
    return paths


@pytest.fixture(scope="module")
def diamp_results(inputs: dict[str, Path]) -> dict[str, dict[str, DiehardOutcome]]:
    """Each test as it is compared with dieharder: compat mode where the two differ."""
    out = {}
    plain = [t for t in TESTS if t.differs is None]
    for name, path in inputs.items():
        words = words_from_bytes(path.read_bytes())
        result = run_battery(words, plain, psamples=PSAMPLES)
        compat = run_battery(words, COMPAT, psamples=PSAMPLES, dieharder_compat=True)
        assert not result.dieharder_compat and compat.dieharder_compat
        out[name] = {r.test.name: r for r in (*result.results, *compat.results)}
    return out


def test_default_equals_compat_on_random_data(inputs: dict[str, Path]) -> None:
    """The char wrap needs a word seen 256 times (its mean count is 2): never on random
    data, so bitstream and DNA give the same p-values in both modes; sums always differ."""
    words = words_from_bytes(inputs["urandom"].read_bytes())
    wrapping = [find_test("bitstream"), find_test("dna"), find_test("sums")]
    default = run_battery(words, wrapping, psamples=PSAMPLES).results
    compat = run_battery(words, wrapping, psamples=PSAMPLES, dieharder_compat=True).results
    for mine, theirs in zip(default[:2], compat[:2], strict=True):
        assert mine.follows == "marsaglia" and theirs.follows == "dieharder"
        np.testing.assert_array_equal(mine.pvalues[0], theirs.pvalues[0])
    assert not np.allclose(default[2].pvalues[0], compat[2].pvalues[0], rtol=0, atol=1e-6)


def assert_same(mine: DiehardOutcome, ref: Reference) -> None:
    assert mine.status == "ok" and not mine.rewound
    assert mine.psamples == PSAMPLES
    assert len(mine.final_pvalues) == len(ref.final)
    np.testing.assert_allclose(mine.final_pvalues, ref.final, rtol=0, atol=1e-6)
    for values, expected in zip(mine.pvalues, ref.pvalues, strict=True):
        np.testing.assert_allclose(np.sort(values), expected, rtol=0, atol=1e-6)
    assert list(mine.assessments) == ref.assessments


@pytest.mark.parametrize("test", COMPARED, ids=lambda t: t.name)
@pytest.mark.parametrize("source", ["urandom", "biased"])
def test_pvalues_equal_dieharders(
    test: DiehardTest, source: str, inputs: dict[str, Path],
    diamp_results: dict[str, dict[str, DiehardOutcome]],
) -> None:  # fmt: skip
    assert_same(diamp_results[source][test.name], run_dieharder(inputs[source], test.number,
                                                                PSAMPLES))  # fmt: skip


def test_biased_source_fails(diamp_results: dict[str, dict[str, DiehardOutcome]]) -> None:
    """With 3 psamples a KS p-value cannot go far below 1e-3, so judge the psamples too."""
    biased = diamp_results["biased"]
    extreme = [n for n, r in biased.items()
               if all(np.all((p < 1e-4) | (p > 1 - 1e-4)) for p in r.pvalues)]  # fmt: skip
    assert len(extreme) >= 10, extreme
    assert any(r.assessment == "FAILED" for r in biased.values())


@pytest.mark.parametrize("test", COMPARED, ids=lambda t: t.name)
def test_short_key(
    test: DiehardTest, inputs: dict[str, Path], diamp_results: dict[str, dict[str, DiehardOutcome]]
) -> None:
    """Tests that fit in the key agree with dieharder; the others say how many bits they need."""
    mine = diamp_results["key"][test.name]
    words = KEY_SIZE // 4
    if test.exact and test.words_needed(PSAMPLES) > words:
        assert mine.status == "insufficient_data"
        assert mine.bits_needed == 32 * test.words_needed(PSAMPLES)
        assert mine.pvalues == () and mine.final_pvalues == ()
        return
    if mine.status == "insufficient_data":  # data-dependent reading: ran out on the way
        assert not test.exact and mine.bits_needed > 32 * words
        return
    assert_same(mine, run_dieharder(inputs["key"], test.number, PSAMPLES))


@pytest.mark.parametrize("name", ["diehard_bitstream", "diehard_rank_6x8", "diehard_dna",
                                  "diehard_squeeze"])  # fmt: skip
def test_rewind_reproduces_dieharders_rewinding(name: str, inputs: dict[str, Path]) -> None:
    """--rewind re-reads the key from its first word exactly as dieharder does."""
    test = next(t for t in TESTS if t.name == name)
    words = words_from_bytes(inputs["key"].read_bytes())
    compat = test.differs is not None
    refused = run_battery(words, [test], PSAMPLES, dieharder_compat=compat).results[0]
    assert refused.status == "insufficient_data"
    mine = run_battery(words, [test], PSAMPLES, rewind=True, dieharder_compat=compat).results[0]
    assert mine.rewound and mine.words_used > words.size
    assert_same_rewound(mine, run_dieharder(inputs["key"], test.number, PSAMPLES))


def assert_same_rewound(mine: DiehardOutcome, ref: Reference) -> None:
    np.testing.assert_allclose(mine.final_pvalues, ref.final, rtol=0, atol=1e-6)
    for values, expected in zip(mine.pvalues, ref.pvalues, strict=True):
        np.testing.assert_allclose(np.sort(values), expected, rtol=0, atol=1e-6)


def test_byte_order_on_a_crafted_file(tmp_path: Path) -> None:
    """Words are read little-endian: random low 20 bits (bytes 0, 1 and half of 2 of each
    4-byte group), zero high bits. Read that way OPSO's letters (bits 0-9, 10-19) are
    random and the test passes in both tools; read big-endian they would be constant."""
    rng = np.random.default_rng(31)
    low = rng.integers(0, 1 << 20, 2**21 + 16, dtype=np.uint32)
    path = tmp_path / "low20.bin"
    path.write_bytes(low.astype("<u4").tobytes())
    little = run_battery(words_from_bytes(path.read_bytes()), [TESTS[5]], 1).results[0]
    ref = run_dieharder(path, 5, 1)
    np.testing.assert_allclose(little.final_pvalues, ref.final, rtol=0, atol=1e-6)
    assert 1e-3 < ref.final[0] < 1 - 1e-3
    swapped = run_battery(low.byteswap(), [TESTS[5]], 1).results[0]
    assert swapped.final_pvalues[0] < 1e-12  # big-endian reading: almost every word missing


def test_offset_reproduces_dieharders_default_output(inputs: dict[str, Path]) -> None:
    """dieharder's default output first reads psamples × 10^6 words to time the generator
    (and does not rewind before the test): --offset reproduces such a run."""
    import re
    import subprocess

    cmd = [dieharder_binary(), "-g", "201", "-f", str(inputs["urandom"]), "-d", "10",
           "-p", "5", "-D", "default", "-D", "65536"]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    ref = sorted(float(v) for v in re.findall(r"^\|([0-9.]+)\|$", out, re.M))
    words = words_from_bytes(inputs["urandom"].read_bytes())
    mine = run_battery(words, [TESTS[10]], 5, offset=5_000_000).results[0]
    np.testing.assert_allclose(np.sort(mine.pvalues[0]), ref, rtol=0, atol=1e-6)
    plain = run_battery(words, [TESTS[10]], 5).results[0]
    assert not np.allclose(np.sort(plain.pvalues[0]), ref, rtol=0, atol=1e-6)
