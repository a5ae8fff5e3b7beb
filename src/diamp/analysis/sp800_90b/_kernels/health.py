"""Kernel for the continuous health tests (§4.4): repetition count and adaptive proportion."""

from __future__ import annotations

from numba import njit, types

_u8 = types.Array(types.uint8, 1, "C", readonly=True)
_i64w = types.Array(types.int64, 1, "C")
_i64 = types.int64

# state layout
RCT_VALUE, RCT_COUNT, APT_VALUE, APT_COUNT, APT_POS, SEEN = range(6)
STATE_SIZE = 6
REPETITION, PROPORTION = 0, 1


@njit(_i64(_u8, _i64, _i64w, _i64, _i64, _i64, _i64w, _i64w), cache=True, nogil=True)
def health_scan(x, start, state, rct_cutoff, apt_cutoff, window, where, kind):  # type: ignore[no-untyped-def]  # pragma: no cover
    """Feed ``x[start:]`` to both tests; record failures until ``where`` is full.

    ``state`` carries the tests across calls: the repetition count's current value and run
    length, the adaptive proportion test's reference value, its count and the position in
    the window, and the number of samples seen so far (the absolute index of ``x[0]`` plus
    ``start``). A failure is recorded once, at the sample whose count reaches the cutoff:
    sample index in ``where`` and test (0 repetition, 1 proportion) in ``kind``; the
    number recorded goes to ``where[-1]``. Returns the position in ``x`` where scanning
    stopped: ``len(x)`` unless the buffers filled up.
    """
    n = x.shape[0]
    cap = where.shape[0] - 1
    found = 0
    i = start
    while i < n and found < cap:
        v = x[i]
        if state[SEEN] > 0 and v == state[RCT_VALUE]:
            state[RCT_COUNT] += 1
            if state[RCT_COUNT] == rct_cutoff:
                where[found] = state[SEEN]
                kind[found] = REPETITION
                found += 1
        else:
            state[RCT_VALUE] = v
            state[RCT_COUNT] = 1
        if state[APT_POS] == 0:
            state[APT_VALUE] = v
            state[APT_COUNT] = 1
        elif v == state[APT_VALUE]:
            state[APT_COUNT] += 1
            if state[APT_COUNT] == apt_cutoff:
                where[found] = state[SEEN]
                kind[found] = PROPORTION
                found += 1
        state[APT_POS] += 1
        if state[APT_POS] == window:
            state[APT_POS] = 0
        state[SEEN] += 1
        i += 1
    where[cap] = found
    return i
