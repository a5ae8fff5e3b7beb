"""The word stream every kernel reads: dieharder's raw file input, emulated.

dieharder's ``-g 201`` reads the file as native 32-bit words (little-endian on x86, so
word i is bytes 4i … 4i+3 read little-endian) and, on reaching the end of the file,
rewinds it to the first word. A kernel keeps its position in a two-slot ``int64`` state:
``state[0]`` is the index of the next word, ``state[1]`` the number of words read so far.
Reading past the last word continues at word 0, exactly like the reference; the callers
refuse that (unless the user asked for ``--rewind``) by comparing ``state[1]`` with the
words available.
"""

from __future__ import annotations

import numba as nb
import numpy as np

UINT_MAX = 4294967295.0  # the reference floats a word as word / UINT_MAX (so 1.0 can occur)


@nb.njit(cache=True, nogil=True)
def next_word(words, state):  # type: ignore[no-untyped-def]  # pragma: no cover - numba
    """The next 32-bit word, wrapping to word 0 at the end of the file."""
    pos = state[0]
    value = words[pos]
    pos += 1
    if pos == words.size:
        pos = 0
    state[0] = pos
    state[1] += 1
    return value


@nb.njit(cache=True, nogil=True)
def uniform(words, state):  # type: ignore[no-untyped-def]  # pragma: no cover - numba
    """A word floated to [0, 1] as the reference's file input does (word / UINT_MAX)."""
    return next_word(words, state) / UINT_MAX


@nb.njit(cache=True, nogil=True)
def uniform_pos(words, state):  # type: ignore[no-untyped-def]  # pragma: no cover - numba
    """As :func:`uniform`, skipping zero words (the reference's ``uniform_pos``)."""
    value = 0.0
    while value == 0.0:
        value = next_word(words, state) / UINT_MAX
    return value


@nb.njit(cache=True, nogil=True)
def die(words, state):  # type: ignore[no-untyped-def]  # pragma: no cover - numba
    """One die, 1 … 6: word // ⌊UINT_MAX/6⌋, words giving 6 or more are skipped."""
    scale = np.uint32(715827882)  # (2**32 - 1) // 6
    while True:
        k = next_word(words, state) // scale
        if k < 6:
            return 1 + int(k)


@nb.njit(cache=True, nogil=True)
def take(words, state, count):  # type: ignore[no-untyped-def]  # pragma: no cover - numba
    """The next ``count`` words as one array (a copy only where the stream wraps)."""
    pos = state[0]
    size = words.size
    state[1] += count
    if pos + count <= size:
        state[0] = (pos + count) % size
        return words[pos : pos + count]
    out = np.empty(count, np.uint32)
    for i in range(count):
        out[i] = words[pos]
        pos += 1
        if pos == size:
            pos = 0
    state[0] = pos
    return out
