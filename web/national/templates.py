"""The national document texts at /landelijk/documentteksten: every kind with its versions, and a
form to save a new version (national admins only; analysts may read).

A text is checked in the sandbox before it is saved: a syntax error, a forbidden tag or attribute
is shown next to the field and nothing is saved. Versions are never changed, only added.
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import HiddenField, StringField, TextAreaField
from wtforms.validators import InputRequired, Length

from domain.accounts.models import NationalRole
from domain.documents.models import DocumentKind
from domain.documents.rendering import MAX_TEMPLATE_CHARS
from domain.documents.templates import (
    KIND_LABELS,
    MAX_TITLE_CHARS,
    TemplateError,
    newest_template,
    sample_context,
    save_template_version,
    template_overview,
    template_versions,
)
from tenants.db import db
from web.access import ALL_NATIONAL_ROLES, guard_blueprint, roles_allowed
from web.auth.flow import client_actor

national_templates = Blueprint("national_templates", __name__, url_prefix="/landelijk/documentteksten")
guard_blueprint(national_templates, realm="national", login_endpoint="national_auth.login")


class TemplateForm(FlaskForm):
    kind = HiddenField()
    title = StringField("Titel", validators=[InputRequired("Geef het document een titel."),
                                             Length(max=MAX_TITLE_CHARS, message="Hooguit %(max)d tekens.")])
    body = TextAreaField(
        "Tekst", validators=[InputRequired("De tekst is leeg."),
                             Length(max=MAX_TEMPLATE_CHARS, message="Hooguit %(max)d tekens.")],
        description="HTML met Jinja-variabelen, zoals {{ vraaggezin.naam }}. Gegevens van gezinnen komen er altijd "
                    "als gewone tekst in. Afbeeldingen, stijlen en links naar bestanden zijn niet toegestaan.")


def _kind(value: str | None) -> DocumentKind:
    try:
        return DocumentKind(value or "")
    except ValueError:
        abort(404)


def _actor():
    return client_actor(current_user.account.email, current_user.account.id)


@national_templates.route("/")
@roles_allowed(*ALL_NATIONAL_ROLES)
def index():
    return render_template("web/national/templates/list.html", overview=template_overview(),
                           can_edit=current_user.role == NationalRole.NATIONAL_ADMIN)


def _editor(kind: DocumentKind, form: TemplateForm, status: int = 200):
    return render_template("web/national/templates/edit.html", kind=kind, kind_label=KIND_LABELS[kind], form=form,
                           versions=template_versions(kind), variables=sorted(sample_context(kind))), status


@national_templates.route("/bewerken", methods=["GET", "POST"])
@roles_allowed(NationalRole.NATIONAL_ADMIN)
def edit():
    if request.method == "GET":
        kind = _kind(request.args.get("soort"))
        versions = template_versions(kind)
        wanted = request.args.get("versie", type=int)
        shown = next((v for v in versions if v.version == wanted), None) or newest_template(kind)
        db.session.commit()  # newest_template may have added the default text
        return _editor(kind, TemplateForm(formdata=None, kind=kind.value, title=shown.title, body=shown.body))
    form = TemplateForm()
    kind = _kind(form.kind.data)
    if form.validate_on_submit():
        try:
            template = save_template_version(kind, form.title.data, form.body.data, _actor())
        except TemplateError as error:
            db.session.rollback()
            field = form.title if error.field == "title" else form.body
            field.errors = [*field.errors, str(error)]
        else:
            db.session.commit()
            flash(f"Versie {template.version} van de {KIND_LABELS[kind].lower()} is opgeslagen. "
                  "Nieuwe documenten gebruiken deze tekst; bestaande houden hun versie.", "success")
            return redirect(url_for("national_templates.index"))
    return _editor(kind, form, 422)
