"""``rules list|show|vocabulary|body|check``: the catalogue, the site names, the body model and the rule-file check."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from needlescreen._suggest import close
from needlescreen.catalogue import features_dir, rule_document
from needlescreen.errors import RuleFileError
from needlescreen.ruleset import CompiledRule, load_ruleset

from ._app import (
    EXIT_CODES,
    FormatOpt,
    PolicyOpt,
    RulesOpt,
    _console,
    _fail,
    _user_errors,
    rules_app,
)


@rules_app.command("list")
def rules_list(output: FormatOpt = "text", rules: RulesOpt = None, policy: PolicyOpt = None) -> None:
    """The catalogue as a table: id, classification, verdict, scope and summary."""
    with _user_errors():
        ruleset = load_ruleset(rules, policy_file=policy)
    rows = [
        {
            "id": r.id,
            "classification": r.classification,
            "verdict": r.verdict,
            "unknown": r.unknown_verdict,
            "scope": r.scope,
            "topic": r.topic,
            "summary": r.summary,
        }
        for r in ruleset.rules
    ]
    if output == "json":
        sys.stdout.write(json.dumps(rows, indent=2, ensure_ascii=False) + "\n")
        return
    console = _console()
    title = f"{ruleset.name} {ruleset.revision}: {len(rows)} rules"
    if console.width < 120:
        # A table would squeeze the summaries into a sliver; two lines per rule stay readable on 80 columns.
        width = max(len(r["id"]) for r in rows)
        console.print(Text(title, style="bold"))
        console.print(Text(f"{'id':<{width}}  {'class':<9} {'verdict':<8} scope", style="bold"))
        for row in rows:
            console.print(Text(f"{row['id']:<{width}}  {row['classification']:<9} {row['verdict']:<8} {row['scope']}"))
            console.print(Text(f"    {row['summary']}", style="dim"))
        return
    table = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False)
    for col in ("id", "class", "verdict", "scope"):
        table.add_column(col, no_wrap=True)
    table.add_column("summary", overflow="fold")
    for row in rows:
        table.add_row(*(escape(str(row[c])) for c in ("id", "classification", "verdict", "scope", "summary")))
    console.print(table)


@rules_app.command("show")
def rules_show(
    rule_id: Annotated[str, typer.Argument(help="A rule id, e.g. LYMPHEDEMA_LIMB.")],
    output: FormatOpt = "text",
    rules: RulesOpt = None,
    policy: PolicyOpt = None,
) -> None:
    """One rule in full: condition, verdicts, advice, sources and the scenarios that exercise it."""
    with _user_errors():
        ruleset = load_ruleset(rules, policy_file=policy)
    ids = [r.id for r in ruleset.rules]
    if rule_id.upper() not in ids:
        near = close(rule_id.upper(), ids, cutoff=60.0)
        hint = f"; did you mean {', '.join(near)}?" if near else ""
        raise _fail(f"error: no rule {rule_id!r}{hint}", EXIT_CODES["invalid"])
    rule: CompiledRule = ruleset.rule(rule_id.upper())
    doc = rule_document(rule, ruleset)
    if output == "json":
        sys.stdout.write(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
        return
    console = _console()
    console.print(Text(f"{rule.id}: {rule.title}", style="bold"))
    for label, value in (
        ("classification", rule.classification),
        ("verdict", f"{rule.verdict} (when information is missing: {rule.unknown_verdict})"),
        ("scope", rule.scope),
        ("topic", rule.topic),
        ("file", rule.file),
        ("when", doc["condition"]),
        ("policy", ", ".join(f"{k}={v}" for k, v in rule.policy.items()) or "none"),
        ("summary", rule.summary),
        ("detail", rule.detail),
    ):
        console.print(Text(f"{label:>14}: {value}"))
    for m in rule.modifications:
        console.print(Text(f"{'instead':>14}: {m}"))
    console.print(Text("Sources", style="bold underline"))
    for s in rule.references:
        console.print(Text(f"  {s.key} [{s.evidence}]: {s.citation}"))
    if doc["body_model"]:
        console.print(Text("Body model (rules/body.yaml)", style="bold underline"))
        for line in doc["body_model"]:
            console.print(Text(f"  {line}"))
    console.print(Text("Scenarios", style="bold underline"))
    if not doc["scenarios"]:
        console.print(Text("  no scenarios found"))
    for sc in doc["scenarios"]:
        console.print(Text(f"  {sc['file']}:{sc['line']}: {sc['title']}"))


@rules_app.command("vocabulary")
def rules_vocabulary(
    name: Annotated[str | None, typer.Argument(help='A site name to place, e.g. "L gastroc"; none lists all.')] = None,
    region: Annotated[str | None, typer.Option(help="The site's region, checked against the name.")] = None,
    output: FormatOpt = "text",
    rules: RulesOpt = None,
) -> None:
    """The site vocabulary (muscles, abbreviations, body words) and where each places a site; or place one name."""
    from needlescreen.vocabulary import VocabularyError

    with _user_errors():
        ruleset = load_ruleset(rules)
    vocab = ruleset.vocabulary
    if name is not None:
        try:
            where = vocab.place(name, region=region)
        except VocabularyError as exc:
            raise _fail(f"error: {exc.field}: {exc}", EXIT_CODES["invalid"]) from None
        placed = {"name": name, "term": where.term, "region": where.region, "side": where.side}
        if output == "json":
            sys.stdout.write(json.dumps(placed, indent=2, ensure_ascii=False) + "\n")
        else:
            label = ruleset.regions[where.region].label
            side = f", side {where.side}" if where.side else ""
            _console().print(Text(f"{name} -> {where.region} ({label}){side}: {where.term}"))
        return
    rows: list[dict[str, Any]] = [
        {
            "name": t.name,
            "kind": t.kind,
            "region": t.region,
            "may_be": list(t.may_be),
            "levels": sorted({r for _, _, r in t.levels}),
            "aliases": list(t.aliases),
        }
        for t in sorted(vocab.terms, key=lambda t: (t.kind, t.name))
    ]
    if output == "json":
        sys.stdout.write(json.dumps(rows, indent=2, ensure_ascii=False) + "\n")
        return
    console = Console(highlight=False, soft_wrap=True)  # one entry per line, for grep
    for row in rows:
        place = row["region"] or "needs the site's region" + (" or a spinal level" if row["levels"] else "")
        extra = [f"{k.replace('_', ' ')}: {', '.join(row[k])}" for k in ("may_be", "levels", "aliases") if row[k]]
        console.print(Text(f"{row['name']} [{row['kind']}] -> {place}" + "".join(f"; {e}" for e in extra)))
    console.print(Text(f"{len(rows)} names ({sum(len(r['aliases']) for r in rows)} aliases)"))


def _problem(p: Any) -> dict[str, Any]:
    return {
        "file": getattr(p, "file", None),
        "rule_id": getattr(p, "rule_id", None),
        "field": getattr(p, "field", None),
        "message": getattr(p, "message", None) or getattr(p, "detail", None) or str(p),
    }


def _lint(directory: Path | None) -> list[dict[str, Any]]:
    """Problems of the rule files (the catalogue linter where it exists, else loading them) and the questionnaire."""
    from needlescreen.questionnaire import load_questionnaire
    from needlescreen.ruleset import default_rules_dir

    root = directory if directory is not None else default_rules_dir()
    try:
        lint = importlib.import_module("needlescreen.lint")
    except ModuleNotFoundError:  # pragma: no cover - the linter ships with the package; kept for older trees
        lint = None
    check_rules = getattr(lint, "check_rules", None)
    features = features_dir(str(root))  # a clinic's ruleset may have no scenarios: nothing to cover then
    problems = [_problem(p) for p in check_rules(root, features if features.is_dir() else None)] if check_rules else []
    try:
        ruleset = load_ruleset(root)
    except RuleFileError as exc:
        # The linter may not check everything loading checks (a verdict's value, say): always report it.
        first = _problem(exc)
        return problems if first in problems else [*problems, first]
    qfile = root / "questionnaire.yaml"
    if qfile.is_file():
        try:
            load_questionnaire(qfile, regions=ruleset.regions)
        except RuleFileError as exc:
            problems.append(_problem(exc))
    return problems


@rules_app.command("body")
def rules_body(output: FormatOpt = "text", rules: RulesOpt = None) -> None:
    """The body model: what each finding, device, nerve and current concerns (rules/body.yaml)."""
    with _user_errors():
        ruleset = load_ruleset(rules)
    model = ruleset.body.describe()
    if output == "json":
        sys.stdout.write(json.dumps(model, indent=2, ensure_ascii=False) + "\n")
        return
    console = _console()
    console.print(Text("Findings: how far each kind reaches", style="bold"))
    for kind, spec in model["findings"].items():
        console.print(Text(f"  {kind}: {spec['extent']}"))
    console.print(Text("Neighbours", style="bold"))
    for region, near in model["neighbours"].items():
        console.print(Text(f"  {ruleset.regions[region].label}: {', '.join(near)}"))
    console.print(Text("Devices: where each kind sits and runs", style="bold"))
    for kind, spec in model["devices"].items():
        places = "; ".join(
            f"at {', '.join(p['at'])}" + (f", runs {', '.join(p['runs'])}" if p["runs"] else "") for p in spec["places"]
        )
        console.print(Text(f"  {kind} ({spec['extent']}): {places}"))
    console.print(Text("Nerves: needling points and the skin they supply", style="bold"))
    for nid, n in model["nerves"].items():
        console.print(Text(f"  {nid}: at {', '.join(n['points'])} -> {', '.join(n['territory'])}"))
    console.print(Text("Current paths", style="bold"))
    for name, chain in model["current_paths"]["chains"].items():
        console.print(Text(f"  {name}: " + " > ".join(" / ".join(seg) for seg in chain)))
    for what, label in model["current_paths"]["crossings"].items():
        console.print(Text(f"  crossing {what}: {label}"))


@rules_app.command("check")
def rules_check(output: FormatOpt = "text", rules: RulesOpt = None) -> None:
    """Check the rule files (and the questionnaire); exit 2 when there is a problem."""
    if rules is not None and not rules.is_dir():
        raise _fail(f"error: {rules}: no such ruleset directory", EXIT_CODES["invalid"])
    problems = _lint(rules)
    if output == "json":
        sys.stdout.write(json.dumps(problems, indent=2, ensure_ascii=False) + "\n")
    else:
        console = Console(highlight=False, soft_wrap=True)  # one problem per line, for grep
        for p in problems:
            where = ": ".join(str(x) for x in (p["file"], p["rule_id"] and f"rule {p['rule_id']}", p["field"]) if x)
            console.print(Text(f"{where}: {p['message']}" if where else str(p["message"])))
        console.print(Text(f"{len(problems)} problem(s)" if problems else "rule files OK"))
    raise typer.Exit(EXIT_CODES["invalid"] if problems else 0)
