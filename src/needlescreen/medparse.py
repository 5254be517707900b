"""Reading a medication entry as people write it: substance words, strength, route and frequency.

"Coumadin (warfarin) 5mg po daily", "apixaban 5 mg bid", "clopidogrel/aspirin", "diclofenac gel 1% tds":
the parser takes the instruction words out (strength, dose form, route, frequency) and splits combinations,
so that only the words that may name a substance are left for the classifier. It knows no drug names; what a
word means is the classifier's business (``medications.py``).

A route is *local* (gel, cream, eye drops, inhaler, nasal spray ...) only when the entry says so; a local
route lets the ruleset discount systemic-only classes (a diclofenac gel is not a systemic NSAID). Patches,
suppositories and injections are systemic: their drugs reach the blood.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["LOCAL_ROUTES", "ParsedEntry", "normalise_text", "parse_entry"]

#: Routes whose drug acts where it is applied (a systemic-only class does not apply).
LOCAL_ROUTES: frozenset[str] = frozenset({"topical", "ophthalmic", "otic", "nasal", "inhaled", "vaginal", "oral_local"})

# Words that name a route or a dose form, by the route they imply ("" when they imply none: a spray or drops
# is local only with a place, "nasal spray", "eye drops"; oral drops exist).
_ROUTES: dict[str, str] = {
    "topical": "gel gels cream creams ointment oint lotion emulgel foam topical topically top shampoo paint varnish"
    " cutaneous dermal skin",
    "ophthalmic": "ophthalmic eye eyes intravitreal",
    "otic": "otic ear ears",
    "nasal": "nasal intranasal nose",
    "inhaled": "inhaler inhalers inhaled inhalation inh puff puffs mdi dpi nebuliser nebulizer nebs neb turbuhaler"
    " accuhaler diskus evohaler handihaler respimat",
    "vaginal": "vaginal pessary pessaries pv",
    "oral_local": "mouthwash gargle lozenge lozenges",
    "oral": "po oral orally tablet tablets tab tabs capsule capsules cap caps pill pills sachet sachets syrup elixir"
    " suspension liquid sublingual sl chewable dispersible effervescent odt",
    "parenteral": "iv im sc sq subcut subcutaneous intravenous intramuscular injection injections inj infusion"
    " injectable pen prefilled syringe vial ampoule depot intraarticular",
    "transdermal": "patch patches transdermal td",
    "rectal": "suppository suppositories supp pr rectal enema",
    "": "solution soln drop drops spray sprays",
}
_ROUTE_WORDS: dict[str, str] = {w: route for route, words in _ROUTES.items() for w in words.split()}

_FREQUENCY: dict[str, str] = {
    w: label
    for label, words in {
        "once daily": "od qd daily once",
        "in the morning": "mane qam",
        "in the evening": "qpm",
        "at night": "nocte qhs hs nightly bedtime",
        "twice daily": "bid bd twice",
        "three times daily": "tid tds",
        "four times daily": "qid qds",
        "as needed": "prn",
        "weekly": "weekly",
        "monthly": "monthly",
        "once": "stat",
        "alternate days": "alternate eod",
        "every two weeks": "fortnightly",
    }.items()
    for w in words.split()
}

# Instruction and packaging words that say nothing about the substance.
_NOISE_WORDS = (
    "a an the of at in on per by to x as when if needed required day days daily a.m am pm morning evening night "
    "week weeks month months year years hour hours hrs hr h times time every each other one two three four half "
    "quarter take takes taking taken use used using apply applied applies give given dose doses dosage mg mcg ug "
    "µg g gm gram grams kg ml l iu units unit u mmol meq mg/ml % percent strength er xr sr xl la cr dr ec mr cd "
    "ir ds es hct extended release delayed modified immediate controlled sustained slow retard enteric coated "
    "film low high regular extra maximum max plus forte mite generic brand otc prescription rx script only with "
    "food meals meal before after breakfast lunch dinner supper empty stomach water current currently now still "
    "since ongoing continue continued long term usual usually sometimes occasionally approx about around up cycle "
    "cycles course regimen protocol ac pc pack dosepak see per directed instructed varies vary variable sliding "
    "scale clinic inr level levels monitored "
    "mon tue tues wed thu thur thurs fri sat sun monday tuesday wednesday thursday friday saturday sunday "
    "alternating bridging bridge flush taper tapering starter titrating titration "
    # chemotherapy and infusion charts: "bolus then 2400 mg/m2 over 46 h", "loading dose", "AUC 5"
    "bolus loading load maintenance then over min mins minute minutes continuous continuously auc target "
)
_NOISE: frozenset[str] = frozenset(_NOISE_WORDS.split())
# Words after which the rest is a note (an indication or comment), not a substance.
_NOTE_START: frozenset[str] = frozenset(
    {"for", "because", "due", "re", "indication", "started", "stopped", "since", "see", "per", "note"}
)
# A word that is only a quantity, a strength or a schedule (5mg, 2x, 1-0-1, q8h, 1/2, 500/125).
_QUANTITY = re.compile(
    r"^(?:[0-9]+(?:[.,][0-9]+)?(?:[-/x][0-9]+(?:[.,][0-9]+)?)*[a-zµ%/]*|q[0-9]+h|x[0-9]+|[0-9]+x|[0-9]+(?:st|nd|rd|th)|q[0-9]+[hdw])$"
)
# A dose by body size or rate is still a strength: "80 mg/m2", "1 mg/kg", "0.1 mcg/kg/min", "25 mcg/h",
# "18 units/kg/h"; a range ("4-6 units") is one strength.
_NUMBER = r"[0-9]+(?:[.,][0-9]+)?"
_PER = r"(?:\s*/\s*(?:m2|kg|min|h|hr|hour|24\s*h|day|d|dose|wk|week|[0-9.]*\s*ml))*"
_STRENGTH = re.compile(
    rf"(?<![a-z0-9.,])({_NUMBER}(?:\s*/\s*{_NUMBER})*(?:\s*(?:-|to)\s*{_NUMBER})?)\s*"
    rf"(mcg|µg|ug|mg|g|ml|iu|units?|mmol|meq|%)({_PER})(?![a-z0-9])"
)
# Carboplatin is dosed to a target area under the curve ("AUC5", "AUC 6", "AUC=5"), not in mg.
_AUC = re.compile(rf"\bauc\s*[=:]?\s*({_NUMBER})(?![0-9])")
_GLUED = re.compile(r"([a-z]{3,})([0-9]+(?:[.,][0-9]+)?(?:mg|mcg|g|ml|iu|units?|%))\b")
# Slashed route abbreviations are one word, not a combination of two substances.
_ROUTE_SLASHED = re.compile(r"\b(?:s/c|i/v|i/m|s/l)\b")
_ROUTE_SLASHED_AS = {"s/c": "subcut", "i/v": "iv", "i/m": "im", "s/l": "sublingual"}
_SPLIT = re.compile(r"\s*(?:/|\+|&|,|;|\band\b|\bwith\b|\bplus\b)\s*")
_WORD = re.compile(r"[a-z0-9µ%][a-z0-9µ%.'/-]*")


@dataclass(frozen=True, slots=True)
class ParsedEntry:
    """One medication entry taken apart.

    Attributes:
        text: the entry normalised (lower case, plain spacing), as the classifier sees it whole.
        parts: the substance phrases, one per component of a combination ("clopidogrel/aspirin" has two);
            each phrase keeps only the words that may name a substance, in their order.
        notes: parenthesised text ("Coumadin (warfarin)" gives "warfarin"): may name the substance again.
        strength: the first strength written ("5 mg"), or None.
        route: the route the entry names ("oral", "topical", "inhaled" ...), or None when it names none.
        frequency: the schedule in words ("twice daily"), or None.
    """

    text: str
    parts: tuple[str, ...]
    notes: tuple[str, ...]
    strength: str | None
    route: str | None
    frequency: str | None

    @property
    def local(self) -> bool:
        """The entry names a local route: its drug acts where it is applied."""
        return self.route in LOCAL_ROUTES


def normalise_text(text: str) -> str:
    """Lower case, compatibility-normalised, trademark signs dropped, spacing collapsed."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = re.sub(r"[®™©]", " ", text)
    text = text.replace("\u2019", "'").replace("\u2013", "-").replace("\u2014", "-")
    return " ".join(text.split())


