from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length

from domain.accounts.models import ROLE_LABELS, TenantRole

ROLE_CHOICES = [SelectChoice(role.value, ROLE_LABELS[role]) for role in TenantRole]


class NewUserForm(FlaskForm):
    full_name = StringField("Naam", validators=[DataRequired("Vul de naam in."), Length(max=200)])
    email = EmailField("E-mailadres", validators=[DataRequired("Vul het e-mailadres in."), Length(max=254)])
    role = SelectField("Rol", choices=ROLE_CHOICES)
    password = PasswordField(
        "Eerste wachtwoord",
        description="Minstens 12 tekens. Geef het persoonlijk door; bij de eerste keer inloggen koppelt "
        "de gebruiker een authenticator-app.",
        validators=[DataRequired("Vul een eerste wachtwoord in."), Length(max=200)],
        render_kw={"autocomplete": "new-password"},
    )


class RoleForm(FlaskForm):
    role = SelectField("Rol", choices=ROLE_CHOICES)


class ConfirmForm(FlaskForm):
    """A button that changes something: only its CSRF token travels."""
