"""Optional extras: a command whose extra is not installed says which one to install.

The core install runs, analyses, extracts and tests randomness; the edges come with extras
(``pyproject.toml``): ``service`` (diamp serve, keys, client, beacon), ``dask`` (``--workers``
and ``--scheduler``), ``lab`` (the Zurich Instruments readout), ``postgres`` (a shared pool)
and ``mkl`` (Intel MKL's FFT). Every command imports its edge libraries where it needs them,
so a missing one surfaces as :class:`ModuleNotFoundError` naming the module;
:func:`missing_extra` maps that module to its extra and :func:`run_with_extras` turns it into
one line and exit status 2, like any other unusable invocation.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Sequence
from typing import Any

__all__ = [
    "EXIT_MISSING_EXTRA",
    "MODULE_EXTRAS",
    "missing_extra",
    "require",
    "run_with_extras",
]

EXIT_MISSING_EXTRA = 2

# top-level import name -> the extra that installs it
MODULE_EXTRAS = {
    "fastapi": "service",
    "starlette": "service",
    "uvicorn": "service",
    "httpx": "service",
    "httpcore": "service",
    "cryptography": "service",
    "prometheus_client": "service",
    "http_sf": "service",
    "dask": "dask",
    "distributed": "dask",
    "zhinst": "lab",
    "psycopg": "postgres",
    "psycopg_binary": "postgres",
    "mkl_fft": "mkl",
}


def require(module: str) -> None:
    """Import ``module`` now, so a missing extra is named before any output or work."""
    importlib.import_module(module)


def _missing_module(err: BaseException | None) -> str | None:
    """The top-level name of the first missing module in ``err``'s chain, if any."""
    for _ in range(16):  # explicit causes only (``raise X from err``)
        if err is None:
            break
        if isinstance(err, ModuleNotFoundError) and err.name:
            return err.name.split(".")[0]
        err = err.__cause__
    return None


def missing_extra(err: BaseException) -> tuple[str, str | None] | None:
    """(missing module, its extra or None) when ``err`` comes from a missing import."""
    module = _missing_module(err)
    if module is None:
        return None
    return module, MODULE_EXTRAS.get(module)


def command_path(root: Any, argv: Sequence[str]) -> str:
    """``diamp`` and the subcommand names at the start of ``argv`` (options stop the walk)."""
    words, group = ["diamp"], root
    for token in argv:
        commands = getattr(group, "commands", None)
        if not commands or token not in commands:
            break
        words.append(token)
        group = commands[token]
    return " ".join(words)


def refusal(command: str, module: str, extra: str | None) -> str:
    """The one-line message for a command that cannot import ``module``."""
    if extra is None:
        return (
            f"{command}: the module {module!r} is missing from this installation; reinstall "
            "diamp (pip install -c constraints.txt -e .)"
        )
    return f"{command} needs the {extra!r} extra: pip install 'diamp[{extra}]'"


def run_with_extras(app: Callable[[], Any], root: Callable[[], Any]) -> None:
    """Run ``app``; a missing optional module ends it with one line and exit status 2.

    ``root`` returns the click command tree (only built on failure, to name the command).
    """
    try:
        app()
    except Exception as err:
        found = missing_extra(err)
        if found is None:
            raise
        module, extra = found
        print(refusal(command_path(root(), sys.argv[1:]), module, extra), file=sys.stderr)
        raise SystemExit(EXIT_MISSING_EXTRA) from None
