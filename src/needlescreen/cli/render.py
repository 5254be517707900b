"""How a result is printed for a clinician: the verdict first, then reasons, alternatives and unknowns."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from needlescreen.medications import did_you_mean
from needlescreen.result import ScreeningResult

from ._app import _console

_COLOURS = {"clear": "bold white on green", "caution": "bold black on yellow", "refer": "bold white on red"}
_WORDS = {
    "clear": "CLEAR - no contraindication found in the information given",
    "caution": "CAUTION - needle only with the modifications below",
    "refer": "REFER - do not needle (at the sites shown) without clearance",
}


def _listed(facts: Mapping[str, Any]) -> list[str]:
    """The entries of the list facts a finding read (e.g. the two answers that contradict each other)."""
    from needlescreen.facts import FACTS

    return [str(e) for n, v in facts.items() if n in FACTS and FACTS[n].type == "list" for e in v]


def render(result: ScreeningResult, console: Console) -> None:
    """Print a result for a clinician: verdict first, then reasons, alternatives, sources and what is missing."""
    console.print(Panel(Text(_WORDS[result.verdict], justify="center"), style=_COLOURS[result.verdict]))
    technique = "electrical dry needling" if result.technique == "electrical" else "dry needling"
    console.print(f"Planned: {technique}")
    sites = Table(title="Sites", show_lines=False, expand=False)
    sites.add_column("site")
    sites.add_column("where")
    sites.add_column("verdict")
    for sv in result.sites:
        where = " ".join(x for x in (sv.site.side, sv.site.region_label) if x)
        if sv.site.muscle:
            where += f" ({sv.site.muscle})"
        if sv.site.nerve:
            where += f" ({sv.site.nerve.replace('_', ' ')} nerve, perineural)"
        sites.add_row(escape(sv.site.id), escape(where), Text(sv.verdict.upper(), style=_COLOURS[sv.verdict]))
    console.print(sites)
    if result.findings:
        console.print(Text("Reasons", style="bold underline"))
    cited: dict[str, str] = {}
    for f in result.findings:
        where = f" - site {f.site.id}" if f.site else f" - circuit {f.circuit[0]}~{f.circuit[1]}" if f.circuit else ""
        status = " (information missing)" if f.status == "unknown" else ""
        head = Text()
        head.append(f" {f.verdict.upper()} ", style=_COLOURS[f.verdict])
        head.append(f" {f.summary}{status}{where}  [{f.rule_id}, {f.classification}]")
        console.print(head)
        for entry in _listed(f.facts):
            console.print(Text(f"    {entry}"))
        for m in f.modifications:
            console.print(Text(f"    instead: {m}"))
        if f.missing:
            console.print(Text(f"    unknown: {', '.join(f.missing)}"))
        console.print(Text(f"    sources: {', '.join(r.key for r in f.references)}", style="dim"))
        cited.update({r.key: r.citation for r in f.references})
    if result.missing:
        console.print(Text("Still unknown (answer these to firm up the verdict)", style="bold underline"))
        for item in result.missing:
            console.print(Text(f"  - {item.question}  [{item.fact}; {', '.join(item.rules)}]"))
    if result.unrecognised_medications:
        hints = [(n, did_you_mean(n)) for n in result.unrecognised_medications]
        names = ", ".join(f"{n} (did you mean {h}?)" if h else n for n, h in hints)
        console.print(Text(f"Unrecognised medications (verify): {names}"))
    if cited:
        console.print(Text("Sources", style="bold underline"))
        for key, citation in sorted(cited.items()):
            console.print(Text(f"  {key}: {citation}", style="dim"))
    console.print(
        Text(
            f"ruleset {result.ruleset.name} {result.ruleset.revision} ({result.ruleset.content_hash[:12]}), "
            f"engine {result.engine}, decision {result.decision_id}",
            style="dim",
        )
    )


def _emit(result: ScreeningResult, output: str) -> None:
    if output == "json":
        sys.stdout.write(result.model_dump_json(indent=2) + "\n")
    else:
        render(result, _console())
