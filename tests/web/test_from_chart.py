"""A CDS Hooks card's link, followed in a real browser: the form opens prefilled from the chart, the clinician
answers the rest, and the verdict shown is the library's.

The EHR (an API key here; a CDS Hooks JWT works the same) calls ``order-select`` for a woman with lymphoedema of
the left arm after an axillary node dissection, planned for dry needling of both forearms. The clinician, signed in
with a clinic key, clicks the card's link on the EHR's page (another site, so the browser withholds the session
cookie on that first request): the form opens with the chart's answers marked "from the chart", none of them a
"no"; she answers what the chart lacked, and the result page's verdict and per-site verdicts equal
``needlescreen.screen`` of the stored intake. Screenshots: ``test-artifacts/web/from-chart-*.png``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytest.importorskip("playwright")
pytest.importorskip("fhir.resources", reason="the fhir extra is not installed")

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect

import needlescreen
from tests.test_fhir_cdshooks import ORDER_SELECT, hook_request

from .conftest import KEY

pytestmark = pytest.mark.slow

#: What the clinician answers that the chart did not say, in the order the form asks it (a "yes" opens more).
REST: list[tuple[str, str]] = [
    ("advanced_training", "yes"),
    ("pregnancy", "not_pregnant"),
    ("consent", "yes"),
    ("bmi", "24"),
    ("today", "no"),
    ("diabetes", "none"),
    ("epilepsy", "none"),
    ("heart_lungs", "no"),
    ("immune_cancer", "yes"),
    ("immunocompromised", "no"),
    ("cancer_history", "yes"),
    ("active_chemotherapy", "no"),
    ("radiotherapy_field", "no"),
    ("tumour", "no"),
    ("bleeding", "no"),
    ("medications", "none"),
    ("medications_complete", "yes"),
    ("implants_or_worn", "no"),
    ("dvt", "no"),
    ("past_dvt", "no"),
    ("thrombophlebitis", "no"),
    ("varicose_veins", "no"),
    ("skin", "no"),
    ("nerves_spine", "no"),
]


def _sign_in(page: Page, base: str) -> None:
    page.goto(base + "/sign-in")
    page.fill("#key", KEY)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("screening")


def _answer(page: Page, answers: list[tuple[str, str]]) -> None:
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


def _shown(page: Page) -> tuple[str, list[tuple[str, str]]]:
    """The verdict and the per-site verdicts the result page shows (information missing counts as caution)."""
    banner = page.locator(".verdict-banner .badge").first.get_attribute("class") or ""
    found = re.search(r"v-(\w+)", banner)
    assert found is not None
    sites = []
    for row in page.locator("section.sites tbody tr").all():
        cells = row.locator("td").all()
        badge = re.search(r"v-(\w+)", cells[2].locator(".badge").get_attribute("class") or "")
        assert badge is not None
        sites.append((cells[0].inner_text().strip(), "caution" if badge.group(1) == "unknown" else badge.group(1)))
    return found.group(1), sites


def test_a_cards_link_opens_the_form_prefilled_from_the_chart(page: Page, service: str, artifacts: Path) -> None:
    _sign_in(page, service)
    call = page.request.post(
        service + ORDER_SELECT, data=hook_request("lymphoedema-node-dissection"), headers={"X-API-Key": KEY}
    )
    assert call.ok, call.text()
    cards = call.json()["cards"]
    assert any(c["indicator"] == "critical" and c["source"]["topic"]["code"] == "LYMPHEDEMA_LIMB" for c in cards)
    (link,) = {(c["links"][0]["label"], c["links"][0]["url"], c["links"][0]["type"]) for c in cards}
    assert link[2] == "absolute" and link[1].startswith(service + "/from-chart/")

    # The EHR's page, another site: the clinician clicks the card's link there.
    page.set_content(f'<main><h1>EHR</h1><a id="open" href="{link[1]}">{link[0]}</a></main>')
    page.click("#open")
    expect(page).to_have_url(re.compile(r"/drafts/[0-9a-f-]{36}$"), timeout=15_000)
    panel = page.locator("section.from-chart")
    expect(panel).to_contain_text("Prefilled from the chart")
    expect(panel).to_contain_text("lymphoedema")
    expect(page.locator("[name='q.lymphedema_where']")).to_have_value("left upper limb")
    expect(page.locator("[name='q.age']")).to_have_value("55")
    expect(page.locator("#item-age .from-chart-tag")).to_contain_text("From the chart")
    expect(page.locator("#item-metal_allergy input[value='yes']")).to_be_checked()
    # Nothing answered "no" that the chart did not say.
    expect(
        page.locator("input[type=radio][value='no']:checked, input[type=radio][value='none']:checked")
    ).to_have_count(0)
    page.screenshot(path=str(artifacts / "from-chart-prefilled.png"), full_page=True)
    bad = [v for v in Axe().run(page).response["violations"] if v.get("impact") in ("serious", "critical")]
    assert not bad, "; ".join(f"{v['id']}: {v['help']}" for v in bad)

    # The clinician answers only what the chart lacked, and sees the result.
    _answer(page, REST)
    page.fill("#r-clinician", "Test Physio")
    page.get_by_role("button", name="See the result").click()
    expect(page.locator(".verdict-banner")).to_be_visible()
    page.screenshot(path=str(artifacts / "from-chart-result.png"), full_page=True)
    shown = _shown(page)

    page.get_by_role("button", name="Save the screening record").click()
    expect(page).to_have_url(re.compile(r"/screenings/[0-9a-f-]{36}/record$"))
    decision = page.url.rsplit("/", 2)[1]
    stored = page.request.get(f"{service}/screenings/{decision}", headers={"X-API-Key": KEY}).json()
    library = needlescreen.screen(stored["intake"])
    assert shown == (library.verdict, [(s.site.id, s.verdict) for s in library.sites])
    assert library.verdict == "refer"
    assert "LYMPHEDEMA_LIMB" in {f.rule_id for f in library.findings if f.status == "fired"}
    assert (
        stored["intake"]["record"]["patient_ref"] == hook_request("lymphoedema-node-dissection")["context"]["patientId"]
    )

    # The link opened its draft once: following it again opens nothing.
    page.goto(link[1])
    expect(page.get_by_role("heading", level=1)).to_contain_text("used or has expired")
