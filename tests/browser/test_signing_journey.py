"""The afsprakenovereenkomst from start to proefperiode, in the browser: the coordinator makes the
proefperiode agreement and sends it; the vraaggezin signs through its link on its own device, the
steungezin on the coordinator's device; the worker's jobs (run here: browser tests have no worker)
render it and make the final, sealed PDF, which reaches both families by e-mail; /verifieer accepts
that PDF and reports a copy with one changed byte as altered; and the koppeling's proefperiode can
start. axe-core reports no violations on the pages on the way."""

from __future__ import annotations

import hashlib
import re
from urllib.parse import urlsplit

import pytest
from flask import Flask
from playwright.sync_api import BrowserContext, Page, expect
from sqlalchemy import select

from domain.accounts.models import StaffUser
from domain.documents.finalising import FINALISE_JOB_KIND, SEALED_EMAIL_TEMPLATE
from domain.documents.models import Document, DocumentStatus, SealStatus
from domain.documents.services import RENDER_JOB_KIND
from domain.email.models import OutboundEmail
from domain.email.services import attachments_of
from domain.families.models import Family, FamilyMember
from domain.families.records import local_today
from domain.koppelingen.models import Koppeling
from domain.outbox.handlers import job_handlers
from domain.outbox.models import JobStatus, OutboxJob
from domain.outbox.services import run_job
from tenants.db import db
from tests.browser.test_accessibility import COORDINATOR, TENANT, assert_accessible, sign_in
from tests.browser.test_koppeling_journey import NOOR_BORN, demo_gemeente, in_demo, two_fitting_families
from tests.browser.test_signing_a11y import without_pdf_viewer

pytestmark = pytest.mark.browser


def run_outbox_job(app: Flask, tenant_id: int, dedupe_key: str) -> JobStatus | None:
    """Run one outbox job as the worker would: the real handler map, in the job's tenant context."""
    job_id = in_demo(app, _Tenant(tenant_id), lambda: db.session.scalar(
        select(OutboxJob.id).where(OutboxJob.dedupe_key == dedupe_key)))
    assert job_id is not None, f"no outbox job {dedupe_key}"
    return in_demo(app, _Tenant(tenant_id),
                   lambda: run_job(job_id, job_handlers(), lease_seconds=120, retry_base_seconds=1))


class _Tenant:
    def __init__(self, tenant_id: int):
        self.id = tenant_id


