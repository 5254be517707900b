"""The README and docs/ stay true: nothing points outside the repository, and their figures, tables and examples
agree with the code.

Every check is a ``check_*``/``*_problems`` function run on the real pages and, in a ``test_breakage_*``
test, on a page broken on purpose, where it must fail.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

import needlescreen
from needlescreen.intake import MAX_DEVICES, MAX_LOCATIONS, MAX_MEDICATIONS, MAX_SITES
from needlescreen.lint import check_rules
from needlescreen.policy import load_policy_override
from needlescreen.questionnaire import load_questionnaire
from needlescreen.ruleset import MAX_ATOMS_PER_RULE, default_rules_dir, load_ruleset
from needlescreen.testing import baseline_intake, with_changes

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]

# --- links and paths -------------------------------------------------------------------------------------------

_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
_CODE = re.compile(r"`([^`\n]+)`")
#: A file name as prose writes one: what a reader would look for in the repository.
_FILE = re.compile(r"^[\w.\-/]+\.(md|py|yaml|yml|toml|feature|tsv|json|jsonl|txt|cfg|sh)$")
#: Bare names (no directory) of these kinds must be files of the repository; a bare .json or .yaml may be a
#: file the reader makes (``maria.json``, ``clinic-policy.yaml``).
_MUST_EXIST = (".md", ".py", ".feature", ".toml", ".tsv")
#: Paths that appear only after a command runs, each with the command.
_MADE_BY_A_COMMAND = {
    "benchmarks/results/latest.json": "make bench",
    "./needlescreen.db": "needlescreen serve",
    "test-artifacts/web/": "the browser tests (tests/web)",
}
#: Where the package's own paths live in a checkout (the wheel maps rules/ and features/ into the package).
_PACKAGE_PATHS = {
    "needlescreen/rules": "rules",
    "needlescreen/features": "features",
    "needlescreen": "src/needlescreen",
}


def _slug(heading: str) -> str:
    """The anchor GitHub gives a heading."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    return {_slug(m) for m in re.findall(r"^#+ (.+)$", page.read_text(encoding="utf-8"), flags=re.MULTILINE)}


def _in_repository(path: Path, root: Path) -> bool:
    return path.resolve().is_relative_to(root.resolve())


def _code_paths(text: str) -> Iterator[str]:
    for code in _CODE.findall(text):
        token = code.strip().rstrip(".,:;")
        if not re.fullmatch(r"[\w.\-/]+", token) or token.startswith("/"):
            continue  # commands, calls, endpoints, globs, templates and addresses
        if "/" in token or _FILE.match(token):
            yield token


def _package_path(token: str, root: Path) -> Path | None:
    for prefix, there in _PACKAGE_PATHS.items():
        if token == prefix or token.startswith(prefix + "/"):
            return root / there / token[len(prefix) :].lstrip("/")
    return None


def link_problems(page: Path, root: Path = ROOT) -> list[str]:
    """Every link or path of a page that points outside the repository or to nothing."""
    text = page.read_text(encoding="utf-8")
    problems = []
    for target in _LINK.findall(text):
        if re.match(r"^(https?|mailto):", target):
            continue
        file, _, anchor = target.partition("#")
        resolved = (page.parent / file) if file else page
        if not _in_repository(resolved, root):
            problems.append(f"link outside the repository: {target}")
        elif not resolved.exists():
            problems.append(f"link to nothing: {target}")
        elif anchor and resolved.suffix == ".md" and anchor not in _anchors(resolved):
            problems.append(f"link to a missing heading: {target}")
    prose = _LINK.sub("", text)
    if "../" in prose or re.search(r"(?<![\w.])/(work|home|tmp|Users)/", prose):
        problems.append("a path outside the repository in the text: " + ", ".join(re.findall(r"\S*\.\./\S*", prose)))
    files = [p for p in root.rglob("*") if ".git" not in p.parts and not any(x.startswith(".venv") for x in p.parts)]
    names = {p.name for p in files if p.is_file()}
    directories = {p.name for p in files if p.is_dir()}
    for token in _code_paths(text):
        if token in _MADE_BY_A_COMMAND or re.fullmatch(r"(application|text|image|multipart)/[\w.+-]+", token):
            continue  # made by a command, or a media type (`application/json`)
        if "/" not in token:
            if token.endswith(_MUST_EXIST) and token not in names:
                problems.append(f"no such file in the repository: {token}")
            continue
        if token.count("/") == 1 and token.endswith("/") and token[:-1] in directories:
            continue  # a directory named as it is known (`cli/`, `server/`), wherever it sits
        path = _package_path(token, root) or root / token
        if not _in_repository(path, root):
            problems.append(f"path outside the repository: {token}")
        elif not path.exists():
            problems.append(f"no such path in the repository: {token}")
    return problems


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_nothing_points_outside_the_repository_or_to_nothing(page: Path) -> None:
    assert not link_problems(page), link_problems(page)


