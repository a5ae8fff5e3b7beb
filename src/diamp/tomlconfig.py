"""Versioned TOML files validated into pydantic models, with errors that name file and key."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, TypeVar
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, BeforeValidator, Field, ValidationError

from diamp.errors import DiampError

__all__ = [
    "ConfigPath",
    "HttpUri",
    "Seconds",
    "format_validation_error",
    "int_choice",
    "read_text",
    "refuse_renamed",
    "validate_toml",
]

M = TypeVar("M", bound=BaseModel)


def _path_text(value: Any) -> Any:
    if isinstance(value, Path):
        return value
    if not isinstance(value, str) or not value.strip() or "\x00" in value:
        raise ValueError(
            f"expected a file path (a non-empty string without NUL characters), found {value!r}"
        )
    return value


ConfigPath = Annotated[Path, BeforeValidator(_path_text), Field(strict=False)]
"""A path in a strict model: TOML has no path type, so a (non-empty) string becomes one."""

Seconds = Annotated[float, Field(gt=0, le=1e9)]
"""A positive duration in seconds, at most about 31 years (finite in a strict model)."""


def _int_only(value: Any) -> Any:
    if type(value) is not int:  # Literal[1, 8] alone takes true and 1.0
        raise ValueError(f"expected an integer, found {value!r}")
    return value


int_choice = BeforeValidator(_int_only)
"""``Annotated[Literal[1, 8], int_choice]``: one of those integers, never a bool or float."""


def _http_uri(value: str) -> str:
    """An absolute http(s) URI with a host and nothing after the path."""
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValueError("expected an http(s) URI without spaces or control characters")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a port out of range or not a number
    except ValueError as err:
        raise ValueError(f"expected an http(s) URI, found {value!r}: {err}") from err
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"expected an http:// or https:// URI with a host, found {value!r}")
    if parts.query or parts.fragment or parts.username is not None or value.endswith(("?", "#")):
        raise ValueError(f"expected a base URI without user, query or fragment, found {value!r}")
    return value


HttpUri = Annotated[str, Field(min_length=1, max_length=2048), AfterValidator(_http_uri)]
"""An absolute ``http://`` or ``https://`` URI with a host (a base for other URIs)."""


def refuse_renamed(data: Any, renamed: Mapping[str, str]) -> Any:
    """A ``mode="before"`` check: refuse a table that still uses a key's old name.

    ``renamed`` maps each old key to the message (the new name, and why) the refusal gives;
    the key is never read with its old meaning.
    """
    if isinstance(data, dict):
        for old, message in renamed.items():
            if old in data:
                raise ValueError(f"{old} {message}")
    return data


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
        tags = tagged.get(parts[0], set()) if parts else set()
        if len(parts) > 1 and parts[1] in tags:
            del parts[1]
        elif len(parts) > 2 and parts[1].isdigit() and parts[2] in tags:  # list[Union]
            del parts[2]
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
