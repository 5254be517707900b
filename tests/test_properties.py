"""Safety properties: the screening never looks safer than it is.

Each property is a plain ``check_*`` function over a screener and intakes, run here by hypothesis over
generated intakes (``tests/strategies.py``), and run again at the bottom of this file against a deliberately
broken rule or engine, where it must fail: that keeps the demonstration that each property can fail permanent.

Properties are generic over the ruleset: they iterate ``ruleset.rules`` and the fact catalogue and never name a
rule. Examples per property: profile "ci" (default) or "thorough" (``HYPOTHESIS_PROFILE=thorough``).
"""

from __future__ import annotations

import copy
import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from needlescreen import Screener, load_ruleset
from needlescreen.conditions import All, Atom, Truth, evaluate
from needlescreen.engine import Firing, available_engines, fact_sets
from needlescreen.facts import DEVICE_GROUPS, UNPAIRED
from needlescreen.result import ScreeningResult, worst
from needlescreen.ruleset import CompiledRule, Ruleset, default_rules_dir
from needlescreen.testing import comparable

from .conftest import THOROUGH
from .strategies import (
    FINDING_KINDS,
    PATIENT_ENUMS,
    SPECIAL_ENUMS,
    answer_order,
    finding_move,
    intakes,
    risk_moves,
)

RANK = {"clear": 0, "caution": 1, "refer": 2}
ELECTRICAL_SCOPES = ("electrical", "electrical_site", "circuit")
SITE_SCOPES = ("site", "electrical_site")
MOVES = risk_moves()
# Every move is its own test; in CI each takes fewer examples so that all of them together stay fast.
PER_MOVE = settings(max_examples=settings.default.max_examples if THOROUGH else 12)
needs_durable = pytest.mark.skipif("durable_rules" not in available_engines(), reason="durable_rules not loadable")


@pytest.fixture(scope="module")
def plain(ruleset: Ruleset) -> Screener:
    return Screener(ruleset, engine="plain")


# --- 1. monotonic: a step toward risk never lowers a verdict ---------------------------------------------------


def _risk_verdicts(result: ScreeningResult) -> tuple[str, dict[str, str]]:
    """Overall and per-site verdicts from the risk findings only.

    A contradiction between two answers (a rule reading ``patient.inconsistent_answers``) is about the answers,
    not a risk with a direction: a step toward risk may resolve one (a pacemaker listed where "no devices" met a
    pacemaker code), so those findings are left out of the order this property checks.
    """
    risk = [f for f in result.findings if "patient.inconsistent_answers" not in f.facts]
    site_ids = [s.site.id for s in result.sites]
    per_site: dict[str, str] = {}
    for sid in site_ids:
        concerning = [
            f.verdict
            for f in risk
            if (f.site is None and f.circuit is None)
            or (f.site and f.site.id == sid)
            or (f.circuit and sid in f.circuit)
        ]
        per_site[sid] = worst(*concerning)
    return worst(*(f.verdict for f in risk)), per_site


def check_monotonic(screener: Screener, before: dict[str, Any], after: dict[str, Any], move: str) -> None:
    (a, a_sites), (b, b_sites) = _risk_verdicts(screener.screen(before)), _risk_verdicts(screener.screen(after))
    assert RANK[b] >= RANK[a], f"{move}: overall {a} -> {b}\nbefore: {json.dumps(before)}\nafter:  {json.dumps(after)}"
    for sid, verdict in a_sites.items():
        if sid in b_sites:
            assert RANK[b_sites[sid]] >= RANK[verdict], (
                f"{move}: site {sid} {verdict} -> {b_sites[sid]}\n"
                f"before: {json.dumps(before)}\nafter:  {json.dumps(after)}"
            )


@pytest.mark.parametrize("move", sorted(MOVES))
@PER_MOVE
@given(data=st.data())
def test_a_step_toward_risk_never_lowers_a_verdict(move: str, data: st.DataObject, plain: Screener) -> None:
    before, after = MOVES[move](data.draw(intakes()), data.draw)
    check_monotonic(plain, before, after, move)


