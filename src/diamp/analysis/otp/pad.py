"""The one-time pad: data XOR fresh key bits, never wrapped or reused (seed 003 Fig. 11).

The key is a bit string packed MSB-first (``numpy.packbits`` order, as diamp stores keys):
key bit i is bit 7 − (i mod 8) of byte i // 8. Data byte j is XORed with the key byte made
of key bits [offset + 8j, offset + 8j + 8), first bit most significant. A key shorter than
the data is refused: a one-time pad never wraps or reuses its key.
"""

from __future__ import annotations

from typing import overload

import numpy as np

from diamp.errors import ConfigError

__all__ = ["key_segment", "one_time_pad"]


def _as_key(key_bits_packed: bytes | np.ndarray) -> np.ndarray:
    if isinstance(key_bits_packed, bytes | bytearray | memoryview):
        return np.frombuffer(key_bits_packed, dtype=np.uint8)
    key = np.asarray(key_bits_packed)
    if key.dtype != np.uint8 or key.ndim != 1:
        raise ConfigError(
            f"the key must be packed bits: bytes or a 1-d uint8 array, got {key.dtype} {key.shape}",
            parameter="key_bits_packed",
        )
    return key


def key_segment(
    key_bits_packed: bytes | np.ndarray,
    nbytes: int,
    *,
    key_nbits: int | None = None,
    key_offset: int = 0,
) -> np.ndarray:
    """The ``nbytes`` pad bytes made of key bits [key_offset, key_offset + 8·nbytes).

    Parameters
    ----------
    key_bits_packed
        The key, packed MSB-first.
    nbytes
        Number of pad bytes wanted (≥ 0).
    key_nbits
        Bits in the key (default 8 × its length); the packed length must be ⌈key_nbits/8⌉.
    key_offset
        First key bit to use, 0 ≤ key_offset ≤ key_nbits (bits before it are spent).

    Returns
    -------
    numpy.ndarray
        ``uint8`` array of ``nbytes`` bytes, MSB-first.

    Raises
    ------
    ConfigError
        If the key holds fewer than key_offset + 8·nbytes bits (``parameter="key"``), or a
        length or offset is invalid.
    """
    key = _as_key(key_bits_packed)
    nbits = 8 * key.size if key_nbits is None else key_nbits
    if isinstance(nbits, bool) or not isinstance(nbits, int) or (nbits + 7) // 8 != key.size:
        raise ConfigError(
            f"key_nbits = {key_nbits!r} does not fit a key of {key.size} bytes "
            f"(needs {8 * key.size - 7} … {8 * key.size})",
            parameter="key_nbits",
        )
    if isinstance(key_offset, bool) or not isinstance(key_offset, int) or key_offset < 0:
        raise ConfigError(
            f"key_offset must be an integer >= 0, got {key_offset!r}", parameter="key_offset"
        )
    need = 8 * nbytes
    if key_offset + need > nbits:
        left = max(nbits - key_offset, 0)
        raise ConfigError(
            f"the key is too short: {nbytes:,} bytes need {need:,} key bits from bit "
            f"{key_offset:,}, but the key holds {nbits:,} bits ({left:,} left); a one-time pad "
            "never reuses or wraps its key",
            parameter="key",
        )
    start, shift = divmod(key_offset, 8)
    if shift == 0:
        return np.array(key[start : start + nbytes], dtype=np.uint8)
    bits = np.unpackbits(key[start : start + nbytes + 1])[shift : shift + need]
    return np.packbits(bits)


@overload
def one_time_pad(
    data: bytes,
    key_bits_packed: bytes | np.ndarray,
    *,
    key_nbits: int | None = ...,
    key_offset: int = ...,
) -> bytes: ...
@overload
def one_time_pad(
    data: np.ndarray,
    key_bits_packed: bytes | np.ndarray,
    *,
    key_nbits: int | None = ...,
    key_offset: int = ...,
) -> np.ndarray: ...
def one_time_pad(
    data: bytes | np.ndarray,
    key_bits_packed: bytes | np.ndarray,
    *,
    key_nbits: int | None = None,
    key_offset: int = 0,
) -> bytes | np.ndarray:
    """XOR ``data`` with fresh key bits: encryption and decryption are the same operation.

    Parameters
    ----------
    data
        ``bytes`` or a ``uint8`` array of any shape (its bytes in C order).
    key_bits_packed, key_nbits, key_offset
        The key, packed MSB-first, as in :func:`key_segment`; 8 × (bytes of data) key bits
        from ``key_offset`` on are used, the next unused bit is key_offset + 8·len(data).

    Returns
    -------
    bytes or numpy.ndarray
        The padded data, of the type (and, for arrays, the shape) of ``data``.

    Raises
    ------
    ConfigError
        If the key is too short (never wrapped or reused) or ``data`` is not bytes/uint8.

    Notes
    -----
    Shannon's one-time pad: c_j = m_j ⊕ k_j with every key bit used once. Seed 003 Fig. 11
    pads an image with the extracted bits; seed 000 eq. 1 is the same XOR between sources.
    """
    if isinstance(data, bytes | bytearray | memoryview):
        plain = np.frombuffer(data, dtype=np.uint8)
        pad = key_segment(key_bits_packed, plain.size, key_nbits=key_nbits, key_offset=key_offset)
        cipher: np.ndarray = np.bitwise_xor(plain, pad)
        return cipher.tobytes()
    arr = np.asarray(data)
    if arr.dtype != np.uint8:
        raise ConfigError(f"data must be bytes or a uint8 array, got {arr.dtype}", parameter="data")
    pad = key_segment(key_bits_packed, arr.size, key_nbits=key_nbits, key_offset=key_offset)
    out: np.ndarray = np.bitwise_xor(np.ascontiguousarray(arr).reshape(-1), pad)
    return out.reshape(arr.shape)
