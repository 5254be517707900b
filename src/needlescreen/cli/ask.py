"""``ask``: the screening questions at the terminal or from a program, then the verdict.

The walk is generic over the questionnaire: the next question is the first one, in file order, that
``Questionnaire.enabled`` opens and that has no answer yet; ``Questionnaire.parse`` reads each answer and
``Questionnaire.build`` makes the intake. So a short first pass whose "yes" opens follow-ups needs nothing here.

A session never loses answers: ``back`` takes the previous answer back to be given again; when the session stops
before a result is saved (Ctrl-C, the end of a terminal session, an answer a required question cannot take, a
save path that cannot be written) the answers so far are kept in a draft file that ``ask --resume DRAFT``
continues. Driven by a program, an answer that cannot be read is reported with its line number and recorded as
unknown (never as no), and the session goes on.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sys
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Annotated, Any

import typer
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from rich.console import Console
from rich.text import Text

from needlescreen.errors import IntakeError
from needlescreen.ruleset import load_ruleset

from ._app import (
    EXIT_CODES,
    EngineOpt,
    FormatOpt,
    FullOpt,
    PolicyOpt,
    RulesOpt,
    _console,
    _fail,
    _intake_error,
    _user_errors,
    app,
)
from .render import _emit

if TYPE_CHECKING:
    from needlescreen.questionnaire import Item, Questionnaire

#: What a person types to take the previous answer back and give it again.
BACK_WORDS = frozenset({"back", "<"})
DRAFT_SCHEMA = "needlescreen.ask-draft/1"


class _DraftAnswer(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    id: str = Field(max_length=64)
    text: str | None = Field(default=None, max_length=10_000)


class _Draft(BaseModel):
    """The answers of a session that stopped early, as typed, in the order they were given."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    schema_: str = Field(alias="schema", pattern=r"^needlescreen\.ask-draft/1$")
    questionnaire: str
    saved: str
    reason: str
    answers: list[_DraftAnswer] = Field(max_length=1_000)


class _Stop(Exception):
    """The session cannot go on (a required answer cannot be read); the answers so far are kept."""


@dataclass
class _Session:
    """The answers so far, in the order they were given, with what was typed for each."""

    questionnaire: Questionnaire
    answers: dict[str, Any] = field(default_factory=dict)
    typed: dict[str, str | None] = field(default_factory=dict)
    history: list[str] = field(default_factory=list)
    #: Answers a program gave that could not be read: (line, question id, text, why), each recorded as unknown.
    unread: list[tuple[int, str, str, str]] = field(default_factory=list)
    skipped: int = 0

    def next_item(self) -> Item | None:
        q = self.questionnaire
        return next((i for i in q.items if i.id not in self.answers and q.enabled(i, self.answers)), None)

    def record(self, item: Item, value: Any, typed: str | None) -> None:
        self.answers[item.id] = value
        self.typed[item.id] = typed
        self.history.append(item.id)

    def back(self) -> Item | None:
        """Take the last answer back; the question it answered is asked next (it is the first unanswered one,
        since questions are asked in file order and gating only looks at earlier questions)."""
        if not self.history:
            return None
        last = self.history.pop()
        del self.answers[last]
        self.typed.pop(last, None)
        self.unread = [u for u in self.unread if u[1] != last]
        return self.questionnaire.item(last)

    def draft(self, reason: str) -> dict[str, Any]:
        return {
            "schema": DRAFT_SCHEMA,
            "questionnaire": self.questionnaire.title,
            "saved": datetime.now(UTC).isoformat(timespec="seconds"),
            "reason": reason,
            "answers": [{"id": i, "text": self.typed.get(i)} for i in self.history],
        }


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
        return re.sub(r"(^|\s)#.*$", "", raw.rstrip("\r\n")).strip()


def _is_back(raw: str | None) -> bool:
    return raw is not None and raw.strip().lower() in BACK_WORDS


def _replay(session: _Session, item: Item, replay: dict[str, str | None], console: Console) -> bool:
    """Answer ``item`` from a draft when the draft has an answer that still fits; False to ask it."""
    from needlescreen.questionnaire import AnswerError

    if item.id not in replay:
        return False
    text = replay.pop(item.id)
    try:
        value = session.questionnaire.parse(item, text, session.answers)
    except AnswerError as exc:
        console.print(Text(f"draft: {item.id}: {exc}; asked again"))
        return False
    session.record(item, value, text)
    return True


def _walk(session: _Session, source: _Answers, console: Console, replay: dict[str, str | None]) -> None:
    """Ask every question the answers open, in order, until none is left."""
    section = None
    while (item := session.next_item()) is not None:
        if _replay(session, item, replay, console):
            continue
        if item.section and item.section != section:
            section = item.section
            if source.interactive:
                console.rule(Text(section, style="bold"))
            else:
                console.print(Text(f"== {section}"))
        if source.interactive:
            _ask_at_terminal(session, item, source, console)
        else:
            _ask_from_program(session, item, source, console)
    if session.skipped:
        console.print(Text(f"input ended: {session.skipped} remaining question(s) recorded as unknown"))


