"""SP 800-90B non-IID track (§6.3): ten estimators, H_original, H_bitstring, the assessment.

The estimators are combined as by the reference tool's ``ea_non_iid -i`` (1.1.7):

* literal estimators run on the samples mapped to ``0 .. k-1``, where k is the number of
  distinct values present; collision, Markov and compression run on them only when k = 2;
* when k > 2 all ten estimators also run on the bitstring (unmapped samples, MSB-first
  within the declared width) and give H_bitstring per bit; when k = 2 there is none;
* H_original = min(bits_per_sample, literal results), H_bitstring = min(1, bitstring
  results), and the assessed min-entropy is min(bits_per_sample, H_original,
  bits_per_sample · H_bitstring) (the last term only when k > 2);
* an estimator that cannot run (too little data, no tuple repeated 35 times, v < u) is
  ``None`` and left out, like the tool's negative results.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from diamp.analysis.sp800_90b.estimators import (
    CollisionResult,
    CompressionResult,
    MarkovResult,
    McvResult,
    collision_estimate,
    compression_estimate,
    markov_estimate,
    most_common_value,
)
from diamp.analysis.sp800_90b.predictors import (
    PredictorResult,
    lag_estimate,
    lz78y_estimate,
    multi_mcw_estimate,
    multi_mmc_estimate,
)
from diamp.analysis.sp800_90b.samples import prepare_samples
from diamp.analysis.sp800_90b.tuples import LrsResult, TupleResult, tuple_estimates

if TYPE_CHECKING:
    from diamp.progress import ProgressSink

__all__ = ["ESTIMATORS", "EstimatorSet", "NonIidResult", "assess_non_iid"]

#: Estimator names in the tool's order (§6.3.1–6.3.10).
ESTIMATORS = (
    "mcv",
    "collision",
    "markov",
    "compression",
    "t_tuple",
    "lrs",
    "multi_mcw",
    "lag",
    "multi_mmc",
    "lz78y",
)


@dataclass(frozen=True)
class EstimatorSet:
    """Results of the ten estimators on one sequence (``None``: not run or could not run)."""

    mcv: McvResult
    collision: CollisionResult | None
    markov: MarkovResult | None
    compression: CompressionResult | None
    t_tuple: TupleResult | None
    lrs: LrsResult | None
    multi_mcw: PredictorResult | None
    lag: PredictorResult | None
    multi_mmc: PredictorResult | None
    lz78y: PredictorResult | None

    def entropies(self) -> dict[str, float | None]:
        """Min-entropy of each estimator (per sample, or per bit for a bitstring)."""
        return {name: _h(getattr(self, name)) for name in ESTIMATORS}

    def minimum(self, cap: float) -> float:
        """min(cap, every estimate that ran)."""
        return min([cap, *(h for h in self.entropies().values() if h is not None)])


def _h(result: Any) -> float | None:
    return None if result is None else float(result.h)


@dataclass(frozen=True)
class NonIidResult:
    """The non-IID assessment of a sample sequence.

    Attributes
    ----------
    n_samples, bits_per_sample, k
        Number of samples, declared width, number of distinct values.
    literal
        Estimators on the samples mapped to ``0 .. k-1`` (per sample).
    bitstring
        Estimators on the bitstring (per bit); ``None`` when k = 2.
    h_original, h_bitstring
        Minimum over the literal estimates (capped at bits_per_sample) and over the bitstring
        estimates (per bit, capped at 1; ``None`` when k = 2).
    min_entropy
        The assessed min-entropy per sample.
    """

    n_samples: int
    bits_per_sample: int
    k: int
    literal: EstimatorSet
    bitstring: EstimatorSet | None
    h_original: float
    h_bitstring: float | None
    min_entropy: float

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict: the summary, every estimate (``estimates``) and its details."""
        return {
            "track": "non-iid",
            "n_samples": self.n_samples,
            "bits_per_sample": self.bits_per_sample,
            "distinct_values": self.k,
            "h_original": self.h_original,
            "h_bitstring": self.h_bitstring,
            "min_entropy": self.min_entropy,
            "estimates": {
                "literal": self.literal.entropies(),
                "bitstring": None if self.bitstring is None else self.bitstring.entropies(),
            },
            "literal": _set_json(self.literal),
            "bitstring": None if self.bitstring is None else _set_json(self.bitstring),
        }


def _set_json(estimators: EstimatorSet) -> dict[str, Any]:
    return {name: _result_json(getattr(estimators, name)) for name in ESTIMATORS}


