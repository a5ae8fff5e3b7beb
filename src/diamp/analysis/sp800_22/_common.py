"""Input checks and special functions shared by the SP 800-22 tests (private)."""

from __future__ import annotations

import math

import numpy as np

from diamp.analysis._special import gammaincc
from diamp.errors import ConfigError

__all__ = ["as_bits", "erfc", "igamc", "require"]


def as_bits(bits: np.ndarray) -> np.ndarray:
    """Check a sequence of bits and return it as a C-contiguous read-only ``uint8`` array.

    Parameters
    ----------
    bits
        One-dimensional array of 0/1 values (``uint8`` or ``bool``), one bit per element in
        sequence order (for packed input: MSB-first within each byte).

    Raises
    ------
    ConfigError
        If the array is not one-dimensional or holds values other than 0 and 1.
    """
    arr = np.asarray(bits)
    if arr.ndim != 1 or arr.dtype not in (np.uint8, np.bool_):
        raise ConfigError(
            f"bits must be a 1-D uint8 array of 0/1 values, found {arr.dtype} with shape "
            f"{arr.shape}",
            key="bits",
        )
    arr = np.ascontiguousarray(arr.view(np.uint8))
    if arr.size and int(arr.max()) > 1:
        raise ConfigError("bits must hold only 0 and 1 (unpack packed bytes first)", key="bits")
    if arr.flags.writeable:
        arr = arr.view()
        arr.flags.writeable = False
    return arr


def require(condition: bool, message: str, key: str) -> None:
    """Raise :class:`~diamp.errors.ConfigError` with ``message`` unless ``condition`` holds."""
    if not condition:
        raise ConfigError(message, key=key)


def igamc(a: float, x: float) -> float:
    """Regularised upper incomplete gamma function Q(a, x) (the reference's ``cephes_igamc``)."""
    return gammaincc(a, x)


def erfc(x: float) -> float:
    """Complementary error function."""
    return math.erfc(x)
