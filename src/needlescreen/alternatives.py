"""What would change a verdict: for each reason that holds, the values or the places that would not trigger it.

A clinician reading *refer* wants to know what would let them needle: "INR at most 3 and measured within the
last 28 days", "the right forearm instead". Nothing here is hand-written per rule; it is derived from the
compiled rules and the body model:

* **Values.** For a rule whose condition holds, each *variable* it reads that the clinician can change or wait
  for (a new laboratory value and its date, a blood count taken inside the chemotherapy nadir window, the
  technique, a stimulated site, the sides of the thorax, a temperature, weeks since surgery) is tried at every
  threshold the ruleset compares it with, on the fact set the rule fired on. The values for which the condition
  is false are merged into ranges and put in words. When no single variable is enough, pairs are tried ("an INR
  result, taken within the last 28 days").
* **Places.** A site with a reason of its own is moved to the other side and to its neighbouring site
  regions (``rules/body.yaml``); each candidate is screened in full by the plain evaluator (the engines'
  oracle), and only places whose site verdict would be *better* are offered, with that verdict, so a
  suggestion never looks safer than the library says it is.

Patient facts that are not the clinician's to change (a diagnosis, a drug, the age) are never offered, nor is
waiting where waiting is not what makes needling safe: a DVT growing older (a recent DVT is over when its
treatment is over and it has been reviewed, not on a date) or a session moved around the chemotherapy nadir
window on a count taken before it (counts on the days around the window are not known either). For the nadir
the change offered is the one the rule asks for first: a count taken inside the window. This is advice about
the rules, not a verdict: the verdict is the result's.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from .conditions import Truth, atoms, evaluate
from .facts import Facts, FactSet, normalise
from .intake import Intake
from .plain import PlainEngine
from .result import ScreeningResult, Verdict
from .ruleset import CompiledRule, Ruleset
from .screening import aggregate

__all__ = [
    "NOT_CHANGEABLE",
    "VARIABLES",
    "Alternatives",
    "PlaceChange",
    "Range",
    "ValueChange",
    "Variable",
    "alternatives",
]

_RANK = {"clear": 0, "caution": 1, "refer": 2}
_NUMERIC_OPS = ("lt", "le", "gt", "ge")


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Range(_Out):
    """The values of one variable that keep a rule from triggering (``any_value``: any known value will do)."""

    variable: str
    value: str | None = None
    low: float | None = None
    low_inclusive: bool = False
    high: float | None = None
    high_inclusive: bool = False
    any_value: bool = False


class ValueChange(_Out):
    """A change of values that would keep one reason from triggering."""

    rule_id: str
    verdict: Verdict
    site_id: str | None = None
    circuit: tuple[str, str] | None = None
    ranges: tuple[Range, ...]
    text: str


class PlaceChange(_Out):
    """Another place for a planned site where its verdict would be better."""

    site_id: str
    region: str
    region_label: str
    side: str | None
    verdict: Verdict
    from_verdict: Verdict
    avoids: tuple[str, ...]
    text: str


class Alternatives(_Out):
    """Every value change and place change found for one result."""

    values: tuple[ValueChange, ...] = ()
    places: tuple[PlaceChange, ...] = ()


# --- variables: what the clinician can change or wait for ----------------------------------------------------


def _num(x: float) -> str:
    return f"{x:g}"


def _interval(lo: float | None, lo_in: bool, hi: float | None, hi_in: bool, unit: str = "") -> str:
    u = f" {unit}" if unit else ""
    if lo is None and hi is not None:
        return f"{'at most' if hi_in else 'below'} {_num(hi)}{u}"
    if hi is None and lo is not None:
        return f"{'at least' if lo_in else 'above'} {_num(lo)}{u}"
    if lo is not None and hi is not None:
        if lo == hi:
            return f"{_num(lo)}{u}"
        return f"from {_num(lo)} to {_num(hi)}{u}"
    return "any value"


@dataclass(frozen=True, slots=True)
class Variable:
    """Something the clinician can change or wait for, the facts it sets, and how its values are said."""

    name: str
    facts: tuple[str, ...]
    kind: Literal["number", "choice"]
    #: Sets the variable in a copy of a fact set (derived facts follow).
    set: Callable[[FactSet, Any], None]
    #: How a range (or a chosen value) is said; the argument is the fact set the rule read.
    say: Callable[[Range, FactSet], str]
    values: tuple[str, ...] = ()


def _setter(fact: str) -> Callable[[FactSet, Any], None]:
    def set_(fs: FactSet, value: Any) -> None:
        fs[fact] = value

    return set_


def _set_inr(fs: FactSet, value: float) -> None:
    fs["labs.inr"] = value
    target = fs.get("labs.inr_target_high")
    if isinstance(target, float):
        fs["labs.inr_above_target_by"] = value - target


def _say_number(label: str, unit: str = "", any_text: str | None = None) -> Callable[[Range, FactSet], str]:
    def say(r: Range, _fs: FactSet) -> str:
        if r.any_value:
            return any_text or f"{label} known"
        return f"{label} {_interval(r.low, r.low_inclusive, r.high, r.high_inclusive, unit)}"

    return say


def _say_within(label: str, unit: str) -> Callable[[Range, FactSet], str]:
    def say(r: Range, _fs: FactSet) -> str:
        if r.high is not None and r.low is None:
            return f"{label} within the last {_num(r.high if r.high_inclusive else r.high - 1)} {unit}"
        return f"{label} {_interval(r.low, r.low_inclusive, r.high, r.high_inclusive, unit)} ago"

    return say


def _say_choice(words: Mapping[str, str]) -> Callable[[Range, FactSet], str]:
    def say(r: Range, _fs: FactSet) -> str:
        return words.get(r.value or "", f"{r.variable} {r.value}")

    return say


def _say_in_window(label: str) -> Callable[[Range, FactSet], str]:
    """A count taken on a cycle day inside the nadir window, said with how recent that is today."""

    def say(r: Range, fs: FactSet) -> str:
        if r.low is None or r.high is not None:
            return f"{label} taken on cycle day {_interval(r.low, r.low_inclusive, r.high, r.high_inclusive)}"
        first = r.low if r.low_inclusive else math.floor(r.low) + 1
        text = f"{label} taken inside the nadir window (on cycle day {_num(first)} or later"
        today = fs.get("patient.chemo_cycle_day")
        if isinstance(today, float) and today >= first:
            back = today - first
            text += ": today" if back == 0 else f": today or in the last {_num(back)} day{'s' if back != 1 else ''}"
        return text + ")"

    return say


def _say_inr(r: Range, fs: FactSet) -> str:
    if r.any_value:
        return "an INR result"
    text = f"INR {_interval(r.low, r.low_inclusive, r.high, r.high_inclusive)}"
    target = fs.get("labs.inr_target_high")
    if isinstance(target, float) and r.high is not None and r.low is None and math.isclose(r.high, target):
        text += " (within its target range)"
    return text


#: The variables a suggestion may change. A rule reading only other facts gets no value change (a diagnosis or
#: a drug is not the clinician's to change here); a test fails when a numeric fact a rule compares is neither
#: here nor listed in NOT_CHANGEABLE, so a new threshold is never silently left out.
VARIABLES: tuple[Variable, ...] = (
    Variable("inr", ("labs.inr", "labs.inr_above_target_by"), "number", _set_inr, _say_inr),
    Variable(
        "inr_age_days",
        ("labs.inr_age_days",),
        "number",
        _setter("labs.inr_age_days"),
        _say_within("INR taken", "days"),
    ),
    Variable(
        "platelets",
        ("labs.platelets",),
        "number",
        _setter("labs.platelets"),
        _say_number("platelets", "x10^9/L", "a platelet count"),
    ),
    Variable(
        "platelets_age_days",
        ("labs.platelets_age_days",),
        "number",
        _setter("labs.platelets_age_days"),
        _say_within("platelet count taken", "days"),
    ),
    Variable("anc", ("labs.anc",), "number", _setter("labs.anc"), _say_number("neutrophils", "x10^9/L", "an ANC")),
    Variable(
        "anc_age_days",
        ("labs.anc_age_days",),
        "number",
        _setter("labs.anc_age_days"),
        _say_within("neutrophil count taken", "days"),
    ),
    # The cycle day a count was taken on (today's cycle day minus the count's age): a new count from inside the
    # nadir window is what CHEMO_NADIR_COUNTS asks for first, and it can be done for this session.
    Variable(
        "anc_cycle_day",
        ("labs.anc_cycle_day",),
        "number",
        _setter("labs.anc_cycle_day"),
        _say_in_window("a neutrophil count"),
    ),
    Variable(
        "platelets_cycle_day",
        ("labs.platelets_cycle_day",),
        "number",
        _setter("labs.platelets_cycle_day"),
        _say_in_window("a platelet count"),
    ),
    Variable(
        "temperature_c",
        ("patient.temperature_c",),
        "number",
        _setter("patient.temperature_c"),
        _say_number("temperature", "°C"),
    ),
    Variable(
        "surgery_weeks_ago",
        ("site.surgery_weeks_ago",),
        "number",
        _setter("site.surgery_weeks_ago"),
        _say_number("surgery", "weeks ago"),
    ),
    Variable("depth_mm", ("site.depth_mm",), "number", _setter("site.depth_mm"), _say_number("needle depth", "mm")),
    Variable(
        "thorax_sides",
        ("plan.thorax_sides",),
        "number",
        _setter("plan.thorax_sides"),
        lambda r, _fs: (
            "thorax needled on one side only"
            if r.high is not None and r.high < 2
            else f"thorax sides {_interval(r.low, r.low_inclusive, r.high, r.high_inclusive)}"
        ),
    ),
    Variable(
        "technique",
        ("plan.technique",),
        "choice",
        _setter("plan.technique"),
        _say_choice({"dry_needling": "manual dry needling (no current)", "electrical": "electrical dry needling"}),
        ("dry_needling", "electrical"),
    ),
    Variable(
        "stimulated",
        ("site.stimulated",),
        "choice",
        _setter("site.stimulated"),
        _say_choice({"no": "no current at this site (needle it manually)", "yes": "current at this site"}),
        ("no", "yes"),
    ),
    Variable(
        "advanced_training",
        ("plan.advanced_training",),
        "choice",
        _setter("plan.advanced_training"),
        _say_choice({"yes": "a clinician with documented advanced training for vulnerable sites"}),
        ("yes",),
    ),
)

#: Numeric facts rules compare that are not the clinician's to change (why, for each).
NOT_CHANGEABLE: Mapping[str, str] = {
    "patient.age": "the patient's age",
    "patient.bmi": "the patient's build",
    "patient.gestational_weeks": "the stage of pregnancy (waiting is not advice a screen gives)",
    "meds.antithrombotic_count": "the prescriber's decision, not the needling clinician's",
    "meds.antithrombotic_listed": "the prescriber's decision, not the needling clinician's",
    "labs.inr_target_high": "the patient's prescribed target range",
    # Waiting that is not what makes needling safe [I]: a recent DVT ends with its treatment and a review, not on
    # a date, and the date is the patient's history (unknown counts as recent); the places search offers the
    # other limb instead.
    "site.dvt_weeks_ago": "when the DVT was diagnosed (the patient's history; waiting is not advice a screen gives)",
    "circuit.dvt_weeks_ago": "when the DVT was diagnosed (the patient's history; waiting is not advice a screen gives)",
    # Moving the session out of the nadir window on a count from before it would look safe on the days just
    # after the window, when counts may still be low and are no better known [I]; the rule's own "what to do"
    # names rescheduling with the oncology team, and a count from inside the window is offered instead.
    "patient.chemo_cycle_day": "the chemotherapy schedule (the count from inside the window is offered instead)",
}

_BY_FACT = {fact: v for v in VARIABLES for fact in v.facts}
_BY_NAME = {v.name: v for v in VARIABLES}


# --- conditions -----------------------------------------------------------------------------------------------


def _thresholds(ruleset: Ruleset) -> dict[str, tuple[float, ...]]:
    """Every value each numeric variable is compared with anywhere in the ruleset, on its own scale."""
    out: dict[str, set[float]] = {v.name: set() for v in VARIABLES if v.kind == "number"}
    for rule in ruleset.rules:
        for atom in atoms(rule.condition):
            var = _BY_FACT.get(atom.fact)
            if var is None or var.kind != "number" or atom.op not in _NUMERIC_OPS:
                continue
            out[var.name].add(float(atom.value))  # type: ignore[arg-type]
    return {k: tuple(sorted(v)) for k, v in out.items()}


@dataclass(frozen=True, slots=True)
class _Cell:
    """One piece of a variable's value line (an open interval or a point), or one choice."""

    lo: float | None
    hi: float | None
    point: bool
    sample: Any


