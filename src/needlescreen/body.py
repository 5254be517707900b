"""The body model: which planned sites a finding, a device, a nerve or a current concerns.

The rules speak of "this limb", "at or near the site", "the current path" and "the skin this nerve supplies".
``rules/body.yaml`` says what those words mean as data (extents per finding kind, a neighbour relation,
device places, nerve points and territories, limb chains for current paths), so a clinical reviewer can check
it against anatomy and the reference without reading code. This module only applies that data.

Every answer here is three-valued like the rules: ``"yes"``, ``"no"`` or ``None`` (cannot tell), and a place
that is only possible (a device whose location was not recorded) never gives ``"yes"``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from . import _bundled, _yaml
from .errors import RuleFileError
from .regions import RegionMap

__all__ = ["BodyModel", "CurrentPath", "Nerve", "Place", "Tri", "bundled_body", "combine", "load_body"]

Tri = Literal["yes", "no"] | None
Extent = Literal["limb", "neighbourhood", "region"]
_LEVELS = ("chest", "pelvis")
_CROSSINGS = ("chest", "pelvis", "spinal_cord")


def combine(values: Iterable[Tri]) -> Tri:
    """Any yes is yes; otherwise any unknown is unknown; otherwise no (no values: no)."""
    unknown = False
    for v in values:
        if v == "yes":
            return "yes"
        if v is None:
            unknown = True
    return None if unknown else "no"


# --- the file --------------------------------------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


class _FindingSpec(_Strict):
    extent: Extent
    reason: str = Field(min_length=10)


class _DevicePlaceSpec(_Strict):
    at: list[str] = Field(min_length=1)
    runs: list[str] = []
    near: list[str] | None = None
    reason: str = Field(min_length=10)


class _DeviceSpec(_Strict):
    extent: Extent
    places: list[_DevicePlaceSpec] = Field(min_length=1)


class _NerveSpec(_Strict):
    label: str = Field(min_length=3)
    points: list[str] = Field(min_length=1)
    default: str
    territory: list[str] = Field(min_length=1)
    reason: str = Field(min_length=10)


class _PathSpec(_Strict):
    chains: dict[str, list[str | list[str]]]
    levels: dict[Literal["chest", "pelvis"], list[str]]
    crossings: dict[Literal["chest", "pelvis", "spinal_cord"], str]
    spinal_cord: list[str] = Field(min_length=1)
    front_to_back: Annotated[list[str], Field(min_length=2, max_length=2)]


class _BodyFile(_Strict):
    schema_: str = Field(alias="schema", pattern=r"^needlescreen\.body/1$")
    findings: dict[str, _FindingSpec]
    basins: dict[str, str] = {}
    neighbours: list[Annotated[list[str], Field(min_length=2, max_length=2)]]
    devices: dict[str, _DeviceSpec]
    nerves: dict[str, _NerveSpec]
    current_paths: _PathSpec


# --- the model -------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Place:
    """Where something is: the regions it concerns, on which side, and whether it is surely there."""

    regions: frozenset[str]
    side: str | None
    certain: bool = True


@dataclass(frozen=True, slots=True)
class Nerve:
    """A peripheral nerve a perineural needle may be placed beside, and the skin it supplies."""

    id: str
    label: str
    points: tuple[str, ...]
    default: str
    territory: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CurrentPath:
    """The body the current of one lead pair flows through: (region, side) points and trunk crossings."""

    points: tuple[tuple[str, str | None], ...]
    crossings: frozenset[str]


@dataclass(frozen=True, slots=True)
class _DevicePlace:
    """Where a device of one kind may sit (``at``), what its leads or catheter occupy from there (``runs``), and
    the regions immediately next to both (``near``; ``None``: the kind's extent around the recorded region)."""

    at: tuple[str, ...]
    runs: tuple[str, ...]
    near: tuple[str, ...] | None = None


class BodyModel:
    """The loaded ``body.yaml`` over a region map."""

    def __init__(
        self,
        regions: RegionMap,
        *,
        extents: Mapping[str, Extent],
        neighbours: Iterable[tuple[str, str]],
        devices: Mapping[str, tuple[Extent, tuple[_DevicePlace, ...]]],
        nerves: Mapping[str, Nerve],
        chains: Mapping[str, tuple[tuple[str, ...], ...]],
        levels: Mapping[Any, tuple[str, ...]],
        crossings: Mapping[Any, str],
        spinal_cord: tuple[str, ...] = (),
        front_to_back: tuple[str, str] | None = None,
        reasons: Mapping[str, str] | None = None,
        basins: Mapping[str, str] | None = None,
    ) -> None:
        self.regions = regions
        self.extents = dict(extents)
        adjacency: dict[str, set[str]] = {}
        for a, b in neighbours:
            adjacency.setdefault(a, set()).add(b)
            adjacency.setdefault(b, set()).add(a)
        self.adjacency = {k: frozenset(v) for k, v in adjacency.items()}
        self.devices = dict(devices)
        self.nerves = dict(nerves)
        self.chains = dict(chains)
        self.levels = dict(levels)
        self.crossings = dict(crossings)
        self.reasons = dict(reasons or {})
        self.basins = dict(basins or {})
        self.spinal_cord = spinal_cord
        self.front_to_back = front_to_back
        self.limbs = tuple(c for c in self.chains if c in regions and regions[c].sided and regions[c].group)
        self._index()

    # --- loading -----------------------------------------------------------------------------------------------

    @classmethod
    def from_data(cls, data: Any, *, regions: RegionMap, file: str = "body.yaml") -> BodyModel:
        """Validate a parsed body file against the region vocabulary.

        Raises:
            RuleFileError: naming the file, the entry and what was expected.
        """
        try:
            parsed = _BodyFile.model_validate(data)
        except ValidationError as exc:
            err = exc.errors()[0]
            loc = ".".join(str(p) for p in err["loc"])
            raise RuleFileError(err["msg"], file=file, field=loc) from None

        def known(rid: str, field: str, *, site: bool = False) -> str:
            if rid not in regions:
                raise RuleFileError(f"unknown region {rid!r}", file=file, field=field, expected="a region id")
            if site and regions[rid].group:
                raise RuleFileError(f"{rid!r} is a grouping, not a site region", file=file, field=field)
            return rid

        for basin, limb in parsed.basins.items():
            known(basin, f"basins.{basin}", site=True)
            known(limb, f"basins.{basin}")
            if not (regions[limb].group and regions[limb].sided):
                raise RuleFileError(f"{limb!r} is not a limb", file=file, field=f"basins.{basin}")
        for i, (a, b) in enumerate(parsed.neighbours):
            known(a, f"neighbours[{i}]", site=True)
            known(b, f"neighbours[{i}]", site=True)
            if a == b:
                raise RuleFileError("a region is not its own neighbour", file=file, field=f"neighbours[{i}]")
        devices: dict[str, tuple[Extent, tuple[_DevicePlace, ...]]] = {}
        for kind, spec in parsed.devices.items():
            places = []
            for j, p in enumerate(spec.places):
                for rid in (*p.at, *p.runs, *(p.near or ())):
                    known(rid, f"devices.{kind}.places[{j}]")
                places.append(_DevicePlace(tuple(p.at), tuple(p.runs), None if p.near is None else tuple(p.near)))
            devices[kind] = (spec.extent, tuple(places))
        nerves: dict[str, Nerve] = {}
        for nid, n in parsed.nerves.items():
            for rid in (*n.points, *n.territory):
                known(rid, f"nerves.{nid}", site=True)
            if n.default not in n.points:
                raise RuleFileError("default must be one of the points", file=file, field=f"nerves.{nid}.default")
            nerves[nid] = Nerve(nid, n.label, tuple(n.points), n.default, tuple(n.territory))
        chains: dict[str, tuple[tuple[str, ...], ...]] = {}
        for name, segments in parsed.current_paths.chains.items():
            chain = []
            for k, seg in enumerate(segments):
                members = (seg,) if isinstance(seg, str) else tuple(seg)
                for rid in members:
                    known(rid, f"current_paths.chains.{name}[{k}]", site=True)
                chain.append(members)
            chains[name] = tuple(chain)
        levels = {}
        for level, groups in parsed.current_paths.levels.items():
            levels[level] = tuple(known(g, f"current_paths.levels.{level}") for g in groups)
        crossings = {}
        for what, rid in parsed.current_paths.crossings.items():
            known(rid, f"current_paths.crossings.{what}")
            if not regions[rid].group:
                raise RuleFileError(
                    f"{rid!r} must be a grouping (a crossing is never a site)",
                    file=file,
                    field=f"current_paths.crossings.{what}",
                )
            crossings[what] = rid
        spinal_cord = tuple(known(g, "current_paths.spinal_cord") for g in parsed.current_paths.spinal_cord)
        front, back = (known(g, "current_paths.front_to_back") for g in parsed.current_paths.front_to_back)
        for need in _CROSSINGS:
            if need not in crossings:
                raise RuleFileError("missing crossing", file=file, field=f"current_paths.crossings.{need}")
        return cls(
            regions,
            extents={k: v.extent for k, v in parsed.findings.items()},
            neighbours=[(a, b) for a, b in parsed.neighbours],
            devices=devices,
            nerves=nerves,
            chains=chains,
            levels=levels,
            crossings=crossings,
            spinal_cord=spinal_cord,
            front_to_back=(front, back),
            basins=parsed.basins,
            reasons={
                **{f"findings.{k}": v.reason for k, v in parsed.findings.items()},
                **{f"devices.{k}": " ".join(p.reason for p in v.places) for k, v in parsed.devices.items()},
                **{f"nerves.{k}": v.reason for k, v in parsed.nerves.items()},
            },
        )

    # --- places ------------------------------------------------------------------------------------------------
    #
    # Everything below is read per planned site and per finding, device and point of a current path, many times
    # per screening; the model is fixed once loaded. So each answer that does not depend on the screening is
    # computed once per model (``_index``) and every question a screening asks is a set lookup.

    def _index(self) -> None:
        """Compute once what every screening asks: each region's limb, neighbourhood and reach by extent, where
        a device of each kind reaches from each recorded region, what each of those places concerns, and each
        region's place on a current path. Equal region sets are one object (fewer objects for the collector)."""
        regions = self.regions
        ids = regions.ids()
        within = {rid: regions[rid].within for rid in ids}
        interned: dict[frozenset[str], frozenset[str]] = {}

        def one(regs: Iterable[str]) -> frozenset[str]:
            key = frozenset(regs)
            return interned.setdefault(key, key)

        self._limb = {rid: next((limb for limb in self.limbs if limb in within[rid]), None) for rid in ids}
        empty: frozenset[str] = frozenset()
        near = {rid: one({rid}.union(*(self.adjacency.get(a, empty) for a in within[rid]))) for rid in ids}

        def limb_extent(rid: str) -> frozenset[str]:
            limb = self._limb[rid]
            if limb is not None:
                return one({limb})
            # A limb's node basin (the axilla) is that limb's and its own: the trunk around it is the limb's
            # quadrant (LYMPHEDEMA_ADJACENT), never the limb itself.
            basins = {self.basins[b] for b in within[rid] if b in self.basins}
            return one({rid} | basins) if basins else near[rid]

        self._extents: dict[str, dict[str, frozenset[str]]] = {
            "region": {rid: one({rid}) for rid in ids},
            "neighbourhood": near,
            "limb": {rid: limb_extent(rid) for rid in ids},
        }
        self._device_regions: dict[str, dict[str, frozenset[str]]] = {}
        self._possible: dict[str, tuple[Place, ...]] = {}
        for kind, (extent, places) in self.devices.items():
            table = self._extents[extent]

            def reach(rid: str, table: dict[str, frozenset[str]] = table, places: Any = places) -> frozenset[str]:
                lies_in = [p for p in places if any(self._overlap(rid, at) for at in p.at)]
                # A place that names its neighbours bounds the reach to them; elsewhere the kind's extent applies.
                bounded = bool(lies_in) and all(p.near is not None for p in lies_in)
                around = frozenset({rid}) if bounded else table[rid]
                return one(around.union(*(p.runs for p in lies_in), *(p.near or () for p in lies_in)))

            self._device_regions[kind] = {rid: reach(rid) for rid in ids}
            self._possible[kind] = tuple(
                Place(
                    one(
                        frozenset(p.runs).union(
                            *(table[at] for at in p.at) if p.near is None else (frozenset(p.at), frozenset(p.near))
                        )
                    ),
                    None,
                    certain=False,
                )
                for p in places
            )
        self._anywhere = (Place(one({"body"}), None, certain=False),)
        # What a place with these regions concerns, for every region set a place of the model can have.
        self._reaches: dict[frozenset[str], tuple[frozenset[str], frozenset[str]]] = {}
        for regs in list(interned.values()):
            if regs <= within.keys():
                hits, unsided = self._reach(regs)
                self._reaches[regs] = (one(hits), one(unsided))
        # Current paths: where each region sits on a chain, at which level, and whether over the cord.
        self._chain_at = {rid: self._chain_position(rid) for rid in ids}
        self._level_at = {rid: self._level(rid) for rid in ids}
        self._over_cord = {rid: any(g in within[rid] for g in self.spinal_cord) for rid in ids}
        # The trunk quadrant a finding recorded at each region drains to: its limb's, or the trunk area's own.
        territories = regions.territories
        self._drains: dict[str, str | None] = {}
        for rid in ids:
            territory = next((t for limb, t in territories.items() if limb in within[rid]), None)
            if territory is None:
                territory = next((t for t in territories.values() if t in within[rid]), None)
            self._drains[rid] = territory

    def _reach(self, regs: frozenset[str]) -> tuple[frozenset[str], frozenset[str]]:
        """Every region that overlaps one of ``regs`` (lies within it or contains it), and of those the ones
        where no side can rule a place out (neither the region nor the overlapping one of ``regs`` is sided)."""
        regions = self.regions
        hits = frozenset().union(*(regions.overlapping(r) for r in regs))
        unsided = (regions.overlapping(r) for r in regs if not regions[r].sided)
        return hits, frozenset(x for x in frozenset().union(*unsided) if not regions[x].sided)

    def neighbourhood(self, rid: str) -> frozenset[str]:
        """The region and its neighbours, inherited from every site region it lies within."""
        return self._extents["neighbourhood"][rid]

    def limb_of(self, rid: str) -> str | None:
        """The limb a region lies in (``upper_limb``/``lower_limb``), or None for the trunk and head."""
        return self._limb[rid]

    def extent(self, extent: Extent, rid: str) -> frozenset[str]:
        """The regions a place of this extent, recorded at ``rid``, concerns."""
        return self._extents[extent][rid]

    def finding_place(self, kind: str, region: str, side: str | None) -> Place:
        """Where a finding recorded at ``region`` reaches (by its kind's extent)."""
        return Place(self._extents[self.extents.get(kind, "region")][region], side)

    def device_places(self, kind: str, region: str | None, side: str | None) -> tuple[Place, ...]:
        """Where a device of this kind is, given its recorded location (or every place it could be at)."""
        regions = self._device_regions.get(kind)
        if regions is None:
            if region is None:
                return self._anywhere
            return (Place(self._extents["region"][region], side),)
        if region is None:
            return self._possible[kind]
        return (Place(regions[region], side),)

    def quadrant_concerns(self, region: str, side: str | None, site_region: str, site_side: str | None) -> Tri:
        """Is a site in the trunk quadrant that a limb finding recorded at ``region`` drains to?

        The quadrant is the limb's lymphatic watershed (``territories`` of ``regions.yaml``: the arm drains to
        the upper trunk quadrant, the leg to the lower); a finding recorded on the trunk (nodes removed from the
        axilla) drains to the quadrant it lies in. Sides as recorded: a finding on both sides, or a midline
        site, is in the quadrant; an unrecorded side on either is unknown.
        """
        territory = self._drains[region]
        if territory is None or territory not in self.regions[site_region].within:
            return "no"
        if side == "both" or site_side == "midline":
            return "yes"
        if side is None or site_side is None:
            return None
        return "yes" if side == site_side else "no"

    def _overlap(self, a: str, b: str) -> bool:
        return b in self.regions.overlapping(a)

    def concerns(self, place: Place, region: str, side: str | None) -> Tri:
        """Does this place concern a site at ``region`` on ``side``?

        A place concerns a site whose region overlaps one of its regions, on a side that matches: ``both`` and a
        site with no side or on the midline match any; a place with no side matches where the side cannot
        matter (neither region sided) and is unknown elsewhere; a midline place matches only there; left and
        right match themselves. A place that is only possible is never more than unknown.
        """
        reach = self._reaches.get(place.regions)
        hits, unsided = reach if reach is not None else self._reach(place.regions)
        if region not in hits:
            return "no"
        at = place.side
        if at == "both" or side is None or side == "midline":
            v: Tri = "yes"
        elif at is None:
            v = "yes" if region in unsided else None
        elif at == "midline":
            v = "yes" if region in unsided else "no"
        else:
            v = "yes" if at == side else "no"
        return None if v == "yes" and not place.certain else v

    # --- nerves --------------------------------------------------------------------------------------------------

    def nerve_territory(self, nerve: str) -> tuple[str, ...]:
        """The skin regions a nerve supplies."""
        return self.nerves[nerve].territory

    # --- current paths -----------------------------------------------------------------------------------------

    def _chain_position(self, rid: str) -> tuple[str, int] | None:
        within = self.regions[rid].within
        for name, chain in self.chains.items():
            for i, segment in enumerate(chain):
                if any(s in within for s in segment):
                    return name, i
        return None

    def _level(self, rid: str) -> str | None:
        within = self.regions[rid].within
        for level in _LEVELS:
            if any(g in within for g in self.levels.get(level, ())):
                return level
        return None

    def path(self, a: tuple[str, str | None], b: tuple[str, str | None]) -> CurrentPath:
        """The segments and trunk crossings the current between needles ``a`` and ``b`` flows through."""
        (ra, sa), (rb, sb) = a, b
        pa, pb = self._chain_at[ra], self._chain_at[rb]
        same_side = sa == sb or sa in (None, "midline") or sb in (None, "midline")
        side = sa if sa in ("left", "right") else sb if sb in ("left", "right") else sa
        points: list[tuple[str, str | None]] = [a, b]
        crossings: set[str] = set()
        if pa is not None and pb is not None and pa[0] == pb[0] and same_side:
            chain = self.chains[pa[0]]
            lo, hi = sorted((pa[1], pb[1]))
            points += [(r, side) for seg in chain[lo : hi + 1] for r in seg]
            return CurrentPath(tuple(dict.fromkeys(points)), frozenset())
        for s, pos in ((sa, pa), (sb, pb)):
            if pos is not None and pos[0] in self.limbs:
                points += [(r, s) for seg in self.chains[pos[0]][: pos[1] + 1] for r in seg]
        la, lb = self._level_at[ra], self._level_at[rb]
        opposite = {sa, sb} == {"left", "right"}
        on_limb = self._limb[ra] is not None or self._limb[rb] is not None
        if la != lb and on_limb:
            crossings |= {"chest", "pelvis"}
        elif opposite and la == lb and la is not None:
            crossings.add(la)
        if opposite and self._over_cord[ra] and self._over_cord[rb]:
            crossings.add("spinal_cord")
        if self.front_to_back is not None:
            front, back = self.front_to_back
            wa, wb = self.regions[ra].within, self.regions[rb].within
            if (front in wa and back in wb) or (back in wa and front in wb):
                crossings.add("chest")
        return CurrentPath(tuple(dict.fromkeys(points)), frozenset(self.crossings[c] for c in crossings))

    def describe(self) -> dict[str, Any]:
        """The model as plain data for a clinical reviewer (``needlescreen rules body``)."""

        def label(rid: str) -> str:
            return self.regions[rid].label

        return {
            "findings": {kind: {"extent": extent} for kind, extent in sorted(self.extents.items())},
            "neighbours": {
                rid: sorted(label(n) for n in self.adjacency[rid]) for rid in sorted(self.adjacency, key=label)
            },
            "devices": {
                kind: {
                    "extent": extent,
                    "places": [
                        {
                            "at": [label(r) for r in p.at],
                            "runs": [label(r) for r in p.runs],
                            **({} if p.near is None else {"near": [label(r) for r in p.near]}),
                        }
                        for p in places
                    ],
                }
                for kind, (extent, places) in sorted(self.devices.items())
            },
            "nerves": {
                n.id: {
                    "label": n.label,
                    "points": [label(r) for r in n.points],
                    "default": label(n.default),
                    "territory": [label(r) for r in n.territory],
                }
                for n in sorted(self.nerves.values(), key=lambda n: n.id)
            },
            "current_paths": {
                "chains": {name: [[label(r) for r in seg] for seg in chain] for name, chain in self.chains.items()},
                "crossings": {what: label(rid) for what, rid in self.crossings.items()},
            },
        }

    def explain_facts(self, facts: Iterable[str], device_groups: Mapping[str, tuple[str, ...]]) -> list[str]:
        """Plain sentences on how the body model decides each of these facts (for ``rules show``)."""
        out: list[str] = []
        for name in sorted(set(facts)):
            scope, _, what = name.partition(".")
            kind = what.removesuffix("_area")
            if scope in ("site", "circuit") and kind in self.extents:
                where = "sites" if scope == "site" else "every point of the current path"
                out.append(
                    f"{name}: {kind} concerns {where} within its {self.extents[kind]} extent. "
                    f"{self.reasons.get(f'findings.{kind}', '')}".strip()
                )
            elif what.endswith("_area") and kind in device_groups:
                for device in device_groups[kind]:
                    extent = self.devices[device][0] if device in self.devices else "region"
                    out.append(f"{name}: {device} ({extent}): {self.reasons.get(f'devices.{device}', '')}".strip())
            elif name == "circuit.path":
                out.append(
                    "circuit.path: the segments between the two needles on one limb, and the trunk between two "
                    "limbs or sides (needlescreen rules body)."
                )
            elif name == "site.nerve_territory_reduced_sensation":
                out.append(f"{name}: the skin each nerve supplies (needlescreen rules body, nerves).")
        return out

    def path_regions(self, path: CurrentPath) -> frozenset[str]:
        """Every region the path lies within (the value of the ``circuit.path`` fact)."""
        out: set[str] = set()
        for rid, _ in path.points:
            out |= self.regions[rid].within
        for rid in path.crossings:
            out |= self.regions[rid].within
        return frozenset(out)


def load_body(path: str | Path, regions: RegionMap) -> BodyModel:
    """Read and validate a body file against a region map.

    Raises:
        RuleFileError: the file is unreadable or malformed.
    """
    return BodyModel.from_data(_yaml.load_file(path), regions=regions, file=str(path))


@lru_cache(maxsize=4)
def bundled_body(regions: RegionMap) -> BodyModel:
    """The body model that ships with the package, over ``regions`` (cached per region map, as the vocabulary)."""
    return load_body(_bundled.rules_dir() / "body.yaml", regions)
