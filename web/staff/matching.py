"""Match suggestions at /<slug>/app/gezinnen/<id>/suggesties: for a vraaggezin the steungezinnen that
fit, for a steungezin the waiting vraaggezinnen; each with a score and the reasons per criterion.
From a suggestion the coordinator proposes a koppeling, or marks the family "niet geschikt" with a
reason (and can undo that). The platform suggests, the coordinator decides.

Every lookup goes through ``get_for_tenant``: another gemeente's family is "not found".
"""

from __future__ import annotations

from flask import current_app, flash, g, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import IntegerField, TextAreaField
from wtforms.validators import InputRequired, Length, Optional
from wtforms.widgets import HiddenInput

from domain.accounts.models import TenantRole
from domain.families.intake import DISTANCE_LABELS
from domain.families.models import Family, FamilyKind, FamilyStatus
from domain.families.records import KIND_LABELS, local_today, record_view
from domain.families.status import STATUS_LABELS
from domain.families.support_types import support_labels
from domain.koppelingen.models import Koppeling
from domain.koppelingen.services import (
    NOTE_MAX_LENGTH,
    KoppelingError,
    open_koppelingen_of,
    propose,
    remaining_capacity,
)
from domain.matching.scoring import CRITERIA, km_text
from domain.matching.services import (
    REASON_MAX_LENGTH,
    MatchError,
    contact_names,
    families_for,
    mark_not_suitable,
    not_suitable_for,
    suggestions_for,
    unmark,
    weights_for,
)
from domain.vog.services import vog_blockers
from tenants.access import get_for_tenant
from tenants.db import db
from web.access import guard_blueprint, roles_allowed
from web.auth.flow import client_actor
from web.staff.family_forms import TOO_LONG
from web.tenancy import tenant_blueprint

matching = tenant_blueprint("matching", __name__, "/app/gezinnen")
guard_blueprint(matching, realm="tenant", login_endpoint="auth.login")

READERS = (TenantRole.COORDINATOR, TenantRole.TENANT_ADMIN)
SHOWN = 20  # suggestions on the page unless all are asked for
KOPPELING_DETAIL = "koppelingen.detail"
NO_CANDIDATE = "Kies een gezin uit de lijst."


def _candidate_field() -> IntegerField:
    return IntegerField(widget=HiddenInput(), validators=[InputRequired(NO_CANDIDATE)])


class ProposeForm(FlaskForm):
    candidate_id = _candidate_field()
    schedule = TextAreaField("Wanneer en hoe vaak (niet verplicht)",
                             description="Bijvoorbeeld: woensdagmiddag na school, om de week.",
                             validators=[Optional(), Length(max=NOTE_MAX_LENGTH, message=TOO_LONG)])
    location = TextAreaField("Waar, en hoe komt het kind er (niet verplicht)",
                             validators=[Optional(), Length(max=NOTE_MAX_LENGTH, message=TOO_LONG)])


class NotSuitableForm(FlaskForm):
    candidate_id = _candidate_field()
    reason = TextAreaField("Waarom past dit gezin niet?",
                           description="Je collega's zien deze reden ook. Schrijf feitelijk en kort.",
                           validators=[InputRequired("Schrijf op waarom dit gezin niet geschikt is."),
                                       Length(max=REASON_MAX_LENGTH, message=TOO_LONG)])


class UnmarkForm(FlaskForm):
    candidate_id = _candidate_field()


def _actor():
    return client_actor(current_user.account.email, current_user.account.id)


def koppeling_url(koppeling: Koppeling) -> str | None:
    """The koppeling's own page, once that page exists."""
    if KOPPELING_DETAIL in current_app.view_functions:
        return url_for(KOPPELING_DETAIL, koppeling_id=koppeling.id)
    return None


def _render(family_id: int, *, candidate_id: int | None = None, form=None, errors: list[str] | None = None,
            status: int = 200):
    """The page; after a refused step ``form`` is the submitted form of ``candidate_id``, ``errors`` why."""
    family = get_for_tenant(Family, family_id)
    record_view(family, _actor(), "suggesties")
    db.session.commit()
    today = local_today()
    is_vraag = family.kind == FamilyKind.VRAAG
    if is_vraag:
        suggestions = suggestions_for(family, today=today, tenant=g.tenant)
    else:
        suggestions = families_for(family, today=today, tenant=g.tenant)
    show_all = request.args.get("alle") == "1"
    shown = suggestions if show_all else suggestions[:SHOWN]
    if candidate_id is not None and all(s.family.id != candidate_id for s in shown):
        shown = [*shown, *(s for s in suggestions if s.family.id == candidate_id)]  # keep the form's errors in view
    if form is not None and errors is None:
        errors = [error for field_errors in form.errors.values() for error in field_errors]
    weights = weights_for(g.tenant)
    return render_template(
        "web/staff/matching/suggestions.html", family=family, is_vraag=is_vraag,
        name=contact_names([family.id]).get(family.id, f"Gezin {family.id}"),
        suggestions=shown, total=len(suggestions), show_all=show_all, marks=not_suitable_for(family),
        open_koppelingen=open_koppelingen_of(family.id), koppeling_url=koppeling_url,
        own_vog_blockers=[] if is_vraag else vog_blockers(family, today=today),
        own_room=None if is_vraag else remaining_capacity(family),
        weights=[(label, weights[key]) for key, label in CRITERIA], total_weight=sum(weights.values()),
        support_labels=support_labels(), status_labels=STATUS_LABELS, kind_labels=KIND_LABELS,
        distance_labels=DISTANCE_LABELS, km_text=km_text, S=FamilyStatus,
        candidate_id=candidate_id, errors=errors or [],
        propose_form=form if isinstance(form, ProposeForm) else None,
        unsuitable_form=form if isinstance(form, NotSuitableForm) else None,
    ), status


