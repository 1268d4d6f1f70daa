"""Finalising a document every party signed: the final PDF, sealed, stored and mailed to the parties.

The outbox job ``document.finalise`` (enqueued by the signing flow when the last party signs) runs
``finalise``. The final PDF is one HTML rendered by ``rendering.render_pdf``: the document text as
it was made (its template version and frozen context), then a signature page (each party's name,
role, typed name, drawn signature, time, IP address and the document hash they signed) and the
audit trail of the document (sent, opened, identity checked, signed, declined). The exact PDF the
parties signed is carried inside it as an attachment. That PDF is sealed (``sealing.seal_pdf``),
stored with its SHA-256, and mailed to every party with an e-mail address and to the koppeling's
coordinator — the mail holds a reference to the PDF, resolved when it is sent.

When the time-stamp authority is down the job fails *retryably*: the outbox tries again later with
backoff and the document shows ``seal_status = wacht`` meanwhile. Anything else that cannot work
(the text does not render, the key is unusable) parks the job and the document shows ``mislukt``
with the reason in ``seal_error``.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_datetime
from flask import current_app
from jinja2 import Environment, select_autoescape
from markupsafe import Markup
from sqlalchemy import select

from domain.accounts.models import StaffUser
from domain.audit.models import AuditEvent
from domain.audit.services import SYSTEM, record
from domain.documents.models import (
    Contract,
    Document,
    DocumentKind,
    DocumentSigner,
    DocumentStatus,
    DocumentTemplate,
    SealStatus,
)
from domain.documents.rendering import RenderError, document_html, dutch_date, render_pdf
from domain.documents.sealing import EmbeddedFile, SealingError, TimestampUnavailable, seal_pdf, sha256_hex
from domain.email.services import AttachmentRef, queue_email
from domain.email.transport import Attachment
from domain.koppelingen.models import Koppeling
from domain.outbox.models import OutboxJob
from domain.outbox.services import JobHandler, PermanentJobError, utcnow
from tenants.db import db
from tenants.models import Tenant

log = logging.getLogger(__name__)

FINALISE_JOB_KIND = "document.finalise"
SEALED_EMAIL_TEMPLATE = "document_sealed"
TIMEZONE = ZoneInfo("Europe/Amsterdam")
SEAL_REASON = "Verzegeld door het Buurtgezinnen-platform: door alle partijen ondertekend"
SEAL_LOCATION = "Nederland"

ROLE_LABELS = {
    "vraaggezin": "Vraaggezin",
    "steungezin": "Steungezin",
    "gemeente": "Gemeente",
    "stichting": "Stichting Buurtgezinnen",
    "coordinator": "Coördinator",
}
# The last part of an audit action ("document.signed" → "signed") → what the trail says.
EVENT_LABELS = {
    "created": "Document gemaakt",
    "render_requested": "PDF aangevraagd",
    "render": "PDF gemaakt",
    "rendered": "PDF gemaakt",
    "sent": "Verstuurd ter ondertekening",
    "link_sent": "Persoonlijke link verstuurd",
    "resent": "Opnieuw verstuurd",
    "reminded": "Herinnering verstuurd",
    "opened": "Geopend",
    "viewed": "Geopend",
    "downloaded": "Gedownload",
    "code_sent": "Controlecode verstuurd",
    "identity_checked": "Identiteit gecontroleerd",
    "identity_failed": "Identiteitscontrole mislukt",
    "signed": "Ondertekend",
    "declined": "Geweigerd",
    "withdrawn": "Ingetrokken",
    "completed": "Door iedereen ondertekend",
}

# A drawn signature is SVG path data from the signing page. Only absolute move/line/curve commands
# with plain numbers get into the PDF; anything else (a stray quote, a URL, an element) is left out.
_DRAWING = re.compile(r"M[\d.\s,-]+(?:[MLCQSTZ][\d.\s,-]*)*")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
MAX_DRAWING_CHARS = 50_000


def drawing_svg(path_data: str | None) -> Markup | None:
    """An inline SVG of a drawn signature, or None when the path data is missing or not plainly safe."""
    if not path_data or len(path_data) > MAX_DRAWING_CHARS:
        return None
    data = " ".join(path_data.split())
    if not _DRAWING.fullmatch(data):
        return None
    numbers = [float(n) for n in _NUMBER.findall(data)]
    if not numbers or len(numbers) % 2 or len(_NUMBER.sub("", re.sub(r"[MLCQSTZ\s,]", "", data))) != 0:
        return None
    xs, ys = numbers[0::2], numbers[1::2]
    left, top = min(xs) - 4, min(ys) - 4
    width, height = max(max(xs) - left + 4, 1), max(max(ys) - top + 4, 1)
    return Markup(  # noqa: S704 - only digits, '.', '-', spaces, commas and MLCQSTZ pass the patterns above
        f'<svg class="handtekening" xmlns="http://www.w3.org/2000/svg" role="img" '
        f'viewBox="{left:g} {top:g} {width:g} {height:g}" preserveAspectRatio="xMinYMid meet">'
        f'<path d="{data}" fill="none" stroke="#111" stroke-width="2" stroke-linecap="round" '
        f'stroke-linejoin="round"/></svg>'
    )


def moment(value: datetime | None) -> str:
    """'23 november 2026 om 14:05:09' in Dutch time, for the signature page and the audit trail."""
    if value is None:
        return ""
    return format_datetime(value, "d MMMM y 'om' HH:mm:ss", tzinfo=TIMEZONE, locale="nl")


_PAGES = """
<section class="bg-final" style="break-before: page">
<style>
  .bg-final h2 { margin-top: 0; }
  .bg-final .partij { break-inside: avoid; margin: 0 0 6mm; }
  .bg-final .partij th { width: 30%; }
  .bg-final .hash { font-size: 7.5pt; word-break: break-all; }
  .bg-final svg.handtekening { width: 60mm; height: 20mm; display: block; }
  .bg-final .trail td, .bg-final .trail th { font-size: 8.5pt; padding: 1mm 1.5mm; }
  .bg-final .trail th { width: auto; }
