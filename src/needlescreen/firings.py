"""What an engine returns: firings, and the protocol every engine (plain, durable_rules) follows.

Both engines take the compiled rules and one screening's facts and return the same thing: the set of
*firings*, each a rule, the fact set it concerns (patient, a site or a circuit) and whether the condition was
true or unknown. Everything after that (verdicts, findings, missing information) is shared code, so the two
engines can only differ in how they match, which is exactly what the oracle test compares.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from .conditions import Truth
from .facts import Facts, FactSet

__all__ = ["Engine", "EngineName", "FactScope", "Firing", "fact_sets"]

EngineName = Literal["durable_rules", "plain"]
FactScope = Literal["patient", "site", "circuit"]


@dataclass(frozen=True, slots=True, order=True)
class Firing:
    """A rule whose condition was true (``TRUE``) or undecidable (``UNKNOWN``) on one fact set."""

    rule_id: str
    scope: FactScope
    index: int
    truth: Truth


class Engine(Protocol):
    """What an engine does: match compiled rules against one screening's facts."""

    name: EngineName

    def run(self, facts: Facts) -> frozenset[Firing]:
        """Return every firing; raise on any internal error."""
        ...

    def run_many(self, batch: Sequence[Facts]) -> list[frozenset[Firing]]:
        """Return every firing of each screening, in order, as ``run`` would; raise on any internal error.

        Screenings never share a firing; an engine may share its per-call cost among them (durable_rules
        matches many screenings in one session). An error fails the whole call: no screening gets firings.
        """
        ...


def fact_sets(facts: Facts) -> Iterator[tuple[FactScope, int, FactSet]]:
    """Every fact set of a screening with its scope and index."""
    yield "patient", 0, facts.patient
    for i, (_site, fs) in enumerate(facts.sites):
        yield "site", i, fs
    for j, (_cid, fs) in enumerate(facts.circuits):
        yield "circuit", j, fs
