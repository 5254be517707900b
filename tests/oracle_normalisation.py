"""The normalisation as it was before issue 18 (the oracle of ``test_normalisation_oracle.py``).

Every site asked the body model, finding by finding and device by device, what it concerns: the simple reading
of ``rules/body.yaml`` that the precomputed tables of :mod:`needlescreen.body` and the per-screening places of
:func:`needlescreen.facts.normalise` must reproduce fact for fact. It is kept here, in the test suite, as the
specification: copied from ``facts.py`` and ``body.py`` of ruleset 2026.12.02-1 (the body model's methods
became the functions below, reading only the model's loaded data). Do not make it faster.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from functools import cache

from needlescreen._suggest import close
from needlescreen.body import BodyModel, CurrentPath, Extent, Place, Tri
from needlescreen.codes import CodeMap, bundled_codes
from needlescreen.errors import FieldProblem, IntakeError
from needlescreen.facts import _DEVICE_GROUPS, _FINDING_QUESTIONS, UNPAIRED, Facts, FactSet, FactValue
from needlescreen.intake import Devices, Finding, Intake, Site
from needlescreen.medications import MedicationClassifier
from needlescreen.regions import RegionMap
from needlescreen.vocabulary import Vocabulary, VocabularyError

__all__ = ["concerns", "device_places", "extent", "finding_place", "normalise", "path", "path_regions"]

_LEVELS = ("chest", "pelvis")

# --- the body model, as it was: one question at a time ---------------------------------------------------------


def combine(values: Iterable[Tri]) -> Tri:
    """Any yes is yes; otherwise any unknown is unknown; otherwise no (no values: no)."""
    unknown = False
    for v in values:
        if v == "yes":
            return "yes"
        if v is None:
            unknown = True
    return None if unknown else "no"


@cache  # as the old model did (each region's neighbourhood once), so the benchmark's "before" is what it was
def neighbourhood(body: BodyModel, rid: str) -> frozenset[str]:
    """The region and its neighbours, inherited from every site region it lies within."""
    out = {rid}
    for anc in body.regions[rid].within:
        out |= body.adjacency.get(anc, frozenset())
    return frozenset(out)


def limb_of(body: BodyModel, rid: str) -> str | None:
    within = body.regions[rid].within
    return next((limb for limb in body.limbs if limb in within), None)


def extent(body: BodyModel, extent: Extent, rid: str) -> frozenset[str]:
    if extent == "region":
        return frozenset({rid})
    if extent == "limb":
        limb = limb_of(body, rid)
        if limb is not None:
            return frozenset({limb})
        basin = {body.basins[b] for b in body.regions[rid].within if b in body.basins}
        # Changed after 2026.12.04-1 (clinically wrong before, tests/test_clinical_review.py): a limb finding at a
        # node basin concerned the basin's neighbourhood as the limb, so lymphoedema recorded at the axilla
        # refused the chest wall as a "lymphoedematous limb" where the reference gives its trunk quadrant a
        # caution (LYMPHEDEMA_ADJACENT). The basin is the limb's and its own; its surroundings are the quadrant.
        if basin:
            return frozenset({rid}) | basin
        return neighbourhood(body, rid)
    return neighbourhood(body, rid)


def finding_place(body: BodyModel, kind: str, region: str, side: str | None) -> Place:
    return Place(extent(body, body.extents.get(kind, "region"), region), side)


def device_places(body: BodyModel, kind: str, region: str | None, side: str | None) -> tuple[Place, ...]:
    spec = body.devices.get(kind)
    if spec is None:
        if region is None:
            return (Place(frozenset({"body"}), None, certain=False),)
        return (Place(frozenset({region}), side),)
    ext, places = spec
    # Changed after 2026.12.04-1 (clinically wrong before, tests/test_clinical_review.py): a device reached the
    # kind's extent around where it was recorded, and a region's neighbourhood takes in the neighbours of its
    # whole parent region, so a port below the collarbone reached the abdomen, an intrathecal pump the chest wall
    # and a stimulator's buttock pocket the thigh. A place that names its neighbours (`near`, by anatomy) now
    # bounds the reach to where the device sits and runs and those neighbours.
    if region is None:
        out = []
        for p in places:
            regions: set[str] = set(p.runs)
            if p.near is None:
                for at in p.at:
                    regions |= extent(body, ext, at)
            else:
                regions |= set(p.at) | set(p.near)
            out.append(Place(frozenset(regions), None, certain=False))
        return tuple(out)
    lies_in = [p for p in places if any(_overlap(body, region, at) for at in p.at)]
    bounded = lies_in and all(p.near is not None for p in lies_in)
    regions = {region} if bounded else set(extent(body, ext, region))
    for p in lies_in:
        regions |= set(p.runs) | set(p.near or ())
    return (Place(frozenset(regions), side),)


def quadrant_concerns(body: BodyModel, region: str, side: str | None, site_region: str, site_side: str | None) -> Tri:
    territories = body.regions.territories
    within = body.regions[region].within
    territory = next((t for limb, t in territories.items() if limb in within), None)
    if territory is None:
        territory = next((t for t in territories.values() if t in within), None)
    if territory is None or territory not in body.regions[site_region].within:
        return "no"
    if side == "both" or site_side == "midline":
        return "yes"
    if side is None or site_side is None:
        return None
    return "yes" if side == site_side else "no"


def _overlap(body: BodyModel, a: str, b: str) -> bool:
    return a in body.regions[b].within or b in body.regions[a].within


def concerns(body: BodyModel, place: Place, region: str, side: str | None) -> Tri:
    values: list[Tri] = []
    site_sided = body.regions[region].sided
    for r in place.regions:
        if not _overlap(body, r, region):
            continue
        v = _side_match(place.side, side, sided=site_sided or body.regions[r].sided)
        values.append(None if v == "yes" and not place.certain else v)
    return combine(values)


def _side_match(place_side: str | None, site_side: str | None, *, sided: bool) -> Tri:
    if place_side == "both" or site_side in (None, "midline"):
        return "yes"
    if place_side is None:
        return None if sided else "yes"
    if place_side == "midline":
        return "no" if sided else "yes"
    return "yes" if place_side == site_side else "no"


def _chain_position(body: BodyModel, rid: str) -> tuple[str, int] | None:
    within = body.regions[rid].within
    for name, chain in body.chains.items():
        for i, segment in enumerate(chain):
            if any(s in within for s in segment):
                return name, i
    return None


def _level(body: BodyModel, rid: str) -> str | None:
    within = body.regions[rid].within
    for level in _LEVELS:
        if any(g in within for g in body.levels.get(level, ())):
            return level
    return None


def path(body: BodyModel, a: tuple[str, str | None], b: tuple[str, str | None]) -> CurrentPath:
    (ra, sa), (rb, sb) = a, b
    pa, pb = _chain_position(body, ra), _chain_position(body, rb)
    same_side = sa == sb or sa in (None, "midline") or sb in (None, "midline")
    side = sa if sa in ("left", "right") else sb if sb in ("left", "right") else sa
    points: list[tuple[str, str | None]] = [a, b]
    crossings: set[str] = set()
    if pa is not None and pb is not None and pa[0] == pb[0] and same_side:
        chain = body.chains[pa[0]]
        lo, hi = sorted((pa[1], pb[1]))
        points += [(r, side) for seg in chain[lo : hi + 1] for r in seg]
        return CurrentPath(tuple(dict.fromkeys(points)), frozenset())
    for s, pos in ((sa, pa), (sb, pb)):
        if pos is not None and pos[0] in body.limbs:
            points += [(r, s) for seg in body.chains[pos[0]][: pos[1] + 1] for r in seg]
    la, lb = _level(body, ra), _level(body, rb)
    opposite = {sa, sb} == {"left", "right"}
    on_limb = limb_of(body, ra) is not None or limb_of(body, rb) is not None
    if la != lb and on_limb:
        crossings |= {"chest", "pelvis"}
    elif opposite and la == lb and la is not None:
        crossings.add(la)
    wa, wb = body.regions[ra].within, body.regions[rb].within
    if opposite and all(any(g in w for g in body.spinal_cord) for w in (wa, wb)):
        crossings.add("spinal_cord")
    if body.front_to_back is not None:
        front, back = body.front_to_back
        if (front in wa and back in wb) or (back in wa and front in wb):
            crossings.add("chest")
    return CurrentPath(tuple(dict.fromkeys(points)), frozenset(body.crossings[c] for c in crossings))


def path_regions(body: BodyModel, path: CurrentPath) -> frozenset[str]:
    out: set[str] = set()
    for rid, _ in path.points:
        out |= body.regions[rid].within
    for rid in path.crossings:
        out |= body.regions[rid].within
    return frozenset(out)


# --- normalisation, as it was ----------------------------------------------------------------------------------


def _num(x: float) -> float:
    # Exactly as entered: 17.99999 years is a minor and an INR of 3.50001 is above 3.5. (The durable_rules
    # adapter spells every number without an exponent, which that engine refuses.)
    return float(x)


def _difference(a: float, b: float) -> float:
    """``a - b`` as the decimal numbers the clinician typed: 3.6 - 3.1 is 0.5, not 0.5000000000000004."""
    return float(Decimal(repr(float(a))) - Decimal(repr(float(b))))


def _answer(value: str) -> str | None:
    return value if value in ("yes", "no") else None


def _set(facts: FactSet, name: str, value: FactValue | None) -> None:
    if value is not None:
        facts[name] = value


def _patient_facts(intake: Intake, meds: MedicationClassifier) -> tuple[FactSet, tuple[str, ...]]:
    p = intake.patient
    f: FactSet = {}
    _set(f, "patient.age", None if p.age is None else _num(p.age))
    _set(f, "patient.sex", None if p.sex == "unknown" else p.sex)
    status = p.pregnancy.status
    if status == "unknown" and p.sex == "male":
        status = "not_pregnant"  # the pregnancy questions are not asked of male patients
    _set(f, "patient.pregnancy", None if status == "unknown" else status)
    weeks = p.pregnancy.gestational_weeks
    _set(f, "patient.gestational_weeks", None if weeks is None else _num(weeks))
    _set(f, "patient.consent", _answer(p.consent.agrees))
    _set(f, "patient.capacity", _answer(p.consent.capacity))
    _set(f, "patient.guardian_consent", _answer(p.consent.guardian_consent))
    _set(f, "patient.needle_phobia", _answer(p.needle_phobia))
    _set(f, "patient.fainting_history", _answer(p.fainting_history))
    _set(f, "patient.acute_illness", _answer(p.acute_illness))
    _set(f, "patient.systemic_infection", _answer(p.fever.answer))
    temp = p.fever.temperature_c
    _set(f, "patient.temperature_c", None if temp is None else _num(temp))
    _set(f, "patient.bleeding_disorder", None if p.bleeding_disorder == "unknown" else p.bleeding_disorder)
    _set(f, "patient.bleeding_history", _answer(p.bleeding_history))
    _set(f, "patient.immunocompromised", _answer(p.immunocompromised))
    _set(f, "patient.active_chemotherapy", _answer(p.active_chemotherapy))
    _set(f, "patient.chemo_cycle_day", None if p.chemo_cycle_day is None else _num(p.chemo_cycle_day))
    _set(f, "patient.diabetes", None if p.diabetes == "unknown" else p.diabetes)
    _set(f, "patient.epilepsy", None if p.epilepsy == "unknown" else p.epilepsy)
    _set(f, "patient.metal_allergy", _answer(p.metal_allergy))
    _set(f, "patient.heart_valve", _answer(p.heart_valve_or_endocarditis))
    # Emphysema and bullae are lung disease: "no lung disease" rules them out, and either one is lung disease.
    lung, bullous = _answer(p.lung_disease), _answer(p.bullous_lung_disease)
    _set(f, "patient.lung_disease", "yes" if bullous == "yes" else lung)
    _set(f, "patient.bullous_lung_disease", "no" if bullous is None and lung == "no" else bullous)
    _set(f, "patient.prior_pneumothorax", _answer(p.prior_pneumothorax))
    _set(f, "patient.bmi", None if p.bmi is None else _num(p.bmi))
    _set(f, "patient.frailty", _answer(p.frailty))
    _set(f, "patient.can_keep_still", _answer(p.can_keep_still))
    _set(f, "patient.cooperation_problem", _answer(p.cooperation_problem))
    _set(f, "patient.vascular_disease", _answer(p.vascular_disease))
    _set(f, "patient.reduced_sensation", _answer(intake.findings.reduced_sensation.answer))
    if p.sex != "male":  # a male patient's trying to conceive concerns someone else's pregnancy
        _set(f, "patient.trying_to_conceive", _answer(p.pregnancy.trying_to_conceive))
    _set(f, "patient.cancer_history", _answer(p.cancer_history))
    _set(f, "patient.chest_wall_condition", _answer(p.chest_wall_condition))

    # Medications: a class is "yes" when a listed drug belongs to it, "no" when the list is complete and no
    # listed drug belongs to it, unknown otherwise or when an entry names only a class ("blood thinner").
    # An unrecognised entry does not make the classes unknown: it sets meds.unrecognised, whose one caution
    # (MEDICATION_UNRECOGNISED; see MedicationClassifier.guarded_by) stands in for it.
    counts, uncertain, unrecognised = meds.classify_all((m.name, m.atc) for m in intake.medications.items)
    if unrecognised and not meds.guarded:
        uncertain = frozenset(meds.classes)  # no rule stands in for the unknown drug: nothing is ruled out
    complete = intake.medications.complete == "yes"
    _set(f, "meds.list_complete", _answer(intake.medications.complete))
    for cls in meds.classes:
        _set(f, f"meds.{cls}", "yes" if counts[cls] else ("no" if complete and cls not in uncertain else None))
    # The count is exact only for a complete list with no undecided antithrombotic class (an unrecognised drug
    # is covered by MEDICATION_UNRECOGNISED, as for the classes). What is listed is always a lower bound: with
    # an incomplete list, two listed blood thinners decide "two or more" but not "fewer than three".
    listed = sum(counts[c] for c in meds.antithrombotic)
    f["meds.antithrombotic_listed"] = float(listed)
    if complete and not uncertain & meds.antithrombotic:
        f["meds.antithrombotic_count"] = float(listed)
    f["meds.unrecognised"] = "yes" if unrecognised else "no"

    labs = intake.labs
    if labs.inr is not None:
        f["labs.inr"] = _num(labs.inr.value)
        _set(f, "labs.inr_age_days", None if labs.inr.age_days is None else _num(labs.inr.age_days))
        if labs.inr.target_high is not None:
            f["labs.inr_target_high"] = _num(labs.inr.target_high)
            f["labs.inr_above_target_by"] = _difference(labs.inr.value, labs.inr.target_high)
    cycle_day = p.chemo_cycle_day
    for name in ("platelets", "anc"):
        lab = getattr(labs, name)
        if lab is not None:
            f[f"labs.{name}"] = _num(lab.value)
            _set(f, f"labs.{name}_age_days", None if lab.age_days is None else _num(lab.age_days))
            if cycle_day is not None and lab.age_days is not None:
                # The cycle day the count was taken on (0 or less: before this cycle's dose).
                f[f"labs.{name}_cycle_day"] = _difference(cycle_day, lab.age_days)

    devices = intake.devices
    for group, kinds in _DEVICE_GROUPS.items():
        if any(d.kind in kinds for d in devices.items):
            f[f"devices.{group}"] = "yes"
        elif devices.answer == "no" or (devices.answer == "yes" and devices.items and devices.others == "no"):
            f[f"devices.{group}"] = "no"
    _set(f, "devices.pacemaker_dependent", _answer(devices.pacemaker_dependent))

    f["plan.technique"] = intake.plan.technique
    _set(f, "plan.advanced_training", _answer(intake.plan.advanced_training))
    return f, tuple(unrecognised)


def _reconcile(f: FactSet, intake: Intake, coded: tuple[str, ...]) -> None:
    """Apply the answers the medication list does not carry, and name every pair of answers that contradict.

    The blood-thinner-that-needs-INR-checks answer (``medications.vka``) is a vitamin K antagonist even when the
    list does not name one; weeks of gestation contradict "not pregnant" (pregnancy is then unknown: neither
    answer can be relied on); ``coded`` are the answers coded diagnoses contradicted. Each contradiction is
    one entry of ``patient.inconsistent_answers``.
    """
    notes = list(coded)
    meds = intake.medications
    listed_vka = f.get("meds.vka") == "yes"
    if meds.vka == "yes" and not listed_vka:
        if meds.complete == "yes":
            listed = ", ".join(sorted({m.name for m in meds.items})) or "none"
            notes.append(
                f"medications: {listed} (list complete) / medications.vka: yes (a blood thinner that needs INR checks)"
            )
        f["meds.vka"] = "yes"
        for name in ("meds.antithrombotic_count", "meds.antithrombotic_listed"):
            if name in f:
                f[name] = float(f[name]) + 1.0  # type: ignore[arg-type]
    elif meds.vka == "no":
        if listed_vka:
            notes.append("medications: a vitamin K antagonist is listed / medications.vka: no")
        else:
            f.setdefault("meds.vka", "no")
    p = intake.patient
    if p.lung_disease == "no" and p.bullous_lung_disease == "yes":
        notes.append("patient.lung_disease: no / patient.bullous_lung_disease: yes")
    weeks = p.pregnancy.gestational_weeks
    if weeks is not None and (p.pregnancy.status == "not_pregnant" or f.get("patient.pregnancy") == "not_pregnant"):
        said = "patient.pregnancy.status: not_pregnant" if p.pregnancy.status == "not_pregnant" else "patient.sex: male"
        notes.append(f"{said} / patient.pregnancy.gestational_weeks: {weeks:g}")
        f.pop("patient.pregnancy", None)
    if notes:
        f["patient.inconsistent_answers"] = frozenset(notes)


def _rid(site: Site) -> str:
    # normalise() places every site (a muscle becomes its region) before anything reads the region.
    if site.region is None:  # pragma: no cover - guarded by _place_sites
        raise AssertionError(f"site {site.id!r} was not placed")
    return site.region


def _finding_at(kind: str, finding: Finding, region: str, side: str | None, body: BodyModel) -> Tri:
    """Does a finding reach a place (a site, or a point of a current path), by its kind's extent?"""
    if finding.answer == "no":
        return "no"
    if finding.answer == "unknown" or not finding.locations:
        return None
    return combine(
        concerns(body, finding_place(body, kind, loc.region, loc.side), region, side) for loc in finding.locations
    )


