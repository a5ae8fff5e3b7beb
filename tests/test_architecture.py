"""The structure of ``src/diamp``, checked from the code: no import cycles, sizes, layers.

Imports are read from the syntax tree of every module, at module level and inside
functions alike; only imports under ``if TYPE_CHECKING:`` are left out (they never run).
``from package import name`` counts as importing ``package`` and, when ``name`` is a module,
that module too; a package's ``__init__`` counts as its own module.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "diamp"

# What a package may import (besides errors, exact, atomic, progress, tomlconfig, config).
PURE = ("extractors", "analysis", "timing")
EDGES = ("cli", "service", "report")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p): p for p in sorted(SRC.rglob("*.py"))}


def _runtime_nodes(tree: ast.AST) -> Iterator[ast.AST]:
    """Every node except what sits under ``if TYPE_CHECKING:``."""
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(inner) for inner in ast.walk(node))
    return (node for node in ast.walk(tree) if id(node) not in skipped)


def imports(name: str) -> set[str]:
    """The diamp modules that module ``name`` imports when it runs."""
    path = MODULES[name]
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found: set[str] = set()
    for node in _runtime_nodes(ast.parse(path.read_text(encoding="utf-8"))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            targets = [module, *(f"{module}.{alias.name}" for alias in node.names)]
        found.update(t for t in targets if t in MODULES and t != name)
    return found


GRAPH = {name: imports(name) for name in MODULES}


def _cycles() -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(GRAPH[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(GRAPH):
        if v not in index:
            visit(v)
    return found


def test_the_checker_sees_imports_inside_functions() -> None:
    assert "diamp.report.files" in GRAPH["diamp.protocol.run"] or any(
        m.startswith("diamp.report") or m == "diamp.run_report" for m in GRAPH["diamp.protocol.run"]
    )
    assert "diamp.daq.sim.scope" in GRAPH["diamp.daq.station"]  # imported inside a method


def test_the_checker_finds_a_cycle() -> None:
    saved = dict(GRAPH)
    try:
        GRAPH["diamp.errors"] = {"diamp.config"}  # config imports errors: a cycle
        assert any({"diamp.config", "diamp.errors"} <= set(c) for c in _cycles())
    finally:
        GRAPH.clear()
        GRAPH.update(saved)


def test_no_import_cycles() -> None:
    assert _cycles() == []


def test_no_module_over_500_lines() -> None:
    sizes = {name: len(p.read_text(encoding="utf-8").splitlines()) for name, p in MODULES.items()}
    assert {name: n for name, n in sizes.items() if n > 500} == {}


def test_no_cli_function_over_60_lines() -> None:
    long: dict[str, int] = {}
    for path in sorted((SRC / "cli").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                if lines > 60:
                    long[f"{path.name}:{node.name}"] = lines
    assert long == {}


def _package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


@pytest.mark.parametrize("package", [*PURE, "daq", "protocol", "timing"])
def test_the_core_never_imports_an_edge(package: str) -> None:
    """Only the user reaches the edges; ``protocol.run`` alone calls the report writer."""
    bad = {
        (name, target)
        for name, targets in GRAPH.items()
        if _package(name) == package
        for target in targets
        if _package(target) in EDGES and name != "diamp.protocol.run"
    }
    assert bad == set()


@pytest.mark.parametrize("package", PURE)
def test_pure_packages_import_no_lab_io_and_no_plotting(package: str) -> None:
    """``extractors``, ``analysis`` and ``timing``: arrays in, arrays out."""
    banned_packages = {"daq", "protocol", *EDGES}
    banned_modules = ("matplotlib", "h5py", "pyvisa", "serial", "zhinst", "fastapi")
    for name, path in MODULES.items():
        if _package(name) != package:
            continue
        assert not {t for t in GRAPH[name] if _package(t) in banned_packages}, name
        for node in _runtime_nodes(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = (
                    [a.name for a in node.names]
                    if isinstance(node, ast.Import)
                    else [node.module or ""]
                )
                assert not [n for n in names if n.split(".")[0] in banned_modules], (name, names)
