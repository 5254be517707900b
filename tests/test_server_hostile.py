"""A hostile or careless client cannot tie up a worker, and every answer it gets is a problem a person can read.

* Bodies are read as their Content-Type says (JSON or YAML), 415 otherwise.
* Lists past the schema's limits, objects with more fields than the schema knows and YAML too complex for the fast
  parser are refused before validation, naming where; a 422 lists the first 50 problems and counts them all.
* A body that does not arrive in time is a 408; a client that goes away mid-body is one quiet log line.
* Below the app (``needlescreen serve``'s protocol): request heads over the size limit are a 431, heads that do not
  arrive in time a 408, malformed requests a 400, all as problem+json; a silent connection is closed.
* The published OpenAPI schema refuses what the service refuses where a schema can say it.

How fast ``/health`` stays while four clients send the worst of these is measured by
``benchmarks/server_hostile.py``, not here.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi", reason="the server extra is not installed")

import yaml
from fastapi.testclient import TestClient

from needlescreen.server import Settings, create_app
from needlescreen.testing import baseline_intake

from .server_helpers import live_server

pytestmark = pytest.mark.slow
JSON = "application/json"
PLAN = {"technique": "dry_needling", "sites": [{"id": "a", "region": "calf", "side": "left"}]}


def _client(tmp_path: Path, **settings: Any) -> TestClient:
    url = f"sqlite:///{tmp_path / 'records.db'}"
    return TestClient(create_app(Settings(database_url=url, **settings)), raise_server_exceptions=False)


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with _client(tmp_path) as c:
        yield c


def _post(client: TestClient, body: str | bytes, content_type: str | None = JSON, **params: Any) -> Any:
    headers = {} if content_type is None else {"Content-Type": content_type}
    return client.post("/screenings", content=body, headers=headers, params=params)


# --- Content-Type ---------------------------------------------------------------------------------------------


def test_json_and_yaml_bodies_give_the_same_answer(client: TestClient) -> None:
    intake = baseline_intake()
    as_json = _post(client, json.dumps(intake), dry_run="true").json()
    as_yaml = _post(client, yaml.safe_dump(intake), "application/yaml", dry_run="true").json()
    assert as_yaml["verdict"] == as_json["verdict"] == "clear"
    assert as_yaml["findings"] == as_json["findings"]
    assert _post(client, json.dumps(intake), "application/json; charset=UTF-8").status_code == 201
    assert _post(client, json.dumps(intake), "application/yaml").status_code == 201, "JSON is YAML too"
    # Flow-style YAML starts like JSON; as YAML it is read as YAML.
    assert _post(client, "{plan: {technique: dry_needling, sites: [{id: a, region: neck}]}}", "application/yaml")


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("text/plain", json.dumps(baseline_intake())),
        ("application/xml", "<intake><plan/></intake>"),
        (None, json.dumps(baseline_intake())),
        ("application/x-www-form-urlencoded", "plan=1"),
        ("application/json; charset=latin-1", json.dumps(baseline_intake())),
        (JSON, yaml.safe_dump(baseline_intake())),  # YAML sent as JSON
    ],
)
def test_other_bodies_are_415(client: TestClient, content_type: str | None, body: str) -> None:
    for params in ({}, {"dry_run": "true"}):
        r = _post(client, body, content_type, **params)
        assert r.status_code == 415
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["code"] == "NS415" and "application/yaml" in r.json()["detail"]
        assert r.headers["accept-post"] == "application/json, application/yaml"
    assert client.get("/screenings").json()["items"] == [], "nothing was stored"


def test_broken_json_is_still_a_422_naming_the_position(client: TestClient) -> None:
    r = _post(client, '{"plan": {"technique": "dry_needling",}}')
    assert r.status_code == 422 and r.json()["errors"][0]["message"].startswith("not valid JSON: ")
    assert _post(client, "").json()["errors"][0]["message"] == "the body is empty: send one intake"


@pytest.mark.parametrize("name", ["encounter_date", "date_from", "date_to"])
@pytest.mark.parametrize("value", ["0", "1700000000", "2026-11-2", "yesterday", "2026-11-02T00:00:00"])
def test_dates_in_a_query_are_written_yyyy_mm_dd(client: TestClient, name: str, value: str) -> None:
    r = client.get("/screenings", params={name: value})
    assert r.status_code == 422
    assert [e["path"] for e in r.json()["errors"]] == [f"query.{name}"]
    assert client.get("/screenings", params={name: "2026-11-02"}).status_code == 200


# --- bodies that would cost a worker ----------------------------------------------------------------------------


def test_a_list_far_past_its_limit_is_refused_before_validation(client: TestClient) -> None:
    body = json.dumps({"plan": PLAN, "medications": {"items": [1] * 131_000}}, separators=(",", ":"))
    assert 250_000 < len(body) <= 256 * 1024
    r = _post(client, body)
    assert r.status_code == 422
    problem = r.json()
    assert problem["errors"] == [
        {"path": "medications.items", "message": "the list has 131000 items; at most 100 are accepted"}
    ]
    assert problem["error_count"] == 1 and len(r.content) < 2000


def test_an_object_with_more_fields_than_the_schema_knows_is_refused_whole(client: TestClient) -> None:
    body = {"plan": PLAN, "patient": {f"field_{i}": 1 for i in range(12_000)}}
    r = _post(client, json.dumps(body))
    assert r.status_code == 422
    (error,) = r.json()["errors"]
    assert error["path"] == "patient" and error["message"].startswith("the object has 12000 fields; at most ")


def test_the_problem_list_gives_the_first_fifty_and_the_count(client: TestClient) -> None:
    body = {"plan": PLAN, "medications": {"complete": "yes", "items": [{"name": i} for i in range(100)]}}
    r = _post(client, json.dumps(body))
    problem = r.json()
    assert r.status_code == 422 and problem["error_count"] == 100
    assert [e["path"] for e in problem["errors"]] == [f"medications.items[{i}].name" for i in range(50)]
    assert problem["detail"] == "invalid intake (100 problems; the first 50 are listed)"


@pytest.mark.parametrize(
    ("content_type", "body", "message"),
    [
        ("application/yaml", "- " * 100_000, "a YAML intake may be at most 65536 bytes"),
        ("application/yaml", "[" * 60_000, "too complex: more than 5000 lists and mappings"),
        ("application/yaml", "- " * 30_000, "too complex: more than 5000 lists and mappings"),
        ("application/yaml", "a: " + "[" * 4000 + "]" * 4000, "not valid YAML: exceeded maximum nesting depth"),
        ("application/yaml", "".join(" " * i + "a:\n" for i in range(355)), "input is nested too deeply"),
        (JSON, "[" * 100_000 + "]" * 100_000, "input is nested too deeply"),
        (JSON, '{"a": ' + "[" * 100_000 + "]" * 100_000 + "}", "input is nested too deeply"),
    ],
)
def test_deep_bodies_are_refused_cheaply(client: TestClient, content_type: str, body: str, message: str) -> None:
    r = _post(client, body[: 256 * 1024], content_type)
    assert r.status_code == 422
    ((path, said),) = [(e["path"], e["message"]) for e in r.json()["errors"]]
    assert path == "" and said.startswith(message)


# --- the published schema --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("plan", "accepted"),
    [
        ({"technique": "dry_needling", "sites": [{"id": "a"}]}, False),
        ({"technique": "dry_needling", "sites": [{"id": "a", "region": None}]}, False),
        ({"technique": "dry_needling", "sites": [{"id": "a", "technique": "perineural", "region": "calf"}]}, False),
        ({"technique": "dry_needling", "sites": [{"id": "a", "muscle": "gastrocnemius", "side": "left"}]}, True),
        (
            {
                "technique": "dry_needling",
                "sites": [{"id": "a", "technique": "perineural", "nerve": "tibial", "side": "left"}],
            },
            True,
        ),
        (
            {
                "technique": "dry_needling",
                "sites": [{"id": "a", "region": "calf", "side": "left"}, {"id": "b", "region": "calf", "side": "left"}],
                "circuits": [["a", "b"]],
            },
            False,
        ),
    ],
)
def test_the_openapi_schema_refuses_what_the_service_refuses(
    client: TestClient, plan: dict[str, Any], accepted: bool
) -> None:
    import jsonschema_rs  # Schemathesis' own validator

    doc = client.get("/openapi.json").json()
    body = doc["paths"]["/screenings"]["post"]["requestBody"]["content"]
    assert set(body) == {"application/json", "application/yaml"}
    assert body["application/json"]["schema"] == {"$ref": "#/components/schemas/Intake"}
    assert "415" in doc["paths"]["/screenings"]["post"]["responses"]
    components = json.loads(json.dumps(doc["components"]["schemas"]).replace("#/components/schemas/", "#/$defs/"))
    validator = jsonschema_rs.Draft202012Validator({"$ref": "#/$defs/Intake", "$defs": components})
    intake = {"plan": plan}
    assert validator.is_valid(intake) is accepted
    assert (_post(client, json.dumps(intake), dry_run="true").status_code == 200) is accepted
    assert client.get("/schema/intake").json()["$defs"]["Site"]["anyOf"], "/schema/intake says the same"


# --- slow and vanishing clients, in process ---------------------------------------------------------------------


def _call(app: Any, messages: list[dict[str, Any]], *, hang: bool = False) -> list[dict[str, Any]]:
    """Send one POST /screenings through the app as uvicorn would; the messages the app sent back."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/screenings",
        "raw_path": b"/screenings",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"content-type", JSON.encode()), (b"host", b"test")],
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8000),
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if messages:
            return messages.pop(0)
        if hang:
            await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return sent


