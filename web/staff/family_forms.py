"""Forms of the family pages: the list filters, status, coordinator, notes, intake and household."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    Form,
    IntegerField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from domain.families.household import EARLIEST_YEAR, NAME_MAX_LENGTH
from domain.families.intake import (
    COMPETENCE_LABELS,
    DISTANCE_LABELS,
    INTAKE_QUESTIONS,
    MAX_HOUSEMATES,
    SLOTS,
    TEXT_MAX_LENGTH,
)
from domain.families.models import FamilyKind, FamilyStatus, MemberRole
from domain.families.records import KIND_LABELS, NOTE_MAX_LENGTH, SORTS, local_today
from domain.families.status import STATUS_LABELS

INVALID_DATE = "Vul een datum in als dag-maand-jaar, bijvoorbeeld 14-03-2024."
INVALID_NUMBER = "Vul een heel getal in."
TOO_LONG = "Hooguit %(max)d tekens."  # WTForms fills in %(max)d
DATE_REQUIRED = "Vul een datum in als dag-maand-jaar, bijvoorbeeld 14-03-2026."
MINE, UNASSIGNED = "mij", "geen"
COORDINATOR_FILTERS = {"": "alle coördinatoren", MINE: "mijn gezinnen", UNASSIGNED: "nog niet toegewezen"}


# Choices are {value: label} dicts throughout (the shape WTForms keeps; tuples are deprecated).
def _kind_choices(blank: str) -> dict[str, str]:
    return {"": blank} | {kind.value: KIND_LABELS[kind] for kind in FamilyKind}


def _status_choices(blank: str) -> dict[str, str]:
    return {"": blank} | {status.value: STATUS_LABELS[status] for status in FamilyStatus}


class DutchDateField(DateField):
    """A date input that accepts the browser's ISO date and the Dutch way of writing one."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("format", ["%Y-%m-%d", "%d-%m-%Y", "%d/%m/%Y"])
        kwargs.setdefault("invalid_value_message", INVALID_DATE)
        super().__init__(*args, **kwargs)


class DutchIntegerField(IntegerField):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("invalid_value_message", INVALID_NUMBER)
        super().__init__(*args, **kwargs)


class CheckboxListField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


# --- list --------------------------------------------------------------------------------------------


class FamilyFilterForm(FlaskForm):
    """GET filters of the family list: bookmarkable, no CSRF token needed (it changes nothing)."""

    class Meta:
        csrf = False

    q = StringField("Zoeken", description="Voornaam of achternaam van een gezinslid, of een postcode.",
                    validators=[Optional(), Length(max=100, message=TOO_LONG)])
    kind = SelectField("Soort gezin", choices=_kind_choices("alle gezinnen"), validate_choice=False)
    status = SelectField("Status", choices=_status_choices("alle statussen"), validate_choice=False)
    weeks = DutchIntegerField("Wacht langer dan (weken)",
                              validators=[Optional(), NumberRange(0, 520, "Vul een aantal weken van 0 tot 520 in.")])
    support = SelectField("Steunvorm", choices={"": "alle steunvormen"}, validate_choice=False)
    area = StringField("Gebied", description="Een postcodegebied van vier cijfers (9201) of een plaatsnaam.",
                       validators=[Optional(), Length(max=100, message=TOO_LONG)])
    coordinator = SelectField("Coördinator", choices=dict(COORDINATOR_FILTERS), validate_choice=False)
    sort = SelectField("Volgorde", choices=dict(SORTS), validate_choice=False)


# --- detail ------------------------------------------------------------------------------------------


class StatusForm(FlaskForm):
    # The flow itself decides what is allowed (domain.families.status): its message is the one shown.
    status = SelectField("Nieuwe status", choices={}, validate_choice=False,
                         validators=[DataRequired("Kies een nieuwe status.")])
    reason = TextAreaField("Reden", description="Verplicht bij afmelden.",
                           validators=[Length(max=TEXT_MAX_LENGTH, message=TOO_LONG)])


class CoordinatorForm(FlaskForm):
    # Choices are the gemeente's assignable coordinators (set by the view); the domain decides who may be one.
    coordinator = SelectField("Coördinator", choices={}, validate_choice=False)


class NoteForm(FlaskForm):
    body = TextAreaField("Notitie", validators=[DataRequired("Schrijf eerst een notitie."),
                                                Length(max=NOTE_MAX_LENGTH, message=TOO_LONG)])


# --- intake ------------------------------------------------------------------------------------------


def _question(label: str) -> TextAreaField:
    return TextAreaField(label, validators=[Length(max=TEXT_MAX_LENGTH, message=TOO_LONG)])


