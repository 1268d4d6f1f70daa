"""axe-core (WCAG 2.1 AA) on the public verify page: the form, an error, and an answer."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from domain.documents.rendering import render_pdf
from tests.browser.test_accessibility import assert_accessible, page  # noqa: F401 - page is a fixture

pytestmark = pytest.mark.browser


def test_verify_page_is_accessible(page: Page, tmp_path) -> None:  # noqa: F811
    page.goto("/verifieer")
    expect(page.get_by_role("heading", level=1)).to_have_text("Document controleren")
    assert_accessible(page)

    # Nothing chosen: the error sits next to the field and is announced.
    page.get_by_role("button", name="Controleren").click()
    expect(page.get_by_role("alert")).to_contain_text("Kies het PDF-bestand dat je wilt controleren.")
    expect(page.get_by_label("PDF-bestand")).to_have_attribute("aria-invalid", "true")
    assert_accessible(page)

    # A PDF that is not sealed by the platform gets a plain answer.
    unsealed = tmp_path / "brief.pdf"
    unsealed.write_bytes(render_pdf("<p>Een gewone brief.</p>"))
    page.get_by_label("PDF-bestand").set_input_files(str(unsealed))
    page.get_by_role("button", name="Controleren").click()
    expect(page.get_by_role("heading", level=2).first).to_have_text("Dit is geen verzegeld document van dit platform")
    assert_accessible(page)
    # Readable on a phone.
    page.set_viewport_size({"width": 360, "height": 740})
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert_accessible(page)



def test_the_answer_for_a_sealed_document_is_accessible(page: Page, app, make, settings, tmp_path) -> None:  # noqa: F811
    from domain.documents.models import SealStatus
    from domain.documents.sealing import seal_pdf
    from tests.test_sealing import make_document

    sealed = seal_pdf(render_pdf("<p>Afspraken</p>"), settings=settings, reason="Test", location="Nederland")
    gemeente = make.tenant()
    made = make_document(app, make, gemeente, final_pdf=sealed, seal_status=SealStatus.SEALED)
    (tmp_path / "verzegeld.pdf").write_bytes(sealed)
    page.goto("/verifieer")
    page.get_by_label("PDF-bestand").set_input_files(str(tmp_path / "verzegeld.pdf"))
    page.get_by_role("button", name="Controleren").click()
    expect(page.get_by_role("heading", level=2).first).to_have_text(
        "Dit is een verzegeld document van het Buurtgezinnen-platform en het is niet veranderd")
    expect(page.get_by_role("table")).to_contain_text(made.signer_names[0])
    assert_accessible(page)
