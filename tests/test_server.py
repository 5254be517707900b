"""The HTTP service in process: endpoints, records, errors as problem details, auth, limits, logs."""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi", reason="the server extra is not installed")

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from typer.testing import CliRunner

from needlescreen import IntakeError, Screener, parse_intake
from needlescreen.cli import app as cli_app
from needlescreen.engine import available_engines
from needlescreen.intake import MAX_SITES
from needlescreen.server import Settings, create_app
from needlescreen.server.keys import ApiKey
from needlescreen.testing import baseline_intake, comparable, with_changes

from .server_helpers import BrokenEngine
from .strategies import intakes

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "cipn-electrical.json"
KEY = "k" * 8 + "-test-key-0123456789"
JSON = {"Content-Type": "application/json"}
#: Values that identify a patient; no log line may contain any of them.
SECRETS = {"patient_ref": "MRN-77-SECRET", "clinician": "Dr Quillon Vask", "clinic": "Harbourside Physio Secret"}
RECORD = {**SECRETS, "encounter_date": "2026-11-02"}


def _client(tmp_path: Path, **settings: Any) -> TestClient:
    url = f"sqlite:///{tmp_path / 'records.db'}"
    return TestClient(create_app(Settings(database_url=url, **settings)), raise_server_exceptions=False)


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with _client(tmp_path) as c:
        yield c


def _lymphoedema_calf() -> dict[str, Any]:
    """Baseline patient with lymphoedema of the leg where the needle goes (refer, whatever the policy)."""
    finding = {"lymphedema": {"answer": "yes", "locations": [{"region": "calf", "side": "right"}]}}
    return with_changes(baseline_intake(), {"findings": finding})


def _at_risk_calf() -> dict[str, Any]:
    """Baseline patient with a limb at risk of lymphoedema where the needle goes (policy decides refer/caution)."""
    finding = {"at_risk_limb": {"answer": "yes", "locations": [{"region": "calf", "side": "right"}]}}
    return with_changes(baseline_intake(), {"findings": finding})


def _post(client: TestClient, intake: Any, headers: dict[str, str] | None = None, **params: Any) -> Any:
    return client.post("/screenings", content=json.dumps(intake), params=params, headers=JSON | (headers or {}))


# --- screening and records -----------------------------------------------------------------------------------


def test_screening_is_stored_and_fetched_as_answered(client: TestClient) -> None:
    intake = json.loads(EXAMPLE.read_text()) | {"record": RECORD}
    r = _post(client, intake)
    assert r.status_code == 201
    assert r.headers["content-type"] == "application/json"
    result = r.json()
    assert r.headers["location"] == f"/screenings/{result['decision_id']}"
    got = client.get(r.headers["location"])
    assert got.status_code == 200
    record = got.json()
    assert record["result"] == result
    assert record["id"] == result["decision_id"]
    assert record["verdict"] == result["verdict"] == "refer"
    assert record["record"] == RECORD
    assert record["submitted_by"] == "local"
    assert record["previous_id"] is None and record["changes"] is None
    assert parse_intake(json.dumps(record["intake"])) == parse_intake(json.dumps(intake))


@pytest.mark.parametrize("engine", available_engines())
def test_service_answers_equal_library_answers(tmp_path: Path, engine: str) -> None:
    intakes = [
        json.loads(EXAMPLE.read_text()),
        baseline_intake(),
        _at_risk_calf(),
        {"plan": {"technique": "dry_needling", "sites": [{"id": "a", "muscle": "upper trapezius", "side": "left"}]}},
        with_changes(baseline_intake(), {"patient": {"pregnancy": {"status": "pregnant", "gestational_weeks": 8.0}}}),
    ]
    library = Screener(engine=engine)  # type: ignore[arg-type]
    with _client(tmp_path, engine=engine) as c:
        for intake in intakes:
            for params in ({}, {"dry_run": "true"}):
                r = _post(c, intake, **params)
                assert r.status_code in (200, 201)
                served = parse_result(r.json())
                assert comparable(served) == comparable(library.screen(intake))
                assert served.engine == engine


def parse_result(data: dict[str, Any]) -> Any:
    from needlescreen import ScreeningResult

    return ScreeningResult.model_validate(data)


def test_dry_run_screens_without_storing(client: TestClient) -> None:
    r = _post(client, baseline_intake(), dry_run="true")
    assert r.status_code == 200
    assert r.json()["verdict"] == "clear"
    assert "location" not in r.headers
    assert client.get(f"/screenings/{r.json()['decision_id']}").status_code == 404
    assert client.get("/screenings").json() == {"items": [], "next_cursor": None}


