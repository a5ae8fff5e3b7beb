"""SP 800-90B IID track: permutation, chi-square and LRS tests, and the MCV min-entropy.

As the reference tool's ``ea_iid -i`` (1.1.7): the samples are IID when the permutation
tests (§5.1), both chi-square tests (§5.2.1–5.2.4) and the LRS test (§5.2.5) pass. The
min-entropy is the most common value estimate: H_original on the mapped samples,
H_bitstring per bit on the bitstring when k > 2, and min(bits_per_sample, H_original,
bits_per_sample · H_bitstring). It is computed whatever the verdict, as the tool does, and
is a valid claim only when ``iid`` is true. (The tool stores this minimum in its JSON
``hAssessed`` only at verbosity ``-v -v``; otherwise it writes bits_per_sample there.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from diamp.analysis.sp800_90b.chisquare import (
    ChiSquareResult,
    LrsTestResult,
    chi_square_goodness_of_fit,
    chi_square_independence,
    lrs_test,
)
from diamp.analysis.sp800_90b.estimators import McvResult, most_common_value
from diamp.analysis.sp800_90b.permutation import PermutationResult, permutation_test
from diamp.analysis.sp800_90b.samples import prepare_samples

if TYPE_CHECKING:
    from diamp.progress import ProgressSink

__all__ = ["IidResult", "assess_iid"]


@dataclass(frozen=True)
class IidResult:
    """The IID-track assessment of a sample sequence.

    Attributes
    ----------
    n_samples, bits_per_sample, k
        Number of samples, declared width, number of distinct values.
    permutation
        The 19 permutation statistics: counts and verdicts.
    chi_square_independence, chi_square_goodness_of_fit, lrs
        The other IID tests.
    mcv_literal, mcv_bitstring
        Most common value estimates (``mcv_bitstring`` is ``None`` when k = 2).
    h_original, h_bitstring, min_entropy
        The MCV-based min-entropy as the tool combines it (per sample; H_bitstring per bit).
    """

    n_samples: int
    bits_per_sample: int
    k: int
    permutation: PermutationResult
    chi_square_independence: ChiSquareResult
    chi_square_goodness_of_fit: ChiSquareResult
    lrs: LrsTestResult
    mcv_literal: McvResult
    mcv_bitstring: McvResult | None
    h_original: float
    h_bitstring: float | None
    min_entropy: float

    @property
    def iid(self) -> bool:
        """True when every IID test passes (only then does ``min_entropy`` apply)."""
        return (
            self.permutation.all_passed
            and self.chi_square_independence.passed
            and self.chi_square_goodness_of_fit.passed
            and self.lrs.passed
        )

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict: verdicts, test details and the min-entropy."""

        def fields(obj: Any) -> dict[str, Any]:
            return {k: v for k, v in vars(obj).items()}

        return {
            "track": "iid",
            "n_samples": self.n_samples,
            "bits_per_sample": self.bits_per_sample,
            "distinct_values": self.k,
            "iid": self.iid,
            "h_original": self.h_original,
            "h_bitstring": self.h_bitstring,
            "min_entropy": self.min_entropy,
            "permutation": self.permutation.to_json(),
            "chi_square_independence": fields(self.chi_square_independence),
            "chi_square_goodness_of_fit": fields(self.chi_square_goodness_of_fit),
            "lrs": fields(self.lrs),
            "mcv_literal": fields(self.mcv_literal),
            "mcv_bitstring": None if self.mcv_bitstring is None else fields(self.mcv_bitstring),
        }


def assess_iid(
    samples: NDArray[np.integer],
    bits_per_sample: int,
    *,
    seed: int,
    permutations: int = 10_000,
    workers: int = 2,
    progress: ProgressSink | None = None,
) -> IidResult:
    """Run the SP 800-90B IID track.

    Parameters
    ----------
    samples
        One sample per element, each ``< 2**bits_per_sample``.
    bits_per_sample
        Declared width, 1 to 8.
    seed
        Seed of the shuffles (see :mod:`~diamp.analysis.sp800_90b.permutation`): a run is
        reproducible, and only the permutation counts depend on it.
    permutations
        Number of shuffles (10,000 in SP 800-90B).
    workers
        Threads for bzip2 compressions.
    progress
        Optional sink for the permutation step.

    Returns
    -------
    IidResult
        Every test and the MCV min-entropy.

    Raises
    ------
    AnalysisError
        From :func:`~diamp.analysis.sp800_90b.samples.prepare_samples`.
    """
    prepared = prepare_samples(samples, bits_per_sample)
    k, width = prepared.k, prepared.bits_per_sample
    mcv_literal = most_common_value(prepared.symbols)
    mcv_bits = None if prepared.binary else most_common_value(prepared.bitstring())
    h_original = min(float(width), mcv_literal.h)
    h_bitstring = None if mcv_bits is None else min(1.0, mcv_bits.h)
    assessed = h_original if h_bitstring is None else min(h_original, width * h_bitstring)
    return IidResult(
        n_samples=int(prepared.raw.shape[0]),
        bits_per_sample=width,
        k=k,
        permutation=permutation_test(
            prepared, seed=seed, permutations=permutations, workers=workers, progress=progress
        ),
        chi_square_independence=chi_square_independence(prepared.symbols, k),
        chi_square_goodness_of_fit=chi_square_goodness_of_fit(prepared.symbols, k),
        lrs=lrs_test(prepared.symbols, k),
        mcv_literal=mcv_literal,
        mcv_bitstring=mcv_bits,
        h_original=h_original,
        h_bitstring=h_bitstring,
        min_entropy=min(float(width), assessed),
    )
