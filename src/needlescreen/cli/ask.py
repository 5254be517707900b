"""``ask``: the screening questions at the terminal or from a program, then the verdict."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import IO, Annotated, Any

import typer
import yaml
from rich.console import Console
from rich.text import Text

from needlescreen.ruleset import load_ruleset

from ._app import (
    EXIT_CODES,
    EngineOpt,
    FormatOpt,
    PolicyOpt,
    RulesOpt,
    _console,
    _fail,
    _user_errors,
    app,
)
from .render import _emit


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
    from needlescreen.questionnaire import AnswerError

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
    from needlescreen.questionnaire import load_questionnaire
    from needlescreen.screening import parse_intake

    interactive = sys.stdin.isatty()
    with _user_errors():
        ruleset = load_ruleset(rules, policy_file=policy)
        qfile = questionnaire_file
        if qfile is None and rules is not None and (rules / "questionnaire.yaml").is_file():
            qfile = rules / "questionnaire.yaml"
        questionnaire = load_questionnaire(qfile, regions=ruleset.regions, vocabulary=ruleset.vocabulary)
        from needlescreen.screening import Screener

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
