"""The intake questionnaire as an SDC ``Questionnaire``, and a ``QuestionnaireResponse`` back to an intake.

``rules/questionnaire.yaml`` is the one source: the FHIR form is generated from :class:`needlescreen.questionnaire
.Questionnaire` (linkIds are the item ids, ``enableWhen``/``enableBehavior`` its gating, answer options, units and
bounds as SDC extensions), and a response is read back by the same object: each answer through
:meth:`~needlescreen.questionnaire.Questionnaire.parse` (as if typed into ``needlescreen ask``), the gating
through :meth:`~needlescreen.questionnaire.Questionnaire.enabled` and the intake through
:meth:`~needlescreen.questionnaire.Questionnaire.build`. Nothing here decides what an answer means.

A yes/no question is a ``boolean`` item; a question left unanswered is unknown, never "no". A list question
(medications, places, implants, sites, lead pairs) is a repeating ``string`` item whose answers are written as a
clinician types them (its ``entryFormat`` says how).

The gating is said twice, as FHIR R4 defines both: every follow-up has ``enableWhen`` on the question that opens
it (a first-pass gate's covered items on the gate's "yes"), and every follow-up is nested under the question it
needs (a descendant of a disabled item is disabled whatever its own ``enableWhen``). The nesting carries the
transitive gating to every renderer: FHIR also says an ``enableWhen`` on a disabled question reads it as
unanswered, but several renderers do not implement that rule, while all of them hide a hidden item's children.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import Any

from fhir.resources.R4B.coding import Coding
from fhir.resources.R4B.extension import Extension
from fhir.resources.R4B.questionnaire import (
    Questionnaire as FhirQuestionnaire,
)
from fhir.resources.R4B.questionnaire import (
    QuestionnaireItem,
    QuestionnaireItemAnswerOption,
    QuestionnaireItemEnableWhen,
)
from fhir.resources.R4B.questionnaireresponse import (
    QuestionnaireResponse,
    QuestionnaireResponseItem,
    QuestionnaireResponseItemAnswer,
)
from fhir.resources.R4B.reference import Reference
from pydantic import ValidationError

from needlescreen import FieldProblem, Intake, IntakeError, Ruleset, Screener, ScreeningResult, parse_intake
from needlescreen.questionnaire import AnswerError, Item, Questionnaire, load_questionnaire

from .systems import (
    ANSWER_SYSTEM,
    QUESTIONNAIRE_ID,
    QUESTIONNAIRE_URL,
    SDC_ENTRY_FORMAT,
    SDC_ITEM_CONTROL,
    SDC_MAX_VALUE,
    SDC_MIN_VALUE,
    SDC_UNIT,
    UCUM,
)

__all__ = [
    "ResponseIntake",
    "bundled_questionnaire",
    "fhir_questionnaire",
    "gate_answers",
    "intake_from_response",
    "questionnaire_response",
    "screen_response",
]

#: The units of the questionnaire file in UCUM; a unit not listed is shown by its display only.
_UCUM = {"years": "a", "weeks": "wk", "days": "d", "°C": "Cel", "kg/m²": "kg/m2", "mm": "mm"}
_LIST_TYPES = frozenset({"drugs", "locations", "devices", "sites", "circuits"})
# Sites and lead pairs are numbered across all answers (a lead pair names sites by number), so their answers are
# read together, as one typed line; the other list answers are read one by one (a drug name may hold a comma).
_JOINED = frozenset({"sites", "circuits"})


# Questionnaires by the ruleset they are bound to (a Ruleset is not hashable; its id is, while it is held here).
_BOUND: dict[int, tuple[Ruleset, Questionnaire]] = {}
_LOCK = threading.Lock()


def bundled_questionnaire(ruleset: Ruleset | None = None) -> Questionnaire:
    """The questionnaire of ``rules/questionnaire.yaml``, bound to the ruleset's regions and site names."""
    if ruleset is None:
        ruleset = _default_ruleset()
    with _LOCK:
        held = _BOUND.get(id(ruleset))
        if held is None or held[0] is not ruleset:
            if len(_BOUND) >= 8:
                _BOUND.clear()
            held = (ruleset, load_questionnaire(regions=ruleset.regions, vocabulary=ruleset.vocabulary))
            _BOUND[id(ruleset)] = held
    return held[1]


