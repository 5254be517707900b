"""The record store on SQLite and on PostgreSQL (a throw-away cluster): migrations, append-only, filters, the app."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("sqlalchemy", reason="the server extra is not installed")

from fastapi.testclient import TestClient
from sqlalchemy import text

from needlescreen.server import Settings, create_app
from needlescreen.server.store import ScreeningRecord, Store, migrate
from needlescreen.testing import baseline_intake

from .server_helpers import postgres_cluster, reset_database


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    with postgres_cluster() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'records.db'}"
    return reset_database(request.getfixturevalue("pg_url"))


def _record(ref: str | None, verdict: str, when: dt.datetime, previous: str | None = None) -> ScreeningRecord:
    return ScreeningRecord(
        id=str(uuid.uuid4()),
        created_at=when,
        submitted_by="local",
        patient_ref=ref,
        clinician=None,
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
        previous_id=previous,
        intake_json="{}",
        result_json="{}",
    )


def test_migrations_run_twice_and_records_round_trip(url: str) -> None:
    migrate(url)
    migrate(url)  # idempotent: a restart upgrades nothing
    store = Store(url)
    try:
        store.ping()
        when = dt.datetime(2026, 11, 2, 9, 30, tzinfo=dt.UTC)
        first = store.add(_record("A", "refer", when))
        second = store.add(_record("A", "clear", when + dt.timedelta(days=1), previous=first.id))
        got = store.get(second.id)
        assert got is not None
        assert got.previous_id == first.id and got.verdict == "clear" and got.encounter_date == dt.date(2026, 11, 3)
        assert store.get(str(uuid.uuid4())) is None
    finally:
        store.close()


def test_records_cannot_be_updated_or_deleted(url: str) -> None:
    migrate(url)
    store = Store(url)
    try:
        rec = store.add(_record("A", "refer", dt.datetime.now(dt.UTC)))
        for statement in (
            "UPDATE screening_records SET verdict = 'clear'",
            "DELETE FROM screening_records",
        ):
            with pytest.raises(Exception, match="append-only"), store.engine.begin() as conn:
                conn.execute(text(statement))
        got = store.get(rec.id)
        assert got is not None and got.verdict == "refer"
    finally:
        store.close()


def test_filters_and_cursor(url: str) -> None:
    migrate(url)
    store = Store(url)
    try:
        day = dt.datetime(2026, 11, 1, 12, tzinfo=dt.UTC)
        made = [
            store.add(_record("A" if i % 2 else "B", "refer" if i % 3 == 0 else "clear", day + dt.timedelta(days=i)))
            for i in range(9)
        ]
        page = store.list(limit=4, patient_ref="A")
        assert [r.id for r in page.items] == [made[7].id, made[5].id, made[3].id, made[1].id]
        assert page.next_cursor is None
        page = store.list(limit=2)
        assert [r.id for r in page.items] == [made[8].id, made[7].id] and page.next_cursor is not None
        rest = store.list(limit=100, cursor=page.next_cursor)
        assert [r.id for r in rest.items] == [m.id for m in reversed(made[:7])]
        refer = store.list(limit=100, verdict="refer")
        assert {r.id for r in refer.items} == {made[0].id, made[3].id, made[6].id}
        window = store.list(limit=100, date_from=dt.date(2026, 11, 3), date_to=dt.date(2026, 11, 4))
        assert [r.id for r in window.items] == [made[3].id, made[2].id]
        assert store.list(limit=5, date_to=dt.date.max).items, "the largest date is not an error"
        assert [r.id for r in store.list(limit=9, encounter_date=dt.date(2026, 11, 5)).items] == [made[4].id]
    finally:
        store.close()


def test_the_service_on_this_database(url: str) -> None:
    with TestClient(create_app(Settings(database_url=url))) as client:
        intake = baseline_intake() | {"record": {"patient_ref": "A-1", "encounter_date": "2026-11-02"}}
        made = client.post("/screenings", content=json.dumps(intake), headers={"Content-Type": "application/json"})
        assert made.status_code == 201
        got = client.get(made.headers["location"]).json()
        assert got["result"] == made.json() and got["record"]["patient_ref"] == "A-1"
        again = client.post(f"{made.headers['location']}/rescreen")
        assert again.status_code == 201 and again.json()["previous_id"] == made.json()["decision_id"]
        listed = client.get("/screenings", params={"patient_ref": "A-1"}).json()["items"]
        assert [i["id"] for i in listed] == [again.json()["id"], made.json()["decision_id"]]
        ready = client.get("/ready").json()
        assert ready["checks"]["database"] == "ok"


def test_sqlite_syncs_every_commit_to_disk_unless_told_otherwise(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'records.db'}"
    migrate(url)
    # PRAGMA synchronous: 1 NORMAL (survives a killed process), 2 FULL (survives a power loss too).
    for store, expected in (
        (Store(url), 2),
        (Store(url, sqlite_sync="NORMAL"), 1),
        (Store(url, sqlite_sync="FULL"), 2),
    ):
        try:
            with store.engine.connect() as conn:
                assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == expected
        finally:
            store.close()
    assert Settings().sqlite_sync == "FULL"
    with TestClient(create_app(Settings(database_url=url))) as client:
        store = client.app.state.service.store  # type: ignore[attr-defined]
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2
    with pytest.raises(ValueError, match="NORMAL or FULL"):
        Store(url, sqlite_sync="OFF")  # type: ignore[arg-type]