def test_the_docs_link_every_page_and_the_error_page() -> None:
    index = (DOCS / "README.md").read_text(encoding="utf-8")
    for page in DOCS.glob("*.md"):
        if page.name != "README.md":
            assert f"]({page.name})" in index, f"docs/README.md does not link {page.name}"
    assert "(docs/README.md)" in (ROOT / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("see `../shared/durable-rules-notes.md`", "outside"),
        ("see [notes](../../shared/notes.md)", "outside"),
        ("the clinical reference, `clinical-reference.md`", "no such file"),
        ("see [errors](errors.md#no-such-heading)", "missing heading"),
        ("see [rules](rules.md)", "link to nothing"),
        ("see `rules/nothing.yaml`", "no such path"),
        ("on this machine: /work/shared/style.md", "outside"),
    ],
)
def test_breakage_a_page_pointing_outside_or_to_nothing_is_found(tmp_path: Path, text: str, expected: str) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "errors.md").write_text("# Errors\n", encoding="utf-8")
    page = tmp_path / "docs" / "page.md"
    page.write_text(f"# A page\n\n{text}\n", encoding="utf-8")
    problems = link_problems(page, tmp_path)
    assert any(expected in p for p in problems), problems


# --- figures in the README --------------------------------------------------------------------------------------


def _summary_lines() -> int:
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "NO_COLOR")}
    env["COLUMNS"] = "100"
    proc = subprocess.run(
        [sys.executable, "-m", "needlescreen", "check", str(ROOT / "examples" / "cipn-electrical.json")],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    return len(proc.stdout.splitlines())


def _figures() -> dict[str, tuple[str, Any]]:
    """Each figure the README states: the pattern that finds it and what the code says it is."""
    ruleset = load_ruleset()
    vocabulary = ruleset.vocabulary
    from tests import test_vocabulary
    from tests.test_medications_recognition import load_cases

    sources = yaml.safe_load((default_rules_dir() / "sources.yaml").read_text(encoding="utf-8"))["sources"]
    return {
        "rules and topic files": (
            r"(\d+) rules in (\d+) topic files",
            (len(ruleset.rules), len(list((default_rules_dir() / "rules").glob("*.yaml")))),
        ),
        "questions": (r"a questionnaire of (\d+) questions", (len(load_questionnaire().items),)),
        "site names": (
            r"(\d+) names and ([\d,]+) aliases",
            (len(vocabulary.terms), sum(len(t.aliases) for t in vocabulary.terms)),
        ),
        "policy settings": (r"(\d+) policy settings", (len(ruleset.policy.values),)),
        "sources": (r"and (\d+) sources \(", (len(sources),)),
        "summary lines": (r"cipn-electrical.json \| wc -l` gives (\d+) at 100 columns", (_summary_lines(),)),
        "recognition entries": (r"Recognition on (\d+) entries", (len(load_cases()),)),
        "site table": (r"a table of (\d+) names, abbreviations", (len(test_vocabulary.PLACES),)),
        "limits": (
            r"(\d+) sites and circuits, (\d+) medications, (\d+) devices, (\d+) locations per finding",
            (MAX_SITES, MAX_MEDICATIONS, MAX_DEVICES, MAX_LOCATIONS),
        ),
    }


def figure_problems(text: str, figures: dict[str, tuple[str, Any]], revision: str, rule_count: int) -> list[str]:
    """Figures of the README that the code does not bear out (or that are missing)."""
    problems = []
    for name, (pattern, expected) in figures.items():
        found = re.findall(pattern, text)
        if not found:
            problems.append(f"{name}: no figure found ({pattern})")
        for match in found:
            got = match if isinstance(match, tuple) else (match,)
            if tuple(int(g.replace(",", "")) for g in got) != tuple(expected):
                problems.append(f"{name}: the README says {got}, the code says {expected}")
    # A measurement names the ruleset it was made with; one made with this revision states its rule count.
    for rev, count in re.findall(r"ruleset ([\d.]+-\d+), (\d+) rules", text):
        if rev == revision and int(count) != rule_count:
            problems.append(f"ruleset {rev}: the README says {count} rules, the ruleset has {rule_count}")
    return problems


@pytest.fixture(scope="module")
def figures() -> dict[str, tuple[str, Any]]:
    return _figures()


def test_the_readme_figures_are_the_codes(figures: dict[str, tuple[str, Any]]) -> None:
    ruleset = load_ruleset()
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert not figure_problems(text, figures, ruleset.revision, len(ruleset.rules))
    assert figures["summary lines"][1][0] <= 30, "the summary of the bundled example is about 30 lines at most"


@pytest.mark.parametrize("broken", ["82 rules in", "ruleset 2026", "names and", "questionnaire of"])
def test_breakage_a_wrong_or_missing_figure_is_found(figures: dict[str, tuple[str, Any]], broken: str) -> None:
    ruleset = load_ruleset()
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    if broken == "82 rules in":
        text = re.sub(r"\d+ rules in", "85 rules in", text)
    elif broken == "ruleset 2026":
        text += f"\n(ruleset {ruleset.revision}, {len(ruleset.rules) + 3} rules)\n"
    elif broken == "names and":
        text = re.sub(r"(\d+) names and", lambda m: f"{int(m.group(1)) + 1} names and", text)
    else:
        text = text.replace("a questionnaire of", "a questionnaire with")
    assert figure_problems(text, figures, ruleset.revision, len(ruleset.rules))


def test_make_demo_installs_the_server_extra_the_readme_promises() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "`make demo`/`make test` venvs have it" in readme
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    demo = re.search(r"^\$\(VENV_DEMO\)/\.installed:.*?(?=^\S)", makefile, flags=re.MULTILINE | re.DOTALL)
    assert demo is not None
    assert re.search(r"pip install \$\(PIP_FLAGS\) '\.\[[^\]]*server[^\]]*\]'", demo.group(0)), demo.group(0)


# --- docs/policy.md ---------------------------------------------------------------------------------------------


def _table(page: Path, first_column: str) -> list[list[str]]:
    """The rows of the page's table whose header starts with ``first_column``, cells stripped of backticks."""
    rows, inside = [], False
    for line in page.read_text(encoding="utf-8").splitlines():
        if line.startswith(f"| {first_column} |"):
            inside = True
            continue
        if inside and line.startswith("| ---"):
            continue
        if inside and line.startswith("|"):
            rows.append([c.strip().strip("`") for c in line.strip().strip("|").split("|")])
        elif inside:
            break
    return rows


def _number(text: str) -> float:
    return float(text)


def policy_table_problems(rows: list[list[str]], ruleset: Any) -> list[str]:
    """Settings the page leaves out, invents, or describes otherwise than policy.yaml and the rules."""
    settings = ruleset.policy.settings
    uses: dict[str, set[str]] = {}
    for rule in ruleset.rules:
        for name in rule.policy:
            uses.setdefault(name, set()).add(rule.id)
    problems = []
    shown = {r[0] for r in rows}
    problems += [f"not on the page: {n}" for n in sorted(set(settings) - shown)]
    problems += [f"not a setting: {n}" for n in sorted(shown - set(settings))]
    for name, default, may_be, rules, _ in (r[:5] for r in rows if r[0] in settings):
        spec = settings[name]
        if spec.allowed is not None:
            if default != spec.value or [v.strip() for v in may_be.split(",")] != list(spec.allowed):
                problems.append(
                    f"{name}: {default} / {may_be} on the page, {spec.value} / {spec.allowed} in policy.yaml"
                )
        else:
            low, _, high = may_be.partition(" to ")
            if (_number(default), _number(low), _number(high)) != (spec.value, spec.minimum, spec.maximum):
                problems.append(
                    f"{name}: {default} ({may_be}) on the page, {spec.value} ({spec.minimum} to {spec.maximum})"
                )
        if {r.strip() for r in rules.split(",")} != uses.get(name, set()):
            problems.append(f"{name}: rules {rules} on the page, {sorted(uses.get(name, set()))} in the ruleset")
    return problems


def test_the_policy_page_describes_every_setting_as_it_is() -> None:
    rows = _table(DOCS / "policy.md", "setting")
    assert not policy_table_problems(rows, load_ruleset()), policy_table_problems(rows, load_ruleset())


def test_breakage_a_policy_page_that_is_out_of_date_is_found() -> None:
    rows = _table(DOCS / "policy.md", "setting")
    ruleset = load_ruleset()
    wrong_default = [[r[0], "40", *r[2:]] if r[0] == "platelets_refer_below" else r for r in rows]
    wrong_rules = [[*r[:3], "MINOR", *r[4:]] if r[0] == "minor_age_years" else r for r in rows]
    for broken in (rows[1:], wrong_default, wrong_rules, [*rows, ["made_up", "1", "0 to 2", "MINOR", ""]]):
        assert policy_table_problems(broken, ruleset)


def test_the_policy_page_examples_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = (DOCS / "policy.md").read_text(encoding="utf-8")
    (clinic,) = re.findall(r"```yaml\n(.*?)```", text, flags=re.DOTALL)
    (code,) = re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)
    (tmp_path / "clinic-policy.yaml").write_text(clinic, encoding="utf-8")
    override = load_policy_override(tmp_path / "clinic-policy.yaml")
    assert override  # the file the page shows is a valid clinic file
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "docs/policy.md", "exec"), {})  # the page's own example, run as a reader would


