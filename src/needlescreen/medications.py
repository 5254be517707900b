"""Medication classes: an entry as written is mapped to the classes the rules read.

Where the knowledge lives:

- ``rules/medications.yaml`` holds the clinical decisions as data: every class a rule reads with the generic
  names of *all* its substances by WHO ATC group (and the group codes), a small supplement of brand names,
  chemotherapy regimens and the drugs they expand to, the classes a local route (gel, eye drops, inhaler)
  discounts, INN stems that mark a risk-class look-alike, and drugs known to need no consideration.
- The drug dictionary of the pinned ``drug-named-entity-recognition`` package (MIT; about 107,000 name
  variants from DrugBank, MeSH, MedlinePlus, NHS and Wikipedia) maps brand names and spelling variants to the
  generic name; the generic name is then classed by ``medications.yaml``. It is read once, lazily, the first
  time an entry is not found in ``medications.yaml``, with an unpickler that refuses every global (plain
  dictionaries, lists and strings only); the package's own module is never imported (it reads a pickle from
  the user's home directory at import).
- ``needlescreen._suggest`` (rapidfuzz) suggests a name for a typo ("did you mean warfarin?").

Safety design (unknown is not no). Each entry gets a :class:`MedicationMatch`. It is *recognised* only when
every substance word in it resolved exactly to a drug. An entry that is not recognised is listed in
``unrecognised`` and sets the fact ``meds.unrecognised`` to yes, which fires the rule MEDICATION_UNRECOGNISED
("confirm X is not an anticoagulant, antiplatelet, immunosuppressant, steroid or chemotherapy", caution). That
single caution stands in for the drug: the class facts are computed from the recognised drugs alone, so an
unknown drug no longer floods the result with every class rule as "missing". This is safe only while that
caution is guaranteed, so:

- ``meds.unrecognised`` is always set (never absent), and any entry with an unknown part sets it;
- the ruleset loader asks :meth:`MedicationClassifier.guarded_by` whether a rule gives at least caution on
  ``meds.unrecognised`` alone; in a ruleset without one (a clinic's own rules) an unrecognised drug keeps
  every class unknown, as before;
- a dictionary drug is accepted as *known with no class* only if no risk stem of ``medications.yaml``
  matches it (a new "-xaban" stays unrecognised until the YAML classes it);
- a fuzzy match is never accepted: the entry stays unrecognised, and a close match to a risk-class drug also
  counts as that class ("warfrin 5 mg" with an INR of 4.1 above no target still refers);
- a class word ("blood thinner", "steroids") leaves its classes unknown rather than no.

An unlisted drug with an INR far above its target (a patient on an unlisted vitamin K antagonist) gives this
caution here; the INR rule reads ``meds.vka``, which stays no, so the unexplained-INR rule of the labs (INR
above the normal range with no anticoagulant listed) is the one that refers.
"""

from __future__ import annotations

import bz2
import importlib.util
import io
import pickle
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ._suggest import Suggester
from .conditions import Truth, evaluate
from .errors import EngineError, RuleFileError
from .medparse import parse_entry

__all__ = ["MedicationClassifier", "MedicationMatch", "did_you_mean", "drug_dictionary", "normalise_name"]


def _shared_start(a: str, b: str) -> int:
    """How many letters two words share at their start."""
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


_ATC = r"^[A-Z][0-9]{2}([A-Z]([A-Z]([0-9]{2})?)?)?$"
_DICTIONARY_PACKAGE = "drug_named_entity_recognition"
_DICTIONARY_FILE = "drug_ner_dictionary.pkl.bz2"
# Salt, ester and hydrate words left after a substance name ("atorvastatin calcium", "enoxaparin sodium").
_SALT_WORDS = (
    "sodium potassium calcium magnesium hydrochloride hcl hydrobromide hbr mesylate mesilate maleate besylate "
    "besilate succinate tartrate bitartrate citrate fumarate sulfate sulphate phosphate acetate bromide chloride "
    "dihydrate monohydrate trihydrate hemihydrate anhydrous etexilate medoxomil axetil pivoxil propionate "
    "dipropionate valerate furoate butyrate lysine arginine trometamol meglumine disodium dipotassium hyclate "
    "hydroxide carbonate oxide gluconate lactate bicarbonate xinafoate estolate ethylsuccinate stearate pamoate "
    "embonate decanoate enanthate cypionate palmitate acid salt base free "
)
_SALTS = frozenset(_SALT_WORDS.split())
_FUZZY_CUTOFF = 85.0
_RISK_FUZZY_CUTOFF = 80.0
_FUZZY_MIN_LENGTH = 4
_MIN_REGIMEN_IN_TEXT = 4
_CACHE_SIZE = 20_000


