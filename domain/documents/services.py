"""Making documents: the afsprakenovereenkomst of a koppeling and the gemeente's samenwerkingsovereenkomst.

A document is made with its values frozen (``context``: what the families, the coordinator and the
gemeente are called and what was agreed, as it stood at that moment) and the newest version of its
national text; it starts as ``concept``. The PDF is rendered by the worker: an outbox job
``document.render`` (``RENDER_JOB``) stores the PDF, its SHA-256 and ``klaar``; a document that
cannot be rendered keeps ``render_error`` and the job is parked (no retry helps a broken text).
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from domain.accounts.models import StaffUser
from domain.audit.services import Actor, record
from domain.documents.models import Contract, Document, DocumentKind, DocumentStatus, DocumentTemplate
from domain.documents.rendering import RenderError, document_html, render_pdf
from domain.documents.templates import newest_template
from domain.families.models import Family, FamilyMember, MemberRole
from domain.families.records import age_of, contact_name, full_name, local_today
from domain.families.support_types import support_labels
from domain.koppelingen.models import Koppeling, KoppelingStatus
from domain.outbox.models import OutboxJob
from domain.outbox.services import JobHandler, PermanentJobError, enqueue
from tenants.db import db
from tenants.models import Tenant

RENDER_JOB_KIND = "document.render"
STICHTING = "Stichting Buurtgezinnen"
AGREEMENT_KINDS = (DocumentKind.AFSPRAKEN_PROEFPERIODE, DocumentKind.AFSPRAKEN_DEFINITIEF)
# What the coordinator fills in for an afsprakenovereenkomst, with the most characters each may have.
DETAIL_FIELDS: dict[str, int] = {"huisregels": 2000, "vervoer": 1000, "kosten": 1000, "bij_problemen": 2000}
DETAIL_LABELS = {"huisregels": "Huisregels", "vervoer": "Vervoer", "kosten": "Kosten",
                 "bij_problemen": "Als er iets gebeurt"}
MAX_DETAIL_LINES = 40
# A new agreement may replace one in these states; one that is out for signing or signed may not.
REPLACEABLE = (DocumentStatus.CONCEPT, DocumentStatus.KLAAR, DocumentStatus.GEWEIGERD, DocumentStatus.INGETROKKEN)
RENEWAL_NOTICE_DAYS = 90
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
MAX_ERROR_CHARS = 2000
STATUS_LABELS = {
    DocumentStatus.CONCEPT: "wordt gemaakt",
    DocumentStatus.KLAAR: "klaar om te versturen",
    DocumentStatus.VERZONDEN: "verstuurd om te ondertekenen",
    DocumentStatus.GEWEIGERD: "geweigerd door een partij",
    DocumentStatus.ONDERTEKEND: "door iedereen ondertekend",
    DocumentStatus.VERZEGELD: "ondertekend en verzegeld",
    DocumentStatus.INGETROKKEN: "ingetrokken",
}


class DocumentError(ValueError):
    """A document that cannot be made now; the message says why, in Dutch. ``field`` names a form field."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


# --- reading --------------------------------------------------------------------------------------------


def latest_document(koppeling: Koppeling, kind: DocumentKind | str | None = None) -> Document | None:
    """The koppeling's newest document of ``kind`` (of either agreement kind when None)."""
    kinds = [DocumentKind(kind)] if kind is not None else list(AGREEMENT_KINDS)
    return db.session.scalars(select(Document).where(Document.koppeling_id == koppeling.id,
                                                     Document.kind.in_(kinds))
                              .order_by(Document.id.desc()).limit(1)).first()


def latest_contract_document(contract: Contract) -> Document | None:
    return db.session.scalars(select(Document).where(Document.contract_id == contract.id)
                              .order_by(Document.id.desc()).limit(1)).first()


def agreement_kind_for(koppeling: Koppeling) -> DocumentKind | None:
    """Which agreement the koppeling needs now: the proefperiode one before it starts, the
    definitive one during the proefperiode (and after, to replace it); None once it has ended."""
    status = KoppelingStatus(koppeling.status)
    if status in (KoppelingStatus.VOORGESTELD, KoppelingStatus.KENNISMAKING):
        return DocumentKind.AFSPRAKEN_PROEFPERIODE
    if status in (KoppelingStatus.PROEFPERIODE, KoppelingStatus.DEFINITIEF):
        return DocumentKind.AFSPRAKEN_DEFINITIEF
    return None


# --- making ----------------------------------------------------------------------------------------------


