"""The intake questionnaire as data: questions, plain-language wording, answer types and follow-up gating.

``rules/questionnaire.yaml`` is the one definition every front end walks: ``needlescreen ask`` today, a web form
or a FHIR Questionnaire later (ids are linkIds, ``enable_when`` uses FHIR's ``enableWhen`` operators, ``path``
is the extraction target in the intake). This module loads and validates that file strictly, decides which
items are enabled by earlier answers, turns one typed-in answer into intake data (or says in plain words what
is wrong with it), and assembles the answers into an intake mapping that :func:`needlescreen.parse_intake`
then validates as usual. Nothing here screens; the questionnaire only gathers.
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from . import _yaml
from ._suggest import close
from .errors import RuleFileError
from .intake import MAX_LOCATIONS, MAX_MEDICATIONS, MAX_SITES, DeviceKind, Intake
from .regions import RegionMap
from .ruleset import default_rules_dir
from .vocabulary import Vocabulary, VocabularyError

__all__ = [
    "UNKNOWN_WORDS",
    "AnswerError",
    "EnableWhen",
    "Item",
    "Questionnaire",
    "intake_leaf_paths",
    "load_questionnaire",
]

AnswerType = Literal["answer", "choice", "number", "drugs", "locations", "devices", "sites", "circuits"]
Operator = Literal["exists", "=", "!=", "<", "<=", ">", ">="]

#: What a person may type for "I don't know" (an empty answer counts too).
UNKNOWN_WORDS = frozenset({"", "?", "unknown", "u", "unk", "not known", "dont know", "don't know", "dk"})
_NONE_WORDS = frozenset({"none", "no", "nil", "nothing"})
_SIDES = ("left", "right", "both", "midline")
#: Side words as written beside a device word ("R THR", "bilateral TKR"); the vocabulary reads them with the place.
_SIDE_WORDS = frozenset({*_SIDES, "l", "r", "lt", "rt", "b", "bilateral"})
_DEVICE_KINDS: tuple[str, ...] = typing.get_args(DeviceKind)
#: Words of a device worn on the skin (an insulin pump, a glucose sensor), which is not an implant.
_WORN_WORDS = frozenset({"insulin", "glucose", "cgm", "sensor", "libre", "dexcom", "omnipod"})
#: What clinicians write for an implant kind (lower case, words joined by spaces): the kind, and the region the
#: word itself names (a knee replacement is at the knee). Only words with one reading: "stimulator" alone may be
#: several kinds and is offered, never taken; an insulin pump is worn on the skin (its own question).
_DEVICE_WORDS: Mapping[str, tuple[str, str | None]] = {
    **dict.fromkeys(
        ("port", "ports", "portacath", "port a cath", "mediport", "picc", "picc line", "port picc"),
        ("port_picc", None),
    ),
    **dict.fromkeys(("ppm", "pacer", "crt p", "crtp"), ("pacemaker", None)),
    **dict.fromkeys(("aicd", "defibrillator", "implantable defibrillator", "crt d", "crtd", "s icd"), ("icd", None)),
    **dict.fromkeys(
        ("scs", "spinal stimulator", "dorsal column stimulator", "spinal cord stim"), ("spinal_cord_stimulator", None)
    ),
    **dict.fromkeys(
        (
            "vns",
            "vagus nerve stimulator",
            "vagal nerve stimulator",
            "dbs",
            "deep brain stimulator",
            "sacral nerve stimulator",
            "sacral neuromodulator",
        ),
        ("neurostimulator", None),
    ),
    **dict.fromkeys(
        ("intrathecal pump", "baclofen pump", "morphine pump", "itb pump", "implanted pump"), ("drug_pump", None)
    ),
    **dict.fromkeys(
        ("tkr", "tka", "knee replacement", "total knee replacement", "knee arthroplasty"), ("joint_prosthesis", "knee")
    ),
    **dict.fromkeys(
        ("thr", "tha", "hip replacement", "total hip replacement", "hip arthroplasty"), ("joint_prosthesis", "hip")
    ),
    # Not "prosthesis" alone: a limb prosthesis is worn, not implanted.
    **dict.fromkeys(("joint replacement", "arthroplasty"), ("joint_prosthesis", None)),
    **dict.fromkeys(
        (
            *("orif", "internal fixation", "metalwork", "metal plate", "metal plates", "plate", "plates"),
            *("plate and screws", "plates and screws", "screws", "metal screws", "rod", "metal rod", "nail"),
        ),
        ("metal_fixation", None),
    ),
    **dict.fromkeys(("cochlear", "cochlear implants"), ("cochlear_implant", None)),
    **dict.fromkeys(("breast implants", "breast prosthesis"), ("breast_implant", None)),
}


class AnswerError(ValueError):
    """A typed-in answer does not fit its question; the message says what would.

    ``suggestions`` are answers that would likely be meant, best first (a misspelt place, the precise words for
    a place of several regions), for a form to offer.
    """

    def __init__(self, message: str, *, suggestions: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.suggestions = tuple(suggestions)


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


class Option(_Strict):
    """One allowed answer of a choice item: the value written to the intake and the words shown."""

    value: str
    label: str


class EnableWhen(_Strict):
    """Ask an item only when an earlier item's answer meets this test (FHIR ``enableWhen``)."""

    question: str
    operator: Operator
    answer: str | float | bool


