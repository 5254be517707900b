"""The durable_rules adapter: the only module that imports durable_rules.

Compiled rules become durable_rules rulesets as data (no generated source): each rule contributes one durable
rule per branch of its disjunctive normal form, ``RULE|T|k`` for a way it is true and ``RULE|U|k`` for a way it
is unknown. The adapter drives durable_rules' C core (``durable_rules_engine``, shipped in the durable-rules
package) directly: registering rulesets, asserting a session's facts, taking the matched actions one by one and
deleting the session. The Python ``Host`` layer is not used: it starts background timer threads, raises
``MessageNotHandledException`` when any one fact matches nothing (skipping the actions of the facts that did),
swallows exceptions raised in actions into the session state, and costs about 40 µs of JSON per fired rule.

What the engine notes (``docs/engine.md``) describe shapes every choice here:

* Every branch starts with a ``kind`` test, so no pattern is absence-only (which loops forever).
* The C engine matches a fact by a depth-first walk of its alpha network with a stack of 64 pending nodes
  (error 303 past that, after which deleting the session crashes). :func:`stack_bound` computes, from the
  branches themselves, an upper bound of that stack for any fact; rules are packed into *shards* whose bound
  stays within :data:`STACK_LIMIT`, each shard its own ruleset.
* Each shard has a catch-all sentinel rule on the patient fact, so every session runs an action (deleting an
  actionless session can segfault) and "no rule matched" is an ordinary, checked outcome.
* Answer and enum facts carry an explicit unknown sentinel (see :func:`needlescreen.conditions.dnf`); numbers
  are absent when unknown. Numbers are written in plain decimal notation by :func:`encode` (durable_rules
  refuses an exponent such as ``1e-07`` with error 204), exactly: the shortest digits that read back as the
  same double, so 17.99999 years or an INR of 3.50001 are compared as entered.
* One screening is one session (a fresh ``sid``) per shard, deleted in ``finally``; screenings are serialised by
  a process-wide lock (the C extension never releases the GIL and is not thread-safe).
* Any error while matching or while collecting firings raises :class:`~needlescreen.errors.EngineError`.
"""

from __future__ import annotations

import itertools
import json
import math
import threading
from collections.abc import Sequence
from decimal import Decimal
from functools import lru_cache
from typing import Any

import durable_rules_engine as _c  # durable_rules' C core

from .conditions import UNKNOWN, Branch, Literal_, Truth
from .errors import EngineError
from .facts import Facts, FactSet
from .firings import EngineName, FactScope, Firing
from .ruleset import DOMAINS, CompiledRule, Ruleset

__all__ = ["STACK_LIMIT", "DurableEngine", "encode", "stack_bound"]

#: The engine's alpha stack holds 64 entries (events.c MAX_STACK_SIZE); keep a margin.
STACK_LIMIT = 56
_SENTINEL = "__sentinel__"
_OK, _NOT_HANDLED = 0, 1
#: Set when the C engine has failed in a way that may leave its memory inconsistent (after error 303 even
#: deleting the session crashes, and later calls were seen to fail oddly). From then on this process gives no
#: more durable_rules verdicts: every call raises, so a damaged engine cannot produce a wrong answer.
_POISONED: str | None = None
_LOCK = threading.Lock()
_SIDS = itertools.count(1)
_NAMES = itertools.count(1)
_SCOPES: tuple[FactScope, ...] = ("patient", "site", "circuit")
_ELECTRICAL_SCOPES = frozenset({"electrical", "electrical_site", "circuit"})


def _number(x: float) -> str:
    if not math.isfinite(x):
        raise EngineError(f"durable_rules cannot compare the number {x!r}")
    # repr() is the shortest text that reads back as the same double; Decimal re-spells it without an exponent.
    text = format(Decimal(repr(x)), "f")
    return text if "." in text else f"{text}.0"


def encode(value: Any) -> str:
    """JSON text for durable_rules: like ``json.dumps``, but every float in plain decimal notation, exactly.

    Raises:
        EngineError: a value JSON cannot hold (a non-finite number, an unsupported type).
    """
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise EngineError(f"no durable_rules form for {value!r}: {exc}") from None
    # json.dumps spells a float with an exponent only as "e-" or "e+"; without either (almost always) it is exact
    # as it stands, and the C encoder is much faster than the exact walk below.
    return text if "e-" not in text and "e+" not in text else _exact(value)


