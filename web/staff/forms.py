from flask_wtf import FlaskForm
from wtforms import EmailField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length

from domain.accounts.models import ROLE_LABELS, TenantRole

ROLE_CHOICES = [SelectChoice(role.value, ROLE_LABELS[role]) for role in TenantRole]


class InviteUserForm(FlaskForm):
    """A new colleague is invited by e-mail and chooses their own password through the link."""

    full_name = StringField("Naam", validators=[DataRequired("Vul de naam in."), Length(max=200)])
    email = EmailField("E-mailadres", description="Hierheen sturen we de uitnodiging. De link werkt 7 dagen.",
                       validators=[DataRequired("Vul het e-mailadres in."), Length(max=254)])
    role = SelectField("Rol", choices=ROLE_CHOICES)


class RoleForm(FlaskForm):
    role = SelectField("Rol", choices=ROLE_CHOICES)


class ConfirmForm(FlaskForm):
    """A button that changes something: only its CSRF token travels."""
