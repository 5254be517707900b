"""Recognition measured on medication entries as people write them (``tests/data/medication_strings.tsv``).

The expected classes of each entry were written by hand from pharmacology (the WHO ATC group of the substance),
not read from ``rules/medications.yaml``. Acceptance (issue 10): at least 98 % of all entries handled as
expected, every risk-class entry handled as expected, and no risk-class drug ever read as a known drug of no
class. ``python -m tests.test_medications_recognition`` prints the figures and every miss.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

from needlescreen import load_ruleset
from needlescreen.medications import MedicationClassifier, MedicationMatch

DATA = Path(__file__).parent / "data" / "medication_strings.tsv"


@dataclass(frozen=True)
class Case:
    entry: str
    classes: frozenset[str]
    typo_of: str | None
    kind: str

    @property
    def risky(self) -> bool:
        return bool(self.classes)


def load_cases() -> tuple[Case, ...]:
    cases: list[Case] = []
    for line in DATA.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        entry, expected, kind = line.split("\t")
        typo_of = None
        if expected.startswith("?"):
            typo_of, _, expected = expected[1:].partition(":")
        classes = frozenset(c for c in expected.split(",") if c and c != "-")
        cases.append(Case(entry, classes, typo_of, kind))
    return tuple(cases)


@cache
def classifier() -> MedicationClassifier:
    return load_ruleset().medications


def problem(case: Case, m: MedicationMatch) -> str | None:
    """Why the entry was not handled as expected, or None."""
    if case.typo_of is not None:
        if m.recognised:
            return f"typo accepted as {m.substances}"
        if m.suggestion != case.typo_of:
            return f"did-you-mean {m.suggestion!r}, expected {case.typo_of!r}"
        if not case.classes <= m.classes:
            return f"classes {sorted(m.classes)}, expected at least {sorted(case.classes)}"
        return None
    if not m.recognised:
        return f"not recognised (suggestion {m.suggestion!r}, uncertain {sorted(m.uncertain)})"
    if m.classes != case.classes:
        return f"classes {sorted(m.classes)}, expected {sorted(case.classes)}"
    return None


def measure() -> tuple[int, int, int, int, list[str], list[str]]:
    """(handled, total, risk handled, risk total, misses, risk entries read as no class)."""
    cases = load_cases()
    misses: list[str] = []
    silent: list[str] = []
    ok = risk_ok = 0
    for case in cases:
        m = classifier().match(case.entry)
        why = problem(case, m)
        if why is None:
            ok += 1
            risk_ok += case.risky
        else:
            misses.append(f"{case.entry!r} [{case.kind}]: {why}")
        if case.risky and m.recognised and not (case.classes & m.classes):
            silent.append(case.entry)
    return ok, len(cases), risk_ok, sum(c.risky for c in cases), misses, silent


def test_the_list_is_realistic_and_large() -> None:
    cases = load_cases()
    kinds = {c.kind for c in cases}
    assert len(cases) >= 300
    assert {"brand", "dose", "typo", "regimen", "non-risk", "topical", "generic"} <= kinds
    assert len({c.entry for c in cases}) == len(cases), "duplicate entries"


def test_recognition_meets_the_acceptance_figures() -> None:
    ok, total, risk_ok, risk_total, misses, silent = measure()
    report = "\n".join(misses)
    assert silent == [], f"risk-class drugs read as no class: {silent}"
    assert risk_ok == risk_total, f"risk-class entries missed:\n{report}"
    assert ok / total >= 0.98, f"{ok}/{total} handled:\n{report}"


@pytest.mark.parametrize("case", [c for c in load_cases() if c.risky], ids=lambda c: c.entry)
def test_no_risk_class_entry_reads_as_no_class(case: Case) -> None:
    """Whatever else happens to it, a risk-class entry is never a recognised drug outside its class."""
    m = classifier().match(case.entry)
    assert not m.recognised or case.classes <= m.classes, (case.entry, m)


if __name__ == "__main__":
    handled, n, risk_handled, risk_n, missed, silently = measure()
    print(f"medication entries handled as expected: {handled}/{n} = {100 * handled / n:.1f} %")
    print(f"risk-class entries: {risk_handled}/{risk_n} = {100 * risk_handled / risk_n:.1f} %")
    print(f"risk-class drugs read as no class: {len(silently)}")
    for line in missed:
        print("  miss:", line)