def _adjacent_at(finding: Finding, site: Site, body: BodyModel) -> Tri:
    """Is this site in the trunk quadrant a limb finding drains to? (the limb's watershed, or the trunk area's own)"""
    if finding.answer == "no":
        return "no"
    if finding.answer == "unknown" or not finding.locations:
        return None
    return combine(quadrant_concerns(body, loc.region, loc.side, _rid(site), site.side) for loc in finding.locations)


def _vascular_at(intake: Intake, region: str, side: str | None, body: BodyModel) -> Tri:
    """Does peripheral arterial disease concern this place? Without a recorded limb: every place (as before)."""
    p = intake.patient
    if p.vascular_disease != "yes":
        return "no" if p.vascular_disease == "no" else None
    if not p.vascular_disease_locations:
        return "yes"
    return combine(
        concerns(body, finding_place(body, "vascular_disease", loc.region, loc.side), region, side)
        for loc in p.vascular_disease_locations
    )


@dataclass(frozen=True, slots=True)
class _GroupPlaces:
    """Where the devices of one group are (``places``), and where one not listed may be (``possible``)."""

    places: tuple[Place, ...]
    complete: bool
    listed: bool
    possible: tuple[Place, ...]


def _device_places(devices: Devices, kinds: tuple[str, ...], body: BodyModel) -> _GroupPlaces:
    """Every place a device of these kinds is, whether the list of such devices is complete, and where an unlisted
    one of these kinds could be (each kind's usual places, never certain: unknown there, not clear)."""
    places: list[Place] = []
    for d in devices.items:
        if d.kind in kinds:
            loc = d.location
            places.extend(device_places(body, d.kind, loc.region if loc else None, loc.side if loc else None))
    complete = devices.answer == "no" or (devices.answer == "yes" and devices.others == "no")
    listed = any(d.kind in kinds for d in devices.items)
    possible = () if complete else tuple(p for k in kinds for p in device_places(body, k, None, None))
    return _GroupPlaces(tuple(places), complete, listed, possible)


