"""Rule-file quality check: everything wrong with a ruleset directory at once, not just the first error.

Loading a ruleset (:func:`needlescreen.load_ruleset`) stops at the first mistake, which is right for screening
but slow for an author. :func:`check_rules` reads the files itself and reports every problem it finds:
duplicate rule ids, conditions over facts that do not exist (with a did-you-mean), references to missing
sources, summaries over the 140-character card limit, rules no scenario under ``features/`` exercises, and a
declared ``content_sha256`` (or ``CHANGELOG.md`` entry) that no longer matches the content, and a code map
(``codes.yaml``) that names an unknown answer, finding, device or region. The test suite runs
it on the bundled rules, so a gap fails CI; ``needlescreen rules check`` prints the same list.

A rule is *exercised* when a feature file names its id in a step (``rule X fires``, ``rule X does not fire``)
or in an ``Examples`` table row.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import _yaml
from ._suggest import close
from .codes import CodeMap
from .errors import RuleFileError
from .facts import FACTS
from .ruleset import SUMMARY_LIMIT, default_rules_dir, load_ruleset

__all__ = ["Problem", "check_rules", "exercised_rule_ids"]

_STEP = re.compile(r"^\s*(Given|When|Then|And|But|\*|\|)")
_RULE_IN_STEP = re.compile(r"\brule ([A-Z][A-Z0-9_]{2,63})\b")
_TABLE_CELL = re.compile(r"\|\s*([A-Z][A-Z0-9_]{2,63})\s*(?=\|)")


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a ruleset: where (file, rule id, field), a stable kind, and what."""

    file: str
    rule_id: str | None
    field: str | None
    message: str
    kind: str = "invalid"

    def __str__(self) -> str:
        where = ": ".join(p for p in (self.file, f"rule {self.rule_id}" if self.rule_id else None, self.field) if p)
        return f"{where}: {self.message} [{self.kind}]"


def exercised_rule_ids(features_dir: str | Path) -> set[str]:
    """Rule ids that some scenario step (or Examples row) under ``features_dir`` names."""
    found: set[str] = set()
    for path in sorted(Path(features_dir).rglob("*.feature")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if not _STEP.match(line):
                continue
            found.update(_RULE_IN_STEP.findall(line))
            if line.lstrip().startswith("|"):
                found.update(_TABLE_CELL.findall(line + "|"))
    return found


def _facts_in(node: Any, where: str) -> Iterator[tuple[str, object]]:
    if isinstance(node, dict):
        if "fact" in node:
            yield f"{where}.fact", node["fact"]
        for key, value in node.items():
            if key in ("all", "any") and isinstance(value, list):
                for i, part in enumerate(value):
                    yield from _facts_in(part, f"{where}.{key}[{i}]")
            elif key == "not":
                yield from _facts_in(value, f"{where}.not")


def _read(path: Path, problems: list[Problem], rel: str) -> Any:
    try:
        return _yaml.load_file(path)
    except RuleFileError as exc:
        problems.append(Problem(rel, None, None, exc.detail, "unreadable"))
        return None


def check_rules(directory: str | Path | None = None, features_dir: str | Path | None = None) -> list[Problem]:
    """Every problem of a ruleset directory (the bundled one by default); an empty list means clean.

    Args:
        directory: the ruleset directory (``ruleset.yaml``, ``sources.yaml``, ``rules/*.yaml`` ...).
        features_dir: the Gherkin scenarios; when given, a rule no scenario names is a problem.
    """
    root = Path(directory) if directory is not None else default_rules_dir()
    problems: list[Problem] = []
    sources_data = _read(root / "sources.yaml", problems, "sources.yaml") or {}
    sources = set((sources_data.get("sources") or {}) if isinstance(sources_data, dict) else {})
    exercised = exercised_rule_ids(features_dir) if features_dir is not None else None

    seen: dict[str, str] = {}
    for path in sorted((root / "rules").glob("*.yaml")):
        rel = path.relative_to(root).as_posix()
        data = _read(path, problems, rel)
        rules = data.get("rules") if isinstance(data, dict) else None
        if not isinstance(rules, list):
            problems.append(Problem(rel, None, "rules", "no list of rules", "invalid"))
            continue
        for i, rule in enumerate(rules):
            if not isinstance(rule, dict):
                problems.append(Problem(rel, f"#{i}", None, "a rule must be a mapping", "invalid"))
                continue
            raw_id = rule.get("id")
            rid: str = raw_id if isinstance(raw_id, str) else f"#{i}"
            if rid in seen:
                problems.append(Problem(rel, rid, "id", f"duplicate rule id (first in {seen[rid]})", "duplicate-id"))
            else:
                seen[rid] = rel
            for where, name in _facts_in(rule.get("when"), "when"):
                if not isinstance(name, str) or name not in FACTS:
                    near = close(str(name), list(FACTS), cutoff=60.0, limit=1)
                    hint = f"; did you mean {near[0]!r}?" if near else ""
                    problems.append(Problem(rel, rid, where, f"unknown fact {name!r}{hint}", "unknown-fact"))
            refs = rule.get("references")
            for j, key in enumerate(refs if isinstance(refs, list) else []):
                if key not in sources:
                    near = close(str(key), sorted(sources), cutoff=60.0, limit=1)
                    hint = f"; did you mean {near[0]!r}?" if near else ""
                    problems.append(
                        Problem(rel, rid, f"references[{j}]", f"unknown source {key!r}{hint}", "missing-source")
                    )
            if not refs:
                problems.append(Problem(rel, rid, "references", "a rule must cite at least one source", "no-source"))
            summary = rule.get("summary")
            if isinstance(summary, str) and len(summary) > SUMMARY_LIMIT:
                problems.append(
                    Problem(
                        rel,
                        rid,
                        "summary",
                        f"summary is {len(summary)} characters (at most {SUMMARY_LIMIT})",
                        "summary-too-long",
                    )
                )
            if exercised is not None and rid not in exercised:
                problems.append(
                    Problem(rel, rid, None, "no scenario under features/ exercises this rule", "no-scenario")
                )

    if problems:
        return problems
    # The structural checks pass: now the full loader (schemas, operators, values, branch limits) and the stamp.
    try:
        ruleset = load_ruleset(root)
    except RuleFileError as exc:
        file = exc.file or str(root)
        if Path(file).is_absolute() and Path(file).is_relative_to(root.resolve()):
            file = Path(file).relative_to(root.resolve()).as_posix()
        return [Problem(file, exc.rule_id, exc.field, exc.detail, "invalid")]
    if ruleset.declared_hash != ruleset.content_hash:
        problems.append(
            Problem(
                "ruleset.yaml",
                None,
                "content_sha256",
                f"rule content changed: set content_sha256 to {ruleset.content_hash!r}, bump the revision and add "
                "a CHANGELOG.md entry",
                "hash-mismatch",
            )
        )
    codes_path = root / "codes.yaml"
    if codes_path.exists():
        try:
            CodeMap.from_data(_read(codes_path, problems, "codes.yaml"), file="codes.yaml", regions=ruleset.regions)
        except RuleFileError as exc:
            problems.append(Problem("codes.yaml", None, exc.field, exc.detail, "invalid"))
    changelog = root / "CHANGELOG.md"
    if changelog.exists() and not re.search(
        rf"^##\s+{re.escape(ruleset.revision)}\b", changelog.read_text(encoding="utf-8"), re.M
    ):
        problems.append(
            Problem("CHANGELOG.md", None, None, f"no entry for revision {ruleset.revision!r}", "changelog-missing")
        )
    return problems
