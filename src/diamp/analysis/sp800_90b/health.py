"""SP 800-90B §4.4: the continuous health tests and their cutoffs.

Repetition count test (§4.4.1): a run of C identical samples fails, C the smallest value
with 2^{−H(C−1)} ≤ α, i.e. C = 1 + ⌈−log₂ α / H⌉; the run count starts at 1 with the
first sample of a run.

Adaptive proportion test (§4.4.2): non-overlapping windows of W samples (1024 for binary
sources, 512 otherwise, as §4.4.2 prescribes); the window's first sample A counts itself,
and the window fails when the count B of A reaches C. Under the hypothesis that A recurs
with probability p = 2^{−H}, B − 1 ~ Binomial(W − 1, p), and C here is the smallest value
with P(B ≥ C) ≤ α, taken directly from that distribution (exactly, with the tails compared
to α in integers where they come close: :func:`diamp.analysis._binomial.binom_isf`). The
standard's formula C = 1 + CRITBINOM(W, p, 1 − α) uses Binomial(W, p) instead: it equals
this cutoff for most H and is one lower for some (W = 512: H = 0.5, 2, 4, 8 give 410, 177,
62, 13 by the formula and 411, 178, 63, 14 here), where its false-alarm rate exceeds α.
``method="sp800-90b"`` returns the formula's value.

Both tests report a failure once, at the sample whose count reaches the cutoff. The
α = 2⁻²⁰ default is the standard's recommendation (one false alarm in about a million).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from diamp.analysis._binomial import binom_isf
from diamp.analysis.sp800_90b._kernels.health import (
    PROPORTION,
    SEEN,
    STATE_SIZE,
    health_scan,
)
from diamp.errors import AnalysisError

__all__ = [
    "HealthFailure",
    "HealthMonitor",
    "adaptive_proportion_cutoff",
    "repetition_count_cutoff",
]

ALPHA = 2.0**-20


def _check(h: float, alpha: float) -> None:
    if not (math.isfinite(h) and 0.0 < h <= 8.0):
        raise AnalysisError(f"min-entropy per sample must be in (0, 8], found {h!r}", key="h")
    if not 0.0 < alpha < 1.0:
        raise AnalysisError(f"alpha must be in (0, 1), found {alpha!r}", key="alpha")


def repetition_count_cutoff(h: float, alpha: float = ALPHA) -> int:
    """Cutoff C of the repetition count test: a run of C equal samples fails.

    Parameters
    ----------
    h
        Assessed min-entropy per sample, 0 < h ≤ 8.
    alpha
        False-alarm probability per run.

    Returns
    -------
    int
        The smallest C with 2^{−h(C−1)} ≤ α (§4.4.1: C = 1 + ⌈−log₂ α / H⌉).
    """
    _check(h, alpha)
    target = -math.log2(alpha)
    m = max(1, math.ceil(target / h))
    while m > 1 and h * (m - 1) >= target:  # ⌈·⌉ of a quotient rounded up by one ulp
        m -= 1
    return 1 + m


def adaptive_proportion_cutoff(
    h: float,
    window: int,
    alpha: float = ALPHA,
    method: Literal["binomial", "sp800-90b"] = "binomial",
) -> int:
    """Cutoff C of the adaptive proportion test: a window whose first value occurs C times fails.

    Parameters
    ----------
    h
        Assessed min-entropy per sample, 0 < h ≤ 8.
    window
        Window size W (1024 for binary sources, 512 otherwise).
    alpha
        False-alarm probability per window.
    method
        ``"binomial"``: smallest C with P(1 + Binomial(W − 1, 2^−h) ≥ C) ≤ α (default);
        ``"sp800-90b"``: the standard's 1 + CRITBINOM(W, 2^−h, 1 − α).

    Returns
    -------
    int
        The cutoff, at most W.

    Raises
    ------
    AnalysisError
        For an invalid h, α or window, or when even C = W would not reach α (the entropy
        is too low for the test to detect anything in a window of this size).
    """
    _check(h, alpha)
    if window < 2:
        raise AnalysisError(f"window must be at least 2, found {window}", key="window")
    p = 2.0**-h
    if method == "sp800-90b":
        # CRITBINOM(W, p, 1 − α): the smallest k with P(Binomial(W, p) ≤ k) ≥ 1 − α
        cutoff = 1 + binom_isf(alpha, window, p)
    elif method == "binomial":
        # the smallest k with P(B − 1 > k) ≤ α: B ≥ k + 2 fails
        cutoff = binom_isf(alpha, window - 1, p) + 2
    else:
        raise AnalysisError(f"unknown cutoff method {method!r}", key="method")
    if cutoff > window:
        raise AnalysisError(
            f"no adaptive proportion cutoff reaches alpha = {alpha:g} for h = {h:g} in a "
            f"window of {window}: the test cannot detect anything at this entropy",
            key="h",
        )
    return cutoff


@dataclass(frozen=True)
class HealthFailure:
    """One health-test failure: the test and the index of the sample that triggered it."""

    test: Literal["repetition_count", "adaptive_proportion"]
    index: int


class HealthMonitor:
    """Streaming repetition count and adaptive proportion tests.

    Feed chunks of samples in order with :meth:`feed`; the state (current run, window,
    position) carries across calls, so the failures found do not depend on how the stream
    is cut into chunks. Sample indices count from the first sample ever fed.

    Parameters
    ----------
    h
        Assessed min-entropy per sample.
    bits_per_sample
        Sample width; the window defaults to 1024 samples when it is 1, else 512.
    alpha
        False-alarm probability of each test (default 2⁻²⁰).
    window
        Adaptive proportion window, overriding the default.
    """

    def __init__(
        self,
        h: float,
        bits_per_sample: int,
        *,
        alpha: float = ALPHA,
        window: int | None = None,
    ) -> None:
        if not 1 <= bits_per_sample <= 8:
            raise AnalysisError(
                f"bits_per_sample must be between 1 and 8, found {bits_per_sample}",
                key="bits_per_sample",
            )
        if h > bits_per_sample:
            raise AnalysisError(f"h = {h} exceeds bits_per_sample = {bits_per_sample}", key="h")
        self.bits_per_sample = bits_per_sample
        self.window = window if window is not None else (1024 if bits_per_sample == 1 else 512)
        self.repetition_cutoff = repetition_count_cutoff(h, alpha)
        self.proportion_cutoff = adaptive_proportion_cutoff(h, self.window, alpha)
        self._state = np.zeros(STATE_SIZE, np.int64)
        self._failures: list[HealthFailure] = []

    @property
    def samples_seen(self) -> int:
        """Number of samples fed so far."""
        return int(self._state[SEEN])

    @property
    def failures(self) -> tuple[HealthFailure, ...]:
        """Every failure found so far, in stream order."""
        return tuple(self._failures)

    def feed(self, samples: NDArray[np.integer]) -> list[HealthFailure]:
        """Run both tests over the next chunk; returns the failures found in it.

        Raises
        ------
        AnalysisError
            If a sample does not fit ``bits_per_sample`` bits (the state is then unchanged).
        """
        x = np.asarray(samples)
        if x.ndim != 1 or (x.size and (x.min() < 0 or x.max() >= 1 << self.bits_per_sample)):
            raise AnalysisError(
                f"samples must be a 1-D array of {self.bits_per_sample}-bit values",
                key="samples",
            )
        x = np.ascontiguousarray(x, dtype=np.uint8)
        found: list[HealthFailure] = []
        where = np.empty(1025, np.int64)
        kind = np.empty(1024, np.int64)
        pos = 0
        while pos < x.shape[0]:
            pos = health_scan(
                x, pos, self._state, self.repetition_cutoff, self.proportion_cutoff,
                self.window, where, kind,
            )  # fmt: skip
            for j in range(int(where[-1])):
                if kind[j] == PROPORTION:
                    found.append(HealthFailure("adaptive_proportion", int(where[j])))
                else:
                    found.append(HealthFailure("repetition_count", int(where[j])))
        self._failures.extend(found)
        return found
