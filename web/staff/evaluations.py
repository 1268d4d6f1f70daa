"""The evaluations of one koppeling, at /<slug>/app/koppelingen/<id>/evaluaties: each family's answers
per moment, the baseline and progress of the four goals, and the coordinator's conversation per
moment (recorded and corrected here). Every lookup goes through ``get_for_tenant``.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app, flash, g, redirect, render_template, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import SelectField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length, Optional

from domain.accounts.models import StaffUser, TenantRole
from domain.audit.services import record
from domain.evaluations.models import EvaluationRole
from domain.evaluations.services import (
    CONTINUE_CHOICES,
    GOALS,
    NOTES_MAX_LENGTH,
    OUTCOME_LABELS,
    ROLE_LABELS,
    SATISFIED_CHOICES,
    EvaluationError,
    GoalProgress,
    conversation_for,
    conversation_moments,
    evaluation_overview,
    family_names,
    goal_progress,
    moment_label,
    next_evaluation,
    record_conversation,
)
from domain.families.records import local_today
from domain.koppelingen.models import Koppeling
from domain.koppelingen.services import STATUS_LABELS
from tenants.access import get_for_tenant
from tenants.db import db
from web.access import guard_blueprint, roles_allowed
from web.auth.flow import client_actor
from web.staff.family_forms import DATE_REQUIRED, DutchDateField
from web.tenancy import tenant_blueprint

evaluations = tenant_blueprint("evaluations", __name__, "/app/koppelingen")
guard_blueprint(evaluations, realm="tenant", login_endpoint="auth.login")

READERS = (TenantRole.COORDINATOR, TenantRole.TENANT_ADMIN)


class ConversationForm(FlaskForm):
    moment = SelectField("Evaluatiemoment", choices=[], validate_choice=False)
    held_on = DutchDateField("Datum van het gesprek", validators=[InputRequired(DATE_REQUIRED)])
    outcome = SelectField("Uitkomst", validate_choice=False,
                          choices=[SelectChoice("", "Kies de uitkomst"),
                                   *(SelectChoice(outcome.value, label) for outcome, label in OUTCOME_LABELS.items())],
                          description="Na de proefperiode: alleen met een positieve uitkomst kan de koppeling "
                                      "definitief worden.")
    notes = TextAreaField("Notities (optioneel)", description="Wat is besproken en afgesproken.",
                          validators=[Optional(), Length(max=NOTES_MAX_LENGTH,
                                                         message=f"Hooguit {NOTES_MAX_LENGTH} tekens.")])


def _actor():
    return client_actor(current_user.account.email, current_user.account.id)


def _koppeling_url(koppeling_id: int) -> str | None:
    """The koppeling page (built in web/staff/koppelingen.py), once it exists."""
    if "koppelingen.detail" in current_app.view_functions:
        return url_for("koppelingen.detail", koppeling_id=koppeling_id)
    return None


# --- the chart: a small inline SVG, with the table as its text alternative -------------------------------


@dataclass(frozen=True)
class ChartLine:
    label: str
    points: str  # "x,y x,y …" for <polyline>
    dots: list[tuple[int, int, int]]  # (x, y, score)
    dash: str
    colour: str


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    columns: list[tuple[int, str]]  # (x, moment label)
    rows: list[tuple[int, int]]  # (y, score)
    lines: list[ChartLine]


LINE_STYLES = (("0", "#00557a"), ("8 4", "#a4000f"), ("2 4", "#3d6b00"), ("12 4 2 4", "#5c3b8a"))


def _chart(progress: list[GoalProgress]) -> Chart | None:
    first = progress[0] if progress else None
    if first is None or first.baseline is None or not first.later:
        return None
    columns = [first.baseline, *first.later]
    step, left, top, row_height = 120, 70, 20, 30
    width = left + step * (len(columns) - 1) + 60
    height = top + row_height * 4 + 50

    def y(score: int) -> int:
        return top + (5 - score) * row_height

    lines = []
    for goal, (dash, colour) in zip(progress, LINE_STYLES, strict=False):
        if goal.baseline is None:
            continue
        scores = [goal.baseline, *goal.later]
        dots = [(left + step * index, y(point.score), point.score) for index, point in enumerate(scores)]
        lines.append(ChartLine(goal.label, " ".join(f"{x},{yy}" for x, yy, _ in dots), dots, dash, colour))
    return Chart(width, height, [(left + step * index, point.label) for index, point in enumerate(columns)],
                 [(y(score), score) for score in range(1, 6)], lines)


# --- pages ------------------------------------------------------------------------------------------------


def _default_moment(choices: list[str], koppeling: Koppeling) -> str | None:
    open_moments = [moment for moment in choices if conversation_for(koppeling, moment) is None]
    return (open_moments or choices or [None])[-1]


def _render(koppeling_id: int, form: ConversationForm | None = None, status: int = 200):
    koppeling = get_for_tenant(Koppeling, koppeling_id)
    today = local_today()
    names = family_names({koppeling.vraag_family_id, koppeling.steun_family_id})
    moments = conversation_moments(koppeling, g.tenant, today)
    if form is None:
        form = ConversationForm(formdata=None, moment=_default_moment(moments, koppeling), held_on=today)
    form.moment.choices = [SelectChoice(moment, moment_label(moment)) for moment in moments]
    progress = goal_progress(koppeling)
    coordinator = (db.session.get(StaffUser, koppeling.coordinator_id) if koppeling.coordinator_id else None)
    record("evaluations.viewed", _actor(), object_type="koppeling", object_id=koppeling.id)
    db.session.commit()
    upcoming = next_evaluation(koppeling, g.tenant, today)
    return render_template(
        "web/staff/evaluations/koppeling.html", koppeling=koppeling, names=names,
        vraag_name=names.get(koppeling.vraag_family_id) or f"Gezin {koppeling.vraag_family_id}",
        steun_name=names.get(koppeling.steun_family_id) or f"Gezin {koppeling.steun_family_id}",
        overview=evaluation_overview(koppeling, g.tenant, today), progress=progress, chart=_chart(progress),
        form=form, moments=moments, koppeling_url=_koppeling_url(koppeling.id), coordinator=coordinator,
        upcoming=(moment_label(upcoming[0]), upcoming[1]) if upcoming else None, status_labels=STATUS_LABELS,
        outcome_labels={o.value: label for o, label in OUTCOME_LABELS.items()},
        role_labels={r.value: label for r, label in ROLE_LABELS.items()}, goals=GOALS,
        satisfied_labels=SATISFIED_CHOICES, continue_labels=CONTINUE_CHOICES, vraag=EvaluationRole.VRAAG.value,
    ), status


@evaluations.route("/<int:koppeling_id>/evaluaties")
@roles_allowed(*READERS)
def koppeling(koppeling_id: int):
    return _render(koppeling_id)


@evaluations.route("/<int:koppeling_id>/evaluaties/gesprek", methods=["POST"])
@roles_allowed(*READERS)
def conversation(koppeling_id: int):
    found = get_for_tenant(Koppeling, koppeling_id)
    form = ConversationForm()
    if form.validate_on_submit():
        try:
            record_conversation_from(found, form)
        except EvaluationError as error:
            db.session.rollback()
            target = getattr(form, error.field or "", None) or form.moment
            target.errors = [*target.errors, str(error)]
        else:
            db.session.commit()
            flash(f"Het evaluatiegesprek ({moment_label(form.moment.data)}) is vastgelegd.", "success")
            return redirect(url_for("evaluations.koppeling", koppeling_id=koppeling_id))
    db.session.rollback()
    return _render(koppeling_id, form=form, status=422)


def record_conversation_from(found: Koppeling, form: ConversationForm) -> None:
    record_conversation(found, form.moment.data or "", form.held_on.data, form.outcome.data or None,
                        form.notes.data, _actor(), today=local_today())
