"""The web form in process (FastAPI's test client over https, so Secure cookies are sent): pages, gating, verdicts
equal to the library's, JSON twin, CSRF, sign-in, drafts, the record and its PDF, the body map and the catalogue.

The browser itself (JavaScript, keyboard, accessibility, screenshots) is tested in ``tests/web/``.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("jinja2", reason="the web extra is not installed")
pytest.importorskip("fastapi", reason="the server extra is not installed")

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from needlescreen import Screener, load_ruleset, parse_intake
from needlescreen.cli import app as cli_app
from needlescreen.questionnaire import load_questionnaire
from needlescreen.ruleset import default_rules_dir
from needlescreen.server import Settings, create_app
from needlescreen.server.keys import ApiKey
from needlescreen.web import bodymap
from needlescreen.web.forms import read_form
from needlescreen.web.record import consent_points

KEY = "web-test-key-0123456789"
OTHER_KEY = "other-clinic-key-987654321"
#: A healthy 45-year-old man as his clinician answers the form: the plan, who he is, consent, the BMI, the
#: medication list, and "no" to each first-pass screening question (which answers everything behind it no).
HEALTHY: dict[str, str] = {
    "q.technique": "dry_needling",
    "q.sites": "right calf, left thigh",
    "q.advanced_training": "yes",
    "q.age": "45",
    "q.sex": "male",
    "q.consent": "yes",
    "q.bmi": "24",
    "q.today": "no",
    "q.conditions": "no",
    "q.bleeding": "no",
    "q.medications": "none",
    "q.medications_complete": "yes",
    "q.implants_or_worn": "no",
    "q.body": "no",
}
#: The regional findings opened down to the lymph and vein questions, each of them "no" (the others "no" too):
#: a finding is then added by answering its own question "yes".
LYMPH_VEINS_OPEN: dict[str, str] = {
    "q.body": "yes",
    "q.lymph_veins": "yes",
    "q.skin": "no",
    "q.nerves_spine": "no",
    **{f"q.{k}": "no" for k in ("lymphedema", "at_risk_limb", "dvt", "past_dvt", "thrombophlebitis", "varicose_veins")},
}
#: The bleeding question opened: no easy bruising, no bleeding disorder (the blood thinner and INR asked below it).
BLEEDING_OPEN: dict[str, str] = {"q.bleeding": "yes", "q.bleeding_history": "no", "q.bleeding_disorder": "none"}
#: A lymphoedematous left arm, needled at the left forearm and the right calf.
LYMPHOEDEMA_LEFT_ARM: dict[str, str] = {
    **HEALTHY,
    **LYMPH_VEINS_OPEN,
    "q.sites": "left forearm, right calf",
    "q.lymphedema": "yes",
    "q.lymphedema_where": "left upper limb",
}


def _client(tmp_path: Path, **settings: Any) -> TestClient:
    url = f"sqlite:///{tmp_path / 'records.db'}"
    return TestClient(create_app(Settings(database_url=url, **settings)), base_url="https://testserver")


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with _client(tmp_path) as c:
        yield c


def _token(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "every form carries a CSRF token"
    return match.group(1)


def _post(client: TestClient, answers: dict[str, str], action: str = "result", **kw: Any) -> Any:
    token = _token(client.get("/").text)
    return client.post("/screen", data={**answers, "csrf_token": token, "action": action}, **kw)


def _library(answers: dict[str, str]) -> Any:
    """What the library says for the same answers, read through the questionnaire alone."""
    q = load_questionnaire()
    state = read_form(q, answers)
    assert not state.errors, state.errors
    return Screener(engine="plain").screen(state.intake)


def _site_verdicts(html: str) -> list[tuple[str, str]]:
    rows = re.findall(r"<tr><td>([^<]+)</td><td>[^<]*</td><td><strong class=\"badge v-(\w+)\">", html)
    return [(sid, shown) for sid, shown in rows]


def test_the_form_asks_every_question_of_the_questionnaire_and_hides_closed_follow_ups(client: TestClient) -> None:
    html = client.get("/").text
    q = load_questionnaire()
    for item in q.items:
        assert f'id="item-{item.id}"' in html, item.id
        shown = q.enabled(item, {})
        block = re.search(rf'<div class="question[^"]*" id="item-{item.id}" data-item="{item.id}"( hidden)?>', html)
        assert block is not None
        assert (block.group(1) is None) == shown, f"{item.id} should be {'shown' if shown else 'hidden'}"


def test_a_yes_opens_its_follow_up_and_unknown_keeps_it_closed(client: TestClient) -> None:
    opened = _post(client, {**HEALTHY, **LYMPH_VEINS_OPEN, "q.lymphedema": "yes"}, action="update").text
    assert _questions(opened)["lymphedema_where"].visible
    closed = _post(client, {**HEALTHY, **LYMPH_VEINS_OPEN, "q.lymphedema": "unknown"}, action="update").text
    assert not _questions(closed)["lymphedema_where"].visible


# --- the first pass in the form ---------------------------------------------------------------------------------


@dataclass
class _Shown:
    """A question block of a rendered form: whether it can be seen, and the reveals (by opener) it sits in."""

    visible: bool
    inside: tuple[str, ...]
    gate_note: bool = False


class _Blocks(HTMLParser):
    """The question blocks of a page in order, each with the reveals around it (divs nest; nothing else is read)."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[tuple[str | None, bool, str | None]] = []  # (reveal opener, hidden, question id)
        self.found: dict[str, _Shown] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "p" and "data-gate-note" in a and self.stack and self.stack[-1][2]:
            self.found[self.stack[-1][2]].gate_note = "hidden" not in a
        if tag != "div":
            return
        item = a.get("data-item")
        self.stack.append((a.get("data-conditional"), "hidden" in a, item))
        if item is not None:
            hidden = any(h for _, h, _ in self.stack)
            self.found[item] = _Shown(not hidden, tuple(c for c, _, _ in self.stack if c))

    def handle_endtag(self, tag: str) -> None:
        if tag == "div":
            self.stack.pop()


