"""The public registration forms: a fixed number of rows for adults and children, so no JavaScript.

The forms only read what was typed (text lengths, the shape of a year); the rules about families
live in ``domain.families.registration`` and come back as messages per field.
"""

from __future__ import annotations

import re

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    FieldList,
    Form,
    FormField,
    RadioField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import Length, ValidationError

from domain.families.models import ReferralSource
from domain.families.registration import MAX_ADULTS, MAX_CHILDREN

_YEAR = re.compile(r"^\s*[0-9]{4}\s*$")

# {value: label}: the shape WTForms keeps (tuples are deprecated).
REFERRAL_CHOICES = {
    ReferralSource.SELF.value: _l("Ik kwam er zelf op"),
    ReferralSource.BUURTTEAM.value: _l("Via het buurtteam"),
    ReferralSource.CONSULTATIEBUREAU.value: _l("Via het consultatiebureau"),
    ReferralSource.SCHOOL.value: _l("Via school"),
    ReferralSource.HUISARTS.value: _l("Via de huisarts"),
    ReferralSource.OTHER.value: _l("Anders"),
}


def _max(n: int):
    return Length(max=n, message=_l("Dit is te lang: hoogstens %(n)s tekens.", n=n))


def year_shape(form, field) -> None:
    if (field.data or "").strip() and not _YEAR.match(field.data):
        raise ValidationError(_l("Vul een jaartal in met vier cijfers, zoals 1985."))


def parse_year(value: str | None) -> int | None:
    return int(value) if value and _YEAR.match(value) else None


class AdultRow(Form):
    first_name = StringField(_l("Voornaam"), validators=[_max(100)], render_kw={"autocomplete": "off"})
    last_name = StringField(_l("Achternaam"), validators=[_max(100)], render_kw={"autocomplete": "off"})
    birth_year = StringField(_l("Geboortejaar"), validators=[year_shape],
                             render_kw={"inputmode": "numeric", "maxlength": 4, "autocomplete": "off"})


class ChildRow(Form):
    first_name = StringField(_l("Voornaam"), validators=[_max(100)], render_kw={"autocomplete": "off"})
    birth_year = StringField(_l("Geboortejaar"), validators=[year_shape],
                             render_kw={"inputmode": "numeric", "maxlength": 4, "autocomplete": "off"})


class RegistrationForm(FlaskForm):
    adults = FieldList(FormField(AdultRow), min_entries=MAX_ADULTS, max_entries=MAX_ADULTS)
    children = FieldList(FormField(ChildRow), min_entries=MAX_CHILDREN, max_entries=MAX_CHILDREN)

    street_address = StringField(_l("Straat en huisnummer"), validators=[_max(200)],
                                 render_kw={"autocomplete": "street-address"})
    postcode = StringField(_l("Postcode"), description=_l("Bijvoorbeeld 9201 AB."), validators=[_max(10)],
                           render_kw={"autocomplete": "postal-code", "size": 8})
    place = StringField(_l("Woonplaats"), validators=[_max(100)], render_kw={"autocomplete": "address-level2"})
    email = StringField(_l("E-mailadres"), validators=[_max(254)],
                        description=_l("Vul een e-mailadres of een telefoonnummer in, of allebei."),
                        render_kw={"autocomplete": "email", "type": "email", "inputmode": "email"})
    phone = StringField(_l("Telefoonnummer"), validators=[_max(32)],
                        render_kw={"autocomplete": "tel", "type": "tel", "inputmode": "tel"})

    referral_source = RadioField(_l("Hoe ken je Buurtgezinnen?"), choices=REFERRAL_CHOICES,
                                 default=ReferralSource.SELF.value, validate_choice=False)
    referrer_name = StringField(_l("Naam van wie je verwees (niet verplicht)"), validators=[_max(100)])
    referrer_organisation = StringField(_l("Organisatie (niet verplicht)"), validators=[_max(100)])
    referrer_email = StringField(_l("E-mailadres van wie je verwees (niet verplicht)"), validators=[_max(254)],
                                 render_kw={"type": "email", "inputmode": "email"})

    wish = TextAreaField(_l("Wat voor steun zoeken jullie?"), validators=[_max(4000)],
                         description=_l("In je eigen woorden. Bijvoorbeeld: één middag in de week opvang na "
                                        "school, of iemand die mee gaat naar zwemles."))
    support_codes = SelectMultipleField(_l("Waar zou een steungezin bij kunnen helpen? (niet verplicht)"),
                                        choices={}, validate_choice=False)
    availability = TextAreaField(_l("Wanneer zou steun het meest helpen? (niet verplicht)"), validators=[_max(2000)],
                                 description=_l("Bijvoorbeeld: woensdagmiddag, of af en toe een weekend."))

    consent_processing = BooleanField(_l("Ja, ik geef deze toestemming"))
    consent_contact = BooleanField(_l("Ja, Buurtgezinnen mag ons later ook mailen of bellen (niet verplicht)"))

    # The honeypot: hidden from people (CSS, aria-hidden, no tab stop), filled in by bots.
    website = StringField(_l("Laat dit veld leeg"), render_kw={"tabindex": "-1", "autocomplete": "off"})


class VraaggezinForm(RegistrationForm):
    by_professional = BooleanField(_l("Ik meld een gezin aan als professional"))
    referral_consent = BooleanField(_l("Het gezin heeft toestemming gegeven"))
    referrer_name = StringField(
        _l("Naam van wie je verwees (niet verplicht)"), validators=[_max(100)],
        description=_l("Meld je als professional een gezin aan? Vul dan hier je eigen naam in."))
    referrer_email = StringField(
        _l("E-mailadres van wie je verwees (niet verplicht)"), validators=[_max(254)],
        description=_l("Als professional krijg je op dit adres een bevestiging."),
        render_kw={"type": "email", "inputmode": "email"})


class SteungezinForm(RegistrationForm):
    wish = TextAreaField(_l("Wat zouden jullie graag doen voor een ander gezin?"), validators=[_max(4000)],
                         description=_l("In je eigen woorden. Bijvoorbeeld: een kind één middag in de week "
                                        "opvangen, of samen iets leuks doen."))
    support_codes = SelectMultipleField(_l("Wat kunnen jullie bieden? (niet verplicht)"), choices={},
                                        validate_choice=False)
    availability = TextAreaField(_l("Wanneer hebben jullie tijd? (niet verplicht)"), validators=[_max(2000)],
                                 description=_l("Bijvoorbeeld: elke woensdagmiddag, of één weekend per maand."))
