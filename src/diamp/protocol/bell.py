"""Bell statistics: counts N(a, b, x, y), the CHSH value and the exact MDL value S_mu.

Conventions (DESIGN): trial v = 8x + 4y + 2a + b; P(abxy) = N(a, b, x, y)/n is the *joint*
frequency; S_mu = mu_min·P(0000) − mu_max·(P(0101) + P(1010) + P(0011)) with
mu_min = (1/2 − mu)², mu_max = (1/2 + mu)², index order a, b, x, y (seed 003 eq. 4,
spec §2); CHSH S = E00 + E01 + E10 − E11 with E_xy from conditional frequencies.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from diamp.errors import ProtocolError
from diamp.protocol._kernels import count_values, pack_ab

__all__ = [
    "AbDigest",
    "AbPacker",
    "BellAccumulator",
    "BellCounts",
    "LiveBell",
    "abxy_key",
    "count_trials",
    "trial_value",
]


def trial_value(a: int, b: int, x: int, y: int) -> int:
    """Encoded trial v = 8x + 4y + 2a + b."""
    return 8 * x + 4 * y + 2 * a + b


def abxy_key(v: int) -> str:
    """The certificate key "abxy" of encoded trial value ``v`` (e.g. 5 -> "0101")."""
    x, y, a, b = (v >> 3) & 1, (v >> 2) & 1, (v >> 1) & 1, v & 1
    return f"{a}{b}{x}{y}"


@dataclass(frozen=True)
class BellCounts:
    """Integer counts of the 16 trial values, ``counts[v]`` with v = 8x + 4y + 2a + b."""

    counts: tuple[int, ...]

    def __post_init__(self) -> None:
        if len(self.counts) != 16 or any(c < 0 for c in self.counts):
            raise ProtocolError("BellCounts needs 16 non-negative counts")

    @classmethod
    def zero(cls) -> BellCounts:
        """No trials."""
        return cls((0,) * 16)

    def __add__(self, other: BellCounts) -> BellCounts:
        return BellCounts(tuple(a + b for a, b in zip(self.counts, other.counts, strict=True)))

    @property
    def n(self) -> int:
        """Number of trials."""
        return sum(self.counts)

    def n_abxy(self, a: int, b: int, x: int, y: int) -> int:
        """N(a, b, x, y)."""
        return self.counts[trial_value(a, b, x, y)]

    def as_abxy(self) -> dict[str, int]:
        """Counts keyed "abxy" in lexicographic key order (the certificate form)."""
        return {abxy_key(v): self.counts[v] for v in sorted(range(16), key=abxy_key)}

    def correlator(self, x: int, y: int) -> float:
        """E_xy = [N(00xy) + N(11xy) − N(01xy) − N(10xy)] / N(xy); nan if N(xy) = 0."""
        same = self.n_abxy(0, 0, x, y) + self.n_abxy(1, 1, x, y)
        diff = self.n_abxy(0, 1, x, y) + self.n_abxy(1, 0, x, y)
        total = same + diff
        return (same - diff) / total if total else math.nan

    def chsh(self) -> float:
        """CHSH S = E00 + E01 + E10 − E11 (DESIGN orientation: x = y = 1 anti-correlated)."""
        e = self.correlator
        return e(0, 0) + e(0, 1) + e(1, 0) - e(1, 1)

    def s_mu(self, mu: Fraction) -> Fraction:
        """The MDL value S_mu,obs as an exact fraction (seed 003 eq. 4, joint frequencies).

        Raises
        ------
        ProtocolError
            If there are no trials or mu is outside [0, 1/2).
        """
        if not 0 <= mu < Fraction(1, 2):
            raise ProtocolError(f"mu must satisfy 0 <= mu < 1/2, found {mu}")
        if self.n == 0:
            raise ProtocolError("S_mu is undefined without trials")
        mu_min = (Fraction(1, 2) - mu) ** 2
        mu_max = (Fraction(1, 2) + mu) ** 2
        negative = self.n_abxy(0, 1, 0, 1) + self.n_abxy(1, 0, 1, 0) + self.n_abxy(0, 0, 1, 1)
        return (mu_min * self.n_abxy(0, 0, 0, 0) - mu_max * negative) / self.n


def count_trials(trials: np.ndarray, *, offset: int = 0) -> BellCounts:
    """Count encoded trials (``uint8``, one per trial).

    Raises
    ------
    ProtocolError
        If a value is >= 16 (not a valid encoding); the message gives its index
        (``offset`` + position in ``trials``).
    """
    arr = np.ascontiguousarray(trials)
    if arr.dtype != np.uint8 or arr.ndim != 1:
        raise ProtocolError(
            f"trials must be a 1-d uint8 array, found {arr.dtype} with shape {arr.shape}"
        )
    table = np.zeros(256, dtype=np.int64)
    bad = count_values(arr, table)
    if bad >= 0:
        raise ProtocolError(
            f"invalid trial value {int(arr[bad])} at trial {offset + bad} (expected 0..15)",
            trial=offset + bad,
        )
    return BellCounts(tuple(int(c) for c in table[:16]))


@dataclass
class BellAccumulator:
    """Streams blocks of trials into total, per-block and per-segment counts.

    Segments of ``segment_trials`` trials restart at every block boundary (the last segment
    of a block may be shorter), so each segment lies inside one block.
    """

    segment_trials: int = 2**22
    total: BellCounts = field(default_factory=BellCounts.zero)
    blocks: list[BellCounts] = field(default_factory=list)
    segments: list[BellCounts] = field(default_factory=list)

    def add_block(self, trials: np.ndarray) -> BellCounts:
        """Count one block; returns its counts."""
        offset = self.total.n
        block = BellCounts.zero()
        for start in range(0, len(trials), self.segment_trials):
            seg = count_trials(trials[start : start + self.segment_trials], offset=offset + start)
            self.segments.append(seg)
            block = block + seg
        self.blocks.append(block)
        self.total = self.total + block
        return block


@dataclass
class LiveBell:
    """The running CHSH/S_mu of an acquisition, reported every ``segment_trials`` trials.

    Trials arrive in chunks of any size, in trial order (:meth:`feed`); ``report`` is called
    with the running total each time a segment of the current block completes and at the
    block's end (:meth:`end_block`, which returns the block's counts). Segments restart at
    every block boundary, as in :class:`BellAccumulator`.
    """

    segment_trials: int
    report: Callable[[BellCounts], None]
    total: BellCounts = field(default_factory=BellCounts.zero)
    block: BellCounts = field(default_factory=BellCounts.zero)
    _unreported: int = 0

    def feed(self, trials: np.ndarray) -> None:
        """Count the next trials of the current block."""
        pos = 0
        while pos < len(trials):
            take = min(self.segment_trials - self._unreported, len(trials) - pos)
            counts = count_trials(trials[pos : pos + take], offset=self.total.n)
            self.total, self.block = self.total + counts, self.block + counts
            pos += take
            self._unreported += take
            if self._unreported == self.segment_trials:
                self._unreported = 0
                self.report(self.total)

    def end_block(self) -> BellCounts:
        """Close the current block (reporting a partial last segment); its counts."""
        if self._unreported:
            self._unreported = 0
            self.report(self.total)
        block, self.block = self.block, BellCounts.zero()
        return block


class AbPacker:
    """Builds the packed AB string (a_0 b_0 a_1 b_1 …, MSB-first) from blocks of trials.

    Blocks of any length are accepted; up to three trailing trials are carried to the next
    block so the bit string is contiguous.
    """

    def __init__(self, n_trials: int) -> None:
        self.n_trials = n_trials
        self.packed = np.zeros((2 * n_trials + 7) // 8, dtype=np.uint8)
        self._pos = 0  # trials consumed
        self._carry = np.empty(0, dtype=np.uint8)

    def add(self, trials: np.ndarray) -> None:
        """Append the outputs of ``trials`` (in trial order)."""
        data = np.concatenate([self._carry, trials]) if self._carry.size else trials
        whole = data.size - data.size % 4
        if self._pos + data.size > self.n_trials:
            raise ProtocolError(f"AB packer expected {self.n_trials} trials, got more")
        start = self._pos // 4
        pack_ab(np.ascontiguousarray(data[:whole]), self.packed[start : start + whole // 4])
        self._pos += whole
        self._carry = np.array(data[whole:], dtype=np.uint8)

    def finish(self) -> np.ndarray:
        """The packed AB string (``ceil(2n / 8)`` bytes); checks every trial arrived."""
        if self._carry.size:
            ab = np.empty(2 * self._carry.size, dtype=np.uint8)
            ab[0::2] = (self._carry >> 1) & 1
            ab[1::2] = self._carry & 1
            tail = np.packbits(ab)
            self.packed[self._pos // 4 : self._pos // 4 + tail.size] = tail
            self._pos += self._carry.size
            self._carry = np.empty(0, dtype=np.uint8)
        if self._pos != self.n_trials:
            raise ProtocolError(f"AB packer expected {self.n_trials} trials, got {self._pos}")
        return self.packed


class AbDigest:
    """SHA-256 of the packed AB string (a_0 b_0 a_1 b_1 …, MSB-first), fed block by block.

    Holds at most three trials between blocks, so memory does not grow with the run.
    """

    def __init__(self) -> None:
        import hashlib

        self._hash = hashlib.sha256()
        self._carry = np.empty(0, dtype=np.uint8)
        self.n_trials = 0

    def add(self, trials: np.ndarray) -> None:
        """Append the outputs of ``trials`` (in trial order)."""
        data = np.concatenate([self._carry, trials]) if self._carry.size else trials
        whole = data.size - data.size % 4
        packed = np.empty(whole // 4, dtype=np.uint8)
        pack_ab(np.ascontiguousarray(data[:whole]), packed)
        self._hash.update(packed.data)
        self._carry = np.array(data[whole:], dtype=np.uint8)
        self.n_trials += trials.size

    def hexdigest(self) -> str:
        """The digest of everything added (the last byte zero-padded)."""
        if self._carry.size:
            ab = np.empty(2 * self._carry.size, dtype=np.uint8)
            ab[0::2] = (self._carry >> 1) & 1
            ab[1::2] = self._carry & 1
            self._hash.update(np.packbits(ab).data)
            self._carry = np.empty(0, dtype=np.uint8)
        return self._hash.hexdigest()