# --- docs/sources.md --------------------------------------------------------------------------------------------


def sources_table_problems(rows: list[list[str]], sources: dict[str, Any]) -> list[str]:
    shown = {r[0]: r[2] for r in rows}
    problems = [f"not on the page: {k}" for k in sorted(set(sources) - set(shown))]
    problems += [f"not a source: {k}" for k in sorted(set(shown) - set(sources))]
    problems += [
        f"{k}: evidence {shown[k]} on the page, {v['evidence']} in sources.yaml"
        for k, v in sources.items()
        if k in shown and shown[k] != v["evidence"]
    ]
    return problems


def test_the_sources_page_lists_every_source_with_how_it_is_known() -> None:
    sources = yaml.safe_load((default_rules_dir() / "sources.yaml").read_text(encoding="utf-8"))["sources"]
    rows = _table(DOCS / "sources.md", "key")
    assert not sources_table_problems(rows, sources), sources_table_problems(rows, sources)


def test_breakage_a_sources_page_that_is_out_of_date_is_found() -> None:
    sources = yaml.safe_load((default_rules_dir() / "sources.yaml").read_text(encoding="utf-8"))["sources"]
    rows = _table(DOCS / "sources.md", "key")
    promoted = [[r[0], r[1], "read"] if r[0] == "APTA13" else r for r in rows]
    assert sources_table_problems(rows[1:], sources)
    assert sources_table_problems(promoted, sources)