def test_every_enumerated_question_has_a_direction_toward_risk() -> None:
    """A question the catalogue adds must be placed in an order (strategies.ORDERS / PROTECTIVE) on purpose."""
    unordered = [p for p, v in PATIENT_ENUMS.items() if answer_order(p, v) is None and p not in SPECIAL_ENUMS]
    assert not unordered, f"no risk order defined for {unordered}; add one to tests/strategies.py"


# --- 2. unknown is never clear ------------------------------------------------------------------------------


def _findings_by_key(result: ScreeningResult) -> dict[tuple[str, str | None, tuple[str, str] | None], Any]:
    return {(f.rule_id, f.site.id if f.site else None, f.circuit): f for f in result.findings}


def _expected(screener: Screener, intake: Any) -> Iterator[tuple[CompiledRule, str, int, Truth, dict[str, Any]]]:
    """Independent of the engine: every rule evaluated with the three-valued evaluator on every fact set."""
    _model, facts = screener.facts(intake)
    for scope, index, fs in fact_sets(facts):
        for rule in screener.ruleset.rules:
            if rule.fact_scope == scope:
                yield rule, scope, index, evaluate(rule.condition, fs), fs


def check_unknown_is_never_clear(screener: Screener, intake: Any) -> None:
    """Every rule left undecided by missing information gives at least caution, at its site and overall, and
    the result names what is missing; every rule that holds gives its verdict."""
    result = screener.screen(intake)
    model, facts = screener.facts(intake)
    site_ids = [s.id for s, _ in facts.sites]
    site_verdicts = {s.site.id: s.verdict for s in result.sites}
    got = _findings_by_key(result)
    missing = {m.fact: set(m.rules) for m in result.missing}
    for rule, scope, index, truth, fs in _expected(screener, intake):
        if truth is Truth.FALSE:
            continue
        site = site_ids[index] if scope == "site" else None
        # An electrical plan without lead pairs is screened as one unpaired circuit that concerns every site.
        paired = scope == "circuit" and facts.circuits[index][0] != UNPAIRED
        circuit = tuple(model.plan.circuits[index]) if paired else None
        f = got.get((rule.id, site, circuit))
        assert f is not None, f"{rule.id} is {truth.name} on {scope} {index} but the result has no finding for it"
        assert RANK[result.verdict] >= RANK["caution"]
        if truth is Truth.UNKNOWN:
            assert f.status == "unknown" and RANK[f.verdict] >= RANK["caution"], f
            absent = [n for n in rule.reads if n not in fs]
            assert f.missing and set(f.missing) <= set(absent), (rule.id, f.missing, absent)
            for n in f.missing:
                assert rule.id in missing.get(n, set()), f"{n} missing for {rule.id} but not listed"
        else:
            assert f.status == "fired" and f.verdict == rule.verdict, f
        ends = [site] if site else list(circuit) if circuit else site_ids
        for end in ends:
            assert RANK[site_verdicts[end]] >= RANK[f.verdict], (end, f.rule_id)
    if result.missing:
        assert result.verdict != "clear", "information is missing but the verdict is clear"


@given(intake=intakes())
def test_an_undecided_rule_is_never_clear_and_names_what_is_missing(intake: dict[str, Any], plain: Screener) -> None:
    check_unknown_is_never_clear(plain, intake)


