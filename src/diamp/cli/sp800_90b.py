"""``diamp test sp800-90b``: NIST SP 800-90B entropy assessment of a sample file.

The file holds one sample per byte, as read by the reference tool
(SP800-90B_EntropyAssessment 1.1.7); like the tool, a sample wider than
``--bits-per-sample`` is refused rather than masked. The non-IID track runs by default
(``ea_non_iid -i``), ``--iid`` runs the IID track (``ea_iid -i``). numpy and numba are
imported inside the command so that ``diamp --help`` stays fast.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from diamp.cli.common import (
    bad_option,
    console,
    emit_json,
    escape,
    fail,
    out,
    progress_bars,
    verdict,
)
from diamp.errors import DiampError, StorageError

if TYPE_CHECKING:
    import numpy as np

    from diamp.analysis.sp800_90b import IidResult, NonIidResult

__all__ = ["sp800_90b_command"]

NOT_IID_EXIT = 4
_MIN_SIZE = 1_000_000
_LABELS = {
    "mcv": "Most common value",
    "collision": "Collision (binary)",
    "markov": "Markov (binary)",
    "compression": "Compression (binary)",
    "t_tuple": "t-Tuple",
    "lrs": "LRS",
    "multi_mcw": "MultiMCW prediction",
    "lag": "Lag prediction",
    "multi_mmc": "MultiMMC prediction",
    "lz78y": "LZ78Y prediction",
}


def sp800_90b_command(
    file: Annotated[Path, typer.Argument(help="Sample file: one sample per byte.")],
    bits_per_sample: Annotated[
        int,
        typer.Option(
            "--bits-per-sample",
            "-b",
            help="Bits per sample, 1 to 8 (the tool's bits_per_symbol); wider samples are refused.",
        ),
    ],
    iid: Annotated[
        bool,
        typer.Option(
            "--iid",
            help="Run the IID track (permutation, chi-square and LRS tests; MCV min-entropy) "
            "instead of the non-IID track. Exit status 4 when the samples are not IID.",
        ),
    ] = False,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print the full result as JSON (no progress bars).")
    ] = False,
    seed: Annotated[
        int,
        typer.Option(help="Seed of the IID permutation shuffles (a run is reproducible)."),
    ] = 0,
) -> None:
    """NIST SP 800-90B min-entropy of a sample file, as the reference tool 1.1.7 computes it.

    The non-IID track runs the ten estimators on the samples (and, when more than two
    values occur, on their bits, MSB-first within the declared width) and reports
    H_original, H_bitstring (per bit) and the assessed min-entropy
    min(H_original, bits × H_bitstring). With --iid the IID tests run instead; the MCV
    min-entropy they report applies only if the samples pass.
    """
    if not 1 <= bits_per_sample <= 8:
        raise bad_option("--bits-per-sample", f"must be between 1 and 8, found {bits_per_sample}")
    if not 0 <= seed < 2**64:
        raise bad_option("--seed", f"must be an integer in [0, 2^64), found {seed}")
    try:
        samples = _read_samples(file)
        if not json_out:
            _warn(samples, bits_per_sample)
        result = _assess(samples, bits_per_sample, iid, seed, show_progress=not json_out)
    except DiampError as err:
        raise fail(err) from err
    _report(result, file, samples, json_out)


def _read_samples(file: Path) -> np.ndarray:
    """The file's bytes, one sample each."""
    import numpy as np

    try:
        return np.fromfile(file, dtype=np.uint8)
    except OSError as err:
        raise StorageError(f"cannot read {file}: {err.strerror or err}", path=str(file)) from err


def _assess(
    samples: np.ndarray, bits: int, iid: bool, seed: int, *, show_progress: bool
) -> NonIidResult | IidResult:
    """The IID track (``iid``) or the non-IID track, with progress bars on stderr."""
    from diamp.analysis.sp800_90b import assess_iid, assess_non_iid

    with progress_bars(show_progress) as progress:
        if iid:
            return assess_iid(samples, bits, seed=seed, progress=progress)
        return assess_non_iid(samples, bits, progress=progress)


