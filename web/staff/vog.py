"""VOGs of steungezin adults, at /<slug>/app/vog/…: the overview with filters, one VOG's steps
(aangevraagd, ontvangen, afgewezen) and a CSV export. Every lookup goes through ``get_for_tenant``.
"""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Response, flash, g, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import InputRequired, Length, Optional

from domain.accounts.models import TenantRole
from domain.audit.services import record
from domain.families.csv_safety import csv_text
from domain.families.models import Family, FamilyMember
from domain.families.records import KIND_LABELS, local_today
from domain.vog.models import VogRecord, VogStatus
from domain.vog.services import (
    CSV_HEADER,
    FILTER_KEYS,
    REFERENCE_MAX_LENGTH,
    STATUS_LABELS,
    VogError,
    csv_rows,
    filter_labels,
    record_received,
    record_rejected,
    request_vog,
    vog_rows,
)
from tenants.access import get_for_tenant
from tenants.db import db
from web.access import guard_blueprint, roles_allowed
from web.auth.flow import client_actor
from web.staff.family_forms import DATE_REQUIRED, DutchDateField
from web.tenancy import tenant_blueprint

vog = tenant_blueprint("vog", __name__, "/app/vog")
guard_blueprint(vog, realm="tenant", login_endpoint="auth.login")

READERS = (TenantRole.COORDINATOR, TenantRole.TENANT_ADMIN)


class RequestForm(FlaskForm):
    requested_on = DutchDateField("Aangevraagd op", validators=[InputRequired(DATE_REQUIRED)])
    reference = StringField("Kenmerk van de aanvraag (optioneel)",
                            description="Het aanvraagnummer bij Justis, als je dat hebt.",
                            validators=[Optional(), Length(max=REFERENCE_MAX_LENGTH,
                                                           message=f"Hooguit {REFERENCE_MAX_LENGTH} tekens.")])


class ReceivedForm(FlaskForm):
    issued_on = DutchDateField("Datum van afgifte", validators=[InputRequired(DATE_REQUIRED)])
    checked_on = DutchDateField("Gezien op", description="De dag waarop je de geldige VOG hebt gezien.",
                                validators=[InputRequired(DATE_REQUIRED)])


class RejectedForm(FlaskForm):
    rejected_on = DutchDateField("Afgewezen op", validators=[InputRequired(DATE_REQUIRED)])


def _actor():
    return client_actor(current_user.account.email, current_user.account.id)


def _filter_key() -> str:
    key = request.args.get("filter", "alle")
    return key if key in FILTER_KEYS else "alle"


@vog.route("/")
@roles_allowed(*READERS)
def index():
    key = _filter_key()
    rows = vog_rows(key)
    return render_template("web/staff/vog/list.html", rows=rows, filters=filter_labels(g.tenant), current=key,
                           status_labels=STATUS_LABELS)


@vog.route("/export.csv")
@roles_allowed(*READERS)
def export():
    key = _filter_key()
    rows = vog_rows(key)
    record("vog.exported", _actor(), details={"filter": key, "rows": len(rows)})
    db.session.commit()
    stamp = datetime.now(UTC).strftime("%Y%m%d")
    return Response(csv_text(CSV_HEADER, csv_rows(rows)), mimetype="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="vog-{g.tenant.slug}-{stamp}.csv"'})


def _render_detail(vog_id: int, *, request_form=None, received_form=None, rejected_form=None, status=200):
    record_ = get_for_tenant(VogRecord, vog_id)
    member = get_for_tenant(FamilyMember, record_.member_id)
    family = get_for_tenant(Family, record_.family_id)
    today = local_today()
    if request_form is None:
        request_form = RequestForm(formdata=None, requested_on=record_.requested_on,
                                   reference=record_.request_reference)
    if received_form is None:
        received_form = ReceivedForm(formdata=None, issued_on=record_.issued_on,
                                     checked_on=record_.checked_on or (None if record_.issued_on else today))
    if rejected_form is None:
        rejected_form = RejectedForm(formdata=None, rejected_on=record_.rejected_on)
    return render_template(
        "web/staff/vog/detail.html", vog=record_, member=member, family=family, status_labels=STATUS_LABELS,
        kind_labels=KIND_LABELS, request_form=request_form, received_form=received_form,
        rejected_form=rejected_form, S=VogStatus,
    ), status


@vog.route("/<int:vog_id>")
@roles_allowed(*READERS)
def detail(vog_id: int):
    return _render_detail(vog_id)


def _field_error(form, error: VogError, fallback: str) -> None:
    field = (getattr(form, error.field, None) if error.field else None) or getattr(form, fallback)
    field.errors = [*field.errors, str(error)]


def _record_step(vog_id: int, form, apply, *, fallback_field: str, form_name: str, done: str):
    """One VOG step from a form: all or nothing, the error next to its field, else back to the record."""
    record_ = get_for_tenant(VogRecord, vog_id)
    if form.validate_on_submit():
        try:
            apply(record_, form)
        except VogError as error:
            db.session.rollback()
            _field_error(form, error, fallback_field)
        else:
            db.session.commit()
            flash(done, "success")
            return redirect(url_for("vog.detail", vog_id=vog_id))
    return _render_detail(vog_id, status=422, **{form_name: form})


@vog.route("/<int:vog_id>/aangevraagd", methods=["POST"])
@roles_allowed(*READERS)
def requested(vog_id: int):
    return _record_step(
        vog_id, RequestForm(),
        lambda record_, form: request_vog(record_, form.requested_on.data, form.reference.data, _actor()),
        fallback_field="requested_on", form_name="request_form", done="De aanvraag is vastgelegd.",
    )


@vog.route("/<int:vog_id>/ontvangen", methods=["POST"])
@roles_allowed(*READERS)
def received(vog_id: int):
    return _record_step(
        vog_id, ReceivedForm(),
        lambda record_, form: record_received(record_, form.issued_on.data, form.checked_on.data, _actor()),
        fallback_field="issued_on", form_name="received_form", done="De VOG is als ontvangen vastgelegd.",
    )


@vog.route("/<int:vog_id>/afgewezen", methods=["POST"])
@roles_allowed(*READERS)
def rejected(vog_id: int):
    return _record_step(
        vog_id, RejectedForm(),
        lambda record_, form: record_rejected(record_, form.rejected_on.data, _actor()),
        fallback_field="rejected_on", form_name="rejected_form", done="De afwijzing is vastgelegd.",
    )
