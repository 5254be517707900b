"""Hostile and broken intakes: every input is screened or rejected with an IntakeError, nothing else.

Fuzzed at the boundary intake software uses (``Screener.screen`` with JSON or YAML text, bytes or a mapping):
random JSON values, valid intakes with one part mutated (wrong types, huge numbers, NaN and infinity, exponent
floats, long strings, deep nesting, unicode, duplicate keys, unknown fields), raw text and bytes, and a table of
hand-made attacks. For every input:

* the outcome is a :class:`ScreeningResult` or an :class:`IntakeError` (never another exception, and never an
  engine error code surfacing as a verdict or a crash), with every engine that loads here;
* a screened input is *faithful*: every value it gave reached the validated intake unchanged (no ``true`` read
  as 1, no "5" read as 5, no field dropped), so nothing invalid gets a verdict;
* a result can always be rendered as JSON.

"Nothing hangs" is checked by running the hand-made table in a child process under a timeout (no timing
assertion on speed). Limits: an intake at every list limit screens with every engine; one past it is rejected
naming the field and the limit.
"""

from __future__ import annotations

import copy
import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from needlescreen import IntakeError, Screener
from needlescreen.intake import MAX_DEVICES, MAX_LOCATIONS, MAX_MEDICATIONS, MAX_SITES, Intake
from needlescreen.result import ScreeningResult
from needlescreen.screening import parse_intake
from needlescreen.testing import baseline_intake, comparable

from .strategies import FINDING_KINDS, intakes

ROOT = Path(__file__).resolve().parents[1]


def outcome(screeners: dict[str, Screener], data: Any) -> ScreeningResult | IntakeError:
    """Screen with every engine: all must reject it alike, or all give the same result."""
    results: list[ScreeningResult | IntakeError] = []
    for screener in screeners.values():
        try:
            results.append(screener.screen(data))
        except IntakeError as exc:
            results.append(exc)
    for r in results:
        assert not isinstance(r, IntakeError) or r.problems, "an IntakeError must name at least one problem"
    first = results[0]
    if isinstance(first, IntakeError):
        assert all(isinstance(r, IntakeError) for r in results), "engines disagree on rejecting"
    else:
        assert all(isinstance(r, ScreeningResult) and comparable(r) == comparable(first) for r in results)
        json.loads(first.model_dump_json())
        assert first.verdict in ("clear", "caution", "refer")
    return first


def faithful(raw: Any, kept: Any, path: str = "") -> None:
    """Every value of ``raw`` is in ``kept`` (the validated intake, dumped) with the same type and value."""
    if isinstance(raw, dict):
        assert isinstance(kept, dict), path
        for key, value in raw.items():
            assert key in kept, f"{path}.{key} was dropped"
            faithful(value, kept[key], f"{path}.{key}")
    elif isinstance(raw, list | tuple):
        assert isinstance(kept, list | tuple) and len(raw) == len(kept), path
        for i, (a, b) in enumerate(zip(raw, kept, strict=True)):
            faithful(a, b, f"{path}[{i}]")
    elif isinstance(raw, bool) or raw is None:
        assert raw is kept or (raw == kept and type(raw) is type(kept)), f"{path}: {raw!r} became {kept!r}"
    elif isinstance(raw, int | float):
        assert isinstance(kept, int | float) and not isinstance(kept, bool), f"{path}: {raw!r} became {kept!r}"
        assert math.isfinite(kept) and float(raw) == float(kept), f"{path}: {raw!r} became {kept!r}"
    else:
        assert isinstance(raw, str) and isinstance(kept, str), f"{path}: {raw!r} became {kept!r}"
        assert raw.strip() == kept, f"{path}: {raw!r} became {kept!r}"


def check(screeners: dict[str, Screener], data: Any) -> ScreeningResult | IntakeError:
    result = outcome(screeners, data)
    if isinstance(result, ScreeningResult):
        raw = data
        if isinstance(data, str | bytes):
            raw = json.loads(data) if data.lstrip()[:1] in ("{", b"{") else None
        if raw is not None:
            faithful(raw, parse_intake(raw).model_dump(mode="python", exclude_unset=True))
    return result


