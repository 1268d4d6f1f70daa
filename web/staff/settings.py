"""The gemeente's own settings, at /<slug>/app/instellingen: tenant admins only.

The form carries text; ``domain.tenant_settings.services`` parses and checks it, so every error is
shown next to its field and nothing is saved until all fields are right.
"""

from __future__ import annotations

from flask import flash, g, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import StringField

from domain.accounts.models import TenantRole
from domain.tenant_settings.services import (
    EDITABLE_SETTINGS,
    Kind,
    SettingsError,
    current_form_values,
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


def _setting_field(key: str) -> StringField:
    spec = EDITABLE_SETTINGS[key]
    render_kw = {"autocomplete": "off", "spellcheck": "false"}
    if spec.kind == Kind.INT:
        render_kw |= {"inputmode": "numeric"}
    return StringField(spec.label, description=spec.help, render_kw=render_kw)


class SettingsForm(FlaskForm):
    """One text field per editable setting; the domain service does the checking."""

    proefperiode_months = _setting_field("proefperiode_months")
    evaluation_interval_months = _setting_field("evaluation_interval_months")
    guidance_term_months = _setting_field("guidance_term_months")
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


@settings.route("", methods=["GET", "POST"])
@roles_allowed(TenantRole.TENANT_ADMIN)
def edit():
    # A POST shows what was typed; a GET the gemeente's values, or the defaults where unset.
    form = SettingsForm() if request.method == "POST" else SettingsForm(data=current_form_values(g.tenant))
    if form.validate_on_submit():
        try:
            values = parse_settings({key: form[key].data or "" for key in EDITABLE_SETTINGS})
            update_tenant_settings(g.tenant, values, client_actor(current_user.account.email,
                                                                  current_user.account.id))
        except SettingsError as error:
            db.session.rollback()
            for key, message in error.errors.items():
                form[key].errors = [*form[key].errors, message]
        else:
            db.session.commit()
            flash(SAVED, "success")
            return redirect(url_for("settings.edit"))
    return render_template("web/staff/settings.html", form=form, groups=_groups(form))