</style>
<h2>Ondertekening</h2>
<p>Alle partijen hebben dit document elektronisch ondertekend. Het document dat zij ondertekenden had als
SHA-256-code <span class="hash">{{ document_sha256 }}</span>; dat PDF-bestand zit ongewijzigd als bijlage in dit
bestand.</p>
{% for signer in signers %}
<table class="partij">
  <tr><th scope="row">Naam</th><td>{{ signer.name }}</td></tr>
  <tr><th scope="row">Rol</th><td>{{ signer.role }}</td></tr>
  <tr><th scope="row">Getypte naam</th><td>{{ signer.typed_name }}</td></tr>
  {% if signer.drawing %}<tr><th scope="row">Handtekening</th><td>{{ signer.drawing }}</td></tr>{% endif %}
  <tr><th scope="row">Ondertekend op</th><td>{{ signer.signed_at }}</td></tr>
  <tr><th scope="row">IP-adres</th><td>{{ signer.ip }}</td></tr>
  <tr><th scope="row">Ondertekende versie</th><td class="hash">{{ signer.signed_sha256 }}</td></tr>
</table>
{% endfor %}
</section>
<section class="bg-final" style="break-before: page">
<h2>Audittrail</h2>
<p>Elke stap rond dit document, met tijd (Nederlandse tijd), IP-adres, browser en de SHA-256-code van het
document op dat moment.</p>
<table class="trail">
  <thead><tr><th scope="col">Tijd</th><th scope="col">Wat</th><th scope="col">Wie</th><th scope="col">IP-adres</th>
  <th scope="col">Browser</th><th scope="col">Document (SHA-256)</th></tr></thead>
  <tbody>
  {% for event in events %}
  <tr><td>{{ event.at }}</td><td>{{ event.what }}</td><td>{{ event.who }}</td><td>{{ event.ip }}</td>
  <td>{{ event.user_agent }}</td><td class="hash">{{ event.sha256 }}</td></tr>
  {% else %}
  <tr><td colspan="6">Geen gebeurtenissen vastgelegd.</td></tr>
  {% endfor %}
  </tbody>
