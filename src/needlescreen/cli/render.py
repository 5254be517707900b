"""How a result is printed for a clinician: the verdict first, then where, what to do and what to find out.

Two shapes of the same result. The *summary* (the default of ``check``, ``ask`` and ``explain``) is what a
clinician reads at the treatment table: the verdict in their words, each site with its verdict, what to do (the
rules' modifications, under the reason they belong to) and what to find out (every missing answer and every
unrecognised medication: the summary may shorten the reasons, never the unknowns). The *full* report
(``--full``) adds every reason's summary, the facts behind it and the sources.
"""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Mapping
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from needlescreen.medications import did_you_mean
from needlescreen.result import FindingResult, ScreeningResult, SiteRef

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


_TECHNIQUE = {"electrical": "electrical dry needling", "dry_needling": "dry needling"}


def _where(site: SiteRef) -> str:
    where = " ".join(x for x in (site.side, site.region_label) if x)
    if site.muscle:
        where += f" ({site.muscle})"
    if site.nerve:
        where += f" ({site.nerve.replace('_', ' ')} nerve, perineural)"
    return where


def _verdict_panel(result: ScreeningResult, console: Console) -> None:
    console.print(Panel(Text(_WORDS[result.verdict], justify="center"), style=_COLOURS[result.verdict]))


def _medication_hints(result: ScreeningResult) -> str:
    hints = [(n, did_you_mean(n)) for n in result.unrecognised_medications]
    return ", ".join(f"{n} (did you mean {h}?)" if h else n for n, h in hints)


def _reasons_by_rule(result: ScreeningResult) -> list[tuple[FindingResult, list[str]]]:
    """Findings merged by rule and status, worst first, each with the sites or lead pairs it concerns."""
    merged: dict[tuple[str, str], tuple[FindingResult, list[str]]] = {}
    for f in result.findings:
        entry = merged.setdefault((f.rule_id, f.status), (f, []))
        if f.site is not None:
            entry[1].append(f.site.id)
        elif f.circuit is not None:
            entry[1].append(f"{f.circuit[0]}~{f.circuit[1]}")
    order = {"refer": 0, "caution": 1}
    return sorted(merged.values(), key=lambda e: (order[e[0].verdict], e[0].status == "unknown"))


def _bullets(console: Console, mark: str, lines: list[str], *, hang: int = 0) -> None:
    """Indented lines whose continuation lines stay under their text (``hang`` further in), not under the mark."""
    indent = " " * (len(mark) + 1 + hang)
    for line in lines:
        wrapped = textwrap.wrap(line, width=max(console.width, 40), initial_indent=f"{mark} ", subsequent_indent=indent)
        for part in wrapped:
            console.print(Text(part), soft_wrap=True)


def _summary_head(result: ScreeningResult, console: Console) -> None:
    """The verdict in words (first, whatever follows), the plan, and each site with its verdict."""
    # A full-width coloured bar on a terminal; plain words, flush left, for a program or a file.
    words = _WORDS[result.verdict]
    banner = f" {words} ".center(console.width) if console.is_terminal else words
    console.print(Text(banner, style=_COLOURS[result.verdict]), soft_wrap=True)
    unknown = len(result.missing) + len(result.unrecognised_medications)
    count = len(result.sites)
    planned = f"Planned: {_TECHNIQUE[result.technique]}, {count} site{'s' * (count != 1)}."
    if unknown:
        planned += f" {unknown} thing{'s' * (unknown != 1)} still unknown (see below)."
    console.print(Text(planned))
    ids = max(len(sv.site.id) for sv in result.sites)
    wheres = max(len(_where(sv.site)) for sv in result.sites)
    for sv in result.sites:
        row = Text(f"  {sv.site.id:<{ids}}  {_where(sv.site):<{wheres}}  ")
        row.append(sv.verdict.upper(), style=_COLOURS[sv.verdict])
        console.print(row, soft_wrap=True)


def _places(places: list[str], every_site: set[str]) -> str:
    if not places:
        return ""
    return "every site" if len(places) > 1 and set(places) == every_site else ", ".join(places)