def _device_at(group: _GroupPlaces, region: str, side: str | None, *, body: BodyModel) -> Tri:
    # An incomplete list leaves another device of this group possible at its usual places.
    places = (*group.places, *group.possible) if group.listed else group.possible
    return combine(concerns(body, p, region, side) for p in places)


def _nerve_numb(site: Site, finding: Finding, body: BodyModel) -> Tri:
    """Does the nerve stimulated at this site supply skin with reduced sensation? (no nerve named: no)"""
    if site.nerve is None or finding.answer == "no":
        return "no"
    if finding.answer == "unknown" or not finding.locations:
        return None
    return combine(
        _finding_at("reduced_sensation", finding, territory, site.side, body)
        for territory in body.nerves[site.nerve].territory
    )


def _place_sites(intake: Intake, vocabulary: Vocabulary) -> tuple[Intake, list[FieldProblem]]:
    """Give every site its region from its muscle or body word, checked against the region and side it gives.

    A muscle is never ignored: a region that disagrees with it is an error naming both fields (an
    upper-trapezius site given region calf must not screen as a calf site), and a side word in the name
    ("L gastroc") sets a missing side but never overrides a different one.
    """
    problems: list[FieldProblem] = []
    placed: list[Site] = []
    for i, s in enumerate(intake.plan.sites):
        if s.muscle is None or (s.region is not None and s.region not in vocabulary.regions):
            placed.append(s)  # an unknown region is reported by _check_places, never replaced by the muscle's
            continue
        path = f"plan.sites[{i}]"
        try:
            where = vocabulary.place(s.muscle, region=s.region, side=s.side)
        except VocabularyError as exc:
            problems.append(FieldProblem(f"{path}.{exc.field}", str(exc), exc.suggestions))
            if exc.field == "region":
                problems.append(FieldProblem(f"{path}.muscle", f"disagrees with {path}.region {s.region!r}"))
            placed.append(s)
            continue
        placed.append(s.model_copy(update={"region": where.region, "side": where.side}))
    if placed == list(intake.plan.sites):
        return intake, problems
    plan = intake.plan.model_copy(update={"sites": tuple(placed)})
    return intake.model_copy(update={"plan": plan}), problems


