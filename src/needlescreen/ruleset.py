"""Rule files: loading, validation and compilation to the engine-neutral form.

A ruleset directory holds ``ruleset.yaml`` (name and revision), ``regions.yaml``, ``vocabulary.yaml`` (site
names), ``medications.yaml``, ``sources.yaml``, ``policy.yaml`` and the rule files under ``rules/``. Files are
read with a safe YAML loader only (rules are data, never code) and validated strictly: a malformed file fails
naming the file, the rule id, the field and what was expected. Validation also rejects what would make
durable_rules hang or misjudge: empty ``all``/``any``, conditions that fire on absence alone, comparisons
without a value, and conditions whose normal form is too large.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any as AnyType
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from . import _bundled, _yaml
from ._suggest import close
from .body import BodyModel
from .codes import CodeMap
from .conditions import All, Any, Atom, Branch, Condition, Not, dnf, facts_read
from .errors import RuleFileError
from .facts import ALWAYS_KNOWN, FACTS
from .medications import MedicationClassifier
from .policy import Policy, PolicyValue, load_policy, load_policy_override
from .regions import RegionMap
from .vocabulary import Vocabulary

__all__ = [
    "MAX_BRANCHES_PER_RULE",
    "CompiledRule",
    "Ruleset",
    "Source",
    "default_rules_dir",
    "load_ruleset",
]

Verdict = Literal["clear", "caution", "refer"]
Scope = Literal["patient", "site", "electrical", "electrical_site", "circuit"]
Classification = Literal["absolute", "relative"]

#: Upper bound on true plus unknown branches of one rule; keeps durable_rules' alpha network small.
MAX_BRANCHES_PER_RULE = 48
MAX_ATOMS_PER_RULE = 24
MAX_DEPTH = 6
SUMMARY_LIMIT = 140

#: The finite domain of every answer and enum fact; the durable_rules adapter gives these facts an explicit
#: unknown sentinel (see :func:`needlescreen.conditions.dnf`).
DOMAINS: Mapping[str, tuple[str, ...]] = {n: f.values for n, f in FACTS.items() if f.type in ("answer", "enum")}

_OPS = ("eq", "ne", "lt", "le", "gt", "ge", "in", "not_in", "within", "not_within", "known")
_OPS_BY_TYPE = {
    "answer": {"eq", "ne", "known"},
    "enum": {"eq", "ne", "in", "not_in", "known"},
    "number": {"lt", "le", "gt", "ge", "known"},
    "region": {"within", "not_within"},
    "list": {"known"},
}


class _PolicyRef(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)
    policy: str


class _RuleSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    id: str = Field(pattern=r"^[A-Z][A-Z0-9_]{2,63}$")
    title: str = Field(min_length=3, max_length=120)
    classification: Classification
    verdict: Literal["caution", "refer"] | _PolicyRef
    scope: Scope
    when: dict[str, AnyType]
    unknown: Literal["caution", "refer"] | _PolicyRef
    summary: str = Field(min_length=3)
    detail: str = Field(min_length=3)
    modifications: list[str] = []
    references: list[str] = Field(min_length=1)


class _RuleFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)
    schema_: str = Field(alias="schema", pattern=r"^needlescreen\.rules/1$")
    topic: str = Field(min_length=3)
    rules: list[dict[str, AnyType]] = Field(min_length=1)


class _Manifest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)
    schema_: str = Field(alias="schema", pattern=r"^needlescreen\.ruleset/1$")
    name: str
    revision: str = Field(min_length=1)
    content_sha256: str | None = None


class _SourceSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)
    citation: str = Field(min_length=5)
    evidence: Literal["read", "secondary", "background", "inference"]
    note: str | None = None


class _SourcesFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)
    schema_: str = Field(alias="schema", pattern=r"^needlescreen\.sources/1$")
    sources: dict[str, _SourceSpec]


@dataclass(frozen=True, slots=True)
class Source:
    """A cited source with its evidence tag."""

    key: str
    citation: str
    evidence: str
    note: str | None = None


@dataclass(frozen=True, slots=True)
class CompiledRule:
    """A validated rule with its policy values bound, ready for either engine.

    ``fact_scope`` is the fact set the rule is evaluated on (patient, each site, each circuit); the
    ``electrical`` scopes add their technique guard to ``condition``.
    """

    id: str
    title: str
    classification: Classification
    verdict: Verdict
    unknown_verdict: Verdict
    scope: Scope
    fact_scope: Literal["patient", "site", "circuit"]
    condition: Condition
    true_branches: tuple[Branch, ...]
    unknown_branches: tuple[Branch, ...]
    reads: tuple[str, ...]
    policy: Mapping[str, PolicyValue]
    summary: str
    detail: str
    modifications: tuple[str, ...]
    references: tuple[Source, ...]
    file: str
    topic: str


@dataclass(frozen=True, slots=True)
class Ruleset:
    """A loaded, validated and compiled ruleset."""

    name: str
    revision: str
    content_hash: str
    rules: tuple[CompiledRule, ...]
    regions: RegionMap
    body: BodyModel
    medications: MedicationClassifier
    codes: CodeMap
    sources: Mapping[str, Source]
    policy: Policy
    directory: str
    #: The site names (muscles, abbreviations, body words) and where they place a site.
    vocabulary: Vocabulary
    declared_hash: str | None = None
    #: Rules a clinic policy switched off (a verdict setting whose value is ``clear``): not evaluated, but their
    #: policy values are recorded in every result, so the choice is visible.
    switched_off: tuple[CompiledRule, ...] = ()

    def rule(self, rule_id: str) -> CompiledRule:
        """Look a rule up by id (a rule a clinic policy switched off too)."""
        for r in (*self.rules, *self.switched_off):
            if r.id == rule_id:
                return r
        raise KeyError(rule_id)

    def policy_used(self) -> dict[str, PolicyValue]:
        """The policy values that rules of this ruleset read."""
        used: dict[str, PolicyValue] = {}
        for r in (*self.rules, *self.switched_off):
            used.update(r.policy)
        return dict(sorted(used.items()))


def default_rules_dir() -> Path:
    """The ruleset that ships with the package."""
    return _bundled.rules_dir()


def _read_yaml(path: Path) -> AnyType:
    return _yaml.load_file(path)


def _pydantic_error(exc: ValidationError, *, file: str, rule_id: str | None, prefix: str = "") -> RuleFileError:
    err = exc.errors()[0]
    # pydantic names union branches in the location ("literal[...]", "_PolicyRef"); readers want the field.
    loc = ".".join(str(p) for p in err["loc"] if not (isinstance(p, str) and ("[" in p or p.startswith("_"))))
    field = f"{prefix}{loc}" if loc else prefix.rstrip(".") or None
    expected = None
    ctx = err.get("ctx") or {}
    if "expected" in ctx:
        expected = str(ctx["expected"])
    elif "pattern" in ctx:
        expected = f"text matching {ctx['pattern']}"
    return RuleFileError(err["msg"], file=file, rule_id=rule_id, field=field, expected=expected)


class _ConditionParser:
    """Turns the YAML condition mapping into a :data:`Condition`, validating facts, operators and values."""

    def __init__(self, *, file: str, rule_id: str, scope: Scope, regions: RegionMap, policy: Policy) -> None:
        self.file, self.rule_id, self.scope = file, rule_id, scope
        self.regions, self.policy = regions, policy
        self.used: dict[str, PolicyValue] = {}
        self.atoms = 0

    def fail(self, where: str, message: str, expected: str | None = None) -> RuleFileError:
        return RuleFileError(message, file=self.file, rule_id=self.rule_id, field=where, expected=expected)

    def parse(self, node: object, where: str, depth: int = 0) -> Condition:
        if depth > MAX_DEPTH:
            raise self.fail(where, f"condition nested deeper than {MAX_DEPTH} levels")
        if not isinstance(node, dict) or not node:
            raise self.fail(where, "a condition must be a mapping", "all, any, not, or fact with one operator")
        if "fact" in node:
            return self.atom(node, where)
        if len(node) != 1:
            raise self.fail(where, f"combine with exactly one of all/any/not, got {sorted(node)}")
        ((key, value),) = node.items()
        if key in ("all", "any"):
            if not isinstance(value, list) or not value:
                raise self.fail(f"{where}.{key}", f"'{key}' needs a non-empty list of conditions")
            parts = tuple(self.parse(v, f"{where}.{key}[{i}]", depth + 1) for i, v in enumerate(value))
            return All(parts) if key == "all" else Any(parts)
        if key == "not":
            return Not(self.parse(value, f"{where}.not", depth + 1))
        raise self.fail(where, f"unknown combinator {key!r}", "all, any, not or fact")

    def value(self, raw: object, where: str) -> object:
        if isinstance(raw, dict):
            if set(raw) != {"policy"} or not isinstance(raw["policy"], str):
                raise self.fail(where, "a value is a literal or {policy: name}")
            name = raw["policy"]
            if name not in self.policy.values:
                near = close(name, list(self.policy.values), cutoff=60.0, limit=1)
                hint = f"; did you mean {near[0]!r}?" if near else ""
                raise self.fail(where, f"unknown policy setting {name!r}{hint}")
            self.used[name] = self.policy.values[name]
            return self.policy.values[name]
        return raw

    def atom(self, node: dict[str, object], where: str) -> Atom:
        self.atoms += 1
        if self.atoms > MAX_ATOMS_PER_RULE:
            raise self.fail(where, f"more than {MAX_ATOMS_PER_RULE} tests in one rule; split the rule")
        name = node["fact"]
        if not isinstance(name, str) or name not in FACTS:
            near = close(str(name), list(FACTS), cutoff=60.0, limit=1)
            hint = f"; did you mean {near[0]!r}?" if near else ""
            raise self.fail(f"{where}.fact", f"unknown fact {name!r}{hint}")
        spec = FACTS[name]
        fact_scope = _fact_scope(self.scope)
        if spec.scope not in ("patient", fact_scope):
            raise self.fail(f"{where}.fact", f"fact {name!r} belongs to {spec.scope} rules, not {self.scope} rules")
        ops = [k for k in node if k != "fact"]
        if len(ops) != 1:
            raise self.fail(where, f"a test needs exactly one operator, got {ops}", f"one of {', '.join(_OPS)}")
        op = ops[0]
        if op not in _OPS:
            raise self.fail(f"{where}.{op}", f"unknown operator {op!r}", f"one of {', '.join(_OPS)}")
        if op not in _OPS_BY_TYPE[spec.type]:
            raise self.fail(
                f"{where}.{op}",
                f"operator {op!r} does not apply to {spec.type} fact {name!r}",
                f"one of {sorted(_OPS_BY_TYPE[spec.type])}",
            )
        raw = node[op]
        if raw is None:
            raise self.fail(f"{where}.{op}", "comparison without a value")
        value = self.value(raw, f"{where}.{op}")
        if op == "known":
            if not isinstance(value, bool):
                raise self.fail(f"{where}.known", "known takes true or false")
            if name in ALWAYS_KNOWN:
                raise self.fail(f"{where}.known", f"fact {name!r} is always known; this test is constant")
            return Atom(name, "known", value)
        return Atom(name, op, self.typed(spec.type, spec.values, op, value, f"{where}.{op}"))  # type: ignore[arg-type]

    def typed(self, ftype: str, values: tuple[str, ...], op: str, value: object, where: str) -> object:
        many = op in ("in", "not_in", "within", "not_within")
        if many:
            items = value if isinstance(value, list) else [value] if op in ("within", "not_within") else None
            if not items:
                raise self.fail(where, f"'{op}' needs a non-empty list")
            return tuple(sorted({str(self.scalar(ftype, values, v, where)) for v in items}))
        return self.scalar(ftype, values, value, where)

    def scalar(self, ftype: str, values: tuple[str, ...], v: object, where: str) -> str | float:
        if ftype == "answer":
            if isinstance(v, bool):
                return "yes" if v else "no"
            if v in ("yes", "no"):
                return str(v)
            raise self.fail(where, f"invalid answer {v!r}", "yes or no (unknown is handled by 'unknown:')")
        if ftype == "enum":
            if not isinstance(v, str) or v not in values:
                raise self.fail(where, f"invalid value {v!r}", f"one of {list(values)}")
            return v
        if ftype == "region":
            if not isinstance(v, str) or v not in self.regions:
                near = close(str(v), self.regions.ids(), cutoff=60.0, limit=1)
                hint = f"; did you mean {near[0]!r}?" if near else ""
                raise self.fail(where, f"unknown region {v!r}{hint}")
            return v
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            raise self.fail(where, f"invalid number {v!r}", "a finite number")
        if abs(v) >= 1e9 or (v != 0 and abs(v) < 1e-4):
            raise self.fail(where, f"number {v!r} is outside the range the engine can compare exactly")
        return float(v)


def _fact_scope(scope: Scope) -> Literal["patient", "site", "circuit"]:
    if scope in ("site", "electrical_site"):
        return "site"
    if scope == "circuit":
        return "circuit"
    return "patient"


_GUARDS: Mapping[str, Atom] = {
    "electrical": Atom("plan.technique", "eq", "electrical"),
    "circuit": Atom("plan.technique", "eq", "electrical"),
    "electrical_site": Atom("site.stimulated", "eq", "yes"),
}


def _resolve_verdict(
    raw: str | _PolicyRef,
    policy: Policy,
    used: dict[str, PolicyValue],
    *,
    file: str,
    rule_id: str,
    field: str,
) -> Verdict:
    if isinstance(raw, _PolicyRef):
        if raw.policy not in policy.values:
            raise RuleFileError(f"unknown policy setting {raw.policy!r}", file=file, rule_id=rule_id, field=field)
        value = policy.values[raw.policy]
        # A clinic may switch a disputed precaution off (``clear``); never the verdict for unknown information.
        allowed = ("caution", "refer", "clear") if field == "verdict" else ("caution", "refer")
        if value not in allowed:
            raise RuleFileError(
                f"policy {raw.policy!r} is not a verdict",
                file=file,
                rule_id=rule_id,
                field=field,
                expected=" or ".join(allowed),
            )
        used[raw.policy] = value
        return value  # type: ignore[return-value]
    return raw  # type: ignore[return-value]


def _compile_rule(
    raw: dict[str, AnyType],
    *,
    file: str,
    topic: str,
    index: int,
    regions: RegionMap,
    policy: Policy,
    sources: Mapping[str, Source],
) -> CompiledRule:
    rule_id = raw.get("id") if isinstance(raw, dict) and isinstance(raw.get("id"), str) else f"#{index}"
    try:
        spec = _RuleSpec.model_validate(raw)
    except ValidationError as exc:
        raise _pydantic_error(exc, file=file, rule_id=rule_id) from None
    if len(spec.summary) > SUMMARY_LIMIT:
        raise RuleFileError(
            f"summary is {len(spec.summary)} characters",
            file=file,
            rule_id=spec.id,
            field="summary",
            expected=f"at most {SUMMARY_LIMIT} (the CDS Hooks card limit)",
        )
    refs = []
    for i, key in enumerate(spec.references):
        if key not in sources:
            near = close(key, list(sources), cutoff=60.0, limit=1)
            hint = f"; did you mean {near[0]!r}?" if near else ""
            raise RuleFileError(f"unknown source {key!r}{hint}", file=file, rule_id=spec.id, field=f"references[{i}]")
        refs.append(sources[key])
    parser = _ConditionParser(file=file, rule_id=spec.id, scope=spec.scope, regions=regions, policy=policy)
    condition = parser.parse(spec.when, "when")
    if spec.scope in _GUARDS:
        condition = All((_GUARDS[spec.scope], condition))
    used = parser.used
    verdict = _resolve_verdict(spec.verdict, policy, used, file=file, rule_id=spec.id, field="verdict")
    unknown = _resolve_verdict(spec.unknown, policy, used, file=file, rule_id=spec.id, field="unknown")
    true_b, unknown_b = dnf(condition, ALWAYS_KNOWN, DOMAINS)
    if not true_b:
        raise RuleFileError("the condition can never be true", file=file, rule_id=spec.id, field="when")
    for branch in true_b:
        if all(lit.op in ("absent", "is_unknown") for lit in branch):
            raise RuleFileError(
                "the condition can be true on absent facts alone; say what an unknown answer yields with 'unknown:'",
                file=file,
                rule_id=spec.id,
                field="when",
            )
    if len(true_b) + len(unknown_b) > MAX_BRANCHES_PER_RULE:
        raise RuleFileError(
            f"condition expands to {len(true_b) + len(unknown_b)} engine branches",
            file=file,
            rule_id=spec.id,
            field="when",
            expected=f"at most {MAX_BRANCHES_PER_RULE}; split the rule or simplify the condition",
        )
    return CompiledRule(
        id=spec.id,
        title=spec.title,
        classification=spec.classification,
        verdict=verdict,
        unknown_verdict=unknown,
        scope=spec.scope,
        fact_scope=_fact_scope(spec.scope),
        condition=condition,
        true_branches=tuple(true_b),
        unknown_branches=tuple(unknown_b),
        reads=facts_read(condition),
        policy=dict(sorted(used.items())),
        summary=spec.summary,
        detail=" ".join(spec.detail.split()),
        modifications=tuple(spec.modifications),
        references=tuple(refs),
        file=file,
        topic=topic,
    )


def _rule_files(directory: Path) -> Iterator[Path]:
    yield from sorted((directory / "rules").glob("*.yaml"))


def _content_hash(directory: Path) -> str:
    """SHA-256 over every file that shapes a verdict, in a fixed order (manifest excluded)."""
    digest = hashlib.sha256()
    names = [
        "regions.yaml",
        "body.yaml",
        "vocabulary.yaml",
        "medications.yaml",
        "codes.yaml",
        "sources.yaml",
        "policy.yaml",
    ]
    paths = [directory / n for n in names] + list(_rule_files(directory))
    for path in paths:
        digest.update(path.relative_to(directory).as_posix().encode())
        digest.update(b"\0")
        digest.update(path.read_bytes().replace(b"\r\n", b"\n"))
        digest.update(b"\0")
    return digest.hexdigest()


def load_ruleset(
    directory: str | Path | None = None,
    *,
    policy_file: str | Path | None = None,
    policy_overrides: Mapping[str, object] | None = None,
) -> Ruleset:
    """Load, validate and compile a ruleset directory (the bundled one by default).

    Args:
        directory: a ruleset directory; defaults to the one shipped with the package.
        policy_file: a clinic's policy override file.
        policy_overrides: policy values given in code (applied after ``policy_file``).

    Raises:
        RuleFileError: any file is malformed; the message names file, rule, field and what was expected.
    """
    root = Path(directory) if directory is not None else default_rules_dir()
    if not root.is_dir():
        raise RuleFileError(
            "no such ruleset directory", file=str(root), expected="a directory holding ruleset.yaml and rules/*.yaml"
        )
    manifest_path = root / "ruleset.yaml"
    try:
        manifest = _Manifest.model_validate(_read_yaml(manifest_path))
    except ValidationError as exc:
        raise _pydantic_error(exc, file=str(manifest_path), rule_id=None) from None
    regions = RegionMap.from_data(_read_yaml(root / "regions.yaml"), file=str(root / "regions.yaml"))
    body = BodyModel.from_data(_read_yaml(root / "body.yaml"), regions=regions, file=str(root / "body.yaml"))
    vocab_path = root / "vocabulary.yaml"
    vocabulary = Vocabulary.from_data(_read_yaml(vocab_path), regions, file=str(vocab_path))
    meds = MedicationClassifier.from_data(_read_yaml(root / "medications.yaml"), file=str(root / "medications.yaml"))
    codes = CodeMap.from_data(_read_yaml(root / "codes.yaml"), file=str(root / "codes.yaml"), regions=regions)
    src_path = root / "sources.yaml"
    try:
        src_file = _SourcesFile.model_validate(_read_yaml(src_path))
    except ValidationError as exc:
        raise _pydantic_error(exc, file=str(src_path), rule_id=None) from None
    sources = {k: Source(k, v.citation, v.evidence, v.note) for k, v in src_file.sources.items()}
    policy = load_policy(root / "policy.yaml")
    if policy_file is not None:
        values, name = load_policy_override(policy_file)
        policy = policy.with_overrides(values, file=name)
    if policy_overrides:
        policy = policy.with_overrides(policy_overrides, file="<policy_overrides>")

    rules: list[CompiledRule] = []
    switched_off: list[CompiledRule] = []
    seen: dict[str, str] = {}
    files = list(_rule_files(root))
    if not files:
        raise RuleFileError("no rule files found", file=str(root / "rules"))
    for path in files:
        rel = path.relative_to(root).as_posix()
        try:
            parsed = _RuleFile.model_validate(_read_yaml(path))
        except ValidationError as exc:
            raise _pydantic_error(exc, file=rel, rule_id=None) from None
        for i, raw in enumerate(parsed.rules):
            rule = _compile_rule(
                raw, file=rel, topic=parsed.topic, index=i, regions=regions, policy=policy, sources=sources
            )
            if rule.id in seen:
                raise RuleFileError(
                    f"duplicate rule id (first defined in {seen[rule.id]})",
                    file=rel,
                    rule_id=rule.id,
                    field="id",
                )
            seen[rule.id] = rel
            (switched_off if rule.verdict == "clear" else rules).append(rule)
    # An unrecognised drug may leave the classes "no" only under a rule that cautions on it.
    meds = meds.guarded_by(rules)
    # A code the map does not know may be accepted only under a rule that cautions on it (else it is rejected).
    codes = codes.guarded_by(rules)
    return Ruleset(
        name=manifest.name,
        revision=manifest.revision,
        content_hash=_content_hash(root),
        rules=tuple(rules),
        regions=regions,
        body=body,
        medications=meds,
        codes=codes,
        sources=sources,
        policy=policy,
        directory=str(root),
        declared_hash=manifest.content_sha256,
        vocabulary=vocabulary,
        switched_off=tuple(switched_off),
    )


def canonical_json(value: object) -> str:
    """Stable JSON used for hashing and engine comparison."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
