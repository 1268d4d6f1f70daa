"""The coordinator's editor of a vraaggezin's public profile at /<slug>/app/gezinnen/<id>/profiel."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import current_app, flash, redirect, render_template, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import StringField, TextAreaField

from domain.accounts.models import TenantRole
from domain.families.listings import (
    FIELD_LABELS,
    PUBLICATION_CONSENT_TEXT,
    ListingError,
    ListingValidationError,
    children_phrase,
    listing_for,
    publication_consent,
    publish_listing,
    record_publication_consent,
    save_listing,
    unpublish_listing,
    withdraw_publication_consent,
)
from domain.families.models import Family, FamilyKind, FamilyMember, MemberRole
from tenants.access import NotFoundError, get_for_tenant
from tenants.db import db
from web.access import guard_blueprint, roles_allowed
from web.auth.flow import client_actor
from web.staff.forms import ConfirmForm
from web.tenancy import tenant_blueprint

listing_editor = tenant_blueprint("listing_editor", __name__, "/app/gezinnen")
guard_blueprint(listing_editor, realm="tenant", login_endpoint="auth.login")

EDITORS = (TenantRole.COORDINATOR, TenantRole.TENANT_ADMIN)


class ListingForm(FlaskForm):
    title = StringField(FIELD_LABELS["title"], description="Bijvoorbeeld: Moeder met twee jongens (4 en 7).")
    area_label = StringField(FIELD_LABELS["area_label"],
                             description="Een plaats of wijk, bijvoorbeeld Drachten-Noord. Nooit een postcode.")
    situation = TextAreaField(FIELD_LABELS["situation"],
                              description="In algemene woorden: wat speelt er, waarom zoekt het gezin steun?")
    interests = TextAreaField(FIELD_LABELS["interests"], description="Waar houden de kinderen en ouders van?")
    looking_for = TextAreaField(FIELD_LABELS["looking_for"],
                                description="Wat voor steun, hoe vaak, en wat voor gezin past erbij?")
    particulars = TextAreaField(FIELD_LABELS["particulars"],
                                description="Bijvoorbeeld: een huisdier, een dieet, alleen in het weekend.")


def _actor():
    return client_actor(current_user.account.email, current_user.account.id)


def _vraaggezin(family_id: int) -> Family:
    family = get_for_tenant(Family, family_id)
    if family.kind != FamilyKind.VRAAG:
        raise NotFoundError("Family")  # only vraaggezinnen have a profile; same answer as "missing"
    return family


def _family_url(family: Family) -> str | None:
    if "families.detail" in current_app.view_functions:
        return url_for("families.detail", family_id=family.id)
    return None


def _back_to_editor(family: Family):
    return redirect(url_for("listing_editor.edit", family_id=family.id))


@listing_editor.route("/<int:family_id>/profiel", methods=["GET", "POST"])
@roles_allowed(*EDITORS)
def edit(family_id: int):
    family = _vraaggezin(family_id)
    listing = listing_for(family)
    form = ListingForm(obj=listing)
    if form.validate_on_submit():
        data = {name: form[name].data for name in FIELD_LABELS}
        try:
            save_listing(family, data, _actor())
        except ListingValidationError as error:
            db.session.rollback()
            for name, message in error.errors.items():
                form[name].errors = [*form[name].errors, message]
        else:
            db.session.commit()
            flash("Profiel bewaard.", "success")
            return _back_to_editor(family)
    members = db.session.scalars(select(FamilyMember).where(FamilyMember.family_id == family.id)
                                 .order_by(FamilyMember.role, FamilyMember.birth_year)).all()
    adults = [m for m in members if m.role == MemberRole.ADULT]
    children = [m.birth_year for m in members if m.role == MemberRole.CHILD and m.birth_year]
    return render_template(
        "web/staff/listing_editor/edit.html", family=family, listing=listing, form=form, confirm=ConfirmForm(),
        consent=publication_consent(family), consent_text=PUBLICATION_CONSENT_TEXT, adults=adults,
        children=children_phrase(children, datetime.now(UTC).year), family_url=_family_url(family),
    )


def _act(family_id: int, action, success: str):
    family = _vraaggezin(family_id)
    form = ConfirmForm()
    if not form.validate_on_submit():
        flash("Het formulier was verlopen. Probeer het opnieuw.", "error")
        return _back_to_editor(family)
    try:
        action(family)
    except ListingError as error:
        db.session.rollback()
        flash(str(error), "error")
    else:
        db.session.commit()
        flash(success, "success")
    return _back_to_editor(family)


@listing_editor.route("/<int:family_id>/profiel/publiceren", methods=["POST"])
@roles_allowed(*EDITORS)
def publish(family_id: int):
    return _act(family_id, lambda family: publish_listing(family, _actor()),
                "Het profiel staat nu op de openbare pagina.")


@listing_editor.route("/<int:family_id>/profiel/offline", methods=["POST"])
@roles_allowed(*EDITORS)
def unpublish(family_id: int):
    return _act(family_id, lambda family: unpublish_listing(family, _actor()),
                "Het profiel staat niet meer op de openbare pagina.")


@listing_editor.route("/<int:family_id>/profiel/toestemming", methods=["POST"])
@roles_allowed(*EDITORS)
def record_consent(family_id: int):
    return _act(family_id,
                lambda family: record_publication_consent(family, current_user.account.full_name, _actor()),
                "De toestemming voor publicatie is vastgelegd.")


@listing_editor.route("/<int:family_id>/profiel/toestemming/intrekken", methods=["POST"])
@roles_allowed(*EDITORS)
def withdraw_consent(family_id: int):
    return _act(family_id, lambda family: withdraw_publication_consent(family, _actor()),
                "De toestemming is ingetrokken; het profiel staat niet (meer) online.")
