"""Helpers shared by the ``diamp`` command modules: progress bars, JSON, error exits.

rich (about 30 ms to import) is imported when a command first prints through it:
:data:`console` and :data:`out` make their rich ``Console`` at first use and :func:`escape`
imports rich's on its first call, so a command that prints with ``typer.echo`` (as
``diamp extract`` does) or only fails never imports it.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from fractions import Fraction
from typing import TYPE_CHECKING, Any

import typer

from diamp.cli.jsonmode import hold_result, record_error, verdict
from diamp.errors import ConfigError, DiampError

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress

    from diamp.progress import Update

__all__ = [
    "ABORT_EXIT",
    "RichProgress",
    "bad_option",
    "console",
    "emit_json",
    "escape",
    "fail",
    "invalid_parameter",
    "out",
    "parse_exact",
    "parse_mu",
    "progress_bars",
    "verdict",
]


class LazyConsole:
    """A rich ``Console`` with ``options``, made at its first use (see the module docs)."""

    def __init__(self, **options: Any) -> None:
        self._options = options
        self._console: Console | None = None

    @property
    def rich(self) -> Console:
        """The console itself (made now if not yet)."""
        if self._console is None:
            from rich.console import Console

            self._console = Console(**self._options)
        return self._console

    def __getattr__(self, name: str) -> Any:
        return getattr(self.rich, name)


console = LazyConsole(stderr=True, soft_wrap=True)  # errors stay one line: scripts grep them
out = LazyConsole()


def escape(text: str) -> str:
    """``text`` with rich markup escaped (rich's own ``escape``, imported at first use)."""
    from rich.markup import escape as rich_escape

    return rich_escape(text)


ABORT_EXIT = 3


class RichProgress:
    """Renders library progress steps as rich progress bars on stderr."""

    def __init__(self, progress: Progress | None) -> None:
        self._progress = progress

    def start(self, description: str, total: float) -> Update:
        """Add a bar for one step."""
        if self._progress is None:
            return _ignore
        progress = self._progress
        task = progress.add_task(description, total=total)

        def update(completed: float, description: str | None = None) -> None:
            if description is None:
                progress.update(task, completed=completed)
            else:
                progress.update(task, completed=completed, description=description)

        return update

    def log(self, message: str) -> None:
        """Print a status line."""
        if self._progress is not None:
            self._progress.console.print(message)


def _ignore(completed: float, description: str | None = None) -> None:
    return None


@contextmanager
def progress_bars(enabled: bool) -> Iterator[RichProgress]:
    """Rich progress bars on stderr for the steps inside the block (or none)."""
    if not enabled:
        yield RichProgress(None)
        return
    from rich.progress import (
        BarColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        console=console.rich,
        transient=False,
    ) as progress:
        yield RichProgress(progress)


def emit_json(data: Any) -> None:
    """Write strict JSON to stdout (no wrapping, no colour): for scripts.

    In JSON mode (see :mod:`diamp.cli.jsonmode`) the object is held and written when the
    command ends, with the error beside it if the command then fails.
    """
    from diamp.protocol.certificate import dump_json

    if isinstance(data, dict) and hold_result(data):
        return
    sys.stdout.write(dump_json(data).decode())
    sys.stdout.flush()


def fail(err: DiampError) -> typer.Exit:
    """Print ``err`` (markup-escaped) and return the exit that carries its status.

    In JSON mode the error becomes the one JSON object instead, with the error's class
    and structured fields (``{"error": ..., "exit_code": ..., "type": ..., "fields": ...}``).
    """
    fields = {k: _plain(v) for k, v in err.fields.items()}
    if record_error(str(err), type=type(err).__name__, fields=fields):
        return typer.Exit(err.exit_code)
    console.print(f"[bold red]error:[/] {escape(str(err))}")
    return typer.Exit(err.exit_code)


def _plain(value: Any) -> Any:
    """A structured error field as JSON can carry it (paths and the like as text)."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    return str(value)


def bad_option(option: str, message: str) -> typer.Exit:
    """An invalid command-line value: exit status 2, like an invalid config."""
    return fail(ConfigError(f"{option}: {message}", key=option))


def check_cluster(workers: int | None, scheduler: str | None) -> None:
    """``--workers K`` (a new local Dask cluster) or ``--scheduler URL``: at most one, K >= 1."""
    if workers is not None and workers < 1:
        raise bad_option("--workers", f"must be >= 1, found {workers}")
    if workers is not None and scheduler is not None:
        raise bad_option("--workers/--scheduler", "give one of them, not both")


def parse_mu(option: str, value: str) -> Fraction:
    """An SV bias bound: exact, 0 <= mu < 1/2, or exit with status 2 naming the option."""
    mu = parse_exact(option, value)
    if not 0 <= mu < Fraction(1, 2):
        raise bad_option(option, f"must satisfy 0 <= mu < 1/2, found {value}")
    return mu


def invalid_parameter(err: DiampError, options: dict[str, str]) -> typer.Exit:
    """A library error about a parameter the user gave: exit 2 naming the option.

    ``options`` maps the library's parameter names (``err.fields["parameter"]``) to the
    command's options; any other error keeps its own exit status.
    """
    option = options.get(str(err.fields.get("parameter", "")))
    return fail(err) if option is None else bad_option(option, str(err))


def parse_exact(option: str, value: str) -> Fraction:
    """Parse an exact decimal option value, or exit with status 2 naming the option."""
    from diamp.exact import exact_fraction

    try:
        return exact_fraction(value)
    except ValueError as err:
        raise bad_option(option, str(err)) from err
