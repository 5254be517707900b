"""Broken and hostile rule files are rejected at load, naming the file, the rule and the field.

Each case copies the bundled ruleset to a temporary directory, breaks one thing and loads it. Nothing here is
tied to today's rules: the target is the first rule of the first rule file, and facts are picked from the fact
catalogue by type and scope. A rule file that *does* load, however odd, must then be safe for durable_rules:
``test_random_rule_files_that_load_are_safe_on_durable_rules`` compiles hundreds of random conditions and
screens with them in a subprocess that must neither crash nor hang, and must agree with the plain evaluator.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from needlescreen import RuleFileError, load_ruleset
from needlescreen.engine import available_engines
from needlescreen.facts import ALWAYS_KNOWN, FACTS
from needlescreen.ruleset import default_rules_dir

from .conftest import THOROUGH

ROOT = Path(__file__).resolve().parents[1]


def _fact(ftype: str, scope: str = "patient") -> str:
    """A fact of the catalogue with this type and scope (never one that is always known)."""
    for name, spec in sorted(FACTS.items()):
        if spec.type == ftype and spec.scope == scope and name not in ALWAYS_KNOWN:
            return name
    raise LookupError(ftype)


ANSWER = _fact("answer")
NUMBER = _fact("number")
SITE_ANSWER = _fact("answer", "site")


@pytest.fixture
def rules_copy(tmp_path: Path) -> Path:
    target = tmp_path / "rules"
    shutil.copytree(default_rules_dir(), target, symlinks=False)
    return target


def _first_file(root: Path) -> Path:
    return sorted((root / "rules").glob("*.yaml"))[0]


def _edit_rule(root: Path, change: Callable[[dict[str, Any]], None]) -> tuple[str, str]:
    """Apply ``change`` to the first rule of the first rule file; return (file name, rule id)."""
    path = _first_file(root)
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    rule = data["rules"][0]
    rule_id = rule["id"]
    change(rule)
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path.name, rule_id


def _when(cond: Any) -> Callable[[dict[str, Any]], None]:
    def change(rule: dict[str, Any]) -> None:
        rule["when"] = cond

    return change


def _set(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(rule: dict[str, Any]) -> None:
        rule[key] = value

    return change


def _drop(key: str) -> Callable[[dict[str, Any]], None]:
    def change(rule: dict[str, Any]) -> None:
        del rule[key]

    return change


def _nest(depth: int) -> dict[str, Any]:
    cond: dict[str, Any] = {"fact": ANSWER, "eq": "yes"}
    for _ in range(depth):
        cond = {"not": cond}
    return cond


def _siblings(n: int) -> dict[str, Any]:
    return {"any": [{"fact": NUMBER, "gt": float(i + 1)} for i in range(n)]}


REQUIRED = ("id", "title", "classification", "verdict", "scope", "when", "unknown", "summary", "detail", "references")

#: name -> (change to the first rule, words the error must contain besides file and rule)
RULE_MUTATIONS: dict[str, tuple[Callable[[dict[str, Any]], None], tuple[str, ...]]] = {
    "empty all": (_when({"all": []}), ("when", "non-empty")),
    "empty any": (_when({"any": []}), ("when", "non-empty")),
    "absence only (known: false)": (_when({"fact": ANSWER, "known": False}), ("when", "absent")),
    "absence only (not known: true)": (_when({"not": {"fact": ANSWER, "known": True}}), ("when", "absent")),
    "absence-only branch in any": (
        _when({"any": [{"fact": ANSWER, "known": False}, {"fact": ANSWER, "eq": "yes"}]}),
        ("when",),
    ),
    "600 sibling conditions": (_when(_siblings(600)), ("when",)),
    "fact typo": (_when({"fact": ANSWER[:-2] + ANSWER[-1] + ANSWER[-2], "eq": "yes"}), ("did you mean", ANSWER)),
    "unknown fact": (_when({"fact": "patient.horoscope", "eq": "yes"}), ("unknown fact",)),
    "summary as a list": (_set("summary", ["a", "list"]), ("summary",)),
    "summary too long": (_set("summary", "x" * 141), ("summary", "140")),
    "verdict clear": (_set("verdict", "clear"), ("verdict",)),
    "unknown verdict clear": (_set("unknown", "clear"), ("unknown",)),
    "verdict as a number": (_set("verdict", 2), ("verdict",)),
    "classification invented": (_set("classification", "maybe"), ("classification",)),
    "scope invented": (_set("scope", "everywhere"), ("scope",)),
    "id lower case": (_set("id", "lower_case"), ("id",)),
    "no references": (_set("references", []), ("references",)),
    "unknown reference": (_set("references", ["NO_SUCH_SOURCE_KEY"]), ("NO_SUCH_SOURCE_KEY",)),
    "extra field": (_set("severity", "high"), ("severity",)),
    "when as text": (_set("when", "needle phobia"), ("when",)),
    "unknown operator": (_when({"fact": ANSWER, "equals": "yes"}), ("equals",)),
    "two operators": (_when({"fact": ANSWER, "eq": "yes", "ne": "no"}), ("operator",)),
    "operator for another type": (_when({"fact": NUMBER, "eq": "yes"}), ("eq", NUMBER)),
    "comparison without a value": (_when({"fact": ANSWER, "eq": None}), ("without a value",)),
    "answer value invented": (_when({"fact": ANSWER, "eq": "maybe"}), ("maybe",)),
    "number as text": (_when({"fact": NUMBER, "lt": "5"}), ("number",)),
    "number NaN": (_when({"fact": NUMBER, "lt": float("nan")}), ("number",)),
    "number infinite": (_when({"fact": NUMBER, "lt": float("inf")}), ("number",)),
    "number with exponent too small": (_when({"fact": NUMBER, "lt": 1e-9}), ("number",)),
    "number too large": (_when({"fact": NUMBER, "lt": 1e12}), ("number",)),
    "number as boolean": (_when({"fact": NUMBER, "lt": True}), ("number",)),
    "unknown region": (_when({"fact": "site.region", "within": ["elbw"]}), ("region",)),
    "unknown policy": (_when({"fact": NUMBER, "lt": {"policy": "no_such_setting"}}), ("no_such_setting",)),
    "policy that is not a verdict": (_set("verdict", {"policy": "fever_threshold_c"}), ("verdict",)),
    "unknown combinator": (_when({"or": [{"fact": ANSWER, "eq": "yes"}]}), ("or",)),
    "fact and combinator": (_when({"fact": ANSWER, "eq": "yes", "all": []}), ("when",)),
    "nested too deep": (_when(_nest(40)), ("deeper",)),
    "never true": (_when({"all": [{"fact": ANSWER, "eq": "yes"}, {"fact": ANSWER, "eq": "no"}]}), ("never",)),
    "known on an always-known fact": (_when({"fact": "plan.technique", "known": True}), ("always known",)),
    "site fact in a patient rule": (
        lambda r: (r.update(scope="patient"), r.update(when={"fact": SITE_ANSWER, "eq": "yes"})),
        ("site",),
    ),
    **{f"missing {key}": (_drop(key), (key,)) for key in REQUIRED},
}


_KNOWN_GAPS: dict[str, str] = {}


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(n, marks=pytest.mark.xfail(strict=True, reason=_KNOWN_GAPS[n])) if n in _KNOWN_GAPS else n
        for n in sorted(RULE_MUTATIONS)
    ],
)
def test_a_broken_rule_is_rejected_naming_file_rule_and_field(name: str, rules_copy: Path) -> None:
    change, words = RULE_MUTATIONS[name]
    file_name, rule_id = _edit_rule(rules_copy, change)
    with pytest.raises(RuleFileError) as info:
        load_ruleset(rules_copy)
    message = str(info.value)
    assert file_name in message, message
    # A rule is named by its id, or by its position when the id itself is what is wrong.
    named = {"id lower case": "lower_case", "missing id": "#0"}.get(name, rule_id)
    assert named in message, message
    for word in words:
        assert word.lower() in message.lower(), f"{name}: {word!r} not in {message!r}"


def _replace_text(root: Path, old: str, new: str) -> str:
    path = _first_file(root)
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path.name


def test_a_yaml_tag_that_runs_a_command_is_rejected_and_never_runs(rules_copy: Path, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    name = _replace_text(
        rules_copy, "\n  - id:", f"\n  - x: !!python/object/apply:os.system ['touch {marker}']\n    id:"
    )
    with pytest.raises(RuleFileError, match="tag") as info:
        load_ruleset(rules_copy)
    assert name in str(info.value)
    assert not marker.exists()


@pytest.mark.parametrize(
    "tag",
    ["!!python/name:os.system", "!!python/module:os", "!!python/object/new:dict []", "!!binary aGVsbG8="],
)
def test_object_constructing_tags_are_rejected(tag: str, rules_copy: Path) -> None:
    _replace_text(rules_copy, "\n  - id:", f"\n  - x: {tag}\n    id:")
    with pytest.raises(RuleFileError):
        load_ruleset(rules_copy)


def test_a_duplicate_key_in_a_rule_is_rejected(rules_copy: Path) -> None:
    # safe_load keeps the last of two equal keys silently: a second `verdict:` would quietly win.
    path = _first_file(rules_copy)
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    rule_id = data["rules"][0]["id"]
    text = path.read_text(encoding="utf-8")
    _replace_text(rules_copy, f"id: {rule_id}\n", f"id: {rule_id}\n    id: {rule_id}_TWIN\n")
    assert f"{rule_id}_TWIN" in path.read_text(encoding="utf-8") and text != path.read_text(encoding="utf-8")
    with pytest.raises(RuleFileError, match=r"(?i)duplicate"):
        load_ruleset(rules_copy)


def test_a_duplicate_rule_id_across_files_is_rejected(rules_copy: Path) -> None:
    first = _first_file(rules_copy)
    shutil.copy(first, rules_copy / "rules" / "zz_copy.yaml")
    with pytest.raises(RuleFileError, match="duplicate rule id"):
        load_ruleset(rules_copy)


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"", ()),
        (b"- just\n- a list\n", ()),
        (b"schema: needlescreen.rules/9\ntopic: x\nrules: []\n", ("schema",)),
        (b"schema: needlescreen.rules/1\ntopic: x\nrules:\n  - 1\n", ()),
        (b"schema: needlescreen.rules/1\ntopic: x\nrules: [\n", ("YAML",)),
        (b"schema: needlescreen.rules/1\n\ttopic: x\n", ("YAML",)),
        (b"\xff\xfe not utf-8 \x80\n", ("utf-8",)),
        (b"a: &a [x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a]\nc: [*b, *b, *b, *b, *b, *b]\n", ()),
    ],
    ids=["empty", "list", "schema", "rule not a mapping", "unclosed", "tab", "not utf-8", "alias bomb"],
)
def test_a_malformed_rule_file_is_rejected_naming_it(content: bytes, words: tuple[str, ...], rules_copy: Path) -> None:
    (rules_copy / "rules" / "zz_bad.yaml").write_bytes(content)
    with pytest.raises(RuleFileError) as info:
        load_ruleset(rules_copy)
    assert "zz_bad.yaml" in str(info.value)
    for word in words:
        assert word.lower() in str(info.value).lower()


@pytest.mark.parametrize(
    ("file", "change"),
    [
        ("regions.yaml", lambda d: d["regions"]["body"].update(parents=["trunk"])),  # a cycle
        ("regions.yaml", lambda d: d["regions"][sorted(d["regions"])[0]].update(parents=["atlantis"])),
        ("regions.yaml", lambda d: d.update(schema="needlescreen.regions/0")),
        ("policy.yaml", lambda d: d["settings"][sorted(d["settings"])[0]].update(value="whatever")),
        ("policy.yaml", lambda d: d["settings"][sorted(d["settings"])[0]].update(value=float("nan"))),
        ("sources.yaml", lambda d: d["sources"][sorted(d["sources"])[0]].update(evidence="hearsay")),
        ("medications.yaml", lambda d: d.update(classes={"Bad Name": {"label": "x"}})),
        ("ruleset.yaml", lambda d: d.update(revision="")),
    ],
    ids=["region cycle", "unknown parent", "regions schema", "policy value", "policy nan", "evidence", "class", "rev"],
)
def test_broken_data_files_are_rejected_naming_them(file: str, change: Callable[[Any], Any], rules_copy: Path) -> None:
    path = rules_copy / file
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    with pytest.raises(RuleFileError) as info:
        load_ruleset(rules_copy)
    assert file in str(info.value)


# --- rule files that load must be safe for durable_rules -----------------------------------------------------

_FUZZ_RULES = textwrap.dedent(
    """
    import json, random, sys, pathlib, shutil, tempfile, yaml
    sys.path.insert(0, {root!r})
    from needlescreen import IntakeError, RuleFileError, Screener, load_ruleset
    from needlescreen.ruleset import default_rules_dir
    from needlescreen.testing import comparable
    from tests.strategies import random_rule_file
    from tests.generate import random_intake

    seed, count = int(sys.argv[1]), int(sys.argv[2])
    rng = random.Random(seed)
    base = load_ruleset()
    intakes = [random_intake(rng, base.regions) for _ in range(60)]
    tmp = pathlib.Path(tempfile.mkdtemp())
    loaded = rejected = screened = 0
    for k in range(count):
        root = tmp / f"r{{k}}"
        shutil.copytree(default_rules_dir(), root)
        for old in (root / "rules").glob("*.yaml"):
            old.unlink()
        (root / "rules" / "fuzz.yaml").write_text(random_rule_file(rng, base, n_rules=rng.randint(1, 12)))
        try:
            rs = load_ruleset(root)
        except RuleFileError:
            rejected += 1
            continue
        loaded += 1
        durable, plain = Screener(rs, engine="durable_rules"), Screener(rs, engine="plain")
        for intake in rng.sample(intakes, 12):
            # A ruleset without a rule that stands in for an unmapped diagnosis code rejects such an intake: both
            # engines alike, before either runs (fail closed), with the same problems.
            try:
                a = durable.screen(intake)
            except IntakeError as exc:
                try:
                    plain.screen(intake)
                except IntakeError as again:
                    assert exc.problems == again.problems, (k, intake)
                    continue
                raise AssertionError(("only durable_rules rejected", k, intake))
            b = plain.screen(intake)
            assert comparable(a) == comparable(b), (k, intake)
            screened += 1
        durable.engine.close()
    print(json.dumps({{"loaded": loaded, "rejected": rejected, "screened": screened}}))
    """
)


@pytest.mark.skipif("durable_rules" not in available_engines(), reason="durable_rules not loadable")
def test_random_rule_files_that_load_are_safe_on_durable_rules(tmp_path: Path) -> None:
    """Random conditions over the whole fact catalogue: each ruleset that loads is registered with
    durable_rules in a child process that must not crash or hang, and must agree with the plain evaluator."""
    count = 400 if THOROUGH else 60
    script = tmp_path / "fuzz_rules.py"
    script.write_text(_FUZZ_RULES.format(root=str(ROOT)), encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, str(script), "20261121", str(count)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        cwd=ROOT,
    )
    assert proc.returncode == 0, f"child failed ({proc.returncode}):\n{proc.stderr[-3000:]}"
    stats = json.loads(proc.stdout.strip().splitlines()[-1])
    assert stats["loaded"] >= count // 4 and stats["screened"] > 0, stats
