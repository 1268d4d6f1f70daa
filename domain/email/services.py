"""Queueing e-mail in the caller's transaction, and the outbox job that renders and sends it.

``queue_email`` writes the mail and its outbox job together, so a rolled-back transaction leaves
neither and nothing is ever sent for it. The worker renders the template (a template fix reaches
mail that is still queued), stores what it rendered on the row, and hands it to the transport.

Sending is at-least-once: if the worker dies after the server accepted the mail but before the row
says "sent", the job runs again and the mail goes out a second time, with the same Message-ID.

Attachments (e.g. the ``.ics`` of a kennismaking) are made when the mail is queued and kept in the
context under the reserved key ``_attachments``, so the mail that goes out is exactly the one queued.
A large binary file (the sealed PDF of a document) is not copied into the context: the mail keeps a
reference (``AttachmentRef``) that is resolved when the mail is sent, in the job's tenant context.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from email_validator import EmailNotValidError, validate_email
from flask import current_app
from sqlalchemy import delete, insert, select

from domain.email.models import EmailStatus, OutboundEmail
from domain.email.rendering import EmailTemplateError, render_email, template_exists
from domain.email.transport import Attachment, build_message, deliver
from domain.outbox.models import OutboxJob
from domain.outbox.services import JobHandler, PermanentJobError, enqueue, enqueue_many, utcnow
from tenants.db import db
from tenants.models import Tenant

log = logging.getLogger(__name__)

EMAIL_JOB_KIND = "email.send"
GEMEENTE_KEY = "gemeente"
ATTACHMENTS_KEY = "_attachments"  # reserved: the queued mail's attachments, never a template variable
MAX_ATTACHMENTS = 5
MAX_ATTACHMENT_CHARS = 256 * 1024
_FILENAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
_MIME_PART = re.compile(r"[a-z0-9][a-z0-9.+-]{0,63}")
_PARAM_VALUE = re.compile(r"[A-Za-z0-9._-]{1,64}")
LANGUAGE = re.compile(r"[a-z]{2}")


@dataclass(frozen=True)
class AttachmentRef:
    """An attachment loaded when the mail is sent, e.g. ``AttachmentRef("document_pdf", document.id,
    "afsprakenovereenkomst.pdf")`` for a document's sealed PDF. ``kind`` must be one of
    ``attachment_resolvers()``; the object is looked up in the mail's own tenant (RLS)."""

    kind: str
    object_id: int
    filename: str


def attachment_resolvers() -> dict[str, Callable[[int, str], Attachment | None]]:
    """kind -> function(object_id, filename) giving the attachment, or None if the object is gone."""
    # Imported here: documents queue mail, so they import this module.
    from domain.documents.finalising import final_pdf_attachment

    return {"document_pdf": final_pdf_attachment}


def email_dedupe_key(dedupe_key: str) -> str:
    return f"email:{dedupe_key}"


@dataclass(frozen=True)
class EmailSpec:
    """One mail for ``queue_emails``: the same fields as ``queue_email``'s arguments."""

    to: str
    template: str
    context: dict[str, Any]
    dedupe_key: str
    language: str = "nl"
    attachments: tuple[Attachment | AttachmentRef, ...] = ()


def queue_email(
    tenant: Tenant | int,
    *,
    to: str,
    template: str,
    context: dict[str, Any],
    dedupe_key: str,
    language: str = "nl",
    attachments: list[Attachment | AttachmentRef] | tuple[Attachment | AttachmentRef, ...] = (),
) -> OutboundEmail | None:
    """Queue one mail in the current transaction (the caller commits); None if ``dedupe_key`` was used.

    Raises ValueError for an invalid address, an unknown template, a context that is not plain
    JSON values, or an attachment that is not a small text file with a plain name and MIME type
    (or a reference, ``AttachmentRef``, of a known kind).
    The tenant's name is added to the context as ``gemeente``.
    """
    if isinstance(tenant, int):
        tenant = db.session.get(Tenant, tenant)
        if tenant is None:
            raise ValueError("unknown tenant")
    row = _email_row(tenant, EmailSpec(to, template, context, dedupe_key, language, tuple(attachments)))
    key = email_dedupe_key(dedupe_key)
    if db.session.scalar(select(OutboxJob.id).where(OutboxJob.dedupe_key == key)) is not None:
        return None
    # The savepoint covers a concurrent transaction that used the same key after the check above:
    # the job insert is then a no-op, and the mail row goes with the savepoint.
    savepoint = db.session.begin_nested()
    email = OutboundEmail(**row)
    db.session.add(email)
    db.session.flush()
    job_id = enqueue(EMAIL_JOB_KIND, {"email_id": email.id}, tenant, dedupe_key=key)
    if job_id is None:
        savepoint.rollback()
        return None
    savepoint.commit()
    return email


