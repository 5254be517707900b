"""Normalisation at speed gives exactly the facts of the simple reading (issue 18).

The body model now computes once per model what every screening asks (each region's reach by extent, where a
device of each kind reaches, each region's place on a current path), and ``normalise`` computes each finding's
and device's places once per screening instead of once per site. The simple, one-question-at-a-time
implementation it replaced is kept in ``tests/oracle_normalisation.py``; here the two must give identical fact
sets for every generated intake, the benchmark cohorts and the body model's whole table (every extent, device
kind, recorded region and side against every site region and side, every pair of needles), on the bundled
body file and on deliberately changed ones (so the tables are derived from the data, not from one file).
Each check is also run against a deliberately wrong table or normalisation and must fail there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any, get_args

import pytest
from benchmarks.cohorts import cohort
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from needlescreen import facts as facts_module
from needlescreen import parse_intake, screening
from needlescreen.body import BodyModel, Extent, Place
from needlescreen.engine import available_engines
from needlescreen.errors import IntakeError
from needlescreen.facts import Facts
from needlescreen.intake import Intake
from needlescreen.ruleset import Ruleset

from . import oracle_normalisation as oracle
from .conftest import THOROUGH
from .strategies import bundled, intakes
from .test_body_model import BREAKAGES, _body

Normalise = Callable[..., Facts]
SIDES: tuple[str | None, ...] = (None, "left", "right", "midline", "both")
SITE_SIDES: tuple[str | None, ...] = (None, "left", "right", "midline")

#: The bundled body file and each deliberately changed one of ``test_body_model`` (extents, neighbours, device
#: places, current-path chains and levels, nerve territories, basins), each a body the tables must follow.
CHANGES = [
    ("bundled", None),
    *((f"{check.__name__.removeprefix('check_')}-{i}", change) for i, (check, change) in enumerate(BREAKAGES)),
]

EXAMPLES = settings(
    max_examples=2000 if THOROUGH else 300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
#: A breakage must be found by generation alone (no shrinking: the failure is the point, not its smallest form).
BREAK = settings(
    max_examples=300,
    phases=[Phase.generate],
    report_multiple_bugs=False,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture(scope="module")
def bodies() -> dict[str, BodyModel]:
    rs = bundled()
    return {name: rs.body if change is None else _body(rs, change) for name, change in CHANGES}


# --- the comparison ------------------------------------------------------------------------------------------------


def _outcome(normalise: Normalise, model: Intake, rs: Ruleset, body: BodyModel) -> Facts | tuple[Any, ...]:
    try:
        return normalise(model, rs.regions, rs.medications, rs.codes, body, vocabulary=rs.vocabulary)
    except IntakeError as exc:
        return ("IntakeError", exc.problems)


def _differences(old: Facts | tuple[Any, ...], new: Facts | tuple[Any, ...]) -> Iterator[str]:
    """Where two outcomes differ, fact by fact (empty when they are the same)."""
    if not isinstance(old, Facts) or not isinstance(new, Facts):
        if old != new:
            yield f"outcome: {old!r} / {new!r}"
        return

    def fact_sets(f: Facts) -> list[tuple[str, Any, dict[str, Any]]]:
        return [
            ("patient", None, f.patient),
            *((f"site {i}", s, fs) for i, (s, fs) in enumerate(f.sites)),
            *((f"circuit {i}", c, fs) for i, (c, fs) in enumerate(f.circuits)),
        ]

    a, b = fact_sets(old), fact_sets(new)
    if [(w, k) for w, k, _ in a] != [(w, k) for w, k, _ in b]:
        yield f"scopes: {[(w, k) for w, k, _ in a]} / {[(w, k) for w, k, _ in b]}"
        return
    for (where, _, fa), (_, _, fb) in zip(a, b, strict=True):
        for name in sorted(fa.keys() | fb.keys()):
            if fa.get(name, "(absent)") != fb.get(name, "(absent)"):
                yield f"{where} {name}: old {fa.get(name, '(absent)')!r} / new {fb.get(name, '(absent)')!r}"
    if old.unrecognised_medications != new.unrecognised_medications:
        yield f"unrecognised: {old.unrecognised_medications} / {new.unrecognised_medications}"


def check_same_facts(
    intakes: Iterable[dict[str, Any]], body: BodyModel, normalise: Normalise = facts_module.normalise
) -> int:
    """Every intake normalises to the same facts (or the same problems) as the simple reading; returns how many."""
    rs = bundled()
    n = 0
    for intake in intakes:
        try:
            model = parse_intake(intake)
        except IntakeError:
            continue  # rejected before normalisation: nothing to compare
        old, new = _outcome(oracle.normalise, model, rs, body), _outcome(normalise, model, rs, body)
        diff = list(_differences(old, new))
        assert not diff, f"{len(diff)} fact(s) differ for {intake}:\n" + "\n".join(diff[:20])
        n += 1
    return n


def check_body_tables(
    body: BodyModel, sides: tuple[str | None, ...] = SIDES, site_sides: tuple[str | None, ...] = SITE_SIDES
) -> None:
    """Every place the model gives, and what it concerns, is what the simple reading gives, site by site."""
    regions = body.regions
    ids = regions.ids()
    sites = [(r, s) for r in ids if not regions[r].group for s in site_sides]
    for extent in get_args(Extent):
        for rid in ids:
            assert body.extent(extent, rid) == oracle.extent(body, extent, rid), (extent, rid)
    places: list[tuple[str, Place, Place]] = []
    for kind in body.extents:
        for rid in ids:
            for side in sides:
                new, old = body.finding_place(kind, rid, side), oracle.finding_place(body, kind, rid, side)
                assert new == old, (kind, rid, side)
                places.append((kind, new, old))
    for kind in body.devices:
        for at in (None, *ids):
            for side in sides if at else (None,):
                new_places = body.device_places(kind, at, side)
                old_places = oracle.device_places(body, kind, at, side)
                assert new_places == old_places, (kind, at, side)
                places += [(kind, n, o) for n, o in zip(new_places, old_places, strict=True)]
    seen = set()
    for kind, new, old in places:
        if (new.regions, new.side, new.certain) in seen:
            continue
        seen.add((new.regions, new.side, new.certain))
        for region, side in sites:
            assert body.concerns(new, region, side) == oracle.concerns(body, old, region, side), (
                kind,
                sorted(new.regions),
                new.side,
                new.certain,
                region,
                side,
            )
    for region in ids:
        for side in sides:
            for site_region, site_side in sites:
                assert body.quadrant_concerns(region, side, site_region, site_side) == oracle.quadrant_concerns(
                    body, region, side, site_region, site_side
                ), (region, side, site_region, site_side)
    for a in sites:
        for b in sites:
            new_path, old_path = body.path(a, b), oracle.path(body, a, b)
            assert new_path == old_path, (a, b)
            assert body.path_regions(new_path) == oracle.path_regions(body, old_path), (a, b)


# --- the checks, on the bundled body and on changed ones -------------------------------------------------------


def test_the_body_tables_answer_as_the_simple_reading(bodies: dict[str, BodyModel]) -> None:
    check_body_tables(bodies["bundled"])


@pytest.mark.parametrize("name", [name for name, _ in CHANGES[1:]])
def test_the_body_tables_follow_a_changed_body_file(name: str, bodies: dict[str, BodyModel]) -> None:
    # Every side is read the same way whatever the file says: one sided and one open side of each suffice here.
    check_body_tables(bodies[name], sides=(None, "left", "both"), site_sides=(None, "right"))


@EXAMPLES
@given(intake=intakes(max_sites=8))
def test_generated_intakes_normalise_as_before(intake: dict[str, Any]) -> None:
    check_same_facts([intake], bundled().body)


@EXAMPLES
@given(intake=intakes(max_sites=6), name=st.sampled_from([name for name, _ in CHANGES[1:]]))
def test_generated_intakes_normalise_as_before_on_changed_bodies(
    intake: dict[str, Any], name: str, bodies: dict[str, BodyModel]
) -> None:
    check_same_facts([intake], bodies[name])


def test_the_benchmark_cohorts_normalise_as_before() -> None:
    body = bundled().body
    assert check_same_facts(cohort("typical", 400, seed=5), body) == 400
    assert check_same_facts(cohort("worst", 60, seed=5), body) == 60


# --- breakage: each check fails on a wrong table or a wrong normalisation --------------------------------------


def _side_blind_reach(body: BodyModel) -> None:
    """Forget which regions are sided: a left-arm place would concern the right arm."""
    for regs, (hits, _unsided) in list(body._reaches.items()):
        body._reaches[regs] = (hits, hits)


def _knee_without_neighbours(body: BodyModel) -> None:
    """A stale neighbourhood table: the knee no longer reaches the thigh and calf."""
    table = body._extents["neighbourhood"]
    table["knee"] = frozenset({"knee"})


def _picc_reaches_no_further(body: BodyModel) -> None:
    """A device table that forgets the catheter a port runs along."""
    kind = body._device_regions["port_picc"]
    for rid in kind:
        kind[rid] = body.extent("neighbourhood", rid)


def _forearm_off_its_chain(body: BodyModel) -> None:
    """A current-path table that no longer places the forearm on the arm's chain."""
    body._chain_at["forearm"] = None


