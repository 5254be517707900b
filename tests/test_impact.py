"""``impact``: a cohort screened under the current and a proposed policy or ruleset, and what moves.

The expected moves are computed here independently of the impact module: by screening each intake on its own
under both configurations, and, for the at-risk-limb policy, from the intake alone (which planned sites lie
in a limb recorded as at risk, by anatomy written in this file).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from benchmarks.cohorts import cohort
from typer.testing import CliRunner

from needlescreen import Screener, load_ruleset
from needlescreen.cli import app
from needlescreen.engine import available_engines
from needlescreen.impact import Impact, ImpactConfig, impact, read_directory, read_jsonl, screen_partition
from needlescreen.ruleset import Ruleset, default_rules_dir
from needlescreen.screening import aggregate, verdicts
from needlescreen.testing import baseline_intake, with_changes

from .generate import random_intake

#: The planned regions of the bundled cohort that lie in the upper limb (shoulder girdle to fingers): where a
#: limb at risk of lymphoedema (nodes of its basin removed or irradiated) is the limb the needle goes into.
UPPER_LIMB = {"shoulder_girdle", "upper_arm", "forearm"}
N = 3000


@pytest.fixture(scope="module")
def refer_policy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("policy") / "at-risk-refer.yaml"
    path.write_text("schema: needlescreen.policy-override/1\nsettings:\n  at_risk_limb_verdict: refer\n")
    return path


@pytest.fixture(scope="module")
def bundled_cohort() -> list[tuple[str, str]]:
    return [(f"r{k}", json.dumps(intake)) for k, intake in enumerate(cohort("typical", N))]


def _at_risk_site(intake: dict[str, Any]) -> bool:
    """A planned site in an upper limb recorded as at risk, on the same side (from the intake, by anatomy)."""
    finding = intake.get("findings", {}).get("at_risk_limb", {})
    if finding.get("answer") != "yes":
        return False
    sides = {loc["side"] for loc in finding["locations"] if loc["region"] == "upper_limb"}
    return any(s["region"] in UPPER_LIMB and s["side"] in sides for s in intake["plan"]["sites"])


def test_at_risk_limb_caution_to_refer_moves_exactly_the_expected_records(
    bundled_cohort: list[tuple[str, str]], refer_policy: Path
) -> None:
    report = impact(bundled_cohort, ImpactConfig(to_policy=str(refer_policy)), workers=1)
    now, proposed = Screener(), Screener(policy_file=refer_policy)
    before = {rec: now.screen(text).verdict for rec, text in bundled_cohort}
    after = {rec: proposed.screen(text).verdict for rec, text in bundled_cohort}
    # 1. The bookkeeping: every record's two verdicts, each screened alone.
    expected = Counter((before[r], after[r]) for r, _t in bundled_cohort)
    assert report.screened == N and not report.rejected
    assert {pair: n for pair, n in report.moves.items() if n} == dict(expected)
    assert [m.record for m in report.moved] == [r for r, _t in bundled_cohort if before[r] != after[r]]
    # 2. The clinical expectation, from the intakes alone: a caution with a needle in the at-risk limb becomes
    # refer; nothing else moves; a refer with a needle there keeps its verdict with a stricter reason.
    at_risk = {r for r, t in bundled_cohort if _at_risk_site(json.loads(t))}
    assert len(at_risk) >= 20, "the bundled cohort must hold at-risk limbs, or this test proves nothing"
    moved = {m.record for m in report.moved}
    assert moved == {r for r in at_risk if before[r] == "caution"}
    assert all(m.before == "caution" and m.after == "refer" for m in report.moved)
    assert all(m.rules == (("LYMPHEDEMA_AT_RISK", "caution", "refer"),) for m in report.moved)
    assert report.reasons_changed == len({r for r in at_risk if before[r] == "refer"})
    assert report.rule_changes() == [("LYMPHEDEMA_AT_RISK", [len(at_risk), 0, 0, len(at_risk)])]
    data = report.to_json()
    assert data["moves"] == [{"from": "caution", "to": "refer", "records": len(moved)}]
    assert data["verdicts"]["after"]["refer"] == data["verdicts"]["before"]["refer"] + len(moved)


def test_a_policy_threshold_change_evaluates_the_changed_rules_again(
    bundled_cohort: list[tuple[str, str]], tmp_path: Path
) -> None:
    """A threshold (INR margin) changes rule conditions: those rules are evaluated again on the shared facts."""
    from needlescreen import impact as impact_module

    policy = tmp_path / "margin.yaml"
    policy.write_text("schema: needlescreen.policy-override/1\nsettings:\n  inr_margin: 0.5\n")
    config = ImpactConfig(to_policy=str(policy))
    assert impact_module._sides(config).changed, "the margin must change a condition, or this proves nothing"
    report = impact(bundled_cohort, config, workers=1)
    now, proposed = Screener(), Screener(policy_file=policy)
    expected = []
    for record, text in bundled_cohort:
        before, after = now.screen(text).verdict, proposed.screen(text).verdict
        if before != after:
            expected.append((record, before, after))
    assert expected, "the bundled cohort must hold an INR between the target and the margin"
    assert [(m.record, m.before, m.after) for m in report.moved] == expected


def test_partitions_add_up_to_the_whole_in_order(bundled_cohort: list[tuple[str, str]], refer_policy: Path) -> None:
    config = ImpactConfig(to_policy=str(refer_policy))
    rows = bundled_cohort[:900]
    whole = screen_partition(rows, config).to_json()
    for size in (1, 7, 300):
        parts = Impact()
        for start in range(0, len(rows), size):
            parts.merge(screen_partition(rows[start : start + size], config))
        assert parts.to_json() == whole


def test_two_local_processes_give_the_same_report(bundled_cohort: list[tuple[str, str]], refer_policy: Path) -> None:
    config = ImpactConfig(to_policy=str(refer_policy))
    rows = bundled_cohort[:1200]
    alone = impact(rows, config, workers=1).to_json()
    assert impact(rows, config, workers=2, partition_size=100).to_json() == alone


@pytest.mark.slow
def test_a_local_dask_cluster_gives_the_same_report(tmp_path: Path, refer_policy: Path) -> None:
    pytest.importorskip("distributed", reason="the dask extra is not installed")
    cohort_file = tmp_path / "cohort.jsonl"
    cohort_file.write_text("".join(json.dumps(i) + "\n" for i in cohort("typical", 1500, seed=5)))
    args = [sys.executable, "-m", "needlescreen", "impact", str(cohort_file), "--to-policy", str(refer_policy)]
    on_dask = subprocess.run(
        [*args, "--dask", "local", "--workers", "2", "-f", "json"], capture_output=True, check=False
    )
    assert on_dask.returncode == 0, on_dask.stderr.decode()
    rows = list(read_jsonl(cohort_file))
    alone = impact(rows, ImpactConfig(to_policy=str(refer_policy)), workers=1).to_json()
    got = json.loads(on_dask.stdout)
    assert got == json.loads(json.dumps(alone)) and got["moves"], "the same moves, record by record, in input order"


def test_verdicts_are_the_verdicts_of_the_full_result(ruleset: Ruleset) -> None:
    """impact compares verdicts computed from firings; they must be exactly those of the results."""
    import random

    screener = Screener(ruleset)
    rng = random.Random(41)
    for _ in range(400):
        model, facts = screener.facts(random_intake(rng, ruleset.regions))
        firings = screener.engine.run(facts)
        result = aggregate(model, facts, firings, ruleset, screener.engine.name)
        overall, by_rule = verdicts(firings, ruleset)
        assert overall == result.verdict
        expected: dict[str, str] = {}
        for f in result.findings:
            if f.verdict == "refer" or f.rule_id not in expected:
                expected[f.rule_id] = f.verdict
        assert by_rule == expected


def test_a_proposed_ruleset_without_a_rule_shows_whose_reasons_go(tmp_path: Path) -> None:
    """--to-rules: the needle-phobia rule removed from a copy of the rules; the record it alone flagged moves."""
    proposed = tmp_path / "rules"
    shutil.copytree(default_rules_dir(), proposed)
    rule_files = list((proposed / "rules").glob("*.yaml"))
    text = {p: p.read_text() for p in rule_files}
    holder = next(p for p, t in text.items() if "id: NEEDLE_PHOBIA" in t)
    lines = text[holder].splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if "id: NEEDLE_PHOBIA" in line)
    end = next((i for i in range(start + 1, len(lines)) if lines[i].lstrip().startswith("- id:")), len(lines))
    holder.write_text("".join(lines[:start] + lines[end:]))
    rows = [("phobic", json.dumps(with_changes(baseline_intake(), {"patient": {"needle_phobia": "yes"}})))]
    rows.append(("plain", json.dumps(baseline_intake())))
    assert "NEEDLE_PHOBIA" not in {r.id for r in load_ruleset(proposed).rules}
    now = Screener().screen(rows[0][1]).verdict
    assert now != "clear", "a needle phobia alone must not be clear today, or this test proves nothing"
    report = impact(rows, ImpactConfig(to_rules=str(proposed)), workers=1)
    assert [(m.record, m.before, m.after) for m in report.moved] == [("phobic", now, "clear")]
    assert report.moved[0].rules == (("NEEDLE_PHOBIA", now, None),)


def test_rejected_intakes_are_listed_never_counted(tmp_path: Path, refer_policy: Path) -> None:
    cohort_file = tmp_path / "cohort.jsonl"
    good = json.dumps(baseline_intake())
    cohort_file.write_bytes(f"{good}\n\n{{not json\n".encode() + b"\xff\xfe\n" + good.encode() + b"\n")
    report = impact(read_jsonl(cohort_file), ImpactConfig(to_policy=str(refer_policy)), workers=1)
    assert report.screened == 2
    assert [(r.record, r.side) for r in report.rejected] == [("cohort.jsonl:3", "both"), ("cohort.jsonl:4", "both")]
    assert "not UTF-8" in report.rejected[1].message


def test_a_directory_of_intake_files(tmp_path: Path, refer_policy: Path) -> None:
    at_risk = {"at_risk_limb": {"answer": "yes", "locations": [{"region": "upper_limb", "side": "left"}]}}
    intake = with_changes(baseline_intake(), {"findings": at_risk})
    intake["plan"] = {"technique": "dry_needling", "sites": [{"id": "a", "region": "forearm", "side": "left"}]}
    (tmp_path / "b-arm.json").write_text(json.dumps(intake))
    (tmp_path / "a-plain.yaml").write_text(json.dumps(baseline_intake()))
    (tmp_path / "notes.txt").write_text("not an intake")
    rows = list(read_directory(tmp_path))
    assert [r for r, _ in rows] == ["a-plain.yaml", "b-arm.json"]
    report = impact(rows, ImpactConfig(to_policy=str(refer_policy)), workers=1)
    assert [(m.record, m.before, m.after) for m in report.moved] == [("b-arm.json", "caution", "refer")]


def test_the_command_writes_a_table_json_and_a_chart(tmp_path: Path, refer_policy: Path) -> None:
    pytest.importorskip("matplotlib", reason="the charts extra is not installed")
    cohort_file = tmp_path / "cohort.jsonl"
    cohort_file.write_text("".join(json.dumps(i) + "\n" for i in cohort("typical", 400)))
    runner = CliRunner()
    args = ["impact", str(cohort_file), "--to-policy", str(refer_policy), "--workers", "1"]
    png, svg, out = tmp_path / "impact.png", tmp_path / "impact.svg", tmp_path / "impact.json"
    text = runner.invoke(app, [*args, "--chart", str(png), "--json", str(out)])
    assert text.exit_code == 0, text.output
    assert "caution" in text.output and "LYMPHEDEMA_AT_RISK" in text.output
    data = json.loads(out.read_text())
    assert data["schema"] == "needlescreen.impact/1" and data["screened"] == 400
    assert data["moves"] and data["moves"][0]["from"] == "caution" and data["moves"][0]["to"] == "refer"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000
    as_json = runner.invoke(app, [*args, "--format", "json", "--chart", str(svg)])
    assert as_json.exit_code == 0
    assert json.loads(as_json.output) == data
    assert svg.read_text().lstrip().startswith(("<?xml", "<svg"))
    nothing = runner.invoke(app, ["impact", str(cohort_file)])
    assert nothing.exit_code == 2 and "nothing proposed" in nothing.output
    bad_chart = runner.invoke(app, [*args, "--chart", str(tmp_path / "impact.gif")])
    assert bad_chart.exit_code == 2


def test_stored_records_of_the_service(tmp_path: Path, refer_policy: Path) -> None:
    """Records in the service's database: the current version of each screening, read through its store."""
    pytest.importorskip("fastapi", reason="the server extra is not installed")
    from fastapi.testclient import TestClient

    from needlescreen.server import Settings, create_app

    url = f"sqlite:///{tmp_path / 'records.db'}"
    intakes = cohort("typical", 300, seed=11)
    at_risk = {"at_risk_limb": {"answer": "yes", "locations": [{"region": "upper_limb", "side": "right"}]}}
    arm = with_changes(baseline_intake(), {"findings": at_risk, "record": {"patient_ref": "MRN-ARM"}})
    arm["plan"] = {"technique": "dry_needling", "sites": [{"id": "a", "region": "upper_arm", "side": "right"}]}
    with TestClient(create_app(Settings(database_url=url)), raise_server_exceptions=False) as client:
        ids = [client.post("/screenings", json=i).json()["decision_id"] for i in [*intakes, arm]]
        again = client.post(f"/screenings/{ids[-1]}/rescreen").json()  # supersedes the arm record
    runner = CliRunner()
    run = runner.invoke(app, ["impact", url, "--to-policy", str(refer_policy), "--workers", "1", "-f", "json"])
    assert run.exit_code == 0, run.output
    data = json.loads(run.output)
    assert data["screened"] == len(intakes) + 1, "the superseded record is not screened twice"
    now, proposed = Screener(), Screener(policy_file=refer_policy)
    expected = [
        (rid, now.screen(i).verdict, proposed.screen(i).verdict)
        for rid, i in zip([*ids[:-1], again["id"]], [*intakes, arm], strict=True)
    ]
    moved = [(m["record"], m["before"], m["after"]) for m in data["moved_records"]]
    assert moved == [e for e in expected if e[1] != e[2]]
    assert (again["id"], "caution", "refer") in moved
    assert any(m["patient_ref"] == "MRN-ARM" for m in data["moved_records"])


@pytest.mark.skipif("durable_rules" not in available_engines(), reason="durable_rules not loadable")
def test_durable_rules_and_plain_give_the_same_impact(
    bundled_cohort: list[tuple[str, str]], refer_policy: Path
) -> None:
    rows = bundled_cohort[:600]
    a = screen_partition(rows, ImpactConfig(to_policy=str(refer_policy), engine="durable_rules")).to_json()
    b = screen_partition(rows, ImpactConfig(to_policy=str(refer_policy), engine="plain")).to_json()
    for side in ("current", "proposed"):
        assert a[side].pop("engine") == "durable_rules" and b[side].pop("engine") == "plain"
    assert a == b