def _line(points: Sequence[float]) -> list[_Cell]:
    """The value line cut at ``points``: below the first, each point, between points, above the last."""
    if not points:
        return [_Cell(None, None, point=False, sample=1.0)]
    cells = [_Cell(None, points[0], point=False, sample=points[0] - 1.0)]
    for i, p in enumerate(points):
        cells.append(_Cell(p, p, point=True, sample=p))
        nxt = points[i + 1] if i + 1 < len(points) else None
        cells.append(_Cell(p, nxt, point=False, sample=(p + nxt) / 2 if nxt is not None else p + 1.0))
    return cells


def _ranges(var: Variable, cells: Sequence[_Cell], quiet: Sequence[_Cell]) -> list[Range]:
    """The quiet cells as ranges: consecutive cells of the line merge; a choice is its own range."""
    if var.kind == "choice":
        return [Range(variable=var.name, value=str(c.sample)) for c in quiet]
    if len(quiet) == len(cells):
        return [Range(variable=var.name, any_value=True)]
    chosen = set(quiet)
    out: list[Range] = []
    run: list[_Cell] = []
    for c in [*cells, None]:
        if c is not None and c in chosen:
            run.append(c)
            continue
        if run:
            first, last = run[0], run[-1]
            out.append(
                Range(
                    variable=var.name,
                    low=first.lo,
                    low_inclusive=first.point,
                    high=last.hi,
                    high_inclusive=last.point,
                )
            )
            run = []
    return out