# --- docs/rules.md ----------------------------------------------------------------------------------------------


def test_the_rule_authoring_page_walks_a_rule_through_to_a_clean_check(tmp_path: Path) -> None:
    """The page's rule and scenario, added to a copy as the page says, pass the linter, and the rule does what
    the scenario says."""
    text = (DOCS / "rules.md").read_text(encoding="utf-8")
    rule = re.findall(r"```yaml\n(.*?)```", text, flags=re.DOTALL)[0]
    feature = re.findall(r"```gherkin\n(.*?)```", text, flags=re.DOTALL)[0]
    rule_id = re.search(r"- id: (\w+)", rule).group(1)  # type: ignore[union-attr]
    copy = tmp_path / "rules"
    shutil.copytree(default_rules_dir(), copy)
    shutil.copytree(ROOT / "features", tmp_path / "features")
    (copy / "rules" / "example.yaml").write_text(
        f"schema: needlescreen.rules/1\ntopic: Example\nrules:\n{rule}", encoding="utf-8"
    )
    unexercised = [p for p in check_rules(copy, tmp_path / "features") if p.kind == "no-scenario"]
    assert [p.rule_id for p in unexercised] == [rule_id], "without its scenario the linter names the rule"
    (tmp_path / "features" / "example.feature").write_text(feature, encoding="utf-8")
    # Step 5 as the page says: a new revision, its changelog entry, and the hash the files now have.
    manifest = copy / "ruleset.yaml"
    new_hash = load_ruleset(copy).content_hash
    data = manifest.read_text(encoding="utf-8")
    data = re.sub(r'revision: "[^"]+"', 'revision: "2099.01.01-1"', data)
    data = re.sub(r'content_sha256: "[0-9a-f]+"', f'content_sha256: "{new_hash}"', data)
    manifest.write_text(data, encoding="utf-8")
    changelog = copy / "CHANGELOG.md"
    head, _, rest = changelog.read_text(encoding="utf-8").partition("\n## ")
    changelog.write_text(f"{head}\n## 2099.01.01-1\n\n- New rule {rule_id} [I].\n\n## {rest}", encoding="utf-8")
    assert check_rules(copy, tmp_path / "features") == []
    # What the scenario claims, screened with the copy.
    screener = needlescreen.Screener(rules_dir=copy, engine="plain")
    old = with_changes(baseline_intake(), {"patient": {"age": 92}})
    electrical = with_changes(
        old,
        {
            "plan": {
                "technique": "electrical",
                "sites": [
                    {"id": "a", "region": "calf", "side": "right"},
                    {"id": "b", "region": "ankle", "side": "right"},
                ],
                "circuits": [["a", "b"]],
            }
        },
    )
    fired = {(f.rule_id, f.verdict) for f in screener.screen(electrical).findings if f.status == "fired"}
    assert (rule_id, "caution") in fired
    assert rule_id not in {f.rule_id for f in screener.screen(old).findings}


# --- docs/engine.md ---------------------------------------------------------------------------------------------


def test_the_engine_page_states_the_adapters_limits() -> None:
    text = " ".join((DOCS / "engine.md").read_text(encoding="utf-8").split())
    assert f"more than {MAX_ATOMS_PER_RULE} tests" in text
    durable = pytest.importorskip("needlescreen._durable", reason="durable_rules does not load on this Python")
    assert f"stay within {durable.STACK_LIMIT}" in text
    assert f"within {durable.MAX_EXPRESSIONS}" in text
