"""The whole koppeling in the browser: the coordinator proposes a match from the suggestions, plans
the kennismaking, sends the afsprakenovereenkomst for signing (the vraaggezin signs through its link,
the steungezin on the coordinator's device), starts the proefperiode; the vraaggezin fills in its evaluation through its
personal link (which then works no more); the coordinator records the conversation and makes the
koppeling definitief. axe-core reports no violations on any page on the way."""

from __future__ import annotations

import re
import uuid
from datetime import date, datetime, time, timedelta
from urllib.parse import urlsplit

import pytest
from flask import Flask
from playwright.sync_api import BrowserContext, Page, expect
from sqlalchemy import select

from domain.email.models import OutboundEmail
from domain.families.models import Family
from domain.families.records import LOCAL_TIME, local_today
from domain.koppelingen.models import Koppeling
from domain.sweeps.evaluation_prompts import EVALUATION_PROMPTS
from tenants.db import db
from tenants.models import Tenant
from tenants.services import use_tenant
from tests.browser.test_accessibility import COORDINATOR, TENANT, assert_accessible, sign_in
from tests.browser.test_signing_a11y import without_pdf_viewer
from tests.conftest import Gemeente
from tests.signing_helpers import add_document
from tests.test_family_records import make_family
from tests.test_vog import steungezin
from tests.test_vog_reminders import received

pytestmark = pytest.mark.browser

DRACHTEN = (53.1069, 6.0981)
NOOR_BORN = date(1988, 5, 20)


def demo_gemeente(app: Flask) -> Gemeente:
    with app.app_context():
        tenant = db.session.scalar(select(Tenant).where(Tenant.slug == TENANT.strip("/")))
        gemeente = Gemeente(tenant.id, tenant.slug, tenant.name)
        db.session.remove()
    return gemeente


def in_demo(app: Flask, gemeente: Gemeente, fn):
    with app.app_context():
        use_tenant(gemeente.id)
        try:
            result = fn()
            db.session.commit()
            return result
        finally:
            db.session.remove()


def two_fitting_families(app: Flask, gemeente: Gemeente) -> tuple[int, str, str]:
    """A waiting vraaggezin and an available steungezin (valid VOGs) that fit each other well,
    with unique names so no other test's families get in the way."""
    marker = uuid.uuid4().hex[:5]
    vraag_last, steun_last = f"Kooistra{marker}", f"Bosma{marker}"
    vraag = make_family(app, gemeente, status="wachtend", adults=(("Noor", vraag_last, NOOR_BORN),),
                        children=(("Fenna", 2019),), support=("opvang_middag",))
    steun = steungezin(app, gemeente, status="beschikbaar", adults=(("Jelle", steun_last, 1975),),
                       children=(("Sietse", 2016),))
    received(app, gemeente, steun, "Jelle", local_today() - timedelta(days=30))
    slots = {"wo": ["middag"], "weekend": True, "overnacht": False}

    def profile():
        for family_id, lat, lon in ((vraag, *DRACHTEN), (steun, DRACHTEN[0] + 0.01, DRACHTEN[1] + 0.01)):
            family = db.session.get(Family, family_id)
            family.latitude, family.longitude = lat, lon
            family.support_codes = ["opvang_middag"]
            family.availability = slots
            family.distance_preference = "dichtbij"
    in_demo(app, gemeente, profile)
    return vraag, f"Noor {vraag_last}", f"Jelle {steun_last}"


