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
  are absent when unknown. Numbers are written in plain decimal notation (:func:`_number_text`; durable_rules
  stops reading a list of facts at an exponent such as ``1e-07``, and ``1e+300`` crashes it), exactly: the
  shortest digits that read back as the same double, so 17.99999 years or an INR of 3.50001 are compared as
  entered.
* Every rule reads one fact, so facts never interact: one session (one ``sid``) per shard holds the facts of
  many screenings (:meth:`DurableEngine.run_many`), which shares the session's set-up, the largest fixed cost
  (the C engine allocates and clears tables for every rule in every session), among them. Each fact carries an
  explicit ``id`` naming its screening, scope and index: a fact without one gets a hash of its content as id,
  and a later fact with the same id is silently dropped (two identical patients in one session would lose one).
  ``assert_facts`` reads the facts of a list in order and silently stops at the first it cannot parse, so
  every patient fact comes after the site and circuit facts, and every screening's patient fact must match its
  sentinel: a session cut short raises. A session is deleted in ``finally``; screenings are serialised by a
  process-wide lock (the C extension never releases the GIL and is not thread-safe).
* Rules are registered with ``cap``: the engine hands over every match of one rule in a session as one action,
  instead of one action per match (each costs a round trip and a copy of the whole fact).
* Any error while matching or while collecting firings raises :class:`~needlescreen.errors.EngineError`, for
  the whole call: no screening of a failed session gets a verdict.
