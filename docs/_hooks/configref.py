"""Configuration reference pages rendered from the pydantic models (used by reference.py).

Each table of a config file becomes one section: its class docstring, then one row per key
with its TOML type, default (or "required"), constraints and the field's description (its
attribute docstring). Nested tables, discriminated unions (``[device]`` by ``model``,
``[protocol]`` by ``mode``, ``[[sources]]`` by ``kind``), tables of tables
(``[instruments.NAME]``) and arrays of tables (``[[tiers]]``) are followed recursively.
"""

from __future__ import annotations

import ast
import enum
import inspect
import itertools
import math
import re
import textwrap
import types
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import annotated_types as at
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

Problems = list[str]
Children = list[tuple[type[BaseModel], str, str, str]]


@dataclass
class Section:
    """One TOML table of the reference."""

    title: str
    path: str
    model: type[BaseModel]
    note: str = ""
    rows: list[tuple[str, str, str, str, str]] = field(default_factory=list)


def rst_to_md(text: str) -> str:
    """Docstring markup to Markdown: ``code`` and :role:`~x.y` become `code`."""
    text = re.sub(r":[a-z]+:`~?([^`]+)`", lambda m: f"`{m.group(1)}`", text)
    text = text.replace("``", "`")
    return text


def docstring(model: type[BaseModel]) -> str:
    """The class docstring as Markdown paragraphs (the summary line included)."""
    doc = inspect.getdoc(model) or ""
    lines = doc.split("\n")
    out: list[str] = []
    in_literal = False
    for line in lines:
        if line.rstrip().endswith("::"):
            out.append(line.rstrip()[:-1])
            out.append("")
            out.append("```")
            in_literal = True
            continue
        if in_literal and line and not line.startswith(" "):
            out.append("```")
            in_literal = False
        out.append(line[4:] if in_literal else line)
    if in_literal:
        out.append("```")
    return rst_to_md("\n".join(out)).strip()


def number(value: float | int | Fraction) -> str:
    """A bound as written by a person: powers of two spelled 2^k beside large integers."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        if value >= 1024 and value & (value - 1) == 0:
            return f"2^{value.bit_length() - 1}"
        return str(value)
    if isinstance(value, float):
        mantissa, exponent = math.frexp(value)
        if value > 0 and mantissa == 0.5 and abs(exponent - 1) >= 10:
            return f"2^{exponent - 1}"
        return f"{value:g}"
    return str(value)


def constraints(metadata: list[Any]) -> list[str]:
    """The constraints one metadata list carries, as short phrases."""
    out: list[str] = []
    for item in metadata:
        if isinstance(item, at.Ge):
            out.append(f"≥ {number(item.ge)}")
        elif isinstance(item, at.Gt):
            out.append(f"> {number(item.gt)}")
        elif isinstance(item, at.Le):
            out.append(f"≤ {number(item.le)}")
        elif isinstance(item, at.Lt):
            out.append(f"< {number(item.lt)}")
        elif isinstance(item, at.MinLen):
            out.append(f"length ≥ {item.min_length}")
        elif isinstance(item, at.MaxLen):
            out.append(f"length ≤ {item.max_length}")
        elif getattr(item, "pattern", None):
            out.append(f"matches `{item.pattern}`")
        elif isinstance(item, FieldInfo):
            out.extend(constraints(item.metadata))
    return out


def strip(annotation: Any) -> tuple[Any, list[Any]]:
    """``Annotated[T, m…]`` → (T, [m…]), repeatedly."""
    metadata: list[Any] = []
    while get_origin(annotation) is Annotated:
        args = get_args(annotation)
        annotation, metadata = args[0], [*metadata, *args[1:]]
    return annotation, metadata


def union_members(annotation: Any) -> list[Any] | None:
    """The members of a union (``X | Y`` or ``Union[X, Y]``), else None."""
    if get_origin(annotation) in (Union, types.UnionType):
        return list(get_args(annotation))
    return None


def is_model(annotation: Any) -> bool:
    """True for a pydantic model class."""
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def model_variants(annotation: Any) -> list[type[BaseModel]] | None:
    """The models of a union of models (a discriminated table), else None."""
    members = union_members(strip(annotation)[0])
    if not members:
        return None
    models = [strip(m)[0] for m in members if strip(m)[0] is not type(None)]
    return models if models and all(is_model(m) for m in models) else None


def type_text(annotation: Any) -> tuple[str, list[str]]:
    """The TOML type of an annotation and the constraints nested inside it."""
    annotation, metadata = strip(annotation)
    inner = constraints(metadata)
    origin = get_origin(annotation)
    if origin is Literal:
        values = get_args(annotation)
        return " | ".join(f"`{toml(v)}`" for v in values), inner
    members = union_members(annotation)
    if members is not None:
        parts = [type_text(m) for m in members if m is not type(None)]
        text = " or ".join(p[0] for p in parts)
        nested = [c for p in parts for c in p[1]]
        return text, inner + nested
    if origin is tuple and Ellipsis not in get_args(annotation):
        items = [type_text(a)[0] for a in get_args(annotation)]
        return f"array of {len(items)}: [{', '.join(items)}]", inner
    if origin in (list, tuple):
        args = [a for a in get_args(annotation) if a is not Ellipsis]
        item, nested = type_text(args[0]) if args else ("value", [])
        return f"array of {item}", inner + [f"items: {c}" for c in nested]
    if origin is dict:
        key, value = get_args(annotation)
        item, nested = type_text(value)
        key_text, key_nested = type_text(key)
        extra = [f"keys: {c}" for c in key_nested] + [f"values: {c}" for c in nested]
        return f"table of {key_text} → {item}", inner + extra
    names = {
        bool: "boolean",
        int: "integer",
        float: "float",
        str: "string",
        Path: "path (string)",
        Fraction: "exact decimal (string or float)",
    }
    if annotation in names:
        return names[annotation], inner
    if is_model(annotation):
        return "table", inner
    return getattr(annotation, "__name__", str(annotation)), inner


def toml(value: Any) -> str:
    """A default value as it would be written in TOML."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (str, Path)):
        return f'"{value}"'
    if isinstance(value, enum.Enum):
        return toml(value.value)
    if isinstance(value, Fraction):
        return f'"{float(value):g}"'
    if isinstance(value, (int, float)):
        return number(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {toml(v)}" for k, v in value.items()) + "}"
    if isinstance(value, BaseModel):
        return "(the table's defaults)"
    return str(value)