def test_list_filters_by_patient_verdict_and_date_and_pages_through(client: TestClient) -> None:
    made: dict[str, list[str]] = {"A": [], "B": []}
    for i in range(7):
        ref = "A" if i % 2 == 0 else "B"
        intake = (_lymphoedema_calf() if i % 3 == 0 else baseline_intake()) | {"record": {"patient_ref": ref}}
        made[ref].append(_post(client, intake).json()["decision_id"])
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"patient_ref": "A", "limit": 2} | ({"cursor": cursor} if cursor else {})
        page = client.get("/screenings", params=params).json()
        assert len(page["items"]) <= 2
        seen += [item["id"] for item in page["items"]]
        assert all(item["record"]["patient_ref"] == "A" for item in page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(made["A"])), "newest first, each record exactly once"
    refer = client.get("/screenings", params={"verdict": "refer"}).json()["items"]
    assert {i["id"] for i in refer} == {made["A"][0], made["B"][1], made["A"][3]}
    assert all(i["verdict"] == "refer" for i in refer)
    today = client.get("/screenings", params={"date_from": "2000-01-01", "limit": 100}).json()["items"]
    assert len(today) == 7
    assert client.get("/screenings", params={"date_to": "2000-01-01"}).json()["items"] == []


def test_rescreen_links_a_new_record_and_says_what_changed(tmp_path: Path) -> None:
    with _client(tmp_path) as c:
        first = _post(c, _at_risk_calf() | {"record": RECORD}).json()
        assert first["verdict"] == "caution"  # the reference's suggested default for an at-risk limb
        same = c.post(f"/screenings/{first['decision_id']}/rescreen").json()
        assert same["previous_id"] == first["decision_id"] and same["changes"]["changed"] is False
    policy = tmp_path / "clinic.yaml"
    policy.write_text("schema: needlescreen.policy-override/1\nsettings:\n  at_risk_limb_verdict: refer\n")
    with _client(tmp_path, policy_file=str(policy)) as c:
        r = c.post(f"/screenings/{first['decision_id']}/rescreen")
        assert r.status_code == 201
        again = r.json()
        assert r.headers["location"] == f"/screenings/{again['id']}"
        assert again["id"] != first["decision_id"]
        assert again["previous_id"] == first["decision_id"]
        assert again["record"] == RECORD, "the record metadata travels with the intake"
        changes = again["changes"]
        assert changes["changed"] is True
        assert changes["verdict"] == {"before": "caution", "after": "refer"}
        assert changes["policy"] == {"at_risk_limb_verdict": {"before": "caution", "after": "refer"}}
        # The old record is untouched: a correction is a new record.
        old = c.get(f"/screenings/{first['decision_id']}").json()
        assert old["result"] == first and old["changes"] is None
        assert c.post("/screenings/00000000-0000-0000-0000-000000000000/rescreen").status_code == 404


def test_records_are_append_only(client: TestClient) -> None:
    rid = _post(client, baseline_intake()).json()["decision_id"]
    store = client.app.state.service.store  # type: ignore[attr-defined]
    for statement in ("UPDATE screening_records SET verdict = 'clear'", "DELETE FROM screening_records"):
        with pytest.raises(Exception, match="append-only"), store.engine.begin() as conn:
            conn.execute(text(statement))
    assert client.get(f"/screenings/{rid}").status_code == 200


def test_record_metadata_is_bounded_and_plain_text(client: TestClient) -> None:
    for record, path in (
        ({"patient_ref": "x" * 65}, "record.patient_ref"),
        ({"clinician": "a\u0000b"}, "record.clinician"),
        ({"encounter_date": "yesterday"}, "record.encounter_date"),
        ({"ward": "3"}, "record.ward"),
    ):
        r = _post(client, baseline_intake() | {"record": record})
        assert r.status_code == 422
        assert [e["path"] for e in r.json()["errors"]] == [path]