def queue_emails(tenant: Tenant, mails: list[EmailSpec]) -> int:
    """Queue many mails in the current transaction with a fixed number of statements; returns how many.

    For sweeps. Every mail is checked first (ValueError as in ``queue_email``: nothing is written
    then); a mail whose dedupe key was used before is dropped, as ``queue_email`` returns None.
    """
    unique = list({email_dedupe_key(mail.dedupe_key): mail for mail in mails}.items())
    if not unique:
        return 0
    rows = [_email_row(tenant, mail) for _, mail in unique]
    used = set(db.session.scalars(select(OutboxJob.dedupe_key).where(
        OutboxJob.dedupe_key.in_([key for key, _ in unique]))))
    fresh = [(key, row) for (key, _), row in zip(unique, rows, strict=True) if key not in used]
    if not fresh:
        return 0
    # insertmanyvalues: one INSERT … RETURNING for up to 1000 rows, ids in the order given.
    email_ids = db.session.scalars(insert(OutboundEmail).returning(OutboundEmail.id, sort_by_parameter_order=True),
                                   [row for _, row in fresh]).all()
    written = enqueue_many(EMAIL_JOB_KIND, [({"email_id": email_id}, key)
                                            for email_id, (key, _) in zip(email_ids, fresh, strict=True)], tenant.id)
    # A concurrent run used some keys after the check above: their mails have no job, so they go.
    orphans = [email_id for email_id, (key, _) in zip(email_ids, fresh, strict=True) if key not in written]
    if orphans:
        db.session.execute(delete(OutboundEmail).where(OutboundEmail.id.in_(orphans)))
    return len(written)


def _email_row(tenant: Tenant, mail: EmailSpec) -> dict[str, Any]:
    try:
        address = validate_email(mail.to, check_deliverability=False).normalized
    except EmailNotValidError as error:
        raise ValueError(f"invalid e-mail address {mail.to!r}: {error}") from None
    if not LANGUAGE.fullmatch(mail.language or ""):
        raise ValueError(f"language must be a two-letter code such as 'nl' or 'en', not {mail.language!r}")
    if not template_exists(mail.template):
        raise EmailTemplateError(f"e-mail template {mail.template!r} does not exist "
                                 f"(expected templates/email/{mail.template}/nl/subject.txt, body.txt, body.html)")
    if ATTACHMENTS_KEY in mail.context:
        raise ValueError(f"{ATTACHMENTS_KEY!r} is reserved in an e-mail context: pass attachments= instead")
    context = {**mail.context, GEMEENTE_KEY: tenant.name}
    if len(mail.attachments) > MAX_ATTACHMENTS:
        raise ValueError(f"at most {MAX_ATTACHMENTS} attachments per e-mail")
    if mail.attachments:
        context[ATTACHMENTS_KEY] = [_attachment_value(attachment) for attachment in mail.attachments]
    try:
        values = json.loads(json.dumps(context, allow_nan=False))
    except (TypeError, ValueError) as error:
        raise ValueError(f"e-mail context must hold plain JSON values: {error}") from None
    return {"tenant_id": tenant.id, "to_address": address, "template": mail.template, "language": mail.language,
            "context": values, "status": EmailStatus.QUEUED, "attempts": 0}


def _attachment_value(attachment: Attachment | AttachmentRef) -> dict[str, Any]:
    if isinstance(attachment, AttachmentRef):
        return _reference_value(attachment)
    if not isinstance(attachment, Attachment):
        raise ValueError("attachments must be Attachment or AttachmentRef values")
    if not _FILENAME.fullmatch(attachment.filename):
        raise ValueError(f"attachment file name {attachment.filename!r} is not a plain file name")
    maintype, _, subtype = attachment.mime_type.partition("/")
    if maintype != "text" or not _MIME_PART.fullmatch(subtype):
        raise ValueError(f"attachment type {attachment.mime_type!r} is not a text/… MIME type")
    if not isinstance(attachment.content, str) or len(attachment.content) > MAX_ATTACHMENT_CHARS:
        raise ValueError(f"attachment {attachment.filename!r} must be text of at most "
                         f"{MAX_ATTACHMENT_CHARS} characters")
    params = dict(attachment.params)
    for name, value in params.items():
        if not (_MIME_PART.fullmatch(name) and isinstance(value, str) and _PARAM_VALUE.fullmatch(value)):
            raise ValueError(f"attachment parameter {name}={value!r} is not a plain token")
    return {"filename": attachment.filename, "mime_type": attachment.mime_type, "content": attachment.content,
            "params": params}


