"""The screening pipeline: parse -> normalise -> evaluate -> aggregate.

:func:`screen` is the one call intake software needs. Each step is a small function so that the CLI, the HTTP
service and the tests can reuse them: :func:`parse_intake` validates input, :func:`needlescreen.facts.normalise`
turns it into facts, an engine matches the rules, and :func:`aggregate` builds the result (worst verdict wins,
every reason kept, every unknown named).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError

from . import _yaml
from .conditions import Truth
from .engine import Engine, EngineName, Firing, make_engine
from .errors import FieldProblem, IntakeError
from .facts import FACTS, Facts, FactSet, FactValue, normalise
from .intake import Intake, Site
from .result import (
    ScreeningResult,
    Verdict,
    worst,
)
from .ruleset import CompiledRule, Ruleset, load_ruleset

__all__ = ["Screener", "aggregate", "default_screener", "parse_intake", "screen"]

_RANK = {"clear": 0, "caution": 1, "refer": 2}


@lru_cache(maxsize=1)
def _package_version() -> str:
    try:
        return version("needlescreen")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
        return "0+unknown"


def _json_path(loc: Iterable[int | str]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _problems(exc: ValidationError) -> list[FieldProblem]:
    problems = []
    for err in exc.errors(include_url=False):
        # pydantic adds the union/literal branch tags to the location; readers want the field path only.
        loc = [p for p in err["loc"] if not (isinstance(p, str) and ("[" in p or p.startswith("function-")))]
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown field (not part of the intake schema)"
        elif isinstance(err.get("input"), bool) and err["type"] == "literal_error":
            # YAML reads an unquoted yes/no as true/false.
            msg += '; write the answer as text, e.g. "no" (in YAML put it in quotes)'
        elif isinstance(err.get("input"), bool):
            msg += " (true/false is not accepted here)"
        problems.append(FieldProblem(_json_path(loc), msg))
    return problems


def _reject_duplicate_json(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"duplicate key {k!r}")
        out[k] = v
    return out


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a valid number")


def parse_intake(data: Intake | Mapping[str, Any] | str | bytes, *, source: str | None = None) -> Intake:
    """Validate an intake given as a model, a mapping, or JSON/YAML text.

    Raises:
        IntakeError: naming every field at fault by its JSON path.
    """
    if isinstance(data, Intake):
        return data
    if isinstance(data, str | bytes):
        try:
            text = data.decode("utf-8", errors="strict") if isinstance(data, bytes) else data
        except UnicodeDecodeError as exc:
            problem = FieldProblem("", f"not UTF-8 text ({exc.reason} at byte {exc.start})")
            raise IntakeError([problem], source=source) from None
        try:
            stripped = text.lstrip()
            if stripped.startswith("{"):
                data = json.loads(text, object_pairs_hook=_reject_duplicate_json, parse_constant=_reject_constant)
            else:
                data = _yaml.load(text)
        except (ValueError, _yaml.YAMLError) as exc:
            raise IntakeError([FieldProblem("", f"not valid JSON or YAML: {exc}")], source=source) from None
        except RecursionError:
            raise IntakeError([FieldProblem("", "input is nested too deeply")], source=source) from None
    if not isinstance(data, Mapping):
        raise IntakeError([FieldProblem("", "an intake must be a JSON object")], source=source)
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
    references: Mapping[str, list[dict[str, str]]]
    stamp: dict[str, str]
    policy: dict[str, str | float]


_STATIC: dict[int, _Static] = {}


def _static(ruleset: Ruleset) -> _Static:
    cached = _STATIC.get(id(ruleset))
    if cached is None or cached.ruleset is not ruleset:
        cached = _Static(
            ruleset=ruleset,
            rules={r.id: r for r in ruleset.rules},
            references={
                r.id: [{"key": s.key, "citation": s.citation, "evidence": s.evidence} for s in r.references]
                for r in ruleset.rules
            },
            stamp={"name": ruleset.name, "revision": ruleset.revision, "content_hash": ruleset.content_hash},
            policy=ruleset.policy_used(),
        )
        if len(_STATIC) > 64:  # a long-lived process that loads many rulesets keeps only recent ones
            _STATIC.clear()
        _STATIC[id(ruleset)] = cached
    return cached


def _site_ref(site: Site, ruleset: Ruleset) -> dict[str, Any]:
    region = site.region or ""  # normalise() has placed every site (a muscle becomes its region)
    return {
        "id": site.id,
        "region": region,
        "region_label": ruleset.regions[region].label,
        "side": site.side,
        "muscle": site.muscle,
    }


def _shown(value: FactValue) -> str | float | list[str]:
    return sorted(value) if isinstance(value, frozenset) else value


def _detail(detail: str, reads: tuple[str, ...], fs: FactSet) -> str:
    """The rule's detail, followed by the entries of any list fact it read (e.g. which answers contradict)."""
    entries = [e for n in reads if FACTS[n].type == "list" and n in fs for e in sorted(fs[n])]  # type: ignore[arg-type]
    return detail if not entries else f"{detail.rstrip()} " + "; ".join(f"[{e}]" for e in entries)