class _Search:
    """Value changes for the rules of one result, on the fact sets they fired on."""

    def __init__(self, ruleset: Ruleset) -> None:
        self.thresholds = _thresholds(ruleset)
        # Thresholds on how far the INR is above its target are brought to INR values per patient (cells()).
        self.over_target = tuple(
            sorted(
                {
                    float(a.value)  # type: ignore[arg-type]
                    for r in ruleset.rules
                    for a in atoms(r.condition)
                    if a.fact == "labs.inr_above_target_by" and a.op in _NUMERIC_OPS
                }
            )
        )

    def cells(self, var: Variable, fs: FactSet) -> list[_Cell]:
        if var.kind == "choice":
            return [_Cell(None, None, point=True, sample=v) for v in var.values]
        points = set(self.thresholds.get(var.name, ()))
        target = fs.get("labs.inr_target_high")
        if var.name == "inr" and isinstance(target, float):
            points |= {round(target + d, 6) for d in self.over_target}
        return _line(sorted(points))

    def changes(self, rule: CompiledRule, fs: FactSet) -> list[tuple[Range, ...]]:
        """Each way found to make the rule's condition false: one variable's range, or two together."""
        reads = set(rule.reads)
        variables = [v for v in VARIABLES if reads & set(v.facts)]
        found: list[tuple[Range, ...]] = []
        for var in variables:
            cells = self.cells(var, fs)
            quiet = [c for c in cells if self._false(rule, fs, ((var, c.sample),))]
            found.extend((r,) for r in (_ranges(var, cells, quiet) if quiet else ()))
        if found:
            return found
        for a, b in itertools.combinations(variables, 2):
            ca, cb = self.cells(a, fs), self.cells(b, fs)
            pairs = [
                (x, y) for x, y in itertools.product(ca, cb) if self._false(rule, fs, ((a, x.sample), (b, y.sample)))
            ]
            qa = list(dict.fromkeys(x for x, _ in pairs))
            qb = list(dict.fromkeys(y for _, y in pairs))
            if not pairs or len(pairs) != len(qa) * len(qb):
                continue  # none, or not a product of two ranges: not said simply
            ra, rb = _ranges(a, ca, qa), _ranges(b, cb, qb)
            if len(ra) == 1 and len(rb) == 1:
                found.append((ra[0], rb[0]))
        return found

    @staticmethod
    def _false(rule: CompiledRule, fs: FactSet, sets: Sequence[tuple[Variable, Any]]) -> bool:
        trial = dict(fs)
        for var, value in sets:
            var.set(trial, value)
        return evaluate(rule.condition, trial) is Truth.FALSE


