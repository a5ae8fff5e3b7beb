"""Parameters of the SP 800-22 suite and the sequence lengths each test accepts.

The defaults are those of the NIST reference implementation sts-2.1.2 for 10^6-bit
sequences. Checks here refuse only what the reference refuses (Longest Run below 128 bits,
Rank below one 32 × 32 matrix, Universal below L = 6, a Non-overlapping template length
without a template file) and what has no defined statistic (no complete block); they never
adjust a value quietly.
"""

from __future__ import annotations

from dataclasses import dataclass

from diamp.errors import ConfigError

__all__ = [
    "EXCURSION_TESTS",
    "TEST_NAMES",
    "Sp80022Params",
    "universal_block_length",
]

TEST_NAMES: tuple[str, ...] = (
    "Frequency",
    "BlockFrequency",
    "CumulativeSums",
    "Runs",
    "LongestRun",
    "Rank",
    "FFT",
    "NonOverlappingTemplate",
    "OverlappingTemplate",
    "Universal",
    "ApproximateEntropy",
    "RandomExcursions",
    "RandomExcursionsVariant",
    "Serial",
    "LinearComplexity",
)
"""The 15 tests, named and ordered as in the reference's reports."""

EXCURSION_TESTS = frozenset({"RandomExcursions", "RandomExcursionsVariant"})

# Smallest n for L = 6 … 16 (the reference's table; it refuses n < 387,840).
_UNIVERSAL_THRESHOLDS = (
    387_840, 904_960, 2_068_480, 4_654_080, 10_342_400, 22_753_280,
    49_643_520, 107_560_960, 231_669_760, 496_435_200, 1_059_061_760,
)  # fmt: skip
_OVERLAPPING_BLOCK = 1032
_NONOVERLAPPING_BLOCKS = 8
_RANK_BITS = 32 * 32


def universal_block_length(n: int) -> int:
    """Universal's block length L for an n-bit sequence (reference table; 5 means "too short")."""
    length = 5
    for k, threshold in enumerate(_UNIVERSAL_THRESHOLDS):
        if n >= threshold:
            length = 6 + k
    return length