@lru_cache(maxsize=1)
def _default_ruleset() -> Ruleset:
    from needlescreen import load_ruleset

    return load_ruleset()


def _answer_system(item: Item) -> str:
    return f"{ANSWER_SYSTEM}:{item.id}"


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "section"


def _ext(url: str, **value: Any) -> Extension:
    return Extension(url=url, **value)


def _enable_when(item: Item, q: Questionnaire) -> list[QuestionnaireItemEnableWhen]:
    out = []
    for cond in item.enable_when:
        ref = q.item(cond.question)
        kwargs: dict[str, Any] = {"question": cond.question, "operator": cond.operator}
        if cond.operator == "exists" or ref.type == "answer":
            value = cond.answer if isinstance(cond.answer, bool) else cond.answer == "yes"
            kwargs["answerBoolean"] = value
        elif ref.type == "choice":
            label = next(o.label for o in ref.options if o.value == cond.answer)
            kwargs["answerCoding"] = Coding(system=_answer_system(ref), code=str(cond.answer), display=label)
        else:
            kwargs["answerDecimal"] = Decimal(repr(float(cond.answer)))
        out.append(QuestionnaireItemEnableWhen(**kwargs))
    return out


def _question(item: Item, q: Questionnaire, layout: _Layout) -> QuestionnaireItem:
    kwargs: dict[str, Any] = {"linkId": item.id, "text": item.text}
    extensions: list[Extension] = []
    if item.type == "answer":
        kwargs["type"] = "boolean"
    elif item.type == "choice":
        kwargs["type"] = "choice"
        kwargs["answerOption"] = [
            QuestionnaireItemAnswerOption(
                valueCoding=Coding(system=_answer_system(item), code=o.value, display=o.label)
            )
            for o in item.options
        ]
    elif item.type == "number":
        kwargs["type"] = "decimal"
        extensions.append(_ext(SDC_MIN_VALUE, valueDecimal=Decimal(repr(float(item.min or 0)))))
        extensions.append(_ext(SDC_MAX_VALUE, valueDecimal=Decimal(repr(float(item.max or 0)))))
        if item.unit:
            code = _UCUM.get(item.unit)
            coding = Coding(system=UCUM, code=code, display=item.unit) if code else Coding(display=item.unit)
            extensions.append(_ext(SDC_UNIT, valueCoding=coding))
    else:
        kwargs["type"] = "string"
        kwargs["repeats"] = True
        extensions.append(_ext(SDC_ENTRY_FORMAT, valueString=q.hint(item)))
    if item.required:
        kwargs["required"] = True
    if item.path:
        kwargs["definition"] = f"urn:needlescreen:intake#{item.path}"
    when = _enable_when(item, q)
    if when:
        kwargs["enableWhen"] = when
        if len(when) > 1:
            kwargs["enableBehavior"] = item.enable_behavior
    nested: list[QuestionnaireItem] = []
    if item.help:
        control = Coding(system="http://hl7.org/fhir/questionnaire-item-control", code="help", display="Help-Button")
        nested.append(
            QuestionnaireItem(
                linkId=f"{item.id}.help",
                type="display",
                text=item.help,
                extension=[_ext(SDC_ITEM_CONTROL, valueCodeableConcept={"coding": [control.model_dump()]})],
            )
        )
    nested += [_question(child, q, layout) for child in layout.children.get(item.id, ())]
    if nested:
        kwargs["item"] = nested
    if extensions:
        kwargs["extension"] = extensions
    return QuestionnaireItem(**kwargs)


#: Operators that cannot hold on an unanswered question: an item gated by one needs that question answered.
_NEEDS_ANSWER = frozenset({"=", "<", "<=", ">", ">="})


def _requirements(q: Questionnaire) -> dict[str, frozenset[str]]:
    """For each item, the questions it can only be asked after (answered so that a condition holds), transitively.

    ``!=`` and ``exists: false`` hold on an unanswered question, so they require nothing; with
    ``enableBehavior: any`` only what every condition requires is required.
    """
    out: dict[str, frozenset[str]] = {}
    for item in q.items:  # conditions name earlier items only (the loader checks)
        sets = [
            frozenset({c.question}) | out[c.question]
            if c.operator in _NEEDS_ANSWER or (c.operator == "exists" and c.answer is True)
            else frozenset()
            for c in item.enable_when
        ]
        if not sets:
            out[item.id] = frozenset()
        elif item.enable_behavior == "all":
            out[item.id] = frozenset().union(*sets)
        else:
            out[item.id] = frozenset.intersection(*sets)
    return out