def aggregate(
    intake: Intake, facts: Facts, firings: Iterable[Firing], ruleset: Ruleset, engine: EngineName
) -> ScreeningResult:
    """Build the result from firings: worst verdict wins, every finding kept, every unknown named.

    The result is assembled as plain data and validated once into the frozen model (pydantic's Rust
    validator is several times faster than building nested models one by one, and it checks the output too).
    """
    static = _static(ruleset)
    sites = [s for s, _ in facts.sites]
    refs = [_site_ref(s, ruleset) for s in sites]
    site_sets = [fs for _, fs in facts.sites]
    circuits = intake.plan.circuits
    site_index = {s.id: i for i, s in enumerate(sites)}
    findings: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
    site_rules: list[list[tuple[str, Verdict]]] = [[] for _ in sites]
    patient_level: list[tuple[str, Verdict]] = []
    missing: dict[str, set[str]] = {}

    for f in firings:
        rule = static.rules[f.rule_id]
        if f.scope == "patient":
            fs = facts.patient
        elif f.scope == "site":
            fs = site_sets[f.index]
        else:
            fs = facts.circuits[f.index][1]
        fired = f.truth is Truth.TRUE
        verdict: Verdict = rule.verdict if fired else rule.unknown_verdict
        known = {n: _shown(fs[n]) for n in rule.reads if n in fs}
        absent = () if fired else tuple(n for n in rule.reads if n not in fs)
        for n in absent:
            missing.setdefault(n, set()).add(rule.id)
        site_ref = None
        circuit = None
        if f.scope == "site":
            site_ref = refs[f.index]
            site_rules[f.index].append((rule.id, verdict))
        elif f.scope == "circuit":
            circuit = circuits[f.index]
            for end in circuit:
                site_rules[site_index[end]].append((rule.id, verdict))
        else:
            patient_level.append((rule.id, verdict))
        result = {
            "rule_id": rule.id,
            "title": rule.title,
            "classification": rule.classification,
            "verdict": verdict,
            "status": "fired" if fired else "unknown",
            "topic": rule.topic,
            "scope": rule.scope,
            "summary": rule.summary,
            "detail": _detail(rule.detail, rule.reads, fs),
            "modifications": rule.modifications,
            "site": site_ref,
            "circuit": circuit,
            "facts": known,
            "missing": absent,
            "references": static.references[rule.id],
        }
        order = (-_RANK[verdict], not fired, rule.id, f.scope, f.index)
        findings.append((order, result))

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
            "verdict": worst(*(fr["verdict"] for _, fr in findings)),
            "technique": intake.plan.technique,
            "sites": site_verdicts,
            "findings": [fr for _, fr in findings],
            "missing": missing_items,
            "unrecognised_medications": facts.unrecognised_medications,
            "ruleset": static.stamp,
            "policy": static.policy,
            "policy_source": ruleset.policy.source,
            "engine": engine,
            "package_version": _package_version(),
            "decision_id": str(uuid.uuid4()),
            "timestamp": datetime.now(UTC),
        }
    )


class Screener:
    """A loaded ruleset and its engine, built once and reused for every screening (thread-safe)."""

    def __init__(self, ruleset: Ruleset | None = None, *, engine: EngineName | Literal["auto"] = "auto") -> None:
        self.ruleset = ruleset if ruleset is not None else load_ruleset()
        self.engine: Engine = make_engine(self.ruleset, engine)

    def facts(self, intake: Intake | Mapping[str, Any] | str | bytes) -> tuple[Intake, Facts]:
        """Validate and normalise without evaluating (for explain and tests)."""
        model = parse_intake(intake)
        return model, normalise(model, self.ruleset.regions, self.ruleset.medications, self.ruleset.codes)

    def screen(self, intake: Intake | Mapping[str, Any] | str | bytes) -> ScreeningResult:
        """Screen one intake.

        Raises:
            IntakeError: the intake is invalid (nothing is screened).
            EngineError: the engine failed (no verdict is produced).
        """
        model, facts = self.facts(intake)
        firings = self.engine.run(facts)
        return aggregate(model, facts, firings, self.ruleset, self.engine.name)


@lru_cache(maxsize=1)
def default_screener() -> Screener:
    """The process-wide screener over the bundled ruleset and the preferred engine."""
    return Screener()


def screen(
    intake: Intake | Mapping[str, Any] | str | bytes | Path,
    *,
    screener: Screener | None = None,
) -> ScreeningResult:
    """Screen one intake with the bundled rules (or a given :class:`Screener`).

    Args:
        intake: an :class:`Intake`, a mapping, JSON or YAML text, or a path to a JSON/YAML file.
        screener: reuse a configured screener (custom rules, clinic policy, a chosen engine).
    """
    if isinstance(intake, Path):
        try:
            raw = intake.read_bytes()
        except OSError as exc:
            raise IntakeError([FieldProblem("", f"cannot read file: {exc.strerror}")], source=str(intake)) from None
        # parse_intake decodes the bytes, so a file that is not UTF-8 is an IntakeError like any other.
        intake = parse_intake(raw, source=str(intake))
    return (screener or default_screener()).screen(intake)
