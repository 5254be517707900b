"""The screening pipeline: parse -> normalise -> evaluate -> aggregate.

:func:`screen` is the one call intake software needs. Each step is a small function so that the CLI, the HTTP
service and the tests can reuse them: :func:`parse_intake` validates input, :func:`needlescreen.facts.normalise`
turns it into facts, an engine matches the rules, and :func:`aggregate` builds the result (worst verdict wins,
every reason kept, every unknown named).
"""

from __future__ import annotations

import json
import os
import re
import typing
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import BaseModel, TypeAdapter, ValidationError

from . import _yaml
from ._suggest import close
from ._version import package_version
from .compact import CompactResult
from .conditions import Truth
from .engine import Engine, EngineName, Firing, make_engine
from .errors import EngineError, FieldProblem, IntakeError
from .facts import FACTS, UNPAIRED, Facts, FactSet, FactValue, normalise
from .intake import Intake, Site
from .result import (
    FindingResult,
    ScreeningResult,
    SiteRef,
    Verdict,
    worst,
)
from .ruleset import CompiledRule, Ruleset, load_ruleset

__all__ = ["Screener", "aggregate", "decide", "default_screener", "parse_intake", "screen", "verdicts"]

_RANK = {"clear": 0, "caution": 1, "refer": 2}