@dataclass(frozen=True, slots=True)
class _Layout:
    """Where each item sits in the FHIR tree: sections of top-level items, and each item's nested follow-ups."""

    sections: tuple[tuple[str, tuple[Item, ...]], ...]
    children: Mapping[str, tuple[Item, ...]]


def _layout(q: Questionnaire) -> _Layout:
    """Nest each follow-up under the innermost earlier question it requires, keeping the questionnaire's order.

    A list question (it repeats) is never a parent: its answers are several, and a follow-up belongs to one.
    """
    needs = _requirements(q)
    sections = []
    children: dict[str, list[Item]] = {}
    for title, items in _sections(q):
        roots: list[Item] = []
        stack: list[Item] = []
        for item in items:
            while stack and stack[-1].id not in needs[item.id]:
                stack.pop()
            (children.setdefault(stack[-1].id, []) if stack else roots).append(item)
            if item.type not in _LIST_TYPES:
                stack.append(item)
        sections.append((title, tuple(roots)))
    return _Layout(tuple(sections), {k: tuple(v) for k, v in children.items()})


def _sections(q: Questionnaire) -> Iterator[tuple[str, list[Item]]]:
    title: str = "Screening"
    items: list[Item] = []
    for item in q.items:
        if item.section and items:
            yield title, items
            items = []
        if item.section:
            title = item.section
        items.append(item)
    if items:
        yield title, items


def fhir_questionnaire(q: Questionnaire | None = None, *, version: str | None = None) -> FhirQuestionnaire:
    """The questionnaire as an R4B ``Questionnaire`` (one group per section; linkIds are the item ids)."""
    q = q or bundled_questionnaire()
    layout = _layout(q)
    groups = [
        QuestionnaireItem(
            linkId=f"group-{_slug(title)}", type="group", text=title, item=[_question(i, q, layout) for i in items]
        )
        for title, items in layout.sections
    ]
    kwargs: dict[str, Any] = {}
    if version:
        kwargs["version"] = version
    return FhirQuestionnaire(
        id=QUESTIONNAIRE_ID,
        url=QUESTIONNAIRE_URL,
        name="NeedlescreenIntake",
        title=q.title,
        status="active",
        subjectType=["Patient"],
        description=(
            "The needlescreen intake: what is needed to screen a patient for contraindications before dry "
            "needling and electrical dry needling. An unanswered question is unknown, never 'no'."
        ),
        item=groups,
        **kwargs,
    )


# --- a response to an intake ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ResponseIntake:
    """An intake read from a ``QuestionnaireResponse``; ``complete`` is False for an ``in-progress`` response."""

    intake: Intake
    answers: Mapping[str, Any]
    complete: bool


def _walk(items: Iterable[QuestionnaireResponseItem], path: str) -> Iterator[tuple[str, QuestionnaireResponseItem]]:
    for i, it in enumerate(items or ()):
        here = f"{path}[{i}]"
        yield here, it
        yield from _walk(it.item or (), f"{here}.item")
        for k, ans in enumerate(it.answer or ()):
            yield from _walk(ans.item or (), f"{here}.answer[{k}].item")


def _number(value: Any) -> str:
    return repr(float(value))


def _one(item: Item, answer: QuestionnaireResponseItemAnswer) -> str:
    """One FHIR answer as the text a clinician would type for it."""
    if item.type == "answer":
        if answer.valueBoolean is None:
            raise AnswerError("answer with valueBoolean (true or false)")
        return "yes" if answer.valueBoolean else "no"
    if item.type == "choice":
        coding = answer.valueCoding
        if coding is None or coding.code is None:
            raise AnswerError("answer with valueCoding")
        if coding.system not in (None, _answer_system(item)):
            raise AnswerError(f"valueCoding.system must be {_answer_system(item)}")
        return str(coding.code)
    if item.type == "number":
        if answer.valueDecimal is not None:
            return _number(answer.valueDecimal)
        if answer.valueInteger is not None:
            return _number(answer.valueInteger)
        quantity = answer.valueQuantity
        if quantity is not None and quantity.value is not None:
            code = _UCUM.get(item.unit or "")
            if quantity.code not in (None, code) or (quantity.code is None and quantity.unit not in (None, item.unit)):
                raise AnswerError(f"valueQuantity must be in {item.unit or 'no unit'}")
            return _number(quantity.value)
        raise AnswerError("answer with valueDecimal")
    if answer.valueString is None:
        raise AnswerError("answer with valueString")
    return str(answer.valueString)


