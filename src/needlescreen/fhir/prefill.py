"""A chart read for a CDS Hooks call, as answers to the questionnaire: what prefills the clinician's web form.

The clinician should answer only what the chart lacked, and see which answers came from the chart to correct
them. :func:`prefill` turns a :class:`~needlescreen.fhir.chart.ChartIntake` into questionnaire answers, each as
the form posts it and with the chart resources behind it:

* **Nothing is answered "no" that the chart did not say.** The chart never says no, so a first-pass gate is
  answered "yes" only when the chart knows something it opens (its question names that thing: "... or have a
  recent INR?"), and otherwise left for the clinician; a gate's "yes" records nothing by itself.
* **Coded conditions become the answers they stand for** (through the ruleset's code map, as the screening reads
  them): the form has no place for a code, so an ICD-10-CM lymphoedema is "lymphoedema: yes".
* **What the form cannot hold is listed, never dropped**: a value of a question the form asks only after an
  answer the chart does not give (a platelet count, asked after chemotherapy or a bleeding disorder; a
  temperature, asked after "fever: yes"), or an ATC code beside a drug's name. The form's verdict is the
  verdict of what it holds; these are shown beside it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from needlescreen import Ruleset, parse_intake
from needlescreen.questionnaire import AnswerError, Item, Questionnaire

from .chart import ChartIntake
from .questionnaire import _get, _requirements, _texts, _unset, bundled_questionnaire, gate_answers

__all__ = ["CHART_NOTE", "ChartAnswer", "Prefill", "prefill"]

#: The draft field that carries what came from the chart (the form's own fields are ``q.<item>`` and ``r.<field>``);
#: the web form's ``needlescreen.web.drafts.CHART_NOTE``, named here too so this module needs no web extra.
CHART_NOTE = "c.chart"

#: What the chart reader passed over, as far as a form shows it (the panel folds them away anyway).
_MAX_NOTES = 40
# A plan only to read the chart's answers as an intake when the chart has none (it is never given to the form).
_NO_PLAN = {"technique": "dry_needling", "sites": [{"id": "s1", "region": "calf", "side": "left"}]}


@dataclass(frozen=True, slots=True)
class ChartAnswer:
    """One question answered from the chart: what the form posts, what it means in words, and from where."""

    item: str
    question: str
    text: str
    shown: str
    sources: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Prefill:
    """The form's answers from the chart, what the chart says that the form cannot hold, and the patient."""

    answers: tuple[ChartAnswer, ...]
    left_out: tuple[str, ...]
    notes: tuple[str, ...]
    patient: str | None

    def form(self) -> dict[str, str]:
        """Item id -> the answer as the form posts it (a radio's value, the typed text)."""
        return {a.item: a.text for a in self.answers}

    def draft(self, *, read_at: str, hook: str) -> dict[str, str]:
        """The web form's draft: the answers under ``q.<item>``, the patient reference, and the chart note.

        The note (JSON under :data:`CHART_NOTE`) is what the form shows as "from the chart": each answer with its
        question and resources, what the form cannot hold, and what was passed over.
        """
        out = {f"q.{a.item}": a.text for a in self.answers}
        if self.patient and self.patient.isprintable() and len(self.patient) <= 64:
            out["r.patient_ref"] = self.patient
        note = {
            "read_at": read_at,
            "hook": hook,
            "answers": [
                {"item": a.item, "question": a.question, "shown": a.shown, "sources": a.sources} for a in self.answers
            ],
            "left_out": self.left_out,
            "notes": self.notes[:_MAX_NOTES],
        }
        out[CHART_NOTE] = json.dumps(note, ensure_ascii=False)
        return out


def _covers(source_path: str, item_path: str) -> bool:
    return (
        source_path == item_path or item_path.startswith(source_path + ".") or source_path.startswith(item_path + ".")
    )