def _unknowing_moves(intake: dict[str, Any]) -> list[tuple[str, Callable[[dict[str, Any]], None]]]:
    """Every way to make one input of this intake unknown."""

    def pop(path: str) -> Callable[[dict[str, Any]], None]:
        def run(d: dict[str, Any]) -> None:
            *parents, leaf = path.split(".")
            node = d
            for k in parents:
                node = node.get(k, {})
            node.pop(leaf, None)
            if path == "patient.pregnancy.status":
                node.pop("gestational_weeks", None)
            if path == "patient.vascular_disease":
                node.pop("vascular_disease_locations", None)

        return run

    moves = [(p, pop(p)) for p in PATIENT_ENUMS]
    moves += [(p, pop(p)) for p in ("patient.age", "patient.bmi", "patient.fever.temperature_c")]
    moves += [(p, pop(p)) for p in ("patient.chemo_cycle_day", "devices.pacemaker_dependent")]
    moves += [(p, pop(p)) for p in ("patient.vascular_disease_locations", "findings.dvt.weeks_ago")]
    moves += [("patient.pregnancy.gestational_weeks", pop("patient.pregnancy.gestational_weeks"))]
    moves += [("medications.complete", pop("medications.complete"))]
    moves += [("medications.vka", pop("medications.vka"))]
    for lab in ("inr", "platelets", "anc"):
        moves += [(f"labs.{lab}", pop(f"labs.{lab}")), (f"labs.{lab}.age_days", pop(f"labs.{lab}.age_days"))]

    def no_target(d: dict[str, Any]) -> None:
        for k in ("target_low", "target_high"):
            d.get("labs", {}).get("inr", {}).pop(k, None)

    moves += [("labs.inr.target", no_target)]
    moves += [("devices", lambda d: d.update(devices={"answer": "unknown"}))]
    for kind in FINDING_KINDS:
        moves += [
            (f"findings.{kind}", lambda d, k=kind: d.setdefault("findings", {}).update({k: {"answer": "unknown"}}))
        ]
    for i, _s in enumerate(intake["plan"]["sites"]):
        moves += [(f"plan.sites[{i}].depth_mm", lambda d, i=i: d["plan"]["sites"][i].pop("depth_mm", None))]
    return moves


def _has_known_test(rule: CompiledRule) -> bool:
    def walk(c: Any) -> bool:
        if isinstance(c, Atom):
            return c.op == "known"
        parts = [c.part] if hasattr(c, "part") else c.parts
        return any(walk(p) for p in parts)

    return walk(rule.condition)


def check_unknowing(screener: Screener, intake: dict[str, Any], name: str, change: Callable[..., None]) -> None:
    """Making one input unknown never turns a rule that held into silence: it still holds or is undecided
    (then at least caution, naming what is missing). Rules with an explicit ``known:`` fallback are exempt."""
    before = {(r.id, s, i): t for r, s, i, t, _ in _expected(screener, intake)}
    after_intake = copy.deepcopy(intake)
    change(after_intake)
    after = {(r.id, s, i): t for r, s, i, t, _ in _expected(screener, after_intake)}
    rules = {r.id: r for r in screener.ruleset.rules}
    # A documented default, not an unknown: pregnancy is not asked of male patients, so an unanswered status
    # of a male patient reads as not pregnant (facts.py). Reported for clinical review; exempt here.
    if name.startswith("patient.pregnancy") and intake.get("patient", {}).get("sex") == "male":
        return
    # Of two answers that contradict each other, making one unknown lets the other decide (an empty complete
    # medication list rules a blood thinner out once the "yes" to it is gone): the contradiction is resolved,
    # unknown is not read as no. The result must still never be clear while anything is undecided.
    contradicted = " ".join(sorted(screener.facts(intake)[1].patient.get("patient.inconsistent_answers", ())))  # type: ignore[arg-type]
    if name in contradicted:
        check_unknown_is_never_clear(screener, after_intake)
        return
    for key, truth in before.items():
        if truth is Truth.TRUE and not _has_known_test(rules[key[0]]):
            assert after[key] is not Truth.FALSE, f"{key[0]}: making {name} unknown turned it off"
    check_unknown_is_never_clear(screener, after_intake)
    result_before, result_after = screener.screen(intake), screener.screen(after_intake)
    if result_before.verdict != "clear" and all(not _has_known_test(rules[f.rule_id]) for f in result_before.findings):
        assert result_after.verdict != "clear", f"making {name} unknown gave clear"