# --- values that break things -------------------------------------------------------------------------------

NASTY_NUMBERS = st.sampled_from(
    [
        0,
        -1,
        -0.0,
        1e-5,
        5e-324,
        1.7976931348623157e308,
        10**20,
        10**400,
        -(10**400),
        2**63,
        2**64 + 1,
        1e16 + 1,
        0.1 + 0.2,
        float("nan"),
        float("inf"),
        float("-inf"),
    ]
)
NASTY_TEXT = st.sampled_from(
    [
        "",
        " ",
        "yes ",
        "YES",
        "5",
        "1e400",
        "NaN",
        "null",
        "\u0000",
        "\ud800",
        "\u202eright",
        "calf\u200b",
        "\uff43\uff41\uff4c\uff46",
        "x" * 100_000,
        "s" * 33,
        "../../etc/passwd",
        "{{7*7}}",
        "'; DROP TABLE patients; --",
    ]
)
SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30) | NASTY_NUMBERS | NASTY_TEXT
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, (*prefix, i))
    return out


@st.composite
def mutated_intakes(draw: Any) -> Any:
    """A valid intake with one part replaced, removed, added to, wrapped or nested deeply."""
    intake = copy.deepcopy(draw(intakes(max_sites=3)))
    path = draw(st.sampled_from(_paths(intake)[1:]))
    *parents, leaf = path
    node: Any = intake
    for key in parents:
        node = node[key]
    how = draw(st.sampled_from(["replace", "remove", "unknown key", "wrap", "deep", "number", "text"]))
    if how == "replace":
        node[leaf] = draw(JSON_VALUES)
    elif how == "remove":
        del node[leaf]
    elif how == "unknown key" and isinstance(node[leaf], dict):
        node[leaf][draw(st.text(min_size=1, max_size=12))] = draw(SCALARS)
    elif how == "wrap":
        node[leaf] = [node[leaf]]
    elif how == "deep":
        value: Any = node[leaf]
        for _ in range(draw(st.integers(1, 50))):
            value = {"x": value} if draw(st.booleans()) else [value]
        node[leaf] = value
    elif how == "number":
        node[leaf] = draw(NASTY_NUMBERS | st.floats())
    else:
        node[leaf] = draw(NASTY_TEXT | st.text())
    return intake


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


@given(data=JSON_VALUES)
def test_random_json_values_are_screened_or_rejected(data: Any, screeners: dict[str, Screener]) -> None:
    check(screeners, _dumps(data))
    if isinstance(data, dict):
        check(screeners, data)


@given(data=mutated_intakes())
def test_mutated_intakes_are_screened_faithfully_or_rejected(data: Any, screeners: dict[str, Screener]) -> None:
    check(screeners, data)
    try:
        text = _dumps(data)
    except (ValueError, UnicodeEncodeError):
        return
    check(screeners, text)


@given(intake=intakes(max_sites=3), fmt=st.sampled_from(["json", "json-ascii", "yaml", "bytes"]))
def test_valid_intakes_screen_the_same_as_json_yaml_and_bytes(
    intake: dict[str, Any], fmt: str, screeners: dict[str, Screener]
) -> None:
    import yaml

    expected = outcome(screeners, intake)
    assert isinstance(expected, ScreeningResult)
    text: str | bytes = {
        "json": lambda: json.dumps(intake, ensure_ascii=False),
        "json-ascii": lambda: json.dumps(intake),
        "yaml": lambda: yaml.safe_dump(intake, allow_unicode=True),
        "bytes": lambda: json.dumps(intake).encode("utf-8"),
    }[fmt]()
    got = outcome(screeners, text)
    assert isinstance(got, ScreeningResult) and comparable(got) == comparable(expected)


@given(text=st.text(max_size=200))
def test_random_text_is_screened_or_rejected(text: str, screeners: dict[str, Screener]) -> None:
    check(screeners, text)


@settings(report_multiple_bugs=False, suppress_health_check=list(HealthCheck))
@given(raw=st.binary(max_size=200))
def test_random_bytes_are_screened_or_rejected(raw: bytes, screeners: dict[str, Screener]) -> None:
    check(screeners, raw)