"""

from __future__ import annotations

import itertools
import json
import math
import re
import threading
from collections.abc import Sequence
from decimal import Decimal
from functools import lru_cache
from typing import Any

import durable_rules_engine as _c  # durable_rules' C core

from .conditions import UNKNOWN, Branch, Literal_, Truth
from .errors import EngineError
from .facts import FACTS, Facts, FactSet
from .firings import EngineName, FactScope, Firing
from .ruleset import DOMAINS, CompiledRule, Ruleset

__all__ = ["MAX_SESSION_FACTS", "STACK_LIMIT", "DurableEngine", "encode", "stack_bound"]

#: The engine's alpha stack holds 64 entries (events.c MAX_STACK_SIZE); keep a margin.
STACK_LIMIT = 56
_SENTINEL = "__sentinel__"
_SENTINEL_RULE = f"{_SENTINEL}|T|0"
_OK, _NOT_HANDLED = 0, 1
#: Facts per durable_rules session in :meth:`DurableEngine.run_many`. The engine keeps a copy of about 9 KB per
#: stored fact until the session is deleted; past a few dozen screenings per session the set-up cost is shared
#: so thinly that larger sessions buy nothing (measured), so sessions stay a few megabytes.
MAX_SESSION_FACTS = 256
#: Every match of a rule in a session comes back as one action (durable_rules' ``cap`` is an unsigned short).
_CAP = 4096
#: One matched frame of an action: ``{"m":{"id":"<fact id>",...}}``. Fact ids are written first by the adapter;
#: inside a JSON string a quote is always escaped, so this text can only be the start of a frame.
_FRAME = re.compile(r'\{"m":\{"id":"([^"\\]*)"')
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
    """Compact JSON text for durable_rules: every float in plain decimal notation, exactly.

    Raises:
        EngineError: a value JSON cannot hold (a non-finite number, an unsupported type).
    """
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
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


def _record(sink: list[tuple[str, list[str]]], rule_name: str, fids: list[str]) -> None:
    """Collect one action: a durable rule and the facts it matched (a seam the tests use to inject a failure)."""
    sink.append((rule_name, fids))


#: Each fact's field name in durable_rules: short codes, not the dotted names (dots are paths to durable_rules).
#: The C engine parses every fact's JSON and copies it back once per match, so the text's length is paid for
#: (measured: about a fifth of the engine's time per screening with the long names).
_FIELDS: dict[str, str] = {name: f"f{i}" for i, name in enumerate(sorted(FACTS))}


def _field(name: str) -> str:
    try:
        return _FIELDS[name]
    except KeyError:
        raise EngineError(f"no durable_rules field for the unknown fact {name!r}") from None


def field_names() -> dict[str, str]:
    """The durable_rules field of every fact (to read :meth:`DurableEngine.definitions`)."""
    return dict(_FIELDS)


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
        return {"all": [{"m": {"$and": [{"kind": kind}]}}], "cap": _CAP}
    body = _conjunction(branches[0]) if len(branches) == 1 else {"$or": [_conjunction(b) for b in branches]}
    return {"all": [{"m": {"$and": [{"kind": kind}, body]}}], "cap": _CAP}


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
        self.definition: dict[str, Any] = {_SENTINEL_RULE: _pattern("patient", [()])}
        self.outcome: dict[str, tuple[str, Truth]] = {_SENTINEL_RULE: (_SENTINEL, Truth.TRUE)}
        self.branches: dict[FactScope, list[Branch]] = {s: [] for s in _SCOPES}
        self.branches["patient"].append(())
        self.reads: dict[FactScope, set[str]] = {s: set() for s in _SCOPES}
        self.handle: int | None = None
        self.text = ""  # the JSON given to durable_rules, kept alive as long as the ruleset lives
        # Per scope: how its facts are written for this shard, fixed once the shard is complete.
        self.writers: dict[FactScope, _Writer] = {}

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
        self.writers = {scope: _Writer(scope, sorted(self.reads[scope])) for scope in _SCOPES}

    def payload(
        self, k: int, facts: Facts, sid: str, *, patients: list[str], others: list[str], ids: dict[str, _Where]
    ) -> None:
        """Add screening ``k``'s facts to a session's payload, limited to the fields this shard's rules read.

        Each fact's ``id`` names the screening, scope and index, so it is unique in the session and every match
        is traced back to its screening. Patient facts go to ``patients``, site and circuit facts to ``others``.
        """
        fid = _fact_id(k, "patient", 0)
        ids[fid] = (k, "patient", 0)
        patients.append(self.writers["patient"].write(fid, sid, facts.patient))
        sets: tuple[tuple[FactScope, Sequence[FactSet]], ...] = (
            ("site", [fs for _site, fs in facts.sites]),
            ("circuit", [fs for _circuit, fs in facts.circuits]),
        )
        for scope, fact_sets in sets:
            writer = self.writers[scope]
            if writer.names:
                for i, fs in enumerate(fact_sets):
                    fid = _fact_id(k, scope, i)
                    ids[fid] = (k, scope, i)
                    others.append(writer.write(fid, sid, fs))


_NAME = re.compile(r"[a-z0-9_]+")


class _Writer:
    """Writes one kind of fact as durable_rules JSON text, with only the fields a shard's rules read.

    Written directly as text, not as a dict per fact encoded by ``json``: answer and enum facts from a table of
    their JSON spellings, with the unknown sentinel for an absent one; numbers in plain decimal notation
    (:func:`_number_text`); region and list facts sorted. The text of a fact's answers, and of its numbers and
    lists, is memoised by their values (patients mostly answer alike, sites repeat their regions), so most facts
    cost a few lookups. A value outside its fact's domain, or of an unexpected type, raises
    :class:`EngineError` rather than being sent as it is.
    """

    #: Memoised texts per writer and part; cleared when full (a cache, never a source of answers).
    CACHE_SIZE = 8192

    def __init__(self, scope: FactScope, names: Sequence[str]) -> None:
        fields = {n: _field(n) for n in names}
        if not all(_NAME.fullmatch(f) for f in (*fields.values(), scope)):
            raise EngineError(f"a fact name the durable_rules adapter cannot write: {sorted(fields)}")
        self.names = tuple(names)
        self.head = f'","kind":"{scope}"'
        self.domain = tuple(n for n in names if n in DOMAINS)
        self.domain_keys = tuple(f',"{fields[n]}":' for n in self.domain)
        self.unknowns = (UNKNOWN,) * len(self.domain)
        self.other = tuple(n for n in names if n not in DOMAINS)
        self.other_keys = tuple(f',"{fields[n]}":' for n in self.other)
        self.nones = (None,) * len(self.other)
        self._answers: dict[tuple[object, ...], str] = {}
        self._values: dict[tuple[object, ...], str] = {}

    def write(self, fid: str, sid: str, fs: FactSet) -> str:
        """The JSON text of one fact (its ``id`` first: action messages are read by :data:`_FRAME`)."""
        answers = tuple(map(fs.get, self.domain, self.unknowns))
        head = self._answers.get(answers)
        if head is None:
            head = self._memo(self._answers, answers, self._answer_text(answers))
        values = tuple(map(fs.get, self.other, self.nones))
        tail = self._values.get(values)
        if tail is None:
            tail = self._memo(self._values, values, self._value_text(values))
        return '{"id":"' + fid + '","sid":"' + sid + self.head + head + tail + "}"

    def _answer_text(self, answers: tuple[object, ...]) -> str:
        try:
            return "".join(map(str.__add__, self.domain_keys, map(_DOMAIN_TEXT.__getitem__, answers)))
        except KeyError as exc:
            raise EngineError(f"a fact value outside its domain: {exc.args[0]!r}") from None

    def _value_text(self, values: tuple[object, ...]) -> str:
        return "".join(key + _value_text(v) for key, v in zip(self.other_keys, values, strict=True) if v is not None)

    def _memo(self, cache: dict[tuple[object, ...], str], key: tuple[object, ...], text: str) -> str:
        if len(cache) >= self.CACHE_SIZE:
            cache.clear()
        cache[key] = text
        return text


#: The JSON spelling of every answer and enum value, and of the unknown sentinel.
_DOMAIN_TEXT: dict[object, str] = {v: json.dumps(v) for values in DOMAINS.values() for v in (*values, UNKNOWN)}
_LIST_TEXT: dict[frozenset[str], str] = {}


def _value_text(value: object) -> str:
    if type(value) is float:
        return _number_text(value)
    if isinstance(value, frozenset):
        text = _LIST_TEXT.get(value)
        if text is None:
            if len(_LIST_TEXT) > 4096:  # region sets repeat; free-text lists (contradictions) should not pile up
                _LIST_TEXT.clear()
            text = _LIST_TEXT[value] = json.dumps(sorted(value), ensure_ascii=False)
        return text
    if type(value) is int:
        return str(value)
    if type(value) is str:
        return json.dumps(value, ensure_ascii=False)
    raise EngineError(f"no durable_rules form for a fact value of type {type(value).__name__}")


def _number_text(x: float) -> str:
    """A float as durable_rules reads it: the shortest exact digits, never an exponent (error 204), never NaN."""
    text = repr(x)
    return text if "e" not in text and "n" not in text else _number(x)


#: Where a fact came from: the screening's position in the call, the fact's scope and index.
_Where = tuple[int, FactScope, int]


def _fact_id(k: int, scope: FactScope, index: int) -> str:
    """The id of screening ``k``'s fact (a seam the isolation tests break on purpose)."""
    return f"{k}:{scope}:{index}"