def test_a_client_gone_mid_body_is_one_quiet_line(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG):
        sent = _call(client.app, [{"type": "http.request", "body": b'{"plan": {"tech', "more_body": True}])
    assert sent == [], "nothing is answered to a client that has gone"
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], "no warning, no error"
    (line,) = [r for r in caplog.records if r.getMessage() == "request"]
    assert line.fields["status"] == 499 and line.levelno == logging.INFO  # type: ignore[attr-defined]


def test_a_body_that_does_not_arrive_in_time_is_408(tmp_path: Path) -> None:
    with _client(tmp_path, read_timeout=0.3) as c:
        start = time.monotonic()
        sent = _call(c.app, [{"type": "http.request", "body": b'{"plan"', "more_body": True}], hang=True)
        assert time.monotonic() - start < 30, "the deadline ended the wait"
    assert sent[0]["status"] == 408
    assert (b"connection", b"close") in sent[0]["headers"]
    problem = json.loads(sent[1]["body"])
    assert problem["code"] == "NS408" and problem["errors"][0]["path"] == "body"


# --- the protocol, live -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int, Path]]:
    root = tmp_path_factory.mktemp("hostile")
    log_path = root / "server.log"
    extra = ("--read-timeout", "1", "--max-header", "4096")
    with (
        log_path.open("wb") as log,
        live_server(f"sqlite:///{root / 'records.db'}", workers=1, extra=extra, log=log) as (base, _proc),
    ):
        yield base, int(base.rsplit(":", 1)[1]), log_path


