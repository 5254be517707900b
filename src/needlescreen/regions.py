"""The body-region vocabulary and its hierarchy, loaded from ``rules/regions.yaml``.

Regions are data so that a clinician can read and extend them without touching code. The hierarchy is a
directed acyclic graph: "left forearm" lies within "left upper limb" and "distal limb"; an upper-trapezius
site lies within "trunk" and "thorax" (it overlies the lung).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import RuleFileError

__all__ = ["MuscleError", "Region", "RegionMap", "muscle_key"]


_LEVEL = r"^[CTLS][0-9]{1,2}$"
_SEGMENTS = "CTLS"


def muscle_key(name: str) -> str:
    """Case- and spacing-insensitive key for a muscle name ("Upper  Trapezius" -> "upper trapezius")."""
    return " ".join(re.sub(r"[^a-z0-9]+", " ", name.lower()).split())


def _level_rank(level: str) -> tuple[int, int]:
    return _SEGMENTS.index(level[0].upper()), int(level[1:])


class MuscleError(ValueError):
    """A muscle name the vocabulary cannot place (message says why, with a did-you-mean)."""


class _RegionSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    label: str = Field(min_length=1)
    parents: list[str] = []
    sided: bool = False
    group: bool = False


class _LevelRange(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, populate_by_name=True)

    from_: str = Field(alias="from", pattern=_LEVEL)
    to: str = Field(pattern=_LEVEL)
    region: str


class _LevelledMuscle(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    levels: list[_LevelRange] = Field(min_length=1)


class _RegionFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    schema_: str = Field(alias="schema", pattern=r"^needlescreen\.regions/1$")
    territories: dict[str, str] = {}
    device_defaults: dict[str, str] = {}
    regions: dict[str, _RegionSpec]
    muscles: dict[str, str | _LevelledMuscle] = {}


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
        muscles: Mapping[str, str | tuple[tuple[tuple[int, int], tuple[int, int], str], ...]] | None = None,
    ) -> None:
        self._regions = dict(regions)
        self.device_defaults = dict(device_defaults or {})
        self.territories = dict(territories or {})
        self._muscles = dict(muscles or {})

    def muscle_names(self) -> list[str]:
        """Every muscle name of the vocabulary, sorted."""
        return sorted(self._muscles)

    def place_muscle(self, name: str) -> str:
        """The region a muscle name lies in ("multifidus L4" -> "lumbar").

        Raises:
            MuscleError: the muscle is not in the vocabulary (with a did-you-mean), or needs a spinal level.
        """
        key = muscle_key(name)
        entry = self._muscles.get(key)
        level: tuple[int, int] | None = None
        if entry is None:
            m = re.fullmatch(r"(?P<base>.+?) (?:at )?(?P<seg>[ctls]) ?(?P<n>[0-9]{1,2})(?: .*)?", key)
            if m and m["base"] in self._muscles:
                entry = self._muscles[m["base"]]
                level = ("CTLS".index(m["seg"].upper()), int(m["n"]))
        if entry is None:
            close = difflib.get_close_matches(key, list(self._muscles), n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise MuscleError(f"unknown muscle {name!r}{hint}; give a region instead")
        if isinstance(entry, str):
            return entry
        if level is None:
            raise MuscleError(f"muscle {name!r} needs a spinal level, e.g. '{key} L4'")
        for low, high, region in entry:
            if low <= level <= high:
                return region
        raise MuscleError(f"no spinal level {name!r} in the vocabulary")

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
        muscles: dict[str, str | tuple[tuple[tuple[int, int], tuple[int, int], str], ...]] = {}
        for mname, mspec in parsed.muscles.items():
            key = muscle_key(mname)
            if key in muscles:
                raise RuleFileError("duplicate muscle name", file=file, field=f"muscles.{mname}")
            if isinstance(mspec, str):
                targets = [mspec]
                muscles[key] = mspec
            else:
                targets = [r.region for r in mspec.levels]
                muscles[key] = tuple((_level_rank(r.from_), _level_rank(r.to), r.region) for r in mspec.levels)
            for rid in targets:
                if rid not in regions or regions[rid].group:
                    raise RuleFileError(
                        f"{rid!r} is not a site region", file=file, field=f"muscles.{mname}", expected="a region id"
                    )
        return cls(regions, parsed.device_defaults, territories=parsed.territories, muscles=muscles)

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