@given(data=st.data())
def test_making_an_input_unknown_never_gives_clear(data: st.DataObject, plain: Screener) -> None:
    intake = data.draw(intakes())
    name, change = data.draw(st.sampled_from(_unknowing_moves(intake)))
    check_unknowing(plain, intake, name, change)


def test_every_rule_is_seen_undecided_and_then_is_never_clear(ruleset: Ruleset, plain: Screener) -> None:
    """Coverage for 'for every rule': seeded broad intakes leave each rule undecided at least once."""
    import random

    from needlescreen.facts import ALWAYS_KNOWN

    from .generate import random_intake

    rng = random.Random(6)
    seen: set[str] = set()
    for _ in range(600):
        intake = random_intake(rng, ruleset.regions)
        check_unknown_is_never_clear(plain, intake)
        seen |= {r.id for r, _s, _i, t, _fs in _expected(plain, intake) if t is Truth.UNKNOWN}
    # A rule compiled without an unknown branch (e.g. one that reads "known" only) can never be undecided.
    can_be_unknown = {r.id for r in ruleset.rules if set(r.reads) - ALWAYS_KNOWN and r.unknown_branches}
    assert can_be_unknown <= seen, f"never undecided in 600 intakes: {sorted(can_be_unknown - seen)}"


# --- 3. order-free and deterministic --------------------------------------------------------------------------


def canonical(result: ScreeningResult) -> dict[str, Any]:
    data = comparable(result)
    data["sites"] = sorted(data["sites"], key=lambda s: s["site"]["id"])
    data["findings"] = sorted(json.dumps(f, sort_keys=True) for f in data["findings"])
    data["unrecognised_medications"] = sorted(data["unrecognised_medications"])
    data["unrecognised_medication_details"] = sorted(data["unrecognised_medication_details"], key=json.dumps)
    return data


def shuffled(intake: dict[str, Any], draw: Callable[..., Any]) -> dict[str, Any]:
    out = copy.deepcopy(intake)
    out["plan"]["sites"] = draw(st.permutations(out["plan"]["sites"]))
    if out["plan"].get("circuits"):
        out["plan"]["circuits"] = draw(st.permutations(out["plan"]["circuits"]))
    meds = out.get("medications", {})
    if meds.get("items"):
        meds["items"] = draw(st.permutations(meds["items"]))
    if out.get("devices", {}).get("items"):
        out["devices"]["items"] = draw(st.permutations(out["devices"]["items"]))
    findings = out.get("findings", {})
    out["findings"] = dict(draw(st.permutations(list(findings.items()))))
    for f in out["findings"].values():
        if f.get("locations"):
            f["locations"] = draw(st.permutations(f["locations"]))
    out["patient"] = dict(draw(st.permutations(list(out["patient"].items()))))
    return out


def check_order_free(screener: Screener, intake: dict[str, Any], other: dict[str, Any]) -> None:
    first = screener.screen(intake)
    assert comparable(screener.screen(intake)) == comparable(first), "screening twice differs"
    assert canonical(screener.screen(other)) == canonical(first), "order of the intake changed the result"


@given(data=st.data())
def test_order_of_sites_medications_findings_and_devices_does_not_matter(data: st.DataObject, plain: Screener) -> None:
    intake = data.draw(intakes())
    check_order_free(plain, intake, shuffled(intake, data.draw))


# --- 4. scope ------------------------------------------------------------------------------------------------


#: Parts of the body and which parts adjoin (anatomy): a finding or device concerns sites of its own part or of
#: an adjoining one (a limb finding reaches the whole limb; "near" reaches the neighbouring segments, and a
#: shoulder or hip borders the trunk).
_PARTS = (
    "upper_limb",
    "lower_limb",
    "head_and_neck",
    "upper_trunk_quadrant",
    "lower_trunk_quadrant",
    "thorax",
    "trunk",
)
_ADJOINING = {
    frozenset({"upper_limb", "upper_trunk_quadrant"}),
    frozenset({"upper_limb", "thorax"}),
    frozenset({"upper_limb", "trunk"}),
    frozenset({"lower_limb", "lower_trunk_quadrant"}),
    frozenset({"lower_limb", "trunk"}),
    frozenset({"head_and_neck", "upper_trunk_quadrant"}),
    frozenset({"head_and_neck", "thorax"}),
    frozenset({"head_and_neck", "trunk"}),
    frozenset({"upper_trunk_quadrant", "lower_trunk_quadrant"}),
}


