"""What a change of rules or clinic policy would change: a cohort screened under both, compared record by record.

Before a clinic switches to a new ruleset or policy it needs to know whose verdicts move. :func:`impact`
screens every intake of a cohort under the current and the proposed configuration and returns an
:class:`Impact`: how many verdicts move from where to where (clear -> caution, caution -> refer, ...), for each
rule how many records it gives caution or refer before and after, and every record whose verdict moves, with the
rules behind the move. An intake either configuration rejects is listed with the reason, never counted as a
verdict; an engine error raises (no partial report).

Verdicts are compared as :func:`needlescreen.screening.verdicts` computes them from the engine's firings, the
same function :func:`~needlescreen.screening.aggregate` would apply, without building two full results per
record. The work is split into partitions (:func:`screen_partition`, a pure function of its rows and an
:class:`ImpactConfig`): each process builds both screeners once and returns a partial :class:`Impact`, and
partial impacts add up (:meth:`Impact.merge`) in input order. :func:`impact` runs partitions on local processes;
any other executor that can call a function on a partition (a Dask cluster) can run the same function.
When only the policy changes, the ruleset directory is the same, so each intake is normalised and matched once:
a policy binds values into rule conditions and verdicts but never changes normalisation, so every rule whose
compiled condition is the same fires the same, and only the rules whose condition the policy changes are
evaluated again (see :func:`_sides`).

:func:`render_chart` draws the report for a clinical lead (matplotlib, the ``charts`` extra).
"""

from __future__ import annotations

import dataclasses
import io
import json
import multiprocessing
import os
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from .errors import FieldProblem, IntakeError
from .facts import Facts
from .intake import Intake
from .plain import PlainEngine
from .result import Verdict
from .ruleset import Ruleset
from .screening import Screener, parse_intake, verdicts

__all__ = [
    "VERDICTS",
    "Impact",
    "ImpactConfig",
    "Move",
    "Rejected",
    "impact",
    "prepare_worker",
    "read_directory",
    "read_jsonl",
    "render_chart",
    "screen_partition",
    "to_json_text",
]

VERDICTS: tuple[Verdict, ...] = ("clear", "caution", "refer")
_RANK = {v: i for i, v in enumerate(VERDICTS)}
#: One record of a cohort: an id a person can find it by, and the intake (JSON or YAML text, or a mapping).
Row = tuple[str, str | Mapping[str, Any]]
Side = Literal["current", "proposed", "both"]
#: A screening's overall verdict and each rule's worst verdict (:func:`needlescreen.screening.verdicts`).
Outcome = tuple[Verdict, Mapping[str, Verdict]]


@dataclass(frozen=True, slots=True)
class ImpactConfig:
    """The current and the proposed configuration (``None`` rules: the bundled ones; ``None`` policy: defaults).

    The proposed side keeps the current rules or policy unless ``to_rules`` or ``to_policy`` replaces it.
    """

    rules: str | None = None
    policy: str | None = None
    to_rules: str | None = None
    to_policy: str | None = None
    engine: Literal["auto", "durable_rules", "plain"] = "auto"

    def __post_init__(self) -> None:
        if self.to_rules is None and self.to_policy is None:
            raise ValueError("nothing is proposed: give to_rules, to_policy or both")

    @property
    def proposed_rules(self) -> str | None:
        """The ruleset directory of the proposed configuration."""
        return self.to_rules if self.to_rules is not None else self.rules

    @property
    def proposed_policy(self) -> str | None:
        """The policy file of the proposed configuration."""
        return self.to_policy if self.to_policy is not None else self.policy


@dataclass(frozen=True, slots=True)
class Move:
    """A record whose verdict moves, and each rule whose verdict for it changes (None: the rule gives none)."""

    record: str
    patient_ref: str | None
    before: Verdict
    after: Verdict
    rules: tuple[tuple[str, Verdict | None, Verdict | None], ...]


@dataclass(frozen=True, slots=True)
class Rejected:
    """A record one configuration or both could not screen, and why (never counted as a verdict)."""

    record: str
    side: Side
    message: str