def _plain(value: Any) -> Any:
    """A value without its unset fields, to compare what a text reads back as with what the chart gave."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items() if v is not None and k != "id"}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _number(value: float) -> str:
    short = f"{value:g}"
    return short if float(short) == value else repr(float(value))


def _text(q: Questionnaire, item: Item, value: Any, data: Mapping[str, Any], answers: Mapping[str, Any]) -> str | None:
    """The answer as a clinician would give it in the form, or None when no text reads back as the same value."""
    if item.type in ("answer", "choice"):
        return str(value)
    if item.type == "number":
        candidates = [_number(float(value))]
    else:
        parts = _texts(item, value, data, q)
        if item.type == "drugs":  # the form splits a list at commas; a name keeps its words
            parts = [p.replace(",", ";") for p in parts]
            try:
                read = q.parse(item, ", ".join(parts), answers)
            except AnswerError:
                return None
            return ", ".join(parts) if len(read or []) == len(parts) else None
        # In the words a clinician types ("left upper limb"), else as region and kind ids, which always read.
        candidates = [", ".join(p.replace("_", " ") for p in parts), ", ".join(parts)]
    for text in candidates:
        try:
            read = q.parse(item, text, answers)
        except AnswerError:
            continue
        if _plain(read) == _plain(value):
            return text
    return None


def _shown(item: Item, text: str) -> str:
    if item.type == "choice":
        return next((o.label for o in item.options if o.value == text), text)
    if item.type == "number" and item.unit:
        return f"{text} {item.unit}"
    return text


def _flat(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Every field of a nested mapping by its dotted path (inner mappings too), for lookups by item path."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        path = f"{prefix}{key}"
        out[path] = value
        if isinstance(value, Mapping):
            out |= _flat(value, f"{path}.")
    return out


def _values(chart: ChartIntake, q: Questionnaire, ruleset: Ruleset) -> tuple[dict[str, Any], dict[str, Any]]:
    """The chart's answers to the questions that set a field, coded conditions applied, and the data behind them.

    A field counts only when the chart gave it (or a code did): an intake default is never taken for an answer.
    """
    plan = chart.data.get("plan") or _NO_PLAN
    defaults = _flat(parse_intake({"plan": plan}).model_dump(mode="json", exclude={"record"}))
    intake = chart.intake or parse_intake({**chart.data, "plan": plan}, source="FHIR chart")
    data = ruleset.codes.apply(intake).model_dump(mode="json", exclude={"record", "conditions"})
    if chart.intake is None:
        data.pop("plan")
    given, have = _flat(chart.data), _flat(data)
    values: dict[str, Any] = {}
    for item in q.items:
        if item.path is None:
            continue
        value = have.get(item.path)
        if (given.get(item.path) is not None or value != defaults.get(item.path)) and not _unset(item, value):
            values[item.id] = value
    return values, data


def _sources(chart: ChartIntake, item: Item, coded: bool) -> tuple[str, ...]:
    assert item.path is not None
    refs = [s.reference for s in chart.sources if any(_covers(p, item.path) for p in s.paths)]
    if not refs and coded:  # a code that gives an answer without a place of its own (a pregnancy, a fever)
        refs = [s.reference for s in chart.sources if s.resource_type == "Condition"]
    return tuple(dict.fromkeys(refs))


def prefill(chart: ChartIntake, *, ruleset: Ruleset | None = None, q: Questionnaire | None = None) -> Prefill:
    """The questionnaire answers a chart supports, for a form the clinician completes and corrects.

    Raises:
        IntakeError: the chart's data is not a valid partial intake, or a coded condition cannot be applied.
    """
    if ruleset is None:
        from .questionnaire import _default_ruleset

        ruleset = _default_ruleset()
    q = q or bundled_questionnaire(ruleset)
    values, data = _values(chart, q, ruleset)
    uncoded = chart.data
    placed = dict(values)
    while True:  # a gate is "yes" only for what is placed under it; leaving a value out may close a gate
        offered = {**placed, **gate_answers(q, placed)}
        answers: dict[str, Any] = {}
        texts: dict[str, str] = {}
        for item in q.items:
            if item.id not in offered or not q.enabled(item, answers):
                continue
            text = _text(q, item, offered[item.id], data, answers)
            if text is None:
                continue
            texts[item.id] = text
            answers[item.id] = offered[item.id]
        kept = {k: v for k, v in placed.items() if k in answers}
        if kept == placed:
            break
        placed = kept
    needs = _requirements(q)
    out = []
    for item in q.items:
        if item.id not in texts:
            continue
        if item.path is None:  # a gate: opened for what the chart says under it
            opened = [i for i in q.items if i.id in placed and item.id in needs[i.id]]
            refs = tuple(dict.fromkeys(r for i in opened for r in _sources(chart, i, True)))
        else:
            refs = _sources(chart, item, _get(uncoded, item.path) is None)
        out.append(ChartAnswer(item.id, item.text, texts[item.id], _shown(item, texts[item.id]), refs))
    left_out = [
        f"{item.text} The chart says {_described(q, item, values[item.id], data)}"
        f"{_from(_sources(chart, item, _get(uncoded, item.path or '') is None))}; the form asks this only after "
        "an earlier answer opens it, so it is not in the form's verdict."
        for item in q.items
        if item.id in values and item.id not in texts
    ]
    for med in (data.get("medications") or {}).get("items") or ():
        if med.get("atc"):
            left_out.append(f"{med['name']}: the chart's ATC code {med['atc']} is not in the form (the name is).")
    return Prefill(tuple(out), tuple(left_out), tuple(chart.notes), chart.patient)


def _described(q: Questionnaire, item: Item, value: Any, data: Mapping[str, Any]) -> str:
    if item.type == "number":
        return _shown(item, _number(float(value)))
    if item.type in ("answer", "choice"):
        return _shown(item, str(value))
    return ", ".join(_texts(item, value, data, q))


def _from(refs: tuple[str, ...]) -> str:
    return f" ({', '.join(refs)})" if refs else ""