def _overlaps(ruleset: Ruleset, site_region: str, site_side: str | None, region: str, side: str | None) -> bool:
    """Is a finding or device recorded at ``region`` in the same or an adjoining part of the body as the site,
    on a side that does not contradict it?"""
    regions = ruleset.regions
    if side in ("left", "right") and site_side in ("left", "right") and side != site_side:
        return False
    if region in regions[site_region].within or site_region in regions[region].within:
        return True
    parts_site = {p for p in _PARTS if p in regions[site_region].within}
    parts_loc = {p for p in _PARTS if p in regions[region].within}
    if parts_site & parts_loc:
        return True
    return any(frozenset({a, b}) in _ADJOINING for a in parts_site for b in parts_loc)


def _region_tests(cond: Any) -> list[Atom]:
    """The ``site.region within`` tests a rule's condition requires (top-level conjuncts)."""
    if isinstance(cond, Atom):
        return [cond] if cond.fact == "site.region" and cond.op == "within" else []
    if isinstance(cond, All):
        return [a for p in cond.parts for a in _region_tests(p)]
    return []


def check_scope(screener: Screener, intake: dict[str, Any]) -> None:
    """Site findings concern a planned site, in the rule's region and where the finding or device is;
    circuit findings name a planned circuit; electrical-only rules say nothing about manual needling."""
    result = screener.screen(intake)
    model, facts = screener.facts(intake)
    ruleset = screener.ruleset
    codes = getattr(ruleset, "codes", None)
    if codes is not None and model.conditions:
        model = codes.apply(model)  # coded diagnoses add findings and devices before the rules read them
    sites = {s.id: s for s, _ in facts.sites}
    rules = {r.id: r for r in ruleset.rules}
    for f in result.findings:
        rule = rules[f.rule_id]
        if rule.scope in ELECTRICAL_SCOPES:
            assert model.plan.technique == "electrical", f"{f.rule_id} ({rule.scope}) fired for manual needling"
        if rule.scope in SITE_SCOPES:
            assert f.site is not None and f.site.id in sites and f.circuit is None, f
            site = sites[f.site.id]
            region = site.region
            assert region is not None
            for atom in _region_tests(rule.condition):
                assert any(r in ruleset.regions[region].within for r in atom.value), (f.rule_id, region, atom)  # type: ignore[union-attr]
            for kind in FINDING_KINDS:
                if f.facts.get(f"site.{kind}") == "yes":
                    locs = getattr(model.findings, kind).locations
                    assert any(_overlaps(ruleset, region, site.side, loc.region, loc.side) for loc in locs), (
                        f"{f.rule_id}: site {site.id} ({region}, {site.side}) is not where {kind} is: {locs}"
                    )
            for group, kinds in DEVICE_GROUPS.items():
                if f.facts.get(f"site.{group}_area") == "yes":
                    # A device whose place is not recorded is never "yes" at a site: only recorded places count.
                    places = [
                        (d.location.region, d.location.side)
                        for d in model.devices.items
                        if d.kind in kinds and d.location is not None
                    ]
                    assert any(r and _overlaps(ruleset, region, site.side, r, s) for r, s in places), (
                        f"{f.rule_id}: site {site.id} is not where the {group} device is: {places}"
                    )
        elif rule.scope == "circuit":
            pairs = {tuple(c) for c in model.plan.circuits}
            assert f.site is None and (f.circuit in pairs or (f.circuit is None and not pairs)), f
        else:
            assert f.site is None and f.circuit is None, f


