from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length

from domain.accounts.passwords import MIN_PASSWORD_LENGTH


class LoginForm(FlaskForm):
    email = EmailField(_l("E-mailadres"), validators=[DataRequired(_l("Vul je e-mailadres in.")), Length(max=254)],
                       render_kw={"autocomplete": "username"})
    password = PasswordField(_l("Wachtwoord"), validators=[DataRequired(_l("Vul je wachtwoord in.")), Length(max=200)],
                             render_kw={"autocomplete": "current-password"})


class CodeForm(FlaskForm):
    code = StringField(
        _l("Code uit je authenticator-app"),
        validators=[DataRequired(_l("Vul de code van zes cijfers in.")), Length(max=12)],
        render_kw={"autocomplete": "one-time-code", "inputmode": "numeric", "pattern": "[0-9 ]*"},
    )


class ResetRequestForm(FlaskForm):
    email = EmailField(_l("E-mailadres"), validators=[DataRequired(_l("Vul je e-mailadres in.")), Length(max=254)],
                       render_kw={"autocomplete": "username"})


class NewPasswordForm(FlaskForm):
    """Choosing a password (invitation, reset): twice, so a typo does not lock the user out."""

    password = PasswordField(
        _l("Nieuw wachtwoord"),
        description=_l("Minstens %(n)s tekens. Een zin van een paar woorden is sterk en goed te onthouden.",
                       n=MIN_PASSWORD_LENGTH),
        validators=[DataRequired(_l("Vul een wachtwoord in.")),
                    Length(min=MIN_PASSWORD_LENGTH, message=_l("Een wachtwoord heeft minstens %(n)s tekens.",
                                                               n=MIN_PASSWORD_LENGTH)),
                    Length(max=200, message=_l("Een wachtwoord heeft hoogstens 200 tekens."))],
        render_kw={"autocomplete": "new-password"},
    )
    password_again = PasswordField(
        _l("Nieuw wachtwoord nog een keer"),
        validators=[DataRequired(_l("Vul het wachtwoord nog een keer in.")),
                    EqualTo("password", message=_l("De twee wachtwoorden zijn niet hetzelfde."))],
        render_kw={"autocomplete": "new-password"},
    )
