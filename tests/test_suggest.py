"""One way to suggest: every did-you-mean goes through ``needlescreen._suggest`` (rapidfuzz), nowhere else."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "needlescreen"
#: Modules that compute similarity themselves instead of asking needlescreen._suggest.
_OTHER_WAYS = ("difflib", "rapidfuzz", "thefuzz", "fuzzywuzzy", "jellyfish", "Levenshtein")


def other_ways_to_suggest(source: str) -> list[str]:
    """The similarity libraries a module's source imports (at any depth)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
        if isinstance(node, ast.ImportFrom) and not node.level:
            names = [node.module or ""]
        found += [n for n in names if n.split(".")[0] in _OTHER_WAYS]
    return found


def test_only_the_suggest_module_computes_similarity() -> None:
    offenders = {
        str(path.relative_to(PACKAGE)): found
        for path in sorted(PACKAGE.rglob("*.py"))
        if path.name != "_suggest.py" and (found := other_ways_to_suggest(path.read_text(encoding="utf-8")))
    }
    assert not offenders, f"suggest through needlescreen._suggest, not: {offenders}"


@pytest.mark.parametrize(
    "source", ["import difflib\n", "def f():\n    from rapidfuzz import fuzz\n", "import rapidfuzz.process as p\n"]
)
def test_breakage_a_second_way_to_suggest_is_found(source: str) -> None:
    assert other_ways_to_suggest(source)