def _reference_value(reference: AttachmentRef) -> dict[str, Any]:
    if reference.kind not in attachment_resolvers():
        raise ValueError(f"unknown attachment reference kind {reference.kind!r}")
    if not isinstance(reference.object_id, int) or isinstance(reference.object_id, bool):
        raise ValueError("an attachment reference needs an integer object id")
    if not _FILENAME.fullmatch(reference.filename):
        raise ValueError(f"attachment file name {reference.filename!r} is not a plain file name")
    return {"kind": reference.kind, "object_id": reference.object_id, "filename": reference.filename}


def attachments_of(context: dict[str, Any] | None) -> list[Attachment]:
    """The attachments a queued mail carries (an empty list for mail without any).

    References are resolved here, so this runs in the mail's tenant context (the send job's).
    """
    values = (context or {}).get(ATTACHMENTS_KEY) or []
    if not isinstance(values, list) or len(values) > MAX_ATTACHMENTS:
        raise PermanentJobError("the e-mail's attachments are malformed")
    try:
        return [_resolve(value) if "kind" in value else
                Attachment(filename=value["filename"], mime_type=value["mime_type"], content=value["content"],
                           params=tuple(sorted((value.get("params") or {}).items()))) for value in values]
    except (KeyError, TypeError, AttributeError) as error:
        raise PermanentJobError(f"the e-mail's attachments are malformed: {error}") from None


def _resolve(value: dict[str, Any]) -> Attachment:
    resolver = attachment_resolvers().get(value["kind"])
    object_id, filename = value["object_id"], value["filename"]
    if resolver is None or not isinstance(object_id, int) or not _FILENAME.fullmatch(str(filename)):
        raise PermanentJobError(f"the e-mail's attachment reference {value!r} is malformed")
    attachment = resolver(object_id, filename)
    if attachment is None:
        raise PermanentJobError(f"the e-mail's attachment {value['kind']} {object_id} is not available")
    return attachment


def _email_for(job: OutboxJob) -> OutboundEmail | None:
    email_id = job.payload.get("email_id") if isinstance(job.payload, dict) else None
    if not isinstance(email_id, int):
        return None
    # Through the ORM in the job's tenant context: RLS and the tenant criteria both apply, so a job
    # can only ever reach its own tenant's mail.
    return db.session.scalar(select(OutboundEmail).where(OutboundEmail.id == email_id))


def _send(job: OutboxJob) -> None:
    email = _email_for(job)
    if email is None:
        raise PermanentJobError(f"e-mail {job.payload.get('email_id')!r} not found")
    if email.status == EmailStatus.SENT:
        return  # an earlier run got through; never send twice on purpose
    settings = current_app.extensions["settings"]
    rendered = render_email(email.template, email.language, email.context)
    now = utcnow()
    email.subject = rendered.subject[:300]
    email.body_text = rendered.text
    email.body_html = rendered.html
    message = build_message(settings, to=email.to_address, rendered=rendered, tenant_id=email.tenant_id,
                            email_id=email.id, sent_at=now, attachments=attachments_of(email.context))
    deliver(settings, message)
    email.status = EmailStatus.SENT
    email.sent_at = now
    email.attempts = job.attempts
    email.last_error = None
    log.info("e-mail sent", extra={"email_id": email.id, "tenant_id": email.tenant_id,
                                   "template": email.template, "backend": settings.mail_backend})


def _record_failure(job: OutboxJob, error_text: str, final: bool) -> None:
    email = _email_for(job)
    if email is None or email.status == EmailStatus.SENT:
        return
    email.attempts = job.attempts
    email.last_error = error_text
    email.status = EmailStatus.FAILED if final else EmailStatus.QUEUED


EMAIL_JOB = JobHandler(run=_send, on_failure=_record_failure)
