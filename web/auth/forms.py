from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, StringField
from wtforms.validators import DataRequired, Length


class LoginForm(FlaskForm):
    email = EmailField("E-mailadres", validators=[DataRequired("Vul je e-mailadres in."), Length(max=254)],
                       render_kw={"autocomplete": "username"})
    password = PasswordField("Wachtwoord", validators=[DataRequired("Vul je wachtwoord in."), Length(max=200)],
                             render_kw={"autocomplete": "current-password"})


class CodeForm(FlaskForm):
    code = StringField(
        "Code uit je authenticator-app",
        validators=[DataRequired("Vul de code van zes cijfers in."), Length(max=12)],
        render_kw={"autocomplete": "one-time-code", "inputmode": "numeric", "pattern": "[0-9 ]*"},
    )