def _exact(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _number(value)
    if isinstance(value, list | tuple):
        return "[" + ",".join(_exact(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(str(k), ensure_ascii=False)}:{_exact(v)}" for k, v in value.items()) + "}"
    raise EngineError(f"no durable_rules form for a value of type {type(value).__name__}")


def _record(sink: list[tuple[str, str]], rule_name: str, fid: str) -> None:
    """Collect one matched durable rule (a seam the tests use to inject a failure)."""
    sink.append((rule_name, fid))


def _field(name: str) -> str:
    return name.replace(".", "__")


def _literal(lit: Literal_) -> dict[str, Any]:
    f = _field(lit.fact)
    op, value = lit.op, lit.value
    if op == "eq":
        return {f: value}
    if op in ("ne", "lt", "le", "gt", "ge"):
        return {{"ne": "$neq", "lt": "$lt", "le": "$lte", "gt": "$gt", "ge": "$gte"}[op]: {f: value}}
    if op == "is_known":
        return {"$neq": {f: UNKNOWN}}
    if op == "is_unknown":
        return {f: UNKNOWN}
    if op == "present":
        return {"$ex": {f: 1}}
    if op == "absent":
        return {"$nex": {f: 1}}
    regions = list(value)  # type: ignore[arg-type]
    if op == "within":
        tests: list[dict[str, Any]] = [{"$i": r} for r in regions]
        return {"$iany": {f: tests[0] if len(tests) == 1 else {"$or": tests}}}
    if op == "not_within":
        tests = [{"$neq": {"$i": r}} for r in regions]
        return {"$iall": {f: tests[0] if len(tests) == 1 else {"$and": tests}}}
    raise EngineError(f"no durable_rules form for operator {op!r}")


def _conjunction(branch: Branch) -> dict[str, Any]:
    tests = [_literal(lit) for lit in branch]
    return tests[0] if len(tests) == 1 else {"$and": tests}


def _pattern(kind: str, branches: Sequence[Branch]) -> dict[str, Any]:
    """One durable rule for a group of branches: the kind test, then one branch or an ``$or`` of them."""
    if not branches or any(not b for b in branches):  # an empty branch always holds
        return {"all": [{"m": {"$and": [{"kind": kind}]}}]}
    body = _conjunction(branches[0]) if len(branches) == 1 else {"$or": [_conjunction(b) for b in branches]}
    return {"all": [{"m": {"$and": [{"kind": kind}, body]}}]}


def _expressions(branches: Sequence[Branch]) -> int:
    """durable_rules stores a rule's tests and its and/or markers in one sequence of at most 31 expressions."""
    return 3 + 2 * (len(branches) > 1) + sum(len(b) + 2 * (len(b) > 1) for b in branches)


#: Expressions per durable rule (durable_rules' limit is 31, rete.c MAX_SEQUENCE_EXPRESSIONS).
MAX_EXPRESSIONS = 28


def _groups(branches: Sequence[Branch]) -> list[list[Branch]]:
    """Pack branches into as few durable rules as the expression limit allows.

    Every durable rule costs every session time (measured: 20 µs with one rule, 215 µs with 250), so the
    branches of one rule outcome share durable rules, joined by ``$or``.
    """
    groups: list[list[Branch]] = []
    for branch in branches:
        if groups and _expressions([*groups[-1], branch]) <= MAX_EXPRESSIONS:
            groups[-1].append(branch)
        else:
            groups.append([branch])
    return groups


def _max_true(tests: list[Literal_]) -> int:
    """How many of these tests on one fact can hold at once, for the worst value of that fact."""
    return _max_true_of(tuple(sorted((t.fact, t.op, t.value) for t in tests)))


@lru_cache(maxsize=4096)
def _max_true_of(keys: tuple[tuple[str, str, Any], ...]) -> int:
    if not keys:
        return 0
    tests = [Literal_(f, op, v) for f, op, v in keys]  # type: ignore[arg-type]
    fact = tests[0].fact
    if any(t.op in ("within", "not_within") for t in tests):
        return len(tests)  # list tests: every one may hold
    if fact in DOMAINS:
        candidates: list[Any] = [*DOMAINS[fact], UNKNOWN]
    else:
        # Every threshold, a point between each two neighbours, and points beyond both ends: between these
        # points no comparison changes its outcome, so the maximum over them is the maximum over all numbers.
        points = sorted({float(t.value) for t in tests if isinstance(t.value, int | float)})
        between = [(a + b) / 2 for a, b in itertools.pairwise(points)]
        ends = [points[0] - 1.0, points[-1] + 1.0] if points else [0.0]
        candidates = [None, *points, *between, *ends]
    return max(sum(_holds(t, have) for t in tests) for have in candidates)


def _holds(t: Literal_, have: str | float | None) -> bool:
    """Whether one test holds for one value (an unrecognised test is assumed to hold: an upper bound)."""
    if t.fact in DOMAINS:
        checks = {
            "eq": have == t.value,
            "ne": have != t.value,
            "is_known": have != UNKNOWN,
            "is_unknown": have == UNKNOWN,
        }
        return checks.get(t.op, True)
    if t.op == "absent":
        return have is None
    if have is None or t.op == "present" or not isinstance(t.value, int | float):
        return have is not None
    x, want = float(have), float(t.value)
    return {"lt": x < want, "le": x <= want, "gt": x > want, "ge": x >= want}.get(t.op, True)


def stack_bound(branches: list[Branch]) -> int:
    """An upper bound of durable_rules' alpha stack when one fact of a kind meets these branches.

    durable_rules chains each branch's tests below the kind test, sharing identical tests with a common prefix
    (list tests are never shared). Matching pops a node and pushes every child whose test holds, so while a
    child's subtree is walked its matching siblings wait on the stack: ``peak(node) = k - 1 + max(1, peak of a
    child)`` where ``k`` is how many children can hold at once (computed per fact from the tests' values).
    """
    trie: dict[Any, Any] = {}
    for n, branch in enumerate(branches):
        node = trie
        for lit in branch:
            key: Any = (lit.fact, lit.op, lit.value)
            if lit.op in ("within", "not_within"):
                key = (*key, n)  # durable_rules does not share list tests
            node = node.setdefault(key, {})

    def peak(node: dict[Any, Any]) -> int:
        if not node:
            return 0
        by_fact: dict[str, list[Literal_]] = {}
        for key in node:
            by_fact.setdefault(key[0], []).append(Literal_(key[0], key[1], key[2]))
        k = sum(_max_true(tests) for tests in by_fact.values())
        return k - 1 + max(1, *(peak(child) for child in node.values()))

    return max(1, peak(trie))  # the kind node is popped before its children are pushed


class _Shard:
    """One durable_rules ruleset: a group of rules whose branches fit the per-kind budget."""

    def __init__(self, name: str, electrical: bool = False) -> None:
        self.name = name
        #: Only rules scoped to electrical needling: each requires an electrical plan (or a stimulated site,
        #: which only an electrical plan has), so for a manual plan every one of them is false.
        self.electrical = electrical
        self.definition: dict[str, Any] = {f"{_SENTINEL}|T|0": _pattern("patient", [()])}
        self.outcome: dict[str, tuple[str, Truth]] = {f"{_SENTINEL}|T|0": (_SENTINEL, Truth.TRUE)}
        self.branches: dict[FactScope, list[Branch]] = {s: [] for s in _SCOPES}
        self.branches["patient"].append(())
        self.reads: dict[FactScope, set[str]] = {s: set() for s in _SCOPES}
        self.handle: int | None = None
        self.text = ""  # the JSON given to durable_rules, kept alive as long as the ruleset lives
        # Per scope: (fact name, durable field, has a finite domain), fixed once the shard is complete.
        self.fields: dict[FactScope, tuple[tuple[str, str, bool], ...]] = {}

    def fits(self, rule: CompiledRule) -> bool:
        trial = [*self.branches[rule.fact_scope]]
        for tag, branches in (("T", rule.true_branches), ("U", rule.unknown_branches)):
            for k, group in enumerate(_groups(branches)):
                trial.extend((*b, Literal_(f"{rule.id}|{tag}|{k}", "present")) for b in group)
        return stack_bound(trial) <= STACK_LIMIT

    def add(self, rule: CompiledRule) -> None:
        for tag, truth, branches in (
            ("T", Truth.TRUE, rule.true_branches),
            ("U", Truth.UNKNOWN, rule.unknown_branches),
        ):
            for k, group in enumerate(_groups(branches)):
                name = f"{rule.id}|{tag}|{k}"
                self.definition[name] = _pattern(rule.fact_scope, group)
                self.outcome[name] = (rule.id, truth)
                # The $or's forward node hangs below each branch's last test: model it as a child of its own.
                self.branches[rule.fact_scope].extend((*b, Literal_(name, "present")) for b in group)
        self.reads[rule.fact_scope].update(rule.reads)

    def seal(self) -> None:
        self.fields = {
            scope: tuple((n, _field(n), n in DOMAINS) for n in sorted(self.reads[scope])) for scope in _SCOPES
        }

    def payload(self, facts: Facts, sid: str) -> list[dict[str, Any]]:
        """The session's facts, limited to the fields this shard's rules read."""
        out = [self._fact("patient", 0, facts.patient, sid)]
        if self.fields["site"]:
            out.extend(self._fact("site", i, fs, sid) for i, (_s, fs) in enumerate(facts.sites))
        if self.fields["circuit"]:
            out.extend(self._fact("circuit", j, fs, sid) for j, (_c, fs) in enumerate(facts.circuits))
        return out

    def _fact(self, scope: FactScope, index: int, fs: FactSet, sid: str) -> dict[str, Any]:
        fact: dict[str, Any] = {"sid": sid, "kind": scope, "fid": f"{scope}:{index}"}
        for name, field, domain in self.fields[scope]:
            value = fs.get(name)
            if value is None:
                if domain:
                    fact[field] = UNKNOWN
            elif isinstance(value, frozenset):
                fact[field] = sorted(value)
            else:
                fact[field] = value
        return fact


class DurableEngine:
    """Screens with durable_rules: one isolated session per shard per screening, always deleted."""

    name: EngineName = "durable_rules"

    def __init__(self, ruleset: Ruleset) -> None:
        shards: list[_Shard] = []
        prefix = f"ns{next(_NAMES)}"
        for rule in ruleset.rules:
            # First fit: a rule joins the first shard of its kind whose stack bound it keeps within the limit.
            # Electrical-only rules get rulesets of their own, which a manual plan never needs to run.
            electrical = rule.scope in _ELECTRICAL_SCOPES
            target = next((s for s in shards if s.electrical == electrical and s.fits(rule)), None)
            if target is None:
                target = _Shard(f"{prefix}_{len(shards)}", electrical)
                if not target.fits(rule):
                    raise EngineError(f"rule {rule.id} is too wide for one durable_rules ruleset")
                shards.append(target)
            target.add(rule)
        with _LOCK:
            _check_health()
            for shard in shards:
                shard.seal()
                shard.text = encode(shard.definition)
                shard.handle = _create(shard.name, shard.text)
        self._shards: tuple[_Shard, ...] = tuple(shards)
        self._self_check(ruleset)

    def _self_check(self, ruleset: Ruleset) -> None:
        """Screen canary fact sets with this engine and with the plain evaluator; any difference raises.

        A long-lived test process once saw ``create_ruleset`` fail intermittently (error 102) after many
        rulesets had been created and deleted: a sign that the C engine's memory can go wrong. A ruleset that
        registered but matches differently must not give verdicts, so every new engine proves itself first.
        """
        from .plain import PlainEngine

        plain = PlainEngine(ruleset)
        for facts in _canaries(ruleset):
            if self.run(facts) != plain.run(facts):
                self.close()
                raise EngineError("durable_rules failed its self-check against the plain evaluator")

    @property
    def shard_count(self) -> int:
        """How many durable_rules rulesets this engine registered."""
        return len(self._shards)

    def definitions(self) -> dict[str, dict[str, Any]]:
        """The registered durable_rules ruleset definitions, as plain JSON data."""
        return {s.name: s.definition for s in self._shards}

    def run(self, facts: Facts) -> frozenset[Firing]:
        firings: set[Firing] = set()
        manual = facts.patient.get("plan.technique") != "electrical"
        with _LOCK:
            _check_health()
            for shard in self._shards:
                if manual and shard.electrical:
                    continue
                for rule_name, fid in self._session(shard, facts):
                    rule_id, truth = shard.outcome[rule_name]
                    if rule_id == _SENTINEL:
                        continue
                    scope, _, index = fid.partition(":")
                    firings.add(Firing(rule_id, _scope(scope), int(index), truth))
        # True and unknown branches of one rule are exclusive by construction; both matching means the adapter
        # is wrong, and no verdict is safer than a guessed one.
        definite = {(f.rule_id, f.scope, f.index) for f in firings if f.truth is Truth.TRUE}
        for f in firings:
            if f.truth is Truth.UNKNOWN and (f.rule_id, f.scope, f.index) in definite:
                raise EngineError(f"rule {f.rule_id} matched as both true and unknown on {f.scope} {f.index}")
        return frozenset(firings)

    def _session(self, shard: _Shard, facts: Facts) -> Sequence[tuple[str, str]]:
        """Assert one session's facts, collect every matched rule, delete the session."""
        handle = shard.handle
        if handle is None:
            raise EngineError(f"ruleset {shard.name} is closed")
        sid = str(next(_SIDS))
        text = encode(shard.payload(facts, sid))
        try:
            code, state = _c.assert_facts(handle, text)[:2]
        except Exception as exc:
            # A failed assert can leave the session half-built (after error 303 deleting it crashes), so it is
            # not deleted, and the engine is not trusted again in this process.
            _poison(f"asserting facts in {shard.name} failed: {exc}")
            raise EngineError(f"durable_rules failed to assert facts in {shard.name}: {exc}") from exc
        sink: list[tuple[str, str]] = []
        try:
            if code not in (_OK, _NOT_HANDLED):
                raise EngineError(f"durable_rules returned status {code} while asserting facts")
            started = _c.start_action_for_state(handle, state)
            messages = None if started is None else started[1]
            while messages is not None:
                for rule_name, matched in json.loads(messages).items():
                    _record(sink, rule_name, matched["m"]["fid"])
                messages = _c.complete_and_start_action(handle, state)
        except EngineError:
            _c.abandon_action(handle, state)
            raise
        except Exception as exc:
            _c.abandon_action(handle, state)
            raise EngineError(f"collecting durable_rules matches failed in {shard.name}: {exc}") from exc
        finally:
            _c.delete_state(handle, sid)
        if (f"{_SENTINEL}|T|0", "patient:0") not in sink:
            raise EngineError(f"durable_rules did not run the sentinel rule of {shard.name}")
        return sink

    def close(self) -> None:
        """Free the C rulesets (an engine left open keeps about 0.5 MB each)."""
        with _LOCK:
            for shard in self._shards:
                if shard.handle is not None:
                    _c.delete_ruleset(shard.handle)
                    shard.handle = None


def _create(name: str, text: str) -> int:
    """Register one ruleset with the C engine, retrying under a fresh name if the engine refuses valid JSON."""
    errors = []
    for attempt in range(3):
        try:
            handle: int = _c.create_ruleset(f"{name}r{attempt}" if attempt else name, text)
        except Exception as exc:  # durable_rules_engine.error, a bare code such as 102
            errors.append(str(exc))
            continue
        return handle
    raise EngineError(f"durable_rules rejected ruleset {name}: {'; '.join(errors)}")


def _canaries(ruleset: Ruleset) -> list[Facts]:
    """Fact sets that exercise most rules: everything unknown, and the baseline patient answering no."""
    from .baseline import baseline_intake
    from .facts import normalise
    from .intake import Intake

    electrical = {
        "technique": "electrical",
        "sites": [{"id": "a", "region": "calf", "side": "right"}, {"id": "b", "region": "ankle", "side": "right"}],
        "circuits": [["a", "b"]],
    }
    out: list[Facts] = []
    for data in (baseline_intake(), {"plan": baseline_intake()["plan"]}, {"plan": electrical}):
        try:
            intake = Intake.model_validate(data)
            out.append(
                normalise(
                    intake,
                    ruleset.regions,
                    ruleset.medications,
                    ruleset.codes,
                    ruleset.body,
                    vocabulary=ruleset.vocabulary,
                )
            )
        except Exception:
            continue
    return out


def _poison(reason: str) -> None:
    global _POISONED  # noqa: PLW0603 - the C engine is process-wide, so is the verdict on its health
    _POISONED = _POISONED or reason


def _check_health() -> None:
    if _POISONED is not None:
        raise EngineError(
            f"durable_rules failed earlier in this process ({_POISONED}); no further durable_rules verdicts are "
            "given until the process restarts"
        )


def _scope(name: str) -> FactScope:
    if name in _SCOPES:
        return name
    raise EngineError(f"durable_rules returned an unknown fact id kind {name!r}")