def _check_range(name: str, value: int, low: int, high: int, why: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(
            f"{name} must be an integer in [{low}, {high}] ({why}), found {value!r}", key=name
        )


@dataclass(frozen=True)
class Sp80022Params:
    """Parameters of an SP 800-22 run (defaults: the reference's, for 10^6-bit sequences).

    Parameters
    ----------
    tests
        Tests to run, by reference name (any order; results follow :data:`TEST_NAMES`).
    block_frequency_m
        Block length M of the Block Frequency test.
    non_overlapping_m
        Template length m of the Non-overlapping Template test (the reference ships
        template files for m = 2 … 21 and uses at most 148 templates).
    overlapping_m
        Length m of the all-ones template of the Overlapping Template test.
    approximate_entropy_m
        Block length m of Approximate Entropy (counts of m- and (m+1)-bit patterns).
    serial_m
        Block length m of the Serial test.
    linear_complexity_m
        Block length M of the Linear Complexity test.
    universal_l, universal_q
        Universal's block length L and number of initialisation blocks Q. ``None`` (the
        reference's behaviour) takes L from the sequence length and Q = 10 · 2^L.
    """

    tests: tuple[str, ...] = TEST_NAMES
    block_frequency_m: int = 128
    non_overlapping_m: int = 9
    overlapping_m: int = 9
    approximate_entropy_m: int = 10
    serial_m: int = 16
    linear_complexity_m: int = 500
    universal_l: int | None = None
    universal_q: int | None = None

    def __post_init__(self) -> None:
        unknown = sorted(set(self.tests) - set(TEST_NAMES))
        if unknown or not self.tests or len(set(self.tests)) != len(self.tests):
            raise ConfigError(
                f"tests must be distinct names from {', '.join(TEST_NAMES)}; found {self.tests!r}",
                key="tests",
            )
        object.__setattr__(self, "tests", tuple(t for t in TEST_NAMES if t in self.tests))
        _check_range("block_frequency_m", self.block_frequency_m, 1, 2**31 - 1, "bits per block")
        _check_range("non_overlapping_m", self.non_overlapping_m, 2, 21, "reference templates")
        _check_range("overlapping_m", self.overlapping_m, 1, 24, "class probabilities > 0")
        _check_range("approximate_entropy_m", self.approximate_entropy_m, 1, 23, "2^(m+1) counts")
        _check_range("serial_m", self.serial_m, 2, 24, "2^m counts")
        _check_range(
            "linear_complexity_m", self.linear_complexity_m, 1, 2**31 - 1, "bits per block"
        )
        if self.universal_l is not None:
            _check_range("universal_l", self.universal_l, 6, 16, "reference range")
        if self.universal_q is not None:
            low = 10 * 2 ** (self.universal_l or 6)
            _check_range("universal_q", self.universal_q, low, 2**31 - 1, "Q >= 10 · 2^L")

    def universal_blocks(self, n: int) -> tuple[int, int, int]:
        """(L, Q, K) of the Universal test for an n-bit sequence (K = ⌊n/L⌋ − Q test blocks)."""
        block = self.universal_l if self.universal_l is not None else universal_block_length(n)
        init = self.universal_q if self.universal_q is not None else 10 * 2**block
        return block, init, n // block - init

    def check_length(self, n: int) -> None:
        """Raise :class:`~diamp.errors.ConfigError` if a selected test cannot run on n bits."""
        problems = [msg for name, msg in self._length_problems(n) if name in self.tests]
        if problems:
            raise ConfigError(
                f"{n:,}-bit sequences are too short: " + "; ".join(problems)
                + " (deselect those tests with Sp80022Params(tests=...) or use longer sequences)",
                key="length",
            )  # fmt: skip

    def _length_problems(self, n: int) -> list[tuple[str, str]]:
        block, init, test = self.universal_blocks(n)
        checks = [
            ("Frequency", n >= 1, "Frequency needs n >= 1"),
            ("BlockFrequency", n >= self.block_frequency_m, "BlockFrequency needs n >= M"),
            ("CumulativeSums", n >= 1, "CumulativeSums needs n >= 1"),
            ("Runs", n >= 1, "Runs needs n >= 1"),
            ("LongestRun", n >= 128, "LongestRun needs n >= 128 (reference)"),
            ("Rank", n >= _RANK_BITS, "Rank needs n >= 1024 (one 32 x 32 matrix)"),
            ("FFT", n >= 2, "FFT needs n >= 2"),
            (
                "NonOverlappingTemplate",
                n // _NONOVERLAPPING_BLOCKS >= self.non_overlapping_m,
                "NonOverlappingTemplate needs n/8 >= m (lambda > 0, reference)",
            ),
            ("OverlappingTemplate", n >= _OVERLAPPING_BLOCK, "OverlappingTemplate needs n >= 1032"),
            (
                "Universal",
                6 <= block <= 16 and init >= 10 * 2**block and test >= 1,
                f"Universal needs 6 <= L <= 16 (L >= 6 needs n >= 387,840, reference), "
                f"Q >= 10·2^L and K >= 1; has L={block}, Q={init}, K={test}",
            ),
            ("ApproximateEntropy", n >= 1, "ApproximateEntropy needs n >= 1"),
            ("RandomExcursions", n >= 1, "RandomExcursions needs n >= 1"),
            ("RandomExcursionsVariant", n >= 1, "RandomExcursionsVariant needs n >= 1"),
            ("Serial", n >= 1, "Serial needs n >= 1"),
            ("LinearComplexity", n >= self.linear_complexity_m, "LinearComplexity needs n >= M"),
        ]
        return [(name, msg) for name, ok, msg in checks if not ok]
