"""Did-you-mean: the one way needlescreen suggests a name for a near miss.

rapidfuzz's ``ratio`` (an edit similarity, 0-100) finds most slips of the keyboard, but it scores letters typed
in the wrong order as two edits each: "xeralto" is only 71 from "xarelto", below any cutoff that keeps guesses
honest. People transpose letters more than they make any other slip, so a name whose letters are the typed
word's letters in another order scores as if each swap of two letters were one edit:
``100 * (1 - swaps / length)``. "xeralto" is then 86 from "xarelto", "warfrain" 88 from "warfarin". Only two
swaps are counted; more letters out of place is not a slip.

A suggestion is only ever offered, never taken: the caller decides what a near miss may change (a misspelt drug
is still verified; a misspelt site is refused).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from rapidfuzz import fuzz, process

__all__ = ["MAX_SWAPS", "MAX_TYPED", "Suggester", "close", "score", "transposition_score"]

#: Letters out of order beyond this many swaps are not a transposition.
MAX_SWAPS = 2
#: Text longer than this is not a slip of a name: nothing is suggested (and nothing long is compared).
MAX_TYPED = 100


def _letters(word: str) -> str:
    return "".join(sorted(word))


def transposition_score(typed: str, name: str) -> float:
    """``100 * (1 - swaps / len)`` when ``typed`` has exactly the letters of ``name`` in another order, else 0.

    The swaps are counted from the positions that differ (two per swap of two letters, three for a letter moved
    two places), so "warfrain" for "warfarin" is one swap and "rivroaxaban" for "rivaroxaban" two.
    """
    if len(typed) != len(name) or typed == name or _letters(typed) != _letters(name):
        return 0.0
    differ = sum(a != b for a, b in zip(typed, name, strict=True))
    swaps = (differ + 1) // 2
    if swaps > MAX_SWAPS:
        return 0.0
    return 100.0 * (1.0 - swaps / len(name))


def score(typed: str, name: str) -> float:
    """The similarity of a typed word to a name, 0-100: rapidfuzz's ratio, or the transposition score if higher."""
    return max(fuzz.ratio(typed, name), transposition_score(typed, name))


class Suggester:
    """Names to suggest from, indexed once: ratio through rapidfuzz, transpositions through a letter index.

    Built once for a large list (the drug dictionary's 100,000 names); :func:`close` builds one for a short list.
    """

    def __init__(self, names: Iterable[str]) -> None:
        self.names: tuple[str, ...] = tuple(dict.fromkeys(names))
        by_letters: dict[str, list[int]] = {}
        for i, name in enumerate(self.names):
            by_letters.setdefault(_letters(name), []).append(i)
        # Tuples, not lists: the garbage collector stops tracking a tuple of numbers, so the drug dictionary's
        # 28,000 entries are not walked by every full collection for the life of the process (the worst
        # cohort's p99 was such a collection; README "Performance").
        self._by_letters: dict[str, tuple[int, ...]] = {k: tuple(v) for k, v in by_letters.items()}

    def scored(self, typed: str, *, cutoff: float, limit: int | None = 3) -> list[tuple[str, float]]:
        """Names at least ``cutoff`` from ``typed``, best first (ties keep the order of the names)."""
        if len(typed) > MAX_TYPED:
            return []
        near = process.extract(typed, self.names, scorer=fuzz.ratio, score_cutoff=cutoff, limit=None)
        found: dict[int, float] = {i: float(s) for _, s, i in near}
        for i in self._by_letters.get(_letters(typed), ()):
            t = transposition_score(typed, self.names[i])
            if t >= cutoff and t > found.get(i, 0.0):
                found[i] = t
        ranked = sorted(found.items(), key=lambda item: (-item[1], item[0]))
        return [(self.names[i], s) for i, s in (ranked if limit is None else ranked[:limit])]

    def best(self, typed: str, *, cutoff: float) -> str | None:
        """The nearest name at least ``cutoff`` from ``typed``, or None."""
        hits = self.scored(typed, cutoff=cutoff, limit=1)
        return hits[0][0] if hits else None


def close(typed: str, names: Sequence[str], *, cutoff: float = 75.0, limit: int = 3) -> list[str]:
    """Up to ``limit`` of ``names`` near ``typed``, best first (for a short list, e.g. the fields of a model)."""
    return [name for name, _ in Suggester(names).scored(typed, cutoff=cutoff, limit=limit)]
