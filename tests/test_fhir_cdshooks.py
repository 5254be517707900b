"""CDS Hooks 2.0 and the FHIR routes, tested with the specification's own examples.

Fixtures under ``tests/fixtures/fhir/cds-hooks`` are the published examples (cds-hooks/docs: discovery, calls,
responses, feedback, the JWT example with its keys; cds-hooks/sandbox: its JWK Set and the way it signs its
calls); see the README there. The field rules of a card are written from the specification's tables.
"""

from __future__ import annotations

import copy
import datetime as dt
import http.server
import json
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi", reason="the server extra is not installed")
pytest.importorskip("fhir.resources", reason="the fhir extra is not installed")

import jwt
from fastapi.testclient import TestClient
from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.operationoutcome import OperationOutcome
from sqlalchemy import text

from needlescreen.fhir.auth import CdsAuth, Issuer, TokenError
from needlescreen.fhir.cdshooks import PREFETCH, REQUIRED_PREFETCH, prefetch_intake
from needlescreen.server import Settings, create_app
from needlescreen.server.keys import ApiKey

FIXTURES = Path(__file__).parent / "fixtures" / "fhir"
CDS = FIXTURES / "cds-hooks"
NOW = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)
KEY = "k" * 8 + "-test-key-0123456789"
ORDER_SELECT = "/cds-services/needlescreen-order-select"
APPOINTMENT_BOOK = "/cds-services/needlescreen-appointment-book"


def _load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    url = f"sqlite:///{tmp_path_factory.mktemp('cds') / 'records.db'}"
    with TestClient(create_app(Settings(database_url=url)), raise_server_exceptions=False) as c:
        yield c