class IntakeForm(FlaskForm):
    visited_on = DutchDateField("Datum van het bezoek", validators=[Optional()])
    support_wanted = _question(dict(INTAKE_QUESTIONS)["support_wanted"])
    upbringing_values = _question(dict(INTAKE_QUESTIONS)["upbringing_values"])
    expectations = _question(dict(INTAKE_QUESTIONS)["expectations"])
    gives_back = _question(dict(INTAKE_QUESTIONS)["gives_back"])
    notes = _question("Aantekeningen bij dit bezoek")

    support_codes = CheckboxListField("Steunvormen", choices={}, validate_choice=False)
    availability = CheckboxListField("Beschikbaarheid door de week", choices={slot: slot for slot in SLOTS},
                                     validate_choice=False)
    weekend = BooleanField("In het weekend")
    overnight = BooleanField("Logeren (een nacht of langer)")
    distance_preference = RadioField(
        "Afstand tot het andere gezin", choices={str(key): label for key, label in DISTANCE_LABELS.items()},
        validate_choice=False,
        validators=[InputRequired("Kies een voorkeur voor de afstand.")],
    )
    # Competentieprofiel, steungezinnen only.
    opvoedervaring = _question(COMPETENCE_LABELS["opvoedervaring"])
    motivatie = _question(COMPETENCE_LABELS["motivatie"])
    wat_kan_het_gezin_aan = _question(COMPETENCE_LABELS["wat_kan_het_gezin_aan"])
    huisgenoten_18_plus = DutchIntegerField(
        COMPETENCE_LABELS["huisgenoten_18_plus"],
        validators=[Optional(),
                    NumberRange(0, MAX_HOUSEMATES, f"Vul een aantal van 0 tot en met {MAX_HOUSEMATES} in.")],
    )

    def has_visit(self) -> bool:
        return bool(self.visited_on.raw_data and self.visited_on.raw_data[0].strip()) or any(
            (field.data or "").strip() for field in self.visit_texts()
        )

    def visit_texts(self):
        return [self.support_wanted, self.upbringing_values, self.expectations, self.gives_back, self.notes]

    def validate_visited_on(self, field):
        if field.data and field.data > local_today():
            raise ValidationError("De datum van het bezoek ligt in de toekomst.")


# --- household ---------------------------------------------------------------------------------------


def _birth_fields():
    year = DutchIntegerField("Geboortejaar", validators=[Optional()])
    born = DutchDateField("Geboortedatum", validators=[Optional()])
    return year, born


class HouseholdForm(FlaskForm):
    """Only the CSRF token; the rows are MemberRowForm and NewMemberForm, with prefixes."""


class MemberRowForm(Form):
    first_name = StringField("Voornaam", validators=[Length(max=NAME_MAX_LENGTH, message=TOO_LONG)])
    last_name = StringField("Achternaam", validators=[Length(max=NAME_MAX_LENGTH, message=TOO_LONG)])
    birth_year, birth_date = _birth_fields()
    remove = BooleanField("Verwijderen")

    def validate_birth_year(self, field):
        _check_year(field)

    def validate_birth_date(self, field):
        _check_date(field)

    def validate_first_name(self, field):
        if not self.remove.data and not (field.data or "").strip():
            raise ValidationError("Vul de voornaam in.")


class NewMemberForm(Form):
    role = RadioField("Volwassene of kind", choices={MemberRole.ADULT.value: "Volwassene",
                                                     MemberRole.CHILD.value: "Kind"},
                      default=MemberRole.CHILD.value, validate_choice=False)
    first_name = StringField("Voornaam", validators=[Length(max=NAME_MAX_LENGTH, message=TOO_LONG)])
    last_name = StringField("Achternaam", description="Alleen bij volwassenen.",
                            validators=[Length(max=NAME_MAX_LENGTH, message=TOO_LONG)])
    birth_year, birth_date = _birth_fields()

    def is_empty(self) -> bool:
        return not any((self[name].raw_data or [""])[0].strip()
                       for name in ("first_name", "last_name", "birth_year", "birth_date"))

    def validate_first_name(self, field):
        if not self.is_empty() and not (field.data or "").strip():
            raise ValidationError("Vul de voornaam in.")

    def validate_birth_year(self, field):
        _check_year(field)

    def validate_birth_date(self, field):
        _check_date(field)


def _check_year(field):
    if field.data is None:
        return
    if field.data > local_today().year:
        raise ValidationError("Het geboortejaar ligt in de toekomst.")
    if field.data < EARLIEST_YEAR:
        raise ValidationError(f"Vul een geboortejaar vanaf {EARLIEST_YEAR} in.")


def _check_date(field):
    if field.data is None:
        return
    if field.data > local_today():
        raise ValidationError("De geboortedatum ligt in de toekomst.")
    if field.data.year < EARLIEST_YEAR:
        raise ValidationError(f"Vul een geboortedatum vanaf {EARLIEST_YEAR} in.")
