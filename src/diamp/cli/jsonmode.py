"""``--json``: stdout carries exactly one JSON object, errors included.

When ``--json`` is among the arguments (before a ``--``), the top-level group
(:class:`DiampGroup`) runs the command in *JSON mode*:

- :func:`diamp.cli.common.emit_json` holds the command's result instead of writing it;
- :func:`diamp.cli.common.fail` and :func:`verdict` record the error instead of printing it;
- usage errors that click raises before any command code runs (a bad option value, a
  missing argument, an unknown option) are caught here;

and when the command ends, one object is written to stdout: the result on exit status 0;
on any other status ``{"error": "<one line>", "exit_code": N, ...}``, followed by the
result's own fields when the command produced one before failing (a failed test battery,
an aborted run). Scripts can rely on: exit status 0 if and only if there is no ``error``
key. Nothing else is written to stdout in JSON mode; progress and logs stay on stderr.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from typer._click.exceptions import ClickException
from typer.core import TyperGroup
from typer.exceptions import Abort, Exit

__all__ = ["DiampGroup", "active", "hold_result", "record_error", "verdict", "wants_json"]

JSON_FLAG = "--json"


@dataclass
class _Session:
    """What a command in JSON mode has produced so far."""

    result: dict[str, Any] | None = None
    error: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


_session: _Session | None = None


def wants_json(args: Sequence[str]) -> bool:
    """True if ``--json`` is among ``args`` before the end-of-options marker ``--``."""
    for arg in args:
        if arg == "--":
            return False
        if arg == JSON_FLAG:
            return True
    return False


def active() -> bool:
    """True while a command runs in JSON mode."""
    return _session is not None


def hold_result(data: Mapping[str, Any]) -> bool:
    """Keep ``data`` as the command's result (JSON mode only); False if not in JSON mode."""
    if _session is None:
        return False
    if _session.result is not None:
        raise RuntimeError("a command emitted two JSON results; --json prints exactly one")
    _session.result = dict(data)
    return True


def record_error(message: str, **details: Any) -> bool:
    """Keep the error of the command (JSON mode only); False if not in JSON mode.

    The first error recorded wins: it is the cause, later ones are consequences.
    """
    if _session is None:
        return False
    if _session.error is None:
        _session.error = message
        _session.details = details
    return True


def verdict(code: int, message: str) -> Exit:
    """The exit of a command whose result says "fail" (already printed in plain mode).

    In JSON mode ``message`` becomes the ``error`` of the one JSON object, beside the
    result's fields; in plain mode the result already said it and nothing more is printed.
    """
    record_error(message)
    return Exit(code)


@contextmanager
def _json_session() -> Iterator[_Session]:
    global _session
    outer, _session = _session, _Session()
    try:
        yield _session
    finally:
        _session = outer


def _usage_details(err: ClickException) -> dict[str, Any]:
    ctx = getattr(err, "ctx", None)
    return {"command": ctx.command_path} if ctx is not None else {}


def _write(session: _Session, code: int) -> None:
    if code == 0 and session.result is None:
        return  # --help, --version: text, as asked for
    data: dict[str, Any] = {}
    if code != 0:
        fallback = "interrupted" if code == 130 else f"failed with exit status {code}"
        data = {"error": session.error or fallback, "exit_code": code}
        data.update(session.details)
    if session.result is not None:
        from diamp.protocol.certificate import dump_json  # numpy-aware

        clash = data.keys() & session.result.keys()
        data.update({"result": session.result} if clash else session.result)
        text = dump_json(data).decode()
    else:  # plain values only: no numeric import for a usage error
        import json

        text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    sys.stdout.write(text)
    sys.stdout.flush()


class DiampGroup(TyperGroup):
    """The ``diamp`` group: runs commands in JSON mode when ``--json`` is given."""

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        """Run the command line; with ``--json`` every outcome is one JSON object."""
        if not wants_json(sys.argv[1:] if args is None else args):
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        with _json_session() as session:
            try:
                value = super().main(args, prog_name, complete_var, False, **extra)
                code = value if isinstance(value, int) else 0
            except ClickException as err:
                record_error(err.format_message(), **_usage_details(err))
                code = err.exit_code
            except Abort:
                record_error("aborted")
                code = 1
            except Exit as err:  # raised outside the command body (e.g. an eager option)
                code = err.exit_code
            _write(session, code)
        if standalone_mode:
            sys.exit(code)
        return code