# --- places ---------------------------------------------------------------------------------------------------

_ENGINES: dict[int, tuple[Ruleset, PlainEngine]] = {}


def _plain(ruleset: Ruleset) -> PlainEngine:
    cached = _ENGINES.get(id(ruleset))
    if cached is None or cached[0] is not ruleset:
        if len(_ENGINES) > 8:
            _ENGINES.clear()
        cached = _ENGINES[id(ruleset)] = (ruleset, PlainEngine(ruleset))
    return cached[1]


def _facts(ruleset: Ruleset, intake: Intake) -> Facts:
    rs = ruleset
    return normalise(intake, rs.regions, rs.medications, rs.codes, rs.body, vocabulary=rs.vocabulary)


def _screen(ruleset: Ruleset, intake: Intake) -> ScreeningResult:
    facts = _facts(ruleset, intake)
    return aggregate(intake, facts, _plain(ruleset).run(facts), ruleset, "plain")


def _label(ruleset: Ruleset, region: str, side: str | None) -> str:
    label = ruleset.regions[region].label
    return f"{side} {label}" if side in ("left", "right") else label


def _candidates(ruleset: Ruleset, region: str, side: str | None, nerve: str | None) -> list[tuple[str, str | None]]:
    """The mirror place first, then the neighbouring site regions on the same side (body model)."""
    regions = ruleset.regions
    out: list[tuple[str, str | None]] = []
    if regions[region].sided and side in ("left", "right"):
        out.append((region, "right" if side == "left" else "left"))
    if nerve is None:
        for other in sorted(ruleset.body.adjacency.get(region, ())):
            r = regions[other]
            if r.group:
                continue
            out.append((other, side if r.sided else None))
    return out


