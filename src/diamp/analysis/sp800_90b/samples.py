"""Sample preparation shared by the SP 800-90B estimators and tests.

The reference tool (SP800-90B_EntropyAssessment 1.1.7, ``read_file_subset`` in
``cpp/shared/utils.h``) reads one sample per byte and then:

1. refuses data that does not fit the declared width: if any sample has a bit set at or above
   ``bits_per_sample`` it stops with "Incorrect bit width specification" (its later masking to
   ``bits_per_sample`` bits is therefore a no-op). :func:`prepare_samples` raises
   :class:`~diamp.errors.AnalysisError` in that case, naming the first offending sample;
2. builds the bitstring from the *unmapped* values, MSB-first within the declared width
   (sample ``x`` contributes bits ``x >> (w-1) & 1, ..., x & 1``);
3. maps the k distinct values present, in increasing order, to ``0 .. k-1`` ("translation")
   for the literal estimators, whose alphabet size is this k, not ``2**bits_per_sample``.

Data with a single distinct value is refused ("no entropy awarded"), as by the tool.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from diamp.errors import AnalysisError

__all__ = ["Samples", "prepare_samples"]


@dataclass(frozen=True)
class Samples:
    """Samples ready for the estimators.

    Attributes
    ----------
    raw
        The samples as given (each ``< 2**bits_per_sample``), ``uint8``.
    symbols
        The samples mapped to ``0 .. k-1`` in increasing order of value, ``uint8``.
    k
        Number of distinct values present (the literal alphabet size).
    bits_per_sample
        Declared width in bits, 1 to 8.
    """

    raw: NDArray[np.uint8]
    symbols: NDArray[np.uint8]
    k: int
    bits_per_sample: int

    @property
    def binary(self) -> bool:
        """True when exactly two distinct values occur (the tool's binary case)."""
        return self.k == 2

    def bitstring(self) -> NDArray[np.uint8]:
        """The unmapped samples as bits (``uint8`` 0/1), MSB-first within the declared width."""
        w = self.bits_per_sample
        if w == 1:
            return self.raw
        bits = np.unpackbits(self.raw[:, None], axis=1)[:, 8 - w :]
        return np.ascontiguousarray(bits.reshape(-1))


def prepare_samples(samples: NDArray[np.integer], bits_per_sample: int) -> Samples:
    """Check samples against the declared width and map them to ``0 .. k-1``.

    Parameters
    ----------
    samples
        One-dimensional array of non-negative integers (or booleans), one sample per element.
    bits_per_sample
        Declared width, 1 to 8 (the tool's ``bits_per_symbol``).

    Returns
    -------
    Samples
        The checked samples, their mapping and the alphabet size.

    Raises
    ------
    AnalysisError
        If the width is outside 1..8, the array is empty or not one-dimensional, a sample
        does not fit the declared width (the tool refuses such data), or only one distinct
        value occurs.
    """
    if isinstance(bits_per_sample, bool) or not isinstance(bits_per_sample, int | np.integer):
        raise AnalysisError(f"bits_per_sample must be an integer, found {bits_per_sample!r}")
    width = int(bits_per_sample)
    if not 1 <= width <= 8:
        raise AnalysisError(
            f"bits_per_sample must be between 1 and 8, found {width}", key="bits_per_sample"
        )
    arr = np.asarray(samples)
    if arr.ndim != 1:
        raise AnalysisError(f"samples must be one-dimensional, found shape {arr.shape}")
    if arr.size == 0:
        raise AnalysisError("no samples to assess")
    if arr.dtype.kind not in "uib":
        raise AnalysisError(f"samples must be integers, found dtype {arr.dtype}")
    limit = 1 << width
    bad = np.flatnonzero((arr < 0) | (arr >= limit))
    if bad.size:
        i = int(bad[0])
        raise AnalysisError(
            f"sample {i} has value {int(arr[i])}, which does not fit in {width} bit(s) "
            f"({bad.size} sample(s) out of range); the reference tool refuses such data: "
            "declare the full width or mask the samples first",
            index=i,
            value=int(arr[i]),
        )
    raw = np.ascontiguousarray(arr, dtype=np.uint8)
    present = np.bincount(raw, minlength=limit) > 0
    k = int(present.sum())
    if k < 2:
        raise AnalysisError(
            f"only one distinct value ({int(raw[0])}) occurs: no entropy can be awarded"
        )
    table = (np.cumsum(present) - 1).astype(np.uint8)
    symbols = table[raw]
    return Samples(raw=raw, symbols=symbols, k=k, bits_per_sample=width)
