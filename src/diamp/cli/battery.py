"""``diamp test``: the statistical test suites as one command group."""

from __future__ import annotations

import typer

from diamp.cli.diehard import diehard_command
from diamp.cli.sp800_22 import sp800_22_command
from diamp.cli.sp800_90b import sp800_90b_command

__all__ = ["test_app"]

test_app = typer.Typer(
    name="test",
    help=(
        "Statistical tests of random data: NIST SP 800-22 on bits packed MSB-first (the 15 "
        "tests and the reference finalAnalysisReport) and NIST SP 800-90B entropy assessment "
        "of raw samples (one per byte); the Diehard battery as dieharder 3.31.1 runs it on a file."
    ),
    no_args_is_help=True,
    rich_markup_mode=None,
)
test_app.command("sp800-22")(sp800_22_command)
test_app.command("sp800-90b")(sp800_90b_command)
test_app.command("diehard")(diehard_command)