@dataclass(slots=True)
class Impact:
    """The comparison of a cohort screened under two configurations; partial impacts add up with :meth:`merge`."""

    current: dict[str, str] = field(default_factory=dict)
    proposed: dict[str, str] = field(default_factory=dict)
    #: Records screened under both configurations.
    screened: int = 0
    #: (before, after) -> records, for every pair including the unchanged ones.
    moves: dict[tuple[Verdict, Verdict], int] = field(
        default_factory=lambda: {(a, b): 0 for a in VERDICTS for b in VERDICTS}
    )
    #: rule id -> records it gives (caution, refer) before, then (caution, refer) after.
    rules: dict[str, list[int]] = field(default_factory=dict)
    #: Records whose verdict stays but whose reasons change (a rule added, removed or of another verdict).
    reasons_changed: int = 0
    moved: list[Move] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)

    def add(self, record: str, patient_ref: str | None, before: Outcome, after: Outcome) -> None:
        """Count one record screened under both configurations: its (overall, per rule) verdicts before and after."""
        (verdict_was, was), (verdict_now, now) = before, after
        self.screened += 1
        self.moves[verdict_was, verdict_now] += 1
        for rule_id, verdict in was.items():
            self._rule(rule_id)[_RANK[verdict] - 1] += 1
        for rule_id, verdict in now.items():
            self._rule(rule_id)[_RANK[verdict] + 1] += 1
        if was == now:
            return
        changed = tuple(
            (rule_id, was.get(rule_id), now.get(rule_id))
            for rule_id in sorted(was.keys() | now.keys())
            if was.get(rule_id) != now.get(rule_id)
        )
        if verdict_was == verdict_now:
            self.reasons_changed += 1
        else:
            self.moved.append(Move(record, patient_ref, verdict_was, verdict_now, changed))

    def _rule(self, rule_id: str) -> list[int]:
        counts = self.rules.get(rule_id)
        if counts is None:
            counts = self.rules[rule_id] = [0, 0, 0, 0]
        return counts

    def merge(self, other: Impact) -> Impact:
        """Add another partition's impact (of the same two configurations) after this one's records."""
        for mine, theirs in ((self.current, other.current), (self.proposed, other.proposed)):
            if mine and theirs and mine != theirs:
                raise ValueError("impacts of different configurations cannot be merged")
            mine.update(theirs)
        self.screened += other.screened
        for pair, n in other.moves.items():
            self.moves[pair] += n
        for rule_id, counts in other.rules.items():
            self.rules[rule_id] = [a + b for a, b in zip(self._rule(rule_id), counts, strict=True)]
        self.reasons_changed += other.reasons_changed
        self.moved.extend(other.moved)
        self.rejected.extend(other.rejected)
        return self

    @property
    def verdicts_before(self) -> dict[Verdict, int]:
        """Records per verdict under the current configuration."""
        return {v: sum(n for (a, _b), n in self.moves.items() if a == v) for v in VERDICTS}

    @property
    def verdicts_after(self) -> dict[Verdict, int]:
        """Records per verdict under the proposed configuration."""
        return {v: sum(n for (_a, b), n in self.moves.items() if b == v) for v in VERDICTS}

    def rule_changes(self) -> list[tuple[str, list[int]]]:
        """Rules whose counts change, the largest change first (then by rule id)."""
        changed = [(r, c) for r, c in self.rules.items() if c[:2] != c[2:]]
        return sorted(changed, key=lambda rc: (-(abs(rc[1][2] - rc[1][0]) + abs(rc[1][3] - rc[1][1])), rc[0]))

    def to_json(self) -> dict[str, Any]:
        """The report as plain JSON data (``needlescreen.impact/1``)."""
        return {
            "schema": "needlescreen.impact/1",
            "current": self.current,
            "proposed": self.proposed,
            "screened": self.screened,
            "rejected": len(self.rejected),
            "verdicts": {"before": self.verdicts_before, "after": self.verdicts_after},
            "moves": [
                {"from": a, "to": b, "records": n}
                for (a, b), n in sorted(self.moves.items(), key=lambda kv: (_RANK[kv[0][0]], _RANK[kv[0][1]]))
                if a != b and n
            ],
            "unchanged": sum(n for (a, b), n in self.moves.items() if a == b),
            "reasons_changed_same_verdict": self.reasons_changed,
            "rules": [
                {
                    "rule_id": rule_id,
                    "caution_before": c[0],
                    "refer_before": c[1],
                    "caution_after": c[2],
                    "refer_after": c[3],
                }
                for rule_id, c in self.rule_changes()
            ],
            "moved_records": [
                {
                    "record": m.record,
                    "patient_ref": m.patient_ref,
                    "before": m.before,
                    "after": m.after,
                    "rules": [{"rule_id": r, "before": b, "after": a} for r, b, a in m.rules],
                }
                for m in self.moved
            ],
            "rejected_records": [{"record": r.record, "side": r.side, "message": r.message} for r in self.rejected],
        }


