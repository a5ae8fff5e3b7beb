"""``diamp test diehard``: Marsaglia's Diehard battery as dieharder 3.31.1 runs it on a file.

:func:`diehard_command` is a plain function whose parameters carry their typer options;
register it with ``app.command("diehard")(diehard_command)``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from diamp.cli.common import bad_option, check_cluster, emit_json, fail, progress_bars, verdict
from diamp.errors import DiampError

if TYPE_CHECKING:
    import numpy as np

    from diamp.analysis.diehard import DiehardResult, DiehardTest

__all__ = ["diehard_command"]

_MIN_BYTES = 64  # 16 words, the least dieharder reads


def _select(tests: str | None) -> list[DiehardTest]:
    from diamp.analysis.diehard import TESTS, find_test

    if tests is None:
        return list(TESTS)
    chosen: list[DiehardTest] = []
    for key in tests.split(","):
        try:
            test = find_test(key)
        except KeyError:
            names = ", ".join(t.name for t in TESTS)
            raise bad_option(
                "--tests", f"unknown test {key.strip()!r}; give numbers 0-16 or names ({names})"
            ) from None
        if test not in chosen:
            chosen.append(test)
    return chosen


def _read_words(file: Path) -> np.ndarray:
    from diamp.analysis.diehard import words_from_bytes

    if not file.exists():
        raise bad_option("FILE", f"{file}: no such file")
    if not file.is_file():
        raise bad_option("FILE", f"{file}: not a regular file (a directory?)")
    try:
        data = file.read_bytes()
    except OSError as err:
        raise bad_option("FILE", f"{file}: cannot read: {err.strerror}") from err
    if len(data) < _MIN_BYTES:
        raise bad_option(
            "FILE", f"{file}: holds {len(data)} bytes; the battery needs at least {_MIN_BYTES}"
        )
    return words_from_bytes(data)


_Rewind = Annotated[
    bool,
    typer.Option("--rewind",
                 help="Re-read the file from its start when a test needs more, as dieharder "
                 "does (for comparison only: the result re-uses data)."),
]  # fmt: skip
_AllowFewer = Annotated[
    bool,
    typer.Option(
        "--allow-fewer", help="Run a test that does not fit with as many psamples as fit."
    ),
]
_Compat = Annotated[
    bool,
    typer.Option("--dieharder-compat",
                 help="Reproduce dieharder 3.31.1 where it departs from Marsaglia's definitions "
                 "(birthdays, bitstream, DNA, sums), for comparison with dieharder; the output "
                 "names the mode."),
]  # fmt: skip


def diehard_command(
    file: Annotated[
        Path,
        typer.Argument(help="File of random bytes, read as 32-bit little-endian words.",
                       show_default=False),
    ],
    tests: Annotated[
        str | None,
        typer.Option("--tests", "-d",
                     help="Comma-separated dieharder test numbers (0-16) or names (default: all)."),
    ] = None,
    psamples: Annotated[
        int | None,
        typer.Option("--psamples", "-p", help="Repetitions of each test (default: 100)."),
    ] = None,
    rewind: _Rewind = False,
    allow_fewer: _AllowFewer = False,
    dieharder_compat: _Compat = False,
    offset: Annotated[
        int,
        typer.Option("--offset", help="Word every test starts at (see docs/diehard.md)."),
    ] = 0,
    workers: Annotated[
        int | None, typer.Option("--workers", help="Tests run at once (default: one per core).")
    ] = None,
    scheduler: Annotated[
        str | None,
        typer.Option("--scheduler", help="Run on an existing Dask cluster (tcp://HOST:PORT)."),
    ] = None,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print {\"tests\": {NAME: {...}}} as JSON instead.")
    ] = False,
) -> None:  # fmt: skip
    """Marsaglia's Diehard tests as dieharder 3.31.1 numbers and runs them (-d 0 … -d 16).

    The file is read as dieharder's raw file input reads it (-g 201): 32-bit words,
    little-endian, every test from the first word, so the same file gives the same
    p-values. No bit is used twice: a test needing more data than the file holds is
    reported as insufficient data with the bits it needs. Where dieharder departs from
    Marsaglia's definitions, Marsaglia's are used unless --dieharder-compat is given. Exit
    status 0 when no test that ran failed, 1 when one failed, 2 for invalid arguments.
    """
    _check_options(psamples, workers, scheduler, offset)
    selected = _select(tests)
    words = _read_words(file)
    try:
        result = _run(words, selected, psamples, (rewind, allow_fewer, offset, dieharder_compat),
                      workers, scheduler, not json_out)  # fmt: skip
    except DiampError as err:
        raise fail(err) from err
    _report(result, file, json_out)
    if result.failed:
        raise verdict(1, f"{sum(r.assessment == 'FAILED' for r in result.results)} test(s) failed")


def _check_options(
    psamples: int | None, workers: int | None, scheduler: str | None, offset: int
) -> None:
    if offset < 0:
        raise bad_option("--offset", f"must be >= 0, found {offset}")
    if psamples is not None and psamples < 1:
        raise bad_option("--psamples", f"must be >= 1, found {psamples}")
    check_cluster(workers, scheduler)


def _run(
    words: np.ndarray, selected: list[DiehardTest], psamples: int | None,
    reading: tuple[bool, bool, int, bool], workers: int | None, scheduler: str | None,
    show_progress: bool,
) -> DiehardResult:  # fmt: skip
    from diamp.analysis.diehard import run_battery

    rewind, allow_fewer, offset, compat = reading
    options: dict[str, Any] = {"rewind": rewind, "allow_fewer": allow_fewer, "offset": offset,
                               "dieharder_compat": compat}  # fmt: skip
    if scheduler is not None:
        from diamp.cli.extras import require

        require("distributed")
    with progress_bars(show_progress) as bars:
        update = bars.start(f"Diehard: {len(selected)} tests", len(selected))

        def progress(done: int, total: int) -> None:
            update(done)

        if scheduler is None:
            return run_battery(words, selected, psamples, workers=workers, progress=progress,
                               **options)  # fmt: skip
        from diamp.extractors.distributed import dask_client

        with dask_client(scheduler=scheduler) as client:
            return run_battery(words, selected, psamples, dask_client=client,
                               progress=progress, **options)  # fmt: skip


def _report(result: DiehardResult, file: Path, json_out: bool) -> None:
    from diamp.analysis.diehard import format_report, report_to_json

    if json_out:
        emit_json({"file": str(file), **report_to_json(result),
                   "wall_seconds": result.wall_seconds})  # fmt: skip
    else:
        typer.echo(format_report(result, str(file)), nl=False)