def _fail(path: str, message: str) -> IntakeError:
    return IntakeError([FieldProblem(path, message)], source="QuestionnaireResponse")


def intake_from_response(
    response: QuestionnaireResponse | Mapping[str, Any] | str | bytes, q: Questionnaire | None = None
) -> ResponseIntake:
    """Read a ``QuestionnaireResponse`` into an intake, through the questionnaire's own parsing and gating.

    Raises:
        IntakeError: the response is not a valid R4B QuestionnaireResponse, is ``entered-in-error`` or ``stopped``,
            names another questionnaire, answers an item that does not exist, twice, or while it is not enabled,
            or gives an answer that does not fit its question; each problem names the response's path
            (``item[2].item[0].answer[0]``).
    """
    q = q or bundled_questionnaire()
    qr = _as_response(response)
    if qr.status in ("entered-in-error", "stopped"):
        raise _fail("status", f"a response that is {qr.status} is not screened")
    if qr.questionnaire is not None and str(qr.questionnaire).split("|")[0] != QUESTIONNAIRE_URL:
        raise _fail("questionnaire", f"this is a response to {qr.questionnaire}, not to {QUESTIONNAIRE_URL}")
    known = {i.id: i for i in q.items}
    given: dict[str, tuple[str, QuestionnaireResponseItem]] = {}
    problems: list[FieldProblem] = []
    for path, it in _walk(qr.item or (), "item"):
        link = str(it.linkId)
        if link.startswith("group-") or link.endswith(".help"):
            continue
        if link not in known:
            problems.append(FieldProblem(f"{path}.linkId", f"{link!r} is not a question of {QUESTIONNAIRE_URL}"))
        elif link in given:
            problems.append(FieldProblem(f"{path}.linkId", f"{link!r} is answered twice"))
        elif it.answer:
            given[link] = (path, it)
    if problems:
        raise IntakeError(problems, source="QuestionnaireResponse")
    answers: dict[str, Any] = {}
    for item in q.items:
        if item.id not in given:
            continue
        path, it = given[item.id]
        answer_list = list(it.answer or ())
        if not q.enabled(item, answers):
            problems.append(FieldProblem(path, f"{item.id!r} is answered but not enabled by the earlier answers"))
            continue
        if len(answer_list) > 1 and item.type not in _LIST_TYPES:
            problems.append(FieldProblem(f"{path}.answer", f"{item.id!r} takes one answer"))
            continue
        try:
            texts = [_one(item, a) for a in answer_list]
            if item.type in _JOINED:
                answers[item.id] = q.parse(item, ", ".join(texts), answers)
            elif item.type in _LIST_TYPES:
                answers[item.id] = [v for t in texts for v in (q.parse(item, t, answers) or [])]
            else:
                answers[item.id] = q.parse(item, texts[0], answers)
        except AnswerError as exc:
            problems.append(FieldProblem(f"{path}.answer", str(exc)))
    if problems:
        raise IntakeError(problems, source="QuestionnaireResponse")
    intake = parse_intake(q.build(answers), source="QuestionnaireResponse")
    return ResponseIntake(intake, answers, complete=qr.status != "in-progress")


def screen_response(
    response: QuestionnaireResponse | Mapping[str, Any] | str | bytes,
    screener: Screener | None = None,
    q: Questionnaire | None = None,
) -> ScreeningResult:
    """Screen a response. An ``in-progress`` response can never be clear.

    A partial response is screened for what it already shows (a caution or refer stands: more answers could
    add reasons, and a clinician needs them now), but one that would be clear is refused: only a completed
    response may clear a patient.

    Raises:
        IntakeError: the response cannot be read (see :func:`intake_from_response`), or it is ``in-progress``
            and would be clear (named ``status``).
    """
    if screener is None:
        from needlescreen.screening import default_screener

        screener = default_screener()
    read = intake_from_response(response, q or bundled_questionnaire(screener.ruleset))
    result = screener.screen(read.intake)
    if not read.complete and result.verdict == "clear":
        raise _fail(
            "status",
            "the response is in progress: a partial response is never cleared; answer the remaining questions "
            "and mark it completed",
        )
    return result