class Item(_Strict):
    """One question.

    A *gate* is a yes/no item that ``covers`` later items (PAR-Q+'s first pass): a covered item is asked only
    when its gate is answered "yes" (the loader adds that ``enable_when``, so any front end gates it as usual);
    a gate answered "no" records each covered item's ``no_value`` (for a yes/no item "no" unless it says
    otherwise; a covered gate passes its "no" on to the items it covers); a gate left unknown records nothing,
    so every covered item stays unknown, never "no".
    """

    id: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")
    text: str = Field(min_length=3)
    help: str | None = None
    section: str | None = None
    path: str | None = Field(default=None, pattern=r"^[a-z_]+(\.[a-z_]+)*$")
    type: AnswerType
    required: bool = False
    options: list[Option] = []
    min: float | None = None
    max: float | None = None
    unit: str | None = None
    unknown_value: str | None = None
    enable_when: list[EnableWhen] = []
    enable_behavior: Literal["all", "any"] = "all"
    covers: list[str] = []
    no_value: str | None = None


class NotAsked(_Strict):
    """An intake field the questionnaire leaves out on purpose (``*`` matches one path segment)."""

    path: str
    why: str = Field(min_length=3)


class _File(_Strict):
    schema_: str = Field(alias="schema", pattern=r"^needlescreen\.questionnaire/1$")
    title: str
    items: list[Item] = Field(min_length=1)
    not_asked: list[NotAsked] = []


