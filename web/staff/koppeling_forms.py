"""Forms of the koppeling page: one per step. Field names are unique across the page, because
several forms are shown at once (their ids must not clash)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import SelectField, StringField, TextAreaField, TimeField
from wtforms.validators import InputRequired, Length, NumberRange, Optional

from domain.koppelingen.kennismaking import (
    DEFAULT_DURATION,
    LOCATION_MAX_LENGTH,
    MAX_DURATION,
    MIN_DURATION,
    OUTCOME_LABELS,
)
from domain.koppelingen.models import KoppelingStatus
from domain.koppelingen.services import NOTE_MAX_LENGTH, STATUS_LABELS, STOP_REASON_LABELS
from web.staff.family_forms import DATE_REQUIRED, TOO_LONG, DutchDateField, DutchIntegerField


class StatusFilterForm(FlaskForm):
    """GET filter of the list: bookmarkable, no CSRF token (it changes nothing)."""

    class Meta:
        csrf = False

    status = SelectField("Status", validate_choice=False,
                         choices={"": "alle statussen"} | {s.value: STATUS_LABELS[s] for s in KoppelingStatus})


class VraagAnswerForm(FlaskForm):
    vraag_agreed_on = DutchDateField("Het vraaggezin zei ja op", validators=[InputRequired(DATE_REQUIRED)])


class SteunAnswerForm(FlaskForm):
    steun_agreed_on = DutchDateField("Het steungezin zei ja op", validators=[InputRequired(DATE_REQUIRED)])


class MeetingForm(FlaskForm):
    day = DutchDateField("Datum van de kennismaking", validators=[InputRequired(DATE_REQUIRED)])
    at = TimeField("Begintijd", description="Bijvoorbeeld 15:30.",
                   validators=[InputRequired("Vul een tijd in, bijvoorbeeld 15:30.")])
    duration_minutes = DutchIntegerField(
        "Duur in minuten", default=DEFAULT_DURATION,
        validators=[InputRequired("Vul de duur in minuten in."),
                    NumberRange(MIN_DURATION, MAX_DURATION,
                                message=f"Kies een duur van {MIN_DURATION} tot {MAX_DURATION} minuten.")])
    location = StringField(
        "Plaats", description="Zoals de gezinnen het in hun uitnodiging lezen, bijvoorbeeld ‘Buurthuis De Wiek, "
                              "Drachten’. Noem het adres van een gezin alleen als jullie daar afspreken.",
        validators=[InputRequired("Vul in waar de kennismaking is."),
                    Length(max=LOCATION_MAX_LENGTH, message=TOO_LONG)])


class OutcomeForm(FlaskForm):
    outcome = SelectField("Hoe ging het?", validate_choice=False,
                          choices={"": "kies"} | {o.value: label for o, label in OUTCOME_LABELS.items()})
    notes = TextAreaField("Toelichting (optioneel)", validators=[Optional(), Length(max=NOTE_MAX_LENGTH,
                                                                                    message=TOO_LONG)])


class ProefperiodeForm(FlaskForm):
    start_on = DutchDateField("Startdatum van de proefperiode", validators=[InputRequired(DATE_REQUIRED)])


class DefinitiefForm(FlaskForm):
    definitief_on = DutchDateField("Definitief sinds", validators=[InputRequired(DATE_REQUIRED)])


class ExtendForm(FlaskForm):
    until = DutchDateField("Nieuwe einddatum van de begeleiding", validators=[InputRequired(DATE_REQUIRED)])


class CloseForm(FlaskForm):
    close_note = TextAreaField("Afsluitende notitie (optioneel)",
                               description="Bijvoorbeeld wat de koppeling heeft opgeleverd.",
                               validators=[Optional(), Length(max=NOTE_MAX_LENGTH, message=TOO_LONG)])


class StopForm(FlaskForm):
    reason = SelectField("Reden", choices={"": "kies een reden"} | {r.value: label for r, label in
                                                                   STOP_REASON_LABELS.items()},
                         validate_choice=False)
    stop_note = TextAreaField("Toelichting", description="Verplicht bij de reden ‘anders’.",
                              validators=[Optional(), Length(max=NOTE_MAX_LENGTH, message=TOO_LONG)])