@matching.route("/<int:family_id>/suggesties")
@roles_allowed(*READERS)
def suggestions(family_id: int):
    return _render(family_id)


def _pair(family: Family, candidate: Family) -> tuple[Family, Family]:
    """(vraaggezin, steungezin) from the page's family and the chosen candidate."""
    return (family, candidate) if family.kind == FamilyKind.VRAAG else (candidate, family)


def _back(family_id: int, anchor: str | None = None):
    return redirect(url_for("matching.suggestions", family_id=family_id, _anchor=anchor))


@matching.route("/<int:family_id>/suggesties/voorstellen", methods=["POST"])
@roles_allowed(*READERS)
def propose_match(family_id: int):
    family = get_for_tenant(Family, family_id)
    form = ProposeForm()
    if not form.validate_on_submit():
        return _render(family_id, candidate_id=form.candidate_id.data, form=form, status=422)
    candidate = get_for_tenant(Family, form.candidate_id.data)
    vraag, steun = _pair(family, candidate)
    try:
        koppeling = propose(
            vraag, steun, _actor(), coordinator_id=vraag.coordinator_id or current_user.account.id,
            support_codes=[code for code in vraag.support_codes or [] if code in (steun.support_codes or [])],
            schedule=form.schedule.data, location=form.location.data,
        )
    except KoppelingError as error:
        db.session.rollback()
        return _render(family_id, candidate_id=candidate.id, form=form, errors=[str(error)], status=422)
    db.session.commit()
    names = contact_names([vraag.id, steun.id])
    flash(f"Je hebt een koppeling voorgesteld tussen {names.get(vraag.id, 'het vraaggezin')} en "
          f"{names.get(steun.id, 'het steungezin')}. Leg vast wanneer beide gezinnen akkoord zijn.", "success")
    return redirect(koppeling_url(koppeling) or url_for("families.detail", family_id=family_id))


@matching.route("/<int:family_id>/suggesties/niet-geschikt", methods=["POST"])
@roles_allowed(*READERS)
def mark(family_id: int):
    family = get_for_tenant(Family, family_id)
    form = NotSuitableForm()
    if not form.validate_on_submit():
        return _render(family_id, candidate_id=form.candidate_id.data, form=form, status=422)
    candidate = get_for_tenant(Family, form.candidate_id.data)
    vraag, steun = _pair(family, candidate)
    try:
        mark_not_suitable(vraag, steun, form.reason.data, _actor())
    except MatchError as error:
        db.session.rollback()
        if error.field == "reason":
            form.reason.errors = [*form.reason.errors, str(error)]
        return _render(family_id, candidate_id=candidate.id, form=form, errors=[str(error)], status=422)
    db.session.commit()
    name = contact_names([candidate.id]).get(candidate.id, f"gezin {candidate.id}")
    flash(f"{name} staat nu bij ‘niet geschikt’ en komt niet meer in de suggesties.", "success")
    return _back(family_id, "niet-geschikt")


@matching.route("/<int:family_id>/suggesties/weer-meenemen", methods=["POST"])
@roles_allowed(*READERS)
def unmark_match(family_id: int):
    family = get_for_tenant(Family, family_id)
    form = UnmarkForm()
    if not form.validate_on_submit():
        return _render(family_id, form=form, status=422)
    candidate = get_for_tenant(Family, form.candidate_id.data)
    vraag, steun = _pair(family, candidate)
    try:
        unmark(vraag, steun, _actor())
    except MatchError as error:
        db.session.rollback()
        return _render(family_id, errors=[str(error)], status=422)
    db.session.commit()
    name = contact_names([candidate.id]).get(candidate.id, f"gezin {candidate.id}")
    flash(f"{name} kan weer in de suggesties komen.", "success")
    return _back(family_id, "suggesties")
