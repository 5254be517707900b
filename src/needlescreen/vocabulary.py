"""The site vocabulary clinicians type, loaded from ``rules/vocabulary.yaml``.

A site may be named by muscle ("upper trapezius", "multifidus L4"), by the abbreviation physiotherapists write
("UT", "L gastroc", "glute med") or by an everyday body word ("calf", "lower back"). The vocabulary places each
name in the region hierarchy of ``rules/regions.yaml``, so thorax, limb and trunk rules apply to it. Names are
matched after a fixed normalisation (case, spacing, punctuation, "m." prefix, "muscle" suffix, plurals and
British/American spellings), never fuzzily: a near miss is refused with suggestions drawn from the same body
area, so a typo can never move a site to another part of the body.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ._suggest import Suggester, close
from .errors import RuleFileError
from .regions import RegionMap

__all__ = ["Placement", "Term", "Vocabulary", "VocabularyError", "name_key"]

_LEVEL_RANGE = r"^[CTLS][0-9]{1,2}-[CTLS][0-9]{1,2}$"
_SEGMENTS = "CTLS"
_PREFIXES = frozenset({"m", "mm", "musculus", "musculi", "the"})
_SUFFIXES = frozenset({"m", "mm", "muscle", "muscles", "belly", "bellies"})
_SIDES: Mapping[str, str] = {
    **dict.fromkeys(("left", "l", "lt", "lft", "sinister"), "left"),
    **dict.fromkeys(("right", "r", "rt", "rgt", "rght", "dexter"), "right"),
}
#: Plural endings that are part of a Latin name, not an English plural ("biceps", "longus", "abdominis").
_NOT_PLURAL = ("ss", "us", "is", "ps", "as", "os")
#: Suggestions need this rapidfuzz ratio (0-100), and a lead over any other body area, to be offered at all.
SUGGEST_CUTOFF = 75.0
SUGGEST_LEAD = 10.0
#: Shorter typed names are abbreviations; a near miss of "UT" is as likely "LT" as anything: no guesses.
SUGGEST_MIN_LENGTH = 4

Kind = Literal["muscle", "word"]


class VocabularyError(ValueError):
    """A site name the vocabulary cannot place; ``field`` is the site field to correct (muscle, region, side)."""

    def __init__(self, message: str, *, field: str = "muscle") -> None:
        super().__init__(message)
        self.field = field


def name_key(name: str) -> str:
    """Case- and spacing-insensitive text of a name ("Upper  Trapezius" -> "upper trapezius")."""
    return " ".join(re.sub(r"[^a-z0-9]+", " ", name.lower()).split())


def _level_rank(level: str) -> tuple[int, int]:
    return _SEGMENTS.index(level[0].upper()), int(level[1:])


def _fold(token: str) -> str:
    """One spelling per word: English and Latin plurals ("multifidi", "scapulae") fold to the singular."""
    if len(token) >= 6 and token.endswith("i"):  # shorter words ending in i are not plurals
        return token[:-1] + "us"
    if len(token) > 4 and token.endswith("ae"):
        return token[:-1]
    if len(token) > 3 and token.endswith("s") and not token.endswith(_NOT_PLURAL):
        return token[:-1]
    return token


class _Entry(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    region: str | None = None
    may_be: list[str] = []
    levels: list[str] = []
    aliases: list[str] = []


class _File(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    schema_: str = Field(alias="schema", pattern=r"^needlescreen\.vocabulary/1$")
    areas: list[str] = Field(min_length=1)
    spellings: dict[str, str] = {}
    level_maps: dict[str, dict[str, str]] = {}
    not_sites: dict[str, str] = {}
    muscles: dict[str, str | dict[str, Any]]
    words: dict[str, str | dict[str, Any]] = {}


def _entry(raw: str | dict[str, Any], *, file: str, field: str) -> _Entry:
    if isinstance(raw, str):
        return _Entry(region=raw)
    try:
        return _Entry.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"])
        raise RuleFileError(err["msg"], file=file, field=f"{field}.{loc}" if loc else field) from None


@dataclass(frozen=True, slots=True)
class Term:
    """One vocabulary entry.

    ``region`` is where a site named by it alone is placed (None: it needs a spinal level or a region);
    ``may_be`` are the other regions the name can lie in (a site region within one of them agrees with it);
    ``levels`` maps spinal-level ranges to regions.
    """

    name: str
    kind: Kind
    region: str | None
    may_be: tuple[str, ...]
    levels: tuple[tuple[tuple[int, int], tuple[int, int], str], ...]
    aliases: tuple[str, ...]

    def places(self) -> tuple[str, ...]:
        """Every region the name can lie in."""
        own = (self.region,) if self.region else ()
        return tuple(dict.fromkeys((*own, *self.may_be, *(r for _, _, r in self.levels))))


@dataclass(frozen=True, slots=True)
class Placement:
    """Where a named site is: its region, its side (from the name or the site) and the vocabulary term."""

    region: str
    side: str | None
    term: str


@dataclass(frozen=True, slots=True)
class _Parsed:
    key: str
    side: str | None
    level: tuple[int, int] | None


class Vocabulary:
    """The loaded vocabulary: place a named site, check it against a given region, suggest near names."""

    def __init__(
        self,
        terms: Iterable[Term],
        regions: RegionMap,
        *,
        areas: Iterable[str],
        spellings: Mapping[str, str] | None = None,
        not_sites: Mapping[str, str] | None = None,
    ) -> None:
        self.terms = tuple(terms)
        self.regions = regions
        self.areas = tuple(areas)
        self._spellings = dict(spellings or {})
        self._not_sites = {self._key(n): why for n, why in (not_sites or {}).items()}
        self._lookup: dict[str, Term] = {}
        for term in self.terms:
            for written in (term.name, *term.aliases):
                self._lookup.setdefault(self._key(written), term)

    # --- normalisation ---------------------------------------------------------------------------------------

    def _tokens(self, text: str) -> list[str]:
        tokens = name_key(text).split()
        while len(tokens) > 1 and tokens[0] in _PREFIXES:
            tokens.pop(0)
        while len(tokens) > 1 and tokens[-1] in _SUFFIXES:
            tokens.pop()
        return tokens

    def _join(self, tokens: Iterable[str]) -> str:
        return "".join(self._spellings.get(f := _fold(t), f) for t in tokens)

    def _key(self, text: str) -> str:
        return self._join(self._tokens(text))

    def _parse(self, name: str) -> _Parsed:
        """Split a typed name into its lookup key, a side word and a spinal level ("L gastroc", "L4 multifidus")."""
        tokens = self._tokens(name)
        side = None
        if self._join(tokens) not in self._lookup and len(tokens) > 1:
            if tokens[0] in _SIDES:
                side = _SIDES[tokens.pop(0)]
            elif tokens[-1] in _SIDES:
                side = _SIDES[tokens.pop()]
            for sfx in (_SUFFIXES, _PREFIXES):  # "left m. gastrocnemius", "gastrocnemius muscle L"
                while len(tokens) > 1 and tokens[-1] in sfx:
                    tokens.pop()
                while len(tokens) > 1 and tokens[0] in sfx:
                    tokens.pop(0)
        level = None
        text = " ".join(tokens)
        if self._join(tokens) not in self._lookup:
            lvl = r"(?P<seg>[ctls]) ?(?P<n>[0-9]{1,2})"
            m = re.fullmatch(rf"(?P<base>.+?) (?:at |level )*{lvl}(?: .*)?", text) or re.fullmatch(
                rf"(?:level )?{lvl}(?: (?:[ctls] ?)?[0-9]{{1,2}})?(?: level)? (?P<base>.+)", text
            )
            if m:
                tokens = m["base"].split()
                level = (_SEGMENTS.index(m["seg"].upper()), int(m["n"]))
        return _Parsed(self._join(tokens), side, level)

    # --- lookup ----------------------------------------------------------------------------------------------

    def term(self, name: str) -> Term | None:
        """The vocabulary entry a typed name stands for (side words and levels stripped), if any."""
        return self._lookup.get(self._parse(name).key)

    def names(self, kind: Kind | None = None) -> list[str]:
        """Every entry's name (of one kind, if given), sorted."""
        return sorted(t.name for t in self.terms if kind is None or t.kind == kind)

    def area_of(self, rid: str) -> frozenset[str]:
        """The coarse body areas (``areas`` of the vocabulary file) a region lies in or covers."""
        region = self.regions[rid]
        inside = {a for a in self.areas if a in region.within}
        if inside:
            return frozenset(inside)
        return frozenset(a for a in self.areas if rid in self.regions[a].within)

    def term_areas(self, term: Term) -> frozenset[str]:
        """The coarse body areas a term can lie in."""
        return frozenset().union(*(self.area_of(r) for r in term.places()))

    def choices(self, rid: str) -> list[str]:
        """The site regions a region stands for: itself, or for a grouping its largest site regions."""
        if not self.regions[rid].group:
            return [rid]
        inside = [r for r in self.regions.ids() if not self.regions[r].group and self.regions.within(r, rid)]
        return [r for r in inside if not any(o != r and self.regions.within(r, o) for o in inside)]

    # --- placing ---------------------------------------------------------------------------------------------

    def place(self, name: str, *, region: str | None = None, side: str | None = None) -> Placement:
        """Place a site named ``name``, checked against the region and side the site also gives.

        A region as fine as the name or finer (calf for "gastrocnemius") is kept; a grouping that holds the
        name's region (lower_limb for "gastrocnemius") takes the name's finer region; anything else disagrees.

        Raises:
            VocabularyError: an unknown name (with suggestions from the same body area), a name that needs a
                spinal level or a region, or a name that disagrees with the site's region or side.
        """
        if region is not None and region not in self.regions:
            raise VocabularyError(f"unknown body region {region!r}", field="region")
        parsed = self._parse(name)
        if parsed.key in self._not_sites:
            raise VocabularyError(f"{name!r} is not a muscle: {self._not_sites[parsed.key]}")
        term = self._lookup.get(parsed.key)
        if term is None and "nerve" in name_key(name).split():
            # A nerve written as a muscle would escape the body model's nerve territories (rules/body.yaml).
            raise VocabularyError(
                f"{name!r} names a nerve, not a muscle: give it as the site's nerve "
                "(e.g. nerve 'tibial', technique 'perineural')"
            )
        if term is None:
            raise VocabularyError(self._unknown(name, parsed.key, region))
        if parsed.side and side and parsed.side != side:
            raise VocabularyError(
                f"muscle {name!r} says {parsed.side} but side is {side!r}; correct the muscle or the side",
                field="side",
            )
        side = side or parsed.side
        target, places = self._target(name, term, parsed.level)
        if region is None:
            if target is None:
                raise VocabularyError(self._needs_more(name, term, places))
            return Placement(target, side, term.name)
        if any(self.regions.within(region, p) for p in places):
            return Placement(region, side, term.name)
        finer = [p for p in places if not self.regions[p].group and self.regions.within(p, region)]
        if target in finer or len(finer) == 1:
            return Placement(target if target in finer else finer[0], side, term.name)
        if finer:
            raise VocabularyError(self._needs_more(name, term, finer))
        where = ", ".join(self.regions[p].label for p in places)
        raise VocabularyError(
            f"muscle {name!r} lies in {where}, not in region {region!r} ({self.regions[region].label}) given as "
            "the site's region: correct the muscle or the region",
            field="region",
        )

    def _target(self, name: str, term: Term, level: tuple[int, int] | None) -> tuple[str | None, tuple[str, ...]]:
        if level is None:
            return term.region, term.places()
        if not term.levels:
            raise VocabularyError(f"{term.name!r} takes no spinal level; name it without one, not {name!r}")
        for low, high, rid in term.levels:
            if low <= level <= high:
                return rid, (rid,)
        span = ", ".join(f"{_SEGMENTS[lo[0]]}{lo[1]}-{_SEGMENTS[hi[0]]}{hi[1]}" for lo, hi, _ in term.levels)
        raise VocabularyError(f"no such spinal level for {term.name!r} in {name!r}; its levels are {span}")

    def _needs_more(self, name: str, term: Term, places: Iterable[str]) -> str:
        if term.levels and not term.region:
            low = (2, 4) if any(lo <= (2, 4) <= hi for lo, hi, _ in term.levels) else term.levels[0][0]
            example = f"{term.name} {_SEGMENTS[low[0]]}{low[1]}"
            return f"muscle {name!r} needs a spinal level, e.g. {example!r}, or a region"
        regions = list(dict.fromkeys(r for p in places for r in self.choices(p)))
        return f"{name!r} is not one place; give the site's region: one of {', '.join(regions)}"

    # --- suggestions -----------------------------------------------------------------------------------------

    def suggest(self, name: str, *, region: str | None = None, limit: int = 3) -> list[str]:
        """Vocabulary names near a typed name AND in its body area; never a name from another part of the body.

        With a region given, only names that agree with it or lie in its body area are offered. Without one, the
        best match sets the body area and every suggestion lies wholly in it; when a name from another area
        scores nearly as well, nothing is offered (the area itself is in doubt) and the message asks for the
        region.
        """
        key = self._parse(name).key
        if len(key) < SUGGEST_MIN_LENGTH:
            return []
        scored = Suggester(self._lookup).scored(key, cutoff=SUGGEST_CUTOFF, limit=None)
        hits = [(self._lookup[k], score) for k, score in scored]
        if region is not None and region in self.regions:
            # The site's region sets the body area; names that agree with the region itself come first.
            area = self.area_of(region)
            hits = [(t, s) for t, s in hits if self._agrees(t, region) or self.term_areas(t) <= area]
            hits.sort(key=lambda h: not self._agrees(h[0], region))
        elif hits:
            best_areas = self.term_areas(hits[0][0])
            rivals = [s for t, s in hits if not self.term_areas(t) & best_areas]
            if rivals and max(rivals) > hits[0][1] - SUGGEST_LEAD:
                return []
            hits = [(t, s) for t, s in hits if self.term_areas(t) <= best_areas]
        return list(dict.fromkeys(t.name for t, _ in hits))[:limit]

    def _has_near(self, key: str) -> bool:
        return bool(close(key, list(self._lookup), cutoff=SUGGEST_CUTOFF, limit=1))

    def _agrees(self, term: Term, region: str) -> bool:
        return any(self.regions.within(region, p) or self.regions.within(p, region) for p in term.places())

    def _unknown(self, name: str, key: str, region: str | None) -> str:
        close = self.suggest(name, region=region)
        if close:
            hint = "; did you mean " + " or ".join(repr(c) for c in close) + "?"
        elif len(key) >= SUGGEST_MIN_LENGTH and region is None and self._has_near(key):
            hint = "; names in more than one part of the body are close: give the site's region too"
        else:
            hint = ""
        return f"unknown muscle or site name {name!r}{hint}; or leave the muscle out and give the region"

    # --- loading ---------------------------------------------------------------------------------------------

    @classmethod
    def from_data(cls, data: Any, regions: RegionMap, *, file: str = "vocabulary.yaml") -> Vocabulary:
        """Validate a parsed vocabulary file against the region map.

        Raises:
            RuleFileError: a malformed entry, an unknown or grouping region, a level range out of order, a name
                that two entries share after normalisation, or an entry outside every body area.
        """
        try:
            parsed = _File.model_validate(data)
        except ValidationError as exc:
            err = exc.errors()[0]
            loc = ".".join(str(p) for p in err["loc"] if not (isinstance(p, str) and p.startswith("_")))
            raise RuleFileError(err["msg"], file=file, field=loc or None) from None

        def region_ok(rid: str, field: str, *, group_ok: bool = False) -> None:
            if rid not in regions:
                raise RuleFileError(f"unknown region {rid!r}", file=file, field=field, expected="a region id")
            if regions[rid].group and not group_ok:
                raise RuleFileError(
                    f"{rid!r} is a grouping, not a site region", file=file, field=field, expected="a site region"
                )

        for i, area in enumerate(parsed.areas):
            region_ok(area, f"areas.{i}", group_ok=True)
        level_maps: dict[str, tuple[tuple[tuple[int, int], tuple[int, int], str], ...]] = {}
        for map_name, ranges in parsed.level_maps.items():
            out = []
            for span, rid in ranges.items():
                field = f"level_maps.{map_name}.{span}"
                if not re.fullmatch(_LEVEL_RANGE, span):
                    raise RuleFileError("not a level range", file=file, field=field, expected="e.g. T1-T9")
                low, high = (_level_rank(x) for x in span.split("-"))
                if low > high:
                    raise RuleFileError("level range runs backwards", file=file, field=field)
                region_ok(rid, field)
                out.append((low, high, rid))
            level_maps[map_name] = tuple(sorted(out))
        probe = cls((), regions, areas=parsed.areas, spellings=parsed.spellings)
        terms: list[Term] = []
        seen: dict[str, str] = {}

        def claim(written: str, field: str) -> None:
            key = probe._key(written)
            if not key:
                raise RuleFileError("empty name", file=file, field=field)
            if key in seen:
                raise RuleFileError(f"{written!r} reads the same as {seen[key]!r}", file=file, field=field)
            seen[key] = field

        for name in parsed.not_sites:
            claim(name, f"not_sites.{name}")
        sections: tuple[tuple[Kind, dict[str, str | dict[str, Any]]], ...] = (
            ("muscle", parsed.muscles),
            ("word", parsed.words),
        )
        for kind, section in sections:
            plural = f"{kind}s"
            for name, raw in section.items():
                field = f"{plural}.{name}"
                entry = _entry(raw, file=file, field=field)
                if entry.region is not None:
                    region_ok(entry.region, f"{field}.region")
                for j, rid in enumerate(entry.may_be):
                    region_ok(rid, f"{field}.may_be.{j}", group_ok=True)
                levels: list[tuple[tuple[int, int], tuple[int, int], str]] = []
                for j, map_name in enumerate(entry.levels):
                    if map_name not in level_maps:
                        raise RuleFileError(f"unknown level map {map_name!r}", file=file, field=f"{field}.levels.{j}")
                    levels.extend(level_maps[map_name])
                if entry.region is None and not entry.may_be and not levels:
                    raise RuleFileError("an entry needs a region, may_be or levels", file=file, field=field)
                claim(name, field)
                for j, alias in enumerate(entry.aliases):
                    claim(alias, f"{field}.aliases.{j}")
                term = Term(name, kind, entry.region, tuple(entry.may_be), tuple(levels), tuple(entry.aliases))
                if not probe.term_areas(term):
                    raise RuleFileError("lies in none of the body areas", file=file, field=field)
                terms.append(term)
        return cls(terms, regions, areas=parsed.areas, spellings=parsed.spellings, not_sites=parsed.not_sites)
