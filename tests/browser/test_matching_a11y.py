"""axe-core (WCAG 2.1 AA) on the match suggestions of a waiting demo vraaggezin and of a demo
steungezin, with a form refused (its error shown next to the field) and without JavaScript."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.test_accessibility import (  # noqa: F401 - page is a fixture
    COORDINATOR,
    TENANT,
    assert_accessible,
    page,
    sign_in,
)

pytestmark = pytest.mark.browser


def open_first_family(tab: Page, query: str) -> None:
    tab.goto(f"{TENANT}/app/gezinnen/?{query}")
    tab.get_by_role("table").get_by_role("link").first.click()
    expect(tab.get_by_role("heading", level=1)).to_be_visible()


def test_suggestions_for_a_vraaggezin_and_a_steungezin_are_accessible(page: Page, demo_login) -> None:  # noqa: F811
    sign_in(page, demo_login, COORDINATOR[0])
    open_first_family(page, "kind=vraag&status=wachtend")
    page.get_by_role("link", name="Passende gezinnen zoeken").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Passende steungezinnen voor")
    expect(page.get_by_role("heading", level=2, name=re.compile(r"^Suggesties \(\d+\)$"))).to_be_visible()
    assert_accessible(page)

    # "Niet geschikt" without a reason: refused, the message next to the field, nothing marked.
    suggestion = page.locator("article.match-suggestion").first
    suggestion.locator("summary", has_text="is niet geschikt").click()
    suggestion.get_by_role("button", name="Markeer als niet geschikt").click()
    expect(page.get_by_role("alert")).to_contain_text("Schrijf op waarom dit gezin niet geschikt is.")
    expect(page.get_by_role("heading", level=2, name="Niet geschikt (0)")).to_be_visible()
    assert_accessible(page)

    open_first_family(page, "kind=steun&status=beschikbaar")
    page.get_by_role("link", name="Passende gezinnen zoeken").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Passende vraaggezinnen voor")
    assert_accessible(page)


def test_suggestions_work_without_javascript(browser: Browser, live_server: str, demo_login) -> None:
    context = browser.new_context(base_url=live_server, locale="nl-NL", java_script_enabled=False)
    try:
        page = context.new_page()
        sign_in(page, demo_login, COORDINATOR[0])
        open_first_family(page, "kind=vraag&status=wachtend")
        page.get_by_role("link", name="Passende gezinnen zoeken").click()
        suggestion = page.locator("article.match-suggestion").first
        suggestion.locator("summary", has_text="Koppeling voorstellen met").click()
        expect(suggestion.get_by_role("button", name="Voorstellen")).to_be_visible()
    finally:
        context.close()