def test_bytes_that_are_not_utf8_are_rejected(screeners: dict[str, Screener]) -> None:
    check(screeners, b"\xff")


# --- hand-made attacks (also run in a child process under a timeout: nothing hangs) ---------------------------

_B = json.dumps(baseline_intake())
_BILLION_LAUGHS = (
    "a: &a [x, x, x, x, x, x, x, x, x]\n"
    + "".join(f"{c}: &{c} [{', '.join(['*' + p] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi", strict=True))
    + "plan: {technique: dry_needling, sites: [{id: s1, region: calf, side: left}]}\n"
    + "patient: {needle_phobia: *i}\n"
)

#: name -> (input, "rejected" | "screened")
ATTACKS: dict[str, tuple[Any, str]] = {
    "empty": ("", "rejected"),
    "whitespace": ("   \n\t", "rejected"),
    "null": ("null", "rejected"),
    "a list": ("[1, 2]", "rejected"),
    "a number": ("42", "rejected"),
    "NaN literal": (_B.replace('"age": 40', '"age": NaN'), "rejected"),
    "Infinity literal": (_B.replace('"age": 40', '"age": Infinity'), "rejected"),
    "-Infinity literal": (_B.replace('"bmi": 23.0', '"bmi": -Infinity'), "rejected"),
    "1e400 (overflows to inf)": (_B.replace('"age": 40', '"age": 1e400'), "rejected"),
    "huge integer": (_B.replace('"age": 40', '"age": ' + "9" * 5000), "rejected"),
    "exponent float in range": (_B.replace('"age": 40', '"age": 4.0e1'), "screened"),
    "tiny exponent float": (_B.replace('"bmi": 23.0', '"bmi": 2.3e1'), "screened"),
    "negative zero": (_B.replace('"age": 40', '"age": -0.0'), "screened"),
    "boolean as number": (_B.replace('"age": 40', '"age": true'), "rejected"),
    "number as text": (_B.replace('"age": 40', '"age": "40"'), "rejected"),
    "answer as boolean": (_B.replace('"needle_phobia": "no"', '"needle_phobia": false'), "rejected"),
    "answer in capitals": (_B.replace('"needle_phobia": "no"', '"needle_phobia": "NO"'), "rejected"),
    "unknown field": (_B.replace('"needle_phobia"', '"needle_phobiaa"'), "rejected"),
    "duplicate key": (_B.replace('"needle_phobia": "no"', '"needle_phobia": "yes", "needle_phobia": "no"'), "rejected"),
    "duplicate key at top": (_B[:-1] + ', "plan": ' + json.dumps(baseline_intake()["plan"]) + "}", "rejected"),
    "deep JSON nesting": ('{"patient": ' + "[" * 100_000 + "]" * 100_000 + "}", "rejected"),
    "deep JSON objects": ('{"a": ' + '{"a": ' * 50_000 + "1" + "}" * 50_001, "rejected"),
    "deep YAML nesting (pure-Python depth)": ("patient: " + "[" * 5_000 + "]" * 5_000, "rejected"),
    "very long site id": (_B.replace('"id": "s1"', '"id": "' + "s" * 1_000_000 + '"'), "rejected"),
    "very long medication": (
        _B.replace('"items": []', '"items": [{"name": "' + "w" * 1_000_000 + '"}]'),
        "rejected",
    ),
    "lone surrogate medication": (_B.replace('"items": []', '"items": [{"name": "\\ud800"}]'), "rejected"),
    "NUL in medication": (_B.replace('"items": []', '"items": [{"name": "war\\u0000farin"}]'), "screened"),
    "right-to-left override region": (_B.replace('"region": "calf"', '"region": "\\u202ecalf"'), "rejected"),
    "fullwidth region": (_B.replace('"region": "calf"', '"region": "\\uff43\\uff41\\uff4c\\uff46"'), "rejected"),
    "BOM before JSON": ("\ufeff" + _B, "screened"),
    "YAML python tag": ("!!python/object/apply:os.system ['echo pwned']", "rejected"),
    "YAML python tag in a field": (
        "plan: {technique: dry_needling, sites: [{id: s1, region: calf, side: left}]}\n"
        "patient: {age: !!python/object/apply:os.getpid []}\n",
        "rejected",
    ),
    "YAML billion laughs": (_BILLION_LAUGHS, "rejected"),
    "YAML duplicate key": (
        "plan: {technique: dry_needling, sites: [{id: s1, region: calf, side: left}]}\nplan: {technique: electrical}\n",
        "rejected",
    ),
    "YAML 1.1 boolean answer": (
        "plan: {technique: dry_needling, sites: [{id: s1, region: calf, side: left}]}\npatient: {needle_phobia: no}\n",
        "rejected",
    ),
    "YAML .nan": (
        "plan: {technique: dry_needling, sites: [{id: s1, region: calf, side: left}]}\npatient: {age: .nan}\n",
        "rejected",
    ),
    "YAML .inf": (
        "plan: {technique: dry_needling, sites: [{id: s1, region: calf, side: left}]}\npatient: {bmi: .inf}\n",
        "rejected",
    ),
    "YAML date as number": (
        "plan: {technique: dry_needling, sites: [{id: s1, region: calf, side: left}]}\npatient: {age: 2001-01-01}\n",
        "rejected",
    ),
    "many sites": (
        json.dumps(
            {"plan": {"technique": "dry_needling", "sites": [{"id": f"s{i}", "region": "back"} for i in range(500)]}}
        ),
        "rejected",
    ),
}


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_hand_made_attacks(name: str, screeners: dict[str, Screener]) -> None:
    data, expected = ATTACKS[name]
    got = check(screeners, data)
    kind = "screened" if isinstance(got, ScreeningResult) else "rejected"
    assert kind == expected, f"{name}: {kind}, expected {expected}: {got}"