def _places(ruleset: Ruleset, intake: Intake, result: ScreeningResult) -> list[PlaceChange]:
    own_rules: dict[str, set[str]] = {}
    for f in result.findings:
        if f.status == "fired" and f.site is not None:
            own_rules.setdefault(f.site.id, set()).add(f.rule_id)
        if f.status == "fired" and f.circuit is not None:
            for end in f.circuit:
                own_rules.setdefault(end, set()).add(f.rule_id)
    out: list[PlaceChange] = []
    data = intake.model_dump(mode="json", exclude_none=True)
    for index, sv in enumerate(result.sites):
        site = sv.site
        if site.id not in own_rules or sv.verdict == "clear":
            continue
        for region, side in _candidates(ruleset, site.region, site.side, site.nerve):
            moved: dict[str, Any] = {"id": site.id, "region": region}
            if side is not None:
                moved["side"] = side
            original = data["plan"]["sites"][index]
            for keep in ("nerve", "technique", "depth_mm"):
                if keep in original:
                    moved[keep] = original[keep]
            trial = {**data, "plan": {**data["plan"], "sites": [*data["plan"]["sites"]]}}
            trial["plan"]["sites"][index] = moved
            try:
                screened = _screen(ruleset, Intake.model_validate(trial))
            except ValueError:  # the nerve is not needled there, or the place is refused: not offered
                continue
            there = screened.sites[index]
            if _RANK[there.verdict] >= _RANK[sv.verdict]:
                continue
            avoided = tuple(sorted(own_rules[site.id] - set(there.rules)))
            label = _label(ruleset, region, side)
            out.append(
                PlaceChange(
                    site_id=site.id,
                    region=region,
                    region_label=label,
                    side=side,
                    verdict=there.verdict,
                    from_verdict=sv.verdict,
                    avoids=avoided,
                    text=f"{label} instead ({there.verdict})",
                )
            )
    return out


# --- the whole result ---------------------------------------------------------------------------------------


def _fact_set(facts: Facts, site_id: str | None, circuit: tuple[str, str] | None) -> FactSet:
    if site_id is not None:
        return next(fs for s, fs in facts.sites if s.id == site_id)
    if circuit is not None:
        key = f"{circuit[0]}~{circuit[1]}"
        return next(fs for cid, fs in facts.circuits if cid == key)
    return facts.patient


def _joined(parts: Sequence[str]) -> str:
    """Two changes said as one when only what is taken differs ("a neutrophil count and a platelet count taken
    inside the nadir window ...")."""
    if len(parts) == 2:
        (a, _, rest_a), (b, _, rest_b) = (p.partition(" taken ") for p in parts)
        if rest_a and rest_a == rest_b:
            return f"{a} and {b} taken {rest_a}"
    return " and ".join(parts)


def alternatives(ruleset: Ruleset, intake: Intake, result: ScreeningResult) -> Alternatives:
    """The value changes and other places that would keep the reasons of ``result`` from triggering.

    Args:
        ruleset: the ruleset ``result`` was screened with.
        intake: the validated intake that was screened.
        result: its result.

    Raises:
        IntakeError: the intake does not normalise (it would not have screened either).
    """
    facts = _facts(ruleset, intake)
    search = _Search(ruleset)
    values: list[ValueChange] = []
    seen: set[tuple[str, str]] = set()
    for f in result.findings:
        if f.status != "fired":
            continue
        rule = ruleset.rule(f.rule_id)
        fs = _fact_set(facts, f.site.id if f.site else None, f.circuit)
        for ranges in search.changes(rule, fs):
            text = _joined([_BY_NAME[r.variable].say(r, fs) for r in ranges])
            key = (rule.id if rule.fact_scope == "patient" else f"{rule.id}@{f.site.id if f.site else f.circuit}", text)
            if key in seen:
                continue
            seen.add(key)
            values.append(
                ValueChange(
                    rule_id=rule.id,
                    verdict=f.verdict,
                    site_id=f.site.id if f.site else None,
                    circuit=f.circuit,
                    ranges=ranges,
                    text=text,
                )
            )
    return Alternatives(values=tuple(values), places=tuple(_places(ruleset, intake, result)))