def clean_details(details: dict[str, Any]) -> dict[str, str]:
    """The coordinator's texts, trimmed and bounded; ``DocumentError`` naming the field otherwise."""
    cleaned: dict[str, str] = {}
    for name, limit in DETAIL_FIELDS.items():
        value = (details or {}).get(name)
        if value is None:
            value = ""
        if not isinstance(value, str):
            raise DocumentError(f"{DETAIL_LABELS[name]}: dit moet tekst zijn.", name)
        value = _CONTROL.sub("", value.replace("\r\n", "\n").replace("\r", "\n")).strip()
        if len(value) > limit:
            raise DocumentError(f"{DETAIL_LABELS[name]}: hoogstens {limit} tekens (nu {len(value)}).", name)
        if value.count("\n") >= MAX_DETAIL_LINES:
            raise DocumentError(f"{DETAIL_LABELS[name]}: hoogstens {MAX_DETAIL_LINES} regels.", name)
        cleaned[name] = value
    unknown = set(details or {}) - set(DETAIL_FIELDS)
    if unknown:
        raise DocumentError(f"Onbekende velden: {', '.join(sorted(unknown))}.")
    return cleaned


def _members(family_id: int) -> list[FamilyMember]:
    return list(db.session.scalars(select(FamilyMember).where(FamilyMember.family_id == family_id)
                                   .order_by(FamilyMember.is_contact.desc(), FamilyMember.id)))


def _party(family: Family, members: list[FamilyMember]) -> dict[str, Any]:
    adults = [m for m in members if m.role == MemberRole.ADULT]
    name = contact_name(members)
    return {"naam": f"het gezin van {name}" if name else f"gezin {family.id}",
            "ouders": [full_name(m) for m in adults], "plaats": family.place or ""}


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value else None


def agreement_context(koppeling: Koppeling, kind: DocumentKind, details: dict[str, str], *,
                      today: date | None = None) -> dict[str, Any]:
    """The values an afsprakenovereenkomst is made with (plain JSON; frozen on the document)."""
    today = today or local_today()
    tenant = db.session.get(Tenant, koppeling.tenant_id)
    vraag = db.session.scalar(select(Family).where(Family.id == koppeling.vraag_family_id))
    steun = db.session.scalar(select(Family).where(Family.id == koppeling.steun_family_id))
    vraag_members, steun_members = _members(vraag.id), _members(steun.id)
    children = sorted((m for m in vraag_members if m.role == MemberRole.CHILD),
                      key=lambda m: (-(age_of(m, today) or 0), m.first_name))
    coordinator = (db.session.scalar(select(StaffUser).where(StaffUser.id == koppeling.coordinator_id))
                   if koppeling.coordinator_id is not None else None)
    labels = support_labels()
    return {
        "gemeente": tenant.name,
        "stichting": STICHTING,
        "datum": today.isoformat(),
        "koppeling_id": koppeling.id,
        "vraaggezin": _party(vraag, vraag_members),
        "steungezin": _party(steun, steun_members),
        "kinderen": [{"voornaam": m.first_name, "leeftijd": age_of(m, today)} for m in children],
        "steun": [labels.get(code, code) for code in koppeling.support_codes or []],
        "wanneer": koppeling.schedule or "",
        "waar": koppeling.location or "",
        **details,
        "proefperiode": {"maanden": int(tenant.setting("proefperiode_months")),
                         "start": _iso(koppeling.proefperiode_start_on), "einde": _iso(koppeling.proefperiode_end_on)},
        "definitief": {"start": _iso(koppeling.definitief_on)},
        "begeleiding_tot": _iso(koppeling.guidance_end_on),
        "evaluatie_maanden": int(tenant.setting("evaluation_interval_months")),
        "coordinator": {"naam": coordinator.full_name if coordinator else "de coördinator",
                        "email": coordinator.email if coordinator else ""},
    }


def contract_context(contract: Contract, *, today: date | None = None) -> dict[str, Any]:
    today = today or local_today()
    tenant = db.session.get(Tenant, contract.tenant_id)
    return {
        "gemeente": tenant.name,
        "stichting": STICHTING,
        "datum": today.isoformat(),
        "besparing_per_koppeling": int(tenant.setting("savings_per_koppeling_eur")),
        "contract": {
            "start": contract.starts_on.isoformat(), "einde": contract.ends_on.isoformat(),
            "verlengen_voor": (contract.ends_on - timedelta(days=RENEWAL_NOTICE_DAYS)).isoformat(),
            "koppelingen": contract.koppelingen_target, "budget": contract.budget_eur,
            "contactpersoon": contract.contact_name, "contact_email": contract.contact_email,
        },
    }


def _make(kind: DocumentKind, context: dict[str, Any], actor: Actor, tenant_id: int, **owner: int) -> Document:
    template = newest_template(kind)
    document = Document(tenant_id=tenant_id, kind=kind.value, template_id=template.id,
                        template_version=template.version, title=template.title, status=DocumentStatus.CONCEPT,
                        context=context, **owner)
    db.session.add(document)
    db.session.flush()
    record("document.created", actor, object_type="document", object_id=document.id,
           details={"kind": kind.value, "template_version": template.version, **owner})
    _enqueue_render(document)
    return document