def _as_response(response: QuestionnaireResponse | Mapping[str, Any] | str | bytes) -> QuestionnaireResponse:
    if isinstance(response, QuestionnaireResponse):
        return response
    try:
        if isinstance(response, str | bytes):
            return QuestionnaireResponse.model_validate_json(response)
        return QuestionnaireResponse.model_validate(dict(response))
    except ValidationError as exc:
        raise IntakeError(
            [FieldProblem(".".join(str(p) for p in e["loc"]), e["msg"]) for e in exc.errors(include_url=False)],
            source="QuestionnaireResponse",
        ) from None


# --- an intake to a response ----------------------------------------------------------------------------


def _get(data: Mapping[str, Any], path: str) -> Any:
    node: Any = data
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def _location_text(loc: Mapping[str, Any]) -> str:
    return f"{loc['side']} {loc['region']}" if loc.get("side") else str(loc["region"])


def _depth(site: Mapping[str, Any]) -> str:
    return f" {site['depth_mm']!r}mm" if site.get("depth_mm") is not None else ""


def _site_text(site: Mapping[str, Any]) -> str:
    side = f"{site['side']} " if site.get("side") else ""
    if site.get("nerve"):
        return f"{side}{str(site['nerve']).replace('_', ' ')} nerve{_depth(site)}"
    if site.get("region"):
        muscle = f" ({site['muscle']})" if site.get("muscle") else ""
        return f"{side}{site['region']}{muscle}{_depth(site)}"
    return f"{side}{site['muscle']}{_depth(site)}"


def _named_site_text(site: Mapping[str, Any], q: Questionnaire, item: Item) -> str:
    """A site written as a muscle name: with its side word, or as named when the name carries it ("R gastroc")."""
    plain = _site_text(site)
    if site.get("region") or site.get("nerve"):
        return plain
    want = {k: v for k, v in site.items() if k != "id" and v is not None}
    for text in (plain, f"{site['muscle']}{_depth(site)}"):
        try:
            got = q.parse(item, text, {})
        except AnswerError:
            continue
        if got and {k: v for k, v in got[0].items() if k != "id"} == want:
            return text
    return plain


def _texts(item: Item, value: Any, data: Mapping[str, Any], q: Questionnaire) -> list[str]:
    if item.type == "drugs":
        return [str(m["name"]) for m in value]
    if item.type == "locations":
        return [_location_text(loc) for loc in value]
    if item.type == "devices":
        return [f"{d['kind']} {_location_text(d['location'])}" if d.get("location") else str(d["kind"]) for d in value]
    if item.type == "sites":
        return [_named_site_text(s, q, item) for s in value]
    sites = _get(data, "plan.sites") or []
    number = {s["id"]: str(i + 1) for i, s in enumerate(sites)}
    return [f"{number.get(a, a)}-{number.get(b, b)}" for a, b in value]


def _response_answers(
    item: Item, value: Any, data: Mapping[str, Any], q: Questionnaire
) -> list[QuestionnaireResponseItemAnswer]:
    if item.type == "answer":
        return [QuestionnaireResponseItemAnswer(valueBoolean=value == "yes")]
    if item.type == "choice":
        label = next((o.label for o in item.options if o.value == value), str(value))
        coding = Coding(system=_answer_system(item), code=str(value), display=label)
        return [QuestionnaireResponseItemAnswer(valueCoding=coding)]
    if item.type == "number":
        return [QuestionnaireResponseItemAnswer(valueDecimal=Decimal(repr(float(value))))]
    return [QuestionnaireResponseItemAnswer(valueString=t) for t in _texts(item, value, data, q)]


def _unset(item: Item, value: Any) -> bool:
    if value is None or (item.type in _LIST_TYPES and not value):
        return True
    return (item.type == "answer" and value == "unknown") or (item.type == "choice" and value == item.unknown_value)