_CHILD = """
import json, sys
sys.path.insert(0, {root!r})
from needlescreen import IntakeError, Screener
from tests.test_fuzz import ATTACKS
screener = Screener()
out = {{}}
for name, (data, _expected) in ATTACKS.items():
    try:
        screener.screen(data).model_dump_json()
        out[name] = "screened"
    except IntakeError:
        out[name] = "rejected"
print(json.dumps(out))
"""


def _child(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False, cwd=ROOT
    )


def test_no_attack_hangs_or_crashes_the_process() -> None:
    proc = _child(_CHILD.format(root=str(ROOT)))
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got == {name: expected for name, (_data, expected) in ATTACKS.items()}


#: Inputs that kill the interpreter cannot run in the test process: each runs in a child of its own.
_PARSE = "from needlescreen.screening import parse_intake as p; "
CRASHERS = {
    "deeply nested YAML intake": _PARSE + "p('[' * 100_000 + ']' * 100_000)",
    "deeply nested YAML mapping": _PARSE + "p('x: ' + '{a: ' * 100_000 + '1' + '}' * 100_000)",
    "deeply nested YAML rule file": (
        "import pathlib, shutil, tempfile; from needlescreen.ruleset import load_ruleset, default_rules_dir; "
        "from needlescreen import RuleFileError as IntakeError; d = pathlib.Path(tempfile.mkdtemp()) / 'r'; "
        "shutil.copytree(default_rules_dir(), d); (d / 'rules' / 'zz.yaml').write_text('[' * 100_000 + ']' * 100_000); "
        "load_ruleset(d)"
    ),
}


@pytest.mark.parametrize("name", sorted(CRASHERS))
def test_deep_nesting_is_rejected_without_killing_the_process(name: str) -> None:
    code = f"import sys; sys.path.insert(0, {str(ROOT)!r})\nfrom needlescreen import IntakeError\n"
    code += f"try:\n    {CRASHERS[name]}\nexcept IntakeError:\n    print('rejected')\n"
    proc = _child(code)
    assert proc.returncode == 0 and proc.stdout.strip() == "rejected", (proc.returncode, proc.stderr[-2000:])


