"""The rule catalogue as living documentation: a page per rule and an index by topic, from the ruleset itself.

Each rule page shows what a physiotherapist reviews: the summary, classification and verdict, the clinic-policy
setting that changes it (with its allowed values and why), what to do instead, the sources, and the Gherkin
scenarios that exercise it, rendered as Given / When / Then. The web app serves the pages at ``/catalogue/`` and
``needlescreen docs build OUT`` writes the same pages as static files (relative links, the stylesheet copied),
so the BDD scenarios are the documentation.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from needlescreen.catalogue import describe, features_dir, scenarios_for
from needlescreen.ruleset import CompiledRule, Ruleset

from .templating import STATIC_DIR, environment

__all__ = ["build", "index_page", "rule_page", "scenario_steps"]

_STEP = re.compile(r"^\s*(Given|When|Then|And|But)\s+(.*)$")
_HEAD = ("Scenario:", "Scenario Outline:", "Example:", "Examples:", "Feature:", "Background:", "Rule:", "@")


def scenario_steps(path: Path, line: int) -> list[tuple[str, str]]:
    """The steps of the scenario that starts at ``line`` (1-based) of a feature file, as (keyword, text)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return []
    steps: list[tuple[str, str]] = []
    for raw in lines[line:]:
        stripped = raw.strip()
        if stripped.startswith(_HEAD):
            break
        match = _STEP.match(raw)
        if match:
            steps.append((match.group(1), match.group(2)))
        elif stripped.startswith("|") and steps:
            steps.append(("", stripped))
    return steps


def _policy(rule: CompiledRule, ruleset: Ruleset) -> list[dict[str, Any]]:
    out = []
    for name, value in rule.policy.items():
        setting = ruleset.policy.settings.get(name)
        out.append(
            {
                "name": name,
                "value": value,
                "allowed": list(setting.allowed) if setting and setting.allowed else None,
                "minimum": setting.minimum if setting else None,
                "maximum": setting.maximum if setting else None,
                "reason": setting.reason if setting else "",
            }
        )
    return out


def _scenarios(rule: CompiledRule, ruleset: Ruleset) -> list[dict[str, Any]]:
    features = features_dir(ruleset.directory)
    return [
        {"file": f, "line": n, "title": t, "steps": scenario_steps(features / f, n)}
        for f, n, t in scenarios_for(rule.id, features)
    ]


def _topics(ruleset: Ruleset) -> list[tuple[str, list[CompiledRule]]]:
    topics: dict[str, list[CompiledRule]] = {}
    for rule in ruleset.rules:
        topics.setdefault(rule.topic, []).append(rule)
    return sorted((t, sorted(rs, key=lambda r: r.id)) for t, rs in topics.items())


def index_page(ruleset: Ruleset, *, static_url: str, rule_url: str = "rules/{id}.html") -> str:
    """The index by topic."""
    return (
        environment()
        .get_template("catalogue_index.html")
        .render(ruleset=ruleset, topics=_topics(ruleset), static_url=static_url, rule_url=rule_url)
    )


def rule_page(rule: CompiledRule, ruleset: Ruleset, *, static_url: str, index_url: str = "../index.html") -> str:
    """One rule's page."""
    return (
        environment()
        .get_template("catalogue_rule.html")
        .render(
            rule=rule,
            ruleset=ruleset,
            condition=describe(rule.condition),
            policy=_policy(rule, ruleset),
            scenarios=_scenarios(rule, ruleset),
            static_url=static_url,
            index_url=index_url,
        )
    )


def _pages(ruleset: Ruleset) -> Iterator[tuple[str, str]]:
    yield "index.html", index_page(ruleset, static_url="static/")
    for rule in ruleset.rules:
        yield f"rules/{rule.id}.html", rule_page(rule, ruleset, static_url="../static/")


def build(ruleset: Ruleset, out: Path) -> list[Path]:
    """Write the catalogue as static files under ``out``; returns the pages written."""
    written: list[Path] = []
    (out / "rules").mkdir(parents=True, exist_ok=True)
    for name, html in _pages(ruleset):
        path = out / name
        path.write_text(html, encoding="utf-8")
        written.append(path)
    (out / "static").mkdir(exist_ok=True)
    shutil.copy2(STATIC_DIR / "web.css", out / "static" / "web.css")
    return written
