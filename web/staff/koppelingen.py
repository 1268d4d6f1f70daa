"""Koppelingen for coordinators at /<slug>/app/koppelingen/…: the list with a status filter, and one
koppeling's page with its families, what was agreed, its dates, its timeline, the kennismakingen and
a form for every step that is allowed now.

Every step is one service call: on a ``KoppelingError`` the transaction is rolled back (nothing
changed) and the page is shown again with the message, next to its field when it names one and in
the summary at the top; on success a flash and a redirect (post/redirect/get). Every lookup goes
through ``get_for_tenant``, so another gemeente's koppeling is "not found", like a missing one.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from wtforms import Field

from domain.accounts.models import TenantRole
from domain.audit.services import record
from domain.evaluations.services import start_final_evaluation
from domain.families.records import KIND_LABELS, LOCAL_TIME, local_today
from domain.koppelingen.kennismaking import (
    OUTCOME_LABELS,
    cancel,
    cancel_upcoming,
    ends_at,
    is_past,
    is_upcoming,
    local_start,
    plan_meeting,
    recipients,
    record_outcome,
    reschedule,
)
from domain.koppelingen.models import Kennismaking, Koppeling, KoppelingStatus
from domain.koppelingen.queries import koppeling_rows, load_koppeling_page
from domain.koppelingen.services import (
    STATUS_LABELS,
    STOP_REASON_LABELS,
    KoppelingError,
    allowed_next,
    close,
    extend_guidance,
    make_definitief,
    record_proposal_answer,
    start_kennismaking,
    start_proefperiode,
    stop,
    vog_guard_message,
)
from tenants.access import get_for_tenant
from tenants.db import db
from web.access import guard_blueprint, roles_allowed
from web.auth.flow import client_actor
from web.staff.documents import agreement_form, agreement_panel
from web.staff.forms import ConfirmForm
from web.staff.koppeling_forms import (
    CloseForm,
    DefinitiefForm,
    ExtendForm,
    MeetingForm,
    OutcomeForm,
    ProefperiodeForm,
    StatusFilterForm,
    SteunAnswerForm,
    StopForm,
    VraagAnswerForm,
)
from web.tenancy import tenant_blueprint

koppelingen = tenant_blueprint("koppelingen", __name__, "/app/koppelingen")
guard_blueprint(koppelingen, realm="tenant", login_endpoint="auth.login")

# Personal data and decisions about families: coordinators and tenant admins only.
READERS = (TenantRole.COORDINATOR, TenantRole.TENANT_ADMIN)
K = KoppelingStatus
EVALUATIONS_ENDPOINT = "evaluations.koppeling"


def _actor():
    return client_actor(current_user.account.email, current_user.account.id)


def _labels() -> dict:
    return {"status_labels": STATUS_LABELS, "stop_reason_labels": STOP_REASON_LABELS, "kind_labels": KIND_LABELS,
            "outcome_labels": OUTCOME_LABELS, "K": K}


# --- list ----------------------------------------------------------------------------------------------


@koppelingen.route("/")
@roles_allowed(*READERS)
def index():
    form = StatusFilterForm(formdata=request.args)
    status = form.status.data if form.status.data in {s.value for s in K} else None
    return render_template("web/staff/koppelingen/list.html", form=form, rows=koppeling_rows(status), status=status,
                           **_labels())


# --- one koppeling ---------------------------------------------------------------------------------------


def _default_forms(page) -> dict:
    today = local_today()
    upcoming = page.upcoming()
    reschedule_form = MeetingForm(formdata=None)
    if upcoming:
        start = upcoming[0].starts_at.astimezone(LOCAL_TIME)
        reschedule_form = MeetingForm(formdata=None, day=start.date(), at=start.time().replace(second=0),
                                      duration_minutes=upcoming[0].duration_minutes, location=upcoming[0].location)
    return {
        "vraag_answer": VraagAnswerForm(formdata=None, vraag_agreed_on=today),
        "steun_answer": SteunAnswerForm(formdata=None, steun_agreed_on=today),
        "plan": MeetingForm(formdata=None, location=page.koppeling.location or None),
        "reschedule": reschedule_form,
        "outcome": OutcomeForm(formdata=None),
        "proefperiode": ProefperiodeForm(formdata=None, start_on=today),
        "definitief": DefinitiefForm(formdata=None, definitief_on=today),
        "extend": ExtendForm(formdata=None),
        "close": CloseForm(formdata=None),
        "stop": StopForm(formdata=None),
        "agreement": agreement_form(page.koppeling),
    }


def _messages(form) -> list[str]:
    """Every error of a submitted form, for the summary at the top of the page."""
    found = list(form.form_errors)
    for field in form:
        found.extend(field.errors)
    return found


def _render_detail(koppeling_id: int, *, forms: dict | None = None, failed: str | None = None, status: int = 200):
    koppeling = get_for_tenant(Koppeling, koppeling_id)
    page = load_koppeling_page(koppeling)
    all_forms = _default_forms(page) | (forms or {})
    today = local_today()
    vog_message = (vog_guard_message(page.steun, today)
                   if K(koppeling.status) in (K.VOORGESTELD, K.KENNISMAKING) else None)
    _, unreachable = recipients(koppeling)
    return render_template(
        "web/staff/koppelingen/detail.html", page=page, k=koppeling, forms=all_forms, confirm=ConfirmForm(),
        failed=failed, failed_messages=_messages(all_forms[failed]) if failed in all_forms else [],
        allowed=allowed_next(koppeling), vog_message=vog_message, today=today, unreachable=unreachable,
        upcoming=page.upcoming(), without_outcome=page.without_outcome(), is_past=is_past, is_upcoming=is_upcoming,
        ends_at=ends_at, evaluations_url=(url_for(EVALUATIONS_ENDPOINT, koppeling_id=koppeling.id)
                                          if EVALUATIONS_ENDPOINT in current_app.view_functions else None),
        agreement=agreement_panel(koppeling), **_labels(),
    ), status


def render_detail_with(koppeling_id: int, name: str, form) -> tuple:
    """The koppeling page again with a refused form ``name`` of another module (its errors shown)."""
    return _render_detail(koppeling_id, forms={name: form}, failed=name, status=422)


@koppelingen.route("/<int:koppeling_id>")
@roles_allowed(*READERS)
def detail(koppeling_id: int):
    koppeling = get_for_tenant(Koppeling, koppeling_id)
    # The page shows both families' names and what was agreed: who looked is on record.
    record("koppeling.viewed", _actor(), object_type="koppeling", object_id=koppeling.id)
    db.session.commit()
    return _render_detail(koppeling_id)


def _step(koppeling_id: int, name: str, form, apply: Callable[[Koppeling, object], str | None], *, done: str,
          anchor: str, fields: dict[str, str] | None = None):
    """One step from a form: all or nothing, the refusal next to its field, else back to the page."""
    koppeling = get_for_tenant(Koppeling, koppeling_id)
    if form.validate_on_submit():
        try:
            message = apply(koppeling, form)
        except KoppelingError as error:
            db.session.rollback()
            target = getattr(form, (fields or {}).get(error.field, error.field), None) if error.field else None
            if isinstance(target, Field):
                target.errors = [*target.errors, str(error)]
            else:
                form.form_errors.append(str(error))
        else:
            db.session.commit()
            flash(message or done, "success")
            return redirect(url_for("koppelingen.detail", koppeling_id=koppeling_id, _anchor=anchor))
    return _render_detail(koppeling_id, forms={name: form}, failed=name, status=422)


def _meeting(koppeling_id: int, meeting_id: int) -> Kennismaking:
    get_for_tenant(Koppeling, koppeling_id)
    meeting = get_for_tenant(Kennismaking, meeting_id)
    if meeting.koppeling_id != koppeling_id:
        abort(404)
    return meeting


# --- the proposal ----------------------------------------------------------------------------------------


@koppelingen.route("/<int:koppeling_id>/akkoord-vraaggezin", methods=["POST"])
@roles_allowed(*READERS)
def agree_vraag(koppeling_id: int):
    return _step(koppeling_id, "vraag_answer", VraagAnswerForm(),
                 lambda k, form: record_proposal_answer(k, "vraag", form.vraag_agreed_on.data, _actor()),
                 done="Het akkoord van het vraaggezin is vastgelegd.", anchor="voorstel",
                 fields={"agreed_on": "vraag_agreed_on"})


@koppelingen.route("/<int:koppeling_id>/akkoord-steungezin", methods=["POST"])
@roles_allowed(*READERS)
def agree_steun(koppeling_id: int):
    return _step(koppeling_id, "steun_answer", SteunAnswerForm(),
                 lambda k, form: record_proposal_answer(k, "steun", form.steun_agreed_on.data, _actor()),
                 done="Het akkoord van het steungezin is vastgelegd.", anchor="voorstel",
                 fields={"agreed_on": "steun_agreed_on"})


@koppelingen.route("/<int:koppeling_id>/kennismakingsfase", methods=["POST"])
@roles_allowed(*READERS)
def begin_kennismaking(koppeling_id: int):
    return _step(koppeling_id, "kennismaking", ConfirmForm(), lambda k, form: start_kennismaking(k, _actor()),
                 done="De kennismakingsfase is begonnen. Plan nu de kennismaking.", anchor="kennismakingen")


# --- kennismakingen ----------------------------------------------------------------------------------------


def _invited(koppeling: Koppeling, what: str) -> str:
    found, missing = recipients(koppeling)
    who = {"vraag": "het vraaggezin", "steun": "het steungezin", "coordinator": "de coördinator"}
    text = f"{what} Een e-mail met de afspraak gaat naar {_joined([who[r.audience] for r in found]) or 'niemand'}."
    if missing:
        text += f" Geen e-mailadres bekend van {_joined(missing)}: laat het hun zelf weten."
    return text


def _joined(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " en " + parts[-1] if parts else ""


MEETING_FIELDS = {"starts_at": "day"}


@koppelingen.route("/<int:koppeling_id>/kennismakingen", methods=["POST"])
@roles_allowed(*READERS)
def plan(koppeling_id: int):
    def apply(koppeling, form):
        plan_meeting(koppeling, local_start(form.day.data, form.at.data), form.duration_minutes.data,
                     form.location.data, _actor())
        return _invited(koppeling, "De kennismaking is gepland.")
    return _step(koppeling_id, "plan", MeetingForm(), apply, done="De kennismaking is gepland.",
                 anchor="kennismakingen", fields=MEETING_FIELDS)


@koppelingen.route("/<int:koppeling_id>/kennismakingen/<int:meeting_id>/verplaatsen", methods=["POST"])
@roles_allowed(*READERS)
def move(koppeling_id: int, meeting_id: int):
    meeting = _meeting(koppeling_id, meeting_id)

    def apply(koppeling, form):
        reschedule(meeting, local_start(form.day.data, form.at.data), form.duration_minutes.data,
                   form.location.data, _actor())
        return _invited(koppeling, "De kennismaking is verplaatst.")
    return _step(koppeling_id, "reschedule", MeetingForm(), apply, done="De kennismaking is verplaatst.",
                 anchor="kennismakingen", fields=MEETING_FIELDS)


@koppelingen.route("/<int:koppeling_id>/kennismakingen/<int:meeting_id>/afzeggen", methods=["POST"])
@roles_allowed(*READERS)
def call_off(koppeling_id: int, meeting_id: int):
    meeting = _meeting(koppeling_id, meeting_id)

    def apply(koppeling, form):
        cancel(meeting, _actor())
        return _invited(koppeling, "De kennismaking is afgezegd.")
    return _step(koppeling_id, "cancel", ConfirmForm(), apply, done="De kennismaking is afgezegd.",
                 anchor="kennismakingen")


@koppelingen.route("/<int:koppeling_id>/kennismakingen/<int:meeting_id>/uitkomst", methods=["POST"])
@roles_allowed(*READERS)
def outcome(koppeling_id: int, meeting_id: int):
    meeting = _meeting(koppeling_id, meeting_id)
    return _step(koppeling_id, "outcome", OutcomeForm(),
                 lambda k, form: record_outcome(meeting, form.outcome.data or None, form.notes.data, _actor()),
                 done="De uitkomst van de kennismaking is vastgelegd.", anchor="kennismakingen")


# --- the phases --------------------------------------------------------------------------------------------


@koppelingen.route("/<int:koppeling_id>/proefperiode", methods=["POST"])
@roles_allowed(*READERS)
def begin_proefperiode(koppeling_id: int):
    return _step(koppeling_id, "proefperiode", ProefperiodeForm(),
                 lambda k, form: start_proefperiode(k, _actor(), start_on=form.start_on.data),
                 done="De proefperiode is begonnen. Beide gezinnen zijn nu gekoppeld.", anchor="data")


@koppelingen.route("/<int:koppeling_id>/definitief", methods=["POST"])
@roles_allowed(*READERS)
def definitief(koppeling_id: int):
    return _step(koppeling_id, "definitief", DefinitiefForm(),
                 lambda k, form: make_definitief(k, _actor(), on=form.definitief_on.data),
                 done="De koppeling is definitief.", anchor="data", fields={"on": "definitief_on"})


@koppelingen.route("/<int:koppeling_id>/verlengen", methods=["POST"])
@roles_allowed(*READERS)
def extend(koppeling_id: int):
    return _step(koppeling_id, "extend", ExtendForm(),
                 lambda k, form: extend_guidance(k, form.until.data, _actor()),
                 done="De begeleiding is verlengd.", anchor="data")


@koppelingen.route("/<int:koppeling_id>/afsluiten", methods=["POST"])
@roles_allowed(*READERS)
def close_koppeling(koppeling_id: int):
    def apply(koppeling, form):
        close(koppeling, _actor(), note=form.close_note.data)
        # Closing includes a final evaluation: both families get a link to the last form.
        if start_final_evaluation(koppeling):
            return "De koppeling is afgesloten. Beide gezinnen krijgen een link voor de laatste evaluatie."
        return None
    return _step(koppeling_id, "close", CloseForm(), apply, done="De koppeling is afgesloten.", anchor="tijdlijn",
                 fields={"note": "close_note"})


@koppelingen.route("/<int:koppeling_id>/stoppen", methods=["POST"])
@roles_allowed(*READERS)
def stop_koppeling(koppeling_id: int):
    def apply(koppeling, form):
        stop(koppeling, form.reason.data or None, _actor(), note=form.stop_note.data)
        cancelled = cancel_upcoming(koppeling, _actor())
        if cancelled:
            return "De koppeling is gestopt. De geplande kennismaking is afgezegd; iedereen krijgt bericht."
        return None
    return _step(koppeling_id, "stop", StopForm(), apply, done="De koppeling is gestopt.", anchor="tijdlijn",
                 fields={"note": "stop_note"})