</table>
<p>Verzegeld door het Buurtgezinnen-platform op {{ sealed_on }}. Controleer dit bestand op {{ verify_url }}.</p>
</section>
"""


def _pages_template():
    env = Environment(autoescape=select_autoescape(default_for_string=True, default=True))
    return env.from_string(_PAGES)


# --- the job ------------------------------------------------------------------------------------------


def _document_for(job: OutboxJob, *, lock: bool = False) -> Document | None:
    document_id = job.payload.get("document_id") if isinstance(job.payload, dict) else None
    if not isinstance(document_id, int):
        return None
    statement = select(Document).where(Document.id == document_id)
    # In the job's tenant context: RLS and the ORM's tenant criteria keep it to the job's gemeente.
    return db.session.scalar(statement.with_for_update() if lock else statement)


def _run(job: OutboxJob) -> None:
    document = _document_for(job, lock=True)
    if document is None:
        raise PermanentJobError(f"document {job.payload.get('document_id')!r} not found")
    if document.seal_status == SealStatus.SEALED:
        return  # an earlier run got through (its mails were queued with it)
    try:
        finalise(document)
    except TimestampUnavailable:
        raise  # retried with backoff; _record_failure marks the document "wacht"
    except (RenderError, SealingError, ValueError) as error:
        raise PermanentJobError(f"{type(error).__name__}: {error}") from error


def _record_failure(job: OutboxJob, error_text: str, final: bool) -> None:
    document = _document_for(job)
    if document is None or document.seal_status == SealStatus.SEALED:
        return
    document.seal_status = SealStatus.FAILED if final else SealStatus.PENDING
    document.seal_error = error_text


FINALISE_JOB = JobHandler(run=_run, on_failure=_record_failure)


def finalise(document: Document) -> None:
    """Make, seal, store and mail the final PDF of ``document`` (in its tenant context; the caller commits).

    Raises PermanentJobError when the document is not (or no longer) fully signed,
    TimestampUnavailable when the TSA is down, RenderError or SealingError when it cannot be made.
    """
    settings = current_app.extensions["settings"]
    if document.status in (DocumentStatus.INGETROKKEN, DocumentStatus.GEWEIGERD):
        raise PermanentJobError(f"document {document.id} is {document.status}: nothing to finalise")
    signers = list(db.session.scalars(select(DocumentSigner).where(DocumentSigner.document_id == document.id)
                                      .order_by(DocumentSigner.position, DocumentSigner.id)))
    if not signers or any(s.signed_at is None or s.declined_at is not None for s in signers):
        raise PermanentJobError(f"document {document.id}: not every party has signed")
    if document.pdf is None or document.sha256 is None:
        raise PermanentJobError(f"document {document.id} has no PDF as signed")
    tenant = db.session.get(Tenant, document.tenant_id)
    completed_at = document.completed_at or max(s.signed_at for s in signers)
    now = utcnow()

    html = final_html(document, signers, gemeente=tenant.name, sealed_on=now,
                      verify_url=f"{settings.base_url}/verifieer")
    sealed = seal_pdf(
        render_pdf(html), settings=settings, reason=SEAL_REASON, location=SEAL_LOCATION,
        embedded=(EmbeddedFile(f"ondertekend-{document.sha256[:12]}.pdf", document.pdf,
                               description=f"Het document zoals ondertekend (SHA-256 {document.sha256})"),),
    )
    document.final_pdf = sealed
    document.final_sha256 = sha256_hex(sealed)
    document.completed_at = completed_at
    document.sealed_at = now
    document.seal_status = SealStatus.SEALED
    document.seal_error = None
    document.status = DocumentStatus.VERZEGELD
    record("document.sealed", SYSTEM, object_type="document", object_id=document.id,
           details={"sha256": document.final_sha256, "signed_sha256": document.sha256})
    _mail_parties(tenant, document, signers)
    log.info("document sealed", extra={"document_id": document.id, "tenant_id": document.tenant_id})


def final_html(document: Document, signers: list[DocumentSigner], *, gemeente: str, sealed_on: datetime,
               verify_url: str) -> str:
    """The document text followed by the signature page and the audit trail, as one HTML."""
    template = db.session.get(DocumentTemplate, document.template_id)
    if template is None:
        raise RenderError(f"template {document.template_id} of document {document.id} is gone")
    body = document_html(template.body, document.context or {}, gemeente=gemeente, title=document.title)
    pages = _pages_template().render(
        document_sha256=document.sha256,
        signers=[{
            "name": s.name, "role": ROLE_LABELS.get(s.role, s.role), "typed_name": s.typed_name or "",
            "drawing": drawing_svg(s.drawing), "signed_at": moment(s.signed_at), "ip": str(s.ip or "onbekend"),
            "signed_sha256": s.signed_sha256 or "",
        } for s in signers],
        events=audit_trail(document),
        sealed_on=moment(sealed_on),
        verify_url=verify_url,
    )
    marker = body.lower().rfind("</body>")
    return body + pages if marker < 0 else body[:marker] + pages + body[marker:]


def audit_trail(document: Document) -> list[dict[str, str]]:
    events = db.session.scalars(
        select(AuditEvent).where(AuditEvent.object_type == "document", AuditEvent.object_id == document.id)
        .order_by(AuditEvent.created_at, AuditEvent.id)
    )
    return [_trail_row(event) for event in events]


def _trail_row(event: AuditEvent) -> dict[str, str]:
    details: dict[str, Any] = event.details if isinstance(event.details, dict) else {}
    step = event.action.rsplit(".", 1)[-1]
    who = details.get("signer_name") or details.get("signer") or event.actor_label or ""
    return {
        "at": moment(event.created_at),
        "what": EVENT_LABELS.get(step, event.action),
        "who": str(who),
        "ip": str(event.ip or ""),
        "user_agent": str(details.get("user_agent") or "")[:300],
        "sha256": str(details.get("sha256") or details.get("document_sha256") or details.get("signed_sha256") or ""),
    }


# --- the mail -------------------------------------------------------------------------------------------


def final_pdf_filename(document: Document) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", document.title.lower()).strip("-")[:60] or "document"
    return f"{slug}-verzegeld.pdf"


def _mail_parties(tenant: Tenant, document: Document, signers: list[DocumentSigner]) -> None:
    recipients: dict[str, str] = {}
    for signer in signers:
        if signer.email:
            recipients.setdefault(signer.email.strip().lower(), signer.name)
    for email, name in _staff_recipients(document):
        recipients.setdefault(email.strip().lower(), name)
    attachment = AttachmentRef("document_pdf", document.id, final_pdf_filename(document))
    settings = current_app.extensions["settings"]
    for address, name in recipients.items():
        queue_email(tenant, to=address, template=SEALED_EMAIL_TEMPLATE,
                    dedupe_key=f"document-sealed:{document.id}:{address}",
                    context={"name": name, "title": document.title, "sealed_on": dutch_date(document.sealed_at),
                             "verify_url": f"{settings.base_url}/verifieer"},
                    attachments=[attachment])


def _staff_recipients(document: Document) -> list[tuple[str, str]]:
    """The koppeling's coordinator (afsprakenovereenkomst) or the contract's contact (samenwerking)."""
    found: list[tuple[str, str]] = []
    if document.koppeling_id is not None:
        koppeling = db.session.scalar(select(Koppeling).where(Koppeling.id == document.koppeling_id))
        if koppeling is not None and koppeling.coordinator_id is not None:
            coordinator = db.session.scalar(select(StaffUser).where(StaffUser.id == koppeling.coordinator_id))
            if coordinator is not None and coordinator.email:
                found.append((coordinator.email, coordinator.full_name))
    if document.kind == DocumentKind.SAMENWERKING and document.contract_id is not None:
        contract = db.session.scalar(select(Contract).where(Contract.id == document.contract_id))
        if contract is not None and contract.contact_email:
            found.append((contract.contact_email, contract.contact_name))
    return found


def final_pdf_attachment(document_id: int, filename: str) -> Attachment | None:
    """The sealed PDF of a document of the current tenant, for a mail (see ``AttachmentRef``)."""
    document = db.session.scalar(select(Document).where(Document.id == document_id))
    if document is None or document.final_pdf is None or document.seal_status != SealStatus.SEALED:
        return None
    return Attachment(filename=filename, mime_type="application/pdf", content=bytes(document.final_pdf))
