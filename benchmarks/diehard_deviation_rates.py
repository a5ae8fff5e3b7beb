"""How often dieharder's departures from Marsaglia change a p-value on random data.

Run on purpose (not part of the test suite):

    PYTHONPATH=src .venv/bin/python benchmarks/diehard_deviation_rates.py [--psamples 1000]

On bytes from the operating system's random source, each of the four tests on which
dieharder 3.31.1 departs from Marsaglia's description (birthdays, bitstream, DNA, sums)
is run in diamp's default mode and in ``dieharder_compat`` mode on the same words; the
script prints how many psamples get a different p-value, and for birthdays how many of
the 512-birthday samples get a different count j. For bitstream and DNA it also prints
the largest cell count seen: the wrap needs 256, and the mean is 2.
"""

from __future__ import annotations

import argparse
import os

import numpy as np

from diamp.analysis.diehard import _kernels_bits as kb
from diamp.analysis.diehard import find_test, run_battery, words_from_bytes


def _urandom_words(count: int) -> np.ndarray:
    return words_from_bytes(os.urandom(4 * count))


def _differing(name: str, psamples: int) -> tuple[int, float]:
    test = find_test(name)
    words = _urandom_words(test.words_needed(psamples))
    default = run_battery(words, [test], psamples).results[0].pvalues[0]
    compat = run_battery(words, [test], psamples, dieharder_compat=True).results[0].pvalues[0]
    diff = np.abs(default - compat)
    return int(np.count_nonzero(diff > 1e-12)), float(diff.max())


def _birthday_samples(samples: int) -> int:
    """Samples of 512 birthdays whose count j differs between the two definitions."""
    words = _urandom_words(384 * samples)
    state = np.zeros(2, np.int64)
    marsaglia, _ = kb.birthdays(words, state, samples, -1, 1, 64, False)
    state[:] = 0
    dieharder, _ = kb.birthdays(words, state, samples, -1, 1, 64, True)
    return int(np.count_nonzero(np.argmax(marsaglia, 1) != np.argmax(dieharder, 1)))


def _largest_cell(psamples: int) -> tuple[int, int]:
    """Largest count of one 20-bit word (bitstream) and one 10-letter word (DNA)."""
    top_bits = top_dna = 0
    for _ in range(psamples):
        w = _urandom_words(655_371)
        bits = np.unpackbits(w[:262_146].astype(">u4").view(np.uint8)).astype(np.int64)
        value = np.zeros(2**21, np.int64)
        for k in range(20):
            value = (value << 1) | bits[8 + k : 8 + k + 2**21]
        top_bits = max(top_bits, int(np.bincount(value, minlength=2**20).max()))
        groups = w[11:].reshape(-1, 10).astype(np.int64)
        words = np.zeros((groups.shape[0], 32), np.int64)
        for i in range(10):
            doubled = groups[:, i : i + 1] | (groups[:, i : i + 1] << 32)
            words = (words << 2) | ((doubled >> np.arange(32)) & 3)
        top_dna = max(top_dna, int(np.bincount(words.ravel(), minlength=2**20).max()))
    return top_bits, top_dna


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--psamples", type=int, default=1000, help="birthdays and sums")
    parser.add_argument("--occupancy-psamples", type=int, default=20, help="bitstream and DNA")
    args = parser.parse_args()
    n, m = args.psamples, args.occupancy_psamples
    samples = 100 * n
    changed = _birthday_samples(samples)
    print(f"birthdays: j differs in {changed} of {samples:,} samples ({changed / samples:.3%})")
    for name, count in (("birthdays", n), ("sums", n), ("bitstream", m), ("dna", m)):
        differing, largest = _differing(name, count)
        print(f"{name}: p-value differs in {differing} of {count} psamples "
              f"(largest difference {largest:.2e})")  # fmt: skip
    top_bits, top_dna = _largest_cell(m)
    print(f"largest cell count in {m} psamples: bitstream {top_bits}, DNA {top_dna} (wrap: 256)")


if __name__ == "__main__":
    main()
