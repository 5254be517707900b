"""The ``needlescreen`` command line (typer and rich): the clinician's adapter around :func:`screen`.

Commands: ``check`` (one intake file), ``ask`` (the questionnaire in the terminal), ``explain`` (every rule and
the facts it read), ``rules list|show|check|body|vocabulary`` (the catalogue, the body model and the site
names), ``batch`` (a day's list on every core), ``schema`` (JSON Schemas for integrators) and ``serve`` (the
HTTP service, an optional extra).

Exit codes a script can use: 0 clear, 10 caution, 20 refer, 2 invalid input or rule files, 3 engine error.
A person's mistake (a bad file, a wrong answer) prints ``error: <where>: <field>: <what>`` and never a
traceback; an error inside needlescreen still raises.
"""

from __future__ import annotations

import importlib
import json
import re
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Annotated, Any, Literal

import typer
import yaml
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from .catalogue import features_dir, rule_document
from .conditions import Truth, evaluate
from .errors import EngineError, IntakeError, NeedlescreenError, RuleFileError
from .medications import did_you_mean
from .result import ScreeningResult
from .ruleset import CompiledRule, Ruleset, load_ruleset

__all__ = ["EXIT_CODES", "app", "main", "render"]

EXIT_CODES = {"clear": 0, "caution": 10, "refer": 20, "invalid": 2, "engine": 3}
_COLOURS = {"clear": "bold white on green", "caution": "bold black on yellow", "refer": "bold white on red"}
_WORDS = {
    "clear": "CLEAR - no contraindication found in the information given",
    "caution": "CAUTION - needle only with the modifications below",
    "refer": "REFER - do not needle (at the sites shown) without clearance",
}

