"""SP 800-90B §6.3.5–6.3.6: the t-tuple and longest repeated substring (LRS) estimates.

Both need, for every length t, the largest count Q[t] of a t-tuple and the sum S[t] over
distinct t-tuples of C(count, 2) (overlapping occurrences). They are read off the suffix
array and its LCP array in linear time, as the reference tool does (Kaufer's method on a
libdivsufsort suffix array); here the suffix array is built by SA-IS. The final arithmetic is
done in long double (``numpy.longdouble``, 80-bit on x86-64) like the tool's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from diamp.analysis.sp800_90b._kernels.suffix import (
    binary_lcp,
    lcp_kasai,
    sais_expand,
    sais_reduce,
    tuple_statistics,
)

__all__ = [
    "LrsResult",
    "TupleResult",
    "longest_common_prefixes",
    "suffix_array",
    "tuple_estimates",
]

_ZALPHA_L = np.longdouble("2.575829303548900384158")
_CUTOFF = 35


def suffix_array(text: NDArray[np.integer], k: int) -> NDArray[np.int32]:
    """Suffix array of ``text`` (symbols ``0 .. k-1``) by SA-IS.

    The starts of the suffixes in increasing lexicographic order, a proper prefix first.
    """
    t = np.ascontiguousarray(text, dtype=np.int32)
    n = t.shape[0]
    if n == 0:
        return np.empty(0, np.int32)
    if n == 1:
        return np.zeros(1, np.int32)
    reduced, positions, names = sais_reduce(t, k)
    m = reduced.shape[0]
    if m == 0 or names == m:
        reduced_sa = np.empty(m, np.int32)
        reduced_sa[reduced] = np.arange(m, dtype=np.int32)
    else:
        reduced_sa = suffix_array(reduced, int(names))
    sa: NDArray[np.int32] = sais_expand(t, k, positions, reduced_sa)
    return sa


def longest_common_prefixes(text: NDArray[np.integer], sa: NDArray[np.int32]) -> NDArray[np.int32]:
    """LCP array by Kasai's algorithm: ``lcp[i]`` for suffixes ``sa[i-1]``, ``sa[i]``."""
    lcp: NDArray[np.int32] = lcp_kasai(np.ascontiguousarray(text, dtype=np.int32), sa)
    return lcp


def _sorted_lcp(symbols: NDArray[np.uint8], k: int) -> NDArray[np.int32]:
    """Adjacent LCPs of the suffixes in sorted order (64-bit keys for bits when possible)."""
    if k == 2:
        lcp, ok = binary_lcp(np.ascontiguousarray(symbols, dtype=np.uint8))
        if ok:
            return lcp  # type: ignore[no-any-return]
    text = np.ascontiguousarray(symbols, dtype=np.int32)
    return longest_common_prefixes(text, suffix_array(text, k))


@dataclass(frozen=True)
class TupleResult:
    """t-tuple estimate (§6.3.5): t, p̂_max and p_u (long double), h."""

    t: int
    p_max: np.longdouble
    p_u: np.longdouble
    h: float


@dataclass(frozen=True)
class LrsResult:
    """LRS estimate (§6.3.6): u, v, p̂ and p_u (long double), h."""

    u: int
    v: int
    p_hat: np.longdouble
    p_u: np.longdouble
    h: float


def _upper(p: np.longdouble, n: int) -> np.longdouble:
    one = np.longdouble(1)
    pu = p + _ZALPHA_L * np.sqrt(p * (one - p) / np.longdouble(n - 1))
    return min(pu, one)


def tuple_estimates(
    symbols: NDArray[np.uint8], k: int
) -> tuple[TupleResult | None, LrsResult | None]:
    """t-tuple and LRS estimates of min-entropy per sample.

    Parameters
    ----------
    symbols
        Samples ``0 .. k-1`` (or bits).
    k
        Alphabet size.

    Returns
    -------
    tuple
        (t-tuple result, LRS result); either is ``None`` when it cannot run: no tuple occurs
        35 times (t-tuple), or v < u (LRS).

    Notes
    -----
    u is the smallest t with Q[t] < 35 and t = u − 1. t-tuple: p̂_max = max over
    1 ≤ i ≤ t of (Q[i]/(L − i + 1))^{1/i}. LRS: p̂ = max over u ≤ i ≤ v of
    (S[i]/C(L − i + 1, 2))^{1/i}. Both: p_u = min(1, p̂ + 2.576 √(p̂(1 − p̂)/(L − 1))),
    h = −log₂ p_u.
    """
    n = symbols.shape[0]
    if n < 2:
        return None, None
    q, s = tuple_statistics(_sorted_lcp(symbols, k))
    v = q.shape[0] - 1
    u = 1
    while u <= v and q[u] >= _CUTOFF:
        u += 1
    one = np.longdouble(1)
    t_result = None
    if u > 1:
        p_max = max(
            np.power(np.longdouble(q[i]) / np.longdouble(n - i + 1), one / np.longdouble(i))
            for i in range(1, u)
        )
        pu = _upper(p_max, n)
        t_result = TupleResult(u - 1, p_max, pu, float(-np.log2(pu)))
    lrs_result = None
    if v >= u:
        p_hat = np.longdouble(0)
        for i in range(u, v + 1):
            choices = (n - i) * (n - i + 1) // 2
            cur = np.power(
                np.longdouble(int(s[i])) / np.longdouble(choices), one / np.longdouble(i)
            )
            p_hat = max(p_hat, cur)
        pu = _upper(p_hat, n)
        lrs_result = LrsResult(u, v, p_hat, pu, float(-np.log2(pu)))
    return t_result, lrs_result