def test_the_proefperiode_agreement_from_sending_to_a_verified_sealed_pdf(context: BrowserContext, app: Flask,
                                                                        demo_login, tmp_path) -> None:
    gemeente = demo_gemeente(app)
    vraag_id, vraag_name, steun_name = two_fitting_families(app, gemeente)
    today = local_today()

    def koppeling_in_kennismaking():
        coordinator_id = db.session.scalar(select(StaffUser.id).where(StaffUser.email == COORDINATOR[0]))
        first, last = steun_name.split(" ", 1)
        steun_id = db.session.scalar(select(FamilyMember.family_id).where(FamilyMember.first_name == first,
                                                                          FamilyMember.last_name == last))
        koppeling = Koppeling(tenant_id=gemeente.id, vraag_family_id=vraag_id, steun_family_id=steun_id,
                              status="kennismaking", proposed_on=today, coordinator_id=coordinator_id,
                              vraag_agreed_on=today, steun_agreed_on=today, schedule="Woensdagmiddag",
                              support_codes=["opvang_middag"])
        db.session.add(koppeling)
        db.session.flush()
        return koppeling.id
    koppeling_id = in_demo(app, gemeente, koppeling_in_kennismaking)

    page: Page = context.new_page()
    without_pdf_viewer(page)
    sign_in(page, demo_login, COORDINATOR[0])
    page.goto(f"{TENANT}/app/koppelingen/{koppeling_id}")
    expect(page.locator("#koppeling-status")).to_have_text("kennismaking")

    # The coordinator makes the proefperiode agreement; the worker renders it (run here).
    page.get_by_label("Huisregels").fill("Geen snoep voor het eten.")
    page.get_by_role("button", name="Afsprakenovereenkomst voor de proefperiode maken").click()
    expect(page.locator("#document-wordt-gemaakt")).to_be_visible()
    document_id = in_demo(app, gemeente, lambda: db.session.scalar(
        select(Document.id).where(Document.koppeling_id == koppeling_id)))
    assert run_outbox_job(app, gemeente.id, f"{RENDER_JOB_KIND}:{document_id}:1") == JobStatus.DONE
    page.goto(f"{TENANT}/app/koppelingen/{koppeling_id}")
    expect(page.locator("#document-status")).to_have_text("klaar om te versturen")
    assert_accessible(page)

    # Sent to both families at once.
    page.get_by_label("Tegelijk: iedereen krijgt nu een link").check()
    page.get_by_role("button", name="Versturen ter ondertekening").click()
    expect(page.get_by_role("main")).to_contain_text("Het document is verstuurd ter ondertekening.")
    assert_accessible(page)

    # The vraaggezin signs through the link in its mail, on its own device.
    def sign_link():
        email = db.session.get(Family, vraag_id).email
        mail = db.session.scalar(select(OutboundEmail).where(OutboundEmail.template == "document_sign_request",
                                                             OutboundEmail.to_address == email))
        return mail.context["link"]
    base_url = page.url.split(TENANT)[0]
    family_device = context.browser.new_context(base_url=base_url, locale="nl-NL")
    try:
        parent = family_device.new_page()
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
    finally:
        family_device.close()

    # The steungezin sits with the coordinator and signs on the coordinator's device.
    page.goto(f"{TENANT}/app/koppelingen/{koppeling_id}")
    page.get_by_role("button", name=f"Hier laten ondertekenen door {steun_name}").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Afsprakenovereenkomst proefperiode")
    page.get_by_label("Ik heb het document gelezen en ga akkoord").check()
    page.get_by_label("Je volledige naam").fill(steun_name)
    page.get_by_role("button", name="Ondertekenen").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Bedankt: je hebt ondertekend")

    # Everyone signed: the worker makes, seals and mails the final PDF (run here).
    assert run_outbox_job(app, gemeente.id, f"document-finalise:{document_id}") == JobStatus.DONE
    assert FINALISE_JOB_KIND == "document.finalise"

    def sealed_and_mailed():
        document = db.session.get(Document, document_id)
        assert document.status == DocumentStatus.VERZEGELD and document.seal_status == SealStatus.SEALED
        final_pdf = bytes(document.final_pdf)
        assert hashlib.sha256(final_pdf).hexdigest() == document.final_sha256
        koppeling = db.session.get(Koppeling, koppeling_id)
        for family_id in (koppeling.vraag_family_id, koppeling.steun_family_id):
            address = db.session.get(Family, family_id).email
            mail = db.session.scalar(select(OutboundEmail).where(OutboundEmail.template == SEALED_EMAIL_TEMPLATE,
                                                                 OutboundEmail.to_address == address))
            assert mail is not None, f"no sealed PDF mailed to {address}"
            [attachment] = attachments_of(mail.context)
            assert attachment.mime_type == "application/pdf" and attachment.content == final_pdf
        return final_pdf
    final_pdf = in_demo(app, gemeente, sealed_and_mailed)

    # The koppeling page offers the sealed PDF; it is the stored one.
    page.get_by_role("link", name="Terug naar de koppeling").click()
    expect(page.locator("#ondertekenen")).to_contain_text("ondertekend en verzegeld")
    assert_accessible(page)
    link = page.get_by_role("main").get_by_role(
        "link", name=re.compile(r"(ondertekende|verzegelde) PDF", re.IGNORECASE)).first
    downloaded = page.request.get(link.get_attribute("href"))
    assert downloaded.ok and downloaded.body() == final_pdf

    # /verifieer accepts it, and reports a copy with one byte changed as altered.
    original = tmp_path / "afsprakenovereenkomst-verzegeld.pdf"
    original.write_bytes(final_pdf)
    changed = bytearray(final_pdf)
    middle = len(changed) // 2
    changed[middle] = changed[middle] ^ 0x01
    altered = tmp_path / "afsprakenovereenkomst-veranderd.pdf"
    altered.write_bytes(bytes(changed))

    checker = context.new_page()
    checker.goto("/verifieer")
    checker.get_by_label("PDF-bestand").set_input_files(str(original))
    checker.get_by_role("button", name="Controleren").click()
    expect(checker.get_by_role("heading", level=2).first).to_have_text(
        "Dit is een verzegeld document van het Buurtgezinnen-platform en het is niet veranderd")
    expect(checker.get_by_role("main")).to_contain_text(vraag_name)
    expect(checker.get_by_role("main")).to_contain_text(steun_name)
    assert_accessible(checker)
    checker.get_by_label("PDF-bestand").set_input_files(str(altered))
    checker.get_by_role("button", name="Controleren").click()
    expect(checker.get_by_role("heading", level=2).first).to_have_text("Dit document is veranderd na het verzegelen")
    assert_accessible(checker)
    checker.close()

    # Signed by both: the proefperiode starts.
    page.get_by_label("Startdatum van de proefperiode").fill(today.isoformat())
    page.get_by_role("button", name="Proefperiode starten").click()
    expect(page.locator("#koppeling-status")).to_have_text("proefperiode")
    assert_accessible(page)