def _sessions(batch: Sequence[Facts], limit: int) -> list[range]:
    """Consecutive screenings grouped so that a session holds at most ``limit`` facts (at least one screening)."""
    groups: list[range] = []
    start = size = 0
    for k, facts in enumerate(batch):
        n = 1 + len(facts.sites) + len(facts.circuits)
        if size and size + n > limit:
            groups.append(range(start, k))
            start, size = k, 0
        size += n
    if start < len(batch):
        groups.append(range(start, len(batch)))
    return groups


class DurableEngine:
    """Screens with durable_rules: many screenings share one session per shard, each session always deleted."""

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
        registered but matches differently must not give verdicts, so every new engine proves itself first,
        one screening per session and all of them in one session.
        """
        from .plain import PlainEngine

        plain = PlainEngine(ruleset)
        canaries = _canaries(ruleset)
        expected = [plain.run(facts) for facts in canaries]
        if [self.run(facts) for facts in canaries] != expected or self.run_many(canaries) != expected:
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
        """Every firing of one screening (one session per shard)."""
        return self.run_many((facts,))[0]

    def run_many(self, batch: Sequence[Facts]) -> list[frozenset[Firing]]:
        """Every firing of each screening, in order; screenings share sessions of up to :data:`MAX_SESSION_FACTS`.

        Raises:
            EngineError: the engine failed on any session; no screening of the call gets firings.
        """
        out: list[set[Firing]] = [set() for _ in batch]
        with _LOCK:
            _check_health()
            for group in _sessions(batch, MAX_SESSION_FACTS):
                for shard in self._shards:
                    self._session(shard, batch, group, out)
        for firings in out:
            # True and unknown branches of one rule are exclusive by construction; both matching means the
            # adapter is wrong, and no verdict is safer than a guessed one.
            definite = {(f.rule_id, f.scope, f.index) for f in firings if f.truth is Truth.TRUE}
            for f in firings:
                if f.truth is Truth.UNKNOWN and (f.rule_id, f.scope, f.index) in definite:
                    raise EngineError(f"rule {f.rule_id} matched as both true and unknown on {f.scope} {f.index}")
        return [frozenset(f) for f in out]

    def _session(self, shard: _Shard, batch: Sequence[Facts], group: range, out: list[set[Firing]]) -> None:
        """Assert the facts of a group of screenings in one session, collect every match, delete the session."""
        handle = shard.handle
        if handle is None:
            raise EngineError(f"ruleset {shard.name} is closed")
        sid = str(next(_SIDS))
        patients: list[str] = []
        others: list[str] = []
        ids: dict[str, _Where] = {}
        for k in group:
            # Every electrical-only rule requires an electrical plan: a manual plan's facts need not be matched.
            if not (shard.electrical and batch[k].patient.get("plan.technique") != "electrical"):
                shard.payload(k, batch[k], sid, patients=patients, others=others, ids=ids)
        if not patients:
            return
        if len(ids) != len(patients) + len(others):
            raise EngineError(f"two facts of one durable_rules session in {shard.name} share an id")
        # Patient facts last: each must match the sentinel, which proves that no fact before it was skipped.
        text = "[" + ",".join(others + patients) + "]"
        try:
            code, state = _c.assert_facts(handle, text)[:2]
        except Exception as exc:
            # A failed assert can leave the session half-built (after error 303 deleting it crashes), so it is
            # not deleted, and the engine is not trusted again in this process.
            _poison(f"asserting facts in {shard.name} failed: {exc}")
            raise EngineError(f"durable_rules failed to assert facts in {shard.name}: {exc}") from exc
        sink: list[tuple[str, list[str]]] = []
        try:
            if code not in (_OK, _NOT_HANDLED):
                raise EngineError(f"durable_rules returned status {code} while asserting facts")
            started = _c.start_action_for_state(handle, state)
            message = None if started is None else started[1]
            while message is not None:
                _record(sink, *_frames(message))
                message = _c.complete_and_start_action(handle, state)
        except EngineError:
            _c.abandon_action(handle, state)
            raise
        except Exception as exc:
            _c.abandon_action(handle, state)
            raise EngineError(f"collecting durable_rules matches failed in {shard.name}: {exc}") from exc
        finally:
            _c.delete_state(handle, sid)
        matched: set[str] = set()
        for rule_name, fids in sink:
            outcome = shard.outcome.get(rule_name)
            if outcome is None:
                raise EngineError(f"durable_rules returned a match of {rule_name!r}, which {shard.name} lacks")
            rule_id, truth = outcome
            for fid in fids:
                where = ids.get(fid)
                if where is None:
                    raise EngineError(f"durable_rules returned a match on {fid!r}, which was not asserted")
                k, scope, index = where
                if rule_id != _SENTINEL:
                    out[k].add(Firing(rule_id, scope, index, truth))
                elif scope != "patient" or fid in matched:
                    raise EngineError(f"durable_rules matched its sentinel rule wrongly on {fid!r} in {shard.name}")
                else:
                    matched.add(fid)
        if len(matched) != len(patients):
            missed = len(patients) - len(matched)
            raise EngineError(f"durable_rules skipped the facts of {missed} screenings in {shard.name}")

    def close(self) -> None:
        """Free the C rulesets (an engine left open keeps about 0.5 MB each)."""
        with _LOCK:
            for shard in self._shards:
                if shard.handle is not None:
                    _c.delete_ruleset(shard.handle)
                    shard.handle = None


def _frames(message: str) -> tuple[str, list[str]]:
    """The rule name and the fact ids of one action: ``{"<rule>":[{"m":{"id":"<fact id>",...}},...]}``.

    Every rule is registered with ``cap``, so an action always holds a list of frames. The ids are read with
    :data:`_FRAME` instead of decoding every fact the engine copies back; the number of frames is checked
    against a count of the frame markers, so a message of another shape raises instead of losing a match.
    """
    head, sep, rest = message.partition('":[')
    if not head.startswith('{"') or not sep:
        raise EngineError(f"durable_rules returned an action of unexpected shape: {message[:200]!r}")
    fids = _FRAME.findall(rest)
    if not fids or len(fids) != rest.count('{"m":'):
        raise EngineError(f"durable_rules returned an action of unexpected shape: {message[:200]!r}")
    return head[2:], fids


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