@given(intake=intakes())
def test_findings_concern_the_planned_sites_they_name(intake: dict[str, Any], plain: Screener) -> None:
    check_scope(plain, intake)


@given(intake=intakes())
def test_electrical_only_rules_never_fire_for_manual_needling(intake: dict[str, Any], plain: Screener) -> None:
    manual = copy.deepcopy(intake)
    manual["plan"]["technique"] = "dry_needling"
    manual["plan"].pop("circuits", None)
    check_scope(plain, manual)


# --- 5. engines agree ----------------------------------------------------------------------------------------


def check_engines_agree(durable: Screener, other: Screener, intake: dict[str, Any]) -> None:
    a, b = durable.screen(intake), other.screen(intake)
    assert comparable(a) == comparable(b), f"engines disagree on {json.dumps(intake)}"


@needs_durable
@given(intake=intakes(max_sites=8))
def test_durable_rules_and_the_plain_evaluator_agree(intake: dict[str, Any], screeners: dict[str, Screener]) -> None:
    check_engines_agree(screeners["durable_rules"], screeners["plain"], intake)


# --- deliberate breakage: every property above fails on a broken rule or engine -------------------------------

BREAK = settings(
    max_examples=400,
    phases=[Phase.generate],
    report_multiple_bugs=False,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)


