"""The body regions and their hierarchy, loaded from ``rules/regions.yaml``.

Regions are data so that a clinician can read and extend them without touching code. The hierarchy is a
directed acyclic graph: "left forearm" lies within "left upper limb" and "distal limb"; an upper-trapezius
site lies within "trunk" and "thorax" (it overlies the lung). The names clinicians type for a site (muscles,
abbreviations, body words) are placed in these regions by :mod:`needlescreen.vocabulary`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import RuleFileError

__all__ = ["Region", "RegionMap"]


class _RegionSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    label: str = Field(min_length=1)
    parents: list[str] = []
    sided: bool = False
    group: bool = False


class _RegionFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    schema_: str = Field(alias="schema", pattern=r"^needlescreen\.regions/1$")
    territories: dict[str, str] = {}
    device_defaults: dict[str, str] = {}
    regions: dict[str, _RegionSpec]


@dataclass(frozen=True, slots=True)
class Region:
    """One region: its id, label, whether it needs a side, and every region it lies within (itself included)."""

    id: str
    label: str
    sided: bool
    group: bool
    within: frozenset[str]


class RegionMap:
    """The loaded vocabulary: look up regions and test containment."""

    def __init__(
        self,
        regions: Mapping[str, Region],
        device_defaults: Mapping[str, str] | None = None,
        *,
        territories: Mapping[str, str] | None = None,
    ) -> None:
        self._regions = dict(regions)
        self.device_defaults = dict(device_defaults or {})
        self.territories = dict(territories or {})
        inside: dict[str, set[str]] = {rid: set() for rid in self._regions}
        for rid, region in self._regions.items():
            for outer in region.within:
                inside.setdefault(outer, set()).add(rid)
        # Both directions of the hierarchy, closed once: the body model asks "do these two overlap?" of every
        # planned site against every place a finding or device reaches.
        self._overlapping = {rid: frozenset(region.within | inside[rid]) for rid, region in self._regions.items()}

    @classmethod
    def from_data(cls, data: Any, *, file: str = "regions.yaml") -> RegionMap:
        """Validate a parsed regions file and close the hierarchy transitively."""
        try:
            parsed = _RegionFile.model_validate(data)
        except ValidationError as exc:
            err = exc.errors()[0]
            loc = ".".join(str(p) for p in err["loc"])
            raise RuleFileError(err["msg"], file=file, field=loc) from None
        specs = parsed.regions
        for rid, spec in specs.items():
            for parent in spec.parents:
                if parent not in specs:
                    raise RuleFileError(f"unknown parent region {parent!r}", file=file, field=f"regions.{rid}.parents")
        closed: dict[str, frozenset[str]] = {}

        def close(rid: str, trail: tuple[str, ...]) -> frozenset[str]:
            if rid in trail:
                raise RuleFileError(f"cycle in region hierarchy: {' -> '.join((*trail, rid))}", file=file)
            if rid not in closed:
                acc = {rid}
                for parent in specs[rid].parents:
                    acc |= close(parent, (*trail, rid))
                closed[rid] = frozenset(acc)
            return closed[rid]

        regions = {}
        for rid, spec in specs.items():
            within = close(rid, ())
            sided = any(specs[p].sided for p in within)
            regions[rid] = Region(rid, spec.label, sided, spec.group, within)
        for kind, rid in parsed.device_defaults.items():
            if rid not in regions:
                raise RuleFileError(f"unknown region {rid!r}", file=file, field=f"device_defaults.{kind}")
        for limb, rid in parsed.territories.items():
            for part in (limb, rid):
                if part not in regions:
                    raise RuleFileError(f"unknown region {part!r}", file=file, field=f"territories.{limb}")
        return cls(regions, parsed.device_defaults, territories=parsed.territories)

    def __contains__(self, rid: object) -> bool:
        return rid in self._regions

    def __getitem__(self, rid: str) -> Region:
        return self._regions[rid]

    def ids(self) -> list[str]:
        """All region ids, sorted."""
        return sorted(self._regions)

    def within(self, rid: str, other: str) -> bool:
        """True when region ``rid`` lies within ``other`` (a region lies within itself)."""
        return other in self._regions[rid].within

    def overlapping(self, rid: str) -> frozenset[str]:
        """Every region that lies within ``rid`` or that ``rid`` lies within (itself included)."""
        return self._overlapping[rid]
