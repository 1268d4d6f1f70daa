"""Outgoing mail and failed jobs for staff; failed-job counts (only counts) for the national office."""

from __future__ import annotations

import dataclasses
import re
import secrets
import uuid

import pytest
from sqlalchemy import select

from domain.accounts.models import NationalRole, TenantRole
from domain.audit.models import AuditEvent
from domain.email.models import OutboundEmail
from domain.outbox.models import OutboxJob
from tenants.db import db
from tenants.services import use_tenant
from tests.conftest import csrf_token, login


def _failed_mail(app, gemeente, to="ouder@example.org"):
    with app.app_context():
        use_tenant(gemeente.id)
        mail = OutboundEmail(tenant_id=gemeente.id, to_address=to, template="staff_invitation",
                             subject="Je bent uitgenodigd", body_text="Beste ouder, welkom.",
                             context={}, status="failed", attempts=1, last_error="550 5.1.1 onbekend adres")
        db.session.add(mail)
        db.session.flush()
        job = OutboxJob(tenant_id=gemeente.id, kind="email.send", payload={"email_id": mail.id},
                        dedupe_key=f"email:{uuid.uuid4().hex}", status="failed", attempts=1, max_attempts=8,
                        last_error="PermanentJobError: 550 5.1.1 onbekend adres")
        db.session.add(job)
        db.session.commit()
        ids = mail.id, job.id
        db.session.remove()
    return ids


def test_admin_reads_outgoing_mail_and_the_reading_is_audited(app, client, make):
    gemeente = make.tenant()
    admin = make.user(gemeente, TenantRole.TENANT_ADMIN)
    mail_id, _ = _failed_mail(app, gemeente)
    login(client, admin, f"/{gemeente.slug}")

    listing = client.get(f"/{gemeente.slug}/app/berichten/?status=failed").get_data(as_text=True)
    assert "ouder@example.org" in listing and "550 5.1.1" in listing
    detail = client.get(f"/{gemeente.slug}/app/berichten/{mail_id}")
    assert detail.status_code == 200 and "Beste ouder, welkom." in detail.get_data(as_text=True)
    with app.app_context():
        use_tenant(gemeente.id)
        viewed = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "email.viewed")).all()
        assert [(event.object_id, event.actor_id) for event in viewed] == [(mail_id, admin.id)]


def test_admin_retries_a_failed_job(app, client, make):
    gemeente = make.tenant()
    admin = make.user(gemeente, TenantRole.TENANT_ADMIN)
    mail_id, job_id = _failed_mail(app, gemeente)
    login(client, admin, f"/{gemeente.slug}")
    page = f"/{gemeente.slug}/app/berichten/mislukt"
    assert "onbekend adres" in client.get(page).get_data(as_text=True)

    response = client.post(f"{page}/{job_id}/opnieuw", data={"csrf_token": csrf_token(client, page)})
    assert response.status_code == 302
    with app.app_context():
        use_tenant(gemeente.id)
        job = db.session.get(OutboxJob, job_id)
        assert (job.status, job.attempts, job.finished_at) == ("pending", 0, None)
        assert db.session.get(OutboundEmail, mail_id).status == "queued"
        retried = select(AuditEvent.action).where(AuditEvent.object_type == "outbox_job",
                                                  AuditEvent.object_id == job_id)
        assert db.session.scalar(retried) == "job.retried"


def test_coordinator_sees_failures_but_cannot_retry_and_viewer_sees_nothing(app, client, make):
    gemeente = make.tenant()
    coordinator = make.user(gemeente)
    _, job_id = _failed_mail(app, gemeente)
    login(client, coordinator, f"/{gemeente.slug}")
    page = f"/{gemeente.slug}/app/berichten/mislukt"
    html = client.get(page).get_data(as_text=True)
    assert "onbekend adres" in html and "Opnieuw proberen" not in html
    response = client.post(f"{page}/{job_id}/opnieuw", data={"csrf_token": csrf_token(client, page)})
    assert response.status_code == 403
    with app.app_context():
        use_tenant(gemeente.id)
        assert db.session.get(OutboxJob, job_id).status == "failed"

    viewer_client = app.test_client()
    viewer = make.user(gemeente, TenantRole.GEMEENTE_VIEWER)
    login(viewer_client, viewer, f"/{gemeente.slug}")
    assert viewer_client.get(f"/{gemeente.slug}/app/berichten/").status_code == 403


def test_national_admin_sees_failed_job_counts_only(app, make):
    gemeente = make.tenant()
    secret_address = f"geheim-{uuid.uuid4().hex[:6]}@example.org"
    _failed_mail(app, gemeente, to=secret_address)
    _failed_mail(app, gemeente, to=secret_address)

    admin_client = app.test_client()
    login(admin_client, make.national_user(NationalRole.NATIONAL_ADMIN), "/landelijk")
    html = admin_client.get("/landelijk/").get_data(as_text=True)
    table = html[html.index('id="cijfers-tabel"'):]
    headers = re.findall(r'<th scope="col"[^>]*>\s*<a[^>]*>([^<]*)</a>', table)
    row = table[table.index(f">{gemeente.name}</th>"):]
    cells = re.findall(r'<td class="utrecht-table__cell">([^<]*)</td>', row[:row.index("</tr>")])
    # The row's first cell is a header (the gemeente's name); the failed jobs are counted, not hidden.
    assert cells[headers.index("Mislukte achtergrondtaken") - 1] == "2"
    assert secret_address not in html and "onbekend adres" not in html

    analyst_client = app.test_client()
    login(analyst_client, make.national_user(NationalRole.NATIONAL_ANALYST), "/landelijk")
    assert "Mislukte achtergrondtaken" not in analyst_client.get("/landelijk/").get_data(as_text=True)


def _mail_with_link(app, gemeente, body: str) -> int:
    with app.app_context():
        use_tenant(gemeente.id)
        mail = OutboundEmail(tenant_id=gemeente.id, to_address="nieuw@example.org", template="staff_invitation",
                             subject="Je bent uitgenodigd", body_text=body, context={}, status="sent")
        db.session.add(mail)
        db.session.commit()
        mail_id = mail.id
        db.session.remove()
    return mail_id


@pytest.mark.parametrize("backend, shown", [("smtp", False), ("sink", True)])
def test_a_colleague_never_reads_someones_personal_link(app, client, make, monkeypatch, backend, shown):
    """Whoever holds an invitation, reset, evaluation or signing link acts as its owner: colleagues see a
    placeholder. Only when mail is never delivered (the demo's sink) is the stored mail the way to it."""
    gemeente = make.tenant()
    admin = make.user(gemeente, TenantRole.TENANT_ADMIN)
    token = secrets.token_urlsafe(32)
    link = f"https://buurtgezinnen.example.org/{gemeente.slug}/uitnodiging/{token}"
    public = f"https://buurtgezinnen.example.org/{gemeente.slug}/aanmelden/vraaggezin"
    mail_id = _mail_with_link(app, gemeente, f"Maak je account aan via deze link:\n{link}\n\nOf kijk op {public}")
    monkeypatch.setitem(app.extensions, "settings",
                        dataclasses.replace(app.extensions["settings"], mail_backend=backend))
    login(client, admin, f"/{gemeente.slug}")
    page = client.get(f"/{gemeente.slug}/app/berichten/{mail_id}").get_data(as_text=True)
    assert (token in page) is shown
    assert ("[persoonlijke link, alleen voor de ontvanger]" in page) is not shown
    assert public in page and "Maak je account aan via deze link:" in page