def _json_path(loc: Iterable[int | str]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


#: A key longer than any field name by this much is not a misspelling of one (and is not compared).
_LONGEST_KEY = 64
#: Misspelt keys given a did-you-mean per intake: past these, a list repeating its mistake gains nothing more.
_SUGGESTED_KEYS = 100


@lru_cache(maxsize=256)
def _model_at(fields: tuple[str, ...]) -> type[BaseModel] | None:
    """The intake model at a path of field names (``("plan", "sites")`` is a Site: list indices are left out,
    an item of a tuple of models being the tuple's element model), or None past a leaf."""
    model: type[BaseModel] | None = Intake
    for part in fields:
        if model is None or part not in model.model_fields:
            return None
        model = _element_model(model.model_fields[part].annotation)
    return model


def _element_model(annotation: Any) -> type[BaseModel] | None:
    """The model a field holds: itself, inside ``X | None``, ``Annotated`` or a ``tuple[X, ...]``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        if (inner := _element_model(arg)) is not None:
            return inner
    return None


@lru_cache(maxsize=1024)
def _field_meant(model: type[BaseModel], key: str) -> str | None:
    """The field of ``model`` a misspelt key names, if one is close (cached: a list repeats its mistakes)."""
    near = close(key, list(model.model_fields), limit=1)
    return near[0] if near else None


def _problems(exc: ValidationError) -> list[FieldProblem]:
    """Readable problems from pydantic's errors: JSON paths, a did-you-mean for a misspelt field, no echoes.

    A field name close to one of its object's fields ("agee", "technqiue") gets that field as a suggestion; the
    required field it was meant to be is then said to be misspelt rather than missing. A list whose items all
    failed is not also reported as too short (``plan.sites`` with one misspelt site field).
    """
    errors = exc.errors(include_url=False)
    # pydantic adds the union/literal branch tags to the location; readers want the field path only.
    paths = [
        tuple(p for p in err["loc"] if not (isinstance(p, str) and ("[" in p or p.startswith("function-"))))
        for err in errors
    ]
    unknown: dict[tuple[int | str, ...], str] = {}  # parent path -> the misspelt key that names a field of it
    meant: dict[tuple[int | str, ...], str] = {}  # misspelt key path -> the field it names
    extra = [loc for err, loc in zip(errors, paths, strict=True) if err["type"] == "extra_forbidden" and loc]
    for loc in extra[:_SUGGESTED_KEYS]:
        key = loc[-1]
        if not isinstance(key, str) or len(key) > _LONGEST_KEY:
            continue
        model = _model_at(tuple(p for p in loc[:-1] if isinstance(p, str)))
        near = _field_meant(model, key) if model is not None else None
        if near:
            meant[loc] = near
            unknown[(*loc[:-1], near)] = key
    # Every path that holds another error (only needed, and only built, when a list is said to be too short).
    short = any(err["type"] == "too_short" for err in errors)
    above = {p[:i] for p in paths for i in range(len(p))} if short else set()
    problems = []
    for err, loc in zip(errors, paths, strict=True):
        msg = err["msg"]
        suggestions: tuple[str, ...] = ()
        if err["type"] == "too_short" and loc in above:
            continue  # its items failed: the list is not short, they are wrong
        if err["type"] == "extra_forbidden":
            msg = "unknown field (not part of the intake schema)"
            if loc in meant:
                suggestions = (meant[loc],)
                msg += f"; did you mean {meant[loc]!r}?"
        elif err["type"] == "missing" and loc in unknown:
            msg += f" (written as {unknown[loc]!r}?)"
        elif isinstance(err.get("input"), bool) and err["type"] == "literal_error":
            # YAML reads an unquoted yes/no as true/false.
            msg += '; write the answer as text, e.g. "no" (in YAML put it in quotes)'
        elif isinstance(err.get("input"), bool):
            msg += " (true/false is not accepted here)"
        problems.append(FieldProblem(_json_path(loc), msg, suggestions))
    return problems


#: Text that is only a file name: one line ending in a data file's suffix, or a path with a separator.
_FILE_NAME = re.compile(r"[^\n{}\[\]]*\.(?:json|ya?ml|txt)|[^\s{}\[\]:]*[/\\][^\s{}\[\]:]*", re.IGNORECASE)


def not_an_object(data: object, given: object) -> FieldProblem:
    """Why a value is not an intake; a str that names a file is told to be a Path (a str is never opened)."""
    if isinstance(given, str) and isinstance(data, str) and _FILE_NAME.fullmatch(given.strip()):
        name = given.strip()
        return FieldProblem(
            "",
            f"an intake must be a JSON object; got the text {name!r}, which looks like a file name: a str is read "
            f"as JSON or YAML text, never opened as a file. To screen a file, pass a pathlib.Path: "
            f"screen(Path({name!r}))",
        )
    if data is None:
        kind = "nothing (the input is empty)"
    elif isinstance(data, str):
        kind = "a single text value"
    elif isinstance(data, bool | int | float):
        kind = "a single number or true/false"
    elif isinstance(data, list | tuple):
        kind = "a list"
    else:
        kind = f"a {type(data).__name__}"
    return FieldProblem("", f"an intake must be a JSON object (a mapping of fields), not {kind}")


def _reject_duplicate_json(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"duplicate key {k!r}")
        out[k] = v
    return out


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a valid number")


def _nested_fields(cls: type[BaseModel]) -> tuple[str, ...]:
    """The fields of a model class whose values can hold models (directly, optional, or in a tuple)."""

    def holds_model(tp: Any) -> bool:
        return (isinstance(tp, type) and issubclass(tp, BaseModel)) or any(holds_model(a) for a in get_args(tp))

    return tuple(name for name, f in cls.model_fields.items() if holds_model(f.annotation))


_NESTED: dict[type[BaseModel], tuple[str, ...]] = {}


def _keys_read(model: BaseModel) -> int:
    """How many object keys the validated input had, counted from the models built from it (fields set)."""
    n = 0
    stack = [model]
    while stack:
        m = stack.pop()
        given = m.__pydantic_fields_set__
        n += len(given)
        cls = type(m)
        nested = _NESTED.get(cls)
        if nested is None:
            nested = _NESTED[cls] = _nested_fields(cls)
        for name in nested:
            if name in given:
                value = getattr(m, name)
                if isinstance(value, BaseModel):
                    stack.append(value)
                elif isinstance(value, tuple):
                    stack.extend(v for v in value if isinstance(v, BaseModel))
    return n


def validate_json(text: str) -> Intake | None:
    """The intake validated straight from JSON text by pydantic's parser, or None to take the ordinary path.

    Cheaper than decoding with :mod:`json` and validating the objects (1.4 instead of 1.8 times the bare
    ``Intake.model_validate_json`` on the benchmark's typical cohort, the key count below being most of the
    difference). It answers only when its answer
    is the ordinary path's: any input it does not accept (invalid JSON, NaN or infinity, numbers out of range,
    too deep, any validation error) goes the ordinary way, so every rejection and its message stay the same.
    Duplicate keys, which pydantic's parser accepts (the last one wins), are ruled out by counting: without a
    backslash no string holds a quote, so when every colon directly follows a quote, ``":`` counts the keys of
    the text exactly, and they must be as many as the fields the models were given. Any text with a backslash
    or another colon takes the ordinary path.
    """
    if "\\" in text or not text.lstrip(" \t\r\n").startswith("{"):
        return None
    keys = text.count('":')
    if text.count(":") != keys:
        return None
    try:
        intake = Intake.model_validate_json(text)
    except (ValidationError, RecursionError):
        return None
    return intake if _keys_read(intake) == keys else None


def parse_intake(data: Intake | Mapping[str, Any] | str | bytes, *, source: str | None = None) -> Intake:
    """Validate an intake given as a model, a mapping, or JSON/YAML text.

    Raises:
        IntakeError: naming every field at fault by its JSON path.
    """
    if isinstance(data, Intake):
        return data
    original = data
    if isinstance(data, str | bytes):
        try:
            text = data.decode("utf-8", errors="strict") if isinstance(data, bytes) else data
        except UnicodeDecodeError as exc:
            problem = FieldProblem("", f"not UTF-8 text ({exc.reason} at byte {exc.start})")
            raise IntakeError([problem], source=source) from None
        fast = validate_json(text)
        if fast is not None:
            return fast
        try:
            stripped = text.lstrip()
            if stripped.startswith("{"):
                data = json.loads(text, object_pairs_hook=_reject_duplicate_json, parse_constant=_reject_constant)
            else:
                data = _yaml.load(text)
        except _yaml.YAMLError as exc:
            problem = FieldProblem("", f"not valid JSON or YAML: {_yaml.describe(exc)}")
            raise IntakeError([problem], source=source) from None
        except ValueError as exc:
            raise IntakeError([FieldProblem("", f"not valid JSON or YAML: {exc}")], source=source) from None
        except RecursionError:
            raise IntakeError([FieldProblem("", "input is nested too deeply")], source=source) from None
    if not isinstance(data, Mapping):
        raise IntakeError([not_an_object(data, original)], source=source)
    try:
        return Intake.model_validate(data)
    except ValidationError as exc:
        raise IntakeError(_problems(exc), source=source) from None
    except RecursionError:
        raise IntakeError([FieldProblem("", "input is nested too deeply")], source=source) from None


@dataclass(frozen=True, slots=True)
class _Static:
    """What every result of one ruleset shares, computed once (results are built for every screening)."""

    ruleset: Ruleset
    rules: Mapping[str, CompiledRule]
    stamp: dict[str, str]
    policy: dict[str, str | float]
    #: Per rule and status (fired or not): its finding as validated on first use (see :func:`_finding_template`).
    findings: dict[tuple[str, bool], FindingResult]


_STATIC: dict[int, _Static] = {}


def _static(ruleset: Ruleset) -> _Static:
    cached = _STATIC.get(id(ruleset))
    if cached is None or cached.ruleset is not ruleset:
        cached = _Static(
            ruleset=ruleset,
            rules={r.id: r for r in ruleset.rules},
            stamp={"name": ruleset.name, "revision": ruleset.revision, "content_hash": ruleset.content_hash},
            policy=ruleset.policy_used(),
            findings={},
        )
        if len(_STATIC) > 64:  # a long-lived process that loads many rulesets keeps only recent ones
            _STATIC.clear()
        _STATIC[id(ruleset)] = cached
    return cached


def _finding_template(static: _Static, rule: CompiledRule, fired: bool) -> FindingResult:
    """A rule's finding for one status, validated by the published model once, to be copied with the patient's part.

    Validating a whole result costs about 9 µs per finding, most of it on fields that are the same every time
    the rule fires (titles, summaries, modifications, references); a screening where a hundred rules fire
    spent over a millisecond on it. Each finding is a copy of its rule's template with what depends on the
    patient (site, circuit, facts, missing, detail), which is typed by construction and checked by the result's
    own schema tests.
    """
    key = (rule.id, fired)
    template = static.findings.get(key)
    if template is None:
        template = static.findings[key] = FindingResult.model_validate(
            {
                "rule_id": rule.id,
                "title": rule.title,
                "classification": rule.classification,
                "verdict": rule.verdict if fired else rule.unknown_verdict,
                "status": "fired" if fired else "unknown",
                "topic": rule.topic,
                "scope": rule.scope,
                "summary": rule.summary,
                "detail": rule.detail,
                "modifications": rule.modifications,
                "site": None,
                "circuit": None,
                "facts": {},
                "missing": (),
                "references": [
                    {"key": src.key, "citation": src.citation, "evidence": src.evidence} for src in rule.references
                ],
            }
        )
    return template


_FINDING_FIELDS = frozenset(FindingResult.model_fields)
_new = object.__new__
_set = object.__setattr__


def _with_patient(template: FindingResult, patient: dict[str, Any]) -> FindingResult:
    """A copy of a rule's finding template with the patient's part: ``model_copy(update=...)`` without its copies.

    A finding is built this way for every firing (174 per screening in the benchmark's worst cohort), where
    ``model_copy`` spent 4 µs on copying the template's field set, extras and private state, none of which a
    finding has: the new model gets the template's fields with the patient's part, every field set, no extras,
    no private state (what ``model_construct`` sets, at a third of ``model_copy``'s cost). The values are typed by
    construction, as for ``model_copy``; the result's schema tests and the test of this function check them.
    """
    finding = _new(FindingResult)
    _set(finding, "__dict__", template.__dict__ | patient)
    _set(finding, "__pydantic_fields_set__", set(_FINDING_FIELDS))  # its own set: model_copy(update=) adds to it
    _set(finding, "__pydantic_extra__", None)
    _set(finding, "__pydantic_private__", None)
    return finding


def _site_refs(sites: Iterable[Site], ruleset: Ruleset) -> tuple[SiteRef, ...]:
    """The result's reference to each planned site, validated in one call (each is shared by its findings)."""
    return _SITE_REFS.validate_python(
        [
            {
                "id": site.id,
                "region": site.region or "",  # normalise() has placed every site (a muscle becomes its region)
                "region_label": ruleset.regions[site.region or ""].label,
                "side": site.side,
                "muscle": site.muscle,
                "nerve": site.nerve,
            }
            for site in sites
        ]
    )


_SITE_REFS: TypeAdapter[tuple[SiteRef, ...]] = TypeAdapter(tuple[SiteRef, ...])


def _shown(value: FactValue) -> str | float | list[str]:
    if isinstance(value, frozenset):
        return sorted(value)
    return value if isinstance(value, str) else float(value)


def _detail(detail: str, reads: tuple[str, ...], fs: FactSet) -> str:
    """The rule's detail, followed by the entries of any list fact it read (e.g. which answers contradict)."""
    entries = [e for n in reads if FACTS[n].type == "list" and n in fs for e in sorted(fs[n])]  # type: ignore[arg-type]
    return detail if not entries else f"{detail.rstrip()} " + "; ".join(f"[{e}]" for e in entries)


def verdicts(firings: Iterable[Firing], ruleset: Ruleset) -> tuple[Verdict, dict[str, Verdict]]:
    """The overall verdict and each rule's worst verdict, exactly as :func:`aggregate` gives them, without the result.

    For callers that only compare verdicts (``impact`` screens a cohort twice): a finding is one firing, its
    verdict the rule's verdict when its condition held and its unknown verdict when it could not be decided,
    and the overall verdict the worst of them.
    """
    rules = _static(ruleset).rules
    by_rule: dict[str, Verdict] = {}
    for f in firings:
        rule = rules[f.rule_id]
        verdict: Verdict = rule.verdict if f.truth is Truth.TRUE else rule.unknown_verdict
        if _RANK[verdict] > _RANK[by_rule.get(rule.id, "clear")]:
            by_rule[rule.id] = verdict
    return worst(*by_rule.values()), by_rule


def _fact_set(f: Firing, facts: Facts) -> FactSet:
    """The facts a firing was matched on."""
    if f.scope == "patient":
        return facts.patient
    if f.scope == "site":
        return facts.sites[f.index][1]
    return facts.circuits[f.index][1]


def _sites_of(
    f: Firing, facts: Facts, circuits: tuple[tuple[str, str], ...], site_index: Mapping[str, int]
) -> Iterable[int] | None:
    """The planned sites (by index) a firing concerns, or None when it concerns the whole patient."""
    if f.scope == "site":
        return (f.index,)
    if f.scope == "circuit":
        if facts.circuits[f.index][0] == UNPAIRED:
            return range(len(facts.sites))  # no lead pairs given: the circuit rule concerns every planned site
        return [site_index[end] for end in circuits[f.index]]
    return None


def aggregate(
    intake: Intake, facts: Facts, firings: Iterable[Firing], ruleset: Ruleset, engine: EngineName
) -> ScreeningResult:
    """Build the result from firings: worst verdict wins, every finding kept, every unknown named.

    The result is assembled as plain data and validated once into the frozen model; each rule's fixed finding
    fields were validated the first time it fired (:func:`_finding_template`), and each site once per result.
    """
    static = _static(ruleset)
    sites = [s for s, _ in facts.sites]
    refs = _site_refs(sites, ruleset)
    circuits = intake.plan.circuits
    site_index = {s.id: i for i, s in enumerate(sites)}
    findings: list[tuple[tuple[Any, ...], FindingResult]] = []
    site_rules: list[list[tuple[str, Verdict]]] = [[] for _ in sites]
    patient_level: list[tuple[str, Verdict]] = []
    missing: dict[str, set[str]] = {}

    for f in firings:
        rule = static.rules[f.rule_id]
        fs = _fact_set(f, facts)
        fired = f.truth is Truth.TRUE
        verdict: Verdict = rule.verdict if fired else rule.unknown_verdict
        known = {n: _shown(fs[n]) for n in rule.reads if n in fs}
        absent = () if fired else tuple(n for n in rule.reads if n not in fs)
        for n in absent:
            missing.setdefault(n, set()).add(rule.id)
        site_ref = refs[f.index] if f.scope == "site" else None
        circuit = circuits[f.index] if f.scope == "circuit" and facts.circuits[f.index][0] != UNPAIRED else None
        concerned = _sites_of(f, facts, circuits, site_index)
        if concerned is None:
            patient_level.append((rule.id, verdict))
        else:
            for i in concerned:
                site_rules[i].append((rule.id, verdict))
        finding = _with_patient(
            _finding_template(static, rule, fired),
            {
                "detail": _detail(rule.detail, rule.reads, fs),
                "site": site_ref,
                "circuit": circuit,
                "facts": known,
                "missing": absent,
            },
        )
        order = (-_RANK[verdict], not fired, rule.id, f.scope, f.index)
        findings.append((order, finding))

    findings.sort(key=lambda item: item[0])
    patient_verdicts = [v for _, v in patient_level]
    patient_ids = {rid for rid, _ in patient_level}
    site_verdicts = [
        {
            "site": refs[i],
            "verdict": worst(*(v for _, v in site_rules[i]), *patient_verdicts),
            "rules": sorted({rid for rid, _ in site_rules[i]} | patient_ids),
        }
        for i in range(len(sites))
    ]
    missing_items = [
        {"fact": n, "question": FACTS[n].question, "rules": sorted(ids)} for n, ids in sorted(missing.items())
    ]
    return ScreeningResult.model_validate(
        {
            "verdict": worst(*(fr.verdict for _, fr in findings)),
            "technique": intake.plan.technique,
            "sites": site_verdicts,
            "findings": [fr for _, fr in findings],
            "missing": missing_items,
            "unrecognised_medications": facts.unrecognised_medications,
            "unrecognised_medication_details": ruleset.medications.unrecognised(
                (m.name, m.atc) for m in intake.medications.items
            )
            if facts.unrecognised_medications
            else (),
            "ruleset": static.stamp,
            "policy": static.policy,
            "policy_source": ruleset.policy.source,
            "engine": engine,
            "package_version": package_version(),
            "decision_id": str(uuid.uuid4()),
            "timestamp": datetime.now(UTC),
        }
    )


def decide(
    intake: Intake, facts: Facts, firings: Iterable[Firing], ruleset: Ruleset, engine: EngineName
) -> CompactResult:
    """The compact result straight from the firings, without the full result's prose: ``compact(aggregate(...))``.

    For callers that keep only the decision (``batch`` without ``--full``): the same verdicts, site verdicts, rule
    ids and missing facts as the compact form of the full result (the tests hold the two equal on generated
    intakes, both engines), without building a finding per firing.
    """
    static = _static(ruleset)
    sites = [s for s, _ in facts.sites]
    site_index = {s.id: i for i, s in enumerate(sites)}
    circuits = intake.plan.circuits
    site_rules: list[dict[str, Verdict]] = [{} for _ in sites]
    patient: dict[str, Verdict] = {}
    fired: dict[str, Verdict] = {}
    unknown: dict[str, Verdict] = {}
    missing: set[str] = set()
    for f in firings:
        rule = static.rules[f.rule_id]
        if f.truth is Truth.TRUE:
            verdict: Verdict = rule.verdict
            fired[rule.id] = verdict
        else:
            verdict = rule.unknown_verdict
            unknown[rule.id] = verdict
            fs = _fact_set(f, facts)
            missing.update(n for n in rule.reads if n not in fs)
        concerned = _sites_of(f, facts, circuits, site_index)
        for rules_of_site in (patient,) if concerned is None else (site_rules[i] for i in concerned):
            if _RANK[verdict] > _RANK[rules_of_site.get(rule.id, "clear")]:
                rules_of_site[rule.id] = verdict
    patient_verdicts = list(patient.values())
    return CompactResult.model_validate(
        {
            "verdict": worst(*fired.values(), *unknown.values()),
            "technique": intake.plan.technique,
            "sites": [
                {
                    "id": site.id,
                    "verdict": worst(*site_rules[i].values(), *patient_verdicts),
                    # Whole-patient rules concern every site and are listed under fired/unknown only.
                    "rules": sorted(site_rules[i]),
                }
                for i, site in enumerate(sites)
            ],
            "fired": dict(sorted(fired.items(), key=_worst_first)),
            "unknown": dict(sorted(unknown.items(), key=_worst_first)),
            "missing": sorted(missing),
            "unrecognised_medications": facts.unrecognised_medications,
            "ruleset": static.stamp,
            "policy_source": ruleset.policy.source,
            "engine": engine,
            "decision_id": str(uuid.uuid4()),
            "timestamp": datetime.now(UTC),
        }
    )


def _worst_first(item: tuple[str, Verdict]) -> tuple[int, str]:
    return -_RANK[item[1]], item[0]


IntakeInput = Intake | Mapping[str, Any] | str | bytes | os.PathLike[str]
#: A valid intake, its facts and the engine's firings, ready for :func:`aggregate` or :func:`decide`.
_Matched = tuple[Intake, Facts, frozenset[Firing]]


def _read_intake(intake: IntakeInput) -> Intake:
    """Validate an intake; a path is read as a JSON or YAML file (text is never taken for a file name)."""
    if isinstance(intake, os.PathLike):
        source = os.fspath(intake)
        try:
            raw = Path(source).read_bytes()
        except OSError as exc:
            problem = FieldProblem("", f"cannot read file: {exc.strerror or exc}")
            raise IntakeError([problem], source=source) from None
        # parse_intake decodes the bytes, so a file that is not UTF-8 is an IntakeError like any other.
        return parse_intake(raw, source=source)
    return parse_intake(intake)


class Screener:
    """A loaded ruleset and its engine, built once and reused for every screening (thread-safe).

    ``Screener()`` uses the bundled rules and the preferred engine; ``Screener(rules_dir=..., policy_file=...,
    engine=...)`` a custom rules directory, a clinic's policy file and a chosen engine; ``Screener(ruleset)`` a
    ruleset already loaded with :func:`load_ruleset`.
    """

    def __init__(
        self,
        ruleset: Ruleset | None = None,
        *,
        rules_dir: str | os.PathLike[str] | None = None,
        policy_file: str | os.PathLike[str] | None = None,
        policy_overrides: Mapping[str, object] | None = None,
        engine: EngineName | Literal["auto"] = "auto",
    ) -> None:
        """Load the rules (unless given) and build the engine once.

        Args:
            ruleset: a loaded ruleset; when given, ``rules_dir``, ``policy_file`` and ``policy_overrides`` are not.
            rules_dir: a ruleset directory (default: the bundled rules).
            policy_file: a clinic's policy override file.
            policy_overrides: policy values given in code (applied after ``policy_file``).
            engine: ``auto`` (durable_rules where it loads, else plain), ``durable_rules`` or ``plain``.

        Raises:
            RuleFileError: a rule file is missing or malformed (``PolicyError`` for a policy file or value).
            EngineUnavailableError: the engine is unknown or cannot load here; the message lists those that can.
            TypeError: ``ruleset`` is not a :class:`Ruleset`, or is given with something to load.
        """
        if ruleset is None:
            ruleset = load_ruleset(
                None if rules_dir is None else Path(rules_dir),
                policy_file=None if policy_file is None else Path(policy_file),
                policy_overrides=policy_overrides,
            )
        elif not isinstance(ruleset, Ruleset):
            raise TypeError(f"ruleset must be a loaded Ruleset, not {type(ruleset).__name__}; use rules_dir=...")
        elif rules_dir is not None or policy_file is not None or policy_overrides:
            raise TypeError("give a loaded ruleset or rules_dir/policy_file/policy_overrides to load, not both")
        self.ruleset = ruleset
        self.engine: Engine = make_engine(self.ruleset, engine)

    def facts(self, intake: IntakeInput) -> tuple[Intake, Facts]:
        """Validate and normalise without evaluating (for explain and tests)."""
        model = _read_intake(intake)
        rs = self.ruleset
        return model, normalise(model, rs.regions, rs.medications, rs.codes, rs.body, vocabulary=rs.vocabulary)

    def screen(self, intake: IntakeInput) -> ScreeningResult:
        """Screen one intake: an :class:`Intake`, a mapping, JSON or YAML text, or a path to a JSON/YAML file.

        Raises:
            IntakeError: the intake is invalid or its file unreadable (nothing is screened).
            EngineError: the engine failed (no verdict is produced).
        """
        model, facts = self.facts(intake)
        firings = self.engine.run(facts)
        return aggregate(model, facts, firings, self.ruleset, self.engine.name)

    def decide(self, intake: IntakeInput) -> CompactResult:
        """As :meth:`screen`, the compact result (:func:`decide`): the decision without the prose.

        Raises:
            IntakeError: the intake is invalid or its file unreadable (nothing is screened).
            EngineError: the engine failed (no verdict is produced).
        """
        model, facts = self.facts(intake)
        return decide(model, facts, self.engine.run(facts), self.ruleset, self.engine.name)

    def decide_many(self, intakes: Iterable[IntakeInput]) -> list[CompactResult | IntakeError]:
        """As :meth:`screen_many`, each valid intake's compact result (:func:`decide`) instead of its full one.

        Raises:
            EngineError: the engine failed; no intake of the call gets a verdict (the whole call fails closed).
        """
        name = self.engine.name
        return [m if isinstance(m, IntakeError) else decide(*m, self.ruleset, name) for m in self._run_many(intakes)]

    def screen_many(self, intakes: Iterable[IntakeInput]) -> list[ScreeningResult | IntakeError]:
        """Screen many intakes in one call: for each, in order, its result or the :class:`IntakeError` rejecting it.

        Each intake is validated and normalised on its own, so an invalid one is reported in its place and never
        affects another's verdict. The valid ones are then matched together: durable_rules matches the facts of
        many screenings in one session, sharing the session's set-up, which costs more than matching one
        typical screening (see the README, Performance); the plain evaluator screens them one by one. Every
        result is what :meth:`screen` gives for that intake alone (the engine agreement tests check this).
        Everything is held in memory until the call returns: give a list of a few hundred, not a whole file.

        Raises:
            EngineError: the engine failed; no intake of the call gets a verdict (the whole call fails closed).
        """
        name = self.engine.name
        return [m if isinstance(m, IntakeError) else aggregate(*m, self.ruleset, name) for m in self._run_many(intakes)]

    def _run_many(self, intakes: Iterable[IntakeInput]) -> list[_Matched | IntakeError]:
        """Each intake validated and normalised on its own, then the valid ones matched in one engine call."""
        out: list[_Matched | IntakeError | None] = []
        valid: list[tuple[int, Intake, Facts]] = []
        for intake in intakes:
            try:
                model, facts = self.facts(intake)
            except IntakeError as exc:
                out.append(exc)
                continue
            valid.append((len(out), model, facts))
            out.append(None)
        firings = self.engine.run_many([facts for _, _, facts in valid])
        if len(firings) != len(valid):
            raise EngineError(f"the engine returned {len(firings)} screenings for {len(valid)}")
        for (k, model, facts), fired in zip(valid, firings, strict=True):
            out[k] = (model, facts, fired)
        done = [item for item in out if item is not None]
        if len(done) != len(out):  # pragma: no cover - every place was filled above
            raise AssertionError("an intake of screen_many was left without a result or an error")
        return done


@lru_cache(maxsize=1)
def default_screener() -> Screener:
    """The process-wide screener over the bundled ruleset and the preferred engine."""
    return Screener()


def screen(intake: IntakeInput, *, screener: Screener | None = None) -> ScreeningResult:
    """Screen one intake with the bundled rules (or a given :class:`Screener`).

    Args:
        intake: an :class:`Intake`, a mapping, JSON or YAML text, or a path to a JSON/YAML file.
        screener: reuse a configured screener (custom rules, clinic policy, a chosen engine).

    Raises:
        IntakeError: the intake is invalid or its file unreadable (nothing is screened).
        EngineError: the engine failed (no verdict is produced).
    """
    return (screener or default_screener()).screen(intake)