def _check_places(intake: Intake, vocabulary: Vocabulary, problems: list[FieldProblem]) -> None:
    regions = vocabulary.regions

    def check(loc_region: str, side: str | None, path: str, *, is_site: bool) -> None:
        if loc_region not in regions:
            close = vocabulary.region_suggestions(loc_region, site=is_site)
            hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
            problems.append(FieldProblem(f"{path}.region", f"unknown body region {loc_region!r}{hint}", tuple(close)))
            return
        region = regions[loc_region]
        if is_site:
            if region.group:
                problems.append(
                    FieldProblem(f"{path}.region", f"{loc_region!r} is a grouping, not a site; name a specific region")
                )
            if region.sided and side not in ("left", "right"):
                problems.append(FieldProblem(f"{path}.side", f"region {loc_region!r} needs side 'left' or 'right'"))
            if not region.sided and side == "both":
                problems.append(FieldProblem(f"{path}.side", "a site is one place; 'both' is not a side for a site"))

    unplaced = {p.path.rsplit(".", 1)[0] for p in problems}  # a site whose name failed has its problem already
    for i, s in enumerate(intake.plan.sites):
        if s.region is not None and f"plan.sites[{i}]" not in unplaced:
            check(s.region, s.side, f"plan.sites[{i}]", is_site=True)
    for kind in type(intake.findings).model_fields:
        finding: Finding = getattr(intake.findings, kind)
        for j, loc in enumerate(finding.locations):
            check(loc.region, loc.side, f"findings.{kind}.locations[{j}]", is_site=False)
    for k, d in enumerate(intake.devices.items):
        if d.location is not None:
            check(d.location.region, d.location.side, f"devices.items[{k}].location", is_site=False)
    for j, loc in enumerate(intake.patient.vascular_disease_locations):
        check(loc.region, loc.side, f"patient.vascular_disease_locations[{j}]", is_site=False)
    if problems:
        raise IntakeError(problems)