def questionnaire_response(
    intake: Intake | Mapping[str, Any],
    q: Questionnaire | None = None,
    *,
    status: str = "completed",
    subject: str | None = None,
) -> QuestionnaireResponse:
    """The intake as a ``QuestionnaireResponse`` to the needlescreen Questionnaire (unknown answers left out).

    The response is read back and compared with the intake before it is returned, so an intake the
    questionnaire cannot express (an ATC code, a coded condition, a site written in a way no answer produces)
    is refused instead of silently changed.

    Raises:
        IntakeError: the intake is invalid, or a field of it cannot be expressed as questionnaire answers.
    """
    q = q or bundled_questionnaire()
    model = parse_intake(intake)
    data = model.model_dump(mode="json", exclude={"record"})
    values: dict[str, Any] = {}
    for item in q.items:
        if item.path is None:
            continue
        value = _get(data, item.path)
        if not _unset(item, value):
            values[item.id] = value
    values.update(gate_answers(q, values))
    answers: dict[str, Any] = {}
    for item in q.items:  # in order: an answer the earlier answers do not enable is not given
        if item.id in values and q.enabled(item, answers):
            answers[item.id] = values[item.id]
    layout = _layout(q)

    def answered(items: Iterable[Item]) -> list[QuestionnaireResponseItem]:
        out = []
        for i in items:
            if answers.get(i.id) is None:
                continue  # its follow-ups need it answered, so none of them is answered either
            given = _response_answers(i, answers[i.id], data, q)
            below = answered(layout.children.get(i.id, ()))
            if below:  # a follow-up nested under a question goes under its answer (R4 QuestionnaireResponse)
                given[0] = given[0].model_copy(update={"item": below})
            out.append(QuestionnaireResponseItem(linkId=i.id, text=i.text, answer=given))
        return out

    groups = []
    for title, items in layout.sections:
        top = answered(items)
        if top:
            groups.append(QuestionnaireResponseItem(linkId=f"group-{_slug(title)}", text=title, item=top))
    kwargs: dict[str, Any] = {}
    if subject:
        kwargs["subject"] = Reference(reference=subject)
    if groups:
        kwargs["item"] = groups
    qr = QuestionnaireResponse(questionnaire=QUESTIONNAIRE_URL, status=status, **kwargs)
    back = intake_from_response(qr, q).intake.model_dump(mode="json", exclude={"record"})
    if back != data:
        changed = sorted(_differences(data, back))
        raise IntakeError(
            [FieldProblem(p, "cannot be expressed as answers to the questionnaire") for p in changed[:20]]
        )
    return qr


@dataclass(frozen=True, slots=True)
class _Gate:
    """A first-pass gate without a field of its own: what it covers (transitively) and what its "yes" opens."""

    item: Item
    covered: frozenset[str]
    opened: tuple[str, ...]


@lru_cache(maxsize=16)
def _gates(q: Questionnaire) -> tuple[_Gate, ...]:
    """The questionnaire's gates, innermost first (a questionnaire does not change once loaded)."""
    needs = _requirements(q)

    def covered(gate: Item) -> frozenset[str]:
        return frozenset(gate.covers).union(*(covered(q.item(i)) for i in gate.covers))

    return tuple(
        _Gate(gate, covered(gate), tuple(i.id for i in q.items if gate.id in needs[i.id]))
        for gate in reversed(q.items)
        if gate.covers and gate.path is None
    )


def gate_answers(q: Questionnaire, values: Mapping[str, Any]) -> dict[str, Any]:
    """The answers of the first-pass gates (questions that set no intake field) that give these item answers.

    Decided from the innermost gate out, from what the gate covers and what it opens: "no" only when every item
    it covers holds its ``no_value`` (an inner gate: "no") and nothing it opens has an answer, since a "no"
    records exactly those values and closes the rest; unanswered when nothing it covers or opens is known; "yes"
    otherwise, with the items themselves. ``values`` are the answers of the items that set a field (item id ->
    intake value, unknown ones left out); the answers of the gates are returned (unanswered ones left out).
    """
    gates: dict[str, Any] = {}
    for gate in _gates(q):
        known = {**values, **gates}  # the inner gates are decided already
        says_no = all(known.get(c) == q.no_value(q.item(c)) for c in gate.item.covers)
        if says_no and all(known.get(i) is None for i in gate.opened if i not in gate.covered):
            gates[gate.item.id] = "no"
        elif any(known.get(i) is not None for i in gate.opened):  # covered items too: the loader gates them
            gates[gate.item.id] = "yes"
    return gates


def _differences(a: Any, b: Any, path: str = "") -> Iterator[str]:
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        for key in sorted(set(a) | set(b)):
            yield from _differences(a.get(key), b.get(key), f"{path}.{key}" if path else str(key))
    elif a != b:
        yield path or "(intake)"
