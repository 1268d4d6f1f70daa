"""Family records for coordinators at /<slug>/app/gezinnen/…

The list with filters, one family's page (every view of it is on record), its coordinator, status
changes, notes, intake visits with the family's profile, and the household. Every lookup goes through
``get_for_tenant``: another gemeente's family is "not found", like a missing one.
"""

from __future__ import annotations

from flask import flash, g, redirect, render_template, request, url_for
from flask_login import current_user
from werkzeug.datastructures import MultiDict

from domain.accounts.models import TenantRole
from domain.families.assignment import (
    NOT_ASSIGNABLE,
    AssignmentError,
    assign_coordinator,
    assignable_coordinators,
    coordinator_of,
)
from domain.families.household import NEW, HouseholdError, MemberEdit, NewMember, update_household
from domain.families.intake import (
    COMPETENCE_LABELS,
    DAYPARTS,
    DISTANCE_LABELS,
    INTAKE_QUESTIONS,
    WEEKDAYS,
    IntakeError,
    ProfileInput,
    VisitInput,
    availability_slots,
    build_availability,
    build_competence,
    finish_intake,
    save_intake,
)
from domain.families.models import (
    ConsentKind,
    Family,
    FamilyKind,
    FamilyStatus,
    MemberRole,
    ReferralSource,
)
from domain.families.records import (
    KIND_LABELS,
    FamilyFilters,
    NoteError,
    add_note,
    age_of,
    contact_name,
    load_family_record,
    local_today,
    members_of,
    record_view,
    search_families,
    visits_of,
)
from domain.families.status import STATUS_LABELS, StatusError, allowed_next, change_status
from domain.families.support_types import active_support_types, ensure_default_support_types, support_labels
from domain.koppelingen.queries import family_koppelingen
from domain.vog.services import STATUS_LABELS as VOG_LABELS
from domain.vog.services import vog_blockers, vog_rows
from tenants.access import get_for_tenant
from tenants.db import db
from web.access import guard_blueprint, roles_allowed
from web.auth.flow import client_actor
from web.staff.family_forms import (
    MINE,
    UNASSIGNED,
    CoordinatorForm,
    FamilyFilterForm,
    HouseholdForm,
    IntakeForm,
    MemberRowForm,
    NewMemberForm,
    NoteForm,
    StatusForm,
)
from web.staff.forms import ConfirmForm
from web.tenancy import tenant_blueprint

families = tenant_blueprint("families", __name__, "/app/gezinnen")
guard_blueprint(families, realm="tenant", login_endpoint="auth.login")

# Personal data: coordinators and tenant admins only; the gemeente sees aggregates elsewhere.
READERS = (TenantRole.COORDINATOR, TenantRole.TENANT_ADMIN)

REFERRAL_LABELS = {
    ReferralSource.SELF: "het gezin zelf",
    ReferralSource.BUURTTEAM: "buurtteam",
    ReferralSource.CONSULTATIEBUREAU: "consultatiebureau",
    ReferralSource.SCHOOL: "school",
    ReferralSource.HUISARTS: "huisarts",
    ReferralSource.OTHER: "anders",
}
CONSENT_LABELS = {
    ConsentKind.PROCESSING: "Verwerking van gegevens",
    ConsentKind.CONTACT: "Contact per e-mail of telefoon",
    ConsentKind.PUBLICATION: "Publicatie van een anoniem profiel",
    ConsentKind.REFERRAL: "Aanmelding door een verwijzer",
}
FILTER_KEYS = ("q", "kind", "status", "weeks", "support", "area", "coordinator", "sort")
PAGE_LABELS = {"detail": "gezinspagina", "intake": "intake", "huishouden": "huishouden"}


def _actor():
    return client_actor(current_user.account.email, current_user.account.id)


def _labels() -> dict:
    return {
        "kind_labels": KIND_LABELS, "status_labels": STATUS_LABELS, "referral_labels": REFERRAL_LABELS,
        "consent_labels": CONSENT_LABELS, "distance_labels": DISTANCE_LABELS, "page_labels": PAGE_LABELS,
        "competence_labels": COMPETENCE_LABELS, "weekdays": WEEKDAYS, "dayparts": DAYPARTS,
        "questions": INTAKE_QUESTIONS,
    }


