"""The durable_rules adapter: the only module that imports durable_rules.

Compiled rules become durable_rules rulesets as data (no generated source): each rule contributes one
durable rule per branch of its disjunctive normal form, ``RULE|T|k`` for a way it is true and ``RULE|U|k`` for
a way it is unknown. What ``../shared/durable-rules-notes.md`` measured shapes every choice here:

* Every branch starts with a ``kind`` test, so no pattern is absence-only (which loops forever) and the
  per-fact match stack stays within one kind's branches.
* The C engine holds at most 64 pending alpha matches per fact (error 303, after which deleting the session
  crashes); rules are packed into *shards* of at most :data:`BRANCH_BUDGET` branches per fact kind, which
  bounds that stack, and each shard is its own durable ruleset.
* Each shard has a catch-all sentinel rule on the patient fact, so every session runs an action (deleting an
  actionless session can segfault) and "nothing matched" is a normal outcome.
* One screening is one session with a fresh ``sid`` per shard, deleted in ``finally``; screenings are
  serialised by a process-wide lock (the C extension never releases the GIL, so threads gain nothing, and
  unlocked concurrent use segfaulted) and the host runs no background dispatch threads.
* An exception inside an action is swallowed by durable_rules into the returned state; it is raised here as
  :class:`~needlescreen.errors.EngineError`, never turned into a verdict.
"""

from __future__ import annotations

import itertools
import json
import threading
import warnings
from collections.abc import Callable
from typing import Any

import durable.engine as _de
import durable_rules_engine as _c  # the C extension that ships with durable_rules

from .conditions import Branch, Literal_, Truth
from .engine import EngineName, FactScope, Firing, fact_sets
from .errors import EngineError
from .facts import Facts, FactValue
from .ruleset import CompiledRule, Ruleset

__all__ = ["BRANCH_BUDGET", "DurableEngine"]

# durable_rules 2.0.28 calls datetime.utcfromtimestamp on every action, deprecated since Python 3.12.
warnings.filterwarnings("ignore", message=r"datetime\.datetime\.utcfromtimestamp", category=DeprecationWarning)

#: Branches per fact kind per shard. The alpha stack limit is 64; the sentinel and the kind nodes use a few.
BRANCH_BUDGET = 56
_SENTINEL = "__sentinel__"
_LOCK = threading.Lock()
_SIDS = itertools.count(1)
_NAMES = itertools.count(1)
_sink: list[tuple[str, str, str]] = []


class _Host(_de.Host):  # type: ignore[misc]
    """A host without the two background dispatch timers (they race with screenings and can segfault)."""

    def _run(self) -> None:
        return None


_HOST: _Host | None = None
_OK, _NOT_HANDLED = 0, 1


def _assert_facts(ruleset: Any, payload: list[dict[str, Any]]) -> Any:
    """Assert one session's facts and run its actions synchronously.

    ``Host.assert_facts`` raises ``MessageNotHandledException`` when any one fact matched no rule and then
    skips the actions of the facts that did match. A fact matching nothing is a normal outcome here, so the
    C call is made directly and the actions are run whatever the per-fact outcome was.
    """
    code, state_handle = _c.assert_facts(ruleset._handle, json.dumps(payload, ensure_ascii=False))[:2]
    if code not in (_OK, _NOT_HANDLED):
        raise EngineError(f"durable_rules returned status {code} while asserting facts")
    outcome: list[Any] = [None, None]

    def complete(error: Any, state: Any) -> None:
        outcome[0], outcome[1] = error, state

    ruleset.do_actions(state_handle, complete)
    if outcome[0] is not None:
        raise EngineError(f"durable_rules failed while running actions: {outcome[0]}")
    return outcome[1]


def _host() -> _Host:
    global _HOST  # noqa: PLW0603 - one host per process, created on first use
    if _HOST is None:
        _HOST = _Host()
    return _HOST


def _record(rule_key: str, truth: str, fid: str) -> None:
    """Called from inside durable_rules actions; collects one firing."""
    _sink.append((rule_key, truth, fid))


def _field(name: str) -> str:
    return name.replace(".", "__")


def _literal(lit: Literal_) -> dict[str, Any]:
    f = _field(lit.fact)
    op, value = lit.op, lit.value
    if op == "eq":
        return {f: value}
    if op in ("ne", "lt", "le", "gt", "ge"):
        return {{"ne": "$neq", "lt": "$lt", "le": "$lte", "gt": "$gt", "ge": "$gte"}[op]: {f: value}}
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


def _pattern(kind: str, branch: Branch) -> dict[str, Any]:
    return {"all": [{"m": {"$and": [{"kind": kind}, *(_literal(lit) for lit in branch)]}}]}


def _action(rule_key: str, truth: str) -> Callable[[Any], None]:
    def action(c: Any) -> None:
        _record(rule_key, truth, c.m["fid"])

    return action


class _Shard:
    def __init__(self, name: str) -> None:
        self.name = name
        self.definition: dict[str, Any] = {
            f"{_SENTINEL}|T|0": {**_pattern("patient", ()), "run": _action(_SENTINEL, "T")}
        }
        self.used = {"patient": 1, "site": 0, "circuit": 0}
        self.fields: dict[str, set[str]] = {"patient": set(), "site": set(), "circuit": set()}
        self.rules = 0

    def fits(self, rule: CompiledRule) -> bool:
        need = len(rule.true_branches) + len(rule.unknown_branches)
        return self.used[rule.fact_scope] + need <= BRANCH_BUDGET

    def add(self, rule: CompiledRule) -> None:
        kind = rule.fact_scope
        for tag, branches in (("T", rule.true_branches), ("U", rule.unknown_branches)):
            for k, branch in enumerate(branches):
                self.definition[f"{rule.id}|{tag}|{k}"] = {
                    **_pattern(kind, branch),
                    "run": _action(rule.id, tag),
                }
        self.used[kind] += len(rule.true_branches) + len(rule.unknown_branches)
        self.fields[kind].update(rule.reads)
        self.rules += 1