# --- errors --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "intake",
    [
        {"plan": {"technique": "acupuncture", "sites": [{"id": "a", "region": "calf"}]}},
        {"patient": {"age": True}, "plan": {"technique": "dry_needling", "sites": [{"id": "a", "region": "calf"}]}},
        {
            "plan": {
                "technique": "dry_needling",
                "sites": [{"id": f"s{i}", "region": "calf"} for i in range(MAX_SITES + 1)],
            }
        },
        {"plan": {"technique": "dry_needling", "sites": []}, "surprise": 1},
        "not an object",
    ],
)
def test_invalid_intake_is_422_with_the_library_paths(client: TestClient, intake: Any) -> None:
    body = json.dumps(intake)
    with pytest.raises(IntakeError) as library:
        parse_intake(body)
    r = client.post("/screenings", content=body, headers=JSON)
    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"
    problem = r.json()
    assert problem["status"] == 422 and problem["code"] == "NS101"
    assert [e["path"] for e in problem["errors"]] == [p.path for p in library.value.problems]
    for served, expected in zip(problem["errors"], library.value.problems, strict=True):
        # A list over its limit is refused before validation (bodies.py), in words of the service's own.
        assert served["message"] == expected.message or re.fullmatch(
            r"the list has \d+ items; at most \d+ are accepted", served["message"]
        )
    assert "verdict" not in problem and "decision_id" not in problem


def test_too_many_sites_names_the_list(client: TestClient) -> None:
    sites = [{"id": f"s{i}", "region": "calf"} for i in range(MAX_SITES + 1)]
    r = _post(client, {"plan": {"technique": "dry_needling", "sites": sites}})
    assert r.status_code == 422
    assert [e["path"] for e in r.json()["errors"]] == ["plan.sites"]


def test_body_over_the_limit_is_413_before_parsing(tmp_path: Path) -> None:
    with _client(tmp_path, max_body=4096) as c:
        padding = {"medications": {"items": [{"name": "x" * 100} for _ in range(60)]}}
        r = _post(c, baseline_intake() | padding)
        assert r.status_code == 413
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["errors"] == [{"path": "body", "message": "the request body is larger than 4096 bytes"}]

        def chunks() -> Iterator[bytes]:  # no Content-Length: the limit is counted as the body streams in
            for _ in range(10):
                yield b" " * 1000

        r = c.post("/screenings", content=chunks(), headers=JSON)
        assert r.status_code == 413


def test_query_errors_name_the_parameter(client: TestClient) -> None:
    r = client.get("/screenings", params={"limit": 0, "verdict": "maybe"})
    assert r.status_code == 422
    assert {e["path"] for e in r.json()["errors"]} == {"query.limit", "query.verdict"}


def test_engine_failure_is_500_without_a_decision_and_ready_fails(client: TestClient) -> None:
    assert client.get("/ready").status_code == 200
    client.app.state.service.screener.engine = BrokenEngine()  # type: ignore[attr-defined]
    for params in ({}, {"dry_run": "true"}):
        r = _post(client, baseline_intake(), **params)
        assert r.status_code == 500
        body = r.json()
        assert body["code"] == "NS301" and body["status"] == 500
        assert not {"verdict", "decision_id", "findings", "result"} & set(body)
        assert "clear" not in r.text and "refer" not in r.text and "caution" not in r.text
    assert client.get("/screenings").json()["items"] == [], "nothing stored for a failed screening"
    ready = client.get("/ready")
    assert ready.status_code == 503
    assert ready.json()["checks"]["engine"] != "ok"


def test_ready_stays_failed_once_the_engine_failed(client: TestClient) -> None:
    engine = client.app.state.service.screener.engine  # type: ignore[attr-defined]
    client.app.state.service.screener.engine = BrokenEngine()  # type: ignore[attr-defined]
    _post(client, baseline_intake())
    client.app.state.service.screener.engine = engine  # type: ignore[attr-defined]
    assert client.get("/ready").status_code == 503, "an engine that failed once is not trusted again"