def _route_of(words: list[str]) -> str | None:
    route: str | None = None
    for i, w in enumerate(words):
        r = _ROUTE_WORDS.get(w)
        if w in ("drop", "drops", "spray", "sprays") and i > 0:
            r = _ROUTE_WORDS.get(words[i - 1]) or r
        if w == "mouth" and i > 0 and words[i - 1] == "by":
            r = "oral"
        # A systemic word wins over a local one: an entry is local only when nothing says otherwise.
        if r and (route is None or (route in LOCAL_ROUTES and r not in LOCAL_ROUTES)):
            route = r
    return route


def _substance_words(segment: str, *, first: bool = True) -> str:
    """Keep the words that may name a substance, stopping at a note ("for pain", "see clinic")."""
    kept: list[str] = []
    for raw in _WORD.findall(segment):
        w = raw.strip(".'-/")
        if not w:
            continue
        if w in _NOTE_START and (kept or not first):
            break
        if w in _NOISE or w in _FREQUENCY or w in _ROUTE_WORDS or _QUANTITY.match(w):
            continue
        if w in ("by", "mouth"):
            continue
        kept.append(w)
    return " ".join(kept)


_COUNT = {"one": "1", "two": "2", "three": "3", "four": "4", "once": "1", "twice": "2", "thrice": "3"}
_TIMES_DAILY = {"1": "once daily", "2": "twice daily", "3": "three times daily", "4": "four times daily"}
_N = r"([0-9]+|one|two|three|four)"


def _every(n: str, unit: str) -> str:
    n = _COUNT.get(n, n)
    if n == "1":
        return {"hour": "hourly", "day": "once daily", "week": "weekly"}[unit]
    return f"every {n} {unit}s"


