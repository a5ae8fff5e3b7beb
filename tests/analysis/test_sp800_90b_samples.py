"""Sample preparation and the tool's combination rules for 1-bit, two-valued and k > 2 data."""

from __future__ import annotations

import numpy as np
import pytest

from diamp.analysis.sp800_90b import assess_non_iid, prepare_samples
from diamp.errors import AnalysisError


def test_values_are_mapped_in_increasing_order_and_bits_come_from_the_raw_values() -> None:
    s = prepare_samples(np.array([5, 2, 7, 2, 5], np.uint8), 3)
    assert s.k == 3 and s.symbols.tolist() == [1, 0, 2, 0, 1]
    # 5 = 101, 2 = 010, 7 = 111: MSB first within the 3-bit width, unmapped
    assert s.bitstring()[:9].tolist() == [1, 0, 1, 0, 1, 0, 1, 1, 1]
    assert s.bitstring().shape == (15,)


@pytest.mark.parametrize(
    ("data", "width", "message"),
    [
        ([0, 1, 2], 1, "sample 2 has value 2"),
        ([0, 1], 0, "between 1 and 8"),
        ([0, 1], 9, "between 1 and 8"),
        ([], 8, "no samples"),
        ([3, 3, 3], 2, "no entropy"),
        ([[0, 1]], 1, "one-dimensional"),
    ],
)
def test_bad_input_is_refused(data: list[int], width: int, message: str) -> None:
    with pytest.raises(AnalysisError, match=message):
        prepare_samples(np.array(data, np.int64), width)


def test_two_values_in_a_wide_sample_are_assessed_as_binary_data() -> None:
    rng = np.random.default_rng(1)
    bits = (rng.random(20_000) < 0.65).astype(np.uint8)
    wide = assess_non_iid(np.where(bits == 1, 200, 17).astype(np.uint8), 8)
    narrow = assess_non_iid(bits, 1)
    assert wide.k == 2 and wide.bitstring is None and wide.h_bitstring is None
    assert wide.literal.collision is not None  # binary-only estimators run on the mapping
    assert wide.literal.entropies() == narrow.literal.entropies()
    assert wide.min_entropy == narrow.min_entropy <= 1.0


def test_more_than_two_values_add_the_bitstring_term() -> None:
    rng = np.random.default_rng(2)
    x = rng.choice(np.array([0, 1, 2, 3], np.uint8), 20_000, p=[0.7, 0.1, 0.1, 0.1])
    r = assess_non_iid(x, 2)
    assert r.bitstring is not None and r.h_bitstring is not None
    assert r.literal.collision is None and r.literal.markov is None  # k > 2: bitstring only
    assert r.bitstring.collision is not None and r.bitstring.compression is not None
    assert r.h_original == min(2.0, *(h for h in r.literal.entropies().values() if h is not None))
    assert r.h_bitstring == min(1.0, *(h for h in r.bitstring.entropies().values() if h))
    assert r.min_entropy == min(2.0, r.h_original, 2 * r.h_bitstring)


def test_short_sequences_leave_out_what_cannot_run() -> None:
    r = assess_non_iid(np.array([0, 1, 1, 0, 1, 0, 0, 1, 1, 1] * 3, np.uint8), 1)
    assert r.literal.multi_mcw is None and r.literal.compression is None  # need 4096 / 6006
    assert r.literal.t_tuple is None  # no value seen 35 times
    assert 0.0 <= r.min_entropy <= 1.0