def _unwrap(annotation: Any) -> Any:
    """The model or tuple type behind ``X | None`` and ``Annotated[X, ...]``."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            annotation = args[0] if len(args) == 1 else annotation
            if len(args) != 1:
                return annotation
        else:
            return annotation


def _submodel(annotation: Any) -> type[BaseModel] | None:
    inner = _unwrap(annotation)
    if isinstance(inner, type) and issubclass(inner, BaseModel):
        return inner
    if typing.get_origin(inner) is tuple:
        args = typing.get_args(inner)
        if args:
            elem = _unwrap(args[0])
            if isinstance(elem, type) and issubclass(elem, BaseModel):
                return elem
    return None


def _resolves(path: str, model: type[BaseModel] = Intake) -> bool:
    current: type[BaseModel] | None = model
    for part in path.split("."):
        if current is None or part not in current.model_fields:
            return False
        current = _submodel(current.model_fields[part].annotation)
    return True


#: Intake fields no question sets: the record metadata (who, when, where) comes from the software storing it.
_NOT_SCREENING = frozenset({"record"})


def intake_leaf_paths(model: type[BaseModel] = Intake, prefix: str = "") -> list[str]:
    """Every field of the intake a question can set: nested models are walked, lists are one field."""
    out: list[str] = []
    for name, info in model.model_fields.items():
        if not prefix and name in _NOT_SCREENING:
            continue
        inner = _unwrap(info.annotation)
        path = f"{prefix}{name}"
        if isinstance(inner, type) and issubclass(inner, BaseModel):
            out.extend(intake_leaf_paths(inner, f"{path}."))
        else:
            out.append(path)
    return out


@dataclass(frozen=True, slots=True)
class _Place:
    region: str
    side: str | None


class Questionnaire:
    """A validated questionnaire bound to a region vocabulary (to check places as they are typed)."""

    def __init__(self, spec: _File, regions: RegionMap, *, file: str, vocabulary: Vocabulary | None = None) -> None:
        self.title = spec.title
        self.vocabulary = vocabulary
        self.items = tuple(spec.items)
        self.not_asked = tuple(spec.not_asked)
        self.file = file
        self.regions = regions
        self._by_id = {item.id: item for item in spec.items}

    def item(self, item_id: str) -> Item:
        """Look an item up by id."""
        return self._by_id[item_id]

    # --- gating -----------------------------------------------------------------------------------------

    def enabled(self, item: Item, answers: Mapping[str, Any]) -> bool:
        """Whether ``item`` is asked, given the answers so far (absent or ``None`` = no known answer).

        As in FHIR, a question that is not enabled has no answer for the questions gated on it: a follow-up of a
        follow-up closes with it, and a stale answer left behind a closed gate opens nothing.
        """
        return self._enabled(item, answers, {})

    def _enabled(self, item: Item, answers: Mapping[str, Any], known: dict[str, bool]) -> bool:
        if not item.enable_when:
            return True
        if item.id in known:
            return known[item.id]

        def answer(question: str) -> Any:
            ref = self._by_id.get(question)
            if ref is not None and not self._enabled(ref, answers, known):
                return None
            return answers.get(question)

        results = (self._holds(cond, answer(cond.question)) for cond in item.enable_when)
        known[item.id] = all(results) if item.enable_behavior == "all" else any(results)
        return known[item.id]

    def no_value(self, item: Item) -> str | None:
        """What ``item`` records when a gate covering it is answered "no" (None: it cannot be covered)."""
        if item.no_value is not None:
            return item.no_value
        return "no" if item.type == "answer" else None

    @staticmethod
    def _holds(cond: EnableWhen, have: Any) -> bool:
        if cond.operator == "exists":
            return (have is not None) == cond.answer
        if cond.operator == "!=":
            return have is None or have != cond.answer
        if have is None:
            return False
        if cond.operator == "=":
            return bool(have == cond.answer)
        if not isinstance(have, int | float) or not isinstance(cond.answer, int | float):
            return False
        if cond.operator == "<":
            return have < cond.answer
        if cond.operator == "<=":
            return have <= cond.answer
        if cond.operator == ">":
            return have > cond.answer
        return have >= cond.answer

    # --- one answer -------------------------------------------------------------------------------------

    def hint(self, item: Item) -> str:
        """The short form of what an answer may be, shown after the question."""
        if item.type == "answer":
            choices = "yes/no" if item.required else "yes/no/unknown"
        elif item.type == "choice":
            choices = "/".join(o.value for o in item.options) + ("" if item.required else "/unknown")
        elif item.type == "number":
            unit = f" {item.unit}" if item.unit else ""
            choices = f"{item.min:g}-{item.max:g}{unit}" + ("" if item.required else ", or unknown")
        elif item.type == "drugs":
            choices = "names separated by commas, none, or unknown"
        else:
            choices = "separated by commas" + ("" if item.required else ", or unknown")
        return choices

    def parse(self, item: Item, raw: str | None, answers: Mapping[str, Any]) -> Any:
        """Turn typed text into the intake value of ``item``; ``None`` means unknown.

        Raises:
            AnswerError: the text does not fit the question; the message says what would.
        """
        text = " ".join((raw or "").split())
        if text.lower() in UNKNOWN_WORDS:
            if item.required:
                raise AnswerError("this question needs an answer (it cannot be unknown)")
            return None
        low = text.lower()
        if item.type == "answer":
            if low in ("y", "yes"):
                return "yes"
            if low in ("n", "no"):
                return "no"
            raise AnswerError("answer yes, no or unknown")
        if item.type == "choice":
            return self._choice(item, low)
        if item.type == "number":
            return self._number(item, low)
        if item.type == "drugs":
            if low in _NONE_WORDS:
                return []
            names = [n.strip() for n in text.split(",") if n.strip()]
            if len(names) > MAX_MEDICATIONS:
                raise AnswerError(f"at most {MAX_MEDICATIONS} medications")
            if any(len(n) > 200 for n in names):
                raise AnswerError("a medication name is longer than 200 characters")
            return [{"name": n} for n in names]
        parts = [p.strip() for p in text.split(",") if p.strip()]
        if item.type == "locations":
            if len(parts) > MAX_LOCATIONS:
                raise AnswerError(f"at most {MAX_LOCATIONS} places")
            return [self._location(p) for p in parts]
        if item.type == "devices":
            return [self._device(p) for p in parts]
        if item.type == "sites":
            if len(parts) > MAX_SITES:
                raise AnswerError(f"at most {MAX_SITES} sites")
            return [self._site(p, i + 1) for i, p in enumerate(parts)]
        return self._circuits(parts, answers)

    def _choice(self, item: Item, low: str) -> str:
        for i, opt in enumerate(item.options, start=1):
            if low in (opt.value.lower(), opt.label.lower(), str(i)):
                return opt.value
        words = ", ".join(o.value for o in item.options)
        raise AnswerError(f"answer one of: {words}" + ("" if item.required else ", or unknown"))

    def _number(self, item: Item, low: str) -> float:
        match = re.fullmatch(r"(-?\d+(?:\.\d+)?)\s*(.*)", low)
        unit = (item.unit or "").lower()
        if match is None or (match.group(2) and match.group(2) not in (unit, unit.lstrip("°"))):
            raise AnswerError("answer a number" + (f" (in {item.unit})" if item.unit else ""))
        value = float(match.group(1))
        lo = item.min if item.min is not None else float("-inf")
        hi = item.max if item.max is not None else float("inf")
        if not lo <= value <= hi:
            raise AnswerError(f"{value:g} is outside {lo:g}-{hi:g}")
        return value

    def _place(self, text: str) -> _Place:
        """A place as typed ("left arm", "R leg", "both feet", "lower back"), by the vocabulary's one reading of
        locations (:meth:`needlescreen.vocabulary.Vocabulary.locate`); region ids only without a vocabulary."""
        if self.vocabulary is not None:
            try:
                placed = self.vocabulary.locate(text)
            except VocabularyError as exc:
                raise AnswerError(f"{text!r}: {exc}", suggestions=exc.suggestions) from None
            return _Place(placed.region, placed.side)
        tokens = text.lower().replace("-", " ").split()
        sides = [t for t in tokens if t in _SIDES]
        if len(sides) > 1:
            raise AnswerError(f"{text!r}: give one side")
        region = "_".join(t for t in tokens if t not in _SIDES)
        if not region:
            raise AnswerError(f"{text!r}: name a body region")
        if region not in self.regions:
            near = close(region, self.regions.ids())
            hint = f"; did you mean {', '.join(near)}?" if near else ""
            raise AnswerError(f"{text!r}: unknown body region {region!r}{hint}", suggestions=near)
        return _Place(region, sides[0] if sides else None)

    def _location(self, text: str) -> dict[str, Any]:
        place = self._place(text)
        out: dict[str, Any] = {"region": place.region}
        if place.side is not None:
            out["side"] = place.side
        return out

    def _device(self, text: str) -> dict[str, Any]:
        """A device and, when given, where it is: "pacemaker left chest", "left chest pacemaker", "PICC R arm"."""
        tokens = text.lower().replace("-", " ").replace("_", " ").replace("/", " ").split()
        for k in range(len(tokens), 0, -1):
            for start in range(len(tokens) - k + 1):
                kind = "_".join(tokens[start : start + k])
                kind = kind[:-1] if kind.endswith("s") and kind[:-1] in _DEVICE_KINDS else kind
                where: str | None = None
                if kind not in _DEVICE_KINDS and " ".join(tokens[start : start + k]) in _DEVICE_WORDS:
                    kind, where = _DEVICE_WORDS[" ".join(tokens[start : start + k])]
                if kind in _DEVICE_KINDS:
                    out: dict[str, Any] = {"kind": kind}
                    rest = [t for t in tokens[:start] + tokens[start + k :] if t.strip(",")]
                    # "left TKR": the side is written, the place is the word's ("TKR right knee" names both).
                    if where is not None and all(t in _SIDE_WORDS for t in rest):
                        rest = [*rest, where]
                    if rest:
                        out["location"] = self._location(" ".join(rest))
                    return out
        # A pump or sensor worn on the skin is not an implant (no drug_pump on offer for it): it has its own question.
        if _WORN_WORDS & set(tokens):
            raise AnswerError(
                f"{text!r}: a pump or sensor worn on the skin is not an implant; answer the question on devices worn "
                "on the skin (insulin pump set, glucose sensor) instead"
            )
        # Offered, never taken: "port" may be a port or a PICC.
        near = close("_".join(tokens[:2]), _DEVICE_KINDS, cutoff=60.0)
        near += [k for t in tokens if len(t) >= 4 for k in _DEVICE_KINDS if t in k.split("_") and k not in near]
        hint = f"; did you mean {', '.join(near)}?" if near else ""
        raise AnswerError(f"{text!r}: unknown implant{hint} (kinds: {', '.join(_DEVICE_KINDS)})", suggestions=near)

    def _site(self, text: str, number: int) -> dict[str, Any]:
        muscle = None
        paren = re.search(r"\(([^)]*)\)", text)
        if paren:
            muscle = paren.group(1).strip() or None
            text = (text[: paren.start()] + " " + text[paren.end() :]).strip()
        depth = None
        mm = re.search(r"(\d+(?:\.\d+)?)\s*mm\b", text, flags=re.IGNORECASE)
        if mm:
            depth = float(mm.group(1))
            if not 0 < depth <= 150:
                raise AnswerError(f"site {number}: depth {depth:g} mm is outside 0-150 mm")
            text = (text[: mm.start()] + " " + text[mm.end() :]).strip()
        nerve = re.search(
            r"^(?P<before>.*?)\b(?P<name>[a-z][a-z ]*?)\s+nerve\b(?P<after>.*)$", text, flags=re.IGNORECASE
        )
        if nerve:
            # "left tibial nerve": a perineural site, placed at the nerve's usual point when screened.
            side_words = (nerve["before"] + " " + nerve["name"] + " " + nerve["after"]).lower().split()
            sides = [w for w in side_words if w in _SIDES]
            name = "_".join(w for w in nerve["name"].lower().replace("-", " ").split() if w not in _SIDES)
            out_nerve: dict[str, Any] = {"id": f"s{number}", "nerve": name, "technique": "perineural"}
            if sides:
                out_nerve["side"] = sides[0]
            if depth is not None:
                out_nerve["depth_mm"] = depth
            return out_nerve
        named = self._named_site(text, number)
        if named is not None:
            if depth is not None:
                named["depth_mm"] = depth
            return named
        place = self._place(text)
        region = self.regions[place.region]
        if region.group:
            raise AnswerError(
                f"site {number}: {place.region!r} is a grouping, not a site; name a specific region",
                suggestions=self.vocabulary.choices(place.region) if self.vocabulary else (),
            )
        if region.sided and place.side not in ("left", "right"):
            raise AnswerError(f"site {number}: say left or right for {place.region!r}")
        if not region.sided and place.side == "both":
            raise AnswerError(f"site {number}: a site is one place; 'both' is not a side for a site")
        out: dict[str, Any] = {"id": f"s{number}", "region": place.region}
        if place.side is not None:
            out["side"] = place.side
        if muscle:
            out["muscle"] = muscle
        if depth is not None:
            out["depth_mm"] = depth
        return out

    def _named_site(self, text: str, number: int) -> dict[str, Any] | None:
        """A site typed as a muscle, abbreviation or body word ("left gastroc", "R UT", "lower back"), or None
        when the text names a region of the vocabulary (or there is no site vocabulary)."""
        words = [t for t in text.lower().replace("-", " ").split() if t not in _SIDES]
        if self.vocabulary is None or not words or "_".join(words) in self.regions:
            return None
        sides = [t for t in text.lower().split() if t in _SIDES]
        try:
            placed = self.vocabulary.place(text, side=sides[0] if sides else None)
        except VocabularyError as exc:
            raise AnswerError(f"site {number}: {exc}", suggestions=exc.suggestions) from None
        region = self.regions[placed.region]
        if region.sided and placed.side not in ("left", "right"):
            raise AnswerError(f"site {number}: say left or right for {text.strip()!r}")
        name = " ".join(w for w in text.split() if w.lower() not in _SIDES)
        out: dict[str, Any] = {"id": f"s{number}", "muscle": name}
        if placed.side is not None:
            out["side"] = placed.side
        return out

    def _circuits(self, parts: Sequence[str], answers: Mapping[str, Any]) -> list[list[str]]:
        site_items = [i.id for i in self.items if i.type == "sites"]
        sites = answers.get(site_items[0]) if site_items else None
        ids = [s["id"] for s in sites or ()]
        out: list[list[str]] = []
        for part in parts:
            ends = [e.strip() for e in re.split(r"[-~]|\s+to\s+|\s+", part) if e.strip()]
            if len(ends) != 2:
                raise AnswerError(f"{part!r}: give two site numbers joined by '-', e.g. 1-2")
            pair = []
            for end in ends:
                sid = f"s{end}" if end.isdigit() else end
                if sid not in ids:
                    raise AnswerError(f"{part!r}: there is no site {end} (sites are {', '.join(ids) or 'not given'})")
                pair.append(sid)
            if pair[0] == pair[1]:
                raise AnswerError(f"{part!r}: a lead pair joins two different sites")
            out.append(pair)
        return out

    # --- all answers --------------------------------------------------------------------------------------

    def build(self, answers: Mapping[str, Any]) -> dict[str, Any]:
        """The intake mapping the answers give (unknown answers stay absent unless the item names a value).

        A gate answered "no" records the ``no_value`` of every item it covers (through covered gates too); a
        gate answered "yes" or left unknown records nothing itself: its follow-ups do, or they stay unknown.
        """
        intake: dict[str, Any] = {"schema_version": "needlescreen.intake/1"}

        def put(path: str, value: Any) -> None:
            *parents, leaf = path.split(".")
            node = intake
            for part in parents:
                node = node.setdefault(part, {})
            node[leaf] = value

        for item in self.items:
            if item.id not in answers or not self.enabled(item, answers):
                continue
            value = answers[item.id]
            if item.covers and value == "no":
                self._record_no(item, put)
            if item.path is None:
                continue
            if value is None:
                value = "unknown" if item.type == "answer" else item.unknown_value
            if value is None:
                continue
            put(item.path, value)
        return intake

    def _record_no(self, gate: Item, put: Callable[[str, Any], None]) -> None:
        for item_id in gate.covers:
            covered = self._by_id[item_id]
            if covered.path is not None:
                put(covered.path, self.no_value(covered))
            if covered.covers:
                self._record_no(covered, put)


def _fail(message: str, *, file: str, field: str | None = None) -> RuleFileError:
    return RuleFileError(message, file=file, field=field)


def _gates(spec: _File, file: str) -> _File:
    """Check every gate and what it covers, and add the gate's ``enable_when`` to each covered item.

    A covered item must be a later yes/no or choice question (or another gate) with a defined no-value, so a gate
    answered "no" can say "no" for it: a number, list or place has none, and a required question is never
    skipped. A gate is the only way a covered item is opened besides its own ``enable_when`` (all of them).
    """
    index = {item.id: i for i, item in enumerate(spec.items)}
    gate_of: dict[str, str] = {}
    for i, item in enumerate(spec.items):
        where = f"items[{i}] ({item.id})"
        if item.covers and item.type != "answer":
            raise _fail("a gate (an item that covers others) is a yes/no question", file=file, field=f"{where}.type")
        for k, covered_id in enumerate(item.covers):
            cwhere = f"{where}.covers[{k}]"
            if covered_id not in index:
                near = close(covered_id, list(index), limit=1)
                hint = f"; did you mean {near[0]!r}?" if near else ""
                raise _fail(f"covers {covered_id!r}, which is not an item{hint}", file=file, field=cwhere)
            if index[covered_id] <= i:
                raise _fail(f"covers {covered_id!r}, which is not a later item", file=file, field=cwhere)
            if covered_id in gate_of:
                raise _fail(f"{covered_id!r} is already covered by {gate_of[covered_id]!r}", file=file, field=cwhere)
            gate_of[covered_id] = item.id
    items: list[Item] = []
    for i, item in enumerate(spec.items):
        where = f"items[{i}] ({item.id})"
        gate = gate_of.get(item.id)
        if gate is None:
            if item.no_value is not None:
                raise _fail("no_value is only for an item a gate covers", file=file, field=f"{where}.no_value")
            items.append(item)
            continue
        _check_covered(item, gate, file=file, where=where)
        opened = EnableWhen(question=gate, operator="=", answer="yes")
        conditions = item.enable_when if opened in item.enable_when else [opened, *item.enable_when]
        items.append(item.model_copy(update={"enable_when": conditions}))
    return spec.model_copy(update={"items": items})


def _check_covered(item: Item, gate: str, *, file: str, where: str) -> None:
    if item.required:
        raise _fail(f"a required question cannot be covered by gate {gate!r}", file=file, field=f"{where}.required")
    if item.enable_when and item.enable_behavior == "any":
        raise _fail(
            f"covered by gate {gate!r}, so its own conditions must all hold (enable_behavior: all)",
            file=file,
            field=f"{where}.enable_behavior",
        )
    if item.covers and item.no_value not in (None, "no"):
        raise _fail("a covered gate records 'no' when its own gate is no", file=file, field=f"{where}.no_value")
    if item.type == "answer":
        allowed: tuple[str, ...] = ("yes", "no")
    elif item.type == "choice":
        allowed = tuple(o.value for o in item.options)
        if item.no_value is None:
            raise _fail(
                f"covered by gate {gate!r} but has no no_value (the answer a 'no' to the gate records; one of: "
                f"{', '.join(allowed)})",
                file=file,
                field=f"{where}.no_value",
            )
    else:
        raise _fail(
            f"covered by gate {gate!r}, but a {item.type} question has no 'no' answer to record; gate it with "
            "enable_when instead",
            file=file,
            field=f"{where}.type",
        )
    if item.no_value is not None and item.no_value not in allowed:
        raise _fail(
            f"no_value {item.no_value!r} is not an answer of {item.id!r} (one of: {', '.join(allowed)})",
            file=file,
            field=f"{where}.no_value",
        )


def _check(spec: _File, file: str) -> None:
    """Cross-item checks pydantic cannot express: ids, paths, options, bounds and gating."""
    seen: dict[str, Item] = {}
    paths: dict[str, str] = {}
    for index, item in enumerate(spec.items):
        where = f"items[{index}] ({item.id})"
        if item.id in seen:
            raise _fail(f"duplicate item id {item.id!r}", file=file, field=f"{where}.id")
        if item.path is not None:
            if not _resolves(item.path):
                near = close(item.path, intake_leaf_paths(), limit=1)
                hint = f"; did you mean {near[0]!r}?" if near else ""
                raise _fail(f"{item.path!r} is not an intake field{hint}", file=file, field=f"{where}.path")
            if item.path in paths:
                raise _fail(f"path also set by item {paths[item.path]!r}", file=file, field=f"{where}.path")
            paths[item.path] = item.id
        if item.path is None and not item.covers:
            raise _fail(
                "the answer is saved nowhere: give a path, or cover other items", file=file, field=f"{where}.path"
            )
        if item.type == "choice" and not item.options:
            raise _fail("a choice item needs options", file=file, field=f"{where}.options")
        if item.type != "choice" and item.options:
            raise _fail("only choice items have options", file=file, field=f"{where}.options")
        if item.type == "number" and (item.min is None or item.max is None or item.min > item.max):
            raise _fail("a number item needs min <= max", file=file, field=f"{where}.min")
        for k, cond in enumerate(item.enable_when):
            cwhere = f"{where}.enable_when[{k}]"
            if cond.question not in seen:
                raise _fail(
                    f"gates on {cond.question!r}, which is not an earlier item", file=file, field=f"{cwhere}.question"
                )
            ref = seen[cond.question]
            _check_gate(cond, ref, file=file, where=cwhere)
        seen[item.id] = item
    for k, skip in enumerate(spec.not_asked):
        if "*" not in skip.path and not _resolves(skip.path):
            raise _fail(f"{skip.path!r} is not an intake field", file=file, field=f"not_asked[{k}].path")


def _check_gate(cond: EnableWhen, ref: Item, *, file: str, where: str) -> None:
    if cond.operator == "exists":
        if not isinstance(cond.answer, bool):
            raise _fail("exists takes true or false", file=file, field=f"{where}.answer")
        return
    if isinstance(cond.answer, bool):
        raise _fail("quote yes and no ('yes'): unquoted they are YAML booleans", file=file, field=f"{where}.answer")
    if ref.type in ("answer", "choice"):
        allowed = ("yes", "no") if ref.type == "answer" else tuple(o.value for o in ref.options)
        if cond.operator not in ("=", "!="):
            raise _fail(f"{cond.operator!r} does not apply to a {ref.type} item", file=file, field=f"{where}.operator")
        if cond.answer not in allowed:
            raise _fail(f"{cond.answer!r} is not an answer of {ref.id!r}", file=file, field=f"{where}.answer")
    elif ref.type == "number":
        if not isinstance(cond.answer, float):
            raise _fail(f"{ref.id!r} is a number item; compare it with a number", file=file, field=f"{where}.answer")
    else:
        raise _fail(f"{ref.type} items can only be gated on with 'exists'", file=file, field=f"{where}.operator")


def load_questionnaire(
    path: str | Path | None = None, *, regions: RegionMap | None = None, vocabulary: Vocabulary | None = None
) -> Questionnaire:
    """Load and validate a questionnaire file (the bundled ``rules/questionnaire.yaml`` by default).

    With a site ``vocabulary``, a site may be typed as a clinician says it ("left gastroc", "lower back"): the
    name is checked as it is typed, with suggestions, and placed when the intake is screened.

    Raises:
        RuleFileError: the file is unreadable or malformed; the message names the file, item and field.
    """
    file = Path(path) if path is not None else default_rules_dir() / "questionnaire.yaml"
    name = str(file)
    data = _yaml.load_file(file)  # the rule files' safe loader: duplicate keys, encoding, depth, size
    try:
        spec = _File.model_validate(data)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        loc = list(err["loc"])
        field = ""
        for part in loc:
            field += f"[{part}]" if isinstance(part, int) else (f".{part}" if field else str(part))
        if len(loc) >= 2 and loc[0] == "items" and isinstance(loc[1], int) and isinstance(data, dict):
            raw_items = data.get("items")
            if isinstance(raw_items, list) and loc[1] < len(raw_items) and isinstance(raw_items[loc[1]], dict):
                field = field.replace(f"items[{loc[1]}]", f"items[{loc[1]}] ({raw_items[loc[1]].get('id')})", 1)
        raise _fail(err["msg"], file=name, field=field or None) from None
    if regions is None:
        from .ruleset import load_ruleset

        ruleset = load_ruleset()
        regions, vocabulary = ruleset.regions, vocabulary or ruleset.vocabulary
    ids = [item.id for item in spec.items]
    if len(set(ids)) == len(ids):  # a duplicate id is reported by _check, naming the item
        spec = _gates(spec, name)
    _check(spec, name)
    return Questionnaire(spec, regions, file=name, vocabulary=vocabulary)