def _add_error(field, message: str) -> None:
    field.errors = [*field.errors, message]


# --- list --------------------------------------------------------------------------------------------


@families.route("/")
@roles_allowed(*READERS)
def index():
    ensure_default_support_types(g.tenant.id)
    db.session.commit()
    form = FamilyFilterForm(formdata=request.args)
    form.support.choices = {"": "alle steunvormen"} | {t.code: t.label for t in active_support_types()}
    form.validate()
    kinds, statuses = {k.value for k in FamilyKind}, {s.value for s in FamilyStatus}
    filters = FamilyFilters(
        kind=form.kind.data if form.kind.data in kinds else None,
        status=form.status.data if form.status.data in statuses else None,
        waiting_weeks=form.weeks.data if not form.weeks.errors else None,
        support_code=form.support.data or None,
        area=form.area.data if not form.area.errors else None,
        q=form.q.data if not form.q.errors else None,
        coordinator_id=current_user.account.id if form.coordinator.data == MINE else None,
        without_coordinator=form.coordinator.data == UNASSIGNED,
        sort=form.sort.data or "wacht",
    )
    result = search_families(filters, page=request.args.get("page", 1, type=int))
    query_args = {key: value for key, value in request.args.items() if key in FILTER_KEYS and value}
    filtered = any(value for key, value in query_args.items() if key != "sort")
    return render_template("web/staff/families/list.html", form=form, result=result, labels=support_labels(),
                           query_args=query_args, filtered=filtered, **_labels())


# --- one family --------------------------------------------------------------------------------------


def _status_form(family: Family, form: StatusForm | None = None) -> StatusForm:
    form = form or StatusForm()
    form.status.choices = {"": "kies een status"} | {
        status.value: STATUS_LABELS[status] for status in sorted(allowed_next(family), key=list(FamilyStatus).index)
    }
    return form


def _coordinator_form(family: Family, form: CoordinatorForm | None = None) -> CoordinatorForm:
    current = coordinator_of(family)
    if form is None:
        form = CoordinatorForm(formdata=None, data={"coordinator": str(family.coordinator_id or "")})
    choices = {"": "— niemand —"} | {str(user.id): user.full_name for user in assignable_coordinators()}
    if current is not None and str(current.id) not in choices:  # deactivated since: keep showing who it is
        choices[str(current.id)] = f"{current.full_name} (niet meer actief)"
    form.coordinator.choices = choices
    return form


def _render_detail(family_id: int, *, status_form: StatusForm | None = None, note_form: NoteForm | None = None,
                   coordinator_form: CoordinatorForm | None = None):
    family = get_for_tenant(Family, family_id)
    record_view(family, _actor(), "detail")
    db.session.commit()
    record = load_family_record(family_id)
    return render_template(
        "web/staff/families/detail.html", record=record, family=record.family,
        coordinator=coordinator_of(record.family),
        coordinator_form=_coordinator_form(record.family, coordinator_form),
        status_form=_status_form(record.family, status_form), note_form=note_form or NoteForm(),
        confirm=ConfirmForm(), age_of=age_of, slots=availability_slots(record.family.availability),
        vogs=vog_rows(family_id=family_id) if record.family.kind == FamilyKind.STEUN else [],
        vog_blockers=vog_blockers(record.family) if record.family.kind == FamilyKind.STEUN else [],
        vog_labels=VOG_LABELS, koppelingen=family_koppelingen(family_id), **_labels(),
    )


@families.route("/<int:family_id>")
@roles_allowed(*READERS)
def detail(family_id: int):
    return _render_detail(family_id)


