"""The house: arrows point down. No import circle in the package, and the core never imports an adapter.

Imports inside functions count too: a lazy import is still an arrow (it only moves the cost to run time).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "needlescreen"
#: Subpackages that adapt the core to a door (command line, HTTP, web, FHIR); the core imports none of them.
ADAPTERS = ("cli", "server", "web", "fhir")
#: Entry points that belong to an adapter (`python -m needlescreen` is the command line).
ENTRY_POINTS = ("__main__",)


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every needlescreen module this file imports, at any depth of the file."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.startswith("needlescreen"))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            if not target.startswith("needlescreen"):
                continue
            out.add(target)
            # `from . import x` imports the module x when there is one.
            out.update(f"{target}.{a.name}" for a in node.names)
    return out


def _graph() -> dict[str, set[str]]:
    files = {_module_name(p): p for p in PACKAGE.rglob("*.py") if "migrations" not in p.parts}
    graph = {}
    for name, path in files.items():
        # An import of a package's submodule also runs the package's __init__, but that is not an arrow the
        # code drew; only modules that exist are kept.
        graph[name] = {t for t in _imports(path) if t in files and t != name}
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def _is_package_init_edge(a: str, b: str) -> bool:
    # A subpackage's modules import siblings through the package (`from . import x`), and the package's
    # __init__ imports them to register commands or routes: that is one unit, not a circle between layers.
    return b == a.rsplit(".", 1)[0] or a == b.rsplit(".", 1)[0]


def test_the_package_has_no_import_circle() -> None:
    graph = {a: {b for b in bs if not _is_package_init_edge(a, b)} for a, bs in _graph().items()}
    assert _cycle(graph) is None, f"import circle: {' -> '.join(_cycle(graph) or [])}"


def _part(module: str) -> str:
    """The first part below the package (``cli`` for ``needlescreen.cli.ask``)."""
    return module.split(".")[1] if "." in module else ""


def test_the_core_never_imports_an_adapter_or_the_testing_helpers() -> None:
    graph = _graph()
    bad = [
        (a, b)
        for a, targets in graph.items()
        if _part(a) not in (*ADAPTERS, *ENTRY_POINTS) and a != "needlescreen.testing"
        for b in targets
        if _part(b) in ADAPTERS or b == "needlescreen.testing"
    ]
    assert not bad, f"core modules import adapters or the testing helpers: {bad}"


@pytest.mark.parametrize(
    ("edges", "expected"),
    [({"a": {"b"}, "b": {"a"}}, ["a", "b", "a"]), ({"a": {"b"}, "b": set()}, None)],
)
def test_the_circle_finder_finds_circles(edges: dict[str, set[str]], expected: list[str] | None) -> None:
    assert _cycle(edges) == expected
