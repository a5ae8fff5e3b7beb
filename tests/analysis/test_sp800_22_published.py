"""Worked examples with published p-values from SP 800-22 Rev. 1a (section 2 and the
binary expansion of e in Appendix B), to the 6 decimals the document prints.

The 100-bit example ε of §2.1.8 etc. is the first 100 bits of π's expansion used there;
"e" is the first 10^6 bits of e = 10.1011011111…₂, computed exactly by binary splitting.
The §2.6 DFT examples are not used: their printed values are inconsistent with the
test's own definition (0.029523 and 0.168669 where the definition gives 0.468160 and
0.646355), so they cannot check an implementation.
"""

from __future__ import annotations

import _sp800_22_oracles as oracle
import numpy as np
import pytest

from diamp.analysis.sp800_22 import (
    _kernels,
    approximate_entropy,
    block_frequency,
    cumulative_sums,
    fft,
    frequency,
    linear_complexity,
    longest_run,
    non_overlapping_template,
    overlapping_template,
    random_excursions,
    random_excursions_variant,
    rank,
    runs,
    serial,
    universal,
)

EX100 = (
    "11001001000011111101101010100010001000010110100011"
    "00001000110100110001001100011001100010100010111000"
)
EX128 = (
    "11001100000101010110110001001100111000000000001001"
    "00110101010001000100111101011010000000110101111100"
    "1100111001101101100010110010"
)
PRINTED = 1e-6  # values are printed with 6 decimals


def bits(s: str) -> np.ndarray:
    return np.array([int(c) for c in s], dtype=np.uint8)


@pytest.fixture(scope="module")
def e() -> np.ndarray:
    return oracle.e_bits(1_000_000)


def test_e_expansion_starts_as_published(e: np.ndarray) -> None:
    head = "".join(map(str, e[:32]))
    assert head == "10101101111110000101010001011000"


def test_frequency_examples(e: np.ndarray) -> None:
    assert frequency(bits("1011010101")) == pytest.approx(0.527089, abs=PRINTED)  # §2.1.4
    assert frequency(bits(EX100)) == pytest.approx(0.109599, abs=PRINTED)  # §2.1.8
    assert frequency(e) == pytest.approx(0.953749, abs=PRINTED)  # Appendix B


def test_block_frequency_examples() -> None:
    assert block_frequency(bits("0110011010"), 3) == pytest.approx(0.801252, abs=PRINTED)
    assert block_frequency(bits(EX100), 10) == pytest.approx(0.706438, abs=PRINTED)


def test_runs_examples() -> None:
    assert runs(bits("1001101011")) == pytest.approx(0.147232, abs=PRINTED)
    assert runs(bits(EX100)) == pytest.approx(0.500798, abs=PRINTED)


def test_longest_run_examples(e: np.ndarray) -> None:
    assert longest_run(bits(EX128)) == pytest.approx(0.180609, abs=PRINTED)  # §2.4.8
    assert longest_run(e) == pytest.approx(0.718945, abs=PRINTED)  # Appendix B, M = 10^4


def test_rank_example(e: np.ndarray) -> None:
    assert rank(e[:100_000]) == pytest.approx(0.532069, abs=PRINTED)  # §2.5.8


def test_dft_e(e: np.ndarray) -> None:
    assert fft(e) == pytest.approx(0.847187, abs=PRINTED)  # Appendix B


def test_template_examples(e: np.ndarray) -> None:
    assert non_overlapping_template(e, 9)[0] == pytest.approx(0.078790, abs=PRINTED)  # B = 0…01
    assert overlapping_template(e, 9) == pytest.approx(0.110434, abs=PRINTED)  # §2.8.8


def test_universal_examples(e: np.ndarray) -> None:
    # §2.9.4: ε = 01011010011101010111, L = 2, Q = 4: f_n = 1.1949875
    small = bits("01011010011101010111")
    assert _kernels.universal_sum(small, 2, 4, 6) / 6 == pytest.approx(1.1949875, abs=1e-7)
    assert universal(e, 7, 1280) == pytest.approx(0.282568, abs=PRINTED)  # Appendix B


def test_linear_complexity_example(e: np.ndarray) -> None:
    assert linear_complexity(e, 1000) == pytest.approx(0.845406, abs=PRINTED)  # §2.10.8


def test_serial_examples(e: np.ndarray) -> None:
    assert serial(bits("0011011101"), 3)[1] == pytest.approx(0.670320, abs=PRINTED)  # §2.11.4
    assert serial(e, 2) == pytest.approx((0.843764, 0.561915), abs=PRINTED)  # §2.11.8


def test_approximate_entropy_examples() -> None:
    assert approximate_entropy(bits("0100110101"), 3) == pytest.approx(0.261961, abs=PRINTED)
    assert approximate_entropy(bits(EX100), 2) == pytest.approx(0.235301, abs=PRINTED)


def test_cumulative_sums_examples() -> None:
    # §2.13.4 prints 0.4116588 for ε = 1011010111: the reference's truncating bounds give
    # 0.41165862 (the text's real-valued bounds would give 0.41158).
    assert cumulative_sums(bits("1011010111"))[0] == pytest.approx(0.4116588, abs=1e-6)
    assert cumulative_sums(bits(EX100)) == pytest.approx((0.219194, 0.114866), abs=PRINTED)


def test_random_excursions_examples(e: np.ndarray) -> None:
    table = [0.573306, 0.197996, 0.164011, 0.007779, 0.786868, 0.440912, 0.797854, 0.778186]
    got = random_excursions(e)  # §2.14.8, x = −4 … −1, +1 … +4
    assert got is not None
    np.testing.assert_allclose(got, table, atol=PRINTED)
    variant = random_excursions_variant(e)  # §2.15.8: x = −1 and +1
    assert variant is not None
    assert variant[8] == pytest.approx(0.826009, abs=PRINTED)
    assert variant[9] == pytest.approx(0.137861, abs=PRINTED)