# --- limits ---------------------------------------------------------------------------------------------------


def _largest() -> dict[str, Any]:
    """An intake at every list limit: sites, circuits, medications, devices and every finding's locations."""
    intake = copy.deepcopy(baseline_intake())
    sided = ["calf", "thigh", "forearm", "upper_arm", "hand", "foot", "knee", "elbow", "gluteal", "shoulder_girdle"]
    sites = [
        {"id": f"s{i}", "region": sided[i % len(sided)], "side": ("left", "right")[i // len(sided) % 2]}
        for i in range(MAX_SITES)
    ]
    intake["plan"] = {
        "technique": "electrical",
        "sites": sites,
        "circuits": [[f"s{i}", f"s{(i + 1) % MAX_SITES}"] for i in range(MAX_SITES)],
    }
    names = ["warfarin", "aspirin", "ibuprofen", "sertraline", "mystery pill"]
    intake["medications"] = {"complete": "yes", "items": [{"name": names[i % 5]} for i in range(MAX_MEDICATIONS)]}
    kinds = ["pacemaker", "icd", "joint_prosthesis", "port_picc"]
    intake["devices"] = {"answer": "yes", "items": [{"kind": kinds[i % 4]} for i in range(MAX_DEVICES)]}
    intake["findings"] = {
        k: {"answer": "yes", "locations": [{"region": sided[i % len(sided)]} for i in range(MAX_LOCATIONS)]}
        for k in FINDING_KINDS
    }
    intake["labs"] = {"inr": {"value": 3.1}, "platelets": {"value": 40.0}, "anc": {"value": 0.4}}
    return intake


def test_an_intake_at_every_limit_screens_with_every_engine(screeners: dict[str, Screener]) -> None:
    intake = _largest()
    Intake.model_validate(intake)
    result = check(screeners, intake)
    assert isinstance(result, ScreeningResult) and result.verdict == "refer"
    assert len(result.sites) == MAX_SITES
    check(screeners, json.dumps(intake))


@pytest.mark.parametrize(
    ("where", "grow", "limit"),
    [
        (
            "plan.sites",
            lambda d: d["plan"]["sites"].append({"id": "extra", "region": "calf", "side": "left"}),
            MAX_SITES,
        ),
        ("plan.circuits", lambda d: d["plan"]["circuits"].append(["s0", "s2"]), MAX_SITES),
        ("medications.items", lambda d: d["medications"]["items"].append({"name": "aspirin"}), MAX_MEDICATIONS),
        ("devices.items", lambda d: d["devices"]["items"].append({"kind": "icd"}), MAX_DEVICES),
        (
            f"findings.{FINDING_KINDS[0]}.locations",
            lambda d: d["findings"][FINDING_KINDS[0]]["locations"].append({"region": "calf"}),
            MAX_LOCATIONS,
        ),
    ],
)
def test_one_past_a_limit_is_rejected_naming_the_field_and_the_limit(
    where: str, grow: Any, limit: int, screeners: dict[str, Screener]
) -> None:
    intake = _largest()
    grow(intake)
    got = outcome(screeners, intake)
    assert isinstance(got, IntakeError)
    assert any(p.path == where and str(limit) in p.message for p in got.problems), got.problems


@pytest.mark.parametrize("n", [101, 500])
def test_hundreds_of_sites_medications_or_findings_are_rejected_naming_the_limit(
    n: int, screeners: dict[str, Screener]
) -> None:
    intake = _largest()
    intake["plan"]["sites"] = [{"id": f"s{i}", "region": "calf", "side": "left"} for i in range(n)]
    intake["plan"]["circuits"] = []
    intake["medications"]["items"] = [{"name": "aspirin"}] * n
    intake["findings"][FINDING_KINDS[0]]["locations"] = [{"region": "calf"}] * n
    got = outcome(screeners, intake)
    assert isinstance(got, IntakeError)
    paths = {p.path for p in got.problems}
    assert {"plan.sites", "medications.items", f"findings.{FINDING_KINDS[0]}.locations"} <= paths
    assert "durable" not in str(got).lower() and "status" not in str(got).lower()
