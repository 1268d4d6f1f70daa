"""Public registration of a vraaggezin or steungezin at /<slug>/aanmelden/…

No account, no JavaScript. A filled-in honeypot gets the same thank-you page as a real family,
with nothing written. POSTs are limited per IP address: a few accepted registrations an hour, and
a higher ceiling for every attempt (mistakes included).
"""

from __future__ import annotations

from flask import g, redirect, render_template, request, session, url_for
from flask_babel import lazy_gettext as _l

from domain.families.models import FamilyKind
from domain.families.registration import (
    CONSENT_VERSION,
    CONTACT_CONSENT_TEXT,
    PROCESSING_CONSENT_TEXT,
    REFERRAL_CONSENT_TEXT,
    PersonInput,
    RegistrationData,
    RegistrationError,
    check_registration,
    register_family,
)
from domain.families.support_types import active_support_types, ensure_default_support_types
from domain.geo.geocoder import ATTRIBUTION
from tenants.db import db
from tenants.models import TenantStatus
from web.auth.flow import client_actor
from web.extensions import LANGUAGES, limiter
from web.public.registration_forms import RegistrationForm, SteungezinForm, VraaggezinForm, parse_year
from web.tenancy import tenant_blueprint

registration = tenant_blueprint("registration", __name__, "/aanmelden")


@registration.app_context_processor
def geo_attribution() -> dict[str, str]:
    # The postcode points come from GeoNames (CC BY 4.0): every page's footer says so.
    return {"geo_attribution": ATTRIBUTION}

TOO_MANY = _l("Je hebt dit formulier te vaak verstuurd. Probeer het over een uur opnieuw. "
              "Lukt het dan nog niet? Vraag het buurtteam of je huisarts om je aan te melden.")
ACCEPTED_PER_HOUR = "5 per hour"
ATTEMPTS_PER_HOUR = "30 per hour"


def _accepted(response) -> bool:
    return bool(g.get("registration_accepted"))


def _limits(view):
    # Shared by both forms: one budget per address, not one per form.
    view = limiter.shared_limit(ACCEPTED_PER_HOUR, scope="registration-accepted", methods=["POST"],
                                deduct_when=_accepted, error_message=lambda: str(TOO_MANY))(view)
    return limiter.shared_limit(ATTEMPTS_PER_HOUR, scope="registration-attempts", methods=["POST"],
                                error_message=lambda: str(TOO_MANY))(view)


@registration.route("/vraaggezin", methods=["GET", "POST"])
@_limits
def vraaggezin():
    return _handle(FamilyKind.VRAAG, VraaggezinForm)


@registration.route("/steungezin", methods=["GET", "POST"])
@_limits
def steungezin():
    return _handle(FamilyKind.STEUN, SteungezinForm)


@registration.route("/bedankt")
def thanks():
    kind = request.args.get("soort")
    return render_template("web/public/registration/thanks.html",
                           kind=kind if kind in {FamilyKind.VRAAG.value, FamilyKind.STEUN.value} else None)


def _handle(kind: FamilyKind, form_class: type[RegistrationForm]):
    tenant = g.tenant
    if tenant.status != TenantStatus.ACTIVE:
        return render_template("web/public/registration/paused.html")
    ensure_default_support_types(tenant.id)
    support_types = active_support_types()
    db.session.commit()  # the defaults, if they were missing; nothing else is open yet

    form = form_class()
    form.support_codes.choices = {t.code: t.label for t in support_types}
    _label_rows(form, kind)
    if request.method == "POST":
        if (form.website.data or "").strip():
            # A bot: same answer as for a family, nothing written.
            g.registration_accepted = True
            return redirect(url_for("registration.thanks", soort=kind.value))
        form_ok = form.validate()
        data = _data_from(form, kind)
        if form_ok:
            try:
                register_family(tenant, data, client_actor())
            except RegistrationError as error:
                db.session.rollback()
                _attach(form, error.errors)
            else:
                db.session.commit()
                g.registration_accepted = True
                return redirect(url_for("registration.thanks", soort=kind.value))
        else:
            # The form's own messages stay; the rules add theirs for the other fields.
            try:
                check_registration(tenant, data)
            except RegistrationError as error:
                _attach(form, error.errors)
            db.session.rollback()
    return render_template(
        "web/public/registration/form.html", form=form, kind=kind.value, support_types=support_types,
        processing_text=PROCESSING_CONSENT_TEXT, contact_text=CONTACT_CONSENT_TEXT,
        referral_text=REFERRAL_CONSENT_TEXT, consent_version=CONSENT_VERSION, problems=_problems(form),
    )


def _label_rows(form: RegistrationForm, kind: FamilyKind) -> None:
    contact = form.adults[0]
    contact.first_name.render_kw = {**(contact.first_name.render_kw or {}), "autocomplete": "given-name"}
    contact.last_name.render_kw = {**(contact.last_name.render_kw or {}), "autocomplete": "family-name"}
    for row in form.adults:
        if kind == FamilyKind.STEUN:
            row.birth_year.description = str(_l("Nodig voor de VOG die elke volwassene later aanvraagt."))
        else:
            row.birth_year.label.text = str(_l("Geboortejaar (niet verplicht)"))


def _data_from(form: RegistrationForm, kind: FamilyKind) -> RegistrationData:
    def text(field) -> str:
        return str(field.data or "").strip()

    adults = [PersonInput(text(row.first_name), text(row.last_name), parse_year(row.birth_year.data))
              for row in form.adults]
    children = [PersonInput(text(row.first_name), "", parse_year(row.birth_year.data)) for row in form.children]
    by_professional = bool(getattr(form, "by_professional", None) and form.by_professional.data)
    language = session.get("lang") if session.get("lang") in LANGUAGES else "nl"
    return RegistrationData(
        kind=kind,
        adults=adults,
        children=children,
        street_address=text(form.street_address),
        postcode=text(form.postcode),
        place=text(form.place),
        email=text(form.email),
        phone=text(form.phone),
        referral_source=form.referral_source.data or "",
        referrer_name=text(form.referrer_name),
        referrer_organisation=text(form.referrer_organisation),
        referrer_email=text(form.referrer_email),
        by_professional=by_professional,
        referral_consent=bool(getattr(form, "referral_consent", None) and form.referral_consent.data),
        wish=form.wish.data or "",
        support_codes=[code for code in (form.support_codes.data or []) if isinstance(code, str)],
        availability=form.availability.data or "",
        consent_processing=bool(form.consent_processing.data),
        consent_contact=bool(form.consent_contact.data),
        language=language,
    )


def _fields_by_name(form: RegistrationForm) -> dict[str, object]:
    fields: dict[str, object] = {}
    for field in form:
        if field.type == "FieldList":
            for row in field:
                for sub in row:
                    fields[sub.name] = sub
        else:
            fields[field.name] = field
    return fields


def _problems(form: RegistrationForm) -> list[tuple[str, str]]:
    """(field id, first message) for the summary at the top, in the order of the form."""
    return [(field.id, str(field.errors[0])) for field in _fields_by_name(form).values() if field.errors]


def _attach(form: RegistrationForm, errors: dict[str, str]) -> None:
    fields = _fields_by_name(form)
    for name, message in errors.items():
        target = fields.get(name)
        if target is None:
            continue
        if target.errors:
            continue  # the form's own message about the same field comes first
        target.errors = [message]
