"""axe-core (WCAG 2.1 AA) on the evaluation form a family opens through its link (empty, with its
errors, thanks, the used link, on a phone) and on the coordinator's evaluations page."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pyotp
import pytest
from playwright.sync_api import Page, expect

from domain.families.records import local_today
from domain.koppelingen.services import start_proefperiode
from domain.sweeps.evaluation_prompts import EVALUATION_PROMPTS
from tenants.db import db
from tests.browser.test_accessibility import assert_accessible, page  # noqa: F401 - page is a fixture
from tests.signing_helpers import signed_agreement
from tests.test_evaluations import latest_token
from tests.test_koppelingen import COORDINATOR, koppeling, pair, proposed, run, to_kennismaking

pytestmark = pytest.mark.browser


@pytest.fixture
def evaluation(app, make):
    """A koppeling whose proefperiode ends in a few days: the families just got their links."""
    gemeente = make.tenant()
    coordinator = make.user(gemeente)
    today = local_today()
    vraag, steun = pair(app, gemeente)
    koppeling_id = proposed(app, gemeente, vraag, steun)
    to_kennismaking(app, gemeente, koppeling_id)

    signed_agreement(app, gemeente, koppeling_id)
    run(app, gemeente, lambda: start_proefperiode(koppeling(koppeling_id), COORDINATOR,
                                                  start_on=today - timedelta(days=56), today=today))
    with app.app_context():
        try:
            EVALUATION_PROMPTS.run(datetime.now(UTC), tenant_ids=[gemeente.id])
        finally:
            db.session.remove()
    return gemeente, coordinator, koppeling_id, latest_token(app, gemeente, "vraag")


def test_the_family_form_is_accessible_through_the_whole_way(page: Page, evaluation) -> None:  # noqa: F811
    gemeente, _, _, token = evaluation
    url = f"/{gemeente.slug}/evaluatie/{token}"
    page.goto(url)
    expect(page.get_by_role("heading", level=1)).to_have_text("Hoe gaat het met jullie koppeling?")
    assert_accessible(page)

    page.get_by_role("button", name="Versturen").click()
    expect(page.get_by_role("alert")).to_contain_text("Er ontbreekt nog iets")
    assert_accessible(page)

    page.get_by_role("group", name="Ben je tevreden over de koppeling?").get_by_label("Een beetje").check()
    page.get_by_role("group", name="Wil je doorgaan met de koppeling?").get_by_label("Ja").check()
    for statement, score in (("Wij hebben als ouders meer rust en tijd voor onszelf.", "3"),
                             ("Wij voelen ons sterker als ouders.", "4"),
                             ("Het gaat thuis beter met de kinderen.", "2"),
                             ("Wij hebben meer mensen om ons heen die kunnen helpen.", "3")):
        page.get_by_role("group", name=statement).get_by_label(score, exact=True).check()
    page.get_by_label("Wil je nog iets zeggen? (niet verplicht)").fill("Fijn dat er iemand is op woensdag.")
    page.get_by_role("button", name="Versturen").click()
    expect(page).to_have_url(re.compile(rf"/{gemeente.slug}/evaluatie/bedankt$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Bedankt voor je antwoorden")
    assert_accessible(page)

    page.goto(url)
    expect(page.get_by_role("heading", level=1)).to_have_text("Deze link werkt niet meer")
    assert_accessible(page)


def test_the_form_fits_a_phone(page: Page, evaluation) -> None:  # noqa: F811
    gemeente, _, _, token = evaluation
    page.set_viewport_size({"width": 360, "height": 740})
    page.goto(f"/{gemeente.slug}/evaluatie/{token}")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    # Every answer is a large target: at least 44 by 44 CSS pixels.
    sizes = page.locator(".evaluation-choice").evaluate_all(
        "labels => labels.map(l => [l.getBoundingClientRect().width, l.getBoundingClientRect().height])")
    assert sizes and all(width >= 44 and height >= 44 for width, height in sizes)
    assert_accessible(page)


def test_the_coordinators_evaluations_page_is_accessible(page: Page, evaluation) -> None:  # noqa: F811
    gemeente, coordinator, koppeling_id, _ = evaluation
    page.goto(f"/{gemeente.slug}/login")
    page.get_by_label("E-mailadres").fill(coordinator.email)
    page.get_by_label("Wachtwoord").fill(coordinator.password)
    page.locator("main").get_by_role("button", name="Verder").click()
    page.locator("input[name=code]").fill(pyotp.TOTP(coordinator.totp_secret).now())
    page.locator("main").get_by_role("button", name="Inloggen").click()
    expect(page).to_have_url(re.compile(rf"/{gemeente.slug}/app/$"))

    page.get_by_role("link", name=re.compile("^Evaluatiegesprek voeren")).first.click()
    expect(page).to_have_url(re.compile(rf"/app/koppelingen/{koppeling_id}/evaluaties$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("Evaluaties van de koppeling")
    assert_accessible(page)

    page.get_by_label("Uitkomst").select_option("positief")
    page.get_by_role("button", name="Gesprek opslaan").click()
    expect(page.get_by_role("status")).to_contain_text("is vastgelegd")
    assert_accessible(page)