def _broken_copy(tmp_path: Path, change: Callable[[dict[str, Any]], bool]) -> Ruleset:
    """A copy of the bundled rules with the first rule ``change`` accepts edited."""
    root = tmp_path / "broken"
    shutil.copytree(default_rules_dir(), root)
    for path in sorted((root / "rules").glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        for rule in data["rules"]:
            if change(rule):
                path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
                return load_ruleset(root)
    pytest.skip("no rule of the bundled ruleset has the shape this breakage needs")


def _invert_a_site_finding_rule(inverted: list[str]) -> Callable[[dict[str, Any]], bool]:
    """{fact: site.<finding>, eq: yes} -> eq: no: the rule now refers when the finding is absent (its finding
    kind is appended to ``inverted``)."""

    def change(rule: dict[str, Any]) -> bool:
        when = rule["when"]
        kind = when.get("fact", "").removeprefix("site.")
        if (
            rule["scope"] == "site"
            and rule["verdict"] == "refer"
            and kind in FINDING_KINDS
            and when.get("eq") in ("yes", True)
        ):
            when["eq"] = "no"
            inverted.append(kind)
            return True
        return False

    return change


def test_breakage_monotonic_property_fails_on_an_inverted_rule(tmp_path: Path) -> None:
    inverted: list[str] = []
    broken = Screener(_broken_copy(tmp_path, _invert_a_site_finding_rule(inverted)), engine="plain")
    # The property's finding move, aimed at the inverted rule's finding: over all eleven kinds, whether 400
    # examples reach it (a site with nothing else that refers) was a matter of the seed.
    move = finding_move(*inverted)

    @BREAK
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        before, after = move(data.draw(intakes()), data.draw)
        check_monotonic(broken, before, after, "finding")

    with pytest.raises(AssertionError, match="->"):
        run()


class _DropUnknown:
    """An engine that forgets undecided rules: unknown would silently read as no."""

    name = "plain"

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def run(self, facts: Any) -> frozenset[Firing]:
        return frozenset(f for f in self.inner.run(facts) if f.truth is Truth.TRUE)


class _FirstSiteOnly:
    """An engine that only looks at the first planned site: its result depends on the order of sites."""

    name = "plain"

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def run(self, facts: Any) -> frozenset[Firing]:
        return frozenset(f for f in self.inner.run(facts) if f.scope != "site" or f.index == 0)


def test_breakage_unknown_property_fails_when_unknown_reads_as_no(ruleset: Ruleset) -> None:
    broken = Screener(ruleset, engine="plain")
    broken.engine = _DropUnknown(broken.engine)  # type: ignore[assignment]

    @BREAK
    @given(intake=intakes())
    def run(intake: dict[str, Any]) -> None:
        check_unknown_is_never_clear(broken, intake)

    with pytest.raises(AssertionError, match="no finding"):
        run()


def test_breakage_order_property_fails_on_an_order_dependent_engine(ruleset: Ruleset) -> None:
    broken = Screener(ruleset, engine="plain")
    broken.engine = _FirstSiteOnly(broken.engine)  # type: ignore[assignment]

    @BREAK
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        intake = data.draw(intakes())
        check_order_free(broken, intake, shuffled(intake, data.draw))

    with pytest.raises(AssertionError, match="order"):
        run()


def test_breakage_scope_property_fails_without_the_electrical_guard(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from needlescreen import ruleset as ruleset_module

    monkeypatch.setattr(ruleset_module, "_GUARDS", {})
    broken = Screener(load_ruleset(), engine="plain")
    monkeypatch.undo()

    @BREAK
    @given(intake=intakes())
    def run(intake: dict[str, Any]) -> None:
        manual = copy.deepcopy(intake)
        manual["plan"]["technique"] = "dry_needling"
        manual["plan"].pop("circuits", None)
        check_scope(broken, manual)

    with pytest.raises(AssertionError, match="manual needling"):
        run()


@needs_durable
def test_breakage_engine_property_fails_when_one_engine_runs_a_broken_rule(ruleset: Ruleset, tmp_path: Path) -> None:
    durable = Screener(_broken_copy(tmp_path, _invert_a_site_finding_rule([])), engine="durable_rules")
    plain = Screener(ruleset, engine="plain")

    @BREAK
    @given(intake=intakes())
    def run(intake: dict[str, Any]) -> None:
        # The copy's content hash differs from the bundled one's whatever the rule says: compare what was decided.
        a, b = comparable(durable.screen(intake)), comparable(plain.screen(intake))
        del a["ruleset"], b["ruleset"]
        assert a == b, f"engines disagree on {json.dumps(intake)}"

    try:
        with pytest.raises(AssertionError, match="disagree"):
            run()
    finally:
        durable.engine.close()  # type: ignore[attr-defined]


# --- coded conditions: every code of the code map only adds risk ---------------------------------------------


def _bases() -> list[tuple[str, dict[str, Any]]]:
    """Safe, partly unknown and wholly unknown intakes, for manual and electrical needling."""
    from needlescreen.testing import baseline_intake

    electrical = {
        "technique": "electrical",
        "sites": [{"id": "a", "region": "calf", "side": "left"}, {"id": "b", "region": "calf", "side": "right"}],
        "circuits": [["a", "b"]],
    }
    out = []
    for technique, plan in (("manual", baseline_intake()["plan"]), ("electrical", electrical)):
        safe = {**baseline_intake(), "plan": plan}
        out.append((f"{technique}, all answered", safe))
        for section in ("patient", "medications", "devices", "findings"):
            out.append((f"{technique}, {section} unknown", {k: v for k, v in safe.items() if k != section}))
        out.append((f"{technique}, all unknown", {"plan": plan}))
    return out


def coded_condition_violations(screener: Screener) -> list[str]:
    from .strategies import condition_codes

    found = []
    for name, base in _bases():
        for code in condition_codes():
            after = {**copy.deepcopy(base), "conditions": [*base.get("conditions", []), {"code": code}]}
            try:
                check_monotonic(screener, base, after, f"add code {code}")
            except AssertionError as exc:
                found.append(f"{code} on '{name}': {str(exc).splitlines()[0]}")
    return found


def test_every_coded_condition_only_adds_risk(plain: Screener) -> None:
    """codes.yaml: "a code only adds information". Adding any code to a safe, partly unknown or unknown
    intake never lowers the overall verdict or a site's verdict."""
    found = coded_condition_violations(plain)
    assert not found, "adding a code lowered a verdict:\n" + "\n".join(found)