def _place_nerves(intake: Intake, body: BodyModel, problems: list[FieldProblem]) -> Intake:
    """Check every named nerve and place a nerve-only site at the nerve's usual needling point."""
    placed: list[Site] = []
    for i, site in enumerate(intake.plan.sites):
        s = site
        if s.nerve is None:
            placed.append(s)
            continue
        nerve = body.nerves.get(s.nerve)
        if nerve is None:
            near = close(s.nerve, sorted(body.nerves), cutoff=60.0)
            hint = f"; did you mean {', '.join(repr(c) for c in near)}?" if near else ""
            known = ", ".join(sorted(body.nerves))
            problems.append(
                FieldProblem(f"plan.sites[{i}].nerve", f"unknown nerve {s.nerve!r}{hint} (known: {known})", tuple(near))
            )
            placed.append(s)
            continue
        if s.region is None and s.muscle is None:
            s = s.model_copy(update={"region": nerve.default})
        elif (
            s.region is not None
            and s.region in body.regions
            and not any(body.regions.within(s.region, p) or body.regions.within(p, s.region) for p in nerve.points)
        ):
            points = ", ".join(nerve.points)
            problems.append(
                FieldProblem(
                    f"plan.sites[{i}].region",
                    f"region {s.region!r} disagrees with nerve {s.nerve!r}, which is needled at: {points}",
                )
            )
        placed.append(s)
    if placed == list(intake.plan.sites):
        return intake
    return intake.model_copy(update={"plan": intake.plan.model_copy(update={"sites": tuple(placed)})})


