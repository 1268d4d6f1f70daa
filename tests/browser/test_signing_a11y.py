"""axe-core (WCAG 2.1 AA) on the signing pages a party opens through its link: the date of birth
(empty, wrong), the document with its errors, the drawn signature (pointer), the confirmation, the
used link, the code step of a gemeente signer, a phone's width; and the signing section of the
koppeling page with "Hier laten ondertekenen"."""

from __future__ import annotations

import re

import pyotp
import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from domain.documents.models import DocumentSigner
from tenants.db import db
from tests.browser.test_accessibility import assert_accessible, page  # noqa: F401 - page is a fixture
from tests.test_signing import STEUN_BORN, VRAAG_BORN, case, links, samenwerking, send
from tests.test_vog import in_tenant

pytestmark = pytest.mark.browser


@pytest.fixture
def sent(app, make):
    gemeente = make.tenant()
    coordinator = make.user(gemeente)
    c = case(app, gemeente, coordinator_id=coordinator.id)
    send(app, gemeente, c.document_id)
    return gemeente, coordinator, c, links(app, gemeente)


PDF_IN_FRAME = re.compile(r".*/ondertekenen/[^/]+/document\.pdf$")


def without_pdf_viewer(target) -> None:
    """Serve the framed PDF as plain text in these tests: headless Chromium's PDF viewer takes the
    focus when it has loaded and swallows the next click on the page, at a moment no test can wait
    for. The PDF route itself (bytes, headers, framing) is tested in tests/test_signing.py."""
    target.route(PDF_IN_FRAME, lambda route: route.fulfill(status=200, content_type="text/plain",
                                                           body="Het document (PDF)"))


def confirm_birth_date(where: Page, born) -> None:
    where.get_by_label("Dag", exact=True).fill(str(born.day))
    where.get_by_label("Maand", exact=True).fill(str(born.month))
    where.get_by_label("Jaar", exact=True).fill(str(born.year))
    where.get_by_role("button", name="Verder").click()


def test_signing_through_the_link_is_accessible_all_the_way(page: Page, app, sent) -> None:  # noqa: F811
    gemeente, _, _, paths = sent
    path = paths["Anna Jansen"]
    without_pdf_viewer(page)
    page.goto(path)
    expect(page.get_by_role("heading", level=1)).to_have_text("Document ondertekenen")
    assert_accessible(page)

    confirm_birth_date(page, VRAAG_BORN.replace(day=VRAAG_BORN.day + 1))
    expect(page.get_by_role("alert")).to_contain_text("Deze geboortedatum klopt niet")
    assert_accessible(page)

    confirm_birth_date(page, VRAAG_BORN)
    expect(page.get_by_role("heading", level=1)).to_have_text("Afsprakenovereenkomst proefperiode")
    expect(page.locator("iframe.signing-pdf")).to_have_attribute("src", f"{path}/document.pdf")
    # The drawing pad appears with JavaScript, and drawing on it fills the hidden field with path data.
    canvas = page.locator(".signing-pad__canvas")
    expect(canvas).to_be_visible()
    assert_accessible(page)

    page.get_by_role("button", name="Ondertekenen").click()
    expect(page.get_by_role("alert")).to_contain_text("Zet een vinkje")
    assert_accessible(page)

    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    page.mouse.move(box["x"] + 20, box["y"] + 20)
    page.mouse.down()
    for step in range(1, 8):
        page.mouse.move(box["x"] + 20 + step * 15, box["y"] + 20 + (step % 3) * 10)
    page.mouse.up()
    drawing = page.locator("input[name=drawing]").input_value()
    assert re.fullmatch(r"M\d+ \d+( L\d+ \d+)+", drawing), drawing

    page.get_by_label("Ik heb het document gelezen en ga akkoord").check()
    page.get_by_label("Je volledige naam").fill("Anna Jansen")
    page.get_by_role("button", name="Ondertekenen").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Bedankt: je hebt ondertekend")
    assert_accessible(page)
    stored = in_tenant(app, gemeente, lambda: db.session.scalar(
        select(DocumentSigner.drawing).where(DocumentSigner.name == "Anna Jansen")))
    assert stored == drawing

    page.goto(path)
    expect(page.get_by_role("heading", level=1)).to_have_text("Deze link werkt niet meer")
    expect(page.get_by_role("main")).to_contain_text("al ondertekend")
    assert_accessible(page)


