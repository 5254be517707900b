"""A clinic's own policy file changes the verdict of the disputed cases, and the result records it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from needlescreen import PolicyError, RuleFileError, Screener, load_ruleset
from needlescreen.engine import available_engines
from needlescreen.ruleset import default_rules_dir

from .cases import PREGNANT_T1, at, finding, merge
from .conftest import changed

AT_RISK_ARM = merge(finding("at_risk_limb", "upper_limb", "left"), at("forearm", "left"))
METAL = {"patient": {"metal_allergy": "yes"}}
VALVE = {"patient": {"heart_valve_or_endocarditis": "yes"}}
CHEMO_EDN = {
    "patient": {"active_chemotherapy": "yes"},
    "labs": {"platelets": {"value": 200.0, "age_days": 2.0}, "anc": {"value": 3.0, "age_days": 2.0}},
    "plan": {
        "technique": "electrical",
        "sites": [{"id": "a", "region": "calf", "side": "right"}, {"id": "b", "region": "ankle", "side": "right"}],
        "circuits": [["a", "b"]],
    },
}

#: setting -> (the disputed patient, the rule it decides, the shipped default, a clinic's other choice). The
#: shipped default is the reference's suggested verdict (section 1: caution for the at-risk limb, metal allergy
#: and heart valves; refer, "configurable to caution", for the first trimester).
DISPUTED: dict[str, tuple[dict[str, Any], str, str, str]] = {
    "first_trimester_verdict": (PREGNANT_T1, "PREG_T1", "refer", "caution"),
    "at_risk_limb_verdict": (AT_RISK_ARM, "LYMPHEDEMA_AT_RISK", "caution", "refer"),
    "metal_allergy_verdict": (METAL, "METAL_ALLERGY", "caution", "refer"),
    "heart_valve_verdict": (VALVE, "HEART_VALVE", "caution", "refer"),
}


def _clinic_file(tmp_path: Path, settings: dict[str, Any]) -> Path:
    lines = ["schema: needlescreen.policy-override/1", "clinic: Example Physio", "settings:"]
    lines += [f"  {k}: {v}" for k, v in settings.items()]
    path = tmp_path / "clinic-policy.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("engine", available_engines())
@pytest.mark.parametrize("setting", sorted(DISPUTED))
def test_a_clinic_file_flips_the_disputed_case(tmp_path: Path, setting: str, engine: str) -> None:
    patient, rule_id, shipped, other = DISPUTED[setting]
    default = Screener(load_ruleset(), engine=engine).screen(changed(patient))  # type: ignore[arg-type]
    path = _clinic_file(tmp_path, {setting: other})
    clinic = Screener(load_ruleset(policy_file=path), engine=engine).screen(changed(patient))  # type: ignore[arg-type]
    assert default.verdict == shipped and default.policy[setting] == shipped
    assert default.policy_source == "defaults"
    assert clinic.verdict == other
    assert clinic.policy[setting] == other and clinic.policy_source == str(path)
    assert {f.verdict for f in clinic.findings if f.rule_id == rule_id} == {other}


def test_a_threshold_setting_moves_the_edge(tmp_path: Path) -> None:
    patient = changed({"labs": {"platelets": {"value": 60.0, "age_days": 2.0}}})
    assert load_and_screen(None, patient).verdict == "caution"
    raised = load_and_screen(_clinic_file(tmp_path, {"platelets_refer_below": 75}), patient)
    assert raised.verdict == "refer" and raised.policy["platelets_refer_below"] == 75.0


def test_electrical_needling_during_chemotherapy(tmp_path: Path) -> None:
    assert load_and_screen(None, changed(CHEMO_EDN)).verdict == "caution"  # the reference's suggestion
    clinic = load_and_screen(_clinic_file(tmp_path, {"edn_during_chemo_verdict": "refer"}), changed(CHEMO_EDN))
    assert clinic.verdict == "refer"


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"first_trimester_verdikt": "caution"}, "did you mean 'first_trimester_verdict'"),
        ({"first_trimester_verdict": "clear"}, "expected one of"),
        ({"platelets_refer_below": 5}, "out of range"),
    ],
)
def test_a_clinic_file_is_validated_like_the_rules(tmp_path: Path, settings: dict[str, Any], message: str) -> None:
    with pytest.raises(RuleFileError, match=message):
        load_ruleset(policy_file=_clinic_file(tmp_path, settings))


def test_every_disputed_item_and_threshold_is_a_setting() -> None:
    """Section 6 of the reference and every [I] threshold the rules use."""
    names = set(load_ruleset().policy.values)
    assert {
        "first_trimester_verdict",
        "at_risk_limb_verdict",
        "inr_margin",
        "inr_upper_if_target_unknown",
        "inr_max_age_days",
        "platelets_refer_below",
        "platelets_caution_below",
        "anc_refer_below",
        "anc_caution_below",
        "metal_allergy_verdict",
        "heart_valve_verdict",
        "edn_during_chemo_verdict",
        "counts_max_age_days",
    } <= names


def load_and_screen(policy_file: Path | None, intake: dict[str, Any]) -> Any:
    return Screener(load_ruleset(policy_file=policy_file), engine="plain").screen(intake)


def test_the_shipped_helper_for_clinics(tmp_path: Path) -> None:
    from needlescreen.testing import baseline_intake, clinic_screener, with_changes

    intake = with_changes(baseline_intake(), PREGNANT_T1)
    assert clinic_screener().screen(intake).verdict == "refer"
    by_file = clinic_screener(_clinic_file(tmp_path, {"first_trimester_verdict": "caution"})).screen(intake)
    by_value = clinic_screener(first_trimester_verdict="caution").screen(intake)
    assert by_file.verdict == by_value.verdict == "caution"
    assert by_file.policy["first_trimester_verdict"] == "caution"


# --- a clinic's file is read like the rule files: safe loader, and errors that say file, setting, expected -----

OVERRIDE = "schema: needlescreen.policy-override/1\nclinic: Example Physio\n"
_LAUGHS = "bomb:\n  a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"  {c}: &{c} [{', '.join(['*' + p] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi", strict=True)
)

#: name -> (file content, (field or None, words the message must contain, words of what was expected or None))
BAD_POLICY_FILES: dict[str, tuple[str | bytes, tuple[str | None, str, str | None]]] = {
    # A typo'd second entry would silently win: the lower threshold, or the milder verdict.
    "duplicate setting": (
        OVERRIDE + "settings:\n  platelets_refer_below: 50\n  platelets_refer_below: 20\n",
        (None, "duplicate key 'platelets_refer_below'", None),
    ),
    "duplicate settings block": (
        OVERRIDE + "settings: {first_trimester_verdict: refer}\nsettings: {first_trimester_verdict: caution}\n",
        (None, "duplicate key 'settings'", None),
    ),
    "not UTF-8": (
        (OVERRIDE + "clinic: Cl\xednica\nsettings: {}\n").encode("latin-1"),
        (None, "not UTF-8 text", None),
    ),
    "nested past the limit": (
        OVERRIDE + "settings: {metal_allergy_verdict: " + "[" * 70 + "]" * 70 + "}\n",
        (None, "nested deeper than 64 levels", None),
    ),
    "nested thousands deep": (
        OVERRIDE + "settings: {metal_allergy_verdict: " + "[" * 3000 + "]" * 3000 + "}\n",
        (None, "nesting depth", None),  # libyaml's own limit (1000) speaks first
    ),
    "alias bomb": (OVERRIDE + "settings: {}\n" + _LAUGHS, (None, "expands to more than", None)),
    "alias that contains itself": (
        OVERRIDE + "settings: {metal_allergy_verdict: &a [*a]}\n",
        (None, "refers to a collection that contains it", None),
    ),
    "object tag": (
        OVERRIDE + "settings: {metal_allergy_verdict: !!python/object/apply:os.getpid []}\n",
        (None, "tag that constructs objects", None),
    ),
    "too large": (OVERRIDE + "settings: {}\n" + "# padding\n" * 7000, (None, "too large", "at most 65,536 bytes")),
    "empty": ("", (None, "valid dictionary", "a mapping with 'schema: needlescreen.policy-override/1'")),
    "the defaults' schema": (
        "schema: needlescreen.policy/1\nsettings: {}\n",
        ("schema", "should match pattern", "needlescreen.policy-override/1"),
    ),
    "unknown top-level key": (OVERRIDE + "setings: {}\n", ("setings", "Extra inputs", "schema, clinic and settings")),
    "no settings": (OVERRIDE, ("settings", "Field required", None)),
    "a mapping for a number": (
        OVERRIDE + "settings: {platelets_refer_below: {value: 75}}\n",
        ("settings.platelets_refer_below", "invalid value", "a finite number"),
    ),
    "infinity for a number": (
        OVERRIDE + "settings: {inr_margin: .inf}\n",
        ("settings.inr_margin", "invalid value", "a finite number"),
    ),
    "yes for a number": (
        OVERRIDE + "settings: {inr_margin: yes}\n",
        ("settings.inr_margin", "invalid value True", "a finite number"),
    ),
    "a number for a verdict": (
        OVERRIDE + "settings: {heart_valve_verdict: 2}\n",
        ("settings.heart_valve_verdict", "invalid value 2", "one of ['caution', 'refer']"),
    ),
    "a verdict milder than allowed": (
        OVERRIDE + "settings: {heart_valve_verdict: clear}\n",
        ("settings.heart_valve_verdict", "invalid value 'clear'", "one of ['caution', 'refer']"),
    ),
    "below the minimum": (
        OVERRIDE + "settings: {platelets_refer_below: 5}\n",
        ("settings.platelets_refer_below", "out of range", "to"),
    ),
    "unknown setting": (
        OVERRIDE + "settings: {heart_valve_verdikt: caution}\n",
        ("settings.heart_valve_verdikt", "did you mean 'heart_valve_verdict'", "one of the settings"),
    ),
}


@pytest.mark.parametrize("name", sorted(BAD_POLICY_FILES))
def test_a_bad_clinic_file_is_a_policy_error_naming_file_setting_and_expectation(tmp_path: Path, name: str) -> None:
    content, (field, message, expected) = BAD_POLICY_FILES[name]
    path = tmp_path / "clinic-policy.yaml"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(PolicyError) as info:
        load_ruleset(policy_file=path)
    err = info.value
    assert isinstance(err, RuleFileError) and isinstance(err, ValueError) and err.code == "NS202"
    assert err.file == str(path) and str(path) in str(err)
    assert err.field == field
    assert message in err.detail, err.detail
    if expected is None:
        assert err.expected is None
    else:
        assert err.expected is not None and expected in err.expected
    with pytest.raises(PolicyError):
        Screener(policy_file=path, engine="plain")


@pytest.mark.parametrize("problem", ["missing", "a directory"])
def test_an_unreadable_clinic_file_is_a_policy_error(tmp_path: Path, problem: str) -> None:
    path = tmp_path / "clinic-policy.yaml"
    if problem == "a directory":
        path.mkdir()
    with pytest.raises(PolicyError, match="cannot read file") as info:
        load_ruleset(policy_file=path)
    assert info.value.file == str(path)


def test_the_shipped_defaults_are_read_by_the_same_loader(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(default_rules_dir(), rules)
    defaults = rules / "policy.yaml"
    text = defaults.read_text(encoding="utf-8")
    defaults.write_text(text + "settings: {}\n", encoding="utf-8")
    with pytest.raises(PolicyError, match="duplicate key 'settings'") as info:
        load_ruleset(rules)
    assert info.value.file == str(defaults)
    defaults.write_text(text.replace("value: refer", "value: clear", 1), encoding="utf-8")
    with pytest.raises(PolicyError, match="invalid value 'clear'") as info:
        load_ruleset(rules)
    assert info.value.field == "settings.first_trimester_verdict.value"


def test_a_policy_value_given_in_code_is_checked_the_same_way() -> None:
    with pytest.raises(PolicyError, match="out of range") as info:
        Screener(policy_overrides={"platelets_refer_below": 5}, engine="plain")
    assert info.value.field == "settings.platelets_refer_below"


def test_the_command_line_prints_one_error_line_for_a_bad_clinic_file(tmp_path: Path) -> None:
    path = tmp_path / "clinic-policy.yaml"
    path.write_text(OVERRIDE + "settings:\n  platelets_refer_below: 50\n  platelets_refer_below: 20\n", "utf-8")
    example = Path(__file__).resolve().parents[1] / "examples" / "cipn-electrical.json"
    for args in (["check", str(example)], ["explain", str(example)], ["rules", "list"], ["rules", "show", "PREG_T1"]):
        proc = subprocess.run(
            [sys.executable, "-m", "needlescreen", *args, "--policy", str(path)],
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, "COLUMNS": "200"},
        )
        assert proc.returncode == 2, (args, proc.stderr)
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"error: {path}: "), (args, proc.stderr)
        assert "duplicate key 'platelets_refer_below'" in lines[0]
        assert proc.stdout == ""