def _badge_line(console: Console, verdict: str, text: str) -> None:
    """A coloured verdict badge, then text whose continuation lines stay under the text."""
    badge = f" {verdict.upper()} "
    for i, part in enumerate(textwrap.wrap(text, width=max(console.width - len(badge) - 1, 30))):
        line = Text()
        line.append(badge if i == 0 else " " * len(badge), style=_COLOURS[verdict] if i == 0 else "")
        line.append(f" {part}")
        console.print(line, soft_wrap=True)


def _what_to_do(result: ScreeningResult, console: Console) -> None:
    """Each reason that holds (merged over sites, worst first) with the rules' modifications, each said once."""
    reasons = [(f, p) for f, p in _reasons_by_rule(result) if f.status == "fired"]
    if reasons:
        console.print(Text("What to do", style="bold underline"))
    every_site = {sv.site.id for sv in result.sites}
    shown: set[str] = set()
    for f, places in reasons:
        where = _places(places, every_site)
        _badge_line(console, f.verdict, f.title + (f" ({where})" if where else ""))
        _bullets(console, "    !", _listed(f.facts))
        _bullets(console, "    -", [m for m in f.modifications if m not in shown])
        shown.update(f.modifications)


def _what_to_find_out(result: ScreeningResult, console: Console, *, undecided: bool = True) -> None:
    """Every missing answer and every unrecognised medication, then the reasons they leave undecided.

    The summary never shortens this list. What to do while an answer stays unknown (the undecided rules'
    modifications) is in the full report.
    """
    if result.missing or result.unrecognised_medications:
        console.print(
            Text("What to find out (unknown is not no: each keeps the verdict from clear)", style="bold underline")
        )
        questions = [item.question for item in result.missing]
        if result.unrecognised_medications:
            questions.append(f"Which medication is meant? Not recognised: {_medication_hints(result)}")
        _bullets(console, "  -", questions)
    elif not result.findings:
        console.print(Text("Nothing found that changes the plan, and nothing the rules need is unknown."))
    if not undecided:
        return
    every_site = {sv.site.id for sv in result.sites}
    open_: dict[str, list[str]] = {}
    for f, places in _reasons_by_rule(result):
        if f.status == "unknown":
            where = _places(places, every_site)
            open_.setdefault(f.verdict, []).append(f.title + (f" ({where})" if where else ""))
    for verdict in ("refer", "caution"):
        if verdict in open_:
            _badge_line(console, verdict, "until then, undecided: " + "; ".join(open_[verdict]))


def _summary_footer(result: ScreeningResult, console: Console, more: str) -> None:
    console.print(Text(f"{more}; ruleset {result.ruleset.revision}.", style="dim"), soft_wrap=True)


def render_summary(result: ScreeningResult, console: Console, *, more: str = "") -> None:
    """The clinician's summary: the verdict first, then each site, what to do and what to find out.

    Every unknown stays visible: each missing answer and each unrecognised medication is listed, and each reason
    that could not be decided is named with the verdict it gives until then. The rule ids, the facts behind each
    reason, what to do while an answer stays unknown and the sources are left to the full report (``more`` says
    how to get it).
    """
    _summary_head(result, console)
    _what_to_do(result, console)
    _what_to_find_out(result, console)
    _summary_footer(result, console, more or "--full: each reason in full (facts, sources, what to do meanwhile)")


def render(result: ScreeningResult, console: Console) -> None:
    """Print a result for a clinician: verdict first, then reasons, alternatives, sources and what is missing."""
    _verdict_panel(result, console)
    console.print(f"Planned: {_TECHNIQUE[result.technique]}")
    sites = Table(title="Sites", show_lines=False, expand=False)
    sites.add_column("site")
    sites.add_column("where")
    sites.add_column("verdict")
    for sv in result.sites:
        sites.add_row(escape(sv.site.id), escape(_where(sv.site)), Text(sv.verdict.upper(), style=_COLOURS[sv.verdict]))
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
        console.print(Text(f"Unrecognised medications (verify): {_medication_hints(result)}"))
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


def _emit(result: ScreeningResult, output: str, *, full: bool = False) -> None:
    if output == "json":
        sys.stdout.write(result.model_dump_json(indent=2) + "\n")
    elif full:
        render(result, _console())
    else:
        render_summary(result, _console())
