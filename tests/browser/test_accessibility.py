"""Real-browser checks: the login journey, axe-core (WCAG 2.1 AA) on every page we visit,
the core flow without JavaScript, and keyboard access through the skip link."""

from __future__ import annotations

import re
import uuid

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, BrowserContext, Page, expect

pytestmark = pytest.mark.browser

TENANT = "/smallingerland"
COORDINATOR = ("coordinator@smallingerland.example.org", "Coördinator Smallingerland")
ADMIN = ("beheer@smallingerland.example.org", "Beheerder Smallingerland")
VIEWER = "gemeente@smallingerland.example.org"

AXE_OPTIONS = {
    "runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]},
    "resultTypes": ["violations"],
}

_axe = Axe()


def assert_accessible(page: Page) -> None:
    """Zero axe-core violations on the page as it is now."""
    violations = _axe.run(page, options=AXE_OPTIONS).response["violations"]
    report = "\n".join(
        f"- {v['id']} ({v['impact']}): {v['help']}\n"
        + "\n".join(f"    {node['target']}  {' '.join(node.get('failureSummary', '').split())}" for node in v["nodes"])
        for v in violations
    )
    assert not violations, f"axe found {len(violations)} violation(s) on {page.url}:\n{report}"


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


def sign_in(page: Page, demo_login, email: str, *, prefix: str = TENANT) -> None:
    """Password, then code, through the real forms."""
    page.goto(f"{prefix}/login")
    page.get_by_label("E-mailadres").fill(email)
    page.get_by_label("Wachtwoord").fill(demo_login.password)
    page.locator("main").get_by_role("button", name="Verder").click()
    expect(page).to_have_url(re.compile(rf"{prefix}/login/code$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Vul je code in")
    page.locator("input[name=code]").fill(demo_login.code(email))
    page.locator("main").get_by_role("button", name="Inloggen").click()
    expect(page).to_have_url(re.compile(rf"{prefix}/app/$"))


def test_coordinator_logs_in_from_the_public_page(page: Page, demo_login) -> None:
    email, name = COORDINATOR
    page.goto(f"{TENANT}/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Buurtgezinnen in Smallingerland")
    assert_accessible(page)

    page.get_by_role("link", name="Inloggen als medewerker").click()
    expect(page).to_have_url(re.compile(rf"{TENANT}/login$"))
    assert_accessible(page)

    page.locator("input[name=email]").fill(email)
    page.locator("input[name=password]").fill(demo_login.password)
    page.locator("main").get_by_role("button", name="Verder").click()
    expect(page).to_have_url(re.compile(rf"{TENANT}/login/code$"))
    assert_accessible(page)

    page.locator("input[name=code]").fill(demo_login.code(email))
    page.locator("main").get_by_role("button", name="Inloggen").click()
    expect(page).to_have_url(re.compile(rf"{TENANT}/app/$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text(name)
    expect(page.get_by_role("banner")).to_contain_text(name)
    expect(page.get_by_role("navigation", name="Hoofdmenu").get_by_role("link", name="Start")).to_have_attribute(
        "aria-current", "page")
    # The start page is the task list: the demo has overdue tasks (intakes, VOGs) and upcoming ones.
    expect(page.get_by_role("heading", name="Jouw taken")).to_be_visible()
    expect(page.get_by_role("table", name="Te laat").get_by_role("row")).not_to_have_count(0)
    expect(page.get_by_role("list", name="Taken per soort")).to_contain_text("VOG")
    assert_accessible(page)


def test_tenant_admin_pages_are_accessible(page: Page, demo_login) -> None:
    email, name = ADMIN
    sign_in(page, demo_login, email)
    expect(page.get_by_role("heading", level=1)).to_contain_text(name)
    assert_accessible(page)

    page.get_by_role("navigation", name="Hoofdmenu").get_by_role("link", name="Gebruikers").click()
    expect(page).to_have_url(re.compile(rf"{TENANT}/app/gebruikers$"))
    expect(page.get_by_role("table")).to_contain_text(COORDINATOR[0])
    assert_accessible(page)

    page.get_by_role("table").get_by_role("link", name=COORDINATOR[1]).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(COORDINATOR[1])
    expect(page.get_by_role("combobox", name="Rol")).to_be_visible()
    assert_accessible(page)

    page.get_by_role("navigation", name="Hoofdmenu").get_by_role("link", name="Auditlog").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Auditlog")
    assert_accessible(page)

    page.get_by_role("navigation", name="Hoofdmenu").get_by_role("link", name="Instellingen").click()
    expect(page).to_have_url(re.compile(rf"{TENANT}/app/instellingen$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Instellingen van Smallingerland")
    expect(page.get_by_label("VOG vernieuwen na (maanden)")).to_be_visible()
    weights = page.get_by_role("group", name="Gewicht van elk criterium bij het zoeken van een passend gezin")
    expect(weights.get_by_label("Ruimte bij het steungezin")).to_be_visible()
    assert_accessible(page)

    # A wrong value: the error is announced and linked to its field, nothing is saved.
    reminders = page.get_by_label("Herinneringen aan de VOG-aanvraag (dagen na de aanvraag)")
    original = reminders.input_value()
    reminders.fill("7, x")
    page.locator("main form").get_by_role("button", name="Instellingen opslaan").click()
    expect(page.get_by_role("alert")).to_contain_text("niet alles klopt")
    expect(reminders).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#vog_request_reminder_days-error")).to_contain_text("geen heel getal")
    assert "vog_request_reminder_days-error" in (reminders.get_attribute("aria-describedby") or "")
    assert_accessible(page)
    page.goto(f"{TENANT}/app/instellingen")
    expect(reminders).to_have_value(original)


def test_national_login_page_is_accessible(page: Page) -> None:
    page.goto("/landelijk/login")
    expect(page.get_by_role("heading", level=1)).to_contain_text("landelijk bureau")
    assert_accessible(page)
    page.goto("/")
    assert_accessible(page)


def test_form_errors_are_announced_and_accessible(page: Page) -> None:
    page.goto(f"{TENANT}/login")
    page.get_by_label("E-mailadres").fill(VIEWER)
    page.get_by_label("Wachtwoord").fill("niet-het-goede-wachtwoord")
    page.locator("main").get_by_role("button", name="Verder").click()

    expect(page.get_by_role("alert")).to_contain_text("niet alles klopt")
    password = page.get_by_label("Wachtwoord")
    expect(password).to_have_attribute("aria-invalid", "true")
    error_id = password.get_attribute("aria-describedby")
    assert error_id, "the password field is not linked to its error message"
    expect(page.locator(f"#{error_id}")).to_contain_text("klopt niet")
    assert_accessible(page)


def test_login_works_without_javascript(browser: Browser, live_server: str, demo, demo_login) -> None:
    email, name = COORDINATOR
    context = browser.new_context(base_url=live_server, java_script_enabled=False)
    context.set_default_timeout(10_000)
    try:
        page = context.new_page()
        page.goto(f"{TENANT}/")
        page.get_by_role("link", name="Inloggen als medewerker").click()
        page.locator("input[name=email]").fill(email)
        page.locator("input[name=password]").fill(demo_login.password)
        page.locator("main").get_by_role("button", name="Verder").click()
        expect(page).to_have_url(re.compile(rf"{TENANT}/login/code$"))
        page.locator("input[name=code]").fill(demo_login.code(email))
        page.locator("main").get_by_role("button", name="Inloggen").click()
        expect(page).to_have_url(re.compile(rf"{TENANT}/app/$"))
        expect(page.get_by_role("heading", level=1)).to_contain_text(name)

        page.get_by_role("banner").get_by_role("button", name="Uitloggen").click()
        expect(page.get_by_role("banner").get_by_role("button", name="Uitloggen")).to_have_count(0)
    finally:
        context.close()


def test_skip_link_is_the_first_tab_stop_and_moves_focus_to_main(page: Page) -> None:
    page.goto(f"{TENANT}/login")
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Naar de inhoud")
    expect(skip).to_be_focused()
    expect(skip).to_be_visible()
    assert skip.bounding_box()["y"] >= 0, "the skip link stays off-screen when focused"

    page.keyboard.press("Enter")
    expect(page.locator("main#main")).to_be_focused()
    # The next Tab continues inside the main content, not back in the header.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.closest('main') !== null")


def test_invitation_shows_up_under_berichten(page: Page, demo_login) -> None:
    """An admin invites a colleague; the queued mail is listed and readable, all pages accessible."""
    sign_in(page, demo_login, ADMIN[0])
    page.get_by_role("navigation", name="Hoofdmenu").get_by_role("link", name="Gebruikers").click()
    invitee = f"nieuw-{uuid.uuid4().hex[:6]}@smallingerland.example.org"
    page.get_by_label("Naam").fill("Nieuwe Collega")
    page.get_by_label("E-mailadres").fill(invitee)
    page.get_by_label("Rol").select_option("coordinator")
    page.locator("main form").get_by_role("button").click()
    expect(page.get_by_role("table")).to_contain_text(invitee)
    assert_accessible(page)

    page.get_by_role("navigation", name="Hoofdmenu").get_by_role("link", name="Berichten").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Uitgaande e-mail")
    expect(page.get_by_role("table")).to_contain_text(invitee)
    assert_accessible(page)

    page.get_by_role("row").filter(has_text=invitee).get_by_role("link").click()
    expect(page.get_by_role("definition").first).to_contain_text(invitee)
    assert_accessible(page)

    page.get_by_role("link", name="Terug naar uitgaande e-mail").click()
    page.get_by_role("navigation", name="Berichten").get_by_role("link", name="Mislukte taken").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Mislukte taken")
    assert_accessible(page)


def test_vog_overview_and_record_are_accessible(page: Page, demo_login) -> None:
    sign_in(page, demo_login, COORDINATOR[0])
    page.get_by_role("navigation", name="Hoofdmenu").get_by_role("link", name="VOG").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("VOG")
    expect(page.get_by_role("table")).to_be_visible()
    assert_accessible(page)
    page.get_by_role("table").get_by_role("link").first.click()
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    assert_accessible(page)


def test_national_admin_pages_are_accessible(page: Page, demo_login) -> None:
    email = "landelijk@example.org"
    page.goto("/landelijk/login")
    page.get_by_label("E-mailadres").fill(email)
    page.get_by_label("Wachtwoord").fill(demo_login.password)
    page.locator("main").get_by_role("button", name="Verder").click()
    page.locator("input[name=code]").fill(demo_login.code(email))
    page.locator("main").get_by_role("button", name="Inloggen").click()
    expect(page).to_have_url(re.compile(r"/landelijk/$"))
    assert_accessible(page)
    for path, heading in (("/landelijk/contracten/", "Contracten"), ("/landelijk/contracten/nieuw", "Contract"),
                          ("/landelijk/documentteksten/", "Documentteksten"), ("/landelijk/gemeenten/", "Gemeenten")):
        page.goto(path)
        expect(page.get_by_role("heading", level=1)).to_contain_text(heading)
        assert_accessible(page)
