"""Toeplitz hashing with a fixed seed over GF(2) by table look-up: exact, no floating point.

The definition is that of :mod:`diamp.extractors.toeplitz` (DESIGN): raw r of n bits, seed
s of n + m − 1 bits, out_i = ⊕_j s_{i−j+n−1}·r_j, i.e. the correlation c_i = ⊕_t x_t s_{t+i}
of the reversed raw string x_t = r_{n−1−t} with the seed. Bits are MSB-first.

With the seed fixed, the work splits by bytes of x (the "method of four Russians"): for
byte j of x with value v (bits x_{8j+u}, u = 0 … 7, MSB-first), its contribution to c is
⊕_{u: x_{8j+u} = 1} s[8j+u : 8j+u+m], which is bits 8j … 8j + m − 1 of the *window*
W_v = ⊕_{u: x_{8j+u} = 1} (s shifted left by u). The 256 windows are computed once per
seed (256 × (⌈n/8⌉ + ⌈m/8⌉) bytes), and since 8j is a whole byte, a block costs ⌈n/8⌉
XORs of ⌈m/8⌉ consecutive bytes of a window row into one accumulator: about n·m/64 byte
operations, which the compiler vectorises. It is quadratic in the block length, so it
beats the FFT engine (:class:`diamp.extractors.realtime.FixedSeedToeplitz`) on small and
medium blocks only (``docs/service.md`` has the measured crossover); its window table
grows as 32·(n + m) bytes, which :data:`MAX_TABLE_BYTES` bounds.

Integer XORs only, so the result is exact by construction (``exactness = "exact"``);
``check_bits`` output bits of every block, at random positions, are still recomputed from
the definition with bit-packed AND and parity
(:func:`diamp.extractors.realtime.self_check`), as the FFT engine does.
"""

from __future__ import annotations

import numpy as np

from diamp.errors import ExtractionError
from diamp.extractors._gf2_kernels import table_hash
from diamp.extractors.bits import BitSource, read_padded
from diamp.extractors.realtime import (
    BatchExtraction,
    check_batch,
    check_lengths,
    seed_words,
    self_check,
)

__all__ = ["MAX_TABLE_BYTES", "TableToeplitz", "window_table"]

MAX_TABLE_BYTES = 1 << 26
"""Largest window table (64 MiB: blocks up to about 2^20 bits); larger ones are refused."""


def window_table(seed_bits: np.ndarray, row_bytes: int) -> np.ndarray:
    """The 256 windows of a seed: row v bit k = ⊕_{u: bit 7−u of v} s_{k+u} (MSB-first).

    ``seed_bits`` holds the seed as 0/1 ``uint8``; bits past its end count as zero. Row v is
    built from row v with its lowest set bit cleared, so each costs one XOR of a row.
    """
    bits = np.zeros(8 * row_bytes + 8, dtype=np.uint8)
    bits[: seed_bits.size] = seed_bits[: bits.size]
    shifted = np.stack([np.packbits(bits[u : u + 8 * row_bytes]) for u in range(8)])
    table = np.zeros((256, row_bytes), dtype=np.uint8)
    for v in range(1, 256):
        low = (v & -v).bit_length() - 1  # bit 7 - u of v: x_{8j+u} with u = 7 - low
        table[v] = table[v & (v - 1)] ^ shifted[7 - low]
    table.flags.writeable = False
    return table


class TableToeplitz:
    """Toeplitz hashing of n-bit blocks to m bits with one seed (see the module docs).

    The interface of :class:`~diamp.extractors.realtime.FixedSeedToeplitz`: ``extract`` hashes
    a batch (one row per block) and returns a
    :class:`~diamp.extractors.realtime.BatchExtraction` whose round-off fields are 0.

    Parameters
    ----------
    seed
        The seed, exactly n + m − 1 bits (MSB-first).
    n, m
        Raw bits per block and output bits per block, both ≥ 1.

    Raises
    ------
    ExtractionError
        On invalid lengths, or when the window table would exceed :data:`MAX_TABLE_BYTES`
        (use the FFT engine for such blocks).
    """

    exactness = "exact"
    """Integer XORs only: exact by construction; the self-check still runs."""

    def __init__(self, seed: BitSource, n: int, m: int) -> None:
        check_lengths(seed, n, m)
        self.n, self.m = n, m
        row_bytes = (n + 7) // 8 + (m + 7) // 8
        if 256 * row_bytes > MAX_TABLE_BYTES:
            raise ExtractionError(
                f"a GF(2) window table for n = {n}, m = {m} needs {256 * row_bytes} bytes, "
                f"more than {MAX_TABLE_BYTES}: use smaller blocks or the FFT engine"
            )
        packed = read_padded(seed, 0, (seed.nbits + 7) // 8)
        self.table = window_table(np.unpackbits(packed, count=seed.nbits), row_bytes)
        self.seed_words = seed_words(packed, seed.nbits)
        self._last_mask = np.uint8((0xFF << (-m % 8)) & 0xFF)

    def extract(
        self,
        packed: np.ndarray,
        *,
        check_bits: int,
        rng: np.random.Generator | int | None = None,
    ) -> BatchExtraction:
        """Hash every row of ``packed`` (blocks × ⌈n/8⌉ bytes, MSB-first) to m bits.

        ``check_bits`` output bits per block (at most m) are recomputed from the definition
        at positions drawn by ``rng`` (a generator, a seed, or None: seeded from
        :mod:`secrets`). Thread-safe (the table is read-only; the kernel releases the GIL).

        Raises
        ------
        ExtractionError
            On a malformed batch, or an output bit that differs from the definition
            (``block`` and ``position`` name it).
        """
        raw = check_batch(packed, self.n, check_bits)
        out = np.empty((raw.shape[0], (self.m + 7) // 8), dtype=np.uint8)
        table_hash(raw, self.n, self.table, self._last_mask, out)
        positions = self_check(raw, out, self.n, self.m, self.seed_words, check_bits, rng)
        return BatchExtraction(out, 0.0, 0.0, positions)