def _limb_midline(intake: Intake, regions: RegionMap) -> list[FieldProblem]:
    """A finding or device on a limb recorded as 'midline' cannot be placed: refuse it rather than guess."""
    problems = []
    places = [
        (f"findings.{kind}.locations[{j}]", loc)
        for kind in type(intake.findings).model_fields
        for j, loc in enumerate(getattr(intake.findings, kind).locations)
    ]
    places += [(f"devices.items[{k}].location", d.location) for k, d in enumerate(intake.devices.items) if d.location]
    places += [
        (f"patient.vascular_disease_locations[{j}]", loc)
        for j, loc in enumerate(intake.patient.vascular_disease_locations)
    ]
    for path, loc in places:
        if loc.side == "midline" and loc.region in regions and regions[loc.region].sided:
            problems.append(
                FieldProblem(
                    f"{path}.side",
                    f"region {loc.region!r} is on a limb; side 'midline' cannot place it: give left, right or both",
                )
            )
    return problems


def normalise(
    intake: Intake,
    regions: RegionMap,
    meds: MedicationClassifier,
    codes: CodeMap | None,
    body: BodyModel,
    *,
    vocabulary: Vocabulary,
) -> Facts:
    """Turn a validated intake into fact sets.

    Coded conditions (ICD-10-CM) are first applied as the questionnaire answers they stand for
    (``rules/codes.yaml``; the bundled map unless ``codes`` is given), and sites named by muscle, body word or
    nerve are placed (``rules/vocabulary.yaml`` and ``rules/body.yaml``; the bundled ones unless given). What a
    finding, device, nerve or current concerns comes from the body model (``rules/body.yaml``).

    Raises:
        IntakeError: a site, finding or device names a region the vocabulary does not have, a limb site has
            no side, a limb finding is 'midline', a muscle or nerve is unknown or disagrees with the site's
            region or side, or a condition code is not in the code map.
    """
    intake, problems = _place_sites(intake, vocabulary)
    intake = _place_nerves(intake, body, problems)
    problems += _limb_midline(intake, regions)
    _check_places(intake, vocabulary, problems)
    # Changed after 2026.12.04-1 (clinically wrong before: one code the map did not know rejected an EHR's whole
    # problem list): a well-formed unmapped code is named for verifying (CONDITION_UNRECOGNISED), answering nothing.
    intake, coded, unmapped = (codes if codes is not None else bundled_codes()).apply_reading(intake)
    patient, unrecognised = _patient_facts(intake, meds)
    _reconcile(patient, intake, coded)
    if unmapped:
        patient["patient.unrecognised_conditions"] = frozenset(unmapped)
    plan = intake.plan
    findings = intake.findings
    in_circuit = {end for pair in plan.circuits for end in pair}
    # Changed after 2026.12.04-1 (clinically wrong before, tests/test_clinical_review.py): a thoracic site without
    # a side was counted as on neither side, so a left upper trapezius with an unsided thoracic paraspinal site was
    # one side, and BILATERAL_THORAX never asked the side. It may be on either: both sides are then possible.
    thoracic = [s.side for s in plan.sites if "thorax" in regions[_rid(s)].within]
    sided = {side for side in thoracic if side in ("left", "right")}
    if len(sided) == 2:
        patient["plan.thorax_sides"] = 2.0
    elif None in thoracic and len(sided) + thoracic.count(None) >= 2:
        pass  # unknown: the unsided site may be on the other side
    else:
        patient["plan.thorax_sides"] = 1.0 if thoracic else 0.0
    devices = {g: _device_places(intake.devices, kinds, body) for g, kinds in _DEVICE_GROUPS.items()}

    site_sets: list[tuple[Site, FactSet]] = []
    for site in plan.sites:
        rid = _rid(site)
        f: FactSet = dict(patient)
        f["site.region"] = regions[rid].within
        _set(f, "site.side", site.side if site.side in ("left", "right", "midline") else None)
        _set(f, "site.depth_mm", None if site.depth_mm is None else _num(site.depth_mm))
        if plan.technique == "dry_needling":
            f["site.stimulated"] = "no"
        elif plan.circuits:
            f["site.stimulated"] = "yes" if site.id in in_circuit else "no"
        for kind in _FINDING_QUESTIONS:
            _set(f, f"site.{kind}", _finding_at(kind, getattr(findings, kind), rid, site.side, body))
        _set(f, "site.lymphedema_adjacent", _adjacent_at(findings.lymphedema, site, body))
        _set(f, "site.at_risk_adjacent", _adjacent_at(findings.at_risk_limb, site, body))
        _set(f, "site.vascular_disease", _vascular_at(intake, rid, site.side, body))
        _set(f, "site.nerve_territory_reduced_sensation", _nerve_numb(site, findings.reduced_sensation, body))
        if f.get("site.recent_surgery") == "yes" and findings.recent_surgery.weeks_ago is not None:
            f["site.surgery_weeks_ago"] = _num(findings.recent_surgery.weeks_ago)
        if f.get("site.dvt") == "yes" and findings.dvt.weeks_ago is not None:
            f["site.dvt_weeks_ago"] = _num(findings.dvt.weeks_ago)
        for group, places in devices.items():
            _set(f, f"site.{group}_area", _device_at(places, rid, site.side, body=body))
        site_sets.append((site, f))

    circuit_sets: list[tuple[str, FactSet]] = []
    sites = {s.id: s for s in plan.sites}
    metal = devices["metal_implant"]
    for a, b in plan.circuits:
        c: FactSet = dict(patient)
        sa, sb = sites[a], sites[b]
        c["circuit.a_region"] = regions[_rid(sa)].within
        c["circuit.b_region"] = regions[_rid(sb)].within
        c["circuit.opposite_sides"] = "yes" if {sa.side, sb.side} == {"left", "right"} else "no"
        current = path(body, (_rid(sa), sa.side), (_rid(sb), sb.side))
        c["circuit.path"] = path_regions(body, current)
        _set(c, "circuit.dvt", combine(_finding_at("dvt", findings.dvt, r, s, body) for r, s in current.points))
        if c.get("circuit.dvt") == "yes" and findings.dvt.weeks_ago is not None:
            c["circuit.dvt_weeks_ago"] = _num(findings.dvt.weeks_ago)
        _set(
            c,
            "circuit.thrombophlebitis",
            combine(_finding_at("thrombophlebitis", findings.thrombophlebitis, r, s, body) for r, s in current.points),
        )
        _set(
            c, "circuit.tumour", combine(_finding_at("tumour", findings.tumour, r, s, body) for r, s in current.points)
        )
        # Added after 2026.12.04-1 (clinically wrong before: reference section 8, current near an infusion set or
        # sensor is a caution, and a set between two needles was not flagged).
        _set(
            c,
            "circuit.worn_device",
            combine(_finding_at("worn_device", findings.worn_device, r, s, body) for r, s in current.points),
        )
        _set(c, "circuit.metal_implant_area", combine(_device_at(metal, r, s, body=body) for r, s in current.points))
        circuit_sets.append((f"{a}~{b}", c))
    if plan.technique == "electrical" and not plan.circuits:
        # Sites but no lead pairs: where the current flows is unknown, so every circuit rule is undecided.
        # What no path can meet is still known: no DVT anywhere, no metal anywhere.
        unpaired: FactSet = dict(patient)
        _set(unpaired, "circuit.dvt", "no" if findings.dvt.answer == "no" else None)
        _set(unpaired, "circuit.thrombophlebitis", "no" if findings.thrombophlebitis.answer == "no" else None)
        _set(unpaired, "circuit.tumour", "no" if findings.tumour.answer == "no" else None)
        _set(unpaired, "circuit.worn_device", "no" if findings.worn_device.answer == "no" else None)  # as above
        none_listed = not metal.listed and metal.complete
        _set(unpaired, "circuit.metal_implant_area", "no" if none_listed else None)
        circuit_sets.append((UNPAIRED, unpaired))
    return Facts(patient, tuple(site_sets), tuple(circuit_sets), unrecognised)
