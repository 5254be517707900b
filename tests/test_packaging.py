"""The package installs: the sdist and the wheel carry the rule files, and an installed wheel screens.

A user gets needlescreen from a wheel, not from this checkout: the test builds the sdist and the wheel from a
copy of the checkout, and the wheel again from the unpacked sdist (what pip does with an sdist), offline with
the test environment's setuptools (no build isolation, nothing fetched). It installs the wheel built from the
sdist with ``--no-deps`` into a fresh virtual environment in a temporary directory outside the checkout; the
dependencies (pydantic, PyYAML, durable_rules' compiled engine, typer) come from the test environment through
a ``.pth`` file, so nothing is downloaded or compiled again. The installed command and library then screen the
bundled example with the rule files inside the installed package.
"""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

import needlescreen
from needlescreen.cli import EXIT_CODES

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "cipn-electrical.json"
#: Top-level directories of the checkout that ship inside the package (as needlescreen/<name>).
SHIPPED = ("rules", "features")
#: Not part of a checkout a user would build from (virtual environments, caches, build output).
_JUNK = {".git", "build", "dist", "__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache", ".hypothesis"}


def _junk(_directory: str, names: list[str]) -> set[str]:
    return {n for n in names if n in _JUNK or n.startswith(".venv") or n.endswith(".egg-info")}


