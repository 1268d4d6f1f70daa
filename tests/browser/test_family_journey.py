"""The whole way of a vraaggezin in a real browser: registration on the public form → the
coordinator's intake → an anonymised profile published on the public listing, with axe-core
(WCAG 2.1 AA) reporting zero violations on every page on the way."""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.browser.test_accessibility import ADMIN, COORDINATOR, TENANT, assert_accessible, sign_in
from tests.browser.test_registration_journey import register

pytestmark = pytest.mark.browser


def test_registration_intake_and_published_listing(context: BrowserContext, demo_login) -> None:
    family_page = context.new_page()
    last_name = f"Reis{uuid.uuid4().hex[:6]}"
    register(family_page, check_accessibility=True, last_name=last_name)

    page: Page = context.new_page()
    sign_in(page, demo_login, COORDINATOR[0])
    # On the start page the new family is a task, "Intake plannen", linked to the intake and to the family.
    tasks = page.get_by_role("table").filter(has_text=last_name)
    expect(tasks.get_by_role("link", name=re.compile(rf"^Intake plannen ?: .*{last_name}$"))).to_be_visible()
    tasks.get_by_role("link", name=re.compile(rf"^[^:]*{last_name}$")).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(last_name)
    assert_accessible(page)

    # Intake: the four questions, a support type, a day part; saving moves the family to 'intake'.
    page.get_by_role("link", name="Intake vastleggen").first.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Intake")
    assert_accessible(page)
    page.get_by_label("Welke steun zoekt het gezin?").fill("Eén middag per week opvang na school.")
    page.get_by_label("Wat vindt het gezin belangrijk in de opvoeding?").fill("Rust, regelmaat en samen eten.")
    page.get_by_label("Wat verwacht het gezin van het andere gezin?").fill("Een vaste plek waar Tess welkom is.")
    page.get_by_label("Wat kan het gezin zelf bieden?").fill("Meehelpen met klussen in de tuin.")
    page.get_by_label("Opvang een middag of avond").check()
    page.locator("input[name=availability][value='wo-middag']").check()
    page.get_by_role("button", name="Intake opslaan").click()
    expect(page.locator("main")).to_contain_text("intake")
    assert_accessible(page)

    page.goto(page.url.split("/intake")[0] + "/intake")
    page.get_by_role("button", name="Intake afronden").click()
    expect(page.locator("main")).to_contain_text("wachtend")
    assert_accessible(page)

    # The coordinator who made the visit is now the family's own; another one can take over.
    detail_url = page.url.split("#")[0]
    expect(page.locator("main")).to_contain_text(f"Coördinator: {COORDINATOR[1]}")
    page.get_by_role("combobox", name="Coördinator").select_option(label=ADMIN[1])
    page.get_by_role("button", name="Toewijzen").click()
    expect(page.locator("body")).to_contain_text("Coördinator toegewezen.")
    expect(page.locator("main")).to_contain_text(f"Coördinator: {ADMIN[1]}")
    assert_accessible(page)

    # The list: a coördinator column, and "mijn gezinnen" no longer has this family.
    page.goto(f"{TENANT}/app/gezinnen/?coordinator=mij")
    expect(page.get_by_role("combobox", name="Coördinator")).to_have_value("mij")
    expect(page.locator("main")).not_to_contain_text(last_name)
    assert_accessible(page)
    page.goto(f"{TENANT}/app/gezinnen/?q={last_name}")
    expect(page.get_by_role("row").filter(has_text=last_name)).to_contain_text(ADMIN[1])
    assert_accessible(page)
    page.goto(detail_url)

    # The anonymised profile: consent first, then the texts, then publish.
    page.get_by_role("link", name="Openbaar profiel").click()
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    assert_accessible(page)
    page.get_by_role("button", name="Het gezin geeft toestemming voor publicatie").click()
    title = f"Moeder met een dochter van zes ({uuid.uuid4().hex[:4]})"
    page.get_by_label("Titel").fill(title)
    page.get_by_label("Situatie").fill("Een moeder die er alleen voor staat en het even zwaar heeft.")
    page.get_by_label("Wij zoeken een gezin dat …").fill("Wij zoeken een gezin dat op woensdagmiddag een plek biedt.")
    page.get_by_label("Plaats of wijk").fill("Drachten")
    page.get_by_role("button", name="Profiel bewaren").click()
    page.get_by_role("button", name="Publiceren").click()
    expect(page.get_by_role("button", name="Offline halen")).to_be_visible()
    assert_accessible(page)

    # The public listing, as anyone sees it: the profile, and not the family's name.
    public = context.new_page()
    public.goto(f"{TENANT}/gezinnen")
    article = public.get_by_role("article").filter(has_text=title)
    expect(article).to_be_visible()
    expect(public.locator("main")).not_to_contain_text(last_name)
    assert_accessible(public)
