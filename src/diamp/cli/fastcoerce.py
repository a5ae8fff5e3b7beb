"""Plain option values converted without pydantic, so that a command starts faster.

typer (0.29) converts every option value with a pydantic ``TypeAdapter``; importing pydantic
and building the adapters costs about 0.1 s of CPU per process, a third of ``diamp extract``'s
fixed cost. :func:`install` puts a fast path in front of typer's conversion for the
annotations most options have, ``bool``, ``int``, ``float``, ``str`` and ``Path`` without range,
parser or other constraints, and only for the values whose result is certain:

- ``int``: a string of ASCII digits with an optional sign (``int(value)``, what pydantic
  returns for it);
- ``float``: a plain decimal or exponent literal of ASCII digits (``float(value)``), finite;
- ``str``: a string (unchanged);
- ``Path``: a non-empty string without NUL (``Path(value)``), then typer's own path checks
  (``coerce_cli_path``: existence, file or directory, as the option asks);
- a value already of the annotated type (defaults, flags' booleans): unchanged.

Everything else (``1_000``, ``5.0`` for an int, ``nan``, an empty path, an option with
``min``/``max``, enums, lists) goes to typer's pydantic conversion, so results and error
messages stay typer's; ``tests/test_cli_fastcoerce.py`` compares both paths value by value.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from typer import _coercion, core
from typer._param_types import coerce_cli_path

__all__ = ["install", "is_fast"]

_INT = re.compile(r"[+-]?[0-9]+\Z")
_FLOAT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?\Z")
_typer_build = _coercion.build_runtime_param


def is_fast(descriptor: Any) -> bool:
    """True if options of this type descriptor take the fast path (their plain values)."""
    info = descriptor.parameter_info
    if descriptor.file_annotation is not None or info.parser is not None:
        return False
    if info.min is not None or info.max is not None or info.clamp:
        return False
    if getattr(info, "click_type", None) is not None:
        return False
    annotation = descriptor.annotation
    if annotation in (bool, int, float, str):
        return True
    return annotation is Path and info.path_type in (None, Path)


@dataclass(frozen=True)
class _FastParam(_coercion.RuntimeParam):
    descriptor: Any = None

    def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
        kind = self.annotation
        if type(value) is kind or (kind is Path and isinstance(value, Path)):
            if kind is Path:
                return coerce_cli_path(value, self.parameter_info, path_type=Path,
                                       param=param, ctx=ctx)  # fmt: skip
            return value
        if isinstance(value, str):
            if kind is str:
                return value
            if kind is int and _INT.match(value):
                return int(value)
            if kind is float and _FLOAT.match(value) and math.isfinite(float(value)):
                return float(value)
            if kind is Path and value and "\0" not in value:
                return coerce_cli_path(Path(value), self.parameter_info, path_type=Path,
                                       param=param, ctx=ctx)  # fmt: skip
        slow = _typer_build(self.descriptor)
        return slow._coerce_value(value, param=param, ctx=ctx)


def _build(descriptor: Any) -> Any:
    if is_fast(descriptor):
        return _FastParam(
            parameter_info=descriptor.parameter_info,
            annotation=descriptor.annotation,
            descriptor=descriptor,
        )
    return _typer_build(descriptor)


def install() -> None:
    """Route typer's option conversion through the fast path (idempotent)."""
    core.build_runtime_param = _build  # type: ignore[attr-defined]