@families.route("/<int:family_id>/status", methods=["POST"])
@roles_allowed(*READERS)
def change_family_status(family_id: int):
    family = get_for_tenant(Family, family_id)
    form = StatusForm()
    if form.validate_on_submit():
        target, reason = form.status.data, (form.reason.data or "").strip()
        try:
            change_status(family, target, _actor(), reason)
        except StatusError as error:
            db.session.rollback()
            reason_missing = target == FamilyStatus.AFGEMELD.value and not reason
            _add_error(form.reason if reason_missing else form.status, str(error))
        else:
            db.session.commit()
            flash(f"De status is nu ‘{STATUS_LABELS[FamilyStatus(target)]}’.", "success")
            return redirect(url_for("families.detail", family_id=family_id, _anchor="statusverloop"))
    return _render_detail(family_id, status_form=form)


@families.route("/<int:family_id>/coordinator", methods=["POST"])
@roles_allowed(*READERS)
def assign_family_coordinator(family_id: int):
    family = get_for_tenant(Family, family_id)
    form = CoordinatorForm()
    if form.validate_on_submit():
        raw = (form.coordinator.data or "").strip()
        if raw and not raw.isdigit():
            _add_error(form.coordinator, NOT_ASSIGNABLE)
        else:
            try:
                assign_coordinator(family, int(raw) if raw else None, _actor())
            except AssignmentError as error:
                db.session.rollback()
                _add_error(form.coordinator, str(error))
            else:
                db.session.commit()
                flash("Coördinator toegewezen." if raw else "Het gezin heeft nu geen coördinator.", "success")
                return redirect(url_for("families.detail", family_id=family_id, _anchor="gezinscoordinator"))
    return _render_detail(family_id, coordinator_form=form)


@families.route("/<int:family_id>/notities", methods=["POST"])
@roles_allowed(*READERS)
def add_family_note(family_id: int):
    family = get_for_tenant(Family, family_id)
    form = NoteForm()
    if form.validate_on_submit():
        try:
            add_note(family, form.body.data, _actor(), author_label=current_user.account.full_name)
        except NoteError as error:
            db.session.rollback()
            _add_error(form.body, str(error))
        else:
            db.session.commit()
            flash("Notitie opgeslagen.", "success")
            return redirect(url_for("families.detail", family_id=family_id, _anchor="notities"))
    return _render_detail(family_id, note_form=form)


# --- intake ------------------------------------------------------------------------------------------


def _intake_defaults(family: Family) -> dict:
    competence = family.competence or {}
    availability = family.availability or {}
    return {
        "support_codes": list(family.support_codes or []),
        "availability": sorted(availability_slots(availability)),
        "weekend": bool(availability.get("weekend")),
        "overnight": bool(availability.get("overnacht")),
        "distance_preference": str(family.distance_preference or "geen_voorkeur"),
        "opvoedervaring": competence.get("opvoedervaring", ""),
        "motivatie": competence.get("motivatie", ""),
        "wat_kan_het_gezin_aan": competence.get("wat_kan_het_gezin_aan", ""),
        "huisgenoten_18_plus": competence.get("huisgenoten_18_plus"),
    }