def _questions(html: str) -> dict[str, _Shown]:
    form = html.split('<form method="post" action="/screen" id="screening-form"', 1)[1].split("</form>", 1)[0]
    parser = _Blocks()
    parser.feed(form)
    return parser.found


def check_the_first_pass_reads_as_a_conditional_reveal(client: TestClient) -> None:
    """Each screening question's follow-ups sit in its reveal, closed until it is "yes"; "no" keeps them closed;
    "not known" keeps them closed, says so, and records nothing for them (never no), so the verdict is not clear."""
    q = load_questionnaire()
    gates = [i for i in q.items if i.covers]
    empty = _questions(client.get("/").text)
    for gate in gates:
        for covered in gate.covers:
            assert gate.id in empty[covered].inside, f"{covered} is not revealed under {gate.id}"
            assert not empty[covered].visible, f"{covered} shows before {gate.id} is answered"
    opened = _questions(_post(client, {**HEALTHY, "q.body": "yes"}, action="update").text)
    assert all(opened[c].visible for c in ("lymph_veins", "skin", "nerves_spine"))
    assert not opened["lymphedema"].visible, "a covered screening question opens only its own follow-ups"
    unknown_page = _post(client, {**HEALTHY, "q.body": "unknown"}, action="update").text
    unknown = _questions(unknown_page)
    assert unknown["body"].gate_note and not opened["body"].gate_note
    assert not any(unknown[c].visible for c in ("lymph_veins", "skin", "nerves_spine", "lymphedema", "dvt"))
    state = read_form(q, {**HEALTHY, "q.body": "unknown"})
    assert state.intake is not None
    assert state.intake.findings.lymphedema.answer == "unknown", "an unknown screening question records no 'no'"
    assert _library({**HEALTHY, "q.body": "unknown"}).verdict != "clear"


def test_the_first_pass_reads_as_a_conditional_reveal(client: TestClient) -> None:
    check_the_first_pass_reads_as_a_conditional_reveal(client)