def default_text(info: FieldInfo) -> str:
    """``required``, or the default in TOML (``none``: the key may be left out)."""
    if info.default_factory is not None:
        return f"`{toml(info.default_factory())}`"  # type: ignore[call-arg]
    if info.default is PydanticUndefined:
        return "**required**"
    if info.default is None:
        return "not set"
    return f"`{toml(info.default)}`" if not isinstance(info.default, BaseModel) else "defaults"


def attribute_docs(model: type[BaseModel]) -> dict[str, str]:
    """The attribute docstrings of a model's fields (the string after each annotated name).

    Read from the source of the model and its bases at build time, so the models need not
    keep them at run time (pydantic's ``use_attribute_docstrings`` re-reads the source of
    every class on import, a cost every ``diamp run`` and ``diamp serve`` would pay).
    """
    docs: dict[str, str] = {}
    for cls in reversed(model.__mro__):
        if not (isinstance(cls, type) and issubclass(cls, BaseModel)) or cls is BaseModel:
            continue
        try:
            source = textwrap.dedent(inspect.getsource(cls))
        except (OSError, TypeError):
            continue
        body = ast.parse(source).body[0]
        statements = getattr(body, "body", [])
        for node, after in itertools.pairwise(statements):
            if (
                isinstance(node, ast.AnnAssign)
                and isinstance(node.target, ast.Name)
                and isinstance(after, ast.Expr)
                and isinstance(after.value, ast.Constant)
                and isinstance(after.value.value, str)
            ):
                docs[node.target.id] = inspect.cleandoc(after.value.value)
    return docs


def description(model: type[BaseModel], key: str) -> str:
    """A field's description: ``Field(description=...)``, else its attribute docstring."""
    return model.model_fields[key].description or attribute_docs(model).get(key, "")


def cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return " ".join(text.replace("|", "\\|").split())


