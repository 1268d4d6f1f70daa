"""axe-core (WCAG 2.1 AA) on the public listing of vraaggezinnen, with the demo profiles on it."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser.test_accessibility import assert_accessible, page  # noqa: F401 - page is a fixture

pytestmark = pytest.mark.browser


def test_public_listing_is_accessible(page: Page) -> None:  # noqa: F811
    page.goto("/smallingerland/gezinnen")
    expect(page.get_by_role("heading", level=1)).to_have_text("Gezinnen in Smallingerland die een steungezin zoeken")
    assert page.locator("article").count() >= 3
    expect(page.get_by_text("Gevonden!").first).to_be_visible()
    assert_accessible(page)
    # Readable on a phone: no horizontal scrolling, still accessible.
    page.set_viewport_size({"width": 360, "height": 740})
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert_accessible(page)
    page.get_by_role("link", name="Word steungezin").click()
    assert page.url.endswith("/smallingerland/aanmelden/steungezin")


def test_public_index_links_to_the_listing(page: Page) -> None:  # noqa: F811
    page.goto("/smallingerland/")
    page.get_by_role("link", name="Bekijk de gezinnen in Smallingerland die een steungezin zoeken").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("steungezin zoeken")
    assert_accessible(page)