def test_breakage_the_reveal_check_fails_when_follow_ups_are_not_nested(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from needlescreen.web import forms

    monkeypatch.setattr(forms, "_opener", lambda _item, _path: None)
    with pytest.raises(AssertionError, match="not revealed under"):
        check_the_first_pass_reads_as_a_conditional_reveal(client)


#: The healthy patient's answers to what the form asks that a plain "no" does not answer (issue 16: "a healthy
#: patient takes at most about 15 answers in the form").
HEALTHY_SCRIPT: dict[str, str] = {
    "technique": "dry_needling",
    "sites": "right calf",
    "advanced_training": "no",
    "age": "40",
    "sex": "female",
    "pregnancy": "not_pregnant",
    "consent": "yes",
    "bmi": "23",
    "medications": "none",
    "medications_complete": "yes",
}
MOST_ANSWERS = 15


def fill_in_like_a_clinician(client: TestClient, script: dict[str, str]) -> dict[str, str]:
    """Answer the form top to bottom through the real routes, one answer at a time, as the page shows questions
    (``POST /screen`` with Update, the no-script form): the script's answer, else "no" to a yes/no question; any
    other question a healthy patient is asked is a failure."""
    q = load_questionnaire()
    answers: dict[str, str] = {}
    while True:
        shown = _questions(_post(client, answers, action="update").text)
        todo = [i for i, block in shown.items() if block.visible and f"q.{i}" not in answers]
        if not todo:
            return answers
        item = q.item(todo[0])
        if item.id in script:
            answers[f"q.{item.id}"] = script[item.id]
        else:
            assert item.type == "answer", f"a healthy patient is asked {item.id!r} ({item.type}): {item.text}"
            answers[f"q.{item.id}"] = "no"
        assert len(answers) <= 3 * MOST_ANSWERS, f"the form keeps asking: {list(answers)}"


def check_a_healthy_patient_takes_about_15_answers_in_the_form(client: TestClient) -> dict[str, str]:
    answers = fill_in_like_a_clinician(client, HEALTHY_SCRIPT)
    assert len(answers) <= MOST_ANSWERS, f"{len(answers)} answers: {list(answers)}"
    return answers


def test_a_healthy_patient_takes_about_15_answers_in_the_form(client: TestClient) -> None:
    """Issue 16 acceptance, through the real routes: at most 15 answers, and the verdict the page shows and stores
    is the library's on the intake the questionnaire builds from those answers."""
    answers = check_a_healthy_patient_takes_about_15_answers_in_the_form(client)
    page = _post(client, answers).text
    built = read_form(load_questionnaire(), answers).intake
    assert built is not None
    library = Screener(engine="plain").screen(built)
    assert library.verdict == "clear"
    assert "needle as planned" in page
    assert _site_verdicts(page) == [(s.site.id, s.verdict) for s in library.sites]
    stored = _post(client, answers, action="record", follow_redirects=False)
    decision = stored.headers["location"].split("/")[2]
    record = client.get(f"/screenings/{decision}").json()
    assert parse_intake(record["intake"]) == built
    assert record["result"]["verdict"] == library.verdict
    male = {**HEALTHY_SCRIPT, "sex": "male"}
    del male["pregnancy"]
    # A man is not asked about pregnancy: one answer fewer, and nothing else changes.
    assert len(fill_in_like_a_clinician(client, male)) == len(answers) - 1


def test_breakage_the_answer_count_fails_when_the_form_asks_everything(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from needlescreen.questionnaire import Questionnaire

    monkeypatch.setattr(Questionnaire, "enabled", lambda _self, _item, _answers: True)
    with pytest.raises(AssertionError):
        check_a_healthy_patient_takes_about_15_answers_in_the_form(client)


def test_an_unknown_screening_question_is_asked_again_in_what_to_find_out(client: TestClient) -> None:
    answers = {**HEALTHY, "q.implants_or_worn": "unknown"}
    page = _post(client, answers).text
    assert "needle as planned" not in page
    find_out = page.split("What to find out", 1)[1]
    assert 'id="item-implants_or_worn"' in find_out, "the screening question itself is asked again"
    assert 'type="radio" name="q.implants_or_worn"' in find_out
    again = _post(client, {**answers, "q.implants_or_worn": "no"}).text
    assert "needle as planned" in again


def check_missing_information_that_counts_as_refer_is_shown_as_refer(client: TestClient) -> None:
    """Electrical needling with nothing else known: an implanted device is not known, which counts as refer."""
    answers = {"q.technique": "electrical", "q.sites": "right calf"}
    library = _library(answers)
    assert library.verdict == "refer"
    page = _post(client, answers).text
    assert _site_verdicts(page) == [(s.site.id, s.verdict) for s in library.sites] == [("s1", "refer")]
    assert "REFER: information missing" in page and "Do not needle yet" in page
    assert "CAUTION: information missing" not in page.split("What to do", 1)[0]


def test_a_healthy_patient_is_clear_and_the_page_equals_the_library(client: TestClient) -> None:
    page = _post(client, HEALTHY)
    assert page.status_code == 200
    library = _library(HEALTHY)
    assert library.verdict == "clear"
    assert "needle as planned" in page.text
    assert _site_verdicts(page.text) == [(s.site.id, s.verdict) for s in library.sites]


def test_a_refer_patient_shows_refer_first_and_the_other_arm_instead(client: TestClient) -> None:
    answers = LYMPHOEDEMA_LEFT_ARM
    page = _post(client, answers).text
    library = _library(answers)
    assert library.verdict == "refer"
    main = page.split('<main id="main"', 1)[1]
    assert main.index("Do not needle (at the sites") < main.index("Each site") < main.index("What to do")
    assert _site_verdicts(page) == [(s.site.id, s.verdict) for s in library.sites]
    assert "right forearm instead (clear)" in page


def check_unknown_is_shown_as_unknown(client: TestClient) -> None:
    answers = {"q.technique": "dry_needling", "q.sites": "right calf"}
    page = _post(client, answers).text
    library = _library(answers)
    assert library.verdict != "clear"
    assert "Information missing" in page
    assert _site_verdicts(page) == [("s1", "unknown")]
    assert 'class="badge v-clear"' not in page and "place v-clear" not in page
    # The questions that would settle it are asked right there.
    assert 'id="item-consent"' in page.split("What to find out", 1)[1]


def test_unknown_answers_are_never_shown_as_clear_or_green(client: TestClient) -> None:
    check_unknown_is_shown_as_unknown(client)


def test_missing_information_that_counts_as_refer_is_shown_as_refer(client: TestClient) -> None:
    check_missing_information_that_counts_as_refer_is_shown_as_refer(client)


def test_breakage_the_refer_check_fails_when_missing_information_is_drawn_as_caution(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from needlescreen.web import view

    monkeypatch.setattr(view, "_shown_as", lambda verdict, missing: "unknown" if missing else verdict)
    with pytest.raises(AssertionError):
        check_missing_information_that_counts_as_refer_is_shown_as_refer(client)


def test_breakage_the_unknown_check_fails_when_the_page_hides_missing_information(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from needlescreen.web import view

    monkeypatch.setattr(view, "_only_unknown", lambda _result, _site: False)
    with pytest.raises(AssertionError):
        check_unknown_is_shown_as_unknown(client)


def test_answering_what_to_find_out_re_screens(client: TestClient) -> None:
    answers = {**HEALTHY}
    del answers["q.consent"]
    page = _post(client, answers).text
    assert "What to find out" in page and 'name="q.consent"' in page
    again = _post(client, {**answers, "q.consent": "yes"}).text
    assert "needle as planned" in again


def test_a_wrong_answer_is_named_with_its_question_and_nothing_is_screened(client: TestClient) -> None:
    page = _post(client, {**HEALTHY, "q.age": "forty"})
    assert page.status_code == 422
    assert "There is a problem" in page.text
    assert 'href="#q-age"' in page.text
    assert "needle as planned" not in page.text


def test_an_unknown_site_name_is_an_error_on_the_sites_question(client: TestClient) -> None:
    page = _post(client, {**HEALTHY, "q.sites": "left suprasinatus"})
    assert page.status_code == 422
    assert 'href="#q-sites"' in page.text and "supraspinatus" in page.text


def test_the_json_twin_says_what_the_page_says(client: TestClient) -> None:
    answers = {**HEALTHY, **BLEEDING_OPEN, "q.medications": "warfarin, xyzzyfake", "q.vka": "yes", "q.inr": "2.5"}
    token = _token(client.get("/").text)
    body = client.post("/screen.json", data={**answers, "csrf_token": token}).json()
    library = _library(answers)
    assert body["view"]["verdict"] == library.verdict
    assert [s["verdict"] for s in body["view"]["sites"]] == [s.verdict for s in library.sites]
    assert "inr_age_days" in body["form"]["enabled"]
    assert body["view"]["unrecognised_medications"] == ["xyzzyfake"]
    page = _post(client, answers, action="update").text
    assert "Not recognised, kept as typed" in page and "xyzzyfake" in page


def test_every_post_needs_the_csrf_token(client: TestClient) -> None:
    client.get("/")
    for path in ("/screen", "/screen.json"):
        refused = client.post(path, data={**HEALTHY, "action": "record"})
        assert refused.status_code == 403
        wrong = client.post(path, data={**HEALTHY, "action": "record", "csrf_token": "forged"})
        assert wrong.status_code == 403
    assert client.get("/screenings").json()["items"] == [], "nothing was stored"


def test_sign_in_turns_a_key_into_a_secure_httponly_samesite_session(tmp_path: Path) -> None:
    with _client(tmp_path, api_keys=(ApiKey("north", KEY),)) as c:
        first = c.get("/", follow_redirects=False)
        assert first.status_code == 303 and first.headers["location"].startswith("/sign-in")
        page = c.get("/sign-in")
        bad = c.post("/sign-in", data={"key": "not-the-key-at-all", "csrf_token": _token(page.text)})
        assert bad.status_code == 401
        ok = c.post("/sign-in", data={"key": KEY, "csrf_token": _token(page.text), "next": "/"}, follow_redirects=False)
        assert ok.status_code == 303
        cookie = ok.headers["set-cookie"]
        assert "ns_session=" in cookie and KEY not in cookie
        low = cookie.lower()
        assert "secure" in low and "httponly" in low and "samesite=strict" in low and "max-age=" in low
        form = c.get("/")
        assert form.status_code == 200 and "See the result" in form.text
        stored = c.post(
            "/screen", data={**HEALTHY, "csrf_token": _token(form.text), "action": "record"}, follow_redirects=False
        )
        assert stored.status_code == 303
    # A session cookie signed by other keys (another deployment) is not accepted.
    (tmp_path / "other").mkdir()
    with _client(tmp_path / "other", api_keys=(ApiKey("south", OTHER_KEY),)) as other:
        other.cookies.set("ns_session", ok.cookies["ns_session"], domain="testserver")
        assert other.get("/", follow_redirects=False).status_code == 303


def test_a_draft_is_saved_resumed_and_private_to_its_owner(tmp_path: Path) -> None:
    with _client(tmp_path, api_keys=(ApiKey("north", KEY), ApiKey("south", OTHER_KEY))) as c:
        page = c.get("/sign-in")
        c.post("/sign-in", data={"key": KEY, "csrf_token": _token(page.text)})
        saved = _post(c, {**HEALTHY, "r.patient_ref": "D-77", "q.age": ""}, action="draft", follow_redirects=False)
        assert saved.status_code == 303
        where = saved.headers["location"].split("?")[0]
        resumed = c.get(where).text
        assert 'value="right calf, left thigh"' in resumed and 'value="D-77"' in resumed
        assert "D-77" in c.get("/drafts").text
        c.post("/sign-out", data={"csrf_token": _token(resumed)})
        page = c.get("/sign-in")
        c.post("/sign-in", data={"key": OTHER_KEY, "csrf_token": _token(page.text)})
        assert c.get(where).status_code == 404
        assert "D-77" not in c.get("/drafts").text


def test_a_record_is_stored_under_the_clinic_and_hidden_from_another_clinic(tmp_path: Path) -> None:
    with _client(tmp_path, api_keys=(ApiKey("north", KEY), ApiKey("south", OTHER_KEY))) as c:
        page = c.get("/sign-in")
        c.post("/sign-in", data={"key": KEY, "csrf_token": _token(page.text)})
        form = c.get("/")
        stored = c.post(
            "/screen", data={**HEALTHY, "csrf_token": _token(form.text), "action": "record"}, follow_redirects=False
        )
        record_url = stored.headers["location"]
        decision = record_url.split("/")[2]
        assert c.get(record_url).status_code == 200
        # The API, with the same clinic's key, sees it stored under that clinic.
        assert c.get(f"/screenings/{decision}", headers={"X-API-Key": KEY}).json()["tenant"] == "north"
        c.post("/sign-out", data={"csrf_token": _token(form.text)})
        page = c.get("/sign-in")
        c.post("/sign-in", data={"key": OTHER_KEY, "csrf_token": _token(page.text)})
        for suffix in ("", ".json", ".pdf"):
            assert c.get(record_url + suffix).status_code == 404, suffix


def test_the_record_prints_what_the_chart_needs_on_one_or_two_pages(client: TestClient) -> None:
    pypdf = pytest.importorskip("pypdf")
    answers = {
        **HEALTHY,
        "q.technique": "electrical",
        "q.sites": "left calf, left thigh",
        "q.circuits": "1-2",
        "r.patient_ref": "R-1042",
        "r.clinician": "A. Physio",
        "r.encounter_date": "2026-11-02",
    }
    stored = _post(client, answers, action="record", follow_redirects=False)
    record_url = stored.headers["location"]
    decision = record_url.split("/")[2]
    html = client.get(record_url).text
    result = client.get(f"/screenings/{decision}").json()["result"]
    for text in (
        "R-1042",
        "A. Physio",
        "2026-11-02",
        "electrical dry needling",
        decision,
        result["ruleset"]["content_hash"],
        result["ruleset"]["revision"],
        "Clinician's signature",
    ):
        assert text in html, text
    for point in consent_points("electrical"):
        assert point.text.replace("'", "&#39;") in html
    pdf = client.get(record_url + ".pdf")
    assert pdf.headers["content-type"] == "application/pdf"
    import io

    pages = len(pypdf.PdfReader(io.BytesIO(pdf.content)).pages)
    assert 1 <= pages <= 2


def test_the_record_of_a_patient_with_every_answer_unknown_still_fits_two_pages(client: TestClient) -> None:
    pypdf = pytest.importorskip("pypdf")
    import io

    stored = _post(
        client,
        {"q.technique": "electrical", "q.sites": "left calf, right forearm"},
        action="record",
        follow_redirects=False,
    )
    pdf = client.get(stored.headers["location"] + ".pdf").content
    assert len(pypdf.PdfReader(io.BytesIO(pdf)).pages) <= 2


def test_record_command_writes_the_pdf_from_a_result_file(tmp_path: Path) -> None:
    pypdf = pytest.importorskip("pypdf")
    example = Path(__file__).resolve().parent.parent / "examples" / "cipn-electrical.json"
    runner = CliRunner()
    checked = runner.invoke(cli_app, ["check", str(example), "--format", "json"])
    result = tmp_path / "result.json"
    result.write_text(checked.stdout)
    out = tmp_path / "record.pdf"
    done = runner.invoke(cli_app, ["record", str(result), "--intake", str(example), "--pdf", str(out)])
    assert done.exit_code == 0, done.output
    assert 1 <= len(pypdf.PdfReader(str(out)).pages) <= 2
    missing = runner.invoke(cli_app, ["record", str(result)])
    assert missing.exit_code == 2


def test_every_site_region_has_a_shape_on_the_body_map() -> None:
    check_body_map(load_ruleset().regions, bodymap.load_layout())


def check_body_map(regions: Any, layout: Any) -> None:
    drawn = {(s.region, s.side) for s in bodymap.shapes(regions, layout)}
    for rid in bodymap.site_regions(regions):
        if regions[rid].sided:
            assert {(rid, "left"), (rid, "right")} <= drawn, f"{rid} needs a shape on each side"
        else:
            assert any(r == rid for r, _ in drawn), f"site region {rid} has no shape on the body map"
    for spec in layout:
        assert spec.region in regions and not regions[spec.region].group, f"{spec.region} is not a site region"


def test_breakage_the_body_map_check_fails_on_a_missing_shape() -> None:
    layout = [s for s in bodymap.load_layout() if s.region != "calf"]
    with pytest.raises(AssertionError, match="calf"):
        check_body_map(load_ruleset().regions, layout)


def test_consent_points_cite_sources_of_the_ruleset() -> None:
    sources = load_ruleset().sources
    for point in consent_points("electrical"):
        assert set(point.sources) <= set(sources), point.text
    assert len(consent_points("electrical")) == len(consent_points("dry_needling")) + 1


def test_the_catalogue_pages_show_policy_sources_and_scenarios(client: TestClient, tmp_path: Path) -> None:
    page = client.get("/catalogue/rules/LYMPHEDEMA_AT_RISK.html").text
    assert "at_risk_limb_verdict" in page and "a clinic may choose" in page
    assert "LEE24" in page
    assert "<strong>Given</strong>" in page and "<strong>Then</strong>" in page
    index = client.get("/catalogue/").text
    assert "Lymphoedema" in index and "/catalogue/rules/LYMPHEDEMA_LIMB.html" in index
    out = tmp_path / "site"
    done = CliRunner().invoke(cli_app, ["docs", "build", str(out)])
    assert done.exit_code == 0, done.output
    rules = load_ruleset().rules
    assert len(list((out / "rules").glob("*.html"))) == len(rules)
    assert 'href="rules/LYMPHEDEMA_LIMB.html"' in (out / "index.html").read_text()
    assert (out / "static" / "web.css").is_file()


def test_the_form_the_service_and_the_cli_read_one_questionnaire(tmp_path: Path) -> None:
    """A question's wording changed in a copy of the rules shows in the web form, GET /questionnaire and ask."""
    copy = tmp_path / "rules"
    shutil.copytree(default_rules_dir(), copy)
    path = copy / "questionnaire.yaml"
    old = "text: Is the patient very afraid of needles (needle phobia)?"
    new = "text: Does the patient dread needles (needle phobia, reworded)?"
    assert old in path.read_text()
    path.write_text(path.read_text().replace(old, new))
    with _client(tmp_path, rules_dir=str(copy)) as c:
        assert "dread needles (needle phobia, reworded)" in c.get("/").text
        items = c.get("/questionnaire").json()["items"]
        assert any("reworded" in i["text"] for i in items)
    # technique, sites, advanced training, age, sex, consent, BMI, then "yes" to the first screening question
    # (today), which opens its follow-ups: acute illness, fever, then needle phobia.
    typed = "dry needling\nright calf\nno\n40\nmale\nyes\n24\nyes\nno\nno\nno\n"
    asked = CliRunner().invoke(cli_app, ["ask", "--rules", str(copy)], input=typed)
    assert "dread needles (needle phobia, reworded)" in asked.output


def test_the_web_form_uses_the_services_screener_for_its_verdict(tmp_path: Path) -> None:
    """A stricter clinic policy on the service changes the form's verdict the same way as the library's."""
    policy = tmp_path / "policy.yaml"
    policy.write_text("schema: needlescreen.policy-override/1\nsettings:\n  at_risk_limb_verdict: refer\n")
    answers = {
        **HEALTHY,
        **LYMPH_VEINS_OPEN,
        "q.sites": "left forearm",
        "q.at_risk_limb": "yes",
        "q.at_risk_limb_where": "left upper limb",
    }
    with _client(tmp_path, policy_file=str(policy)) as c:
        assert "Do not needle (at the sites" in _post(c, answers).text
    (tmp_path / "default").mkdir()
    with _client(tmp_path / "default") as c:
        assert "Needle only with the precautions" in _post(c, answers).text


def test_the_intake_the_form_builds_is_the_questionnaires() -> None:
    q = load_questionnaire()
    state = read_form(q, HEALTHY)
    answers = {k[2:]: q.parse(q.item(k[2:]), v, {}) for k, v in HEALTHY.items() if k not in ("q.sites",)}
    assert state.intake == parse_intake(q.build({**state.answers}))
    assert answers["age"] == 45.0


def test_a_form_being_filled_in_is_not_told_off_until_it_asks_for_the_result(client: TestClient) -> None:
    assert "There is a problem" not in client.get("/").text
    partial = _post(client, {"q.age": "50"}, action="update")
    assert partial.status_code == 200 and "There is a problem" not in partial.text
    token = _token(client.get("/").text)
    twin = client.post("/screen.json", data={"q.age": "50", "csrf_token": token}).json()
    assert twin["form"]["errors"] == {} and twin["view"] is None
    asked = _post(client, {"q.age": "50"})
    assert asked.status_code == 422 and 'href="#q-technique"' in asked.text and 'href="#q-sites"' in asked.text
