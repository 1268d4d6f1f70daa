"""Documents for tests, made directly through the ORM (rendering and sealing are tested elsewhere):
a small real PDF with its SHA-256, in status klaar, or already signed by everyone."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from functools import lru_cache

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert

from domain.documents.models import Document, DocumentKind, DocumentSigner, DocumentStatus, DocumentTemplate
from domain.documents.templates import ensure_default_templates
from tenants.db import db
from tenants.services import use_tenant

# Below every real version: a test's template is never the newest text that real documents are made from.
TEMPLATE_VERSION = 0


@lru_cache(maxsize=4)
def tiny_pdf(text: str = "Afsprakenovereenkomst proefperiode") -> bytes:
    from weasyprint import HTML

    return HTML(string=f"<p>{text}</p>").write_pdf()


def template_id(kind: DocumentKind) -> int:
    """A national template row of ``kind`` for test documents (made once per database)."""
    ensure_default_templates()  # the real version 1 first, so that stays the newest
    db.session.execute(insert(DocumentTemplate).values(kind=kind, version=TEMPLATE_VERSION, title="Testtekst",
                                                       body="<p>{{ gemeente }}</p>", created_by="tests")
                       .on_conflict_do_nothing())
    return db.session.scalar(select(DocumentTemplate.id).where(DocumentTemplate.kind == kind,
                                                               DocumentTemplate.version == TEMPLATE_VERSION))


def add_document(tenant_id: int, *, koppeling_id: int | None = None, contract_id: int | None = None,
                 kind: DocumentKind = DocumentKind.AFSPRAKEN_PROEFPERIODE,
                 status: DocumentStatus = DocumentStatus.KLAAR, pdf: bytes | None = None,
                 title: str = "Afsprakenovereenkomst proefperiode") -> Document:
    """A document in the current tenant and transaction (the caller commits)."""
    pdf = tiny_pdf() if pdf is None else pdf
    document = Document(tenant_id=tenant_id, kind=kind, template_id=template_id(kind),
                        template_version=TEMPLATE_VERSION, title=title, koppeling_id=koppeling_id,
                        contract_id=contract_id, status=status, context={},
                        pdf=pdf, sha256=hashlib.sha256(pdf).hexdigest(), rendered_at=datetime.now(UTC))
    db.session.add(document)
    db.session.flush()
    return document


def make_document(app, gemeente, koppeling_id: int | None = None, **kwargs) -> int:
    with app.app_context():
        use_tenant(gemeente.id)
        try:
            document = add_document(gemeente.id, koppeling_id=koppeling_id, **kwargs)
            db.session.commit()
            return document.id
        finally:
            db.session.remove()


def signed_agreement(app, gemeente, koppeling_id: int) -> int:
    """A proefperiode agreement of the koppeling that every party signed (status ondertekend)."""
    now = datetime.now(UTC)
    with app.app_context():
        use_tenant(gemeente.id)
        try:
            document = add_document(gemeente.id, koppeling_id=koppeling_id, status=DocumentStatus.ONDERTEKEND)
            document.sent_at = document.completed_at = now
            for position, role in enumerate(("vraaggezin", "steungezin")):
                db.session.add(DocumentSigner(tenant_id=gemeente.id, document_id=document.id, position=position,
                                              role=role, name=f"Ondertekenaar {position + 1}", sent_at=now,
                                              identity_checked_at=now, signed_at=now, typed_name="x",
                                              signed_sha256=document.sha256))
            db.session.commit()
            return document.id
        finally:
            db.session.remove()
