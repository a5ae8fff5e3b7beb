"""HTML building blocks of the run report: sections, tables, checks and the page itself.

The page is self-contained, in the style of :mod:`diamp.report.timing`: one HTML file with
inline CSS, images embedded as ``data:`` URIs, no scripts, fonts or external URLs.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Check",
    "Raw",
    "Section",
    "checks_list",
    "esc",
    "img",
    "kv_table",
    "render_page",
    "table",
]


@dataclass(frozen=True)
class Check:
    """A consistency check the report made (certificate against an independent recomputation)."""

    name: str
    ok: bool
    detail: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"name": self.name, "ok": self.ok, "detail": self.detail}


@dataclass(frozen=True)
class Section:
    """One section of the report: its anchor, title, HTML body and the data it shows."""

    id: str
    title: str
    body: str
    data: Mapping[str, Any]
    checks: tuple[Check, ...] = field(default=())


def esc(value: object) -> str:
    """HTML-escaped text of ``value``."""
    return html.escape(str(value), quote=True)


def img(uri: str, alt: str, css_class: str = "") -> str:
    """An ``<img>`` element for an embedded image."""
    cls = f' class="{esc(css_class)}"' if css_class else ""
    return f'<img{cls} alt="{esc(alt)}" src="{uri}">'


def table(header: Sequence[str], rows: Iterable[Sequence[object]], css_class: str = "") -> str:
    """A table with a header row; cells are escaped unless wrapped in :class:`Raw`."""
    cls = f' class="{esc(css_class)}"' if css_class else ""
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_cell(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table{cls}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def kv_table(rows: Iterable[tuple[str, object]]) -> str:
    """A two-column name/value table."""
    body = "".join(f"<tr><th>{esc(k)}</th><td>{_cell(v)}</td></tr>" for k, v in rows)
    return f'<table class="kv"><tbody>{body}</tbody></table>'


class Raw(str):
    """Text that is already HTML (not escaped again by :func:`table`)."""

    __slots__ = ()


def _cell(value: object) -> str:
    return str(value) if isinstance(value, Raw) else esc(value)


def checks_list(checks: Sequence[Check]) -> str:
    """The checks as a list with a pass/FAIL mark each."""
    if not checks:
        return ""
    items = "".join(
        f'<li class="{"ok" if c.ok else "bad"}"><b>{"agrees" if c.ok else "DISAGREES"}</b> '
        f"{esc(c.name)}: {esc(c.detail)}</li>"
        for c in checks
    )
    return f'<ul class="checks">{items}</ul>'


_CSS = """body{font-family:sans-serif;max-width:62em;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.6em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;margin:.6em 0}td,th{border:1px solid #ccc;padding:.25em .6em;
text-align:right;vertical-align:top}th{background:#f4f4f4}td:first-child{text-align:left}
table.kv th{text-align:left}table.kv td{text-align:left;font-family:monospace}
.ok{color:#1a7f37}.bad{color:#c62828}.na{color:#777}.status-ok{color:#1a7f37;font-weight:bold}
.status-abort{color:#c62828;font-weight:bold}.warn{background:#fff4e5;border:1px solid #f0b46b;
padding:.5em .8em}img{max-width:100%}img.bits{image-rendering:pixelated;width:min(100%,36em);
border:1px solid #999}.side{display:flex;gap:1em;flex-wrap:wrap}.side figure{margin:0}
.side img{image-rendering:pixelated;width:16em;border:1px solid #999}figcaption{font-size:.9em}
code,.mono{font-family:monospace}ul.checks{padding-left:1.2em}
table.sp800-22 td:last-child{text-align:left}"""


def render_page(title: str, intro: str, sections: Sequence[Section]) -> str:
    """The whole HTML document: title, an introduction, a table of contents and sections."""
    toc = "".join(f'<li><a href="#{esc(s.id)}">{esc(s.title)}</a></li>' for s in sections)
    body = "".join(
        f'<section id="{esc(s.id)}"><h2>{esc(s.title)}</h2>{s.body}{checks_list(s.checks)}'
        "</section>"
        for s in sections
    )
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{esc(title)}</title><style>{_CSS}</style></head>\n"
        f"<body><h1>{esc(title)}</h1>{intro}<nav><ol>{toc}</ol></nav>\n{body}\n</body></html>\n"
    )
