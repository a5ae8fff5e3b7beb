"""Running the suite: parameter checks that fail closed, chunking, process pool and Dask."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from diamp.analysis.sp800_22 import TEST_NAMES, Sp80022Params, run_sequence, run_suite
from diamp.errors import ConfigError

SHORT = Sp80022Params(
    tests=tuple(t for t in TEST_NAMES if t != "Universal"),
    serial_m=5,
    approximate_entropy_m=3,
)


def packed_random(nbits: int, seed: int) -> np.ndarray:
    return np.packbits(np.random.default_rng(seed).integers(0, 2, nbits, dtype=np.uint8))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"tests": ("Frequency", "Nope")},
        {"tests": ("Runs", "Runs")},
        {"tests": ()},
        {"block_frequency_m": 0},
        {"non_overlapping_m": 22},
        {"overlapping_m": 25},
        {"approximate_entropy_m": 0},
        {"serial_m": 1},
        {"linear_complexity_m": 0},
        {"universal_l": 5},
        {"universal_l": 7, "universal_q": 1279},
        {"serial_m": True},
    ],
)
def test_invalid_parameters_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigError) as err:
        Sp80022Params(**kwargs)  # type: ignore[arg-type]
    assert err.value.key in {*kwargs, "tests"}


def test_tests_follow_reference_order_and_errors_pickle() -> None:
    params = Sp80022Params(tests=("Serial", "Frequency"))
    assert params.tests == ("Frequency", "Serial")
    with pytest.raises(ConfigError) as err:
        Sp80022Params(serial_m=99)
    again = pickle.loads(pickle.dumps(err.value))
    assert isinstance(again, ConfigError) and again.key == "serial_m"


def test_lengths_the_reference_refuses() -> None:
    with pytest.raises(ConfigError, match=r"Rank needs n >= 1024.*Universal needs") as err:
        run_sequence(np.zeros(1000, dtype=np.uint8))
    assert err.value.key == "length"
    with pytest.raises(ConfigError, match="LongestRun needs n >= 128"):
        run_sequence(np.zeros(100, dtype=np.uint8), Sp80022Params(tests=("LongestRun",)))
    short_universal = Sp80022Params(tests=("Universal",))
    with pytest.raises(ConfigError, match="Universal"):
        run_sequence(np.zeros(387_839, dtype=np.uint8), short_universal)
    assert len(run_sequence(np.zeros(387_840, dtype=np.uint8), short_universal)["Universal"]) == 1


@pytest.mark.parametrize(
    "bits",
    [np.array([0, 1, 2], dtype=np.uint8), np.zeros((4, 4), np.uint8), np.zeros(8, np.int64)],
)
def test_bad_bit_arrays_are_refused(bits: np.ndarray) -> None:
    with pytest.raises(ConfigError):
        run_sequence(bits, Sp80022Params(tests=("Frequency",)))


def test_short_sequences_with_a_subset_of_tests() -> None:
    bits = np.random.default_rng(3).integers(0, 2, 10_001, dtype=np.uint8)
    result = run_sequence(bits, SHORT)
    assert list(result) == list(SHORT.tests)
    assert [len(result[t]) for t in ("CumulativeSums", "NonOverlappingTemplate", "Serial")] == [
        2,
        148,
        2,
    ]
    assert result["RandomExcursions"] == [0.0] * 8  # too few cycles: p = 0, as the reference
    assert all(0.0 <= p <= 1.0 for values in result.values() for p in values)


def test_suite_chunks_at_unaligned_bit_offsets() -> None:
    length, count = 10_001, 7  # sequences start mid-byte
    packed = packed_random(length * count + 13, 4)
    result = run_suite(packed, count, length, SHORT, workers=1)
    bits = np.unpackbits(packed)
    for i in range(count):
        assert result.sequence(i) == run_sequence(bits[i * length : (i + 1) * length], SHORT)


@pytest.mark.parametrize(
    ("sequences", "length", "workers", "match"),
    [
        (3, 10_000, None, "need 30,000 bits"),
        (0, 10_000, None, "sequences >= 1"),
        (1, 0, None, "length >= 1"),
        (1, 10_000, 0, "workers must be >= 1"),
    ],
)
def test_suite_refuses_bad_runs(
    sequences: int, length: int, workers: int | None, match: str
) -> None:
    with pytest.raises(ConfigError, match=match):
        run_suite(packed_random(20_000, 1), sequences, length, SHORT, workers=workers)


def test_suite_refuses_unpacked_input() -> None:
    with pytest.raises(ConfigError, match="1-D uint8"):
        run_suite(np.zeros(100, dtype=np.int64), 1, 64, SHORT)


def test_dask_gives_identical_pvalues() -> None:
    from diamp.extractors.distributed import dask_client

    length, count = 10_001, 5
    packed = packed_random(length * count, 9)
    local = run_suite(packed, count, length, SHORT, workers=1)
    seen: list[int] = []
    with dask_client(workers=1) as client:
        remote = run_suite(
            packed, count, length, SHORT, dask_client=client, progress=lambda d, t: seen.append(d)
        )
    for test in SHORT.tests:
        np.testing.assert_array_equal(remote.pvalues[test], local.pvalues[test])
    assert seen[-1] == count
