"""Documents and their signers.

``document_templates`` is national (the office keeps the texts, versioned; a document keeps the
version it was made from). A ``documents`` row belongs to a gemeente: an afsprakenovereenkomst of a
koppeling or the gemeente's samenwerkingsovereenkomst (a ``contracts`` row). The PDF as sent and the
final sealed PDF are stored with their SHA-256; each party is a ``document_signers`` row with a
personal link (only the SHA-256 of its token is kept).
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import INET, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from tenants.db import Base, TenantScoped, Timestamped, tenant_fk


class DocumentKind(StrEnum):
    AFSPRAKEN_PROEFPERIODE = "afspraken_proefperiode"
    AFSPRAKEN_DEFINITIEF = "afspraken_definitief"
    SAMENWERKING = "samenwerking"


class DocumentStatus(StrEnum):
    CONCEPT = "concept"  # made, the PDF not rendered yet
    KLAAR = "klaar"  # rendered: preview, then send
    VERZONDEN = "verzonden"  # out for signing
    GEWEIGERD = "geweigerd"  # a party declined
    ONDERTEKEND = "ondertekend"  # every party signed; the final PDF is being made
    VERZEGELD = "verzegeld"  # final PDF sealed and sent
    INGETROKKEN = "ingetrokken"  # withdrawn by the coordinator


class SealStatus(StrEnum):
    NONE = "geen"
    PENDING = "wacht"  # waiting for the worker (or a time-stamp authority that was down)
    SEALED = "verzegeld"
    FAILED = "mislukt"



class DocumentTemplate(Timestamped, Base):
    """A version of a document text (sandboxed Jinja), kept by the national office. Never changed
    once made: an edit is a new version."""

    __tablename__ = "document_templates"
    __table_args__ = (UniqueConstraint("kind", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[DocumentKind] = mapped_column(String(32))
    version: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str | None] = mapped_column(String(254))


class Contract(Timestamped, TenantScoped, Base):
    """The gemeente's samenwerkingsovereenkomst with the stichting: its term and what it aims for."""

    __tablename__ = "contracts"
    __table_args__ = (UniqueConstraint("tenant_id", "id"), Index("ix_contracts_ends_on", "ends_on"))

    id: Mapped[int] = mapped_column(primary_key=True)
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)
    koppelingen_target: Mapped[int] = mapped_column(Integer)
    budget_eur: Mapped[int] = mapped_column(Integer)
    contact_name: Mapped[str] = mapped_column(String(200))  # signs for the gemeente
    contact_email: Mapped[str] = mapped_column(String(254))


class Document(Timestamped, TenantScoped, Base):
    __tablename__ = "documents"
    __table_args__ = (
        UniqueConstraint("tenant_id", "id"),
        tenant_fk("koppeling_id", "koppelingen"),
        tenant_fk("contract_id", "contracts"),
        Index("ix_documents_tenant_koppeling", "tenant_id", "koppeling_id"),
        Index("ix_documents_final_sha256", "final_sha256"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[DocumentKind] = mapped_column(String(32))
    template_id: Mapped[int] = mapped_column(ForeignKey("document_templates.id"))
    template_version: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(200))
    koppeling_id: Mapped[int | None] = mapped_column(Integer)
    contract_id: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[DocumentStatus] = mapped_column(String(16), default=DocumentStatus.CONCEPT)
    signing_order: Mapped[str] = mapped_column(String(16), default="parallel")  # or "volgorde"
    # The values rendered into the template, frozen when the document was made.
    context: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    pdf: Mapped[bytes | None] = mapped_column(LargeBinary)
    sha256: Mapped[str | None] = mapped_column(String(64))
    rendered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    render_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    final_pdf: Mapped[bytes | None] = mapped_column(LargeBinary)
    final_sha256: Mapped[str | None] = mapped_column(String(64))
    seal_status: Mapped[SealStatus] = mapped_column(String(16), default=SealStatus.NONE)
    sealed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    seal_error: Mapped[str | None] = mapped_column(Text)


class DocumentSigner(Timestamped, TenantScoped, Base):
    """One party: who, how they prove it is them, and what they did (with time, IP and user agent)."""

    __tablename__ = "document_signers"
    __table_args__ = (
        UniqueConstraint("tenant_id", "id"),
        UniqueConstraint("tenant_id", "token_hash"),
        tenant_fk("document_id", "documents"),
        Index("ix_document_signers_tenant_document", "tenant_id", "document_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(Integer)
    position: Mapped[int] = mapped_column(Integer, default=0)  # order when signing in order
    role: Mapped[str] = mapped_column(String(32))  # vraaggezin, steungezin, gemeente, stichting
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(254))
    family_id: Mapped[int | None] = mapped_column(Integer)
    member_id: Mapped[int | None] = mapped_column(Integer)  # whose date of birth confirms identity
    token_hash: Mapped[str | None] = mapped_column(String(64))
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    reminded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    opened_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    code_hash: Mapped[str | None] = mapped_column(String(64))  # e-mailed code, for gemeente signers
    code_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    identity_checked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    signed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    typed_name: Mapped[str | None] = mapped_column(String(200))
    drawing: Mapped[str | None] = mapped_column(Text)  # SVG path data of a drawn signature, bounded
    declined_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    decline_reason: Mapped[str | None] = mapped_column(Text)
    signed_sha256: Mapped[str | None] = mapped_column(String(64))  # the document's hash as signed
    ip: Mapped[str | None] = mapped_column(INET)
    user_agent: Mapped[str | None] = mapped_column(String(300))
