"""A family registers in a real browser on a phone-sized screen: once with JavaScript switched off,
once with axe-core (WCAG 2.1 AA) on the empty form, the form with errors, and the thank-you page."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.test_accessibility import assert_accessible

pytestmark = pytest.mark.browser

TENANT = "/smallingerland"


def register(page: Page, *, check_accessibility: bool, last_name: str | None = None) -> str:
    """Register a vraaggezin through the public form; returns the contact's last name."""
    last_name = last_name or f"Browser{uuid.uuid4().hex[:6]}"
    page.goto(f"{TENANT}/")
    page.get_by_role("link", name=re.compile("aanmelden als vraaggezin")).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Aanmelden als vraaggezin")
    if check_accessibility:
        assert_accessible(page)

    year = datetime.now(ZoneInfo("Europe/Amsterdam")).year
    page.locator("#adults-0-first_name").fill("Anna")
    page.locator("#adults-0-last_name").fill(last_name)
    page.locator("#children-0-first_name").fill("Tess")
    page.locator("#children-0-birth_year").fill(str(year + 2))  # in the future: refused
    page.get_by_label("Straat en huisnummer").fill("Stationsweg 12")
    page.get_by_label("Postcode").fill("9201 AB")
    page.get_by_label("Woonplaats").fill("Drachten")
    page.get_by_label("E-mailadres", exact=True).fill(f"browser-{uuid.uuid4().hex[:8]}@example.org")
    page.get_by_role("button", name="Aanmelding versturen").click()

    expect(page.get_by_role("alert")).to_contain_text("niet alles klopt")
    year_field = page.locator("#children-0-birth_year")
    expect(year_field).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#children-0-birth_year-error")).to_contain_text("in de toekomst")
    expect(page.locator("#consent_processing-error")).to_contain_text("Zonder deze toestemming")
    expect(page.get_by_label("Straat en huisnummer")).to_have_value("Stationsweg 12")
    if check_accessibility:
        assert_accessible(page)

    year_field.fill(str(year - 6))
    page.get_by_label("Ja, ik geef deze toestemming").check()
    page.get_by_role("button", name="Aanmelding versturen").click()
    expect(page).to_have_url(re.compile(rf"{TENANT}/aanmelden/bedankt"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Bedankt, we hebben je aanmelding ontvangen")
    if check_accessibility:
        assert_accessible(page)
    return last_name


@pytest.mark.parametrize("javascript", [False, True], ids=["without-javascript", "with-axe"])
def test_a_family_registers_on_a_phone(browser: Browser, live_server: str, demo, javascript: bool) -> None:
    # axe-core needs JavaScript; the journey itself must work without it.
    context = browser.new_context(base_url=live_server, java_script_enabled=javascript, locale="nl-NL",
                                  viewport={"width": 375, "height": 740})
    context.set_default_timeout(10_000)
    try:
        register(context.new_page(), check_accessibility=javascript)
    finally:
        context.close()
