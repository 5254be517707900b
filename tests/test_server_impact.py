"""``POST /impact``: an admin asks what a proposed clinic policy would change for the stored records."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="the server extra is not installed")

from fastapi.testclient import TestClient

from needlescreen.server import Settings, create_app
from needlescreen.server.keys import ApiKey
from needlescreen.testing import baseline_intake, with_changes

ADMIN = "admin-key-for-impact-0123456789"
NORTH = "north-key-for-impact-0123456789"
SOUTH = "south-key-for-impact-0123456789"
REFER_AT_RISK = "schema: needlescreen.policy-override/1\nsettings:\n  at_risk_limb_verdict: refer\n"


def _arm(side: str, ref: str) -> dict[str, object]:
    """A patient whose right arm is at risk of lymphoedema, needled in the ``side`` upper arm."""
    at_risk = {"at_risk_limb": {"answer": "yes", "locations": [{"region": "upper_limb", "side": "right"}]}}
    intake = with_changes(baseline_intake(), {"findings": at_risk, "record": {"patient_ref": ref}})
    intake["plan"] = {"technique": "dry_needling", "sites": [{"id": "a", "region": "upper_arm", "side": side}]}
    return intake


@pytest.fixture
def client(tmp_path: Path) -> TestClient:
    keys = (ApiKey(None, ADMIN), ApiKey("north", NORTH), ApiKey("south", SOUTH))
    with TestClient(create_app(Settings(database_url=f"sqlite:///{tmp_path / 'r.db'}", api_keys=keys))) as c:
        yield c


def test_an_admin_sees_whose_verdict_a_stricter_at_risk_policy_moves_across_clinics(client: TestClient) -> None:
    stored = {
        "at-risk arm, north": (_arm("right", "N-1"), NORTH),
        "other arm, north": (_arm("left", "N-2"), NORTH),
        "at-risk arm, south": (_arm("right", "S-1"), SOUTH),
        "healthy, south": (baseline_intake(), SOUTH),
    }
    ids = {}
    for name, (intake, key) in stored.items():
        answer = client.post("/screenings", json=intake, headers={"X-API-Key": key})
        assert answer.status_code == 201, answer.text
        ids[name] = answer.json()["decision_id"]
    got = client.post(
        "/impact", content=REFER_AT_RISK, headers={"X-API-Key": ADMIN, "Content-Type": "application/yaml"}
    )
    assert got.status_code == 200, got.text
    report = got.json()
    assert report["schema"] == "needlescreen.impact/1" and report["screened"] == 4
    # Only the needle in the at-risk arm moves (the reference's caution, the stricter clinic's refer): both clinics.
    moved = {(m["record"], m["before"], m["after"]) for m in report["moved_records"]}
    assert moved == {(ids["at-risk arm, north"], "caution", "refer"), (ids["at-risk arm, south"], "caution", "refer")}
    assert report["moves"] == [{"from": "caution", "to": "refer", "records": 2}]
    assert "sha256" in report["proposed"]["policy_source"] and "/tmp" not in json.dumps(report)


def test_a_clinic_key_may_not_ask_and_a_bad_policy_is_named(client: TestClient) -> None:
    refused = client.post(
        "/impact", content=REFER_AT_RISK, headers={"X-API-Key": NORTH, "Content-Type": "application/yaml"}
    )
    assert refused.status_code == 403 and "admin" in refused.json()["detail"]
    bad = client.post(
        "/impact",
        content="schema: needlescreen.policy-override/1\nsettings:\n  at_risk_limb_verdict: maybe\n",
        headers={"X-API-Key": ADMIN, "Content-Type": "application/yaml"},
    )
    assert bad.status_code == 422 and "at_risk_limb_verdict" in bad.text
    code = client.post(
        "/impact",
        content="!!python/object:os.system {}\n",
        headers={"X-API-Key": ADMIN, "Content-Type": "application/yaml"},
    )
    assert code.status_code == 422, "a policy with a YAML tag is refused, never run"
    assert client.post("/impact", content=REFER_AT_RISK).status_code == 401