@dataclass
class Walker:
    """Collects the sections of one config file and what is missing from them."""

    skip: set[str]
    sections: list[Section] = field(default_factory=list)
    titles: dict[type[BaseModel], str] = field(default_factory=dict)
    problems: Problems = field(default_factory=list)

    def walk(self, model: type[BaseModel], title: str, path: str, note: str = "") -> None:
        """Add ``model`` as the table ``title`` (keys ``path.KEY``) and every table below."""
        if any(s.title == title for s in self.sections):
            return  # the same table under several variants (entropy of each raw source)
        section = Section(title, path, model, note)
        self.sections.append(section)
        children: Children = []
        for key, info in model.model_fields.items():
            dotted = f"{path}.{key}" if path else key
            if dotted in self.skip:
                continue
            text = description(model, key)
            section.rows.append(self.row(key, dotted, info, text, children))
        for child, child_title, child_path, child_note in children:
            self.walk(child, child_title, child_path, child_note)

    def row(
        self,
        key: str,
        dotted: str,
        info: FieldInfo,
        described: str,
        children: Children,
    ) -> tuple[str, str, str, str, str]:
        """One key's row; nested tables are queued in ``children``."""
        annotation = info.annotation
        base = strip(annotation)[0]
        optional = union_members(base) or []
        plain = [m for m in optional if m is not type(None)]
        if len(plain) == 1 and type(None) in optional:
            base = strip(plain[0])[0]
        if not described:
            self.problems.append(f"{dotted}: no description (add an attribute docstring)")
        kind, nested = type_text(annotation)
        variants = model_variants(base)
        origin = get_origin(base)
        if is_model(base) and base in self.titles:  # the same table again: link to it
            kind = f"table, as [`{self.titles[base]}`](#{anchor(self.titles[base])})"
        elif is_model(base):
            kind = f"table [`[{dotted}]`](#{anchor(dotted)})"
            self.titles[base] = f"[{dotted}]"
            children.append((base, f"[{dotted}]", dotted, ""))
        elif variants:
            tag = discriminator(info, variants)
            links = ", ".join(
                f"[`{tag} = {toml(tag_value(v, tag))}`](#{anchor(variant_title(dotted, v, tag))})"
                for v in variants
            )
            kind = f"table, one of {links}"
            for v in variants:
                note = f"`{tag} = {toml(tag_value(v, tag))}`"
                children.append((v, variant_title(dotted, v, tag), dotted, note))
        elif origin is dict and is_model(strip(get_args(base)[1])[0]):
            child = strip(get_args(base)[1])[0]
            kind = f"tables [`[{dotted}.NAME]`](#{anchor(dotted + '.NAME')})"
            children.append((child, f"[{dotted}.NAME]", f"{dotted}.NAME", ""))
        elif origin is list and (
            is_model(strip(get_args(base)[0])[0]) or model_variants(get_args(base)[0])
        ):
            item = strip(get_args(base)[0])[0]
            items = model_variants(item) or [item]
            tag = discriminator(FieldInfo.from_annotation(get_args(base)[0]), items)
            titles = [variant_title(dotted, v, tag, array=True) for v in items]
            kind = "array of tables " + ", ".join(f"[`{t}`](#{anchor(t)})" for t in titles)
            for v, t in zip(items, titles, strict=True):
                note = f"`{tag} = {toml(tag_value(v, tag))}`" if len(items) > 1 else ""
                children.append((v, t, dotted, note))
        limits = constraints(info.metadata) + nested
        return (
            f"`{key}`",
            cell(kind),
            cell(default_text(info)),
            cell(", ".join(limits)),
            cell(rst_to_md(described)),
        )


def discriminator(info: FieldInfo, variants: list[type[BaseModel]]) -> str:
    """The key that tells the variants apart: the one Literal key they all have."""
    for key in variants[0].model_fields:
        fields = [v.model_fields.get(key) for v in variants]
        kinds = [strip(f.annotation)[0] if f is not None else None for f in fields]
        if all(get_origin(k) is Literal and len(get_args(k)) == 1 for k in kinds):
            if len({get_args(k)[0] for k in kinds}) == len(kinds):
                return key
    return "kind"


def tag_value(model: type[BaseModel], tag: str) -> Any:
    """The Literal value of ``tag`` in one variant."""
    annotation = strip(model.model_fields[tag].annotation)[0]
    return get_args(annotation)[0]


def variant_title(dotted: str, model: type[BaseModel], tag: str, array: bool = False) -> str:
    """The heading of one variant: ``[device] model = "quantum"``."""
    head = f"[[{dotted}]]" if array else f"[{dotted}]"
    info = model.model_fields.get(tag)
    if info is not None and get_origin(strip(info.annotation)[0]) is Literal:
        return f"{head} {tag} = {toml(tag_value(model, tag))}"
    return head


def anchor(title: str) -> str:
    """The heading id MkDocs' toc extension gives ``title`` (slugified)."""
    text = re.sub(r"[^\w\s-]", "", title.lower())
    return re.sub(r"[-\s]+", "-", text).strip("-")


def render(sections: list[Section]) -> Iterator[str]:
    """Markdown for the sections, in the order they were walked."""
    for section in sections:
        yield f"### {section.title}"
        yield ""
        if section.note:
            yield f"Chosen by {section.note}. *Model:* `{qualname(section.model)}`"
        else:
            yield f"*Model:* `{qualname(section.model)}`"
        yield ""
        text = docstring(section.model)
        if text:
            yield text
            yield ""
        yield "| key | type | default | constraints | description |"
        yield "|---|---|---|---|---|"
        for row in section.rows:
            yield "| " + " | ".join(row) + " |"
        yield ""


