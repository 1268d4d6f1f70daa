"""Gemeenten on the platform at /landelijk/gemeenten/: the list with each gemeente's status, a form
to add a gemeente from the CBS list with its first tenant admin (invited by e-mail), and buttons to
suspend, reactivate and archive a gemeente. National admins act; analysts may read the list.
"""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import HiddenField, SelectField, StringField

from domain.accounts.models import NationalRole
from domain.provisioning.services import (
    STATUS_LABELS,
    TRANSITIONS,
    ProvisioningError,
    change_status,
    gemeenten_without_tenant,
    provision_gemeente,
)
from tenants.db import db
from tenants.models import Tenant, TenantStatus
from tenants.services import list_tenants, use_tenant
from web.access import ALL_NATIONAL_ROLES, guard_blueprint, roles_allowed
from web.auth.flow import client_actor

national_provisioning = Blueprint("national_provisioning", __name__, url_prefix="/landelijk/gemeenten")
guard_blueprint(national_provisioning, realm="national", login_endpoint="national_auth.login")

# The button label for each move.
ACTIONS = {TenantStatus.SUSPENDED: "Pauzeren", TenantStatus.ACTIVE: "Weer activeren",
           TenantStatus.ARCHIVED: "Archiveren"}


class NewGemeenteForm(FlaskForm):
    gemeente = SelectField("Gemeente", coerce=str, validate_choice=False,
                           description="Uit de lijst van het CBS; gemeenten die al op het platform staan, "
                                       "staan er niet in.")
    admin_name = StringField("Naam van de beheerder", description="De eerste beheerder van de gemeente.")
    admin_email = StringField("E-mailadres van de beheerder", render_kw={"type": "email", "autocomplete": "off"},
                              description="Hier sturen we de uitnodiging om een wachtwoord te kiezen.")


class StatusForm(FlaskForm):
    gemeente = HiddenField()
    status = HiddenField()


def _is_admin() -> bool:
    return current_user.role == NationalRole.NATIONAL_ADMIN


def _actor():
    return client_actor(current_user.account.email, current_user.account.id)


def _page(form: NewGemeenteForm, status: int = 200):
    use_tenant(None)
    available = gemeenten_without_tenant()
    form.gemeente.choices = [("", "Kies een gemeente")] + [
        (row.code, f"{row.name} ({row.provincie})") for row in available]
    tenants = list_tenants()
    db.session.rollback()  # read only
    return render_template("web/national/provisioning/list.html", tenants=tenants, form=form,
                           can_edit=_is_admin(), status_form=StatusForm(), labels=STATUS_LABELS,
                           transitions=TRANSITIONS, actions=ACTIONS), status


@national_provisioning.route("/")
@roles_allowed(*ALL_NATIONAL_ROLES)
def index():
    return _page(NewGemeenteForm(formdata=None))


@national_provisioning.route("/nieuw", methods=["POST"])
@roles_allowed(NationalRole.NATIONAL_ADMIN)
def new():
    form = NewGemeenteForm()
    if not form.validate():  # the CSRF token
        abort(400)
    try:
        tenant, _ = provision_gemeente(form.gemeente.data or "", form.admin_name.data or "",
                                       form.admin_email.data or "",
                                       base_url=current_app.extensions["settings"].base_url, actor=_actor())
    except ProvisioningError as error:
        db.session.rollback()
        form[error.field or "gemeente"].errors = [str(error)]
        return _page(form, 422)
    name, slug, email = tenant.name, tenant.slug, form.admin_email.data.strip()
    db.session.commit()
    flash(f"Gemeente {name} staat op het platform (/{slug}/). De uitnodiging is verstuurd naar {email}.",
          "success")
    return redirect(url_for("national_provisioning.index"))


@national_provisioning.route("/status", methods=["POST"])
@roles_allowed(NationalRole.NATIONAL_ADMIN)
def set_status():
    form = StatusForm()
    if not form.validate_on_submit():
        abort(400)
    tenant_id = (form.gemeente.data or "").strip()
    use_tenant(None)
    tenant = db.session.get(Tenant, int(tenant_id)) if tenant_id.isdigit() and len(tenant_id) < 10 else None
    if tenant is None:
        abort(404)
    try:
        change_status(tenant, (form.status.data or "").strip(), _actor())
    except ProvisioningError as error:
        db.session.rollback()
        flash(str(error), "error")
        return redirect(url_for("national_provisioning.index"))
    message = f"Gemeente {tenant.name} is nu {STATUS_LABELS[TenantStatus(tenant.status)]}."
    db.session.commit()
    flash(message, "success")
    return redirect(url_for("national_provisioning.index"))
