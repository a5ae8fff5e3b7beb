"""The ``diamp`` command line.

Heavy modules (numpy, numba, h5py, mpmath, and even rich's tables and progress bars) are
imported inside the commands so that ``diamp --help`` starts fast; the help is plain text
(``rich_markup_mode=None``) for the same reason. ``benchmarks/bench_startup.py`` measures it,
and ``tests/test_cli_startup.py`` checks which modules a command imports.

The commands live in their own modules, listed in :data:`COMMANDS`. The console entry point
(:func:`main`) imports and registers only the one its arguments name (``diamp extract
dodis …`` imports ``diamp.cli.extract`` and no other command module), and all of them for
the top-level help, shell completion or a name it does not know (whose usage error then
lists every command). ``diamp.cli.app``, the whole application (for tests and the
documentation), is built at its first use.

OpenBLAS starts a pool of threads when numpy is imported, which took half of numpy's import
time here (0.19 s against 0.10 s on the loaded 2-core machine). diamp's BLAS calls are all
on small matrices (Diehard's covariance matrices, the simulated Bell device's 4x4 products),
so the command line asks for one BLAS thread unless the user chose a number
(``OPENBLAS_NUM_THREADS``, ``OMP_NUM_THREADS`` or ``GOTO_NUM_THREADS``); one thread also
sums in a fixed order. The extractors' kernels do not use BLAS.
"""

from __future__ import annotations

import os

if not {"OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "GOTO_NUM_THREADS"} & set(os.environ):
    os.environ["OPENBLAS_NUM_THREADS"] = "1"  # before numpy is first imported (see above)

import importlib
import sys
from collections.abc import Sequence
from typing import Annotated, Any

import typer

from diamp.cli.fastcoerce import install as install_fast_coercion
from diamp.cli.jsonmode import JSON_FLAG, DiampGroup

__all__ = ["COMMANDS", "app", "build", "invoked", "main"]

install_fast_coercion()  # plain option values without pydantic (cli/fastcoerce.py)

COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("diamp.cli.experiment", "run"),
    "amplify": ("diamp.cli.experiment", "amplify"),
    "stats": ("diamp.cli.experiment", "stats"),
    "rate": ("diamp.cli.experiment", "rate"),
    "init": ("diamp.cli.init", "init_command"),
    "entropy-model": ("diamp.cli.entropy_model", "entropy_model_command"),
    "otp": ("diamp.cli.otp", "otp_command"),
    "report": ("diamp.cli.report", "report_command"),
    "serve": ("diamp.cli.service", "serve_command"),
    "extract": ("diamp.cli.extract", "extract_app"),
    "timing": ("diamp.cli.timing", "timing_app"),
    "test": ("diamp.cli.battery", "test_app"),
    "beacon": ("diamp.cli.beacon", "beacon_app"),
    "keys": ("diamp.cli.service", "keys_app"),
    "client": ("diamp.cli.service", "client_app"),
}
"""Each top-level command: the module and attribute of its function or its typer group (a
group keeps its own name), in the order ``diamp --help`` lists them (commands, then groups)."""

COMPLETION_VARIABLE = "_DIAMP_COMPLETE"
"""Set by the shell completion script: every command is then registered."""

app: typer.Typer  # the whole application, built at its first use (module ``__getattr__``)


def _version(value: bool) -> None:
    if value:
        from diamp import __version__

        typer.echo(f"diamp {__version__}")
        raise typer.Exit()


def main_callback(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """Device-independent randomness amplification."""


def build(names: Sequence[str] | None = None) -> typer.Typer:
    """A ``diamp`` application with the commands ``names`` of :data:`COMMANDS` (default: all)."""
    root = typer.Typer(
        name="diamp",
        help=(
            "Device-independent randomness amplification: run Bell-test experiments (simulated "
            "or on lab hardware), certify their randomness with the MDL/EAT security proof, "
            "extract it with the Dodis two-source extractor, and serve it."
        ),
        no_args_is_help=True,
        # Plain help and usage errors (every sub-app too): typer's rich formatting costs
        # about 0.2 s of CPU at every start, and it read "[server]" in option help as markup
        # and dropped it.
        rich_markup_mode=None,
        # --json makes every outcome, usage errors included, one JSON object (cli/jsonmode.py)
        cls=DiampGroup,
        pretty_exceptions_enable=False,
    )
    root.callback()(main_callback)
    for name in COMMANDS if names is None else names:
        module, attribute = COMMANDS[name]
        found = getattr(importlib.import_module(module), attribute)
        if isinstance(found, typer.Typer):
            root.add_typer(found)
        else:
            root.command(name)(found)
    return root


def invoked(argv: Sequence[str]) -> list[str] | None:
    """The one command ``argv`` names, or None when every command is needed.

    None for no command (the top-level help), a top-level option other than ``--json``
    before the command, a name not in :data:`COMMANDS`, or shell completion; no command at
    all for ``--version`` alone.
    """
    if COMPLETION_VARIABLE in os.environ:
        return None
    if list(argv) == ["--version"]:
        return []
    for token in argv:
        if token == JSON_FLAG:
            continue
        return [token] if token in COMMANDS else None
    return None


def __getattr__(name: str) -> Any:
    if name == "app":
        whole = globals()["app"] = build()
        return whole
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main() -> None:
    """Console-script entry point: a missing optional extra is named, not a traceback."""
    import typer.main

    from diamp.cli.extras import run_with_extras

    root = build(invoked(sys.argv[1:]))
    run_with_extras(root, lambda: typer.main.get_command(root))


if __name__ == "__main__":
    main()
