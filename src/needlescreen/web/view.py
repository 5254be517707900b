"""The result as a clinician reads it: the verdict first, where to needle, what to do, what would change it,
what to find out, then the reasons.

:func:`result_view` is the one function behind the result page, its JSON twin and the printed record, so the
browser, a script and the chart can never disagree. It only rearranges the library's result (and the
alternatives derived from the compiled rules); it decides nothing. A site whose verdict comes only from
missing information is shown with its verdict and *information missing*: a caution as *unknown* (striped
amber), a refer as refer (an implanted device not known under electrical needling is not a caution), never as
clear, and never in green.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from needlescreen import Screener, ScreeningResult
from needlescreen.alternatives import Alternatives, alternatives
from needlescreen.errors import IntakeError
from needlescreen.intake import Intake
from needlescreen.questionnaire import Item, Questionnaire

from .forms import FormState

__all__ = ["HEADLINES", "MISSING_HEADLINES", "questions_to_ask", "result_view", "technique_words"]

#: The verdict in a clinician's words: a headline and what it means for the session.
HEADLINES: Mapping[str, tuple[str, str]] = {
    "clear": (
        "No contraindication found: needle as planned",
        "No contraindication was found in the answers given. This is not a guarantee: it covers what was recorded.",
    ),
    "caution": (
        "Needle only with the precautions below",
        "At least one precaution applies, or something the screen needs is not known yet.",
    ),
    "refer": (
        "Do not needle (at the sites marked refer) until cleared",
        "A contraindication applies. Needle only where a site is not marked refer, and only after clearance.",
    ),
}
#: The headline when nothing fired and only missing information keeps the verdict from clear.
MISSING_HEADLINES: Mapping[str, tuple[str, str]] = {
    "caution": (
        "Information missing: not clear until the questions below are answered",
        "Nothing found so far rules needling out, but the screen cannot say clear until the questions below "
        "are answered.",
    ),
    "refer": (
        "Do not needle yet: an answer that could rule needling out is missing",
        "No contraindication was found in the answers given, but an unanswered question could show one (for "
        "example an implanted device under electrical needling), so it counts as refer until it is answered below.",
    ),
}
_RANK = {"clear": 0, "caution": 1, "refer": 2}


def technique_words(technique: str) -> str:
    """The planned technique as clinicians say it."""
    return "electrical dry needling" if technique == "electrical" else "dry needling"


def _where(site: Any) -> str:
    words = " ".join(x for x in (site.side if site.side in ("left", "right") else None, site.region_label) if x)
    if site.muscle:
        words += f" ({site.muscle})"
    if site.nerve:
        words += f" (beside the {site.nerve.replace('_', ' ')} nerve)"
    return words


def _probe(item: Item, intake: Intake) -> Any:
    """A known answer for an unanswered question, to see whether answering it would settle a missing fact."""
    sites = intake.plan.sites
    if item.type == "answer":
        return "no"
    if item.type == "choice":
        return item.options[0].value
    if item.type == "number":
        return ((item.min or 0.0) + (item.max or 0.0)) / 2
    if item.type == "drugs":
        return []
    if item.type == "locations":
        first = sites[0]
        return [{"region": first.region, "side": first.side}] if first.region else []
    if item.type == "devices":
        return [{"kind": "metal_fixation"}]
    if item.type == "circuits":
        return [[sites[0].id, sites[1].id]] if len(sites) > 1 else []
    return None


def _known(screener: Screener, intake: Any) -> set[str]:
    _, facts = screener.facts(intake)
    known = set(facts.patient)
    for _, fs in facts.sites:
        known |= set(fs)
    for _, fs in facts.circuits:
        known |= set(fs)
    return known


def questions_to_ask(
    screener: Screener, q: Questionnaire, state: FormState, result: ScreeningResult
) -> list[dict[str, Any]]:
    """The shown questions left unknown whose answer would settle something the result is missing.

    Found by trying a known answer for each one (through the questionnaire's own ``build``) and seeing which
    missing facts become known: no second table of which question answers which fact. A first-pass question
    left unknown is asked again itself (its "no" would settle what it covers; its "yes" opens the follow-ups).
    """
    if state.intake is None or not result.missing:
        return []
    missing = {m.fact for m in result.missing}
    rules_of = {m.fact: m.rules for m in result.missing}
    out: list[dict[str, Any]] = []
    for item_id in state.enabled:
        item = q.item(item_id)
        if item.required or (item.path is None and not item.covers) or state.answers.get(item_id) is not None:
            continue
        probe = _probe(item, state.intake)
        if probe is None:
            continue
        trial = q.build({**state.answers, item_id: probe})
        if state.intake.record is not None:
            trial["record"] = state.intake.record.model_dump(mode="json", exclude_none=True)
        try:
            settled = missing & _known(screener, trial)
        except (IntakeError, ValueError):
            continue
        if settled:
            rules = sorted({r for f in settled for r in rules_of[f]})
            out.append({"item": item_id, "text": item.text, "help": item.help, "rules": rules})
    return out


def _shown_as(verdict: str, missing_only: bool) -> str:
    """How a site's verdict is drawn: a caution from missing information only as *unknown*; a refer stays refer
    (an answer that could rule needling out is not known: never shown softer than the library's verdict)."""
    return "unknown" if missing_only and verdict == "caution" else verdict


def _only_unknown(result: ScreeningResult, site_id: str) -> bool:
    """True when every reason at this site is missing information (nothing fired)."""
    reasons = [
        f
        for f in result.findings
        if (f.site is None and f.circuit is None)
        or (f.site and f.site.id == site_id)
        or (f.circuit and site_id in f.circuit)
    ]
    return bool(reasons) and all(f.status == "unknown" for f in reasons)


def result_view(
    screener: Screener,
    intake: Intake | None,
    result: ScreeningResult,
    *,
    q: Questionnaire | None = None,
    state: FormState | None = None,
) -> dict[str, Any]:
    """Everything the result page shows, as plain data (the page's JSON twin).

    Without the ``intake`` (a result file on its own) there is no "what would change it".
    """
    headline, meaning = HEADLINES[result.verdict]
    only_unknown_overall = bool(result.findings) and all(f.status == "unknown" for f in result.findings)
    if only_unknown_overall:
        headline, meaning = MISSING_HEADLINES[result.verdict]
    sites: list[dict[str, Any]] = []
    for sv in result.sites:
        missing = sv.verdict != "clear" and _only_unknown(result, sv.site.id)
        sites.append(
            {
                "id": sv.site.id,
                "where": _where(sv.site),
                "region": sv.site.region,
                "side": sv.site.side,
                "verdict": sv.verdict,
                "shown_as": _shown_as(sv.verdict, missing),
                "missing_only": missing,
                "rules": list(sv.rules),
            }
        )
    todo: dict[str, dict[str, Any]] = {}
    for f in result.findings:
        if f.status != "fired":
            continue  # a rule that could not be decided asks a question instead (what to find out)
        for text in f.modifications:
            entry = todo.setdefault(text, {"text": text, "verdict": f.verdict, "rules": []})
            if f.rule_id not in entry["rules"]:
                entry["rules"].append(f.rule_id)
            if _RANK[f.verdict] > _RANK[entry["verdict"]]:
                entry["verdict"] = f.verdict
    titles = {f.rule_id: f.title for f in result.findings}
    # What would change it needs the intake (a result file alone is not enough to try other values or places).
    alt = alternatives(screener.ruleset, intake, result) if intake is not None else Alternatives()
    changes = [
        {
            "text": v.text,
            "stops": titles.get(v.rule_id, v.rule_id),
            "rule_id": v.rule_id,
            "verdict": v.verdict,
            "site_id": v.site_id,
        }
        for v in alt.values
    ]
    places = [
        {
            "site_id": p.site_id,
            "text": p.text,
            "verdict": p.verdict,
            "from": p.from_verdict,
            "avoids": [titles.get(r, r) for r in p.avoids],
        }
        for p in alt.places
    ]
    reasons = [
        {
            "rule_id": f.rule_id,
            "title": f.title,
            "summary": f.summary,
            "verdict": f.verdict,
            "status": f.status,
            "classification": f.classification,
            "where": f"site {f.site.id}: {_where(f.site)}"
            if f.site
            else (f"lead pair {f.circuit[0]}-{f.circuit[1]}" if f.circuit else "the whole patient"),
            "detail": f.detail,
            "missing": list(f.missing),
            "sources": [{"key": r.key, "citation": r.citation} for r in f.references],
        }
        for f in result.findings
    ]
    return {
        "verdict": result.verdict,
        "headline": headline,
        "meaning": meaning,
        "technique": technique_words(result.technique),
        "sites": sites,
        "where": {
            shown: [
                s["where"] + (" (information missing)" if s["missing_only"] and shown == "refer" else "")
                for s in sites
                if s["shown_as"] == shown
            ]
            for shown in ("refer", "caution", "unknown", "clear")
            if any(s["shown_as"] == shown for s in sites)
        },
        "todo": sorted(todo.values(), key=lambda t: -_RANK[t["verdict"]]),
        "changes": changes,
        "places": places,
        "find_out": questions_to_ask(screener, q, state, result) if q is not None and state is not None else [],
        "missing": [{"fact": m.fact, "question": m.question, "rules": list(m.rules)} for m in result.missing],
        "unrecognised_medications": list(result.unrecognised_medications),
        "reasons": reasons,
        "stamp": {
            "ruleset": result.ruleset.name,
            "revision": result.ruleset.revision,
            "content_hash": result.ruleset.content_hash,
            "decision_id": result.decision_id,
            "engine": result.engine,
            "policy_source": result.policy_source,
            "timestamp": result.timestamp.isoformat(),
            "package_version": result.package_version,
        },
    }