def _run(args: list[str | Path], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    return subprocess.run(
        [str(a) for a in args], cwd=cwd, env={**clean, **env}, capture_output=True, text=True, check=False
    )


def _build(what: str, source: Path, out: Path) -> Path:
    script = f"from setuptools import build_meta as b; print(b.build_{what}({str(out)!r}))"
    proc = _run([sys.executable, "-c", script], cwd=source)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out / proc.stdout.strip().splitlines()[-1]


def _files_under(directory: Path) -> set[str]:
    return {p.relative_to(directory).as_posix() for p in directory.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """sdist, wheel from the checkout, wheel from the sdist."""
    base = tmp_path_factory.mktemp("build")
    checkout = base / "checkout"
    shutil.copytree(ROOT, checkout, ignore=_junk, symlinks=True)
    sdist = _build("sdist", checkout, base / "sdist")
    direct = _build("wheel", checkout, base / "wheel")
    with tarfile.open(sdist) as archive:
        archive.extractall(base / "unpacked", filter="data")
    (unpacked,) = (base / "unpacked").iterdir()
    from_sdist = _build("wheel", unpacked, base / "wheel-from-sdist")
    return {"sdist": sdist, "wheel": direct, "wheel_from_sdist": from_sdist}


def test_the_sdist_carries_the_rule_files_and_the_scenarios(built: dict[str, Path]) -> None:
    with tarfile.open(built["sdist"]) as archive:
        members = {m.name.split("/", 1)[1]: m for m in archive.getmembers() if "/" in m.name}
        for top in SHIPPED:
            for rel in sorted(_files_under(ROOT / top)):
                member = members.get(f"{top}/{rel}")
                assert member is not None and member.isfile(), f"{top}/{rel} is not in the sdist"
                stream = archive.extractfile(member)
                assert stream is not None and stream.read() == (ROOT / top / rel).read_bytes()
    assert not any(m.issym() or m.islnk() for m in members.values()), "a link is followed by editable installs only"


@pytest.mark.parametrize("which", ["wheel", "wheel_from_sdist"])
def test_the_wheel_carries_the_rule_files_the_scenarios_and_every_module(built: dict[str, Path], which: str) -> None:
    with zipfile.ZipFile(built[which]) as wheel:
        names = set(wheel.namelist())
        for top in SHIPPED:
            for rel in sorted(_files_under(ROOT / top)):
                name = f"needlescreen/{top}/{rel}"
                assert name in names, f"{name} is not in the wheel"
                assert wheel.read(name) == (ROOT / top / rel).read_bytes()
        # Packages are listed in pyproject.toml (because of the rules mapping): a new one must be added there.
        for rel in sorted(_files_under(ROOT / "src" / "needlescreen")):
            if rel.endswith((".py", ".typed")):
                assert f"needlescreen/{rel}" in names, f"src/needlescreen/{rel} is not in the wheel: list its package"
        assert not any(n.startswith(("tests/", "features/", "benchmarks/")) for n in names)


def test_the_wheel_carries_the_licence_its_metadata_names(built: dict[str, Path]) -> None:
    with zipfile.ZipFile(built["wheel_from_sdist"]) as wheel:
        names = wheel.namelist()
        metadata = wheel.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
        licences = [n for n in names if ".dist-info/" in n and n.rsplit("/", 1)[-1] == "LICENSE"]
        assert "Apache-2.0" in metadata and licences, (licences, metadata[:600])
        text = wheel.read(licences[0]).decode()
    assert text == (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert "Apache License" in text and "Version 2.0, January 2004" in text and "END OF TERMS AND CONDITIONS" in text


def test_the_wheel_is_the_same_from_the_checkout_and_from_the_sdist(built: dict[str, Path]) -> None:
    with zipfile.ZipFile(built["wheel"]) as direct, zipfile.ZipFile(built["wheel_from_sdist"]) as from_sdist:
        assert sorted(direct.namelist()) == sorted(from_sdist.namelist())
        for name in direct.namelist():
            if not name.endswith("RECORD"):
                assert direct.read(name) == from_sdist.read(name), name


@pytest.fixture(scope="module")
def venv(built: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment outside the checkout with the wheel built from the sdist installed."""
    home = tmp_path_factory.mktemp("installed")
    assert not home.resolve().is_relative_to(ROOT)
    env = home / "venv"
    proc = _run([sys.executable, "-m", "venv", "--without-pip", env], cwd=home)
    assert proc.returncode == 0, proc.stderr
    python = env / "bin" / "python"
    purelib = _run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=home)
    # The dependencies, without their build: the test environment's site-packages, after the venv's own.
    Path(purelib.stdout.strip(), "_test_environment.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    install = [sys.executable, "-m", "pip", "--python", python, "install", "--quiet", "--no-deps", "--no-index"]
    proc = _run([*install, "--ignore-installed", "--disable-pip-version-check", built["wheel_from_sdist"]], cwd=home)
    assert proc.returncode == 0, proc.stderr[-3000:]
    shutil.copy(EXAMPLE, home / EXAMPLE.name)
    return env


def test_the_installed_command_screens_the_example(venv: Path) -> None:
    home = venv.parent
    command = venv / "bin" / "needlescreen"
    proc = _run([command, "check", EXAMPLE.name], cwd=home, COLUMNS="100")
    assert proc.returncode == EXIT_CODES["refer"], proc.stderr
    assert proc.stdout.startswith("REFER - do not needle (at the sites shown) without clearance\n")
    assert "Needle in a limb with lymphoedema (L-forearm)" in proc.stdout and "Traceback" not in proc.stderr
    full = _run([command, "check", EXAMPLE.name, "--full"], cwd=home, COLUMNS="100")
    assert full.returncode == EXIT_CODES["refer"] and "LYMPHEDEMA_LIMB" in full.stdout
    version = _run([command, "--version"], cwd=home)
    assert version.returncode == 0 and version.stdout == f"needlescreen {needlescreen.__version__}\n"
    check = _run([command, "rules", "check"], cwd=home)
    assert check.returncode == 0 and check.stdout.strip() == "rule files OK", check.stdout + check.stderr


def test_the_installed_package_shows_each_rule_with_its_scenarios(venv: Path) -> None:
    """``rules show``, the catalogue and ``GET /rules/{id}`` read the scenarios shipped in the package."""
    home = venv.parent
    shown = _run([venv / "bin" / "needlescreen", "rules", "show", "LYMPHEDEMA_LIMB"], cwd=home, COLUMNS="200")
    assert shown.returncode == 0, shown.stderr
    assert "lymphoedema.feature:" in shown.stdout and "no scenarios found" not in shown.stdout
    script = (
        "import json, pathlib, needlescreen\n"
        "from fastapi.testclient import TestClient\n"
        "from needlescreen.catalogue import features_dir, rule_document\n"
        "from needlescreen.server import Settings, create_app\n"
        "ruleset = needlescreen.load_ruleset()\n"
        "doc = rule_document(ruleset.rule('LYMPHEDEMA_LIMB'), ruleset)\n"
        "settings = Settings(database_url='sqlite:///' + str(pathlib.Path('records.db').resolve()))\n"
        "with TestClient(create_app(settings)) as client:\n"
        "    served = client.get('/rules/LYMPHEDEMA_LIMB').json()\n"
        "print(json.dumps({'features': str(features_dir(ruleset.directory)), 'library': doc['scenarios'],\n"
        "    'served': served['scenarios']}))\n"
    )
    proc = _run([venv / "bin" / "python", "-c", script], cwd=home)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert Path(got["features"]).resolve().is_relative_to(venv.resolve()), got["features"]
    features = (ROOT / "features").glob("*.feature")
    expected = sorted(p.name for p in features if "LYMPHEDEMA_LIMB" in p.read_text("utf-8"))
    assert expected and sorted({s["file"] for s in got["library"]}) == expected
    assert got["served"] == got["library"]


def test_the_installed_library_screens_the_example_with_its_own_rule_files(venv: Path) -> None:
    home = venv.parent
    script = (
        "import json, pathlib, needlescreen\n"
        "from needlescreen.ruleset import default_rules_dir\n"
        f"path = pathlib.Path({EXAMPLE.name!r})\n"
        "result = needlescreen.screen(path)\n"
        "plain = needlescreen.Screener(engine='plain').screen(path)\n"
        "print(json.dumps({'module': needlescreen.__file__, 'rules': str(default_rules_dir()),\n"
        "    'verdict': result.verdict, 'plain': plain.verdict, 'version': needlescreen.__version__,\n"
        "    'hash': result.ruleset.content_hash, 'revision': result.ruleset.revision,\n"
        "    'findings': sorted({f.rule_id for f in result.findings})}))\n"
    )
    proc = _run([venv / "bin" / "python", "-c", script], cwd=home)
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout)
    installed = venv.resolve()
    assert Path(got["module"]).resolve().is_relative_to(installed), got["module"]
    assert Path(got["rules"]).resolve().is_relative_to(installed), got["rules"]
    assert got["verdict"] == got["plain"] == "refer"
    assert {"LYMPHEDEMA_LIMB", "LYMPHEDEMA_AT_RISK"} <= set(got["findings"])
    bundled = needlescreen.load_ruleset()
    assert (got["hash"], got["revision"]) == (bundled.content_hash, bundled.revision), "the same rules shipped"
    assert got["version"] == needlescreen.__version__