def _searchset(resources: list[dict[str, Any]]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": r} for r in resources]}


def hook_request(patient: str, hook: str = "order-select", drop: tuple[str, ...] = ()) -> dict[str, Any]:
    """A hook call for one synthetic patient, prefetch filled as an EHR would (Patient/id references)."""
    bundle = _load(FIXTURES / "patients" / f"{patient}.json")
    resources = [copy.deepcopy(e["resource"]) for e in bundle["entry"]]
    pat = next(r for r in resources if r["resourceType"] == "Patient")
    for r in resources:
        for field in ("subject", "patient"):
            if field in r and r["resourceType"] != "Patient":
                r[field] = {"reference": f"Patient/{pat['id']}"}

    def of(*types: str) -> dict[str, Any] | None:
        found = [r for r in resources if r["resourceType"] in types]
        return _searchset(found) if found else None

    prefetch = {
        "patient": pat,
        "conditions": of("Condition"),
        "medications": of("MedicationRequest"),
        "medicationStatements": of("MedicationStatement"),
        "observations": of("Observation"),
        "devices": of("Device"),
        "allergies": of("AllergyIntolerance"),
        "procedures": of("Procedure"),
    }
    order = next(r for r in resources if r["resourceType"] == "ServiceRequest")
    context: dict[str, Any] = {"userId": "Practitioner/example", "patientId": pat["id"]}
    if hook == "order-select":
        context |= {"selections": [f"ServiceRequest/{order['id']}"], "draftOrders": _searchset([order])}
    else:
        order = {**order, "status": "active"}
        appointment = {
            "resourceType": "Appointment",
            "id": "apt1",
            "status": "proposed",
            "basedOn": [{"reference": f"ServiceRequest/{order['id']}"}],
            "participant": [{"actor": {"reference": f"Patient/{pat['id']}"}, "status": "tentative"}],
        }
        context |= {"appointments": _searchset([appointment])}
        prefetch["serviceRequests"] = _searchset([order])
    for key in drop:
        prefetch.pop(key)
    return {"hook": hook, "hookInstance": str(uuid.uuid4()), "context": context, "prefetch": prefetch}


# --- discovery ---------------------------------------------------------------------------------------------


def test_discovery_has_the_shape_of_the_specifications_example(client: TestClient) -> None:
    example = _load(CDS / "discovery-example.json")
    got = client.get("/cds-services")
    assert got.status_code == 200
    body = got.json()
    assert set(body) == set(example)
    allowed = {"hook", "title", "description", "id", "prefetch", "usageRequirements"}
    required = {"hook", "description", "id"}
    assert {s["hook"] for s in body["services"]} == {"appointment-book", "order-select"}
    for service in body["services"]:
        assert required <= set(service) <= allowed
        assert all(v is not None for v in service.values())
        for template in service["prefetch"].values():
            assert "{{context.patientId}}" in template
        assert set(REQUIRED_PREFETCH) <= set(service["prefetch"])


def test_prefetch_asks_for_every_lab_the_chart_reader_reads() -> None:
    template = PREFETCH["observations"]
    for code in ("6301-6", "777-3", "751-8", "8310-5", "39156-5", "82810-3", "49051-6"):
        assert f"http://loinc.org|{code}" in template


# --- calling a service --------------------------------------------------------------------------------------

# Field rules of a card, from the specification's "Card Attributes" table.
CARD_FIELDS = {
    "uuid",
    "summary",
    "detail",
    "indicator",
    "source",
    "suggestions",
    "selectionBehavior",
    "overrideReasons",
    "links",
}


def _no_nulls(data: Any, path: str = "") -> list[str]:
    if data is None:
        return [path]
    if isinstance(data, dict):
        return [p for k, v in data.items() for p in _no_nulls(v, f"{path}.{k}")]
    if isinstance(data, list):
        return [p for i, v in enumerate(data) for p in _no_nulls(v, f"{path}[{i}]")]
    return []


def check_cards(cards: list[dict[str, Any]], revision: str) -> list[str]:
    """Every field rule of CDS Hooks 2.0 cards, plus needlescreen's: the source names the ruleset revision."""
    wrong = []
    for i, card in enumerate(cards):
        where = f"cards[{i}]"
        wrong += [f"{where}{p}: null" for p in _no_nulls(card)]
        if not set(card) <= CARD_FIELDS:
            wrong.append(f"{where}: unknown fields {set(card) - CARD_FIELDS}")
        if not isinstance(card.get("summary"), str) or not 0 < len(card["summary"]) < 140:
            wrong.append(f"{where}.summary: must be under 140 characters")
        if card.get("indicator") not in ("info", "warning", "critical"):
            wrong.append(f"{where}.indicator")
        if not card.get("source", {}).get("label") or revision not in card["source"]["label"]:
            wrong.append(f"{where}.source.label: must name the ruleset revision")
        if card.get("suggestions") and card.get("selectionBehavior") not in ("at-most-one", "any"):
            wrong.append(f"{where}.selectionBehavior: required with suggestions")
        for reason in card.get("overrideReasons", []):
            if not reason.get("display") or not reason.get("code"):
                wrong.append(f"{where}.overrideReasons: code and display required")
        for k, link in enumerate(card.get("links", [])):
            # Link attributes: label, url and type required; type absolute or smart; an absolute url is a URL.
            if not link.get("label") or not link.get("url") or link.get("type") not in ("absolute", "smart"):
                wrong.append(f"{where}.links[{k}]: label, url and type (absolute or smart) required")
            elif link["type"] == "absolute" and not str(link["url"]).startswith(("https://", "http://")):
                wrong.append(f"{where}.links[{k}].url: an absolute link is a URL")
        for s in card.get("suggestions", []):
            for a in s.get("actions", []):
                if a["type"] == "create":
                    model = get_fhir_model_class(a["resource"]["resourceType"])
                    model.model_validate(a["resource"])  # what needlescreen writes validates
    return wrong


def test_breakage_the_card_rules_catch_a_long_summary_a_null_and_a_missing_revision() -> None:
    good = {"summary": "ok", "indicator": "warning", "source": {"label": "needlescreen ruleset R1"}}
    assert check_cards([good], "R1") == []
    assert check_cards([{**good, "summary": "x" * 140}], "R1")
    assert check_cards([{**good, "detail": None}], "R1")
    assert check_cards([good], "R2")
    assert check_cards([{**good, "suggestions": [{"label": "x"}]}], "R1")
    link = {"label": "Open", "url": "https://x.example/from-chart/t", "type": "absolute"}
    assert check_cards([{**good, "links": [link]}], "R1") == []
    assert check_cards([{**good, "links": [{**link, "type": "app"}]}], "R1")
    assert check_cards([{**good, "links": [{**link, "url": "/from-chart/t"}]}], "R1")


# patient: the indicators of the cards for fired rules (refer -> critical, caution -> warning), from the story.
CARD_EXPECTATIONS = {
    "pacemaker": ("CARDIAC_DEVICE_ES", "critical"),
    "spinal-cord-stimulator": ("ACTIVE_IMPLANT_ES", "critical"),
    "lymphoedema-node-dissection": ("LYMPHEDEMA_LIMB", "critical"),
    "pregnant": ("PREG_T1", "critical"),
    "warfarin-inr": ("ANTICOAG_VKA", "warning"),
    "cipn-perineural-electrical": ("IMPAIRED_SENSATION", "warning"),
}


@pytest.mark.parametrize("hook", ["order-select", "appointment-book"])
@pytest.mark.parametrize("patient", sorted(CARD_EXPECTATIONS))
def test_a_hook_call_answers_cards_that_meet_the_field_rules(client: TestClient, patient: str, hook: str) -> None:
    path = ORDER_SELECT if hook == "order-select" else APPOINTMENT_BOOK
    got = client.post(path, json=hook_request(patient, hook))
    assert got.status_code == 200, got.text
    cards = got.json()["cards"]
    revision = client.get("/ready").json()["ruleset"].split()[-1]
    assert check_cards(cards, revision) == []
    rule, indicator = CARD_EXPECTATIONS[patient]
    mine = [c for c in cards if c["source"].get("topic", {}).get("code") == rule]
    assert len(mine) == 1 and mine[0]["indicator"] == indicator
    if indicator == "critical":  # a refer card suggests a clearance request
        (suggestion,) = mine[0]["suggestions"]
        assert suggestion["actions"][0]["resource"]["resourceType"] == "ServiceRequest"
    # the chart cannot say everything: one card asks the rest, never silent
    assert any(c["summary"].startswith("Screening incomplete") for c in cards)


def test_the_specifications_order_select_example_has_no_needling_order_so_no_cards(client: TestClient) -> None:
    context = _load(CDS / "order-select-r4-context.json")["context"]
    request = {"hook": "order-select", "hookInstance": str(uuid.uuid4()), "context": context}
    request["prefetch"] = {
        "patient": {"resourceType": "Patient", "id": "1288992"},
        "conditions": None,
        "medications": None,
    }
    got = client.post(ORDER_SELECT, json=request)
    assert got.status_code == 200 and got.json() == _load(CDS / "response-empty.json")


def test_the_specifications_appointment_example_is_not_a_needling_visit(client: TestClient) -> None:
    context = _load(CDS / "appointment-book-stu3-context.json")["context"]
    request = {"hook": "appointment-book", "hookInstance": str(uuid.uuid4()), "context": context}
    request["prefetch"] = {"patient": None, "conditions": None, "medications": None}
    got = client.post(APPOINTMENT_BOOK, json=request)
    assert got.status_code == 200 and got.json() == {"cards": []}


@pytest.mark.parametrize("missing", REQUIRED_PREFETCH)
def test_missing_required_prefetch_is_412_with_an_operation_outcome(client: TestClient, missing: str) -> None:
    got = client.post(ORDER_SELECT, json=hook_request("pacemaker", drop=(missing,)))
    assert got.status_code == 412
    outcome = OperationOutcome.model_validate_json(got.text)
    assert [i.expression for i in outcome.issue] == [[f"prefetch.{missing}"]]


def test_a_prefetch_error_reported_by_the_client_is_412(client: TestClient) -> None:
    request = hook_request("pacemaker")
    request["prefetch"]["conditions"] = _load(FIXTURES / "fhir-r4" / "operationoutcome-example.json")
    assert client.post(ORDER_SELECT, json=request).status_code == 412


def test_a_null_prefetch_is_no_data_not_an_error(client: TestClient) -> None:
    request = hook_request("pacemaker")
    request["prefetch"]["conditions"] = None
    assert client.post(ORDER_SELECT, json=request).status_code == 200


def test_the_specifications_patient_view_call_is_refused_by_an_order_select_service(client: TestClient) -> None:
    got = client.post(ORDER_SELECT, json=_load(CDS / "hook-request-patient-view.json"))
    assert got.status_code == 400 and "order-select" in got.text


def test_a_malformed_call_is_400_naming_the_field(client: TestClient) -> None:
    got = client.post(ORDER_SELECT, json={"hook": "order-select", "context": {}})
    assert got.status_code == 400
    assert "hookInstance" in {e for i in got.json()["issue"] for e in i.get("expression", [])}


def test_the_partial_intake_behind_the_cards_is_a_pure_function_of_the_request() -> None:
    request = hook_request("pacemaker")
    request["prefetch"]["conditions"] = None
    first = prefetch_intake(request, now=NOW)
    again = prefetch_intake(copy.deepcopy(request), now=NOW)
    assert first.data == again.data and first.data["devices"]["items"] == [{"kind": "pacemaker"}]
    assert first.data["plan"]["technique"] == "electrical"
    without = prefetch_intake(hook_request("pacemaker", drop=("devices",)), now=NOW)
    assert "devices" not in without.data  # no prefetch, no answer: unknown


# --- the result in FHIR --------------------------------------------------------------------------------------


def test_fhir_screen_answers_a_bundle_with_a_guidance_response_and_detected_issues(client: TestClient) -> None:
    bundle = _load(FIXTURES / "patients" / "lymphoedema-node-dissection.json")
    got = client.post("/fhir/$screen", json=bundle, params={"now": NOW.isoformat(), "dry_run": "true"})
    assert got.status_code == 200 and got.headers["content-type"].startswith("application/fhir+json")
    out = Bundle.model_validate_json(got.text)
    types = [e.resource.get_resource_type() for e in out.entry or ()]
    assert types[0] == "GuidanceResponse" and types.count("DetectedIssue") == len(types) - 2
    guidance = out.entry[0].resource  # type: ignore[index]
    assert guidance.status == "data-required" and guidance.dataRequirement
    issues = [e.resource for e in out.entry[2:]]  # type: ignore[index]
    lymph = next(i for i in issues if i.code.coding[0].code == "LYMPHEDEMA_LIMB" and i.status == "final")
    assert lymph.severity == "high" and lymph.mitigation and lymph.implicated
    assert all(i.severity in ("high", "moderate") for i in issues)


def test_fhir_screen_without_a_plan_is_422(client: TestClient) -> None:
    got = client.post("/fhir/$screen", json=_load(FIXTURES / "fhir-r4" / "patient-example.json"))
    assert got.status_code == 422 and OperationOutcome.model_validate_json(got.text).issue


def test_the_questionnaire_is_served(client: TestClient) -> None:
    got = client.get("/fhir/Questionnaire/needlescreen")
    assert got.status_code == 200
    assert get_fhir_model_class("Questionnaire").model_validate_json(got.text).id == "needlescreen"


# --- feedback ------------------------------------------------------------------------------------------------


def _cards(client: TestClient, patient: str = "pacemaker") -> list[dict[str, Any]]:
    got = client.post(ORDER_SELECT, json=hook_request(patient))
    assert got.status_code == 200
    cards: list[dict[str, Any]] = got.json()["cards"]
    return cards


def _stored(client: TestClient, card_uuid: str) -> list[dict[str, Any]]:
    store = client.app.state.cds_store  # type: ignore[attr-defined]
    with store.engine.connect() as conn:
        rows = conn.execute(text("SELECT * FROM cds_feedback WHERE card_uuid = :u ORDER BY seq"), {"u": card_uuid})
        return [dict(r._mapping) for r in rows]


def test_the_specifications_accepted_feedback_is_stored_beside_the_record(client: TestClient) -> None:
    card = next(c for c in _cards(client) if c.get("suggestions"))
    feedback = _load(CDS / "feedback-accepted.json")
    feedback["feedback"][0]["card"] = card["uuid"]
    feedback["feedback"][0]["acceptedSuggestions"][0]["id"] = card["suggestions"][0]["uuid"]
    got = client.post(f"{ORDER_SELECT}/feedback", json=feedback)
    assert got.status_code == 200, got.text
    (row,) = _stored(client, card["uuid"])
    assert row["outcome"] == "accepted" and card["suggestions"][0]["uuid"] in row["accepted_suggestions"]
    record = client.get(f"/screenings/{row['decision_id']}")
    assert record.status_code == 200 and record.json()["result"]["decision_id"] == row["decision_id"]


@pytest.mark.parametrize("example", ["feedback-overridden.json", "feedback-override-reason.json"])
def test_the_specifications_overridden_feedback_is_stored_with_its_reason(client: TestClient, example: str) -> None:
    card = _cards(client)[0]
    feedback = _load(CDS / example)
    feedback["feedback"][0]["card"] = card["uuid"]
    assert client.post(f"{ORDER_SELECT}/feedback", json=feedback).status_code == 200
    (row,) = _stored(client, card["uuid"])
    reason = feedback["feedback"][0].get("overrideReason", {})
    assert row["outcome"] == "overridden"
    assert row["override_code"] == reason.get("reason", {}).get("code")
    assert row["user_comment"] == reason.get("userComment")


def test_feedback_on_a_card_never_issued_is_refused_and_nothing_is_stored(client: TestClient) -> None:
    feedback = _load(CDS / "feedback-overridden.json")  # the specification's card uuid: not one of ours
    got = client.post(f"{ORDER_SELECT}/feedback", json=feedback)
    assert got.status_code == 422 and got.json()["issue"][0]["expression"] == ["feedback[0].card"]
    assert _stored(client, feedback["feedback"][0]["card"]) == []


def test_stored_feedback_cannot_be_changed(client: TestClient) -> None:
    card = _cards(client)[0]
    feedback = _load(CDS / "feedback-overridden.json")
    feedback["feedback"][0]["card"] = card["uuid"]
    client.post(f"{ORDER_SELECT}/feedback", json=feedback)
    store = client.app.state.cds_store  # type: ignore[attr-defined]
    with pytest.raises(Exception, match="append-only"), store.engine.begin() as conn:
        conn.execute(text("UPDATE cds_feedback SET outcome = 'accepted'"))


# --- authentication ---------------------------------------------------------------------------------------------


class _Keys(http.server.BaseHTTPRequestHandler):
    body = b""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def jwks_url() -> Iterator[str]:
    """The sandbox's published JWK Set, served on a loopback port as the sandbox serves it."""
    _Keys.body = (CDS / "sandbox-jwks.json").read_bytes()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Keys)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/.well-known/jwks.json"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory, jwks_url: str) -> Iterator[TestClient]:
    base = tmp_path_factory.mktemp("auth")
    example = _load(CDS / "jwt-example.json")
    (base / "ehr-jwks.json").write_text(json.dumps(example["jwks"]))
    (base / "issuers.yaml").write_text(
        "issuers:\n"
        f"  - {{iss: 'https://fhir-ehr.example.com/', jwks_file: ehr-jwks.json}}\n"
        f"  - {{iss: 'https://sandbox.cds-hooks.org', jwks_url: '{jwks_url}'}}\n"
    )
    env = {
        "NEEDLESCREEN_CDS_ISSUERS": str(base / "issuers.yaml"),
        "NEEDLESCREEN_CDS_BASE_URL": "https://cds.example.org",
    }
    with pytest.MonkeyPatch.context() as mp:
        for k, v in env.items():
            mp.setenv(k, v)
        app = create_app(Settings(database_url=f"sqlite:///{base / 'r.db'}", api_keys=(ApiKey("north", KEY),)))
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def _spec_token(aud: str, **claims: Any) -> str:
    """A token like the specification's example, signed with its published private key, valid now."""
    example = _load(CDS / "jwt-example.json")
    key = jwt.PyJWK(example["private_jwk"]).key
    now = int(time.time())
    payload = {**example["payload"], "aud": aud, "iat": now, "exp": now + 300, "jti": str(uuid.uuid4()), **claims}
    return jwt.encode(
        payload, key, algorithm="ES384", headers={k: v for k, v in example["header"].items() if k != "alg"}
    )


