"""Versioned TOML files validated into pydantic models, with errors that name file and key."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from diamp.errors import DiampError

__all__ = ["format_validation_error", "read_text", "validate_toml"]

M = TypeVar("M", bound=BaseModel)


def format_validation_error(
    err: ValidationError, tagged: Mapping[str, set[str]] | None = None
) -> str:
    """One line per problem: ``dotted.key: message`` (unknown keys say so).

    ``tagged`` maps a section to the tags of its discriminated union, which pydantic puts
    into the error path and which the user never wrote.
    """
    tagged = tagged or {}
    lines = []
    for item in err.errors():
        parts = [str(part) for part in item["loc"]]
        if len(parts) > 1 and parts[0] in tagged and parts[1] in tagged[parts[0]]:
            del parts[1]
        loc = ".".join(parts)
        msg = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            msg = "unknown key"
        elif item["type"] == "union_tag_not_found":
            msg = f"missing key {item['ctx']['discriminator']}"
        lines.append(f"{loc}: {msg}" if loc else msg)
    return "; ".join(lines)


def validate_toml(
    text: str,
    path: str,
    model: type[M],
    error: type[DiampError],
    version: int = 1,
    tagged: Mapping[str, set[str]] | None = None,
    context: Mapping[str, object] | None = None,
) -> M:
    """Parse TOML ``text``, check ``schema_version``, validate into ``model``.

    ``context`` is handed to the model's validators (pydantic validation context). Raises
    ``error`` naming ``path`` and every bad key.
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise error(f"{path}: not valid TOML: {err}", path=path) from err
    found = data.get("schema_version")
    if type(found) is not int or found != version:
        raise error(
            f"{path}: schema_version: expected {version}, found {found!r}",
            path=path,
            key="schema_version",
        )
    try:
        return model.model_validate(data, context=context)
    except ValidationError as err:
        raise error(f"{path}: {format_validation_error(err, tagged)}", path=path) from err


def read_text(path: str | Path, error: type[DiampError], what: str) -> tuple[str, str]:
    """(text, path) of a UTF-8 file; ``error`` names the file when it is missing or unreadable."""
    p = Path(path)
    try:
        return p.read_text(encoding="utf-8"), str(p)
    except FileNotFoundError as err:
        raise error(f"{p}: {what} file not found", path=str(p)) from err
    except (OSError, UnicodeDecodeError) as err:
        raise error(f"{p}: cannot read {what} file: {err}", path=str(p)) from err
