"""Did-you-mean: the one way needlescreen suggests a name for a typo.

Every suggestion (a fact, source, region or policy setting in a rule file, a nerve, muscle or drug in an
intake, a rule id at the command line) is scored here by rapidfuzz's normalised Indel similarity
(``fuzz.ratio``, 0-100: twice the longest common subsequence over the total length, the measure difflib's
ratio approximates), so one typo gets the same kind of answer wherever it is made. A suggestion is only ever
a hint in a message: nothing is accepted because it is close to something.

rapidfuzz is imported on the first suggestion, not at start-up: a screening that meets no typo never pays for it.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["DEFAULT_CUTOFF", "closest", "hint", "scored"]

#: The similarity (0-100) a name needs to be suggested unless a caller asks for more.
DEFAULT_CUTOFF = 60.0


def scored(
    word: str, choices: Iterable[str], *, cutoff: float = DEFAULT_CUTOFF, limit: int | None = None
) -> list[tuple[str, float]]:
    """Choices at least ``cutoff`` similar to ``word``, best first (equal scores keep the order given)."""
    from rapidfuzz import fuzz, process

    found = process.extract(word, list(choices), scorer=fuzz.ratio, score_cutoff=cutoff, limit=limit)
    return [(choice, score) for choice, score, _ in found]


def closest(word: str, choices: Iterable[str], *, n: int = 1, cutoff: float = DEFAULT_CUTOFF) -> list[str]:
    """The ``n`` choices most similar to ``word`` (at least ``cutoff``), best first."""
    return [choice for choice, _ in scored(word, choices, cutoff=cutoff, limit=n)]


def hint(word: str, choices: Iterable[str], *, n: int = 1, cutoff: float = DEFAULT_CUTOFF, quote: bool = True) -> str:
    """The tail of an error message: ``"; did you mean 'x'?"`` (or ``'x', 'y'``), or ``""`` when nothing is close."""
    close = closest(word, choices, n=n, cutoff=cutoff)
    if not close:
        return ""
    return "; did you mean " + ", ".join(repr(c) if quote else c for c in close) + "?"
