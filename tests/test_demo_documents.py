"""The demo's signed agreements: per demo gemeente a koppeling in proefperiode with its sealed
afsprakenovereenkomst, and the sealed samenwerkingsovereenkomst; seeding twice adds nothing; the
sealed PDF is downloadable by the own gemeente only."""

from __future__ import annotations

import pytest
from flask import current_app
from sqlalchemy import func, select

from domain.accounts.models import TenantRole
from domain.audit.models import AuditEvent
from domain.demo.services import DEMO_TENANTS, seed_demo
from domain.documents.models import Contract, Document, DocumentKind, DocumentSigner, DocumentStatus, SealStatus
from domain.documents.sealing import verify_pdf
from domain.email.models import OutboundEmail
from domain.koppelingen.models import Koppeling, KoppelingStatus
from domain.outbox.models import JobStatus, OutboxJob
from tenants.db import db
from tenants.services import tenant_by_slug, use_tenant
from tests.conftest import Gemeente, login, random_ip


@pytest.fixture
def seeded(app_ctx):
    use_tenant(None)
    seed_demo()
    yield
    use_tenant(None)


def _sealed_agreement(slug: str) -> Document:
    use_tenant(tenant_by_slug(slug))
    return db.session.scalars(
        select(Document)
        .join(Koppeling, (Koppeling.tenant_id == Document.tenant_id) & (Koppeling.id == Document.koppeling_id))
        .where(Document.kind == DocumentKind.AFSPRAKEN_PROEFPERIODE, Document.status == DocumentStatus.VERZEGELD,
               Koppeling.status == KoppelingStatus.PROEFPERIODE)
        .order_by(Document.id)).first()


@pytest.mark.parametrize("demo", DEMO_TENANTS, ids=lambda demo: demo.slug)
def test_every_demo_gemeente_has_a_sealed_agreement_and_a_sealed_contract(seeded, demo):
    document = _sealed_agreement(demo.slug)
    assert document is not None, f"{demo.slug}: no koppeling in proefperiode with a sealed agreement"
    settings = current_app.extensions["settings"]
    assert document.seal_status == SealStatus.SEALED and document.final_pdf
    assert verify_pdf(bytes(document.final_pdf), settings=settings).verdict == "intact"
    signers = db.session.scalars(select(DocumentSigner).where(DocumentSigner.document_id == document.id)).all()
    assert sorted(s.role for s in signers) == ["steungezin", "vraaggezin"]
    assert all(s.signed_at and s.identity_checked_at and s.typed_name == s.name and str(s.ip) == "127.0.0.1"
               and s.user_agent == "demo" for s in signers)
    methods = {e.details.get("method") for e in db.session.scalars(select(AuditEvent).where(
        AuditEvent.action == "document.identity_checked", AuditEvent.object_id == document.id))}
    assert methods == {"geboortedatum"}
    koppeling = db.session.get(Koppeling, document.koppeling_id)
    assert koppeling.proefperiode_start_on is not None

    contract = db.session.scalars(select(Contract).order_by(Contract.id)).first()
    assert contract is not None and contract.ends_on.year == contract.starts_on.year + 1
    assert contract.contact_email == f"gemeente@{demo.slug}.example.org"
    samenwerking = db.session.scalars(select(Document).where(Document.contract_id == contract.id)).first()
    assert samenwerking.kind == DocumentKind.SAMENWERKING and samenwerking.status == DocumentStatus.VERZEGELD
    assert verify_pdf(bytes(samenwerking.final_pdf), settings=settings).verdict == "intact"
    roles = db.session.scalars(select(DocumentSigner.role).where(DocumentSigner.document_id == samenwerking.id))
    assert sorted(roles) == ["gemeente", "stichting"]
    # The worker's jobs were run during seeding: nothing is left for it to render or seal.
    open_jobs = db.session.scalar(select(func.count()).select_from(OutboxJob).where(
        OutboxJob.kind.in_(["document.render", "document.finalise"]), OutboxJob.status != JobStatus.DONE))
    assert open_jobs == 0


def test_seeding_twice_adds_no_documents_signers_jobs_or_mails(seeded):
    models = (Koppeling, Contract, Document, DocumentSigner, OutboxJob, OutboundEmail, AuditEvent)

    def counts():
        result = {}
        for demo in DEMO_TENANTS:
            use_tenant(tenant_by_slug(demo.slug))
            result[demo.slug] = tuple(db.session.scalar(select(func.count()).select_from(model)) for model in models)
        use_tenant(None)
        return result

    before = counts()
    assert all(row[2] >= 2 and row[5] > 0 for row in before.values()), before
    assert seed_demo() == []
    assert counts() == before


def test_the_sealed_pdfs_download_for_the_own_gemeente_only(app, make):
    own, other = DEMO_TENANTS[0].slug, DEMO_TENANTS[1].slug
    with app.app_context():
        use_tenant(None)
        seed_demo()
        document = _sealed_agreement(own)
        mine = (document.id, document.koppeling_id, bytes(document.final_pdf))
        theirs = _sealed_agreement(other).id
        use_tenant(tenant_by_slug(own))
        contract_document = db.session.scalars(select(Document).where(
            Document.kind == DocumentKind.SAMENWERKING, Document.status == DocumentStatus.VERZEGELD)).first()
        contract = (contract_document.id, bytes(contract_document.final_pdf))
        tenant = tenant_by_slug(own)
        gemeente = Gemeente(tenant.id, tenant.slug, tenant.name)
        db.session.remove()
    # Fresh accounts of the demo gemeente: the demo users' TOTP steps are used by the browser tests.
    coordinator, admin = make.user(gemeente), make.user(gemeente, TenantRole.TENANT_ADMIN)

    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = random_ip()
    login(client, coordinator, f"/{own}")
    page = client.get(f"/{own}/app/koppelingen/{mine[1]}").get_data(as_text=True)
    link = f"/{own}/app/documenten/{mine[0]}.pdf?ondertekend=1"
    assert link in page.replace("&amp;", "&")
    response = client.get(link)
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert response.data == mine[2]
    assert client.get(f"/{own}/app/documenten/{theirs}.pdf?ondertekend=1").status_code == 404
    assert client.get(f"/{other}/app/documenten/{theirs}.pdf?ondertekend=1").status_code in (302, 403, 404)

    admin_client = app.test_client()
    admin_client.environ_base["REMOTE_ADDR"] = random_ip()
    login(admin_client, admin, f"/{own}")
    settings_page = admin_client.get(f"/{own}/app/instellingen").get_data(as_text=True)
    assert "Ondertekende overeenkomst (PDF)" in settings_page
    download = f"/{own}/app/documenten/{contract[0]}.pdf?ondertekend=1&download=1"
    assert download in settings_page.replace("&amp;", "&")
    response = admin_client.get(download)
    assert response.status_code == 200 and response.data == contract[1]
    assert "attachment" in response.headers["Content-Disposition"]