def _joint_prosthesis_nowhere(body: BodyModel) -> None:
    """A joint replacement whose place was not recorded could be nowhere (instead of unknown at every joint)."""
    body._possible["joint_prosthesis"] = ()


TABLE_BREAKAGES = [
    _side_blind_reach,
    _knee_without_neighbours,
    _picc_reaches_no_further,
    _forearm_off_its_chain,
    _joint_prosthesis_nowhere,
]


@pytest.mark.parametrize("breakage", TABLE_BREAKAGES, ids=lambda b: b.__name__.strip("_"))
def test_breakage_the_table_check_fails_on_a_wrong_table(breakage: Callable[[BodyModel], None]) -> None:
    body = _body(bundled())
    breakage(body)
    with pytest.raises(AssertionError):
        check_body_tables(body)


def _first_location_only(intake: Intake, *args: Any, **kwargs: Any) -> Facts:
    """A normalisation that reads only the first recorded location of each finding."""
    findings = intake.findings.model_copy(
        update={
            kind: f.model_copy(update={"locations": f.locations[:1]})
            for kind, f in intake.findings
            if len(f.locations) > 1
        }
    )
    return facts_module.normalise(intake.model_copy(update={"findings": findings}), *args, **kwargs)


def _first_site_for_all(intake: Intake, *args: Any, **kwargs: Any) -> Facts:
    """A normalisation that works out where findings and devices reach for the first site only and gives every
    other site the same answers (a per-screening cache keyed too coarsely)."""
    out = facts_module.normalise(intake, *args, **kwargs)
    if not out.sites:
        return out
    first = out.sites[0][1]
    placed = {n for n in first if n.startswith("site.") and n not in ("site.region", "site.side", "site.depth_mm")}
    sites = tuple(
        (s, {**{k: v for k, v in fs.items() if k not in placed}, **{n: first[n] for n in placed}})
        for s, fs in out.sites
    )
    return Facts(out.patient, sites, out.circuits, out.unrecognised_medications)