@families.route("/<int:family_id>/intake", methods=["GET", "POST"])
@roles_allowed(*READERS)
def intake(family_id: int):
    family = get_for_tenant(Family, family_id)
    ensure_default_support_types(g.tenant.id)
    db.session.commit()
    if request.method == "POST":
        form = IntakeForm()
    else:
        form = IntakeForm(formdata=None, data={**_intake_defaults(family), "visited_on": local_today()})
    labels = support_labels()
    choices = {t.code: t.label for t in active_support_types()}
    choices |= {code: labels.get(code, code) for code in family.support_codes or [] if code not in choices}
    form.support_codes.choices = choices
    is_steun = family.kind == FamilyKind.STEUN

    if form.validate_on_submit():
        wants_visit = form.has_visit()
        if wants_visit and form.visited_on.data is None and not form.visited_on.errors:
            _add_error(form.visited_on, "Vul de datum van het bezoek in.")
        else:
            visit = VisitInput(form.visited_on.data, *(f.data for f in form.visit_texts())) if wants_visit else None
            try:
                profile = ProfileInput(
                    support_codes=tuple(form.support_codes.data or ()),
                    availability=build_availability(form.availability.data or (), weekend=form.weekend.data,
                                                    overnight=form.overnight.data),
                    distance_preference=form.distance_preference.data,
                    competence=build_competence(form.opvoedervaring.data, form.motivatie.data,
                                                form.wat_kan_het_gezin_aan.data,
                                                form.huisgenoten_18_plus.data) if is_steun else None,
                )
                save_intake(family, visit, profile, _actor())
            except IntakeError as error:
                db.session.rollback()
                field = form[error.field] if error.field and error.field in form else None
                if field is not None:
                    _add_error(field, str(error))
                else:
                    form.form_errors.append(str(error))
            else:
                db.session.commit()
                flash("Intake opgeslagen." if visit else "Profiel opgeslagen.", "success")
                return redirect(url_for("families.detail", family_id=family_id))

    family = get_for_tenant(Family, family_id)
    record_view(family, _actor(), "intake")
    db.session.commit()
    members = members_of(family)
    return render_template(
        "web/staff/families/intake.html", form=form, family=family, is_steun=is_steun,
        name=contact_name(members), visits=visits_of(family), confirm=ConfirmForm(),
        can_finish=family.status == FamilyStatus.INTAKE, **_labels(),
    )


@families.route("/<int:family_id>/intake/afronden", methods=["POST"])
@roles_allowed(*READERS)
def finish_family_intake(family_id: int):
    family = get_for_tenant(Family, family_id)
    if not ConfirmForm().validate_on_submit():
        flash("Het formulier was verlopen. Probeer het opnieuw.", "error")
        return redirect(url_for("families.intake", family_id=family_id))
    try:
        target = finish_intake(family, _actor())
    except (IntakeError, StatusError) as error:
        db.session.rollback()
        flash(str(error), "error")
        return redirect(url_for("families.intake", family_id=family_id))
    db.session.commit()
    flash(f"Intake afgerond. Het gezin is nu ‘{STATUS_LABELS[target]}’.", "success")
    return redirect(url_for("families.detail", family_id=family_id))


# --- household ---------------------------------------------------------------------------------------


@families.route("/<int:family_id>/huishouden", methods=["GET", "POST"])
@roles_allowed(*READERS)
def household(family_id: int):
    family = get_for_tenant(Family, family_id)
    members = members_of(family)
    posted = request.method == "POST"
    formdata = request.form if posted else MultiDict()
    form = HouseholdForm()
    rows = [(member, MemberRowForm(formdata if posted else None, obj=member, prefix=f"m{member.id}"))
            for member in members]
    new = NewMemberForm(formdata if posted else None, prefix=NEW)
    household_error = None

    if form.validate_on_submit():
        valid = [row.validate() for _, row in rows] + [new.validate()]
        if all(valid):
            edits = [MemberEdit(member.id, row.first_name.data, row.last_name.data, row.birth_year.data,
                                row.birth_date.data, row.remove.data) for member, row in rows]
            addition = None if new.is_empty() else NewMember(new.role.data, new.first_name.data, new.last_name.data,
                                                            new.birth_year.data, new.birth_date.data)
            try:
                update_household(family, edits, addition, _actor())
            except HouseholdError as error:
                db.session.rollback()
                target = new if error.row == NEW else dict((m.id, r) for m, r in rows).get(error.row)
                if target is not None and error.field in target:
                    _add_error(target[error.field], str(error))
                else:
                    household_error = str(error)
            else:
                db.session.commit()
                flash("Huishouden opgeslagen.", "success")
                return redirect(url_for("families.detail", family_id=family_id, _anchor="huishouden"))

    family = get_for_tenant(Family, family_id)
    record_view(family, _actor(), "huishouden")
    db.session.commit()
    invalid = any(row.errors for _, row in rows) or bool(new.errors) or bool(household_error)
    return render_template(
        "web/staff/families/household.html", form=form, family=family, rows=rows, new=new,
        name=contact_name(members), household_error=household_error, invalid=invalid,
        member_roles=MemberRole, **_labels(),
    )
