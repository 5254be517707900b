"""The screening form, generated from the questionnaire: which questions show, what each answer means.

Everything here goes through :class:`needlescreen.questionnaire.Questionnaire` and nothing else:
``enabled(item, answers)`` decides which questions show (a "yes" opens its follow-ups), ``parse(item, raw,
answers)`` turns the text or choice a clinician gave into the intake value (or a message saying what would
fit), and ``build(answers)`` assembles the intake. The same file feeds ``needlescreen ask`` and the FHIR
Questionnaire, so a question reads the same in the terminal, the browser and an EHR.

A form post carries every answer as raw text under ``q.<item id>`` (radios post their value, ``unknown``
included); record fields (who, when, which patient) come under ``r.<field>``. A question that is switched off
keeps its raw text (changing an answer back shows it again) but is not part of the intake.

:func:`form_tree` lays the questions out as the first pass reads (NHS.UK / GOV.UK conditional reveal): each
section's screening questions, with the follow-ups an answer opens nested under the question that opens them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from needlescreen import IntakeError, parse_intake
from needlescreen.intake import Intake, Record
from needlescreen.questionnaire import AnswerError, Item, Questionnaire

__all__ = ["RECORD_FIELDS", "FormState", "Node", "form_tree", "read_form"]

#: The record fields a clinician fills in (no rule reads them), with their labels and input types.
RECORD_FIELDS: tuple[tuple[str, str, str], ...] = (
    ("patient_ref", "Patient reference (chart number, not a name)", "text"),
    ("clinician", "Clinician", "text"),
    ("encounter_date", "Date of the session", "date"),
    ("clinic", "Clinic", "text"),
)
assert {name for name, _, _ in RECORD_FIELDS} == set(Record.model_fields), "every record field has a label"


@dataclass
class FormState:
    """One reading of the form: raw text, typed answers, what shows, what is wrong, and the intake."""

    raw: dict[str, str]
    record: dict[str, str]
    answers: dict[str, Any] = field(default_factory=dict)
    enabled: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)
    intake: Intake | None = None

    @property
    def answered(self) -> int:
        """How many questions shown have a known answer."""
        return sum(1 for i in self.enabled if self.answers.get(i) is not None)

    def hidden_fields(self) -> list[tuple[str, str]]:
        """Every answer as the (name, value) pairs a form posts back."""
        out = [(f"q.{k}", v) for k, v in self.raw.items() if v != ""]
        out += [(f"r.{k}", v) for k, v in self.record.items() if v != ""]
        return out


@dataclass(frozen=True, slots=True)
class Node:
    """One question of the form and the follow-ups its answers open, shown nested under it."""

    item: Item
    children: list[Node] = field(default_factory=list)

    def shown(self, enabled: Sequence[str]) -> bool:
        """Whether any follow-up under this question shows (an empty reveal is not drawn)."""
        return any(child.item.id in enabled for child in self.children)


def _opener(item: Item, path: Sequence[Node]) -> int | None:
    """Where on the current path ``item`` nests: under the deepest question its gating names (None: top level).

    A follow-up nests only under a question it directly follows (every question between them nests there too), so
    the form keeps the questionnaire's order; one opened by any of several questions stands on its own, so it is
    never drawn under a question that did not open it.
    """
    refs = {cond.question for cond in item.enable_when}
    if not refs or (item.enable_behavior == "any" and len(refs) > 1):
        return None
    for depth in range(len(path) - 1, -1, -1):
        if path[depth].item.id in refs:
            return depth
    return None


def form_tree(q: Questionnaire) -> list[tuple[str, list[Node]]]:
    """The questions by section, each follow-up nested under the question whose answer opens it."""
    sections: list[tuple[str, list[Node]]] = []
    path: list[Node] = []
    for item in q.items:
        if item.section or not sections:
            sections.append((item.section or "Questions", []))
            path = []
        node = Node(item)
        at = _opener(item, path)
        if at is None:
            sections[-1][1].append(node)
            path = [node]
        else:
            path[at].children.append(node)
            path = [*path[: at + 1], node]
    return sections


def _raw(form: Mapping[str, str], prefix: str) -> dict[str, str]:
    return {k[len(prefix) :]: v.strip() for k, v in form.items() if k.startswith(prefix)}


def _path_item(q: Questionnaire, path: str) -> Item | None:
    """The question whose intake field a validation error names (the longest matching path)."""
    best: Item | None = None
    for candidate in q.items:
        p = candidate.path
        inside = p is not None and (path == p or path.startswith((p + ".", p + "[")))
        if inside and (best is None or len(p or "") > len(best.path or "")):
            best = candidate
    return best


def read_form(q: Questionnaire, form: Mapping[str, str], *, screen: bool = True, complete: bool = True) -> FormState:
    """Read a posted form: parse every shown question in order and, when nothing is wrong, build the intake.

    An answer that does not fit is kept as typed with a message; the questions after it are still read, and the
    intake is only built when every shown answer fits (a wrong answer is never guessed, nor read as unknown).
    With ``complete=False`` (a form being filled in) a required question not answered yet is not an error; it
    only keeps the form from screening.
    """
    state = FormState(raw=_raw(form, "q."), record=_raw(form, "r."))
    for item in q.items:
        if not q.enabled(item, state.answers):
            continue
        state.enabled.append(item.id)
        text = state.raw.get(item.id, "")
        if item.required and text == "" and not complete:
            state.intake = None
            screen = False  # nothing to screen without it, and nothing to complain about yet
            continue
        try:
            state.answers[item.id] = q.parse(item, text, state.answers)
        except AnswerError as exc:
            message = str(exc)
            if item.required and text == "":
                message = "Answer this question: the screening needs it."
            state.errors[item.id] = message
    if state.errors or not screen:
        return state
    data = q.build(state.answers)
    record = {k: v for k, v in state.record.items() if v}
    if record:
        data["record"] = record
    try:
        state.intake = parse_intake(data)
    except IntakeError as exc:
        for problem in exc.problems:
            where = problem.path
            if where.startswith("record."):
                state.errors["r." + where.split(".", 1)[1].split("[", 1)[0]] = problem.message
                continue
            found = _path_item(q, where)
            state.errors[found.id if found else "form"] = f"{where}: {problem.message}"
    return state
