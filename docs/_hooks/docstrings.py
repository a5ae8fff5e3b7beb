"""Griffe extension for the API pages: diamp's numpy-style docstrings, read as Markdown.

The docstrings use reStructuredText roles (``:func:`name```, ``:class:`~x.Y```) and formulas
with subscripts (``A_i``, ``Σ_{t=0}``). Rendered as Markdown, a role shows its markup and an
underscore after a bracket or space starts emphasis. Roles become code spans, and such
underscores are escaped outside code spans; the docstrings in ``src/`` stay as they are.
"""

from __future__ import annotations

import re
from typing import Any

from griffe import Extension, Object

ROLE = re.compile(r":(?:mod|class|func|meth|data|attr|exc|obj|const|ref|py:\w+):`~?\.?([^`]+)`")
LEADING_UNDERSCORE = re.compile(r"(?<![\w\\`])_(?=\S)")


def markdown_safe(text: str) -> str:
    """``text`` with roles as code spans and emphasis-starting underscores escaped."""
    text = ROLE.sub(lambda m: f"`{m.group(1)}`", text)
    lines = []
    for line in text.split("\n"):
        if line.startswith("    ") or line.lstrip().startswith(("_", ">>>")):
            lines.append(line)  # literal blocks, examples, private names stay verbatim
            continue
        parts = line.split("`")  # even parts lie outside code spans
        lines.append(
            "`".join(p if i % 2 else LEADING_UNDERSCORE.sub(r"\\_", p) for i, p in enumerate(parts))
        )
    return "\n".join(lines)


class MarkdownDocstrings(Extension):
    """Rewrite every docstring for Markdown before it is parsed."""

    def on_instance(self, *, obj: Object, **kwargs: Any) -> None:
        """Fix one object's docstring."""
        if obj.docstring is not None:
            obj.docstring.value = markdown_safe(obj.docstring.value)
