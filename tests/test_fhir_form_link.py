"""A CDS Hooks card's link to the web form prefilled from the chart: the token, the draft it hands over, who opens it.

The EHR calls the service (with a CDS Hooks JWT or an API key); every card carries one ``absolute`` link whose URL
holds only a random token, no patient data. The clinician who opens it (signed in with a clinic key) gets the
draft once; opened again, by anyone, or after an hour, it opens nothing. Until then the draft is nobody's, and the
database does not hold the token. The browser test (``tests/web/test_from_chart.py``) follows the same link in
Chromium and completes the form.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

pytest.importorskip("fastapi", reason="the server extra is not installed")
pytest.importorskip("fhir.resources", reason="the fhir extra is not installed")
pytest.importorskip("jinja2", reason="the web extra is not installed")

from fastapi.testclient import TestClient
from sqlalchemy import text

from needlescreen.server import Settings, create_app
from needlescreen.server.keys import ApiKey
from needlescreen.web.drafts import HANDOFF_SECONDS
from tests.test_fhir_cdshooks import APPOINTMENT_BOOK, ORDER_SELECT, _bearer, _load, _spec_token, hook_request

KEY = "clinic-key-for-the-link-tests-0123"
OTHER_KEY = "another-clinic-key-for-the-tests-9876"
BASE = "https://cds.example.org"


@pytest.fixture
def client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    """The service with clinic keys and the CDS Hooks issuer of the specification's JWT example."""
    example = _load(Path(__file__).parent / "fixtures" / "fhir" / "cds-hooks" / "jwt-example.json")
    (tmp_path / "ehr-jwks.json").write_text(__import__("json").dumps(example["jwks"]))
    (tmp_path / "issuers.yaml").write_text(
        "issuers:\n  - {iss: 'https://fhir-ehr.example.com/', jwks_file: ehr-jwks.json}\n"
    )
    monkeypatch.setenv("NEEDLESCREEN_CDS_ISSUERS", str(tmp_path / "issuers.yaml"))
    monkeypatch.setenv("NEEDLESCREEN_CDS_BASE_URL", BASE)
    keys = (ApiKey("north", KEY), ApiKey("south", OTHER_KEY))
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'r.db'}", api_keys=keys))
    with TestClient(app, base_url="https://testserver", raise_server_exceptions=False) as c:
        yield c


def _sign_in(c: TestClient, key: str = KEY) -> None:
    page = c.get("/sign-in")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    done = c.post("/sign-in", data={"key": key, "csrf_token": token.group(1)}, follow_redirects=False)
    assert done.status_code == 303


def _call(c: TestClient, patient: str = "lymphoedema-node-dissection", **kwargs: Any) -> list[dict[str, Any]]:
    got = c.post(kwargs.pop("path", ORDER_SELECT), json=hook_request(patient, **kwargs), headers={"X-API-Key": KEY})
    assert got.status_code == 200, got.text
    cards: list[dict[str, Any]] = got.json()["cards"]
    return cards