def _exchange(port: int, *parts: bytes, pause: float = 0.0) -> bytes:
    """Send the parts (pausing between them), then read until the server closes (or 15 s pass)."""
    with socket.create_connection(("127.0.0.1", port), timeout=15) as sock:
        for part in parts:
            try:
                sock.sendall(part)
            except OSError:
                break  # the server has already answered and closed
            time.sleep(pause)
        out = b""
        try:
            while chunk := sock.recv(65536):
                out += chunk
        except (ConnectionResetError, TimeoutError):
            pass
        return out


def _problem(raw: bytes) -> tuple[int, dict[str, Any]]:
    head, _, body = raw.partition(b"\r\n\r\n")
    assert b"content-type: application/problem+json" in head.lower(), head
    return int(head[9:12]), json.loads(body)


def test_a_request_head_over_the_limit_is_431(live: tuple[str, int, Path]) -> None:
    _, port, _ = live
    status, problem = _problem(
        _exchange(port, b"GET /health HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"x" * 8000 + b"\r\n\r\n")
    )
    assert status == 431 and problem["code"] == "NS431"
    # A header that never ends: refused once the limit is past, not read in full.
    chunks = [b"GET /health HTTP/1.1\r\nHost: x\r\nX-Pad: "] + [b"x" * 16384] * 64
    status, _ = _problem(_exchange(port, *chunks))
    assert status == 431


def test_a_request_head_that_trickles_is_408(live: tuple[str, int, Path]) -> None:
    _, port, _ = live
    raw = _exchange(port, b"GET /health HTTP/1.1\r\n", b"Host: x\r\n", b"X-A: 1\r\n", b"X-B: 2\r\n", pause=0.5)
    status, problem = _problem(raw)
    assert status == 408 and problem["code"] == "NS408"


def test_a_silent_connection_is_closed(live: tuple[str, int, Path]) -> None:
    _, port, _ = live
    assert _exchange(port) == b""


def test_a_body_that_trickles_is_408(live: tuple[str, int, Path]) -> None:
    _, port, _ = live
    head = b"POST /screenings HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
    status, problem = _problem(_exchange(port, head, b'{"plan": ', b"{", b" ", pause=0.6))
    assert status == 408 and problem["errors"][0]["path"] == "body"


def test_malformed_http_is_a_400_problem(live: tuple[str, int, Path]) -> None:
    _, port, _ = live
    status, problem = _problem(_exchange(port, b"NOT HTTP AT ALL\r\n\r\n"))
    assert status == 400 and problem["code"] == "NS400"


def test_a_client_gone_mid_body_leaves_no_error_in_the_log(live: tuple[str, int, Path]) -> None:
    base, port, log_path = live
    head = b"POST /screenings HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 5000\r\n\r\n"
    for _ in range(5):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(head + b'{"plan": {"technique"')
            time.sleep(0.05)
    import httpx

    assert httpx.get(f"{base}/health").status_code == 200
    time.sleep(0.5)
    lines = [json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")]
    assert not [line for line in lines if line["level"] in ("error", "critical")], lines
    gone = [line for line in lines if line.get("status") == 499]
    assert len(gone) == 5 and all(line["level"] == "info" for line in gone)
    assert "Traceback" not in log_path.read_text() and "Exception in ASGI" not in log_path.read_text()