def _went_back(session: _Session, console: Console, where: str) -> None:
    previous = session.back()
    if previous is None:
        console.print(Text(f"{where}nothing to go back to"))
    else:
        console.print(Text(f"{where}back to: {previous.text}"))


def _ask_at_terminal(session: _Session, item: Item, source: _Answers, console: Console) -> None:
    from needlescreen.questionnaire import AnswerError

    q = session.questionnaire
    prompt = Text.assemble((item.text, "bold"), " ", (f"[{q.hint(item)}]", "cyan"), " ")
    while True:
        if item.help:
            console.print(Text(f"  {item.help}", style="dim"))
        # A Text, not a str: "[yes/no]" would otherwise be read as rich markup and vanish.
        raw = source.read(prompt)
        if raw is None:
            raise _Stop("questionnaire ended at the terminal (Ctrl-D)")
        if _is_back(raw):
            _went_back(session, console, "  ")
            return
        try:
            value = q.parse(item, raw, session.answers)
        except AnswerError as exc:
            console.print(Text(f"  {exc}", style="bold red"))
            continue
        session.record(item, value, raw)
        return


def _ask_from_program(session: _Session, item: Item, source: _Answers, console: Console) -> None:
    from needlescreen.questionnaire import AnswerError

    q = session.questionnaire
    hint = q.hint(item)
    raw = None if source.ended else source.read(Text(""))
    if raw is None:
        try:
            value = q.parse(item, None, session.answers)
        except AnswerError as exc:
            raise _Stop(f"end of input: {item.id}: {exc}") from None
        session.skipped += 1
        session.record(item, value, None)
        return
    if _is_back(raw):
        _went_back(session, console, f"line {source.line}: ")
        return
    try:
        value = q.parse(item, raw, session.answers)
    except AnswerError as exc:
        if item.required:
            raise _Stop(f"answer on line {source.line}: {item.id}: {exc}") from None
        # Read as unknown, never as no; the line is named so the answer can be checked. An unknown may open
        # follow-ups the intended answer would not have: the next lines then answer those, so say which.
        session.record(item, None, None)
        opened = [
            i.id
            for i in q.items
            if i.id not in session.answers
            and any(c.question == item.id for c in i.enable_when)
            and q.enabled(i, session.answers)
        ]
        also = f"; this opens {', '.join(opened)}, which the next lines answer" if opened else ""
        console.print(Text(f"line {source.line}: {item.id}: {exc}: {raw.strip()!r} recorded as unknown{also}"))
        session.unread.append((source.line, item.id, raw.strip(), str(exc)))
        return
    session.record(item, value, raw)
    console.print(Text(f"{item.text} [{hint}] -> {'unknown' if value is None else raw}"))


def _load_draft(path: Path) -> dict[str, str | None]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise _fail(f"error: cannot read {path}: {exc.strerror}", EXIT_CODES["invalid"]) from None
    except UnicodeDecodeError:
        raise _fail(f"error: {path}: not UTF-8 text", EXIT_CODES["invalid"]) from None
    try:
        draft = _Draft.model_validate_json(text)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in err["loc"]) or "(draft)"
        raise _fail(f"error: {path}: not an ask draft: {where}: {err['msg']}", EXIT_CODES["invalid"]) from None
    return {a.id: a.text for a in draft.answers}


def _default_draft() -> Path:
    return Path(f"needlescreen-draft-{datetime.now().strftime('%Y%m%d-%H%M%S')}.json")


def _keep(session: _Session, path: Path, reason: str) -> str:
    """Write the answers so far to a draft (only its owner may read it: it holds patient answers) and say where."""
    if not session.history:
        return "no answers to keep"
    data = json.dumps(session.draft(reason), indent=2, ensure_ascii=False) + "\n"
    for target in (path, Path(tempfile.gettempdir()) / path.name):
        try:
            fd, tmp = tempfile.mkstemp(prefix=".needlescreen-draft-", dir=target.parent)
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(data)
            os.replace(tmp, target)
        except OSError:
            continue
        return f"{len(session.history)} answer(s) kept in {target}; continue with: needlescreen ask --resume {target}"
    return "the answers could not be kept (no writable place for a draft)"


def _check_target(path: Path | None) -> None:
    """Refuse a save path whose directory does not exist before anything is asked."""
    if path is not None and not path.resolve().parent.is_dir():
        raise _fail(f"error: cannot write {path}: no such directory", EXIT_CODES["invalid"])


def _save(path: Path, data: Any, text: str | None = None) -> None:
    if text is None:
        if path.suffix.lower() in (".yaml", ".yml"):
            text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
        else:
            text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    path.write_text(text, encoding="utf-8")


