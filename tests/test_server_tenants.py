"""Records are scoped by clinic: a key belongs to a clinic and sees only that clinic's records; an admin key all.

Also: the API documents need a key like every other route unless ``open_docs`` opens them, and the one public
check of a presented key (``needlescreen.server.auth.verify_key``) returns who is calling.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi", reason="the server extra is not installed")

from fastapi.testclient import TestClient

from needlescreen.server import Settings, create_app
from needlescreen.server.auth import LOCAL, Principal, fingerprint, verify_key
from needlescreen.server.keys import ApiKey
from needlescreen.testing import baseline_intake

NORTH = "north-clinic-key-0123456789"
NORTH_2 = "north-second-key-0123456789"
SOUTH = "south-clinic-key-0123456789"
ADMIN = "admin-all-clinics-0123456789"
KEYS = (ApiKey("north", NORTH), ApiKey("north", NORTH_2), ApiKey("south", SOUTH), ApiKey(None, ADMIN))


def _as(key: str) -> dict[str, str]:
    return {"X-API-Key": key, "Content-Type": "application/json"}


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'r.db'}", api_keys=KEYS)
    with TestClient(create_app(settings)) as c:
        yield c


def _store(client: TestClient, key: str, ref: str) -> dict[str, Any]:
    # The intake names a clinic in its free-text metadata; the record's clinic comes from the key all the same.
    intake = baseline_intake() | {"record": {"patient_ref": ref, "clinic": "South Physio (typed by hand)"}}
    r = client.post("/screenings", content=json.dumps(intake), headers=_as(key))
    assert r.status_code == 201
    result: dict[str, Any] = r.json()
    return result


def test_a_clinic_key_sees_only_its_clinics_records(client: TestClient) -> None:
    north = _store(client, NORTH, "N-1")["decision_id"]
    south = _store(client, SOUTH, "S-1")["decision_id"]
    own = client.get(f"/screenings/{north}", headers=_as(NORTH)).json()
    assert own["tenant"] == "north" and own["record"]["clinic"] == "South Physio (typed by hand)"
    assert own["submitted_by"] == fingerprint(NORTH)
    # Another key of the same clinic sees it too; another clinic's key finds nothing there, as if it did not exist.
    assert client.get(f"/screenings/{north}", headers=_as(NORTH_2)).status_code == 200
    hidden = client.get(f"/screenings/{north}", headers=_as(SOUTH))
    assert hidden.status_code == 404 and hidden.json()["code"] == "NS404"
    assert client.post(f"/screenings/{north}/rescreen", headers=_as(SOUTH)).status_code == 404
    assert [i["id"] for i in client.get("/screenings", headers=_as(SOUTH)).json()["items"]] == [south]
    assert [i["id"] for i in client.get("/screenings", headers=_as(NORTH)).json()["items"]] == [north]
    found = client.get("/screenings", params={"patient_ref": "N-1"}, headers=_as(SOUTH)).json()["items"]
    assert found == [], "a filter does not reach across clinics"


def test_an_admin_key_sees_every_clinic_and_a_rescreen_stays_with_its_clinic(client: TestClient) -> None:
    north = _store(client, NORTH, "N-1")["decision_id"]
    south = _store(client, SOUTH, "S-1")["decision_id"]
    listed = client.get("/screenings", headers=_as(ADMIN)).json()["items"]
    assert [(i["id"], i["tenant"]) for i in listed] == [(south, "south"), (north, "north")]
    again = client.post(f"/screenings/{north}/rescreen", headers=_as(ADMIN)).json()
    assert again["tenant"] == "north" and again["submitted_by"] == fingerprint(ADMIN)
    assert client.get(f"/screenings/{again['id']}", headers=_as(NORTH)).status_code == 200
    mine = _store(client, ADMIN, "A-1")["decision_id"]
    assert client.get(f"/screenings/{mine}", headers=_as(ADMIN)).json()["tenant"] is None
    assert client.get(f"/screenings/{mine}", headers=_as(NORTH)).status_code == 404


def test_verify_checks_the_callers_clinic(client: TestClient) -> None:
    for key, ref in ((NORTH, "N-1"), (SOUTH, "S-1"), (NORTH, "N-2"), (SOUTH, "S-2"), (SOUTH, "S-3")):
        _store(client, key, ref)
    assert client.get("/screenings/verify", headers=_as(NORTH)).json()["checked"] == 2
    assert client.get("/screenings/verify", headers=_as(SOUTH)).json()["checked"] == 3
    everything = client.get("/screenings/verify", headers=_as(ADMIN)).json()
    assert everything["checked"] == 5 and everything["ok"] is True


def test_the_api_documents_need_a_key_unless_opened(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'r.db'}"
    with TestClient(create_app(Settings(database_url=url, api_keys=KEYS))) as c:
        for path in ("/docs", "/openapi.json", "/screenings", "/rules", "/schema/intake", "/questionnaire"):
            assert c.get(path).status_code == 401, path
        assert c.get("/openapi.json", headers=_as(SOUTH)).json()["info"]["title"] == "needlescreen"
        assert "swagger" in c.get("/docs", headers=_as(SOUTH)).text.lower()
        assert c.get("/redoc").status_code in (401, 404)
        assert c.get("/health").status_code == 200 and c.get("/ready").status_code == 200
    with TestClient(create_app(Settings(database_url=url, api_keys=KEYS, open_docs=True))) as c:
        assert c.get("/openapi.json").status_code == 200 and c.get("/docs").status_code == 200
        assert c.get("/screenings").status_code == 401, "open_docs opens the documents only"


def test_verify_key_is_the_one_check_of_a_presented_key() -> None:
    assert verify_key(NORTH, KEYS) == Principal(clinic="north", role="clinic", fingerprint=fingerprint(NORTH))
    assert verify_key(ADMIN, KEYS) == Principal(clinic=None, role="admin", fingerprint=fingerprint(ADMIN))
    for wrong in (None, "", NORTH + "x", NORTH[:-1], "north:" + NORTH):
        assert verify_key(wrong, KEYS) is None
    assert verify_key(None, ()) is LOCAL and LOCAL.sees("north") and LOCAL.sees(None)
    north = verify_key(NORTH, KEYS)
    assert north is not None and north.sees("north") and not north.sees("south") and not north.sees(None)
    assert NORTH not in repr(KEYS[0]), "a key is never shown"
