"""Pages reached through a mailed link, without logging in: accepting an invitation, and a forgotten
password (asking for a link, and setting a new password with it). Tenant staff only."""

from __future__ import annotations

from flask import current_app, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from domain.accounts.invitations import accept_invitation
from domain.accounts.models import TokenPurpose
from domain.accounts.password_reset import complete_password_reset, request_password_reset
from domain.accounts.services import AccountError
from domain.accounts.tokens import TokenError, check_token
from tenants.db import db
from web.auth.flow import TOO_MANY, client_actor
from web.auth.forms import NewPasswordForm, ResetRequestForm
from web.extensions import limiter

SAME_ANSWER = _l("Als dit adres bij ons bekend is, sturen we een link. Kijk in je mailbox (en bij de spam); "
                 "de link werkt een uur.")


def _base_url() -> str:
    return current_app.extensions["settings"].base_url


def _reset_email_key() -> str:
    return f"reset:{g.tenant.slug}:{request.form.get('email', '').strip().lower()}"


def _link_invalid(error: TokenError):
    db.session.rollback()
    return render_template("web/auth/link_invalid.html", message=str(error)), 404


def register_link_views(bp) -> None:
    @bp.route("/uitnodiging/<token>", methods=["GET", "POST"])
    def invitation(token: str):
        try:
            user = check_token(token, TokenPurpose.INVITATION)
        except TokenError as error:
            return _link_invalid(error)
        form = NewPasswordForm()
        if form.validate_on_submit():
            try:
                accept_invitation(token, form.password.data, actor=client_actor())
            except TokenError as error:
                return _link_invalid(error)
            except AccountError as error:
                db.session.rollback()
                form.password.errors.append(str(error))
            else:
                db.session.commit()
                flash(_("Je wachtwoord is ingesteld. Log nu in; daarna koppel je je authenticator-app."), "success")
                return redirect(url_for("auth.login"))
        return render_template("web/auth/invitation.html", form=form, full_name=user.full_name)

    @bp.route("/wachtwoord-vergeten", methods=["GET", "POST"])
    @limiter.limit("10 per 15 minutes", methods=["POST"], error_message=lambda: str(TOO_MANY))
    @limiter.limit("3 per 15 minutes", methods=["POST"], key_func=_reset_email_key,
                   error_message=lambda: str(TOO_MANY))
    def password_forgotten():
        form = ResetRequestForm()
        if form.validate_on_submit():
            request_password_reset(g.tenant, form.email.data, base_url=_base_url(),
                                   actor=client_actor(form.email.data.strip()[:254]))
            db.session.commit()
            # The same answer whether or not the address is known: nothing to learn here.
            flash(str(SAME_ANSWER), "info")
            return redirect(url_for("auth.login"))
        return render_template("web/auth/password_forgotten.html", form=form)

    @bp.route("/wachtwoord-herstellen/<token>", methods=["GET", "POST"])
    def password_reset(token: str):
        try:
            check_token(token, TokenPurpose.PASSWORD_RESET)
        except TokenError as error:
            return _link_invalid(error)
        form = NewPasswordForm()
        if form.validate_on_submit():
            try:
                complete_password_reset(token, form.password.data, actor=client_actor())
            except TokenError as error:
                return _link_invalid(error)
            except AccountError as error:
                db.session.rollback()
                form.password.errors.append(str(error))
            else:
                db.session.commit()
                flash(_("Je nieuwe wachtwoord is ingesteld en je bent overal uitgelogd. Log opnieuw in."), "success")
                return redirect(url_for("auth.login"))
        return render_template("web/auth/password_reset.html", form=form)