def _describe(ruleset: Ruleset, engine: str) -> dict[str, str]:
    return {
        "ruleset": ruleset.name,
        "revision": ruleset.revision,
        "content_hash": ruleset.content_hash,
        "policy_source": ruleset.policy.source,
        "engine": engine,
    }


@dataclass(frozen=True, slots=True)
class _Sides:
    """Both configurations as one process screens them (built once per process, see :func:`_sides`)."""

    current: Screener
    proposed: Ruleset
    #: The proposed side's own screener, when its rules differ (they may normalise differently).
    screener: Screener | None
    #: Otherwise: the ids of the rules whose compiled condition the proposed policy changes, and those rules on
    #: the plain evaluator; every other rule fires on the shared facts exactly as it does now.
    changed: frozenset[str]
    reevaluate: PlainEngine | None


@lru_cache(maxsize=4)
def _sides(config: ImpactConfig) -> _Sides:
    """Both sides of a configuration, built once per process.

    With the same rules directory the facts are the same (a policy never changes normalisation), and a rule
    whose compiled condition is the same fires the same on them: only the rules whose condition the proposed
    policy changes (a threshold) are evaluated again, and only verdicts are compared anew (a policy verdict,
    such as the at-risk limb's, changes no condition). So a policy change costs one engine run per record.
    """
    from .ruleset import load_ruleset

    current = Screener(load_ruleset(config.rules, policy_file=config.policy), engine=config.engine)
    proposed = load_ruleset(config.proposed_rules, policy_file=config.proposed_policy)
    if config.to_rules is not None:
        return _Sides(current, proposed, Screener(proposed, engine=config.engine), frozenset(), None)
    now = {r.id: r for r in current.ruleset.rules}
    changed = tuple(
        r
        for r in proposed.rules
        if r.id not in now or (now[r.id].condition, now[r.id].fact_scope) != (r.condition, r.fact_scope)
    )
    gone = now.keys() - {r.id for r in proposed.rules}
    ids = frozenset(r.id for r in changed) | gone
    return _Sides(current, proposed, None, ids, PlainEngine(dataclasses.replace(proposed, rules=changed)))


def screen_partition(rows: Sequence[Row], config: ImpactConfig) -> Impact:
    """Screen one partition of a cohort under both configurations (the unit of work of every executor).

    Raises:
        RuleFileError: a ruleset or policy of the configuration is invalid.
        EngineError: an engine failed; no part of the partition is reported.
    """
    sides = _sides(config)
    current, other = sides.current, sides.screener
    engine = current.engine.name
    described = _describe(sides.proposed, other.engine.name if other is not None else engine)
    if other is None:
        described["firings"] = f"shared; {len(sides.changed)} rules with a changed condition evaluated again"
    out = Impact(current=_describe(current.ruleset, engine), proposed=described)
    ready: list[tuple[str, Intake, Facts, Facts]] = []
    for record, data in rows:
        try:
            model = parse_intake(data, source=record)
        except IntakeError as exc:
            out.rejected.append(Rejected(record, "both", _message(exc)))
            continue
        before = _facts(current, model)
        after = before if other is None else _facts(other, model)
        if isinstance(before, Facts) and isinstance(after, Facts):
            ready.append((record, model, before, after))
        elif isinstance(before, IntakeError):
            side: Side = "current" if isinstance(after, Facts) else "both"
            out.rejected.append(Rejected(record, side, _message(before)))
        elif isinstance(after, IntakeError):
            out.rejected.append(Rejected(record, "proposed", _message(after)))
    fired_before = current.engine.run_many([r[2] for r in ready])
    if other is not None:
        fired_after = other.engine.run_many([r[3] for r in ready])
    elif sides.reevaluate is None or not sides.changed:
        fired_after = fired_before
    else:
        again = sides.reevaluate.run_many([r[3] for r in ready])
        fired_after = [
            frozenset(f for f in b if f.rule_id not in sides.changed) | a
            for b, a in zip(fired_before, again, strict=True)
        ]
    for (record, model, _fb, _fa), b, a in zip(ready, fired_before, fired_after, strict=True):
        ref = model.record.patient_ref if model.record is not None else None
        out.add(record, ref, verdicts(b, current.ruleset), verdicts(a, sides.proposed))
    return out


def _facts(screener: Screener, model: Intake) -> Facts | IntakeError:
    try:
        return screener.facts(model)[1]
    except IntakeError as exc:
        return exc