def test_from_suggestion_to_definitief(context: BrowserContext, app: Flask, demo_login) -> None:
    gemeente = demo_gemeente(app)
    vraag_id, vraag_name, steun_name = two_fitting_families(app, gemeente)
    today = local_today()
    page: Page = context.new_page()
    sign_in(page, demo_login, COORDINATOR[0])

    # The vraaggezin's page → its suggestions, where the fitting steungezin is listed with its explanation.
    page.goto(f"{TENANT}/app/gezinnen/{vraag_id}")
    page.get_by_role("link", name="Passende gezinnen zoeken").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(vraag_name)
    suggestion = page.get_by_role("article").filter(has=page.get_by_role("heading", name=re.compile(steun_name)))
    expect(suggestion).to_contain_text("VOG: in orde")
    assert_accessible(page)
    suggestion.get_by_text(f"Koppeling voorstellen met {steun_name}").click()  # opens the proposal form
    suggestion.get_by_label("Wanneer en hoe vaak (niet verplicht)").fill("Woensdagmiddag na school, om de week.")
    suggestion.get_by_role("button", name="Voorstellen").click()

    # The koppeling page: both families say yes, the kennismaking is planned.
    expect(page).to_have_url(re.compile(rf"{TENANT}/app/koppelingen/\d+"))
    koppeling_id = int(page.url.rstrip("/").rsplit("/", 1)[-1].split("#")[0])
    expect(page.locator("#koppeling-status")).to_have_text("voorgesteld")
    assert_accessible(page)
    page.get_by_label("Het vraaggezin zei ja op").fill(today.isoformat())
    page.get_by_role("button", name="Akkoord vraaggezin vastleggen").click()
    page.get_by_label("Het steungezin zei ja op").fill(today.isoformat())
    page.get_by_role("button", name="Akkoord steungezin vastleggen").click()
    page.get_by_role("button", name="Kennismakingsfase starten").click()
    expect(page.locator("#koppeling-status")).to_have_text("kennismaking")
    page.get_by_label("Datum van de kennismaking").fill((today + timedelta(days=3)).isoformat())
    page.get_by_label("Begintijd").fill("15:30")
    page.get_by_label("Plaats").fill("Buurthuis De Wiek, Drachten")
    page.get_by_role("button", name="Kennismaking plannen").click()
    expect(page.get_by_role("main")).to_contain_text("Buurthuis De Wiek, Drachten")
    assert_accessible(page)

    # The afsprakenovereenkomst (made directly here: rendering has its own tests) goes out for signing.
    in_demo(app, gemeente, lambda: add_document(gemeente.id, koppeling_id=koppeling_id).id)
    page.goto(f"{TENANT}/app/koppelingen/{koppeling_id}")
    page.get_by_label("Tegelijk: iedereen krijgt nu een link").check()
    page.get_by_role("button", name="Versturen ter ondertekening").click()
    expect(page.get_by_role("main")).to_contain_text("Het document is verstuurd ter ondertekening.")
    assert_accessible(page)

    def sign_link():
        email = db.session.get(Family, vraag_id).email
        mail = db.session.scalar(select(OutboundEmail).where(OutboundEmail.template == "document_sign_request",
                                                             OutboundEmail.to_address == email))
        return mail.context["link"]
    base_url = context.pages[0].url.split(TENANT)[0]
    signer = context.browser.new_context(base_url=base_url)
    parent = signer.new_page()
    without_pdf_viewer(parent)
    parent.goto(urlsplit(in_demo(app, gemeente, sign_link)).path)
    parent.get_by_label("Dag", exact=True).fill(str(NOOR_BORN.day))
    parent.get_by_label("Maand", exact=True).fill(str(NOOR_BORN.month))
    parent.get_by_label("Jaar", exact=True).fill(str(NOOR_BORN.year))
    parent.get_by_role("button", name="Verder").click()
    expect(parent.get_by_role("heading", level=1)).to_have_text("Afsprakenovereenkomst proefperiode")
    parent.get_by_label("Ik heb het document gelezen en ga akkoord").check()
    parent.get_by_label("Je volledige naam").fill(vraag_name)
    parent.get_by_role("button", name="Ondertekenen").click()
    expect(parent.get_by_role("heading", level=1)).to_have_text("Bedankt: je hebt ondertekend")
    signer.close()

    # The steungezin sits with the coordinator and signs on this device.
    without_pdf_viewer(page)
    page.goto(f"{TENANT}/app/koppelingen/{koppeling_id}")
    page.get_by_role("button", name=f"Hier laten ondertekenen door {steun_name}").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Afsprakenovereenkomst proefperiode")
    page.get_by_label("Ik heb het document gelezen en ga akkoord").check()
    page.get_by_label("Je volledige naam").fill(steun_name)
    page.get_by_role("button", name="Ondertekenen").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Bedankt: je hebt ondertekend")
    page.get_by_role("link", name="Terug naar de koppeling").click()
    expect(page.locator("#ondertekenen")).to_contain_text("door iedereen ondertekend")

    # Signed by both: the proefperiode can start.
    page.get_by_label("Startdatum van de proefperiode").fill(today.isoformat())
    page.get_by_role("button", name="Proefperiode starten").click()
    expect(page.locator("#koppeling-status")).to_have_text("proefperiode")
    assert_accessible(page)

    # A week before the proefperiode ends the sweep sends both families their link.
    end = in_demo(app, gemeente, lambda: db.session.get(Koppeling, koppeling_id).proefperiode_end_on)
    prompt_day = datetime.combine(end - timedelta(days=7), time(3), tzinfo=LOCAL_TIME)
    with app.app_context():
        report = EVALUATION_PROMPTS.run(prompt_day, tenant_ids=[gemeente.id])
        db.session.remove()
    assert report.failed_tenants == []

    def vraag_link():
        email = db.session.get(Family, vraag_id).email
        mail = db.session.scalar(select(OutboundEmail).where(OutboundEmail.template == "evaluation_request",
                                                             OutboundEmail.to_address == email))
        return mail.context["link"]
    link = urlsplit(in_demo(app, gemeente, vraag_link)).path

    # The parent, on their own device, without an account.
    family = context.browser.new_context(base_url=context.pages[0].url.split(TENANT)[0])
    parent = family.new_page()
    parent.goto(link)
    expect(parent.get_by_role("heading", level=1)).to_be_visible()
    assert_accessible(parent)
    parent.get_by_role("group", name="Ben je tevreden over de koppeling?").get_by_label("Ja").check()
    parent.get_by_role("group", name="Wil je doorgaan met de koppeling?").get_by_label("Ja").check()
    for statement, score in (("meer rust", "4"), ("sterker", "3"), ("beter met de kinderen", "4"),
                             ("meer mensen", "2")):
        # The scale's radio buttons sit under large labels: a tap on the label chooses.
        group = parent.get_by_role("group", name=re.compile(statement))
        group.get_by_text(score, exact=True).click()
        expect(group.get_by_role("radio", name=score, exact=True)).to_be_checked()
    parent.get_by_label("Wil je nog iets zeggen? (niet verplicht)").fill("Fenna gaat er graag heen.")
    parent.get_by_role("button", name="Versturen").click()
    expect(parent.get_by_role("heading", level=1)).to_have_text("Bedankt voor je antwoorden")
    assert_accessible(parent)
    parent.goto(link)  # the link worked once
    expect(parent.get_by_role("main")).to_contain_text("werkt niet meer")
    family.close()

    # The coordinator sees the answers, records a positive conversation, and makes it definitief.
    page.goto(f"{TENANT}/app/koppelingen/{koppeling_id}/evaluaties")
    expect(page.get_by_role("main")).to_contain_text("Fenna gaat er graag heen.")
    assert_accessible(page)
    page.get_by_label("Evaluatiemoment").select_option("proefperiode")
    page.get_by_label("Datum van het gesprek").fill(today.isoformat())
    page.get_by_label("Uitkomst").select_option("positief")
    page.get_by_role("button", name="Gesprek opslaan").click()
    expect(page.get_by_role("main")).to_contain_text("is vastgelegd")
    assert_accessible(page)

    page.goto(f"{TENANT}/app/koppelingen/{koppeling_id}")
    page.get_by_label("Definitief sinds").fill(today.isoformat())
    page.get_by_role("button", name="Definitief maken").click()
    expect(page.locator("#koppeling-status")).to_have_text("definitief")
    expect(page.get_by_role("region", name="Tijdlijn").or_(page.locator("#tijdlijn").locator(".."))).to_contain_text(
        "definitief")
    assert_accessible(page)