@pytest.mark.parametrize("broken", [_first_location_only, _first_site_for_all], ids=lambda b: b.__name__.strip("_"))
def test_breakage_the_intake_check_fails_on_a_wrong_normalisation(broken: Normalise) -> None:
    @BREAK
    @given(intake=intakes(max_sites=8))
    def run(intake: dict[str, Any]) -> None:
        check_same_facts([intake], bundled().body, broken)

    with pytest.raises(AssertionError, match="differ"):
        run()


def test_breakage_the_cohort_check_fails_on_a_wrong_device_table() -> None:
    body = _body(bundled())
    _joint_prosthesis_nowhere(body)
    with pytest.raises(AssertionError, match="differ"):
        check_same_facts(cohort("typical", 400, seed=5), body)


def test_the_normalisation_benchmark_runs() -> None:
    """The README's before/after figures come from this command; it must keep running (no time is asserted)."""
    from benchmarks.normalisation import main

    figures = main(["--n", "3", "--rounds", "1"])
    for name in ("typical", "worst"):
        assert {v: f["n"] for v, f in figures[name]["normalise"].items()} == dict.fromkeys(
            ("before", "tables only", "after"), 3
        )
        assert len(figures[name]["screen"]) == 2 * len(available_engines())
        assert all(f["median_us"] > 0 and f["p99_us"] > 0 for f in figures[name]["screen"].values())
    assert screening.normalise is facts_module.normalise  # the oracle is no longer patched in
