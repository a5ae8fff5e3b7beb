"""The CLI reference page, walked from the typer app's command tree (used by reference.py).

``typer.main.get_command(diamp.cli.app)`` is the click group ``diamp`` runs; every command
below it gets its usage line, its help text and one row per argument and option (with the
type, default and "required" marks click itself prints in ``--help``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

Problems = list[str]

INTRO = """# Command-line reference

Every command of `diamp`, with its arguments and options, as `diamp COMMAND --help` prints
them. Exit status: 0 success, 1 runtime failure (a file that cannot be read or written, a
damaged run, a check that failed), 2 invalid configuration or arguments (one line naming the
key or option), 3 protocol abort, 4 timing verification failed (and `diamp test sp800-90b
--iid` when the data are not IID), 130 interrupted.

**`--json`.** A command given `--json` writes exactly one JSON object to stdout and nothing
else (progress bars and logs go to stderr): its result when it succeeds; otherwise
`{"error": "<one line>", "exit_code": N, ...}`, also for the usage errors the parser itself
reports (an unknown option, a value of the wrong type, a missing argument; then with
`"command"`), and for errors of diamp with `"type"` (the error class) and `"fields"` (the
file, key or block it names). When a command produced a result and then says "fail" (a failed
test battery, a protocol abort), the result's fields follow `error` and `exit_code` in the
same object. Exit status 0 if and only if the object has no `error`.

**Output.** Results (the run summary, tables, reports' paths) go to stdout; progress bars,
warnings and errors to stderr, so `diamp run CONFIG > summary.txt` keeps the summary.

**Shell completion.** `diamp --install-completion` installs completion for the shell it is
started from (bash, zsh, fish, PowerShell); `diamp --show-completion` prints the script instead.

**Examples.** `diamp init DIR` writes the demo config (and the files it reads) into DIR;
`diamp init --list` lists the examples shipped inside the package.

*Generated at build time from the typer application `diamp.cli:app`.*

"""


def cli_page(app: Any = None) -> tuple[str, Problems]:
    """The Markdown of the CLI reference (of ``diamp.cli.app`` unless given) and its gaps."""
    import typer.main

    if app is None:
        from diamp.cli import app

    root = typer.main.get_command(app)
    problems: Problems = []
    context = type(root).context_class(root, info_name="diamp")
    lines = [INTRO, *_overview(root, context)]
    for path, command, ctx in _walk(root, context, ()):
        lines.extend(_command(path, command, ctx, problems))
    return "\n".join(lines), problems


def _children(group: Any, ctx: Any) -> Iterator[tuple[str, Any]]:
    """The visible subcommands of a group, in the order ``--help`` lists them."""
    if not hasattr(group, "list_commands"):
        return
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if command is not None and not getattr(command, "hidden", False):
            yield name, command


def _walk(command: Any, ctx: Any, path: tuple[str, ...]) -> Iterator[tuple[str, Any, Any]]:
    """Every command below ``command`` (depth first), with its context."""
    for name, child in _children(command, ctx):
        child_ctx = type(ctx)(child, info_name=name, parent=ctx)
        yield " ".join(("diamp", *path, name)), child, child_ctx
        yield from _walk(child, child_ctx, (*path, name))


def _anchor(path: str) -> str:
    return path.replace(" ", "-")


def _overview(root: Any, ctx: Any) -> Iterator[str]:
    yield "## Commands"
    yield ""
    yield "| command | what it does |"
    yield "|---|---|"
    for path, command, _ in _walk(root, ctx, ()):
        yield f"| [`{path}`](#{_anchor(path)}) | {_cell(_summary(command))} |"
    yield ""


def _summary(command: Any) -> str:
    text = getattr(command, "short_help", None) or getattr(command, "help", None) or ""
    return text.strip().split("\n\n")[0].replace("\n", " ")


def _cell(text: str) -> str:
    return " ".join(text.replace("|", "\\|").split())


def _usage(path: str, command: Any) -> str:
    pieces = [path]
    if any(not _is_argument(p) for p in command.params):
        pieces.append("[OPTIONS]")
    for param in command.params:
        if _is_argument(param):
            name = (param.metavar or param.name or "").upper()
            many = "…" if param.nargs == -1 else ""
            pieces.append(name + many if param.required else f"[{name}{many}]")
    if hasattr(command, "list_commands"):
        pieces.append("COMMAND [ARGS]…")
    return " ".join(pieces)


def _is_argument(param: Any) -> bool:
    return type(param).__name__.endswith("Argument")


def _command(path: str, command: Any, ctx: Any, problems: Problems) -> Iterator[str]:
    yield f"## `{path}` {{#{_anchor(path)}}}"
    yield ""
    help_text = (getattr(command, "help", None) or "").strip()
    if not help_text:
        problems.append(f"{path}: no help text")
    yield "```text"
    yield _usage(path, command)
    yield "```"
    yield ""
    if help_text:
        yield _markdown_help(help_text)
        yield ""
    if hasattr(command, "list_commands"):
        names = [f"{path} {name}" for name, _ in _children(command, ctx)]
        yield "Subcommands: " + ", ".join(f"[`{n}`](#{_anchor(n)})" for n in names)
        yield ""
    rows = []
    for param in command.params:
        if getattr(param, "hidden", False):
            continue
        record = param.get_help_record(ctx)
        if record is None:
            continue
        names, text = record
        if not (getattr(param, "help", None) or "").strip():
            problems.append(f"{path} {names}: no help text")
        rows.append(f"| `{_cell(names)}` | {_cell(text)} |")
    if rows:
        yield "| argument or option | meaning |"
        yield "|---|---|"
        yield from rows
        yield ""


def _markdown_help(text: str) -> str:
    """Help text as Markdown: paragraphs kept, lines that start a list or example verbatim."""
    out = []
    for paragraph in text.split("\n\n"):
        lines = paragraph.split("\n")
        if any(line.startswith(("  ", "$ ", "diamp ")) for line in lines):
            out.append("```text\n" + paragraph + "\n```")
        else:
            parts = paragraph.split("`")  # even parts lie outside code spans
            out.append("`".join(p if i % 2 else p.replace("*", "\\*") for i, p in enumerate(parts)))
    return "\n\n".join(out)


__all__ = ["cli_page"]
