"""``diamp init [--example NAME] DIR``: write a shipped example config to start from.

:func:`init_command` is a plain function whose parameters carry their typer options; the
``diamp`` app registers it. The examples ship inside the package (``diamp/examples``), so
``pip install diamp && diamp init demo && diamp run demo/simulated.toml`` is the demo.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from diamp.cli.common import bad_option, emit_json, escape, fail, out
from diamp.errors import DiampError

__all__ = ["init_command"]


def init_command(
    directory: Annotated[
        Path | None,
        typer.Argument(help="Folder to write into (created if missing).", show_default=False),
    ] = None,
    example: Annotated[
        str, typer.Option("--example", "-e", help="Example to write (see --list).")
    ] = "simulated",
    list_: Annotated[
        bool, typer.Option("--list", help="List the shipped examples and exit.")
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Replace example files already in DIR.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Write a shipped example config, and the files it reads, into DIR.

    The default example is the demo: ``diamp init demo && diamp run demo/simulated.toml``.
    Files already in DIR are never overwritten (exit status 2, naming the file) unless
    --force is given.
    """
    from diamp.config.examples import examples, write_example

    if list_:
        shown = examples()
        if as_json:
            emit_json({"examples": [vars(e) for e in shown]})
        else:
            width = max(len(e.name) for e in shown)
            for e in shown:
                out.print(
                    escape(f"{e.name:<{width}}  {e.summary}"), highlight=False, soft_wrap=True
                )
        return
    if directory is None:
        raise bad_option("DIR", "give the folder to write the example into (or --list)")
    try:
        written = write_example(example, directory, force=force)
    except DiampError as err:
        raise fail(err) from err
    if as_json:
        emit_json(
            {"example": example, "config": str(written[0]), "files": [str(p) for p in written]}
        )
    else:
        for path in written:
            out.print(escape(f"wrote {path}"), highlight=False, soft_wrap=True)
        out.print(escape(f"next: {_next_step(written[0])}"), highlight=False, soft_wrap=True)


def _next_step(config: Path) -> str:
    """The command that uses the written config: a service config is served, a run run."""
    if "[[tiers]]" not in config.read_text(encoding="utf-8"):
        return f"diamp run {config}"
    clients, key = config.with_name("clients.toml"), config.with_name("alice.key")
    return (
        f"diamp keys new alice --clients {clients} --out {key} && "
        f"diamp serve {config} --clients {clients}"
    )
