"""MkDocs hook: the configuration and CLI reference pages, generated at build time.

Nothing here is hand-copied: every key, type, default, constraint and description of the
configuration pages comes from the pydantic models (``diamp.config.RunConfig``,
``diamp.service.settings.ServiceSettings``, ``diamp.service.beacon.settings.BeaconSettings``),
every command and option of the CLI page from the click command tree of the typer app
(``typer.main.get_command(diamp.cli.app)``). A key without a description or a command without
help is a warning, which ``mkdocs build --strict`` turns into a failure.
"""

from __future__ import annotations

import ast
import logging
import sys
from pathlib import Path
from typing import Any

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files

log = logging.getLogger("mkdocs.plugins.diamp")

PAGES = {
    "reference/config-run.md": "run_config_page",
    "reference/config-service.md": "service_config_page",
    "reference/cli.md": "cli_page",
}


def on_config(config: MkDocsConfig) -> MkDocsConfig:
    """Document the checkout being built: its ``src/`` comes first on the import path."""
    src = Path(config.config_file_path).resolve().parent / "src"
    if str(src) not in sys.path:
        sys.path.insert(0, str(src))
    return config


def on_files(files: Files, config: MkDocsConfig) -> Files:
    """Add the generated reference pages to the site's files."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    try:
        import cliref
        import configref
    finally:
        sys.path.pop(0)
    makers = {
        "run_config_page": configref.run_config_page,
        "service_config_page": configref.service_config_page,
        "cli_page": cliref.cli_page,
    }
    for uri, maker in PAGES.items():
        content, problems = makers[maker]()
        for problem in problems:
            log.warning("%s: %s", uri, problem)
        files.append(File.generated(config, uri, content=content))
    return files


BENCHMARKS = "<!-- benchmarks -->"
CHANGELOG = "<!-- changelog:"


def on_page_markdown(markdown: str, config: MkDocsConfig, **kwargs: Any) -> str:
    """Fill the markers: the changelog from ``CHANGELOG.md``, the benchmarks table."""
    root = Path(config.config_file_path).resolve().parent
    if markdown.startswith(CHANGELOG):
        return (root / "CHANGELOG.md").read_text(encoding="utf-8")
    if BENCHMARKS not in markdown:
        return markdown
    return markdown.replace(BENCHMARKS, _benchmarks(root / "benchmarks"))


def _benchmarks(root: Path) -> str:
    """A table of ``benchmarks/*.py`` with the first paragraph of each docstring."""
    rows = ["| script | measures |", "|---|---|"]
    for script in sorted(root.glob("*.py")):
        doc = ast.get_docstring(ast.parse(script.read_text(encoding="utf-8")))
        if not doc:
            log.warning("benchmarks/%s: no module docstring to describe it", script.name)
            continue
        summary = doc.strip().split("\n\n")[0].replace("\n", " ").replace("|", "\\|")
        rows.append(f"| `{script.name}` | {summary} |")
    return "\n".join(rows)