def _days(spec: str) -> str:
    numbers = re.findall(r"[0-9]+", spec)
    if len(numbers) == 1:
        return f"day {numbers[0]}"
    if re.search(r"[0-9]\s*(?:-|to)\s*d?(?:ay)?\s*[0-9]", spec) and len(numbers) == 2:
        return f"days {numbers[0]}-{numbers[1]}"
    return "days " + ", ".join(numbers[:-1]) + f" and {numbers[-1]}"


_DAY_LIST = r"[0-9]{1,2}(?:\s*(?:-|to|,|&|\+|and)\s*(?:d|day)?\s*[0-9]{1,2})*"
# Schedules written as phrases, read before the words: each is taken out of the substance words. A cycle day
# is "day 1", "days 1 and 8", "d1-14", "d1,8", "C3D1"; a lone "d3" is a day only where it cannot be vitamin D3.
_SCHEDULES: tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], str]], ...] = (
    (re.compile(r"\bc[0-9]{1,2}\s*d([0-9]{1,2})\b"), lambda m: f"day {m[1]}"),
    (re.compile(rf"\b(?:on\s+)?(?:days?|d)\s*({_DAY_LIST})\b"), lambda m: _days(m[1])),
    (re.compile(r"\bx\s*([1-4])\s*(?:/|per|a)\s*(?:day|d)\b"), lambda m: _TIMES_DAILY[m[1]]),
    (
        re.compile(r"\b([1-4]|one|two|three|four|once|twice|thrice)\s*(?:x|times)?\s*(?:/|per|a)?\s*(?:day|daily)\b"),
        lambda m: _TIMES_DAILY[_COUNT.get(m[1], m[1])],
    ),
    (re.compile(r"\bevery\s+other\s+(day|week)\b"), lambda m: "alternate days" if m[1] == "day" else "every 2 weeks"),
    (re.compile(rf"\b(?:q|every)\s*{_N}?\s*(?:h|hr|hrs|hours?)\b"), lambda m: _every(m[1] or "1", "hour")),
    (re.compile(rf"\b(?:q|every)\s*{_N}?\s*(?:d|days?)\b"), lambda m: _every(m[1] or "1", "day")),
    (re.compile(rf"\b(?:q|every)\s*{_N}?\s*(?:w|wk|wks|weeks?)\b"), lambda m: _every(m[1] or "1", "week")),
    (re.compile(rf"\b{_N}\s*-?\s*weekly\b"), lambda m: _every(m[1], "week")),
)


def _schedule(text: str) -> tuple[list[tuple[int, str]], str]:
    """The schedule phrases of ``text`` by position, and the text without them."""
    found: list[tuple[int, str]] = []
    for pattern, label in _SCHEDULES:

        def take(m: re.Match[str], label: Callable[[re.Match[str]], str] = label) -> str:
            if re.search(r"\bvit(?:amin)?\.?\s*$", m.string[: m.start()]):
                return m[0]  # "vitamin d3" names a vitamin, not day 3
            found.append((m.start(), label(m)))
            return " " * len(m[0])

        text = pattern.sub(take, text)
    return found, text


def parse_entry(entry: str) -> ParsedEntry:
    """Take one medication entry apart (pure; never raises)."""
    # A strength glued to a name ("Eliquis5mg") is a strength all the same; "s/c", "i/v" and "i/m" are one word.
    text = _GLUED.sub(r"\1 \2", normalise_text(entry))
    text = _ROUTE_SLASHED.sub(lambda m: _ROUTE_SLASHED_AS[m[0]], text)
    notes = tuple(n for n in (_substance_words(m) for m in re.findall(r"[(\[]([^)\]]*)[)\]]", text)) if n)
    main = re.sub(r"[(\[][^)\]]*[)\]]?", " ", text)
    written = sorted(
        [(m.start(), f"{m[1].replace(' ', '')} {m[2]}{m[3].replace(' ', '')}") for m in _STRENGTH.finditer(text)]
        + [(m.start(), f"AUC {m[1]}") for m in _AUC.finditer(text)]
    )
    strength = written[0][1] if written else None
    # Strengths hold "/" and "," ("30/500 mg", "2,5 mg", "80 mg/m2"): remove them before splitting combinations.
    bare = _AUC.sub(" ", _STRENGTH.sub(" ", text))
    main = _AUC.sub(" ", _STRENGTH.sub(" ", main))
    phrases, bare = _schedule(bare)
    _, main = _schedule(main)
    words = _WORD.findall(text)
    route = _route_of([w.strip(".'-/") for w in words])
    at = 0
    for w in _WORD.findall(bare):
        at = bare.index(w, at)
        if w in _FREQUENCY:
            phrases.append((at, _FREQUENCY[w]))
        at += len(w)
    labels = [label for _, label in sorted(phrases)]
    frequency = ", ".join(dict.fromkeys(labels)) or None
    segments = _SPLIT.split(main)
    parts = tuple(p for p in (_substance_words(seg, first=i == 0) for i, seg in enumerate(segments)) if p)
    return ParsedEntry(text=text, parts=parts, notes=notes, strength=strength, route=route, frequency=frequency)
