"""One way to suggest: every did-you-mean goes through ``needlescreen.suggest`` (rapidfuzz), nowhere else."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from needlescreen import suggest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "needlescreen"
#: Modules that compute similarity themselves instead of asking needlescreen.suggest.
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
        if path.name != "suggest.py" and (found := other_ways_to_suggest(path.read_text(encoding="utf-8")))
    }
    assert not offenders, f"suggest through needlescreen.suggest, not: {offenders}"


@pytest.mark.parametrize(
    "source", ["import difflib\n", "def f():\n    from rapidfuzz import fuzz\n", "import rapidfuzz.process as p\n"]
)
def test_breakage_a_second_way_to_suggest_is_found(source: str) -> None:
    assert other_ways_to_suggest(source)


def test_the_closest_names_come_first_and_far_ones_never() -> None:
    names = ["patient.needle_phobia", "patient.frailty", "site.lymphedema"]
    assert suggest.closest("patient.needle_phobai", names) == ["patient.needle_phobia"]
    assert suggest.closest("zzzz", names) == []
    assert suggest.hint("patient.fraility", names) == "; did you mean 'patient.frailty'?"
    assert suggest.hint("LYMPHEDEMA_LIMBS", ["LYMPHEDEMA_LIMB", "MINOR"], n=3, quote=False) == (
        "; did you mean LYMPHEDEMA_LIMB?"
    )
    assert suggest.hint("qqqq", names) == ""
    scores = suggest.scored("calff", ["calf", "thigh"])
    assert [name for name, _ in scores] == ["calf"] and 60 <= scores[0][1] <= 100


def test_the_cutoff_is_respected() -> None:
    # "tibal" to "tibial" scores about 91; to "radial" about 55: a cutoff between keeps only the first.
    assert suggest.closest("tibal", ["radial", "tibial"], n=2, cutoff=70) == ["tibial"]
    assert suggest.closest("tibal", ["radial", "tibial"], n=2, cutoff=95) == []
