"""The gemeente's own settings, at /<slug>/app/instellingen: tenant admins only.

The form carries text; ``domain.tenant_settings.services`` parses and checks it, so every error is
shown next to its field and nothing is saved until all fields are right. A dict setting
(``match_weights``) is a sub-form with one field per part, shown as a fieldset; its fields are named
``<key>-<part>``.
"""

from __future__ import annotations

from flask import flash, g, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import Field, Form, FormField, StringField

from domain.accounts.models import TenantRole
from domain.documents.models import Contract, Document, SealStatus
from domain.documents.services import latest_contract_document
from domain.tenant_settings.services import (
    EDITABLE_SETTINGS,
    Kind,
    SettingsError,
    current_form_values,
    error_key,
    parse_settings,
    update_tenant_settings,
)
from tenants.db import db
from web.access import guard_blueprint, roles_allowed
from web.auth.flow import client_actor
from web.tenancy import tenant_blueprint

settings = tenant_blueprint("settings", __name__, "/app/instellingen")
guard_blueprint(settings, realm="tenant", login_endpoint="auth.login")

SAVED = "Instellingen opgeslagen."
_NUMERIC = {"inputmode": "numeric"}


def _setting_field(key: str) -> Field:
    spec = EDITABLE_SETTINGS[key]
    render_kw = {"autocomplete": "off", "spellcheck": "false"}
    if spec.kind == Kind.INT_MAP:
        parts = {part.key: StringField(part.label, description=part.help, render_kw=render_kw | _NUMERIC)
                 for part in spec.parts}
        return FormField(type(f"PartsOf_{key}", (Form,), parts), spec.label, description=spec.help)
    if spec.kind == Kind.INT:
        render_kw |= _NUMERIC
    return StringField(spec.label, description=spec.help, render_kw=render_kw)


class SettingsForm(FlaskForm):
    """One text field per editable setting (a sub-form for a dict); the domain service does the checking."""

    proefperiode_months = _setting_field("proefperiode_months")
    evaluation_interval_months = _setting_field("evaluation_interval_months")
    guidance_term_months = _setting_field("guidance_term_months")
    evaluation_before_proefperiode_end_days = _setting_field("evaluation_before_proefperiode_end_days")
    evaluation_reminder_days = _setting_field("evaluation_reminder_days")
    evaluation_link_days = _setting_field("evaluation_link_days")
    match_weights = _setting_field("match_weights")
    vog_renewal_months = _setting_field("vog_renewal_months")
    vog_request_reminder_days = _setting_field("vog_request_reminder_days")
    vog_request_overdue_days = _setting_field("vog_request_overdue_days")
    vog_renewal_reminder_days = _setting_field("vog_renewal_reminder_days")
    intake_within_days = _setting_field("intake_within_days")
    savings_per_koppeling_eur = _setting_field("savings_per_koppeling_eur")


def _groups(form: SettingsForm) -> list[tuple[str, list]]:
    """The form's fields per group (a fieldset each), in the order of ``EDITABLE_SETTINGS``."""
    groups: dict[str, list] = {}
    for key, spec in EDITABLE_SETTINGS.items():
        groups.setdefault(spec.group, []).append(form[key])
    return list(groups.items())


def _show_errors(form: SettingsForm, errors: dict[str, str]) -> None:
    """Each message on its field: a part of a dict on the part's field, the dict as a whole on the
    sub-form (shown at its fieldset)."""
    parts = {error_key(key, part.key): (key, part.key)
             for key, spec in EDITABLE_SETTINGS.items() for part in spec.parts}
    for where, message in errors.items():
        if where in parts:
            key, part = parts[where]
            target = form[key][part]
        elif isinstance(form[where], FormField):
            form[where].form.form_errors.append(message)
            continue
        else:
            target = form[where]
        target.errors = [*target.errors, message]


@settings.route("", methods=["GET", "POST"])
@roles_allowed(TenantRole.TENANT_ADMIN)
def edit():
    # A POST shows what was typed; a GET the gemeente's values, or the defaults where unset.
    form = SettingsForm() if request.method == "POST" else SettingsForm(data=current_form_values(g.tenant))
    if form.validate_on_submit():
        try:
            values = parse_settings({key: form[key].data for key in EDITABLE_SETTINGS})
            update_tenant_settings(g.tenant, values, client_actor(current_user.account.email,
                                                                  current_user.account.id))
        except SettingsError as error:
            db.session.rollback()
            _show_errors(form, error.errors)
        else:
            db.session.commit()
            flash(SAVED, "success")
            return redirect(url_for("settings.edit"))
    return render_template("web/staff/settings.html", form=form, groups=_groups(form), contracts=_contracts())


def _contracts() -> list[tuple[Contract, Document | None]]:
    """The gemeente's samenwerkingsovereenkomsten, newest first, each with its sealed document (if any)."""
    found = []
    for contract in db.session.scalars(select(Contract).order_by(Contract.starts_on.desc(), Contract.id.desc())):
        document = latest_contract_document(contract)
        sealed = document is not None and document.seal_status == SealStatus.SEALED and document.final_pdf
        found.append((contract, document if sealed else None))
    return found