def _enqueue_render(document: Document) -> None:
    prefix = f"{RENDER_JOB_KIND}:{document.id}:"
    attempts = db.session.scalar(select(func.count()).select_from(OutboxJob)
                                 .where(OutboxJob.dedupe_key.startswith(prefix, autoescape=True)))
    enqueue(RENDER_JOB_KIND, {"document_id": document.id}, document.tenant_id, dedupe_key=f"{prefix}{attempts + 1}",
            max_attempts=3)


def create_agreement(koppeling: Koppeling, kind: DocumentKind | str, details: dict[str, Any], actor: Actor) -> Document:
    """Make the koppeling's afsprakenovereenkomst of ``kind`` as a concept and have it rendered.
    ``DocumentError`` (nothing changed) when it is not the moment or the details are wrong. The
    caller commits."""
    try:
        kind = DocumentKind(kind)
    except ValueError:
        raise DocumentError("Onbekend soort document.") from None
    if kind not in AGREEMENT_KINDS:
        raise DocumentError("Een koppeling heeft alleen afsprakenovereenkomsten.")
    needed = agreement_kind_for(koppeling)
    if needed is None:
        raise DocumentError("Deze koppeling is beëindigd: er komen geen nieuwe afspraken meer.")
    if kind != needed:
        raise DocumentError("De afspraken voor de proefperiode maak je vóór de proefperiode begint."
                            if kind == DocumentKind.AFSPRAKEN_PROEFPERIODE else
                            "De definitieve afspraken maak je tijdens of na de proefperiode.")
    cleaned = clean_details(details)
    current = latest_document(koppeling, kind)
    if current is not None and DocumentStatus(current.status) not in REPLACEABLE:
        raise DocumentError("Deze overeenkomst is al verstuurd of ondertekend. Trek haar eerst in als er iets "
                            "moet veranderen.")
    return _make(kind, agreement_context(koppeling, kind, cleaned), actor, koppeling.tenant_id,
                 koppeling_id=koppeling.id)


def create_contract_document(contract: Contract, actor: Actor) -> Document:
    """Make the gemeente's samenwerkingsovereenkomst for ``contract`` as a concept and have it rendered."""
    current = latest_contract_document(contract)
    if current is not None and DocumentStatus(current.status) not in REPLACEABLE:
        raise DocumentError("Deze samenwerkingsovereenkomst is al verstuurd of ondertekend.")
    return _make(DocumentKind.SAMENWERKING, contract_context(contract), actor, contract.tenant_id,
                 contract_id=contract.id)


def rerender(document: Document, actor: Actor) -> None:
    """Try the render again (after a failed one, e.g. once the national text was fixed it still uses
    the document's own version: a new document is needed for a new text)."""
    if DocumentStatus(document.status) != DocumentStatus.CONCEPT:
        raise DocumentError("Dit document is al gemaakt.")
    document.render_error = None
    record("document.render_requested", actor, object_type="document", object_id=document.id)
    _enqueue_render(document)


# --- the worker's job -------------------------------------------------------------------------------------


def html_of(document: Document) -> str:
    """The document's full HTML, from its own template version and frozen values."""
    template = db.session.scalar(select(DocumentTemplate).where(DocumentTemplate.id == document.template_id))
    gemeente = (document.context or {}).get("gemeente") or db.session.get(Tenant, document.tenant_id).name
    return document_html(template.body, document.context or {}, gemeente=gemeente, title=document.title)


def render_document(document: Document) -> None:
    """Render and store the PDF (in the caller's transaction). ``RenderError`` when it cannot be made."""
    pdf = render_pdf(html_of(document))
    document.pdf = pdf
    document.sha256 = hashlib.sha256(pdf).hexdigest()
    document.rendered_at = datetime.now(UTC)
    document.render_error = None
    document.status = DocumentStatus.KLAAR
    db.session.flush()


def _document_for(job: OutboxJob) -> Document | None:
    document_id = job.payload.get("document_id") if isinstance(job.payload, dict) else None
    if not isinstance(document_id, int):
        return None
    # In the job's tenant context: RLS and the ORM criteria keep it to the job's own gemeente.
    return db.session.scalar(select(Document).where(Document.id == document_id).with_for_update())


def _run_render(job: OutboxJob) -> None:
    document = _document_for(job)
    if document is None:
        raise PermanentJobError(f"document {job.payload.get('document_id')!r} not found")
    if DocumentStatus(document.status) != DocumentStatus.CONCEPT or document.pdf is not None:
        return  # rendered by an earlier run: the stored PDF and its hash stay as they are
    try:
        render_document(document)
    except RenderError as error:
        raise PermanentJobError(f"render failed: {error}") from None


def _render_failed(job: OutboxJob, error: str, final: bool) -> None:
    if not final:
        return
    document = _document_for(job)
    if document is not None and document.pdf is None:
        document.render_error = error[:MAX_ERROR_CHARS]
        db.session.flush()


RENDER_JOB = JobHandler(run=_run_render, on_failure=_render_failed)