class _ClassSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)
    label: str = Field(min_length=1)
    atc: list[str] = []
    names: list[str] = []
    brands: dict[str, str] = {}


class _OtherSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)
    names: list[str] = []
    atc: list[str] = []


class _MedFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)
    schema_: str = Field(alias="schema", pattern=r"^needlescreen\.medications/1$")
    classes: dict[str, _ClassSpec]
    antithrombotic_classes: list[str]
    systemic_only: list[str] = []
    regimens: dict[str, list[str]] = {}
    class_words: dict[str, list[str]] = {}
    risk_stems: list[str] = []
    recognised_other: _OtherSpec = _OtherSpec()


_NON_ALNUM = re.compile(r"[^a-z0-9]+")


def normalise_name(name: str) -> str:
    """Case- and spacing-insensitive key for a drug name ("Low-dose  Aspirin" -> "low dose aspirin")."""
    low = name.lower()
    # Most names are already plain (the dictionary's 107,000 variants are normalised once, at load).
    if low.isascii() and low.replace(" ", "").isalnum() and "  " not in low and low.strip() == low:
        return low
    return " ".join(_NON_ALNUM.sub(" ", low).split())


def _compact(key: str) -> str:
    return key.replace(" ", "")


class _NoGlobals(pickle.Unpickler):
    """Plain data only: a pickle that names any class or function is refused."""

    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"refused global {module}.{name} in the drug dictionary")


@dataclass(frozen=True, slots=True)
class DrugDictionary:
    """Name variants (normalised) to one generic name, from the drug dictionary package."""

    canonical: Mapping[str, str]
    version: str


def _is_drug(data: Mapping[str, Any]) -> bool:
    """A drug, not a category: MeSH terms only under D27 (pharmacologic actions) are classes of drugs."""
    if any(k in data for k in ("drugbank_id", "medline_plus_id", "nhs_url", "wikipedia_url")):
        return True
    trees = data.get("mesh_tree") or []
    return bool(trees) and not all(str(t).startswith("D27") for t in trees)