def _path(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def test_every_card_links_to_the_prefilled_form_with_no_patient_data_in_the_url(client: TestClient) -> None:
    request = hook_request("lymphoedema-node-dissection")
    cards = client.post(ORDER_SELECT, json=request, headers={"X-API-Key": KEY}).json()["cards"]
    assert len(cards) >= 2
    links = [c["links"] for c in cards]
    assert all(len(ls) == 1 for ls in links) and len({ls[0]["url"] for ls in links}) == 1
    link = links[0][0]
    assert link["type"] == "absolute" and set(link) == {"label", "url", "type"}
    assert re.fullmatch(re.escape(BASE) + r"/from-chart/[A-Za-z0-9_-]{43}", link["url"])
    token = link["url"].rsplit("/", 1)[1]
    assert patient_data_in(link["url"], request) == []
    # The database holds the draft for nobody, and not the token.
    with client.app.state.service.store.engine.connect() as conn:  # type: ignore[attr-defined]
        rows = conn.execute(text("SELECT owner, answers_json FROM web_drafts")).all()
    assert len(rows) == 1 and rows[0].owner.startswith("handoff:") and token not in rows[0].owner
    assert "left upper limb" in rows[0].answers_json


def patient_data_in(url: str, request: dict[str, Any]) -> list[str]:
    """Whatever in the URL names the patient: id, names, birth date, the chart's codes and places."""
    patient = request["prefetch"]["patient"]
    words = {patient["id"], patient.get("birthDate", "")}
    words |= {part for n in patient.get("name", []) for part in [n.get("family", ""), *n.get("given", [])]}
    words |= {"lymph", "I89", "upper", "forearm", "axilla", "nickel"}
    return [w for w in words if len(w) > 2 and w.lower() in url.lower()]


def test_breakage_the_url_check_finds_patient_data() -> None:
    request = hook_request("lymphoedema-node-dissection")
    patient = request["prefetch"]["patient"]
    assert patient_data_in(f"{BASE}/from-chart/abc?patient={patient['id']}", request) == [patient["id"]]
    assert patient_data_in(f"{BASE}/from-chart/abc?dx=I89.0&site=left-forearm", request)


def test_a_call_signed_by_the_ehr_gets_the_link_too(client: TestClient) -> None:
    request = hook_request("pacemaker", hook="appointment-book")
    got = client.post(APPOINTMENT_BOOK, json=request, headers=_bearer(_spec_token(BASE + APPOINTMENT_BOOK)))
    assert got.status_code == 200
    assert all(c["links"][0]["url"].startswith(BASE + "/from-chart/") for c in got.json()["cards"])


def test_the_clinician_opens_it_once_and_sees_what_came_from_the_chart(client: TestClient) -> None:
    url = _path(_call(client)[0]["links"][0]["url"])
    _sign_in(client)
    opened = client.get(url, follow_redirects=False)
    assert opened.status_code == 303 and re.fullmatch(r"/drafts/[0-9a-f-]{36}", opened.headers["location"])
    assert opened.headers["referrer-policy"] == "no-referrer"
    page = client.get(opened.headers["location"])
    assert page.status_code == 200
    assert "Prefilled from the chart" in page.text
    assert re.search(r'name="q\.lymphedema_where"[^>]*value="left upper limb"', page.text)
    assert "AllergyIntolerance/" in page.text  # where the metal allergy came from
    assert "Nothing has been answered" in page.text
    assert re.search(r'value="no"\s+checked|value="none"\s+checked', page.text) is None
    again = client.get(url, follow_redirects=False)
    assert again.status_code == 410 and "used or has expired" in again.text
    # The draft is the clinician's now, with the patient reference from the chart.
    drafts = client.get("/drafts")
    assert opened.headers["location"] in drafts.text


def check_once_only_for_its_first_clinician(client: TestClient, url: str) -> list[str]:
    """Opened by one clinician it opens the draft; opened again, by her or by another, nothing."""
    wrong = []
    _sign_in(client)
    if client.get(url, follow_redirects=False).status_code != 303:
        wrong.append("the first opening does not open the draft")
    if client.get(url, follow_redirects=False).status_code != 410:
        wrong.append("opened twice")
    client.cookies.clear()
    _sign_in(client, OTHER_KEY)
    if client.get(url, follow_redirects=False).status_code != 410:
        wrong.append("opened by another clinician")
    if "Resume" in client.get("/drafts").text:
        wrong.append("another clinician sees the draft")
    return wrong


def test_a_link_opens_once_for_its_first_clinician(client: TestClient) -> None:
    assert check_once_only_for_its_first_clinician(client, _path(_call(client)[0]["links"][0]["url"])) == []


def test_breakage_a_link_that_can_be_opened_again_is_caught(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A hand-off that copies the draft instead of giving it away (the link keeps working) is caught."""
    from needlescreen.web import drafts

    def copying(self: drafts.Drafts, token: str, principal: str) -> drafts.Draft | None:
        with self.store.engine.connect() as conn:
            row = conn.execute(drafts.DRAFTS.select().where(drafts.DRAFTS.c.owner == drafts._pending(token))).first()
        return None if row is None else self.save(principal, drafts._row(row).answers)

    monkeypatch.setattr(drafts.Drafts, "claim", copying)
    wrong = check_once_only_for_its_first_clinician(client, _path(_call(client)[0]["links"][0]["url"]))
    assert "opened twice" in wrong and "opened by another clinician" in wrong


def _age_hand_offs(client: TestClient, seconds: int) -> None:
    with client.app.state.service.store.engine.begin() as conn:  # type: ignore[attr-defined]
        conn.execute(
            text("UPDATE web_drafts SET created_at = datetime(created_at, :ago)"), {"ago": f"-{seconds} seconds"}
        )


def test_an_expired_or_unknown_link_opens_nothing(client: TestClient) -> None:
    url = _path(_call(client)[0]["links"][0]["url"])
    _sign_in(client)
    _age_hand_offs(client, HANDOFF_SECONDS + 60)
    assert client.get(url, follow_redirects=False).status_code == 410
    assert client.get("/from-chart/" + "A" * 43, follow_redirects=False).status_code == 410
    assert client.get("/from-chart/x", follow_redirects=False).status_code == 410
    # An expired hand-off is deleted when the next one is made.
    _call(client)
    with client.app.state.service.store.engine.connect() as conn:  # type: ignore[attr-defined]
        assert conn.execute(text("SELECT count(*) FROM web_drafts")).scalar_one() == 1


def test_breakage_a_link_that_never_expires_is_caught(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    from needlescreen.web import drafts

    url = _path(_call(client)[0]["links"][0]["url"])
    _sign_in(client)
    _age_hand_offs(client, HANDOFF_SECONDS + 60)
    monkeypatch.setattr(drafts, "HANDOFF_SECONDS", 10**9)
    assert client.get(url, follow_redirects=False).status_code == 303  # the expiry check above would fail


def test_opened_from_the_ehr_without_a_session_it_steps_once_then_asks_to_sign_in(client: TestClient) -> None:
    """The EHR's page is another site: the browser withholds the SameSite=Strict cookie on that first request, so
    the landing page steps once from this site (sending it); with no session that leads to the sign-in, and the
    link still opens the draft afterwards."""
    url = _path(_call(client)[0]["links"][0]["url"])
    first = client.get(url, follow_redirects=False)
    assert first.status_code == 200
    step = re.search(r'<meta http-equiv="refresh" content="0;url=([^"]+)">', first.text)
    assert step is not None and step.group(1) == url + "?go=1"
    second = client.get(step.group(1), follow_redirects=False)
    assert second.status_code == 303 and second.headers["location"].startswith("/sign-in?next=")
    _sign_in(client)
    assert client.get(step.group(1), follow_redirects=False).status_code == 303


def test_saving_the_draft_keeps_what_came_from_the_chart(client: TestClient) -> None:
    url = _path(_call(client)[0]["links"][0]["url"])
    _sign_in(client)
    draft = client.get(url).url.path
    page = client.get(draft).text
    fields = dict(re.findall(r'<input type="hidden" name="(c\.chart|csrf_token|draft_id)" value="([^"]*)"', page))
    import html

    form = {k: html.unescape(v) for k, v in fields.items()} | {"q.today": "no", "action": "draft"}
    saved = client.post("/screen", data=form, follow_redirects=False)
    assert saved.status_code == 303
    again = client.get(saved.headers["location"]).text
    assert "Prefilled from the chart" in again and re.search(r'name="q\.today" value="no"\s+checked', again)


def test_no_cards_no_link_and_no_draft(client: TestClient, ruleset: Any) -> None:
    context = _load(Path(__file__).parent / "fixtures" / "fhir" / "cds-hooks" / "order-select-r4-context.json")
    request = {"hook": "order-select", "hookInstance": "x1", "context": context["context"]}
    request["prefetch"] = {"patient": {"resourceType": "Patient", "id": "1"}, "conditions": None, "medications": None}
    assert client.post(ORDER_SELECT, json=request, headers={"X-API-Key": KEY}).json() == {"cards": []}
    with client.app.state.service.store.engine.connect() as conn:  # type: ignore[attr-defined]
        assert conn.execute(text("SELECT count(*) FROM web_drafts")).scalar_one() == 0


def test_an_order_without_sites_links_to_the_form_to_give_them(client: TestClient) -> None:
    request = hook_request("warfarin-inr")
    for res in request["context"]["draftOrders"]["entry"]:
        res["resource"].pop("bodySite", None)
    cards = client.post(ORDER_SELECT, json=request, headers={"X-API-Key": KEY}).json()["cards"]
    assert len(cards) == 1 and "no sites" in cards[0]["summary"]
    assert cards[0]["links"][0]["url"].startswith(BASE + "/from-chart/")


def test_without_the_web_form_the_cards_carry_no_link(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import needlescreen.server.app as server_app

    monkeypatch.setattr(server_app, "_mount_web", lambda _app: None)
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'r.db'}"))
    with TestClient(app) as c:
        cards = c.post(ORDER_SELECT, json=hook_request("pacemaker")).json()["cards"]
    assert cards and all("links" not in card for card in cards)