def _message(exc: IntakeError) -> str:
    return "; ".join(f"{p.path or '(intake)'}: {p.message}" for p in exc.problems)


def impact(
    rows: Iterable[Row], config: ImpactConfig, *, workers: int | None = None, partition_size: int = 1000
) -> Impact:
    """Screen a cohort under both configurations on ``workers`` local processes (every core by default).

    Rows are cut into partitions of ``partition_size`` and at most ``2 * workers`` partitions are in flight,
    so memory stays bounded; the report lists records in input order.

    Raises:
        RuleFileError: a ruleset or policy of the configuration is invalid (before any row is read).
        EngineError: an engine failed on any partition.
    """
    _sides(config)  # fail on bad rule or policy files once, before any worker starts
    workers = max(1, workers or os.cpu_count() or 1)
    total = Impact()
    if workers == 1:
        for part in _partitions(rows, partition_size):
            total.merge(screen_partition(part, config))
        return total
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=ctx, initializer=prepare_worker, initargs=(config,)) as pool:
        pending: deque[Future[Impact]] = deque()
        for part in _partitions(rows, partition_size):
            pending.append(pool.submit(screen_partition, part, config))
            while len(pending) >= 2 * workers:
                total.merge(pending.popleft().result())
        while pending:
            total.merge(pending.popleft().result())
    return total


def prepare_worker(config: ImpactConfig) -> None:
    """Build a worker process's screeners once and settle its cyclic collector (as batch does: ``worker_gc``).

    For a process that only screens partitions (a local pool's initializer): it freezes the process's
    long-lived objects and raises the collector's first threshold, so call it only in a process of its own.
    """
    from .worker_gc import settle_worker_gc

    _sides(config)
    settle_worker_gc()


def _partitions(rows: Iterable[Row], size: int) -> Iterator[list[Row]]:
    part: list[Row] = []
    for row in rows:
        part.append(row)
        if len(part) >= size:
            yield part
            part = []
    if part:
        yield part


# --- reading a cohort ----------------------------------------------------------------------------------------


def read_jsonl(path: str | Path) -> Iterator[Row]:
    """The intakes of a JSON-lines file, one per non-blank line, each named ``FILE:LINE``.

    A line that is not UTF-8 is kept as a row whose intake is rejected with that reason.
    """
    p = Path(path)
    with p.open("rb") as stream:
        for number, raw in enumerate(stream, start=1):
            if raw.strip():
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    text = f"<not UTF-8 text: {exc.reason} at byte {exc.start}>"
                yield f"{p.name}:{number}", text


#: Intake files in a cohort directory.
INTAKE_SUFFIXES = (".json", ".yaml", ".yml")


def read_directory(path: str | Path) -> Iterator[Row]:
    """The intake files (``.json``, ``.yaml``, ``.yml``) of a directory, in name order, each named by its file name.

    Raises:
        IntakeError: a file cannot be read.
    """
    for file in sorted(Path(path).iterdir()):
        if file.is_file() and file.suffix.lower() in INTAKE_SUFFIXES:
            try:
                text = file.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise IntakeError([FieldProblem("", f"cannot read the file: {exc}")], source=str(file)) from None
            yield file.name, text


# --- the chart -----------------------------------------------------------------------------------------------

_COLOURS = {"clear": "#2e7d32", "caution": "#f9a825", "refer": "#c62828"}


