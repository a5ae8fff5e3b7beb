"""``diamp test sp800-22``: the NIST SP 800-22 suite on a bit file (packed MSB-first).

:func:`sp800_22_command` is a plain function whose parameters carry their typer options;
register it with ``app.command("sp800-22")(sp800_22_command)``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from diamp.cli.common import bad_option, check_cluster, emit_json, fail, progress_bars
from diamp.errors import ConfigError, DiampError, StorageError

if TYPE_CHECKING:
    import numpy as np

    from diamp.analysis.sp800_22 import Sp80022Result

__all__ = ["DEFAULT_LENGTH", "sp800_22_command"]

DEFAULT_LENGTH = 1_000_000


def _read_input(file: Path, sequences: int | None, length: int) -> tuple[np.ndarray, int]:
    """The packed bytes holding the first K sequences, and K."""
    from diamp.daq.bitfiles import PackedFileBits

    if not file.is_file():
        raise StorageError(f"{file}: no such file", path=str(file))
    source = PackedFileBits(file)
    available = source.nbits // length
    count = available if sequences is None else sequences
    if available < 1 or count > available:
        need = max(count, 1) * length
        raise ConfigError(
            f"{file}: holds {source.nbits:,} bits, fewer than the {need:,} that "
            f"{max(count, 1):,} sequence(s) of {length:,} bits need (check --length/--sequences)",
            key="length",
        )
    return source.read_bytes(0, (count * length + 7) // 8), count


def _run(
    packed: np.ndarray, count: int, length: int, workers: int | None, scheduler: str | None,
    show_progress: bool,
) -> Sp80022Result:  # fmt: skip
    from diamp.analysis.sp800_22 import run_suite

    if scheduler is not None:
        from diamp.cli.extras import require

        require("distributed")
    with progress_bars(show_progress) as bars:
        update = bars.start(f"SP 800-22: {count:,} × {length:,} bits", count)

        def progress(done: int, total: int) -> None:
            update(done)

        if scheduler is None:
            return run_suite(packed, count, length, workers=workers, progress=progress)
        from diamp.extractors.distributed import dask_client

        with dask_client(scheduler=scheduler) as client:
            return run_suite(packed, count, length, dask_client=client, progress=progress)


def sp800_22_command(
    file: Annotated[
        Path,
        typer.Argument(
            help="Bit file, packed MSB-first; sequence i is bits [i·L, (i+1)·L).",
            show_default=False,
        ),
    ],
    sequences: Annotated[
        int | None,
        typer.Option(
            "--sequences", "-k", help="Number of sequences K (default: all whole ones, ⌊bits/L⌋)."
        ),
    ] = None,
    length: Annotated[int, typer.Option("--length", "-n", help="Bits per sequence L.")] = (
        DEFAULT_LENGTH
    ),
    json_out: Annotated[
        bool,
        typer.Option("--json", help="Print p-values, proportions and uniformity as JSON instead."),
    ] = False,
    workers: Annotated[
        int | None,
        typer.Option("--workers", help="Worker processes (default: one per core)."),
    ] = None,
    scheduler: Annotated[
        str | None,
        typer.Option("--scheduler", help="Run on an existing Dask cluster (tcp://HOST:PORT)."),
    ] = None,
) -> None:
    """NIST SP 800-22 Rev. 1a: all 15 tests with the reference's (sts-2.1.2) defaults.

    Prints the reference's final analysis report: for each test (and sub-test) the
    histogram of p-values over ten bins, the uniformity p-value ("----" below 10
    sequences) and the proportion of sequences passing at alpha = 0.01, with the
    acceptable range's lower end in the footer. P-values agree with sts-2.1.2.
    """
    _check_options(sequences, length, workers, scheduler)
    try:
        packed, count = _read_input(file, sequences, length)
        result = _run(packed, count, length, workers, scheduler, not json_out)
    except DiampError as err:
        raise fail(err) from err
    _report(result, file, json_out)


def _check_options(
    sequences: int | None, length: int, workers: int | None, scheduler: str | None
) -> None:
    if length < 1:
        raise bad_option("--length", f"must be >= 1, found {length}")
    if sequences is not None and sequences < 1:
        raise bad_option("--sequences", f"must be >= 1, found {sequences}")
    check_cluster(workers, scheduler)


def _report(result: Sp80022Result, file: Path, json_out: bool) -> None:
    """The reference's final analysis report, or the p-values and verdicts as JSON."""
    from diamp.analysis.sp800_22 import (
        final_analysis_report,
        format_final_report,
        report_to_json,
    )

    report = final_analysis_report(result)
    if json_out:
        data: dict[str, Any] = {"file": str(file), **report_to_json(result, report)}
        data["wall_seconds"] = result.wall_seconds
        emit_json(data)
    else:
        typer.echo(format_final_report(report, str(file)), nl=False)
