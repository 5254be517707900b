"""The rule catalogue as a reader sees it: one rule in full, with its condition in words and its scenarios.

The command line (``rules show``) and the service (``GET /rules/{id}``) show the same document, so it is
built here, in the core, once.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from .conditions import All, Atom, Condition, Not
from .facts import DEVICE_GROUPS
from .ruleset import CompiledRule, Ruleset

__all__ = ["describe", "features_dir", "rule_document", "rule_summary", "scenarios_for"]


def describe(cond: Condition) -> str:
    """A condition in words close to its YAML."""
    if isinstance(cond, Atom):
        value = list(cond.value) if isinstance(cond.value, tuple) else cond.value
        return f"{cond.fact} {cond.op} {value}"
    if isinstance(cond, Not):
        return f"not ({describe(cond.part)})"
    word = " and " if isinstance(cond, All) else " or "
    return "(" + word.join(describe(p) for p in cond.parts) + ")"


def features_dir(ruleset_dir: str) -> Path:
    """Where the Gherkin scenarios of a ruleset directory live: beside it.

    In a checkout that is ``features/`` beside ``rules/``; an installed package carries them the same way, as
    ``needlescreen/features`` beside ``needlescreen/rules`` (see :mod:`needlescreen._bundled`). A clinic's own
    ruleset directory has scenarios when a ``features`` directory sits beside it.
    """
    return Path(ruleset_dir).resolve().parent / "features"


def scenarios_for(rule_id: str, features: Path) -> list[tuple[str, int, str]]:
    """Scenarios in ``features/*.feature`` that mention a rule id: (file, line, scenario title)."""
    found: list[tuple[str, int, str]] = []
    if not features.is_dir():
        return found
    pattern = re.compile(rf"\b{re.escape(rule_id)}\b")
    for path in sorted(features.glob("**/*.feature")):
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError):
            continue
        title, start = None, 0
        for number, line in enumerate(lines, start=1):
            stripped = line.strip()
            if stripped.startswith(("Scenario:", "Scenario Outline:", "Example:")):
                title, start = stripped.split(":", 1)[1].strip(), number
            elif title and pattern.search(line) and (not found or found[-1][:2] != (path.name, start)):
                found.append((path.name, start, title))
    return found


def rule_summary(rule: CompiledRule) -> dict[str, Any]:
    """A rule's line in the catalogue."""
    return {
        "id": rule.id,
        "title": rule.title,
        "classification": rule.classification,
        "verdict": rule.verdict,
        "unknown": rule.unknown_verdict,
        "scope": rule.scope,
        "topic": rule.topic,
        "summary": rule.summary,
    }


def rule_document(rule: CompiledRule, ruleset: Ruleset) -> dict[str, Any]:
    """One rule in full: condition, facts read, policy, advice, sources, body model and scenarios."""
    scenarios = scenarios_for(rule.id, features_dir(ruleset.directory))
    return rule_summary(rule) | {
        "file": rule.file,
        "condition": describe(rule.condition),
        "reads": list(rule.reads),
        "policy": dict(rule.policy),
        "detail": rule.detail,
        "modifications": list(rule.modifications),
        "references": [{"key": s.key, "citation": s.citation, "evidence": s.evidence} for s in rule.references],
        "body_model": ruleset.body.explain_facts(rule.reads, DEVICE_GROUPS),
        "scenarios": [{"file": f, "line": n, "title": t} for f, n, t in scenarios],
    }