def _sandbox_token(aud: str, jku: str) -> str:
    """A token signed the way the CDS Hooks sandbox signs its calls (its jwt-generator), with its key pair."""
    key = jwt.PyJWK(_load(CDS / "sandbox-jwk-keypair.json")["keys"][0]).key
    now = int(time.time())
    payload = {
        "iss": "https://sandbox.cds-hooks.org",
        "aud": aud,
        "exp": now + 300,
        "iat": now,
        "jti": str(uuid.uuid4()),
    }
    headers = {"typ": "JWT", "kid": "44823f3d-0b01-4a6c-a80e-b9d3e8a7226f", "jku": jku}
    return jwt.encode(payload, key, algorithm="ES384", headers=headers)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_without_credentials_the_cds_routes_are_401(secured: TestClient) -> None:
    assert secured.get("/cds-services").status_code == 401
    assert secured.post(ORDER_SELECT, json=hook_request("pacemaker")).status_code == 401


def test_a_token_like_the_specifications_example_is_accepted(secured: TestClient) -> None:
    token = _spec_token("https://cds.example.org/cds-services")
    assert secured.get("/cds-services", headers=_bearer(token)).status_code == 200
    call = _spec_token("https://cds.example.org" + ORDER_SELECT)
    assert secured.post(ORDER_SELECT, json=hook_request("pacemaker"), headers=_bearer(call)).status_code == 200


