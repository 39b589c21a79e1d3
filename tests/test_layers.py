"""The package's layout holds: dependencies only go down the layers, no import circle, one folder imports
Streamlit, the core imports no torch, and no module outgrows 500 lines.

Imports are read from the source (every ``import`` statement, those inside functions too: a lazy import that
closes a circle is still a circle), so a test fails the moment someone adds an import that breaks the layering.
Only imports under ``if TYPE_CHECKING:`` are left out: they name types for annotations and never run.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "inception_explorer"
NAME = "inception_explorer"

#: Each top-level module or folder of the package and its layer: a module may import its own folder and the
#: layers below it, never a layer at or above its own (errors/settings <- spec <- nn, store <- analysis <- editing,
#: probes, rooms <- exercises <- ui <- cli).
LAYERS = {
    "errors": 0,
    "settings": 0,
    "spec": 1,
    "nn": 2,
    "store": 2,
    "analysis": 3,
    "editing": 4,
    "probes": 4,
    "rooms": 4,
    "exercises": 5,
    "ui": 6,
    "cli": 7,
    "__main__": 8,
    "__init__": 8,
}
#: Third-party packages each part may not import (directly; the layer rule covers the rest).
FORBIDDEN = {
    "spec": {"torch", "fvcore", "streamlit", "plotly", "pandas", "numpy", "ray"},
    "editing": {"torch", "fvcore", "streamlit", "plotly", "ray"},
    "errors": {"torch", "fvcore", "streamlit", "pydantic"},
    "settings": {"torch", "fvcore", "streamlit", "pydantic"},
    "store": {"torch", "fvcore", "streamlit"},
    "nn": {"fvcore", "streamlit", "plotly"},
    "analysis": {"streamlit"},
    "probes": {"streamlit", "fvcore"},
    "rooms": {"torch", "fvcore", "streamlit", "plotly"},
    "exercises": {"streamlit"},
    "cli": {"streamlit"},
}
MAX_LINES = 500


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__" and len(parts) > 1:
            parts = parts[:-1]
        out[".".join([NAME, *parts])] = path
    return out


MODULES = _modules()


def _resolve(module: str, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    is_package = MODULES[module].name == "__init__.py"
    base = module.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _imports(module: str) -> set[str]:
    """Every module named by an import in ``module`` (package modules resolved to the deepest one that exists)."""
    tree = ast.parse(MODULES[module].read_text())
    for node in ast.walk(tree):  # drop annotation-only imports: ``if TYPE_CHECKING:`` bodies never run
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            node.body = []
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.module == "__future__":
                continue
            target = _resolve(module, node)
            for alias in node.names:  # ``from . import viz`` names a module; ``from .x import f`` a name in one
                sub = f"{target}.{alias.name}"
                names.add(sub if sub in MODULES else target)
    return names


GRAPH = {m: {i for i in _imports(m) if i in MODULES and i != m} for m in MODULES}


def _part(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def test_every_part_of_the_package_has_a_layer():
    assert {_part(m) for m in MODULES} <= set(LAYERS), {_part(m) for m in MODULES} - set(LAYERS)


def test_imports_only_go_down_the_layers():
    wrong = []
    for module, targets in GRAPH.items():
        here = _part(module)
        for target in targets:
            there = _part(target)
            if there == here or target == NAME:
                continue
            if LAYERS[there] >= LAYERS[here]:
                wrong.append(f"{module} imports {target} ({there}, layer {LAYERS[there]} >= {here}'s {LAYERS[here]})")
    assert not wrong, "\n".join(wrong)


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
        for w in GRAPH[v]:
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

    for v in GRAPH:
        if v not in index:
            visit(v)
    return found


def test_no_import_circle_not_even_through_a_lazy_import():
    # A package's __init__ that re-exports its modules and a module that imports a sibling through the package
    # would be a circle too; none may exist.
    assert _cycles() == []


def test_the_cycle_finder_finds_a_cycle():
    GRAPH["inception_explorer.errors"].add("inception_explorer.settings")
    GRAPH["inception_explorer.settings"].add("inception_explorer.errors")
    try:
        assert _cycles() == [["inception_explorer.errors", "inception_explorer.settings"]]
    finally:
        GRAPH["inception_explorer.errors"].discard("inception_explorer.settings")
        GRAPH["inception_explorer.settings"].discard("inception_explorer.errors")


@pytest.mark.parametrize("part", sorted(FORBIDDEN))
def test_each_layer_keeps_its_third_party_imports(part):
    wrong = []
    for module in MODULES:
        if _part(module) != part:
            continue
        for name in _imports(module):
            if name.split(".")[0] in FORBIDDEN[part]:
                wrong.append(f"{module} imports {name}")
    assert not wrong, "\n".join(wrong)


def test_only_ui_imports_streamlit_in_the_package():
    importers = sorted(m for m in MODULES if any(n.split(".")[0] == "streamlit" for n in _imports(m)))
    assert importers and all(_part(m) == "ui" for m in importers), importers


def test_no_module_over_500_lines():
    sizes = {m: len(p.read_text().splitlines()) for m, p in MODULES.items()}
    assert max(sizes.values()) <= MAX_LINES, sorted(sizes.items(), key=lambda kv: -kv[1])[:3]


@pytest.mark.parametrize("folder", sorted(p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()))
def test_each_folder_says_what_its_layer_may_import(folder):
    doc = ast.get_docstring(ast.parse((PACKAGE / folder / "__init__.py").read_text())) or ""
    assert "may import" in doc.lower(), f"{folder}/__init__.py's docstring does not state what the layer may import"