def _jsonable(value: FactValue) -> Any:
    return sorted(value) if isinstance(value, frozenset) else value


class DurableEngine:
    """Screens with durable_rules: one isolated session per shard per screening, always deleted."""

    name: EngineName = "durable_rules"

    def __init__(self, ruleset: Ruleset) -> None:
        shards: list[_Shard] = []
        prefix = f"ns{next(_NAMES)}"
        for rule in ruleset.rules:
            if len(rule.true_branches) + len(rule.unknown_branches) > BRANCH_BUDGET - 1:
                raise EngineError(f"rule {rule.id} has too many branches for one durable_rules ruleset")
            if not shards or not shards[-1].fits(rule):
                shards.append(_Shard(f"{prefix}_{len(shards)}"))
            shards[-1].add(rule)
        self._shards = tuple(shards)
        with _LOCK:
            host = _host()
            for shard in self._shards:
                # durable_rules deletes the "run" keys of what it is given; it gets a copy.
                definition = {k: dict(v) for k, v in shard.definition.items()}
                try:
                    host.set_rulesets({shard.name: definition})
                except Exception as exc:
                    raise EngineError(f"durable_rules rejected ruleset {shard.name}: {exc}") from exc

    @property
    def shard_count(self) -> int:
        """How many durable_rules rulesets this engine registered."""
        return len(self._shards)

    def definitions(self) -> dict[str, dict[str, Any]]:
        """The durable_rules ruleset definitions as plain JSON data (actions omitted)."""
        return {
            s.name: {k: {kk: vv for kk, vv in v.items() if kk != "run"} for k, v in s.definition.items()}
            for s in self._shards
        }

    def _facts_for(self, shard: _Shard, facts: Facts, sid: str) -> list[dict[str, Any]]:
        out = []
        for scope, index, fs in fact_sets(facts):
            wanted = shard.fields[scope]
            if scope != "patient" and not wanted:
                continue
            fact: dict[str, Any] = {"sid": sid, "kind": scope, "fid": f"{scope}:{index}"}
            for name in wanted:
                if name in fs:
                    fact[_field(name)] = _jsonable(fs[name])
            out.append(fact)
        return out

    def run(self, facts: Facts) -> frozenset[Firing]:
        firings: set[Firing] = set()
        with _LOCK:
            host = _host()
            for shard in self._shards:
                sid = str(next(_SIDS))
                payload = self._facts_for(shard, facts, sid)
                _sink.clear()
                asserted = False
                try:
                    state = _assert_facts(host.get_ruleset(shard.name), payload)
                    asserted = True
                except EngineError:
                    raise
                except Exception as exc:
                    raise EngineError(f"durable_rules failed in {shard.name}: {exc}") from exc
                finally:
                    # After a failed assert the session may be half-built (error 303 leaves it unsafe to
                    # delete); every successful one is deleted so sessions never accumulate.
                    if asserted:
                        host.delete_state(shard.name, sid)
                if isinstance(state, dict) and "exception" in state:
                    raise EngineError(f"an action raised inside durable_rules: {state['exception']}")
                fired = list(_sink)
                _sink.clear()
                if (_SENTINEL, "T", "patient:0") not in fired:
                    raise EngineError(f"durable_rules did not run the sentinel rule of {shard.name}")
                for rule_key, truth, fid in fired:
                    if rule_key == _SENTINEL:
                        continue
                    scope, _, index = fid.partition(":")
                    firings.add(
                        Firing(rule_key, _scope(scope), int(index), Truth.TRUE if truth == "T" else Truth.UNKNOWN)
                    )
        # True and unknown branches of one rule are exclusive by construction; both firing means the
        # adapter is wrong, and no verdict is safer than a guessed one.
        definite = {(f.rule_id, f.scope, f.index) for f in firings if f.truth is Truth.TRUE}
        for f in firings:
            if f.truth is Truth.UNKNOWN and (f.rule_id, f.scope, f.index) in definite:
                raise EngineError(f"rule {f.rule_id} matched as both true and unknown on {f.scope} {f.index}")
        return frozenset(firings)

    def close(self) -> None:
        """Free the C rulesets (reloading otherwise leaks about 0.5 MB each)."""
        with _LOCK:
            host = _host()
            for shard in self._shards:
                rs = host._ruleset_directory.pop(shard.name, None)
                if rs is not None:
                    host._ruleset_list.remove(rs)
                    _c.delete_ruleset(rs._handle)
        self._shards = ()


def _scope(name: str) -> FactScope:
    if name in ("patient", "site", "circuit"):
        return name  # type: ignore[return-value]
    raise EngineError(f"durable_rules returned an unknown fact id kind {name!r}")


def dump_definitions(engine: DurableEngine) -> str:
    """The registered rulesets as JSON text, for inspection (``needlescreen explain --engine-json``)."""
    return json.dumps(engine.definitions(), indent=2, sort_keys=True)