def _result_json(result: Any) -> dict[str, Any] | None:
    if result is None:
        return None
    out: dict[str, Any] = {}
    for f in fields(result):
        value = getattr(result, f.name)
        if isinstance(value, float | np.floating):
            value = None if math.isnan(value) else float(value)  # strict JSON has no NaN
        out[f.name] = value
    return out


_Task = Callable[[], Any]


def _tasks(seq: NDArray[np.uint8], k: int, binary_only: bool) -> dict[str, _Task]:
    tasks: dict[str, _Task] = {
        "mcv": lambda: most_common_value(seq),
        "tuples": lambda: tuple_estimates(seq, k),
        "multi_mcw": lambda: multi_mcw_estimate(seq, k),
        "lag": lambda: lag_estimate(seq, k),
        "multi_mmc": lambda: multi_mmc_estimate(seq, k),
        "lz78y": lambda: lz78y_estimate(seq, k),
    }
    if binary_only:
        tasks["collision"] = lambda: collision_estimate(seq)
        tasks["markov"] = lambda: markov_estimate(seq)
        tasks["compression"] = lambda: compression_estimate(seq)
    return tasks


def _collect(done: dict[str, Any]) -> EstimatorSet:
    t_tuple, lrs = done.pop("tuples")
    return EstimatorSet(
        mcv=done["mcv"],
        collision=done.get("collision"),
        markov=done.get("markov"),
        compression=done.get("compression"),
        t_tuple=t_tuple,
        lrs=lrs,
        multi_mcw=done["multi_mcw"],
        lag=done["lag"],
        multi_mmc=done["multi_mmc"],
        lz78y=done["lz78y"],
    )


def assess_non_iid(
    samples: NDArray[np.integer],
    bits_per_sample: int,
    *,
    workers: int = 2,
    progress: ProgressSink | None = None,
) -> NonIidResult:
    """Run the SP 800-90B non-IID track as the reference tool's initial assessment does.

    Parameters
    ----------
    samples
        One sample per element, each ``< 2**bits_per_sample``.
    bits_per_sample
        Declared width, 1 to 8.
    workers
        Threads running estimators concurrently (the kernels release the GIL).
    progress
        Optional sink for one progress step counting finished estimators.

    Returns
    -------
    NonIidResult
        Every estimate, H_original, H_bitstring and the assessed min-entropy.

    Raises
    ------
    AnalysisError
        From :func:`~diamp.analysis.sp800_90b.samples.prepare_samples`.
    """
    prepared = prepare_samples(samples, bits_per_sample)
    jobs = {
        ("literal", name): task
        for name, task in _tasks(prepared.symbols, prepared.k, prepared.binary).items()
    }
    if not prepared.binary:
        bits = prepared.bitstring()
        jobs.update({("bitstring", n): t for n, t in _tasks(bits, 2, True).items()})
    update = progress.start("SP 800-90B non-IID estimators", len(jobs)) if progress else None
    results: dict[str, dict[str, Any]] = {"literal": {}, "bitstring": {}}
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        futures = {pool.submit(task): key for key, task in _ordered(jobs)}
        for count, future in enumerate(as_completed(futures), start=1):
            which, name = futures[future]
            results[which][name] = future.result()
            if update is not None:
                update(count)
    literal = _collect(results["literal"])
    bitstring = None if prepared.binary else _collect(results["bitstring"])
    width = prepared.bits_per_sample
    h_original = literal.minimum(float(width))
    h_bitstring = None if bitstring is None else bitstring.minimum(1.0)
    assessed = min(float(width), h_original)
    if h_bitstring is not None:
        assessed = min(assessed, width * h_bitstring)
    return NonIidResult(
        n_samples=int(prepared.raw.shape[0]),
        bits_per_sample=width,
        k=prepared.k,
        literal=literal,
        bitstring=bitstring,
        h_original=h_original,
        h_bitstring=h_bitstring,
        min_entropy=assessed,
    )


_COST = {"multi_mmc": 0, "lz78y": 1, "tuples": 2, "lag": 3}


def _ordered(jobs: dict[tuple[str, str], _Task]) -> list[tuple[tuple[str, str], _Task]]:
    """Longest jobs first (bitstring before literal) so that two threads finish together."""
    return sorted(jobs.items(), key=lambda kv: (kv[0][0] != "bitstring", _COST.get(kv[0][1], 9)))