def test_internal_error_is_500_with_no_verdict_and_no_message(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(_record: Any) -> Any:
        raise RuntimeError(f"disk on fire while writing {SECRETS['patient_ref']}")

    client.app.state.service.store.add = broken  # type: ignore[attr-defined]
    with caplog.at_level(logging.INFO, logger="needlescreen.server"):
        r = _post(client, baseline_intake() | {"record": RECORD})
    assert r.status_code == 500
    assert r.json()["code"] == "NS500"
    assert not {"verdict", "decision_id"} & set(r.json())
    logged = _log_text(caplog)
    assert "RuntimeError" in logged and SECRETS["patient_ref"] not in logged


# --- auth, CORS ----------------------------------------------------------------------------------------------


def test_api_keys_and_bearer_tokens(tmp_path: Path) -> None:
    with _client(tmp_path, api_keys=(ApiKey("north", KEY),)) as c:
        r = _post(c, baseline_intake())
        assert r.status_code == 401
        assert r.headers["content-type"] == "application/problem+json"
        assert r.headers["www-authenticate"] == "Bearer"
        assert _post(c, baseline_intake(), dry_run="true").status_code == 401
        assert c.get("/rules", headers={"X-API-Key": KEY + "x"}).status_code == 401
        assert c.get("/rules", headers={"Authorization": "Bearer nope"}).status_code == 401
        ok = _post(c, baseline_intake(), headers={"X-API-Key": KEY})
        assert ok.status_code == 201
        record = c.get(ok.headers["location"], headers={"Authorization": f"Bearer {KEY}"}).json()
        assert record["submitted_by"].startswith("key:") and KEY not in json.dumps(record)
        assert c.get("/health").status_code == 200 and c.get("/ready").status_code == 200


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.10", "::", "example.org"])
def test_refuses_to_serve_beyond_loopback_without_auth(tmp_path: Path, host: str) -> None:
    with pytest.raises(ValueError, match="without authentication"):
        create_app(Settings(database_url=f"sqlite:///{tmp_path / 'r.db'}", host=host))
    result = CliRunner().invoke(cli_app, ["serve", "--host", host])
    assert result.exit_code == 2
    assert "without authentication" in result.output
    Settings(host=host, api_keys=(ApiKey("north", KEY),)).check()
    Settings(host="127.0.0.1").check()
    Settings(host="::1").check()


def test_missing_server_extra_gives_an_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uvicorn", None)
    monkeypatch.delitem(sys.modules, "needlescreen.server.run", raising=False)
    result = CliRunner().invoke(cli_app, ["serve"])
    assert result.exit_code == 2
    assert "pip install 'needlescreen[server]'" in result.output
    assert "Traceback" not in result.output


def test_cors_is_closed_by_default(tmp_path: Path) -> None:
    preflight = {"Origin": "https://forms.example", "Access-Control-Request-Method": "POST"}
    with _client(tmp_path) as c:
        assert "access-control-allow-origin" not in c.options("/screenings", headers=preflight).headers
        assert (
            "access-control-allow-origin" not in c.get("/health", headers={"Origin": "https://forms.example"}).headers
        )
    with _client(tmp_path, cors_origins=("https://forms.example",)) as c:
        r = c.options("/screenings", headers=preflight)
        assert r.headers["access-control-allow-origin"] == "https://forms.example"


# --- logs ----------------------------------------------------------------------------------------------------


def _log_text(caplog: pytest.LogCaptureFixture) -> str:
    return "\n".join(f"{r.getMessage()} {getattr(r, 'fields', {})}" for r in caplog.records)


@pytest.mark.parametrize("clinical", [False, True])
def test_logs_trace_decisions_without_patient_data(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, clinical: bool
) -> None:
    intake = json.loads(EXAMPLE.read_text()) | {"record": RECORD}
    intake["medications"]["items"].append({"name": "Zorblaxamab-secret"})
    with (
        _client(tmp_path, log_clinical=clinical) as client,
        caplog.at_level(logging.INFO, logger="needlescreen.server"),
    ):
        result = _post(client, intake).json()
        client.get("/screenings", params={"patient_ref": SECRETS["patient_ref"]})
        client.get(f"/screenings/{result['decision_id']}")
        again = client.post(f"/screenings/{result['decision_id']}/rescreen").json()
        _post(client, {"record": {"patient_ref": SECRETS["patient_ref"]}, "plan": {"technique": "x"}})
    logged = _log_text(caplog)
    screenings = [r.fields for r in caplog.records if r.getMessage() == "screening"]  # type: ignore[attr-defined]
    assert [f["decision_id"] for f in screenings] == [result["decision_id"], again["id"]]
    assert screenings[1]["previous_id"] == result["decision_id"]
    assert all(f["ms"] > 0 for f in screenings)
    rule_ids = sorted({f["rule_id"] for f in result["findings"]})
    assert rule_ids, "the example patient fires rules"
    if clinical:
        # Opted in: each rule id travels with the decision id that finds the record.
        assert screenings[0]["verdict"] == "refer" and screenings[0]["rules"] == rule_ids
        assert screenings[0]["missing"] == len(result["missing"])
    else:
        # Rule ids are clinical content (PREG_T1, MINOR): by default no log line carries one, nor a verdict.
        assert not {"verdict", "rules", "missing"} & set(screenings[0])
        for rule_id in rule_ids:
            assert rule_id not in logged, f"{rule_id} reached a log line without log_clinical"
        assert "refer" not in logged
    for secret in [*SECRETS.values(), "Zorblaxamab", "Eliquis", "Letrozole", "2026-11-02", "fibularis"]:
        assert secret not in logged, f"{secret!r} reached a log line"

    # The patient's age (58) as a logged value of its own (not digits inside a timing or a decision id).
    def values(node: Any) -> Iterator[Any]:
        if isinstance(node, dict):
            for v in node.values():
                yield from values(v)
        elif isinstance(node, list | tuple):
            for v in node:
                yield from values(v)
        else:
            yield node

    logged_values = [v for r in caplog.records for v in values(getattr(r, "fields", {}))]
    assert all(v not in (58, "58") for v in logged_values), "the patient's age reached a log line"


# --- catalogue endpoints -------------------------------------------------------------------------------------


def test_rules_schema_and_questionnaire(client: TestClient) -> None:
    rules = client.get("/rules").json()
    ids = {r["id"] for r in rules}
    assert "LYMPHEDEMA_LIMB" in ids and len(rules) == len(Screener(engine="plain").ruleset.rules)
    rule = client.get("/rules/lymphedema_limb").json()
    assert rule["id"] == "LYMPHEDEMA_LIMB" and rule["references"] and rule["scenarios"]
    assert all({"file", "line", "title"} <= set(s) for s in rule["scenarios"])
    assert client.get("/rules/NO_SUCH_RULE").status_code == 404
    assert client.get("/schema/intake").json()["title"] == "Intake"
    assert client.get("/schema/result").json()["title"] == "ScreeningResult"
    q = client.get("/questionnaire").json()
    assert q["items"] and all("enable_when" in i for i in q["items"])
    assert any(i["enable_when"] for i in q["items"]), "follow-up questions carry their gating"


def test_openapi_publishes_every_endpoint(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    paths = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    assert paths >= {
        ("POST", "/screenings"),
        ("GET", "/screenings"),
        ("GET", "/screenings/{record_id}"),
        ("POST", "/screenings/{record_id}/rescreen"),
        ("GET", "/rules"),
        ("GET", "/rules/{rule_id}"),
        ("GET", "/schema/intake"),
        ("GET", "/schema/result"),
        ("GET", "/questionnaire"),
        ("GET", "/health"),
        ("GET", "/ready"),
    }
    body = doc["paths"]["/screenings"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/Intake"}
    assert "Intake" in doc["components"]["schemas"] and "Problem" in doc["components"]["schemas"]


# --- generated intakes ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def module_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    with _client(tmp_path_factory.mktemp("generated")) as c:
        yield c


_RECORD_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cc", "Cs")), min_size=1, max_size=30).filter(
    lambda s: s.strip() != ""
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(intake=intakes(), ref=_RECORD_TEXT, clinician=_RECORD_TEXT)
def test_generated_intakes_get_the_library_answer_stored_or_not(
    module_client: TestClient, intake: dict[str, Any], ref: str, clinician: str
) -> None:
    library = module_client.app.state.service.screener  # type: ignore[attr-defined]
    expected = comparable(library.screen(intake))
    dry = _post(module_client, intake, dry_run="true")
    assert dry.status_code == 200
    assert comparable(parse_result(dry.json())) == expected
    stored = _post(module_client, intake | {"record": {"patient_ref": ref, "clinician": clinician}})
    assert stored.status_code == 201
    assert comparable(parse_result(stored.json())) == expected, "record metadata changed the answer"
    record = module_client.get(stored.headers["location"]).json()
    assert record["record"]["patient_ref"] == ref.strip() and record["result"] == stored.json()


def test_text_no_database_can_hold_is_422_not_500(client: TestClient) -> None:
    plan = '"plan": {"technique": "dry_needling", "sites": [{"id": "a", "region": "calf", "side": "left"}]}'
    for body, path in (
        ('{"medications": {"items": [{"name": "ab\\ud800c"}]}, ' + plan + "}", "medications.items[0].name"),
        ('{"record": {"patient_ref": "ab\\udc00"}, ' + plan + "}", "record.patient_ref"),
    ):
        for params in ({}, {"dry_run": "true"}):
            r = client.post("/screenings", content=body, params=params, headers=JSON)
            assert r.status_code == 422
            assert [e["path"] for e in r.json()["errors"]] == [path]
