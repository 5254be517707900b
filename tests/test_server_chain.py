"""Records that cannot be rewritten, and rewriting that cannot go unseen, on SQLite and PostgreSQL.

* The database refuses every statement that would change or remove a stored record: UPDATE, DELETE, an insert that
  replaces a row (SQLite's INSERT OR REPLACE / REPLACE INTO; PostgreSQL's ON CONFLICT DO UPDATE) and TRUNCATE.
* Each record is sealed into a hash chain; ``needlescreen records verify`` and ``GET /screenings/verify`` report
  the first record that does not match once someone went around the triggers (a superuser dropping one, then
  editing a row with raw SQL).
* Concurrent writers in two processes still make one unbroken chain.
* On PostgreSQL the service runs as a role that may only SELECT and INSERT (``docs/deployment.md``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import multiprocessing
import re
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("sqlalchemy", reason="the server extra is not installed")

from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from needlescreen.cli import app as cli_app
from needlescreen.server import Settings, create_app
from needlescreen.server.chain import GENESIS, SEALED_FIELDS, seal
from needlescreen.server.store import ScreeningRecord, Store, migrate, normalise_url
from needlescreen.testing import baseline_intake

from .server_helpers import REPO, postgres_cluster, reset_database

JSON = {"Content-Type": "application/json"}
_COLUMNS = [c.key for c in ScreeningRecord.__table__.columns]


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    with postgres_cluster() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'records.db'}"
    return reset_database(request.getfixturevalue("pg_url"))


def _record(ref: str, verdict: str = "refer", tenant: str | None = None) -> ScreeningRecord:
    when = dt.datetime(2026, 11, 2, 9, 30, 15, 123456, tzinfo=dt.UTC)
    return ScreeningRecord(
        id=str(uuid.uuid4()),
        created_at=when,
        submitted_by="local",
        tenant=tenant,
        patient_ref=ref,
        clinician="Dr A",
        clinic=None,
        encounter_date=when.date(),
        verdict=verdict,
        technique="dry_needling",
        ruleset_name="needlescreen-core",
        ruleset_revision="r1",
        ruleset_hash="0" * 64,
        policy_source="bundled",
        engine="plain",
        package_version="0.1.0",
        previous_id=None,
        intake_json=json.dumps({"patient_ref": ref}),
        result_json=json.dumps({"verdict": verdict}),
    )


def _raw(url: str, *statements: str) -> None:
    """Run SQL as the database's owner (the PostgreSQL cluster's superuser; anyone who can open the SQLite file)."""
    engine = create_engine(normalise_url(url))
    try:
        with engine.begin() as conn:
            for statement in statements:
                conn.execute(text(statement))
    finally:
        engine.dispose()


def _verify_cli(url: str, *args: str) -> tuple[int, dict[str, Any]]:
    result = CliRunner().invoke(cli_app, ["records", "verify", "--database-url", url, "--format", "json", *args])
    assert result.exit_code in (0, 4), result.output
    return result.exit_code, json.loads(result.output)


# --- the seal ------------------------------------------------------------------------------------------------


def test_the_seal_is_the_documented_canonical_form() -> None:
    values = dict.fromkeys(SEALED_FIELDS) | {
        "id": "00000000-0000-4000-8000-000000000001",
        "created_at": dt.datetime(2026, 11, 2, 9, 30, tzinfo=dt.UTC),
        "encounter_date": dt.date(2026, 11, 2),
        "verdict": "refer",
        "intake_json": '{"a": "\u00e9\n\t\u0001 \u2028 \\"q\\" \\\\ </x>"}',
    }
    # Written out by hand from chain.py's docstring: UTF-8, sorted keys, no spaces, v 1, UTC with microseconds.
    document = dict.fromkeys(SEALED_FIELDS) | {
        "id": "00000000-0000-4000-8000-000000000001",
        "created_at": "2026-11-02T09:30:00.000000Z",
        "encounter_date": "2026-11-02",
        "verdict": "refer",
        "intake_json": '{"a": "\u00e9\n\t\u0001 \u2028 \\"q\\" \\\\ </x>"}',
        "prev_hash": GENESIS,
        "v": 1,
    }
    text_ = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert seal(values, GENESIS) == hashlib.sha256(text_.encode("utf-8")).hexdigest()
    # Pinned: a stored seal is checked against this form for as long as the record is kept.
    assert seal(values, GENESIS) == "69623c833abe00908d8076506b6c8fa967867df0fcf49179b5e8d1e93e8cb11c"


@pytest.mark.parametrize("name", SEALED_FIELDS)
def test_the_seal_covers_every_stored_value(name: str) -> None:
    values: dict[str, Any] = dict.fromkeys(SEALED_FIELDS, "x") | {
        "created_at": dt.datetime(2026, 11, 2, tzinfo=dt.UTC),
        "encounter_date": dt.date(2026, 11, 2),
    }
    before = seal(values, GENESIS)
    changed = dict(values)
    if name == "created_at":
        changed[name] = values[name] + dt.timedelta(microseconds=1)
    elif name == "encounter_date":
        changed[name] = dt.date(2026, 11, 3)
    else:
        changed[name] = "y"
    assert seal(changed, GENESIS) != before, f"a change of {name} would go unseen"
    assert seal(values, "1" * 64) != before, "the seal before it is part of the seal"


# --- the database refuses rewrites ---------------------------------------------------------------------------


def _refused(url: str, statement: str) -> None:
    with pytest.raises(Exception, match="append-only"):
        _raw(url, statement)


def test_no_statement_rewrites_a_record(url: str) -> None:
    migrate(url)
    store = Store(url)
    try:
        made = store.add(_record("A", "refer"))
    finally:
        store.close()
    _refused(url, "UPDATE screening_records SET verdict = 'clear'")
    _refused(url, "DELETE FROM screening_records")
    names = [c for c in _COLUMNS if c != "seq"]
    columns = ", ".join(names)
    # A copy of the record that says clear where it said refer, under the same id.
    copy = "SELECT " + ", ".join("'clear'" if c == "verdict" else c for c in names) + " FROM screening_records"
    if url.startswith("sqlite"):
        # Without a trigger of its own SQLite deletes the replaced row and fires no DELETE trigger.
        _refused(url, f"INSERT OR REPLACE INTO screening_records ({columns}) {copy}")
        _refused(url, f"REPLACE INTO screening_records ({columns}) {copy}")
        _refused(url, f"INSERT OR REPLACE INTO screening_records (seq, {columns}) SELECT seq, {copy[7:]}")
    else:
        # A plain TRUNCATE is refused by the card feedback's foreign key before the trigger; CASCADE reaches it.
        with pytest.raises(Exception, match=r"append-only|cannot truncate"):
            _raw(url, "TRUNCATE screening_records")
        _refused(url, "TRUNCATE screening_records CASCADE")
        _refused(
            url, f"INSERT INTO screening_records ({columns}) {copy} ON CONFLICT (id) DO UPDATE SET verdict = 'clear'"
        )
    store = Store(url)
    try:
        got = store.get(made.id)
        assert got is not None and got.verdict == "refer"
        assert store.verify().ok
    finally:
        store.close()


# --- tampering is found ---------------------------------------------------------------------------------------


def _three_records(url: str) -> list[ScreeningRecord]:
    migrate(url)
    store = Store(url)
    try:
        return [store.add(_record(ref, "refer" if ref == "B" else "clear")) for ref in ("A", "B", "C")]
    finally:
        store.close()


def _drop_guards(url: str) -> None:
    if url.startswith("sqlite"):
        _raw(url, "DROP TRIGGER screening_records_no_update", "DROP TRIGGER screening_records_no_delete")
        _raw(url, "DROP TRIGGER screening_records_no_replace")
    else:
        _raw(url, "DROP TRIGGER screening_records_append_only ON screening_records")


def test_an_untouched_chain_verifies(url: str) -> None:
    made = _three_records(url)
    code, report = _verify_cli(url)
    assert code == 0 and report["ok"] is True
    assert report["checked"] == 3 and report["first_mismatch"] is None and report["missing_guards"] == []
    assert report["head"]["hash"] == made[-1].record_hash
    code, anchored = _verify_cli(url, "--anchor", str(made[1].record_hash))
    assert code == 0 and anchored["anchor_found"] is True
    code, lost = _verify_cli(url, "--anchor", "f" * 64)
    assert code == 4 and lost["anchor_found"] is False


def test_a_row_edited_by_a_superuser_is_found(url: str) -> None:
    made = _three_records(url)
    _drop_guards(url)
    code, report = _verify_cli(url)
    assert code == 4 and report["first_mismatch"] is None, "dropping a trigger alone is already reported"
    assert report["missing_guards"]
    # The refer record now says clear, in its column and in its stored result.
    _raw(
        url,
        "UPDATE screening_records SET verdict = 'clear', result_json = '{\"verdict\": \"clear\"}' "
        f"WHERE id = '{made[1].id}'",
    )
    code, report = _verify_cli(url)
    assert code == 4 and report["ok"] is False
    assert report["first_mismatch"]["id"] == made[1].id
    assert "content does not match" in report["first_mismatch"]["reason"]
    text_ = CliRunner().invoke(cli_app, ["records", "verify", "--database-url", url]).output
    assert f"FAILED at record #{report['first_mismatch']['seq']} ({made[1].id})" in text_


def test_a_re_sealed_or_removed_record_breaks_the_link_after_it(url: str) -> None:
    made = _three_records(url)
    _drop_guards(url)
    # Someone who knows the algorithm edits record B and computes a new seal for it: C's link now fails.
    store = Store(url)
    try:
        row = store.get(made[1].id)
        assert row is not None
        values = {n: getattr(row, n) for n in SEALED_FIELDS} | {"verdict": "clear"}
        forged = seal(values, str(row.prev_hash))
    finally:
        store.close()
    _raw(url, f"UPDATE screening_records SET verdict = 'clear', record_hash = '{forged}' WHERE id = '{made[1].id}'")
    _, report = _verify_cli(url)
    assert report["first_mismatch"]["id"] == made[2].id and "link" in report["first_mismatch"]["reason"]
    # Removing a record: the one after it no longer links.
    _raw(url, f"DELETE FROM screening_records WHERE id = '{made[1].id}'")
    _, report = _verify_cli(url)
    assert report["first_mismatch"]["id"] == made[2].id and report["checked"] == 2


def test_sqlite_insert_or_replace_around_the_triggers_is_found(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'records.db'}"
    made = _three_records(url)
    _raw(url, "DROP TRIGGER screening_records_no_replace")
    copy = ", ".join("'clear'" if c == "verdict" else c for c in _COLUMNS)
    _raw(
        url,
        f"INSERT OR REPLACE INTO screening_records ({', '.join(_COLUMNS)}) "
        f"SELECT {copy} FROM screening_records WHERE id = '{made[1].id}'",
    )
    store = Store(url)
    try:
        got = store.get(made[1].id)
        assert got is not None and got.verdict == "clear", "the replace went through"
        report = store.verify()
    finally:
        store.close()
    assert report.first is not None and report.first.id == made[1].id


def test_the_endpoint_reports_the_first_mismatch(url: str) -> None:
    with TestClient(create_app(Settings(database_url=url))) as client:
        ids = []
        for ref in ("A", "B"):
            intake = baseline_intake() | {"record": {"patient_ref": ref}}
            ids.append(client.post("/screenings", content=json.dumps(intake), headers=JSON).json()["decision_id"])
        client.post(f"/screenings/{ids[0]}/rescreen")
        assert client.get("/screenings/verify").json()["ok"] is True
        assert client.get("/screenings/verify").json()["checked"] == 3
        _drop_guards(url)
        edit = "UPDATE screening_records SET intake_json = replace(intake_json, '\"B\"', '\"Z\"') WHERE id = :id"
        engine = create_engine(normalise_url(url))
        with engine.begin() as conn:
            assert conn.execute(text(edit), {"id": ids[1]}).rowcount == 1
        engine.dispose()
        report = client.get("/screenings/verify").json()
    assert report["ok"] is False and report["first_mismatch"]["id"] == ids[1]
    assert report["mismatches"] == 1, "later records still link to the stored seal"


def test_records_from_before_the_chain_are_sealed_by_the_migration(url: str) -> None:
    from alembic import command
    from alembic.config import Config

    engine = create_engine(normalise_url(url))
    try:
        with engine.begin() as conn:
            cfg = Config()
            cfg.set_main_option("script_location", str(REPO / "src" / "needlescreen" / "server" / "migrations"))
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "0001")
        # The columns revision 0001 made.
        columns = [c for c in _COLUMNS if c not in ("seq", "tenant", "prev_hash", "record_hash")]
        with engine.begin() as conn:
            for ref in ("old-1", "old-2"):
                rec = _record(ref)
                # Typed by the model (times and dates stored as the service stores them), only 0001's columns.
                conn.execute(ScreeningRecord.__table__.insert().values({c: getattr(rec, c) for c in columns}))
    finally:
        engine.dispose()
    migrate(url)
    store = Store(url)
    try:
        store.add(_record("new"))
        report = store.verify()
        assert report.ok and report.checked == 3
        assert not store.guards()
    finally:
        store.close()


# --- concurrent writers ---------------------------------------------------------------------------------------


def _write_many(url: str, count: int, ref: str) -> None:
    store = Store(url)
    try:
        for _ in range(count):
            store.add(_record(ref))
    finally:
        store.close()


def test_two_processes_writing_at_once_make_one_chain(url: str) -> None:
    migrate(url)
    ctx = multiprocessing.get_context("spawn")
    workers = [ctx.Process(target=_write_many, args=(url, 40, f"P{i}")) for i in range(2)]
    for w in workers:
        w.start()
    _write_many(url, 40, "main")  # and this process, with two threads' worth of its own
    for w in workers:
        w.join(120)
        assert w.exitcode == 0
    store = Store(url)
    try:
        report = store.verify()
    finally:
        store.close()
    assert report.ok and report.checked == 120, report.as_dict()


def test_threads_of_one_worker_commit_together_and_chain_in_order(url: str) -> None:
    migrate(url)
    store = Store(url)
    made: list[ScreeningRecord] = []
    lock = threading.Lock()

    def write(ref: str) -> None:
        for _ in range(25):
            rec = store.add(_record(ref))
            with lock:
                made.append(rec)

    try:
        threads = [threading.Thread(target=write, args=(f"T{i}",)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        report = store.verify()
        stored = {r.id: r for r in store.list(limit=1000).items}
    finally:
        store.close()
    assert report.ok and report.checked == 200, report.as_dict()
    # Every caller got the seal that was stored for its own record.
    assert all(stored[m.id].record_hash == m.record_hash and m.record_hash for m in made)


def test_a_write_that_fails_fails_for_its_caller_alone(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'records.db'}"
    migrate(url)
    store = Store(url)
    try:
        first = store.add(_record("A"))
        # A record that breaks the table's rules (an id already stored) among good ones written in the same batch.
        clash = _record("B")
        clash.id = first.id
        outcome: dict[str, str] = {}

        def write(rec: ScreeningRecord, name: str) -> None:
            try:
                store.add(rec)
                outcome[name] = "stored"
            except Exception as exc:
                outcome[name] = str(exc)

        threads = [
            threading.Thread(target=write, args=(rec, name))
            for rec, name in ((_record("C"), "good-1"), (clash, "clash"), (_record("D"), "good-2"))
        ]
        with store._write_lock:  # hold the writers back until all three wait in one batch
            for t in threads:
                t.start()
            deadline = time.monotonic() + 30
            while len(store._pending) < 3 and time.monotonic() < deadline:
                time.sleep(0.01)
            assert len(store._pending) == 3
        for t in threads:
            t.join(30)
        assert outcome["good-1"] == outcome["good-2"] == "stored"
        assert "append-only" in outcome["clash"]
        report = store.verify()
        assert report.ok and report.checked == 3
    finally:
        store.close()


# --- a least-privilege role on PostgreSQL ----------------------------------------------------------------------


def _deployment_sql(who: str) -> list[str]:
    """The statements of the docs/deployment.md SQL block that starts ``-- as <who>``."""
    doc = (REPO / "docs" / "deployment.md").read_text(encoding="utf-8")
    for block in re.findall(r"```sql\n(.*?)```", doc, flags=re.DOTALL):
        first, _, rest = block.partition("\n")
        if first.startswith(f"-- as {who}"):
            return [s.strip() for s in rest.split(";") if s.strip()]
    raise AssertionError(f"docs/deployment.md has no SQL block '-- as {who}'")


def test_the_service_role_may_only_read_and_append(pg_url: str) -> None:
    base = reset_database(pg_url)
    host = base.split("@", 1)[1].rsplit("/", 1)[0]
    admin = create_engine(normalise_url(base), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            for statement in (
                "DROP DATABASE IF EXISTS needlescreen",
                "DROP ROLE IF EXISTS needlescreen_service",
                "DROP ROLE IF EXISTS needlescreen_owner",
                *_deployment_sql("a superuser"),  # as documented, passwords included
            ):
                conn.execute(text(statement))
    finally:
        admin.dispose()
    owner_url = f"postgresql://needlescreen_owner:change-me-owner@{host}/needlescreen"
    service_url = f"postgresql://needlescreen_service:change-me-service@{host}/needlescreen"
    result = CliRunner().invoke(cli_app, ["records", "migrate", "--database-url", owner_url])
    assert result.exit_code == 0, result.output
    assert "change-me-owner" not in result.output, "a password is never printed"
    _raw(owner_url, *_deployment_sql("needlescreen_owner"))
    with TestClient(create_app(Settings(database_url=service_url))) as client:
        made = client.post("/screenings", content=json.dumps(baseline_intake()), headers=JSON)
        assert made.status_code == 201
        assert client.post(f"{made.headers['location']}/rescreen").status_code == 201
        assert client.get("/screenings/verify").json()["ok"] is True
        assert client.get("/ready").json()["checks"]["database"] == "ok"
    for statement in (
        "UPDATE screening_records SET verdict = 'clear'",
        "DELETE FROM screening_records",
        "TRUNCATE screening_records",
        "INSERT INTO screening_records SELECT * FROM screening_records ON CONFLICT (id) DO UPDATE SET verdict = 'x'",
        "ALTER TABLE screening_records DISABLE TRIGGER screening_records_append_only",
        "DROP TRIGGER screening_records_append_only ON screening_records",
        "DROP TABLE screening_records",
        "CREATE TABLE sneaky (x int)",
    ):
        with pytest.raises(Exception, match=r"permission denied|must be owner"):
            _raw(service_url, statement)
    code, report = _verify_cli(service_url)
    assert code == 0 and report["checked"] == 2


def test_records_verify_says_what_it_cannot_read(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli_app, ["records", "verify", "--database-url", f"sqlite:///{tmp_path / 'none.db'}"])
    assert result.exit_code == 2
    assert "cannot read the records" in result.output and "Traceback" not in result.output


def test_a_different_patient_is_a_different_seal(url: str) -> None:
    migrate(url)
    store = Store(url)
    try:
        a = store.add(_record("A"))
        b = store.add(_record("A"))
    finally:
        store.close()
    assert a.prev_hash == GENESIS and b.prev_hash == a.record_hash and a.record_hash != b.record_hash