@cache
def drug_dictionary() -> DrugDictionary:
    """Load the drug dictionary once per process (about 0.4 s), without importing its package.

    Raises:
        EngineError: the pinned package ``drug-named-entity-recognition`` is not installed or its data is
            not plain data (screening must not go on with a silently smaller vocabulary).
    """
    spec = importlib.util.find_spec(_DICTIONARY_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec else []
    if not locations:
        raise EngineError("the drug dictionary package drug-named-entity-recognition is not installed")
    path = Path(locations[0]) / _DICTIONARY_FILE
    try:
        raw = bz2.decompress(path.read_bytes())
        data = _NoGlobals(io.BytesIO(raw)).load()
        variants: Mapping[str, list[str]] = data["drug_variant_to_canonical"]
        about: Mapping[str, Mapping[str, Any]] = data["drug_canonical_to_data"]
    except (OSError, pickle.UnpicklingError, KeyError, TypeError, EOFError, ValueError) as exc:
        raise EngineError(f"cannot read the drug dictionary {path}: {exc}") from None
    drugs = {c for c, d in about.items() if isinstance(d, dict) and _is_drug(d)}
    canonical: dict[str, str] = {}
    for variant, targets in variants.items():
        target = targets[0] if targets else None
        if target in drugs:
            canonical.setdefault(normalise_name(variant), target)
    for c in drugs:
        canonical.setdefault(normalise_name(c), c)
    canonical.pop("", None)
    try:
        from importlib.metadata import version

        ver = version("drug-named-entity-recognition")
    except Exception:
        ver = "unknown"
    return DrugDictionary(canonical=canonical, version=ver)


@dataclass(frozen=True, slots=True)
class MedicationMatch:
    """What one medication entry was read as.

    Attributes:
        entry: the entry as written.
        substances: generic names found (a regimen gives its drugs).
        classes: classes the entry surely belongs to (after a local route discounts systemic-only classes).
        uncertain: classes it may belong to but cannot be decided ("blood thinner"): those read unknown.
        recognised: every substance word resolved exactly; False sends the entry to verification.
        suggestion: a did-you-mean for a word that did not resolve, or None.
        route, strength, frequency: as parsed (see :func:`needlescreen.medparse.parse_entry`).
    """

    entry: str
    substances: tuple[str, ...]
    classes: frozenset[str]
    uncertain: frozenset[str]
    recognised: bool
    suggestion: str | None = None
    route: str | None = None
    strength: str | None = None
    frequency: str | None = None


@dataclass(slots=True)
class _Resolved:
    substances: list[str] = field(default_factory=list)
    classes: set[str] = field(default_factory=set)
    uncertain: set[str] = field(default_factory=set)
    unknown: list[str] = field(default_factory=list)
    # Class words ("blood thinner") and their classes, settled once the whole entry is read.
    vague: list[tuple[str, frozenset[str]]] = field(default_factory=list)

    def add(self, other: _Resolved) -> None:
        self.substances += other.substances
        self.classes |= other.classes
        self.uncertain |= other.uncertain
        self.unknown += [w for w in other.unknown if w not in self.unknown]
        self.vague += other.vague


@dataclass(frozen=True, slots=True)
class MedicationClassifier:
    """Maps a medication entry (and an optional ATC code) to the classes it belongs to."""

    classes: tuple[str, ...]
    labels: dict[str, str]
    antithrombotic: frozenset[str]
    systemic_only: frozenset[str]
    _by_name: dict[str, tuple[str, frozenset[str]]]
    _by_atc: tuple[tuple[str, str | None], ...]
    _by_name_compact: dict[str, str]
    _regimens: dict[str, tuple[str, ...]]
    _class_words: dict[str, frozenset[str]]
    _stems: tuple[str, ...]
    _other: frozenset[str]
    #: A rule of the ruleset stands in for an unrecognised drug (see :meth:`guarded_by`).
    guarded: bool = False
    # Caches: filled on use (a plain dict write is atomic, so threads need no lock; a Ruleset still pickles).
    _cache: dict[tuple[str, str | None], MedicationMatch] = field(default_factory=dict, compare=False, repr=False)
    _vocab: dict[str, Suggester] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_data(cls, data: Any, *, file: str = "medications.yaml") -> MedicationClassifier:
        """Validate a parsed medications file."""
        try:
            parsed = _MedFile.model_validate(data)
        except ValidationError as exc:
            err = exc.errors()[0]
            raise RuleFileError(err["msg"], file=file, field=".".join(str(p) for p in err["loc"])) from None
        by_name: dict[str, tuple[str, set[str]]] = {}
        by_atc: list[tuple[str, str | None]] = []

        def add(name: str, substance: str, cname: str | None) -> None:
            key = normalise_name(name)
            entry = by_name.setdefault(key, (normalise_name(substance), set()))
            if cname:
                entry[1].add(cname)

        for cname, spec in parsed.classes.items():
            if not re.fullmatch(r"[a-z][a-z0-9_]*", cname):
                raise RuleFileError("class names are lower_snake_case", file=file, field=f"classes.{cname}")
            for code in spec.atc:
                if not re.fullmatch(_ATC, code):
                    raise RuleFileError(f"not an ATC code: {code!r}", file=file, field=f"classes.{cname}.atc")
                by_atc.append((code, cname))
            for n in spec.names:
                add(n, n, cname)
        for cname, spec in parsed.classes.items():
            for brand, generic in spec.brands.items():
                if normalise_name(generic) not in by_name or cname not in by_name[normalise_name(generic)][1]:
                    raise RuleFileError(
                        f"brand {brand!r} names {generic!r}, which is not a substance of this class",
                        file=file,
                        field=f"classes.{cname}.brands",
                    )
                add(brand, generic, cname)
        for n in parsed.recognised_other.names:
            by_name.setdefault(normalise_name(n), (normalise_name(n), set()))
        for code in parsed.recognised_other.atc:
            if not re.fullmatch(_ATC, code):
                raise RuleFileError(f"not an ATC code: {code!r}", file=file, field="recognised_other.atc")
            by_atc.append((code, None))
        known = set(parsed.classes)
        for fld, named in (
            ("antithrombotic_classes", set(parsed.antithrombotic_classes)),
            ("systemic_only", set(parsed.systemic_only)),
            ("class_words", {c for cs in parsed.class_words.values() for c in cs}),
        ):
            if named - known:
                raise RuleFileError(f"unknown classes {sorted(named - known)}", file=file, field=fld)
        regimens: dict[str, tuple[str, ...]] = {}
        for rname, drugs in parsed.regimens.items():
            missing = [d for d in drugs if normalise_name(d) not in by_name]
            if missing or not drugs:
                raise RuleFileError(
                    f"regimen drugs must be named in medications.yaml: {missing}", file=file, field=f"regimens.{rname}"
                )
            regimens[_compact(normalise_name(rname))] = tuple(normalise_name(d) for d in drugs)
        # Longest prefix first, so a substance code wins over its class code.
        by_atc.sort(key=lambda item: -len(item[0]))
        return cls(
            classes=tuple(parsed.classes),
            labels={k: v.label for k, v in parsed.classes.items()},
            antithrombotic=frozenset(parsed.antithrombotic_classes),
            systemic_only=frozenset(parsed.systemic_only),
            _by_name={k: (s, frozenset(v)) for k, (s, v) in by_name.items()},
            _by_atc=tuple(by_atc),
            _by_name_compact={_compact(k): k for k in by_name},
            _regimens=regimens,
            _class_words={normalise_name(k): frozenset(v) for k, v in parsed.class_words.items()},
            _stems=tuple(normalise_name(s) for s in parsed.risk_stems),
            _other=frozenset(normalise_name(n) for n in parsed.recognised_other.names),
        )

    # -- the rule that must exist for the design above to be safe ---------------------------------------------

    def guarded_by(self, rules: Iterable[Any]) -> MedicationClassifier:
        """This classifier, told whether ``rules`` stand in for an unrecognised drug.

        Class facts may ignore an unrecognised drug only while a patient rule gives at least caution on
        ``meds.unrecognised`` alone. A ruleset without one (a clinic's own rules) gets the cautious reading:
        an unrecognised drug leaves every class unknown.
        """
        guard = any(
            r.scope == "patient"
            and r.verdict in ("caution", "refer")
            and evaluate(r.condition, {"meds.unrecognised": "yes"}) is Truth.TRUE
            for r in rules
        )
        return replace(self, guarded=guard)

    # -- one entry -----------------------------------------------------------------------------------------

    def _exact(self, key: str) -> tuple[str, frozenset[str]] | None:
        hit = self._by_name.get(key)
        if hit is None:
            alias = self._by_name_compact.get(_compact(key))
            hit = self._by_name.get(alias) if alias else None
        return hit

    def _substance_classes(self, generic: str) -> tuple[frozenset[str], bool]:
        """Classes of a dictionary generic name and whether it is safe to call it known.

        A combination ("acetylsalicylic acid/dipyridamole") is classed part by part; a part that is not in
        ``medications.yaml`` is known with no class unless a risk stem matches it.
        """
        found: set[str] = set()
        safe = True
        for part in re.split(r"\s*/\s*|\s*,\s*(?:and\s+)?|\s+and\s+", generic.lower()):
            key = normalise_name(part)
            if not key:
                continue
            hit = self._exact(key)
            if hit is None:
                words = [w for w in key.split() if w not in _SALTS]
                hit = self._exact(" ".join(words)) if words else None
            if hit is None:
                sub = self._scan(key, use_dictionary=False)
                if sub.substances and not sub.unknown:
                    found |= sub.classes
                    continue
            if hit is not None:
                found |= hit[1]
                continue
            if self._looks_risky(key):
                safe = False
        return frozenset(found), safe

    def _looks_risky(self, key: str) -> bool:
        """A name ending in an INN stem of a risk group that ``recognised_other`` does not clear."""
        return key not in self._other and any(w.endswith(s) for w in key.split() for s in self._stems)

    def _phrase(self, key: str, *, use_dictionary: bool, whole: bool = True) -> _Resolved | None:
        """Resolve a phrase exactly, or None. Inside a longer part (``whole`` False) a short regimen name is
        not read ("metformin ac" is before meals, not doxorubicin and cyclophosphamide)."""
        hit = self._exact(key)
        if hit is not None:
            return _Resolved([hit[0]], set(hit[1]))
        regimen = self._regimens.get(_compact(key))
        if regimen is not None and (whole or len(_compact(key)) >= _MIN_REGIMEN_IN_TEXT):
            res = _Resolved()
            for drug in regimen:
                sub, classes = self._by_name[drug]
                res.substances.append(sub)
                res.classes |= classes
            return res
        words = self._class_words.get(key)
        if words is not None:
            return _Resolved(vague=[(key, words)])
        if use_dictionary:
            generic = drug_dictionary().canonical.get(key)
            if generic is not None:
                classes, safe = self._substance_classes(generic)
                res = _Resolved([normalise_name(generic)], set(classes))
                # The name as written counts too: "seliciclib" is filed under "roscovitine".
                if not safe or (not classes and self._looks_risky(key)):
                    res.unknown.append(key)
                return res
        return None

    def _scan(self, key: str, *, use_dictionary: bool = True) -> _Resolved:
        """Longest known phrases left to right; words nothing explains are collected as unknown."""
        words = key.split()
        res = _Resolved()
        i = 0
        while i < len(words):
            for n in range(min(5, len(words) - i), 0, -1):
                phrase = " ".join(words[i : i + n])
                got = self._phrase(phrase, use_dictionary=False, whole=False)
                if got is None and use_dictionary:
                    got = self._phrase(phrase, use_dictionary=True, whole=False)
                if got is not None:
                    res.add(got)
                    i += n
                    break
            else:
                if words[i] not in _SALTS:
                    res.unknown.append(words[i])
                i += 1
        return res

    def _fuzzy(self, word: str) -> tuple[str | None, frozenset[str]]:
        """A did-you-mean for an unknown word, and the classes of a close risk-class name.

        Letters in the wrong order count as one slip per swap (``_suggest``): "xeralto" is read as Xarelto's
        class, as "warfrin" is read as warfarin's.
        """
        if len(word) < _FUZZY_MIN_LENGTH:
            return None, frozenset()
        risk_names, all_names = self._vocabularies()
        risky = self._nearest(risk_names, word, _RISK_FUZZY_CUTOFF)
        if risky is not None:
            return self._display(risky), self._name_classes(risky)
        best = self._nearest(all_names, word, _FUZZY_CUTOFF)
        return (self._display(best) if best else None), frozenset()

    def _nearest(self, names: Suggester, word: str, cutoff: float) -> str | None:
        """The nearest name; of names equally near, the one that begins as the word does, then one this ruleset
        lists, before the alphabet: people get the first letters right ("letrazole" is letrozole, not leptazole,
        an old name of pentylenetetrazole; "ritux" is Rituxan, not Erbitux)."""
        hits = names.scored(word, cutoff=cutoff, limit=None)
        if not hits:
            return None
        tied = [name for name, sc in hits if sc == hits[0][1]]
        return min(tied, key=lambda name: (-_shared_start(word, name), name not in self._by_name))

    def _display(self, name: str) -> str:
        """The generic name behind a known name ("sertralina" -> "sertraline")."""
        hit = self._by_name.get(name)
        if hit is not None:
            return hit[0]
        return normalise_name(drug_dictionary().canonical.get(name, name))

    def _vocabularies(self) -> tuple[Suggester, Suggester]:
        """Names a typo is compared with: every risk-class name (with the dictionary's brands of class
        drugs), and every known single-word name. Built once, on the first typo."""
        if "risk" not in self._vocab:
            canonical = drug_dictionary().canonical
            risk = {k for k, (_, classes) in self._by_name.items() if classes}
            everything = set(self._by_name) | {k for k in canonical if " " not in k}
            for variant, generic in canonical.items():
                hit = self._by_name.get(normalise_name(generic))
                if hit is not None and hit[1] and " " not in variant:
                    risk.add(variant)
            self._vocab["all"] = Suggester(sorted(everything))
            self._vocab["risk"] = Suggester(sorted(risk))
        return self._vocab["risk"], self._vocab["all"]

    def _name_classes(self, name: str) -> frozenset[str]:
        got = self._phrase(name, use_dictionary=True)
        return frozenset(got.classes) if got else frozenset()

    def match(self, entry: str, atc: str | None = None) -> MedicationMatch:
        """Read one entry (cached: the same text is parsed once per process)."""
        key = (entry, atc)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        result = self._match(entry, atc)
        if len(self._cache) > _CACHE_SIZE:
            self._cache.clear()
        self._cache[key] = result
        return result

    def _match(self, entry: str, atc: str | None) -> MedicationMatch:
        parsed = parse_entry(entry)
        res = _Resolved()
        # A name that holds a separator ("R-CHOP", "AC", "co-codamol") is tried whole first, without the
        # dictionary; an entry left with no substance word ("AC" is also "before meals") is tried as written.
        whole_text = " ".join(parsed.parts) if parsed.parts else normalise_name(parsed.text)
        whole = self._phrase(normalise_name(whole_text), use_dictionary=False) if whole_text else None
        if whole is not None and (len(parsed.parts) != 1):
            res = whole
        else:
            for part in parsed.parts:
                got = self._phrase(normalise_name(part), use_dictionary=True) or self._scan(normalise_name(part))
                res.add(got)
        for note in parsed.notes:
            got = self._phrase(normalise_name(note), use_dictionary=True) or self._scan(normalise_name(note))
            # A note that names no drug ("for AF") is a comment once the entry itself was recognised.
            if not got.substances and res.substances:
                got.unknown = []
            res.add(got)
        # "Chemo (FOLFOX)": a class word is settled by a named drug of its class; otherwise the drug is
        # unnamed, so it is verified, and its classes are yes (one class) or undecided (several).
        unnamed: list[str] = []
        for word, classes in res.vague:
            if classes & res.classes:
                continue
            unnamed.append(word)
            if len(classes) == 1:
                res.classes |= classes
            else:
                res.uncertain |= classes
        recognised_by_code = False
        if atc:
            code = atc.upper()
            for prefix, cname in self._by_atc:
                if code.startswith(prefix):
                    recognised_by_code = True
                    if cname:
                        res.classes.add(cname)
                    break
        suggestion = None
        for word in res.unknown:
            guess, classes = self._fuzzy(word)
            res.classes |= classes
            suggestion = suggestion or guess
        res.unknown += unnamed
        if not res.substances and not res.unknown and not recognised_by_code:
            res.unknown.append(parsed.text or "(empty)")
        recognised = not res.unknown or (recognised_by_code and not res.substances)
        if parsed.local:
            res.classes -= self.systemic_only
            res.uncertain -= self.systemic_only
        return MedicationMatch(
            entry=entry,
            substances=tuple(dict.fromkeys(res.substances)),
            classes=frozenset(res.classes),
            uncertain=frozenset(res.uncertain - res.classes),
            recognised=recognised,
            suggestion=suggestion,
            route=parsed.route,
            strength=parsed.strength,
            frequency=parsed.frequency,
        )

    # -- the interface the facts use -------------------------------------------------------------------------

    def classify(self, name: str, atc: str | None) -> frozenset[str] | None:
        """Classes of one medication, or ``None`` when it is not fully recognised."""
        m = self.match(name, atc)
        return m.classes if m.recognised else None

    def classify_all(self, meds: Iterable[tuple[str, str | None]]) -> tuple[dict[str, int], frozenset[str], list[str]]:
        """Count the distinct drugs listed per class, the classes left undecided, and the entries to verify.

        A drug listed twice ("warfarin 5 mg", "Coumadin") counts once; a combination ("clopidogrel/aspirin")
        counts each of its drugs in its own class, so two blood thinners in one tablet are two.
        """
        members: dict[str, set[str]] = {c: set() for c in self.classes}
        uncertain: set[str] = set()
        unrecognised: list[str] = []
        for name, atc in meds:
            m = self.match(name, atc)
            placed: set[str] = set()
            for substance in m.substances:
                own = self.match(substance).classes & m.classes  # the entry's route may discount a class
                for c in own:
                    members[c].add(substance)
                placed |= own
            for c in m.classes - placed:  # a class known from a code, a class word or a look-alike only
                members[c].add(f"entry:{normalise_name(name)}")
            uncertain |= m.uncertain
            if not m.recognised:
                unrecognised.append(name)
        return {c: len(v) for c, v in members.items()}, frozenset(uncertain), unrecognised

    def unrecognised(self, meds: Iterable[tuple[str, str | None]]) -> list[dict[str, Any]]:
        """Each entry not recognised, with its did-you-mean and the classes it is read as (result data).

        The readings are those :meth:`classify_all` counted (cached), so the result shows what the rules read.
        """
        out: list[dict[str, Any]] = []
        for name, atc in meds:
            m = self.match(name, atc)
            if not m.recognised:
                out.append(
                    {
                        "entry": name,
                        "did_you_mean": m.suggestion,
                        "read_as": sorted(m.classes),
                        "undecided": sorted(m.uncertain),
                    }
                )
        return out


@cache
def _bundled() -> MedicationClassifier:
    from . import _bundled as bundled
    from . import _yaml

    path = bundled.rules_dir() / "medications.yaml"
    return MedicationClassifier.from_data(_yaml.load(path.read_text(encoding="utf-8")), file=str(path))


def did_you_mean(entry: str) -> str | None:
    """A likely intended drug name for an unrecognised entry (from the bundled vocabulary), or None."""
    return _bundled().match(entry).suggestion