def _report(
    result: NonIidResult | IidResult, file: Path, samples: np.ndarray, json_out: bool
) -> None:
    """Print the result (JSON or tables); exit with status 4 if the IID tests failed."""
    from diamp.analysis.sp800_90b import IidResult

    if json_out:
        digest = hashlib.sha256(samples.tobytes()).hexdigest()
        emit_json({"file": str(file), "sha256": digest, **result.to_json()})
    elif isinstance(result, IidResult):
        _print_iid(result)
    else:
        _print_non_iid(result)
    if isinstance(result, IidResult) and not result.iid:
        raise verdict(NOT_IID_EXIT, "the samples are not IID (min-entropy does not apply)")


def _warn(samples: Any, bits: int) -> None:
    if samples.size and samples.size < _MIN_SIZE:
        console.print(
            f"[yellow]warning:[/] {samples.size:,} samples; SP 800-90B asks for at least 1,000,000"
        )
    if samples.size and bits > 1 and int(samples.max()) < 1 << (bits - 1):
        console.print("[yellow]warning:[/] the samples appear narrower than described")


def _fmt(value: float | None, width: int = 6) -> str:
    return "—" if value is None else f"{value:.{width}f}"


def _print_non_iid(result: NonIidResult) -> None:
    from rich.table import Table

    table = Table(title="SP 800-90B non-IID track (min-entropy)")
    table.add_column("estimator")
    table.add_column(f"literal (per {result.bits_per_sample}-bit sample)", justify="right")
    table.add_column("bitstring (per bit)", justify="right")
    literal = result.literal.entropies()
    bits = result.bitstring.entropies() if result.bitstring is not None else {}
    for name, label in _LABELS.items():
        table.add_row(label, _fmt(literal[name]), _fmt(bits.get(name)))
    out.print(table)
    out.print(
        f"{result.n_samples:,} samples, {result.k} distinct values of "
        f"{result.bits_per_sample} bit(s)"
    )
    out.print(f"H_original   = {result.h_original:.6f}")
    if result.h_bitstring is not None:
        out.print(
            f"H_bitstring  = {result.h_bitstring:.6f} per bit "
            f"(× {result.bits_per_sample} = {result.h_bitstring * result.bits_per_sample:.6f})"
        )
    out.print(f"[bold]min-entropy  = {result.min_entropy:.6f} bits per sample[/]")


def _verdict(ok: bool) -> str:
    return "[green]pass[/]" if ok else "[red]fail[/]"


def _print_iid(result: IidResult) -> None:
    from rich.table import Table

    perm = result.permutation
    table = Table(title=escape(f"SP 800-90B permutation tests ({perm.permutations:,} shuffles)"))
    for col in ("statistic", "original", "above", "equal", "below", "verdict"):
        table.add_column(col, justify="left" if col == "statistic" else "right")
    for name, value, row, ok in zip(
        perm.names, perm.original, perm.counts, perm.passed, strict=True
    ):
        table.add_row(name, f"{value:.6g}", *(f"{int(c):,}" for c in row), _verdict(ok))
    out.print(table)
    ind, fit, lrs = (
        result.chi_square_independence,
        result.chi_square_goodness_of_fit,
        result.lrs,
    )
    out.print(f"chi-square independence  T = {ind.statistic:.4f}, df = {ind.df}, "
              f"p = {ind.p_value:.4g}: {_verdict(ind.passed)}")  # fmt: skip
    out.print(f"chi-square goodness-of-fit  T = {fit.statistic:.4f}, df = {fit.df}, "
              f"p = {fit.p_value:.4g}: {_verdict(fit.passed)}")  # fmt: skip
    out.print(f"LRS  W = {lrs.w}, Pr(X ≥ 1) = {lrs.probability:.4g}: {_verdict(lrs.passed)}")
    out.print(f"H_original = {result.h_original:.6f}")
    if result.h_bitstring is not None:
        out.print(f"H_bitstring = {result.h_bitstring:.6f} per bit")
    state = "[green]IID[/]" if result.iid else "[red]not IID[/] (min-entropy does not apply)"
    out.print(f"[bold]min-entropy = {result.min_entropy:.6f} bits per sample[/]: {state}")
