"""The web form in a real browser (headless Chromium through Playwright), against ``needlescreen serve`` with auth.

Six patients are screened by filling the form as a clinician would (clicking answers, typing sites, the follow-ups
appearing as answers open them): clear, caution, refer, a CIPN patient with perineural electrical needling, one
with unknown answers, and one changed after the first result. For each, the verdict and the per-site verdicts on
the page equal the library's ``needlescreen.screen`` of the intake the service stored. Drafts are saved and
resumed (on the server and in the browser), the sign-in uses a clinic key, the record is printed to PDF, and axe-core
finds no serious or critical accessibility problem on any page. Screenshots: ``test-artifacts/web/``.
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("playwright")

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect

import needlescreen

from .conftest import KEY

pytestmark = pytest.mark.slow

#: A healthy adult: (question id, answer) in the order a clinician answers them: the plan, who the patient is,
#: consent, the BMI, and "no" to each first-pass screening question (which answers everything behind it no).
HEALTHY: list[tuple[str, str]] = [
    ("technique", "dry_needling"),
    ("sites", "right calf, left thigh"),
    ("advanced_training", "yes"),
    ("age", "45"),
    ("sex", "male"),
    ("consent", "yes"),
    ("bmi", "24"),
    ("today", "no"),
    ("conditions", "no"),
    ("bleeding", "no"),
    ("medications", "none"),
    ("medications_complete", "yes"),
    ("implants_or_worn", "no"),
    ("body", "no"),
]
#: The regional findings opened to a lymphoedematous left arm (every other question behind them "no").
LYMPHOEDEMA_LEFT_ARM: list[tuple[str, str]] = [
    ("body", "yes"),
    ("lymph_veins", "yes"),
    ("lymphedema", "yes"),
    ("lymphedema_where", "left upper limb"),
    ("at_risk_limb", "no"),
    ("dvt", "no"),
    ("past_dvt", "no"),
    ("thrombophlebitis", "no"),
    ("varicose_veins", "no"),
    ("skin", "no"),
    ("nerves_spine", "no"),
]
_AXE = Axe()


def _with(base: list[tuple[str, str]], **changes: str) -> list[tuple[str, str]]:
    out = [(k, changes.pop(k, v)) for k, v in base]
    return out + list(changes.items())


def _opened(base: list[tuple[str, str]], follow_ups: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """``base`` with a screening question answered "yes" (the first of ``follow_ups``) and its follow-ups answered
    right after it, as they appear below it."""
    gate = follow_ups[0][0]
    at = next(i for i, (k, _) in enumerate(base) if k == gate)
    return [*base[:at], *follow_ups, *base[at + 1 :]]


def _shot(page: Page, artifacts: Path, name: str) -> None:
    """A full-page screenshot once the live verdict has caught up, from the top (the sticky verdict in its place)."""
    if page.locator("#live").count():
        expect(page.locator("#live")).not_to_have_attribute("aria-busy", "true", timeout=10_000)
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(artifacts / f"{name}.png"), full_page=True)


def _accessible(page: Page, what: str) -> None:
    results = _AXE.run(page)
    bad = [v for v in results.response["violations"] if v.get("impact") in ("serious", "critical")]
    assert not bad, f"{what}: " + "; ".join(f"{v['id']}: {v['help']} ({len(v['nodes'])})" for v in bad)


def _sign_in(page: Page, base: str) -> None:
    page.goto(base + "/")
    expect(page).to_have_url(re.compile(r"/sign-in"))
    page.fill("#key", KEY)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("screening")


def _answer(page: Page, answers: list[tuple[str, str]]) -> None:
    """Answer like a clinician: wait for each question to be shown (follow-ups open as answers arrive)."""
    for item, value in answers:
        block = page.locator(f"#item-{item}")
        expect(block).to_be_visible(timeout=10_000)
        radio = block.locator(f"input[type=radio][value='{value}']")
        if radio.count():
            radio.check()
        else:
            field = block.locator(f"[name='q.{item}']")
            field.fill(value)
            field.press("Tab")


def _record_meta(page: Page, patient_ref: str) -> None:
    page.fill("#r-patient_ref", patient_ref)
    page.fill("#r-clinician", "Test Physio")
    page.fill("#r-encounter_date", "2026-12-01")


def _shown(page: Page) -> tuple[str, list[tuple[str, str]]]:
    """The verdict and the per-site verdicts the result page shows (information missing counts as caution)."""
    banner = page.locator(".verdict-banner .badge").first.get_attribute("class") or ""
    verdict = re.search(r"v-(\w+)", banner).group(1)  # type: ignore[union-attr]
    sites = []
    for row in page.locator("section.sites tbody tr").all():
        cells = row.locator("td").all()
        badge = cells[2].locator(".badge").get_attribute("class") or ""
        shown = re.search(r"v-(\w+)", badge).group(1)  # type: ignore[union-attr]
        sites.append((cells[0].inner_text().strip(), "caution" if shown == "unknown" else shown))
    return verdict, sites


def _save_and_compare(page: Page, base: str, artifacts: Path, name: str) -> Any:
    """Save the record; the stored intake screened by the library must give what the result page showed."""
    shown = _shown(page)
    page.get_by_role("button", name="Save the screening record").click()
    expect(page).to_have_url(re.compile(r"/screenings/[0-9a-f-]{36}/record$"))
    decision = page.url.rsplit("/", 2)[1]
    stored = page.request.get(f"{base}/screenings/{decision}", headers={"X-API-Key": KEY}).json()
    library = needlescreen.screen(stored["intake"])
    assert shown == (library.verdict, [(s.site.id, s.verdict) for s in library.sites]), name
    _shot(page, artifacts, f"{name}-record")
    return library


def _result(page: Page, artifacts: Path, name: str) -> None:
    page.get_by_role("button", name="See the result").click()
    expect(page.locator(".verdict-banner")).to_be_visible()
    _shot(page, artifacts, f"{name}-result")


def test_clear_patient(page: Page, service: str, artifacts: Path) -> None:
    _sign_in(page, service)
    _accessible(page, "empty form")
    _shot(page, artifacts, "form-empty")
    _answer(page, HEALTHY)
    _record_meta(page, "P-CLEAR")
    expect(page.locator("#live")).to_contain_text("needle as planned", timeout=10_000)
    _shot(page, artifacts, "clear-form")
    _result(page, artifacts, "clear")
    expect(page.locator(".verdict-banner")).to_contain_text("needle as planned")
    _accessible(page, "clear result")
    library = _save_and_compare(page, service, artifacts, "clear")
    assert library.verdict == "clear"
    _accessible(page, "record")


def test_caution_patient_on_warfarin(page: Page, service: str, artifacts: Path) -> None:
    _sign_in(page, service)
    answers = _opened(
        _with(HEALTHY, medications="warfarin 5 mg"),
        [
            ("bleeding", "yes"),
            ("bleeding_history", "no"),
            ("bleeding_disorder", "none"),
            ("vka", "yes"),
            ("inr", "2.4"),
            ("inr_age_days", "5"),
            ("inr_target_high", "3"),
        ],
    )
    _answer(page, answers)
    _result(page, artifacts, "caution")
    expect(page.locator(".verdict-banner")).to_contain_text("CAUTION")
    expect(page.get_by_role("heading", name="What to do")).to_be_visible()
    library = _save_and_compare(page, service, artifacts, "caution")
    assert library.verdict == "caution"


def test_refer_patient_with_lymphoedema_is_offered_the_other_arm(page: Page, service: str, artifacts: Path) -> None:
    _sign_in(page, service)
    answers = _opened(_with(HEALTHY, sites="left forearm, right calf"), LYMPHOEDEMA_LEFT_ARM)
    _answer(page, answers)
    expect(page.locator("#live .live-verdict")).to_contain_text("REFER", timeout=10_000)
    _shot(page, artifacts, "refer-form")
    _result(page, artifacts, "refer")
    expect(page.locator(".verdict-banner")).to_contain_text("REFER")
    expect(page.locator("section.sites")).to_contain_text("left forearm")
    expect(page.get_by_text("right forearm instead (clear)")).to_be_visible()
    # The refer site is red on the body map.
    expect(page.locator("ellipse.place.v-refer").first).to_be_attached()
    _accessible(page, "refer result")
    library = _save_and_compare(page, service, artifacts, "refer")
    assert library.verdict == "refer"


def test_cipn_patient_with_perineural_electrical_needling(page: Page, service: str, artifacts: Path) -> None:
    _sign_in(page, service)
    answers = _with(HEALTHY, technique="electrical", sites="right fibularis longus, right tibial nerve", age="58")
    answers = _opened(answers, [("technique", "electrical"), ("sites", answers[1][1]), ("circuits", "1-2")])
    answers = _opened(answers, [("sex", "female"), ("pregnancy", "not_pregnant")])
    answers = _opened(
        answers,
        [
            ("conditions", "yes"),
            ("metabolic", "no"),
            ("heart_lungs", "no"),
            ("immune_cancer", "yes"),
            ("immunocompromised", "no"),
            ("cancer_history", "yes"),
            ("active_chemotherapy", "no"),
            ("radiotherapy_field", "no"),
            ("tumour", "no"),
        ],
    )
    answers = _opened(
        answers,
        [
            ("body", "yes"),
            ("lymph_veins", "no"),
            ("skin", "no"),
            ("nerves_spine", "yes"),
            ("reduced_sensation", "yes"),
            ("reduced_sensation_where", "both foot"),
            ("spinal_instability", "no"),
        ],
    )
    _answer(page, answers)
    _shot(page, artifacts, "cipn-form")
    _result(page, artifacts, "cipn")
    expect(page.locator(".reason").filter(has_text="numb skin").first).to_be_attached()
    library = _save_and_compare(page, service, artifacts, "cipn")
    assert "NERVE_TERRITORY_REDUCED_SENSATION_ES" in {f.rule_id for f in library.findings}


def test_unknown_answers_are_shown_as_unknown_never_clear(page: Page, service: str, artifacts: Path) -> None:
    _sign_in(page, service)
    unknown = [("technique", "dry_needling"), ("sites", "right calf"), ("consent", "unknown"), ("today", "unknown")]
    _answer(page, unknown)
    # A screening question left not known says so, and opens nothing (nothing behind it is read as no).
    expect(page.locator("#unknown-today")).to_be_visible()
    expect(page.locator("#item-needle_phobia")).to_be_hidden()
    expect(page.locator("#conditional-today")).to_be_hidden()
    _shot(page, artifacts, "unknown-form")
    _result(page, artifacts, "unknown")
    expect(page.locator(".verdict-banner")).to_contain_text("Information missing")
    assert page.locator(".badge.v-clear").count() == 0
    assert page.locator("ellipse.place.v-clear").count() == 0
    expect(page.locator("section.sites .badge.v-unknown")).to_have_count(1)
    # The missing answers are asked right there; answering one screens again.
    find_out = page.locator("form.find-out")
    expect(find_out.locator("#item-consent")).to_be_visible()
    expect(find_out.locator("#item-today")).to_be_visible()
    _accessible(page, "unknown result")
    library = _save_and_compare(page, service, artifacts, "unknown")
    assert library.verdict != "clear"


def test_a_patient_changed_after_the_first_result(page: Page, service: str, artifacts: Path) -> None:
    _sign_in(page, service)
    answers = _opened(_with(HEALTHY, sites="left forearm"), LYMPHOEDEMA_LEFT_ARM)
    _answer(page, answers)
    _result(page, artifacts, "changed-first")
    expect(page.locator(".verdict-banner")).to_contain_text("REFER")
    page.get_by_role("button", name="Change answers").click()
    sites = page.locator("[name='q.sites']")
    expect(sites).to_have_value("left forearm")
    sites.fill("right forearm")
    sites.press("Tab")
    expect(page.locator("#live")).to_contain_text("needle as planned", timeout=10_000)
    _shot(page, artifacts, "changed-form")
    _result(page, artifacts, "changed-second")
    expect(page.locator(".verdict-banner")).to_contain_text("CLEAR")
    library = _save_and_compare(page, service, artifacts, "changed")
    assert library.verdict == "clear"


def test_keyboard_body_map_and_autocomplete(page: Page, service: str, artifacts: Path) -> None:
    _sign_in(page, service)
    page.locator("#item-technique input[value='dry_needling']").focus()
    page.keyboard.press("Space")
    first = page.locator("#bodymap .place[tabindex='0']")
    first.focus()
    page.keyboard.press("ArrowRight")
    page.keyboard.press("Enter")
    chosen = page.locator("#bodymap .place[tabindex='0']").get_attribute("data-words")
    expect(page.locator("[name='q.sites']")).to_have_value(chosen or "")
    meds = page.locator("[name='q.medications']")
    meds.focus()
    meds.type("warf")
    option = page.locator("#list-medications [role=option]").first
    expect(option).to_be_visible(timeout=10_000)
    # The list follows the typing: wait for the list of "warf", not one shown for "wa" on the way.
    expect(option).to_have_text(re.compile(r"^warf", re.IGNORECASE), timeout=10_000)
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    expect(meds).to_have_value(re.compile(r"^warf\w*, $"))
    _shot(page, artifacts, "keyboard")


def test_drafts_are_kept_on_the_server_and_in_the_browser(page: Page, service: str, artifacts: Path) -> None:
    _sign_in(page, service)
    _answer(page, HEALTHY[:6])
    _record_meta(page, "P-DRAFT")
    page.get_by_role("button", name="Save draft").click()
    expect(page.locator(".notice").first).to_contain_text("Draft saved")
    page.goto(service + "/drafts")
    _accessible(page, "drafts")
    _shot(page, artifacts, "drafts")
    page.get_by_role("link", name=re.compile("Resume")).first.click()
    expect(page.locator("[name='q.sites']")).to_have_value("right calf, left thigh")
    expect(page.locator("#r-patient_ref")).to_have_value("P-DRAFT")
    # In the browser: answers typed and not saved survive a reload, and can be resumed.
    page.goto(service + "/")
    _answer(page, HEALTHY[:2])
    page.wait_for_timeout(500)
    page.reload()
    resume = page.locator("#resume-local")
    expect(resume).to_be_visible()
    resume.click()
    expect(page.locator("[name='q.sites']")).to_have_value("right calf, left thigh")


def test_the_record_prints_on_one_or_two_pages(page: Page, service: str, artifacts: Path) -> None:
    pypdf = pytest.importorskip("pypdf")
    _sign_in(page, service)
    answers = _with(HEALTHY, technique="electrical", sites="left calf, left thigh")
    answers.insert(2, ("circuits", "1-2"))
    _answer(page, answers)
    _record_meta(page, "P-PRINT")
    _result(page, artifacts, "print")
    page.get_by_role("button", name="Save the screening record").click()
    expect(page).to_have_url(re.compile(r"/record$"))
    printed = page.pdf(format="A4", print_background=True)
    (artifacts / "record-printed.pdf").write_bytes(printed)
    assert 1 <= len(pypdf.PdfReader(io.BytesIO(printed)).pages) <= 2
    made = page.request.get(page.url + ".pdf")
    assert made.headers["content-type"] == "application/pdf"
    (artifacts / "record-made.pdf").write_bytes(made.body())
    assert 1 <= len(pypdf.PdfReader(io.BytesIO(made.body())).pages) <= 2


def test_sign_in_and_catalogue_pages_are_accessible(page: Page, service: str, artifacts: Path) -> None:
    page.goto(service + "/sign-in")
    _accessible(page, "sign-in")
    _shot(page, artifacts, "sign-in")
    page.fill("#key", "wrong-key-wrong-key-1234")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator(".error-summary")).to_contain_text("not valid")
    _sign_in(page, service)
    cookie = next(c for c in page.context.cookies() if c["name"] == "ns_session")
    assert cookie["httpOnly"] and cookie["secure"] and cookie["sameSite"] == "Strict"
    page.goto(service + "/catalogue/")
    _accessible(page, "catalogue index")
    page.goto(service + "/catalogue/rules/LYMPHEDEMA_AT_RISK.html")
    expect(page.get_by_role("heading", name="Scenarios")).to_be_visible()
    _accessible(page, "catalogue rule")
    _shot(page, artifacts, "catalogue-rule")