def render_chart(report: Impact, fmt: Literal["png", "svg"] = "png", *, title: str | None = None) -> bytes:
    """A one-page chart of the report for a clinical lead, as PNG or SVG bytes.

    Three panels: the verdicts before and after; how many records move, and in which direction; the rules
    whose number of caution or refer records changes the most.

    Raises:
        ImportError: matplotlib (the ``charts`` extra) is not installed; the message says how to install it.
    """
    try:
        import matplotlib as mpl

        mpl.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.patches import Rectangle
    except ImportError as exc:  # pragma: no cover - depends on the installed extras
        raise ImportError("the chart needs matplotlib: pip install 'needlescreen[charts]'") from exc

    fig, (ax_verdicts, ax_moves, ax_rules) = plt.subplots(
        1, 3, figsize=(17, 5.8), gridspec_kw={"width_ratios": [1.2, 1, 1.5]}
    )
    head = title or "What the proposed change would change"
    fig.suptitle(
        f"{head}\n{report.screened:,} screenings compared: {len(report.moved):,} change verdict, "
        f"{report.reasons_changed:,} keep it with other reasons, {len(report.rejected):,} could not be screened",
        fontsize=13,
    )

    # 1. The verdicts of the cohort now and as proposed: one bar each, split by verdict.
    rows = (("now", report.verdicts_before), ("proposed", report.verdicts_after))
    total = max(1, report.screened)
    for y, (_label, counts) in enumerate(rows):
        left = 0
        for verdict in VERDICTS:
            n = counts[verdict]
            if n:
                ax_verdicts.barh(y, n, left=left, color=_COLOURS[verdict], edgecolor="black", height=0.55)
                if n / total > 0.07:
                    ax_verdicts.text(left + n / 2, y, f"{n:,}", ha="center", va="center", color="white",
                                     fontsize=10, fontweight="bold")  # fmt: skip
            left += n
    ax_verdicts.set_yticks([0, 1], [label for label, _c in rows], fontsize=11)
    ax_verdicts.invert_yaxis()
    ax_verdicts.set_xlim(0, total)
    ax_verdicts.set_xlabel("screenings")
    ax_verdicts.set_title("Verdicts now and as proposed")
    ax_verdicts.legend(
        [Rectangle((0, 0), 1, 1, color=_COLOURS[v]) for v in VERDICTS], [v.upper() for v in VERDICTS],
        loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=3, frameon=False,
    )  # fmt: skip

    # 2. Where verdicts move: one bar per move, coloured by the verdict moved to (blue: less strict).
    moves = [((a, b), n) for (a, b), n in report.moves.items() if a != b and n]
    moves.sort(key=lambda m: (_RANK[m[0][0]], _RANK[m[0][1]]))
    if moves:
        labels = [f"{a} → {b}" for (a, b), _n in moves]
        colours = [_COLOURS[b] if _RANK[b] > _RANK[a] else "#1565c0" for (a, b), _n in moves]
        bars = ax_moves.barh(labels, [n for _pair, n in moves], color=colours, edgecolor="black", height=0.6)
        ax_moves.bar_label(bars, fmt="{:,.0f}", padding=4, fontsize=11)
        ax_moves.set_ylim(max(len(moves), 4) - 0.5, -0.5)
        ax_moves.margins(x=0.25)
        ax_moves.tick_params(axis="y", labelsize=11)
    else:
        ax_moves.text(0.5, 0.5, "no verdict moves", ha="center", va="center", fontsize=12)
        ax_moves.set_yticks([])
    ax_moves.set_title("Screenings whose verdict moves")
    ax_moves.set_xlabel("screenings (blue: to a less strict verdict)")

    # 3. The rules behind the moves: change in screenings given caution or refer by each rule.
    changes = report.rule_changes()[:12]
    if changes:
        names = [rule_id for rule_id, _c in changes]
        ys = range(len(names))
        h = 0.38
        bc = ax_rules.barh([y - h / 2 for y in ys], [c[2] - c[0] for _r, c in changes], h,
                           color=_COLOURS["caution"], edgecolor="black")  # fmt: skip
        br = ax_rules.barh([y + h / 2 for y in ys], [c[3] - c[1] for _r, c in changes], h,
                           color=_COLOURS["refer"], edgecolor="black")  # fmt: skip
        for bars in (bc, br):
            ax_rules.bar_label(bars, labels=[f"{v:+,.0f}" if v else "" for v in bars.datavalues], padding=3)
        ax_rules.set_yticks(list(ys), names, fontsize=9)
        ax_rules.set_ylim(max(len(names), 4) - 0.5, -0.5)
        ax_rules.axvline(0, color="black", linewidth=0.8)
        ax_rules.margins(x=0.3)
        ax_rules.legend(
            [bc, br], ["screenings this rule gives caution", "screenings this rule gives refer"],
            loc="upper center", bbox_to_anchor=(0.5, -0.08), ncol=2, frameon=False, fontsize=9,
        )  # fmt: skip
    else:
        ax_rules.text(0.5, 0.5, "no rule changes", ha="center", va="center", fontsize=12)
        ax_rules.set_yticks([])
    ax_rules.set_title("Rules behind the change (proposed minus now)")

    fig.tight_layout(rect=(0, 0, 0.99, 0.95))
    buffer = io.BytesIO()
    fig.savefig(buffer, format=fmt, dpi=120)
    plt.close(fig)
    return buffer.getvalue()


def to_json_text(report: Impact) -> str:
    """The report as indented JSON text."""
    return json.dumps(report.to_json(), indent=2, ensure_ascii=False) + "\n"
