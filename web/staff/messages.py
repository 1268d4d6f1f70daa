"""Outgoing mail and failed background jobs of a gemeente, with a retry for what failed."""

from __future__ import annotations

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from domain.accounts.models import TenantRole
from domain.audit.services import record
from domain.email.models import EmailStatus, OutboundEmail
from domain.email.reading import body_for_staff
from domain.outbox.models import JobStatus, OutboxJob
from domain.outbox.services import retry_failed
from tenants.access import get_for_tenant
from tenants.db import db
from web.access import guard_blueprint, roles_allowed
from web.auth.flow import client_actor
from web.staff.forms import ConfirmForm
from web.tenancy import tenant_blueprint

messages = tenant_blueprint("messages", __name__, "/app/berichten")
guard_blueprint(messages, realm="tenant", login_endpoint="auth.login")

# Coordinators must see what did not reach a family; admins also act on it.
READERS = (TenantRole.COORDINATOR, TenantRole.TENANT_ADMIN)
LIST_LIMIT = 200

EMAIL_STATUS_LABELS = {EmailStatus.QUEUED: "in de wachtrij", EmailStatus.SENT: "verstuurd",
                       EmailStatus.FAILED: "mislukt"}
JOB_KIND_LABELS = {"email.send": "e-mail versturen", "outbox.noop": "controletaak"}


def _actor():
    return client_actor(current_user.account.email, current_user.account.id)


@messages.route("/")
@roles_allowed(*READERS)
def outgoing_mail():
    status = request.args.get("status") or None
    if status is not None and status not in set(EmailStatus):
        abort(404)
    query = select(OutboundEmail).order_by(OutboundEmail.id.desc()).limit(LIST_LIMIT)
    if status is not None:
        query = query.where(OutboundEmail.status == status)
    return render_template(
        "web/staff/messages/list.html", emails=db.session.scalars(query).all(), status=status,
        status_labels=EMAIL_STATUS_LABELS,
    )


@messages.route("/<int:email_id>")
@roles_allowed(*READERS)
def mail_detail(email_id: int):
    email = get_for_tenant(OutboundEmail, email_id)
    # A mail holds personal data: who read it is on record.
    record("email.viewed", _actor(), object_type="outbound_email", object_id=email.id)
    db.session.commit()
    delivered = current_app.extensions["settings"].mail_backend != "sink"
    return render_template("web/staff/messages/detail.html", email=email, status_labels=EMAIL_STATUS_LABELS,
                           body=body_for_staff(email.body_text, mail_is_delivered=delivered))


@messages.route("/mislukt")
@roles_allowed(*READERS)
def failed_jobs():
    jobs = db.session.scalars(
        select(OutboxJob).where(OutboxJob.status == JobStatus.FAILED)
        .order_by(OutboxJob.finished_at.desc()).limit(LIST_LIMIT)
    ).all()
    return render_template("web/staff/messages/failed.html", jobs=jobs, kind_labels=JOB_KIND_LABELS,
                           confirm=ConfirmForm())


@messages.route("/mislukt/<int:job_id>/opnieuw", methods=["POST"])
@roles_allowed(TenantRole.TENANT_ADMIN)
def retry_job(job_id: int):
    job = get_for_tenant(OutboxJob, job_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    if job.status != JobStatus.FAILED:
        flash("Deze taak is niet mislukt; er is niets opnieuw te proberen.", "info")
        return redirect(url_for("messages.failed_jobs"))
    retry_failed(job)
    if job.kind == "email.send":
        email = db.session.get(OutboundEmail, job.payload.get("email_id"))
        if email is not None and email.status == EmailStatus.FAILED:
            email.status = EmailStatus.QUEUED
    record("job.retried", _actor(), object_type="outbox_job", object_id=job.id, details={"kind": job.kind})
    db.session.commit()
    flash("De taak wordt opnieuw geprobeerd.", "success")
    return redirect(url_for("messages.failed_jobs"))