def test_a_token_signed_as_the_sandbox_signs_verifies_against_its_jwks_url(secured: TestClient, jwks_url: str) -> None:
    token = _sandbox_token("https://cds.example.org/cds-services", jwks_url)
    assert secured.get("/cds-services", headers=_bearer(token)).status_code == 200


def test_the_specifications_example_token_itself_has_expired(secured: TestClient) -> None:
    example = _load(CDS / "jwt-example.json")
    got = secured.get("/cds-services", headers=_bearer(example["token"]))
    assert got.status_code == 401 and "expired" in got.text


def test_the_service_api_key_still_works(secured: TestClient) -> None:
    assert secured.get("/cds-services", headers={"X-API-Key": KEY}).status_code == 200


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (lambda: _spec_token("https://cds.example.org/cds-services/other"), "aud"),
        (lambda: _spec_token("https://cds.example.org/cds-services", iss="https://evil.example"), "not trusted"),
        (lambda: _spec_token("https://cds.example.org/cds-services", exp=int(time.time()) + 7200), "longer"),
        (
            lambda: jwt.encode(
                {
                    "iss": "https://fhir-ehr.example.com/",
                    "aud": "https://cds.example.org/cds-services",
                    "exp": int(time.time()) + 60,
                    "iat": int(time.time()),
                    "jti": "x",
                },
                "shared-secret-that-is-long-enough-for-hs256",
                algorithm="HS256",
                headers={"kid": "example-kid"},
            ),
            "algorithm",
        ),
        (
            lambda: jwt.encode(
                {"iss": "https://fhir-ehr.example.com/", "aud": "https://cds.example.org/cds-services"},
                None,
                algorithm="none",
                headers={"kid": "example-kid"},
            ),
            "algorithm",
        ),
    ],
)
def test_a_token_that_breaks_a_rule_is_refused(secured: TestClient, make: Any, says: str) -> None:
    got = secured.get("/cds-services", headers=_bearer(make()))
    assert got.status_code == 401 and says in got.text