def test_the_signing_page_fits_a_phone_and_declining_works_without_javascript(browser, live_server, app,
                                                                              sent) -> None:
    _, _, _, paths = sent
    context = browser.new_context(base_url=live_server, locale="nl-NL", java_script_enabled=False,
                                  viewport={"width": 360, "height": 740})
    try:
        phone = context.new_page()
        without_pdf_viewer(phone)
        phone.goto(paths["Piet Visser"])
        confirm_birth_date(phone, STEUN_BORN)
        expect(phone.get_by_role("heading", level=1)).to_have_text("Afsprakenovereenkomst proefperiode")
        expect(phone.locator(".signing-pad")).to_be_hidden()  # no JavaScript: no pad, signing still works
        expect(phone.get_by_role("link", name="Download het document (PDF)")).to_be_visible()
        phone.get_by_text("Ik wil dit document weigeren").click()
        phone.get_by_role("button", name="Weigeren").click()
        expect(phone.get_by_role("alert")).to_contain_text("Schrijf kort op waarom")
        phone.get_by_label("Waarom onderteken je niet?").fill("We willen eerst nog praten over de tijden.")
        phone.get_by_role("button", name="Weigeren").click()
        expect(phone.get_by_role("heading", level=1)).to_have_text("Je hebt het document geweigerd")
    finally:
        context.close()


def test_the_phone_layout_has_no_horizontal_scrolling(page: Page, sent) -> None:  # noqa: F811
    _, _, _, paths = sent
    without_pdf_viewer(page)
    page.set_viewport_size({"width": 360, "height": 740})
    page.goto(paths["Anna Jansen"])
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    confirm_birth_date(page, VRAAG_BORN)
    expect(page.get_by_role("heading", level=1)).to_have_text("Afsprakenovereenkomst proefperiode")
    # Measure the styled page: on a busy machine the heading can be there before the stylesheets.
    page.wait_for_load_state("load")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert_accessible(page)


def test_the_code_step_of_a_gemeente_signer_is_accessible(page: Page, app, make) -> None:  # noqa: F811
    from domain.documents.models import Document
    from domain.documents.signing import Party, default_parties

    gemeente = make.tenant()
    document_id = samenwerking(app, gemeente)
    parties = in_tenant(app, gemeente, lambda: default_parties(
        db.session.get(Document, document_id),
        stichting=Party("stichting", "Directeur Buurtgezinnen", "directeur@buurtgezinnen.example.org")))
    send(app, gemeente, document_id, parties=parties)
    page.goto(links(app, gemeente)["Wethouder de Vries"])
    assert_accessible(page)
    page.get_by_role("button", name="Stuur mij een code").click()
    expect(page.get_by_role("status")).to_contain_text("We hebben een code gestuurd")
    page.get_by_label("Code uit de e-mail").fill("000000")
    page.locator("main").get_by_role("button", name="Verder").click()
    expect(page.get_by_role("alert")).to_contain_text("klopt niet")
    assert_accessible(page)


def test_the_koppeling_page_with_signing_progress_is_accessible(page: Page, app, sent) -> None:  # noqa: F811
    gemeente, coordinator, c, _ = sent
    page.goto(f"/{gemeente.slug}/login")
    page.get_by_label("E-mailadres").fill(coordinator.email)
    page.get_by_label("Wachtwoord").fill(coordinator.password)
    page.locator("main").get_by_role("button", name="Verder").click()
    page.locator("input[name=code]").fill(pyotp.TOTP(coordinator.totp_secret).now())
    page.locator("main").get_by_role("button", name="Inloggen").click()
    expect(page).to_have_url(re.compile(rf"/{gemeente.slug}/app/$"))

    without_pdf_viewer(page)
    page.goto(f"/{gemeente.slug}/app/koppelingen/{c.koppeling_id}")
    section = page.locator("#ondertekenen")
    expect(section).to_contain_text("link verstuurd")
    assert_accessible(page)
    section.get_by_role("button", name="Hier laten ondertekenen door Piet Visser").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Afsprakenovereenkomst proefperiode")
    assert_accessible(page)