def qualname(model: type[BaseModel]) -> str:
    """The public dotted name of a model."""
    return f"{model.__module__}.{model.__qualname__}"


def walk_file(
    model: type[BaseModel], skip: set[str] | None = None, title: str = "Top level"
) -> tuple[list[str], Problems]:
    """The Markdown of a whole config file's model, and its problems."""
    walker = Walker(skip or set())
    walker.walk(model, title, "")
    return list(render(walker.sections)), walker.problems


RUN_INTRO = """# Run configuration reference

A run config is a versioned TOML file (`schema_version = 1`) read by `diamp run CONFIG` and
stored, by hash, inside every run (`diamp stats`, `diamp amplify` and the report read it back).
Typing is strict: a string is never turned into a number nor a boolean into an integer
(`blocks = true` and `seed = "1"` are errors). Unknown keys, wrong types and out-of-range values
stop the command with exit status 2 and one line per problem naming the file and the dotted key.
Rules that tie several keys together (for example `|bias| ≤ mu`, an S_mu threshold below the
quantum maximum, one readout per node) are stated in each table's text.

The shipped examples are `configs/simulated.toml` (the demo, annotated),
`configs/simulated-classical.toml`, `configs/simulated-readout.toml`,
`configs/eth-2024-sim.toml` and `configs/eth-2024.toml`. Exact numbers (`mu`, the S_mu
thresholds) are best written as decimal strings (`"0.0075"`); floats are read through their
shortest decimal representation.

*Generated at build time from `diamp.config.RunConfig`; every row is the model itself.*

"""

TIMING_INTRO = """## The timing section file

`[timing] section` names a second TOML file (`schema_version = 1`): the measured segment
durations and devices of the Bell-test setup (`configs/timing/eth-2024.toml` holds the
published one). All durations are in ns, distances in metres, drifts in ps/h; a duration is
a number or `{ value = …, uncertainty = … }`, read as an exact decimal. `diamp timing budget
FILE` evaluates it alone.

*Generated at build time from `diamp.timing.section.TimingSection`.*

"""

SERVICE_INTRO = """# Service and beacon configuration reference

`diamp serve CONFIG` reads one versioned TOML file (`schema_version = 1`). Typing is strict
(`port = "8443"`, `fill = 1` and `period_s = true` are errors, never coerced), no number may be
`inf` or `nan`, and relative paths are taken relative to the config file's folder. Any invalid
value stops `diamp serve` before it serves anything, with exit status 2 and one line naming the
key. `configs/service.toml` is the annotated example; what the numbers mean for operations is in
the [service guide](../guides/service.md) and [the randomness service](../service.md).

A stand-alone beacon (`python -m diamp.service.beacon BEACON.toml --port 8000`, for tests and
demos) reads a file with `schema_version = 1` and only the [`[beacon]`](#beacon) table.

*Generated at build time from `diamp.service.settings.ServiceSettings` and
`diamp.service.beacon.settings.BeaconSettings`; every row is the model itself.*

"""


def instrument_types() -> Iterator[str]:
    """The ``type`` values of ``[instruments.NAME]``, from the instrument registry."""
    from diamp.daq.registry import INSTRUMENTS

    yield "## Instrument types"
    yield ""
    yield "The values of `[instruments.NAME] type`, from `diamp.daq.registry.INSTRUMENTS`."
    yield ""
    yield "| `type` | role | `backend` | settings | what it is |"
    yield "|---|---|---|---|---|"
    for name, kind in INSTRUMENTS.items():
        backends = ", ".join(f"`{b}`" for b in sorted(kind.backends))
        settings = "yes" if kind.settings else "none"
        yield f"| `{name}` | {kind.role} | {backends} | {settings} | {cell(kind.description)} |"
    yield ""


def run_config_page() -> tuple[str, Problems]:
    """The run configuration reference page, with the timing section file it names."""
    from diamp.config import RunConfig
    from diamp.timing.section import TimingSection

    lines, problems = walk_file(RunConfig)
    timing, timing_problems = walk_file(TimingSection, title="Timing section file")
    page = [RUN_INTRO, "## Tables", "", *lines, *instrument_types(), TIMING_INTRO, *timing]
    return "\n".join(page), problems + timing_problems


def service_config_page() -> tuple[str, Problems]:
    """The service (and beacon) configuration reference page."""
    from diamp.service.settings import ServiceSettings

    # base_dir is set by the loader from the file's location and refused in the file
    lines, problems = walk_file(ServiceSettings, skip={"base_dir"})
    return SERVICE_INTRO + "## Tables\n\n" + "\n".join(lines), problems


__all__ = ["run_config_page", "service_config_page"]