def test_a_token_is_accepted_once(secured: TestClient) -> None:
    token = _spec_token("https://cds.example.org/cds-services")
    assert secured.get("/cds-services", headers=_bearer(token)).status_code == 200
    again = secured.get("/cds-services", headers=_bearer(token))
    assert again.status_code == 401 and "replay" in again.text


def test_a_jku_other_than_the_configured_one_is_never_fetched(jwks_url: str) -> None:
    auth = CdsAuth({"https://sandbox.cds-hooks.org": Issuer("https://sandbox.cds-hooks.org", jwks_url=jwks_url)})
    token = _sandbox_token("https://x/cds-services", "https://attacker.example/jwks.json")
    with pytest.raises(TokenError, match="jku"):
        auth.verify(token, ["https://x/cds-services"])


def test_a_token_without_jti_is_refused() -> None:
    example = _load(CDS / "jwt-example.json")
    auth = CdsAuth(
        {
            "https://fhir-ehr.example.com/": Issuer(
                "https://fhir-ehr.example.com/", jwks=jwt.PyJWKSet.from_dict(example["jwks"])
            )
        }
    )
    key = jwt.PyJWK(example["private_jwk"]).key
    now = int(time.time())
    token = jwt.encode(
        {"iss": "https://fhir-ehr.example.com/", "aud": "https://x/cds-services", "iat": now, "exp": now + 60},
        key,
        algorithm="ES384",
        headers={"kid": "example-kid"},
    )
    with pytest.raises(TokenError, match="jti"):
        auth.verify(token, ["https://x/cds-services"])


def test_a_clear_screening_answers_no_cards(ruleset: Any) -> None:
    from needlescreen import Screener
    from needlescreen.fhir.cdshooks import CdsResponse, cards_for
    from needlescreen.testing import baseline_intake

    result = Screener(ruleset, engine="plain").screen(baseline_intake())
    assert result.verdict == "clear" and not result.missing
    assert CdsResponse(cards=cards_for(result)).dump() == _load(CDS / "response-empty.json")