@app.command()
def ask(  # noqa: PLR0917 - typer maps each parameter to a command-line option
    save_intake: Annotated[
        Path | None, typer.Option(help="Write the answers as an intake file (JSON, or YAML for .yaml).")
    ] = None,
    save_result: Annotated[Path | None, typer.Option(help="Write the screening result as JSON.")] = None,
    resume: Annotated[
        Path | None, typer.Option(help="Continue a session from the draft it left (its answers are asked no more).")
    ] = None,
    draft: Annotated[
        Path | None,
        typer.Option(help="Where to keep the answers if the session stops early (default: a new file here)."),
    ] = None,
    output: FormatOpt = "text",
    full: FullOpt = False,
    engine: EngineOpt = "auto",
    policy: PolicyOpt = None,
    rules: RulesOpt = None,
    questionnaire_file: Annotated[
        Path | None, typer.Option("--questionnaire", help="A questionnaire file (default: the bundled one).")
    ] = None,
) -> None:
    """Ask the screening questions in the terminal, then screen the answers.

    Only the questions earlier answers open are asked. Type 'back' to change the previous answer; an empty
    answer, '?' or 'unknown' means not known (never no). On a terminal a mistake is explained and asked again.
    Driven by a program it reads one answer per line from standard input (text after ' #' is a comment),
    writes the questions to standard error, records an answer it cannot read as unknown (naming its line), and
    records the questions left when input ends as unknown. Ctrl-C, or a file that cannot be saved, keeps the
    answers in a draft that --resume continues.
    """
    from needlescreen.questionnaire import load_questionnaire
    from needlescreen.screening import Screener, parse_intake

    interactive = sys.stdin.isatty()
    with _user_errors():
        ruleset = load_ruleset(rules, policy_file=policy)
        qfile = questionnaire_file
        if qfile is None and rules is not None and (rules / "questionnaire.yaml").is_file():
            qfile = rules / "questionnaire.yaml"
        questionnaire = load_questionnaire(qfile, regions=ruleset.regions, vocabulary=ruleset.vocabulary)
        screener = Screener(ruleset, engine=engine)
    _check_target(save_intake)
    _check_target(save_result)
    replay = _load_draft(resume) if resume is not None else {}
    draft_path = draft or resume or _default_draft()
    # A program reading the questions gets one line per question or message, never wrapped.
    prompts = _console() if interactive else Console(stderr=True, highlight=False, soft_wrap=True)
    session = _Session(questionnaire)
    if interactive:
        prompts.print(Text(questionnaire.title, style="bold"))
        prompts.print(
            Text(
                "Answer each question; Enter or ? when it is not known; 'back' changes the previous answer; "
                "Ctrl-C keeps a draft.",
                style="dim",
            )
        )
    if resume is not None:
        prompts.print(Text(f"resuming {len(replay)} answer(s) from {resume}"))
    try:
        _walk(session, _Answers(sys.stdin, interactive, prompts), prompts, replay)
    except KeyboardInterrupt:
        # Stopped half-way: a partial screening would look like a verdict, so nothing is screened. A second
        # Ctrl-C while the draft is written must not lose it.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        sys.stderr.write(f"\ninterrupted: nothing was screened; {_keep(session, draft_path, 'interrupted')}\n")
        raise typer.Exit(130) from None
    except _Stop as stop:
        raise _fail(f"error: {stop}\n{_keep(session, draft_path, str(stop))}", EXIT_CODES["invalid"]) from None
    data = questionnaire.build(session.answers)
    try:
        intake = parse_intake(data, source="the answers")
    except IntakeError as exc:
        sys.stderr.write(_keep(session, draft_path, "the answers are not a valid intake") + "\n")
        raise _intake_error(exc) from None
    with _user_errors():
        result = screener.screen(intake)
    try:
        if save_intake is not None:
            _save(save_intake, intake.model_dump(mode="json", exclude_none=True))
        if save_result is not None:
            _save(save_result, None, result.model_dump_json(indent=2) + "\n")
    except OSError as exc:
        kept = _keep(session, draft_path, f"could not write {exc.filename}")
        raise _fail(f"error: cannot write {exc.filename}: {exc.strerror}\n{kept}", EXIT_CODES["invalid"]) from None
    _emit(result, output, full=full)
    if session.unread:
        lines = [f"line {n}: {qid}: {text!r} ({why})" for n, qid, text, why in session.unread]
        note = (
            "Answers that could not be read, recorded as unknown (check the answers after them went to the "
            "questions meant; the questions and answers are on standard error): " + "; ".join(lines)
        )
        (prompts if output == "json" else _console()).print(Text(note, style="bold"))
    if resume is not None and resume.is_file() and resume.resolve() == draft_path.resolve():
        resume.unlink()
        prompts.print(Text(f"the screening is complete: draft {resume} removed"))
    raise typer.Exit(EXIT_CODES[result.verdict])
