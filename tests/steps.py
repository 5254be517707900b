"""The one step vocabulary of the feature files, written for a physiotherapist to read.

Places are written as "the <side> <region>" with the region in plain words as in ``rules/regions.yaml``
(e.g. "the left forearm", "the right calf", "the lumbar region", "the upper limb"). Findings, devices and
drugs are plain words as well; see the tables below.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from pytest_bdd import given, parsers, then, when

from needlescreen.testing import baseline_intake, comparable, with_changes

QUESTIONS: dict[str, tuple[str, ...]] = {
    "consent to needling": ("patient", "consent", "agrees"),
    "capacity to consent": ("patient", "consent", "capacity"),
    "guardian consent": ("patient", "consent", "guardian_consent"),
    "needle phobia": ("patient", "needle_phobia"),
    "fainting with needles": ("patient", "fainting_history"),
    "acute or unexplained illness": ("patient", "acute_illness"),
    "fever or systemic infection": ("patient", "fever", "answer"),
    "immunocompromise": ("patient", "immunocompromised"),
    "active chemotherapy": ("patient", "active_chemotherapy"),
    "metal allergy": ("patient", "metal_allergy"),
    "heart valve or endocarditis": ("patient", "heart_valve_or_endocarditis"),
    "lung disease": ("patient", "lung_disease"),
    "previous pneumothorax": ("patient", "prior_pneumothorax"),
    "frailty": ("patient", "frailty"),
    "able to keep still": ("patient", "can_keep_still"),
    "complete medication list": ("medications", "complete"),
    "a blood thinner that needs INR checks": ("medications", "vka"),
    "implanted devices": ("devices", "answer"),
    "psychological or movement problems": ("patient", "cooperation_problem"),
    "poor circulation": ("patient", "vascular_disease"),
    "cancer history": ("patient", "cancer_history"),
    "thoracic surgery or kyphoscoliosis": ("patient", "chest_wall_condition"),
    "advanced training for vulnerable sites": ("plan", "advanced_training"),
    "bruising or bleeding easily": ("patient", "bleeding_history"),
    "emphysema or bullae": ("patient", "bullous_lung_disease"),
    "trying to conceive": ("patient", "pregnancy", "trying_to_conceive"),
    "depends on the pacemaker": ("devices", "pacemaker_dependent"),
}
FINDINGS = {
    "lymphoedema": "lymphedema",
    "a limb at risk of lymphoedema": "at_risk_limb",
    "infection": "local_infection",
    "cellulitis": "local_infection",
    "an open wound": "open_wound",
    "a tumour": "tumour",
    "recent surgery": "recent_surgery",
    "an acute DVT": "dvt",
    "varicose veins": "varicose_veins",
    "reduced sensation": "reduced_sensation",
    "a radiotherapy field": "radiotherapy_field",
    "spinal instability": "spinal_instability",
    "a DVT": "dvt",
    "a past DVT": "past_dvt",
    "superficial thrombophlebitis": "thrombophlebitis",
    "eczema": "skin_disease",
    "a psoriasis plaque": "skin_disease",
    "a keloid scar": "skin_disease",
    "a burn": "skin_disease",
    "a skin condition": "skin_disease",
    "an insulin pump set": "worn_device",
    "a glucose sensor": "worn_device",
}
DEVICES = {
    "pacemaker": "pacemaker",
    "ICD": "icd",
    "spinal cord stimulator": "spinal_cord_stimulator",
    "neurostimulator": "neurostimulator",
    "drug pump": "drug_pump",
    "cochlear implant": "cochlear_implant",
    "port": "port_picc",
    "PICC line": "port_picc",
    "breast implant": "breast_implant",
    "joint replacement": "joint_prosthesis",
    "metal fixation": "metal_fixation",
}
_SIDES = ("left", "right", "midline", "both")


def place(text: str) -> dict[str, Any]:
    """'left forearm' -> {'region': 'forearm', 'side': 'left'}; 'lumbar region' -> {'region': 'lumbar'}."""
    words = text.strip().split()
    out: dict[str, Any] = {}
    if words and words[0] in _SIDES:
        out["side"] = words.pop(0)
    name = "_".join(w for w in words if w != "region")
    out["region"] = name
    return out


def _set(intake: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    node = intake
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node[path[-1]] = value


@pytest.fixture
def intake() -> dict[str, Any]:
    return {"value": baseline_intake()}


def _update(intake: dict[str, Any], changes: dict[str, Any]) -> None:
    intake["value"] = with_changes(intake["value"], changes)


# --- the patient --------------------------------------------------------------------------------------------


@given("a patient who answers no to every screening question")
def _baseline(intake: dict[str, Any]) -> None:
    intake["value"] = baseline_intake()


@given("nothing is known about the patient")
def _nothing(intake: dict[str, Any]) -> None:
    intake["value"] = {"plan": intake["value"]["plan"]}


@given(parsers.parse("the patient is {age:g} years old"))
def _age(intake: dict[str, Any], age: float) -> None:
    _set(intake["value"], ("patient", "age"), float(age))


@given("the patient's age is not known")
def _age_unknown(intake: dict[str, Any]) -> None:
    intake["value"]["patient"].pop("age", None)


@given(parsers.parse("the patient is {sex:w}"))
def _sex(intake: dict[str, Any], sex: str) -> None:
    assert sex in ("male", "female"), sex
    _set(intake["value"], ("patient", "sex"), sex)


@given(parsers.re(r'the patient answers "(?P<answer>yes|no|unknown)" to "(?P<question>[^"]+)"'))
def _answer(intake: dict[str, Any], answer: str, question: str) -> None:
    if question in FINDINGS.keys() | {"lymphoedema"}:
        intake["value"]["findings"][FINDINGS[question]] = {"answer": answer}
        return
    _set(intake["value"], QUESTIONS[question], answer)


@given(parsers.parse("the patient's temperature is {temp:g} °C"))
def _temp(intake: dict[str, Any], temp: float) -> None:
    _set(intake["value"], ("patient", "fever", "temperature_c"), float(temp))


@given(parsers.re(r"the patient has (?P<value>no|a mild|a severe) bleeding disorder"))
def _bleeding(intake: dict[str, Any], value: str) -> None:
    _set(
        intake["value"],
        ("patient", "bleeding_disorder"),
        {"no": "none", "a mild": "mild", "a severe": "severe"}[value],
    )


@given(parsers.re(r"the patient's bleeding disorder status is not known"))
def _bleeding_unknown(intake: dict[str, Any]) -> None:
    _set(intake["value"], ("patient", "bleeding_disorder"), "unknown")


@given(parsers.re(r"the patient has (?P<control>controlled|uncontrolled|no) (?P<condition>diabetes|epilepsy)"))
def _controlled(intake: dict[str, Any], control: str, condition: str) -> None:
    _set(intake["value"], ("patient", condition), "none" if control == "no" else control)


@given(parsers.re(r"the patient has poor circulation in the (?P<where>.+)$"))
def _circulation(intake: dict[str, Any], where: str) -> None:
    patient = intake["value"]["patient"]
    patient["vascular_disease"] = "yes"
    patient["vascular_disease_locations"] = [*patient.get("vascular_disease_locations", []), place(where)]


@given(parsers.re(r"the patient is on day (?P<day>[\d.]+) of a chemotherapy cycle"))
def _cycle_day(intake: dict[str, Any], day: str) -> None:
    _set(intake["value"], ("patient", "active_chemotherapy"), "yes")
    _set(intake["value"], ("patient", "chemo_cycle_day"), float(day))


@given(
    parsers.re(r"the patient had a pneumothorax on the (?P<side>left|right|both) sides?, (?P<weeks>[\d.]+) weeks ago")
)
def _pneumothorax(intake: dict[str, Any], side: str, weeks: str) -> None:
    patient = intake["value"]["patient"]
    patient.update(prior_pneumothorax="yes", pneumothorax_side=side, pneumothorax_weeks_ago=float(weeks))


@given(parsers.parse("the patient's BMI is {bmi:g}"))
def _bmi(intake: dict[str, Any], bmi: float) -> None:
    _set(intake["value"], ("patient", "bmi"), float(bmi))


# --- pregnancy ----------------------------------------------------------------------------------------------


@given(parsers.parse("the patient is pregnant at {weeks:g} weeks"))
def _pregnant(intake: dict[str, Any], weeks: float) -> None:
    _set(intake["value"], ("patient", "pregnancy"), {"status": "pregnant", "gestational_weeks": float(weeks)})


@given("the patient is pregnant, weeks not known")
def _pregnant_weeks_unknown(intake: dict[str, Any]) -> None:
    _set(intake["value"], ("patient", "pregnancy"), {"status": "pregnant"})


@given(parsers.re(r"the patient (?P<what>may be pregnant|is not pregnant)"))
def _pregnancy_status(intake: dict[str, Any], what: str) -> None:
    status = "possibly" if what == "may be pregnant" else "not_pregnant"
    _set(intake["value"], ("patient", "pregnancy"), {"status": status})


@given(parsers.parse("the record gives {weeks:g} weeks of gestation"))
def _weeks_only(intake: dict[str, Any], weeks: float) -> None:
    _set(intake["value"], ("patient", "pregnancy", "gestational_weeks"), float(weeks))


@given("the patient's pregnancy status is not known")
def _pregnancy_unknown(intake: dict[str, Any]) -> None:
    _set(intake["value"], ("patient", "pregnancy"), {"status": "unknown"})


# --- medications and labs -------------------------------------------------------------------------------------


@given(parsers.re(r"the patient takes (?P<drugs>.+)"))
def _takes(intake: dict[str, Any], drugs: str) -> None:
    items = intake["value"]["medications"].setdefault("items", [])
    for name in re.split(r",\s*|\s+and\s+", drugs):
        atc = re.fullmatch(r"(?P<name>.+) \((?P<atc>[A-Z][0-9]{2}[A-Z0-9]*)\)", name)
        items.append({"name": atc["name"], "atc": atc["atc"]} if atc else {"name": name})


@given("the medication list is incomplete")
def _incomplete(intake: dict[str, Any]) -> None:
    intake["value"]["medications"]["complete"] = "no"


@given(
    parsers.re(
        r"an INR of (?P<inr>[\d.]+) with a target range of (?P<lo>[\d.]+) to (?P<hi>[\d.]+), taken (?P<days>[\d.]+) days ago"
    )
)
def _inr(intake: dict[str, Any], inr: str, lo: str, hi: str, days: str) -> None:
    lab = {"value": float(inr), "target_low": float(lo), "target_high": float(hi), "age_days": float(days)}
    _set(intake["value"], ("labs", "inr"), lab)


@given(parsers.re(r"an INR of (?P<inr>[\d.]+) with no recorded target range, taken (?P<days>[\d.]+) days ago"))
def _inr_no_target(intake: dict[str, Any], inr: str, days: str) -> None:
    _set(intake["value"], ("labs", "inr"), {"value": float(inr), "age_days": float(days)})


@given(parsers.re(r"(?P<lab>platelets|neutrophils) of (?P<value>[\d.]+) x10\^9/L, taken (?P<days>[\d.]+) days ago"))
def _count(intake: dict[str, Any], lab: str, value: str, days: str) -> None:
    key = "platelets" if lab == "platelets" else "anc"
    _set(intake["value"], ("labs", key), {"value": float(value), "age_days": float(days)})


# --- findings and devices ---------------------------------------------------------------------------------------


_FINDING_WORDS = "|".join(re.escape(k) for k in sorted(FINDINGS, key=len, reverse=True))
_DEVICE_WORDS = "|".join(re.escape(k) for k in sorted(DEVICES, key=len, reverse=True))


@given(parsers.re(rf"(?P<finding>{_FINDING_WORDS}) (?:in|of|at) the (?P<where>.+?)(?:, (?P<weeks>[\d.]+) weeks ago)?$"))
def _finding(intake: dict[str, Any], finding: str, where: str, weeks: str | None) -> None:
    kind = FINDINGS[finding]
    current = intake["value"]["findings"].get(kind, {})
    locations = list(current.get("locations", [])) if current.get("answer") == "yes" else []
    entry: dict[str, Any] = {"answer": "yes", "locations": [*locations, place(where)]}
    if weeks:
        entry["weeks_ago"] = float(weeks)
    intake["value"]["findings"][kind] = entry


_BOTH = {"feet": "foot", "hands": "hand", "legs": "lower_limb", "arms": "upper_limb"}


@given(parsers.re(rf"(?P<finding>{_FINDING_WORDS}) in both (?P<where>feet|hands|legs|arms)$"))
def _finding_both(intake: dict[str, Any], finding: str, where: str) -> None:
    _finding(intake, finding, f"both {_BOTH[where]}", None)


@given(parsers.re(rf'(?P<finding>{_FINDING_WORDS}) written as "(?P<typed>[^"]+)"$'))
def _finding_as_typed(intake: dict[str, Any], finding: str, typed: str) -> None:
    """A place as the clinician types it ("L arm", "right groin"), read as every front end reads it."""
    from needlescreen import load_ruleset

    placed = load_ruleset().vocabulary.locate(typed)
    where = {"region": placed.region, **({"side": placed.side} if placed.side else {})}
    intake["value"]["findings"][FINDINGS[finding]] = {"answer": "yes", "locations": [where]}


@given(parsers.re(rf"the patient has (?:a|an) (?P<device>{_DEVICE_WORDS})(?: in the (?P<where>.+))?$"))
def _device(intake: dict[str, Any], device: str, where: str | None) -> None:
    item: dict[str, Any] = {"kind": DEVICES[device]}
    if where:
        item["location"] = place(where)
    devices = intake["value"]["devices"]
    items = list(devices.get("items", [])) if devices.get("answer") == "yes" else []
    intake["value"]["devices"] = {"answer": "yes", "items": [*items, item]}


# --- the plan -------------------------------------------------------------------------------------------------


def _add_site(intake: dict[str, Any], technique: str, where: str) -> str:
    plan = intake["value"]["plan"]
    if plan.get("_touched") is None:
        plan.clear()
        plan.update({"technique": technique, "sites": [], "_touched": True})
    plan["technique"] = technique
    sid = f"s{len(plan['sites']) + 1}"
    words = where.split()
    if words[-1] == "nerve":  # "the left tibial nerve": a perineural site beside that nerve
        side = words.pop(0) if words[0] in _SIDES else None
        site = {"id": sid, "nerve": "_".join(words[:-1]), "technique": "perineural", **({"side": side} if side else {})}
    else:
        site = {"id": sid, **place(where)}
    plan["sites"].append(site)
    return sid


@given(parsers.re(r"(?:manual )?dry needling is planned at the (?P<where>.+)"))
def _plan_dn(intake: dict[str, Any], where: str) -> None:
    for part in re.split(r" and the ", where):
        _add_site(intake, "dry_needling", part)


@given(parsers.re(r"electrical dry needling is planned between the (?P<a>.+) and the (?P<b>.+)"))
def _plan_edn(intake: dict[str, Any], a: str, b: str) -> None:
    sa = _add_site(intake, "electrical", a)
    sb = _add_site(intake, "electrical", b)
    intake["value"]["plan"].setdefault("circuits", []).append([sa, sb])


@given(parsers.re(r"electrical dry needling is planned at the (?P<where>.+), lead pairs not given"))
def _plan_edn_unpaired(intake: dict[str, Any], where: str) -> None:
    for part in re.split(r" and the ", where):
        _add_site(intake, "electrical", part)


@given(parsers.re(r"a needle that is not stimulated is also planned at the (?P<where>.+)"))
def _plan_unstimulated(intake: dict[str, Any], where: str) -> None:
    """A manual needle in an electrical session: a site that no lead pair connects."""
    _add_site(intake, intake["value"]["plan"]["technique"], where)


@given(
    parsers.re(r"(?:manual )?dry needling is planned in the (?:(?P<side>left|right) )?muscle \"(?P<muscle>[^\"]+)\"$")
)
def _plan_muscle(intake: dict[str, Any], side: str | None, muscle: str) -> None:
    sid = _add_site(intake, "dry_needling", "placeholder")
    site = intake["value"]["plan"]["sites"][-1]
    assert site["id"] == sid
    site.pop("region")
    site["muscle"] = muscle
    if side:
        site["side"] = side


@given(
    parsers.re(
        r"(?:manual )?dry needling is planned in the muscle \"(?P<muscle>[^\"]+)\" with the region given as the "
        r"(?P<where>.+)$"
    )
)
def _plan_muscle_and_region(intake: dict[str, Any], muscle: str, where: str) -> None:
    _add_site(intake, "dry_needling", where)
    intake["value"]["plan"]["sites"][-1]["muscle"] = muscle


# --- coded conditions and clinic policy -------------------------------------------------------------------------


@given(parsers.re(r"the patient's record has the ICD-10-CM code (?P<code>[A-Z0-9.]+)"))
def _coded(intake: dict[str, Any], code: str) -> None:
    intake["value"].setdefault("conditions", []).append({"system": "ICD-10-CM", "code": code})


@given(parsers.re(r'the clinic policy sets "(?P<name>[a-z_]+)" to "(?P<value>[^"]+)"'))
def _policy(intake: dict[str, Any], name: str, value: str) -> None:
    try:
        parsed: Any = float(value)
    except ValueError:
        parsed = value
    intake.setdefault("policy", {})[name] = parsed


@when("the patient is screened expecting the intake to be rejected", target_fixture="rejection")
def _screen_rejected(intake: dict[str, Any], screeners: dict[str, Any]) -> Any:
    from needlescreen import IntakeError

    data = intake["value"]
    data["plan"].pop("_touched", None)
    screener = next(iter(screeners.values()))
    with pytest.raises(IntakeError) as err:
        screener.screen(data)
    return err.value


@then(parsers.re(r'the intake is rejected at "(?P<path>[^"]+)" saying "(?P<text>[^"]+)"'))
def _rejected(rejection: Any, path: str, text: str) -> None:
    hits = [p for p in rejection.problems if p.path == path]
    assert hits, [str(p) for p in rejection.problems]
    assert any(text in p.message for p in hits), [str(p) for p in hits]


# --- screening and outcomes -------------------------------------------------------------------------------------


@when("the patient is screened", target_fixture="result")
def _screen(intake: dict[str, Any], screeners: dict[str, Any]) -> Any:
    data = intake["value"]
    data["plan"].pop("_touched", None)
    if intake.get("policy"):
        from needlescreen import Screener, load_ruleset

        ruleset = load_ruleset(policy_overrides=intake["policy"])
        screeners = {name: Screener(ruleset, engine=name) for name in screeners}
    results = [s.screen(data) for s in screeners.values()]
    for other in results[1:]:
        assert comparable(other) == comparable(results[0]), "engines disagree"
    return results[0]


def _site_id(result: Any, where: str) -> str:
    words = where.split()
    if words[-1] == "nerve":
        side = words.pop(0) if words[0] in _SIDES else None
        nerve = "_".join(words[:-1])
        for sv in result.sites:
            if sv.site.nerve == nerve and sv.site.side == side:
                return str(sv.site.id)
        raise AssertionError(f"no planned site at {where}")
    want = place(where)
    for sv in result.sites:
        if sv.site.region == want["region"] and sv.site.side == want.get("side"):
            return str(sv.site.id)
    raise AssertionError(f"no planned site at {where}")


@then(parsers.parse("the verdict is {verdict:w}"))
def _verdict(result: Any, verdict: str) -> None:
    assert result.verdict == verdict, [(f.rule_id, f.verdict, f.status) for f in result.findings]


@then(parsers.re(r"the site at the (?P<where>.+) is (?P<verdict>clear|caution|refer)"))
def _site_verdict(result: Any, where: str, verdict: str) -> None:
    sid = _site_id(result, where)
    got = next(sv for sv in result.sites if sv.site.id == sid)
    assert got.verdict == verdict, (got.verdict, got.rules)


@then(
    parsers.re(
        r"rule (?P<rule>[A-Z0-9_]+) fires(?: with verdict (?P<verdict>caution|refer))?(?: for the site at the (?P<where>.+))?$"
    )
)
def _fires(result: Any, rule: str, verdict: str | None, where: str | None) -> None:
    hits = [f for f in result.findings if f.rule_id == rule and f.status == "fired"]
    if where:
        sid = _site_id(result, where)
        hits = [f for f in hits if (f.site and f.site.id == sid) or (f.circuit and sid in f.circuit)]
    assert hits, f"{rule} did not fire; findings: {[(f.rule_id, f.status) for f in result.findings]}"
    if verdict:
        assert {f.verdict for f in hits} == {verdict}


@then(parsers.re(r"rule (?P<rule>[A-Z0-9_]+) does not fire(?: for the site at the (?P<where>.+))?$"))
def _not_fires(result: Any, rule: str, where: str | None) -> None:
    hits = [f for f in result.findings if f.rule_id == rule]
    if where:
        sid = _site_id(result, where)
        hits = [f for f in hits if (f.site and f.site.id == sid) or (f.circuit and sid in f.circuit)]
    assert not hits, [(f.rule_id, f.status, f.site) for f in hits]


@then(parsers.re(r"rule (?P<rule>[A-Z0-9_]+) cannot decide and gives (?P<verdict>caution|refer)"))
def _undecided(result: Any, rule: str, verdict: str) -> None:
    hits = [f for f in result.findings if f.rule_id == rule and f.status == "unknown"]
    assert hits, f"{rule} is not undecided; findings: {[(f.rule_id, f.status) for f in result.findings]}"
    assert {f.verdict for f in hits} == {verdict}
    assert all(f.missing for f in hits)


@then(parsers.re(r'the result asks "(?P<question>[^"]+)"'))
def _asks(result: Any, question: str) -> None:
    questions = [m.question for m in result.missing]
    assert any(question.lower() in q.lower() for q in questions), questions


@then(parsers.re(r'the advice includes "(?P<text>[^"]+)"'))
def _advice(result: Any, text: str) -> None:
    advice = [m for f in result.findings for m in f.modifications]
    assert any(text.lower() in a.lower() for a in advice), advice


@then(parsers.re(r'the result records the policy "(?P<name>[a-z_]+)" as "(?P<value>[^"]+)"'))
def _policy_recorded(result: Any, name: str, value: str) -> None:
    assert str(result.policy[name]) in (value, f"{value}.0"), result.policy
    assert result.policy_source != "defaults"


@then(parsers.re(r'the result names the unrecognised medication "(?P<name>[^"]+)"'))
def _unrecognised(result: Any, name: str) -> None:
    assert name in result.unrecognised_medications, result.unrecognised_medications


@then(parsers.re(r'the result offers "(?P<offered>[^"]+)" for the medication "(?P<entry>[^"]+)"'))
def _offers(result: Any, offered: str, entry: str) -> None:
    details = {d.entry: d for d in result.unrecognised_medication_details}
    assert details[entry].did_you_mean == offered, details


@then(parsers.re(r'the result names the inconsistent answers "(?P<first>[^"]+)" and "(?P<second>[^"]+)"'))
def _inconsistent(result: Any, first: str, second: str) -> None:
    details = [f.detail for f in result.findings if f.rule_id == "INCONSISTENT_ANSWERS" and f.status == "fired"]
    assert any(first in d and second in d for d in details), details