app = typer.Typer(
    name="needlescreen",
    help="Screen a patient for contraindications before dry needling and electrical dry needling.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
rules_app = typer.Typer(help="Read and check the rule catalogue.", no_args_is_help=True)


def _print_version(value: bool) -> None:
    if value:
        from ._version import package_version

        sys.stdout.write(f"needlescreen {package_version()}\n")
        raise typer.Exit(0)


@app.callback()
def _options(
    version: Annotated[
        bool, typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Screen a patient for contraindications before dry needling and electrical dry needling."""


app.add_typer(rules_app, name="rules")

EngineOpt = Annotated[
    Literal["auto", "durable_rules", "plain"], typer.Option(help="auto uses durable_rules where it loads")
]
PolicyOpt = Annotated[Path | None, typer.Option(help="A clinic policy override file.")]
RulesOpt = Annotated[Path | None, typer.Option(help="A ruleset directory (default: the bundled one).")]
FormatOpt = Annotated[Literal["text", "json"], typer.Option("--format", "-f", help="text or json")]


def _console(stderr: bool = False) -> Console:
    return Console(stderr=stderr, highlight=False, soft_wrap=False)


def _fail(message: str, code: int) -> typer.Exit:
    # Never wrapped: an error names a file path or a field, which a line break would cut in two.
    console = Console(stderr=True, highlight=False, soft_wrap=True)
    console.print(Text(message, style="bold red" if sys.stderr.isatty() else ""))
    return typer.Exit(code)


def _intake_error(exc: IntakeError, source: str | None = None) -> typer.Exit:
    where = exc.source or source
    prefix = f"error: {where}: " if where else "error: "
    lines = [f"{prefix}{p.path or '(intake)'}: {p.message}" for p in exc.problems]
    return _fail("\n".join(lines), EXIT_CODES["invalid"])


@contextmanager
def _user_errors(source: str | None = None) -> Iterator[None]:
    """Turn the errors a person can cause and fix into one-line messages and exit codes."""
    try:
        yield
    except IntakeError as exc:
        raise _intake_error(exc, source) from None
    except RuleFileError as exc:
        raise _fail(f"error: {exc}", EXIT_CODES["invalid"]) from None
    except EngineError as exc:
        raise _fail(f"engine error (no verdict given): {exc}", EXIT_CODES["engine"]) from None


def _read(path: str) -> tuple[str, str]:
    try:
        if path == "-":
            return sys.stdin.buffer.read().decode("utf-8"), "<stdin>"
        return Path(path).read_text(encoding="utf-8"), path
    except OSError as exc:
        raise _fail(f"error: cannot read {path}: {exc.strerror}", EXIT_CODES["invalid"]) from None
    except UnicodeDecodeError as exc:
        name = "<stdin>" if path == "-" else path
        raise _fail(f"error: {name}: not UTF-8 text (byte {exc.start})", EXIT_CODES["invalid"]) from None


def _screener(rules: Path | None, policy: Path | None, engine: str) -> Any:
    from .screening import Screener

    return Screener(load_ruleset(rules, policy_file=policy), engine=engine)  # type: ignore[arg-type]


def _listed(facts: Mapping[str, Any]) -> list[str]:
    """The entries of the list facts a finding read (e.g. the two answers that contradict each other)."""
    from .facts import FACTS

    return [str(e) for n, v in facts.items() if n in FACTS and FACTS[n].type == "list" for e in v]


def render(result: ScreeningResult, console: Console) -> None:
    """Print a result for a clinician: verdict first, then reasons, alternatives, sources and what is missing."""
    console.print(Panel(Text(_WORDS[result.verdict], justify="center"), style=_COLOURS[result.verdict]))
    technique = "electrical dry needling" if result.technique == "electrical" else "dry needling"
    console.print(f"Planned: {technique}")
    sites = Table(title="Sites", show_lines=False, expand=False)
    sites.add_column("site")
    sites.add_column("where")
    sites.add_column("verdict")
    for sv in result.sites:
        where = " ".join(x for x in (sv.site.side, sv.site.region_label) if x)
        if sv.site.muscle:
            where += f" ({sv.site.muscle})"
        if sv.site.nerve:
            where += f" ({sv.site.nerve.replace('_', ' ')} nerve, perineural)"
        sites.add_row(escape(sv.site.id), escape(where), Text(sv.verdict.upper(), style=_COLOURS[sv.verdict]))
    console.print(sites)
    if result.findings:
        console.print(Text("Reasons", style="bold underline"))
    cited: dict[str, str] = {}
    for f in result.findings:
        where = f" - site {f.site.id}" if f.site else f" - circuit {f.circuit[0]}~{f.circuit[1]}" if f.circuit else ""
        status = " (information missing)" if f.status == "unknown" else ""
        head = Text()
        head.append(f" {f.verdict.upper()} ", style=_COLOURS[f.verdict])
        head.append(f" {f.summary}{status}{where}  [{f.rule_id}, {f.classification}]")
        console.print(head)
        for entry in _listed(f.facts):
            console.print(Text(f"    {entry}"))
        for m in f.modifications:
            console.print(Text(f"    instead: {m}"))
        if f.missing:
            console.print(Text(f"    unknown: {', '.join(f.missing)}"))
        console.print(Text(f"    sources: {', '.join(r.key for r in f.references)}", style="dim"))
        cited.update({r.key: r.citation for r in f.references})
    if result.missing:
        console.print(Text("Still unknown (answer these to firm up the verdict)", style="bold underline"))
        for item in result.missing:
            console.print(Text(f"  - {item.question}  [{item.fact}; {', '.join(item.rules)}]"))
    if result.unrecognised_medications:
        hints = [(n, did_you_mean(n)) for n in result.unrecognised_medications]
        names = ", ".join(f"{n} (did you mean {h}?)" if h else n for n, h in hints)
        console.print(Text(f"Unrecognised medications (verify): {names}"))
    if cited:
        console.print(Text("Sources", style="bold underline"))
        for key, citation in sorted(cited.items()):
            console.print(Text(f"  {key}: {citation}", style="dim"))
    console.print(
        Text(
            f"ruleset {result.ruleset.name} {result.ruleset.revision} ({result.ruleset.content_hash[:12]}), "
            f"engine {result.engine}, decision {result.decision_id}",
            style="dim",
        )
    )


def _emit(result: ScreeningResult, output: str) -> None:
    if output == "json":
        sys.stdout.write(result.model_dump_json(indent=2) + "\n")
    else:
        render(result, _console())


@app.command()
def check(
    file: Annotated[str, typer.Argument(help="Intake as JSON or YAML; '-' reads standard input.")],
    output: FormatOpt = "text",
    engine: EngineOpt = "auto",
    policy: PolicyOpt = None,
    rules: RulesOpt = None,
) -> None:
    """Screen one intake and print the verdict with its reasons."""
    from .screening import parse_intake

    text, source = _read(file)
    with _user_errors(source):
        intake = parse_intake(text, source=source)
        result = _screener(rules, policy, engine).screen(intake)
    _emit(result, output)
    raise typer.Exit(EXIT_CODES[result.verdict])


# --- explain ------------------------------------------------------------------------------------------------


def _shown(value: object) -> object:
    return sorted(value) if isinstance(value, frozenset) else value


def _explain(ruleset: Ruleset, facts: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for rule in ruleset.rules:
        if rule.fact_scope == "patient":
            sets = [("patient", facts.patient)]
        elif rule.fact_scope == "site":
            sets = [(f"site {site.id}", fs) for site, fs in facts.sites]
        else:
            sets = [(f"circuit {name}", fs) for name, fs in facts.circuits]
        evaluations = []
        for where, fs in sets:
            truth = evaluate(rule.condition, fs)
            verdict = rule.verdict if truth is Truth.TRUE else rule.unknown_verdict if truth is Truth.UNKNOWN else None
            evaluations.append(
                {
                    "where": where,
                    "outcome": truth.name.lower(),
                    "verdict": verdict,
                    "facts": {n: _shown(fs[n]) if n in fs else "unknown" for n in rule.reads},
                }
            )
        out.append({"rule_id": rule.id, "scope": rule.scope, "title": rule.title, "evaluations": evaluations})
    return out


@app.command()
def explain(
    file: Annotated[str, typer.Argument(help="Intake as JSON or YAML; '-' reads standard input.")],
    output: FormatOpt = "text",
    policy: PolicyOpt = None,
    rules: RulesOpt = None,
) -> None:
    """Show every rule, whether it fired for this intake, and the facts it looked at."""
    from .facts import normalise
    from .screening import parse_intake

    text, source = _read(file)
    with _user_errors(source):
        ruleset = load_ruleset(rules, policy_file=policy)
        intake = parse_intake(text, source=source)
        facts = normalise(
            intake, ruleset.regions, ruleset.medications, ruleset.codes, ruleset.body, vocabulary=ruleset.vocabulary
        )
    report = _explain(ruleset, facts)
    if output == "json":
        sys.stdout.write(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
        return
    console = _console()
    marks = {"true": "FIRED", "unknown": "UNKNOWN", "false": "no"}
    for entry in report:
        console.print(Text(f"{entry['rule_id']}  ({entry['scope']}) {entry['title']}", style="bold"))
        if not entry["evaluations"]:
            console.print(Text("    not evaluated: no circuit in this plan", style="dim"))
        for ev in entry["evaluations"]:
            verdict = f" -> {ev['verdict']}" if ev["verdict"] else ""
            facts_text = ", ".join(f"{k}={v}" for k, v in ev["facts"].items())
            console.print(Text(f"    {ev['where']}: {marks[ev['outcome']]}{verdict}  [{facts_text}]"))


# --- ask ------------------------------------------------------------------------------------------------------


class _Answers:
    """Where answers come from: a person at a terminal (re-asks on a mistake) or a program (one per line)."""

    def __init__(self, stream: IO[str], interactive: bool, console: Console) -> None:
        self.stream = stream
        self.interactive = interactive
        self.console = console
        self.line = 0
        self.ended = False

    def read(self, prompt: Text) -> str | None:
        if self.interactive:
            try:
                return self.console.input(prompt)
            except EOFError:
                return None
        raw = self.stream.readline()
        if raw == "":
            self.ended = True
            return None
        self.line += 1
        # A trailing "  # note" is a comment, so a file of answers can say which question each line answers.
        return re.sub(r"(^|\s)#.*$", "", raw.rstrip("\r\n"))


def _ask_all(questionnaire: Any, source: _Answers, console: Console) -> dict[str, Any]:
    from .questionnaire import AnswerError

    answers: dict[str, Any] = {}
    section = None
    skipped = 0
    for item in questionnaire.items:
        if not questionnaire.enabled(item, answers):
            continue
        if item.section and item.section != section:
            section = item.section
            if source.interactive:
                console.rule(Text(section, style="bold"))
            else:
                console.print(Text(f"== {section}"))
        hint = questionnaire.hint(item)
        while True:
            if source.ended:
                raw = None
            else:
                if source.interactive and item.help:
                    console.print(Text(f"  {item.help}", style="dim"))
                # A Text, not a str: "[yes/no]" would otherwise be read as rich markup and vanish.
                raw = source.read(Text.assemble((item.text, "bold"), " ", (f"[{hint}]", "cyan"), " "))
                if raw is None and source.interactive:
                    raise _fail("error: questionnaire cancelled; nothing was saved", EXIT_CODES["invalid"])
            try:
                value = questionnaire.parse(item, raw, answers)
            except AnswerError as exc:
                if source.interactive:
                    console.print(Text(f"  {exc}", style="bold red"))
                    continue
                where = f"answer on line {source.line}" if not source.ended else "end of input"
                raise _fail(f"error: {where}: {item.id}: {exc}", EXIT_CODES["invalid"]) from None
            break
        if source.ended:
            skipped += 1
        elif not source.interactive:
            console.print(Text(f"{item.text} [{hint}] -> {'unknown' if value is None else raw}"))
        answers[item.id] = value
    if skipped:
        console.print(Text(f"input ended: {skipped} remaining question(s) recorded as unknown"))
    return answers


def _save(path: Path, data: Any, text: str | None = None) -> None:
    if text is None:
        if path.suffix.lower() in (".yaml", ".yml"):
            text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
        else:
            text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise _fail(f"error: cannot write {path}: {exc.strerror}", EXIT_CODES["invalid"]) from None


@app.command()
def ask(  # noqa: PLR0917 - typer maps each parameter to a command-line option
    save_intake: Annotated[
        Path | None, typer.Option(help="Write the answers as an intake file (JSON, or YAML for .yaml).")
    ] = None,
    save_result: Annotated[Path | None, typer.Option(help="Write the screening result as JSON.")] = None,
    output: FormatOpt = "text",
    engine: EngineOpt = "auto",
    policy: PolicyOpt = None,
    rules: RulesOpt = None,
    questionnaire_file: Annotated[
        Path | None, typer.Option("--questionnaire", help="A questionnaire file (default: the bundled one).")
    ] = None,
) -> None:
    """Ask the screening questions in the terminal, then screen the answers.

    On a terminal it prompts and re-asks after a mistake. Driven by a program it reads one answer per line from
    standard input (an empty line, '?' or 'unknown' for "not known"; text after ' #' is a comment, and every
    line is one answer), writes the questions to standard error, stops at the first answer that does not fit,
    and records the questions left when input ends as unknown.
    """
    from .questionnaire import load_questionnaire
    from .screening import parse_intake

    interactive = sys.stdin.isatty()
    with _user_errors():
        ruleset = load_ruleset(rules, policy_file=policy)
        qfile = questionnaire_file
        if qfile is None and rules is not None and (rules / "questionnaire.yaml").is_file():
            qfile = rules / "questionnaire.yaml"
        questionnaire = load_questionnaire(qfile, regions=ruleset.regions, vocabulary=ruleset.vocabulary)
        from .screening import Screener

        screener = Screener(ruleset, engine=engine)
    prompts = _console(stderr=not interactive)
    if interactive:
        prompts.print(Text(questionnaire.title, style="bold"))
        prompts.print(Text("Answer each question; press Enter or type ? when it is not known.", style="dim"))
    try:
        answers = _ask_all(questionnaire, _Answers(sys.stdin, interactive, prompts), prompts)
    except KeyboardInterrupt:
        # Stopped half-way: a partial screening would look like a verdict, so nothing is screened or saved.
        sys.stderr.write("\ninterrupted: nothing was screened or saved\n")
        raise typer.Exit(130) from None
    data = questionnaire.build(answers)
    with _user_errors():
        intake = parse_intake(data, source="the answers")
        result = screener.screen(intake)
    if save_intake is not None:
        _save(save_intake, intake.model_dump(mode="json", exclude_none=True))
    if save_result is not None:
        _save(save_result, None, result.model_dump_json(indent=2) + "\n")
    _emit(result, output)
    raise typer.Exit(EXIT_CODES[result.verdict])


# --- rules ----------------------------------------------------------------------------------------------------


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
    import difflib

    with _user_errors():
        ruleset = load_ruleset(rules, policy_file=policy)
    ids = [r.id for r in ruleset.rules]
    if rule_id.upper() not in ids:
        close = difflib.get_close_matches(rule_id.upper(), ids, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
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
    from .vocabulary import VocabularyError

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
    from .questionnaire import load_questionnaire
    from .ruleset import default_rules_dir

    root = directory if directory is not None else default_rules_dir()
    try:
        lint = importlib.import_module("needlescreen.lint")
    except ModuleNotFoundError:  # pragma: no cover - the linter ships with the package; kept for older trees
        lint = None
    check_rules = getattr(lint, "check_rules", None)
    features = features_dir(str(root))  # an installed package has no scenarios: nothing to cover then
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


# --- batch ----------------------------------------------------------------------------------------------------


def _default_output(path: str, what: str) -> Path:
    p = Path(path)
    stem = p.name[: -len(p.suffix)] if p.suffix else p.name
    return p.with_name(f"{stem}.{what}.jsonl")


@app.command()
def batch(  # noqa: PLR0917 - typer maps each parameter to a command-line option
    file: Annotated[str, typer.Argument(help="JSON lines (one intake per line) or CSV (an 'intake' column).")],
    out: Annotated[
        Path | None, typer.Option("--output", "-o", help="Results file (default FILE.results.jsonl; '-' = stdout).")
    ] = None,
    errors: Annotated[Path | None, typer.Option(help="Errors file (default FILE.errors.jsonl).")] = None,
    input_format: Annotated[
        Literal["auto", "jsonl", "csv"], typer.Option(help="auto: CSV for .csv files, else JSON lines")
    ] = "auto",
    workers: Annotated[int | None, typer.Option(min=1, help="Worker processes (default: every core).")] = None,
    strict: Annotated[bool, typer.Option(help="Exit 2 when any row was rejected.")] = False,
    summary_format: Annotated[
        Literal["text", "json"], typer.Option("--format", "-f", help="Summary as text or json")
    ] = "text",
    engine: EngineOpt = "auto",
    policy: PolicyOpt = None,
    rules: RulesOpt = None,
) -> None:
    """Screen every intake of a file on every core: one result per row, rejected rows to an errors file.

    Rows in = results out + errors out. Exit 0 when every row was processed (rejected rows included, unless
    --strict), 2 for an unreadable file or rule files, 3 when the engine failed on any row.
    """
    import os

    from .batch import BatchConfig, Summary, count_rows, detect_format, read_rows, screen_rows

    from_stdin = file == "-"
    if from_stdin and (out is None or errors is None):
        raise _fail("error: reading standard input needs --output and --errors", EXIT_CODES["invalid"])
    if not from_stdin and not Path(file).is_file():
        raise _fail(f"error: cannot read {file}: no such file", EXIT_CODES["invalid"])
    results_path = out if out is not None else _default_output(file, "results")
    errors_path = errors if errors is not None else _default_output(file, "errors")
    if not from_stdin and any(
        str(p) != "-" and p.resolve() == Path(file).resolve() for p in (results_path, errors_path)
    ):
        raise _fail("error: an output file would overwrite the input", EXIT_CODES["invalid"])
    fmt = detect_format(file) if input_format == "auto" else input_format
    config = BatchConfig(rules=str(rules) if rules else None, policy=str(policy) if policy else None, engine=engine)
    with _user_errors():
        load_ruleset(rules, policy_file=policy)  # fail on bad rule files before reading a single row
    total = None if from_stdin else count_rows(Path(file), fmt)
    summary = Summary()
    progress_console = _console(stderr=True)
    show_progress = sys.stderr.isatty()
    stream: IO[bytes] = sys.stdin.buffer if from_stdin else Path(file).open("rb")  # noqa: SIM115 - closed below
    try:
        results_out: IO[str] = (
            sys.stdout if str(results_path) == "-" else results_path.open("w", encoding="utf-8", newline="\n")
        )
        errors_out = errors_path.open("w", encoding="utf-8", newline="\n")
    except OSError as exc:
        stream.close()
        raise _fail(f"error: cannot write {exc.filename}: {exc.strerror}", EXIT_CODES["invalid"]) from None
    try:
        with _user_errors():
            outcomes = screen_rows(read_rows(stream, fmt, name=file), config, workers=workers or os.cpu_count())
            if show_progress:
                from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

                with Progress(
                    TextColumn("screening"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                    console=progress_console,
                ) as progress:  # fmt: skip
                    task = progress.add_task("rows", total=total)
                    for outcome in outcomes:
                        _write(outcome, results_out, errors_out, summary)
                        progress.advance(task)
            else:
                for outcome in outcomes:
                    _write(outcome, results_out, errors_out, summary)
    finally:
        stream.close()
        errors_out.close()
        if results_out is not sys.stdout:
            results_out.close()
    c = summary.counts
    if summary_format == "json":
        data: dict[str, Any] = {"rows": summary.rows, "results": summary.results, "errors": summary.errors, **c}
        data |= {"results_file": str(results_path), "errors_file": str(errors_path)}
        target = sys.stderr if str(results_path) == "-" else sys.stdout
        target.write(json.dumps(data) + "\n")
    else:
        progress_console.print(
            Text(
                f"{summary.rows} rows: clear {c['clear']}, caution {c['caution']}, refer {c['refer']}, "
                f"rejected {c['invalid']}, engine errors {c['engine']}, internal errors {c['internal']}\n"
                f"results: {results_path} ({summary.results}); errors: {errors_path} ({summary.errors})"
            )
        )
    if summary.failed:
        raise typer.Exit(EXIT_CODES["engine"])
    if strict and c["invalid"]:
        raise typer.Exit(EXIT_CODES["invalid"])
    raise typer.Exit(0)


def _write(outcome: Any, results: IO[str], errors: IO[str], summary: Any) -> None:
    summary.add(outcome.kind)
    target = results if outcome.kind in ("clear", "caution", "refer") else errors
    target.write(outcome.json_line + "\n")


# --- schema ---------------------------------------------------------------------------------------------------


@app.command()
def schema(
    which: Annotated[Literal["intake", "result"], typer.Argument(help="intake or result")] = "intake",
) -> None:
    """Print the JSON Schema of the intake or the result, for integrators."""
    from .intake import Intake

    model = Intake if which == "intake" else ScreeningResult
    sys.stdout.write(json.dumps(model.model_json_schema(), indent=2) + "\n")


# --- serve ----------------------------------------------------------------------------------------------------

_SERVER_MODULES = {"fastapi", "starlette", "uvicorn", "sqlalchemy", "alembic", "orjson", "psycopg"}


@app.command()
def serve(
    *,
    host: Annotated[str, typer.Option(help="Address to bind; other than loopback only with --auth.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
    workers: Annotated[int, typer.Option(min=1, max=64, help="uvicorn worker processes, each with its own engine")] = 2,
    auth: Annotated[
        list[str] | None, typer.Option(help="An accepted API key or bearer token (repeat for several).")
    ] = None,
    auth_file: Annotated[Path | None, typer.Option(help="A file of accepted keys, one a line.")] = None,
    database_url: Annotated[
        str | None,
        typer.Option(envvar="NEEDLESCREEN_DATABASE_URL", help="SQLAlchemy URL; default sqlite:///needlescreen.db"),
    ] = None,
    cors_origin: Annotated[list[str] | None, typer.Option(help="An origin CORS allows (none by default).")] = None,
    engine: EngineOpt = "auto",
    rules: RulesOpt = None,
    policy: PolicyOpt = None,
) -> None:
    """Run the HTTP service (needs the server extra): screenings, stored records, rules, schema, questionnaire."""
    try:
        from .server.run import serve as run
        from .server.settings import DEFAULT_DATABASE_URL, Settings
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] not in _SERVER_MODULES:
            raise
        raise _fail("error: the service needs the server extra: pip install 'needlescreen[server]'", 2) from None
    keys = list(auth or [])
    if auth_file is not None:
        text, _ = _read(str(auth_file))
        keys += [line.strip() for line in text.splitlines() if line.strip()]
    settings = Settings(
        database_url=database_url or DEFAULT_DATABASE_URL,
        host=host,
        api_keys=tuple(keys),
        rules_dir=str(rules) if rules else None,
        policy_file=str(policy) if policy else None,
        engine=engine,
        cors_origins=tuple(cors_origin or ()),
    )
    try:
        settings.check()
    except ValueError as exc:
        raise _fail(f"error: {exc}", EXIT_CODES["invalid"]) from None
    with _user_errors():
        run(settings, port=port, workers=workers)


def main() -> None:
    """Entry point of the ``needlescreen`` script."""
    try:
        app()
    except NeedlescreenError as exc:  # pragma: no cover - every command maps these; a last line of defence
        sys.stderr.write(f"error: {exc}\n")
        sys.exit(EXIT_CODES["engine"] if isinstance(exc, EngineError) else EXIT_CODES["invalid"])
