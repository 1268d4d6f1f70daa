"""axe-core (WCAG 2.1 AA) on the koppeling pages: the list, and one koppeling's page as a coordinator
takes it from the proposal to a planned kennismaking through the forms — with an error on the way."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from flask import Flask
from playwright.sync_api import Page, expect
from sqlalchemy import select

from domain.accounts.models import StaffUser
from domain.audit.services import SYSTEM
from domain.families.models import Family
from domain.families.records import local_today
from domain.koppelingen.services import propose
from tenants.db import db
from tenants.models import Tenant
from tenants.services import use_tenant
from tests.browser.test_accessibility import COORDINATOR, TENANT, assert_accessible, page, sign_in  # noqa: F401
from tests.conftest import Gemeente
from tests.test_family_records import make_family
from tests.test_vog import steungezin
from tests.test_vog_reminders import received

pytestmark = pytest.mark.browser


def demo_koppeling(app: Flask) -> tuple[int, str]:
    """A fresh vraaggezin and steungezin in the demo gemeente (so no other test's families are
    taken), proposed by the demo coordinator; returns the koppeling's id and the vraaggezin's name."""
    with app.app_context():
        tenant = db.session.scalar(select(Tenant).where(Tenant.slug == TENANT.strip("/")))
        gemeente = Gemeente(tenant.id, tenant.slug, tenant.name)
        db.session.remove()
    vraag = make_family(app, gemeente, status="wachtend", adults=(("Noor", "Kooistra", 1988),),
                        children=(("Fenna", 2019),))
    steun = steungezin(app, gemeente, status="beschikbaar", adults=(("Jelle", "Bosma", 1975),), children=())
    received(app, gemeente, steun, "Jelle", local_today() - timedelta(days=30))
    with app.app_context():
        use_tenant(gemeente.id)
        coordinator = db.session.scalar(select(StaffUser).where(StaffUser.email == COORDINATOR[0]))
        koppeling = propose(db.session.get(Family, vraag), db.session.get(Family, steun), SYSTEM,
                            coordinator_id=coordinator.id, support_codes=["huiswerkplek"],
                            schedule="dinsdagmiddag", location="bij het steungezin")
        db.session.commit()
        koppeling_id = koppeling.id
        db.session.remove()
    return koppeling_id, "Noor Kooistra"


def test_koppeling_pages_are_accessible(page: Page, app: Flask, demo_login) -> None:  # noqa: F811
    koppeling_id, name = demo_koppeling(app)
    sign_in(page, demo_login, COORDINATOR[0])
    page.get_by_role("navigation", name="Hoofdmenu").get_by_role("link", name="Koppelingen").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Koppelingen")
    expect(page.get_by_role("table")).to_contain_text(name)
    assert_accessible(page)

    page.get_by_role("link", name=re.compile(name)).first.click()
    expect(page).to_have_url(re.compile(rf"{TENANT}/app/koppelingen/{koppeling_id}$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Koppeling {name} en Jelle Bosma")
    assert_accessible(page)

    # A step that is not allowed yet: refused with the message, announced, nothing changed.
    page.get_by_role("button", name="Kennismakingsfase starten").click()
    expect(page.get_by_role("alert")).to_contain_text("nog niet vastgelegd voor het vraaggezin en het steungezin")
    expect(page.locator("#koppeling-status")).to_have_text("voorgesteld")
    assert_accessible(page)

    today = local_today()
    page.get_by_label("Het vraaggezin zei ja op").fill(today.isoformat())
    page.get_by_role("button", name="Akkoord vraaggezin vastleggen").click()
    expect(page.get_by_text("Het akkoord van het vraaggezin is vastgelegd.")).to_be_visible()
    page.get_by_label("Het steungezin zei ja op").fill(today.isoformat())
    page.get_by_role("button", name="Akkoord steungezin vastleggen").click()
    page.get_by_role("button", name="Kennismakingsfase starten").click()
    expect(page.locator("#koppeling-status")).to_have_text("kennismaking")
    assert_accessible(page)

    # Planning in the past: the error sits at its field, linked for screen readers.
    day = page.get_by_label("Datum van de kennismaking")
    day.fill((today - timedelta(days=1)).isoformat())
    page.get_by_label("Begintijd").fill("15:30")
    page.get_by_label("Plaats").fill("Buurthuis De Wiek, Drachten")
    page.get_by_role("button", name="Kennismaking plannen").click()
    expect(day).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#day-error")).to_contain_text("Kies een moment in de toekomst.")
    assert_accessible(page)

    page.get_by_label("Datum van de kennismaking").fill((today + timedelta(days=7)).isoformat())
    page.get_by_role("button", name="Kennismaking plannen").click()
    expect(page.get_by_text("De kennismaking is gepland.")).to_be_visible()
    expect(page.get_by_role("table", name="Kennismakingen, oudste eerst")).to_contain_text("Buurthuis De Wiek")
    expect(page.get_by_role("button", name="Kennismaking verplaatsen")).to_be_visible()
    assert_accessible(page)

    page.get_by_role("link", name=name).first.click()  # the vraaggezin's own page lists the koppeling
    expect(page.get_by_role("link", name="Koppeling met Jelle Bosma")).to_be_visible()
