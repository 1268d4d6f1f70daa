"""The two-step login (password, then TOTP code), shared by tenant staff and the national office."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from flask import flash, g, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_user, logout_user

from domain.accounts import totp
from domain.accounts.models import NationalUser, StaffUser
from domain.accounts.services import (
    check_password,
    confirm_enrolment,
    mark_logged_in,
    start_enrolment,
    verify_code,
)
from domain.audit.services import Actor, record
from tenants.db import db
from web.auth.forms import CodeForm, LoginForm
from web.auth.session import PENDING_KEY, SignedInUser, pending_account, remember_pending_login
from web.extensions import limiter
from web.security import start_fresh_session

WRONG_CREDENTIALS = _l("Het e-mailadres of het wachtwoord klopt niet.")
WRONG_CODE = _l("Deze code klopt niet of is al gebruikt. Wacht op een nieuwe code en probeer het opnieuw.")
TOO_MANY = _l("Te veel pogingen. Wacht een kwartier en probeer het dan opnieuw.")


@dataclass(frozen=True)
class LoginFlow:
    """What differs between the tenant and the national login."""

    model: type[StaffUser] | type[NationalUser]
    find_account: Callable[[str], StaffUser | NationalUser | None]
    endpoint_prefix: str  # "auth" or "national_auth"
    home_endpoint: str
    realm_key: Callable[[], str]  # tenant slug, or "landelijk": part of the throttling key
    tenant_id: Callable[[], int]  # 0 for national
    closed_message: Callable[[], str | None]  # why nobody can log in here now, if so
    issuer: Callable[[], str]


def client_actor(label: str | None = None, account_id: int | None = None) -> Actor:
    return Actor(id=account_id, label=label, ip=request.remote_addr,
                 extra={"user_agent": request.user_agent.string[:200]})


def _account_key(flow: LoginFlow) -> str:
    return f"login:{flow.realm_key()}:{request.form.get('email', '').strip().lower()}"


def _pending_key(flow: LoginFlow) -> str:
    pending = session.get(PENDING_KEY) or {}
    return f"code:{flow.realm_key()}:{pending.get('account_id', request.remote_addr)}"


def _failed(response) -> bool:
    # Throttles count failed attempts only, so a user who gets in is never locked out by them.
    return bool(g.get("attempt_failed"))


def _unique_name(flow: LoginFlow):
    """Flask-Limiter files a route's limits under the view's qualified name; the tenant and the
    national views share one, so without this each would also get the other's limits (and key
    functions: the tenant key reads ``g.tenant``, which national requests do not have)."""

    def rename(view):
        view.__qualname__ = f"{view.__qualname__}.{flow.endpoint_prefix}"
        return view

    return rename


def register_login_views(bp, flow: LoginFlow) -> None:
    @bp.route("/login", methods=["GET", "POST"])
    @limiter.limit("30 per 10 minutes", methods=["POST"], deduct_when=_failed, error_message=lambda: str(TOO_MANY))
    @limiter.limit("5 per 15 minutes", methods=["POST"], key_func=lambda: _account_key(flow),
                   deduct_when=_failed, error_message=lambda: str(TOO_MANY))
    @_unique_name(flow)
    def login():
        closed = flow.closed_message()
        if current_user.is_authenticated and current_user.realm == flow.model.realm:
            return redirect(url_for(flow.home_endpoint))
        form = LoginForm()
        if closed is None and form.validate_on_submit():
            account = flow.find_account(form.email.data)
            if check_password(account, form.password.data):
                start_fresh_session()
                remember_pending_login(account)
                session["next"] = _safe_next(request.args.get("next"))
                db.session.commit()
                return redirect(url_for(f"{flow.endpoint_prefix}.code"))
            g.attempt_failed = True
            record("login.failed", client_actor(form.email.data, account.id if account else None),
                   details={"step": "password"})
            db.session.commit()
            form.password.errors.append(WRONG_CREDENTIALS)
        status = 401 if g.get("attempt_failed") else 200
        return render_template("web/auth/login.html", form=form, flow=flow, closed=closed), status

    @bp.route("/login/code", methods=["GET", "POST"])
    @limiter.limit("5 per 5 minutes", methods=["POST"], key_func=lambda: _pending_key(flow),
                   deduct_when=_failed, error_message=lambda: str(TOO_MANY))
    @_unique_name(flow)
    def code():
        account = pending_account(flow.model, flow.tenant_id())
        if account is None or flow.closed_message() is not None:
            flash(_("Log eerst in met je e-mailadres en wachtwoord."), "info")
            return redirect(url_for(f"{flow.endpoint_prefix}.login"))
        enrolling = not account.totp_enrolled
        form = CodeForm()
        if form.validate_on_submit():
            accepted = (confirm_enrolment(account, form.code.data) if enrolling
                        else verify_code(account, form.code.data))
            if accepted:
                return _complete_login(flow, account, enrolled_now=enrolling)
            g.attempt_failed = True
            record("login.failed", client_actor(account.email, account.id), details={"step": "code"})
            db.session.commit()
            form.code.errors.append(WRONG_CODE)
        qr = secret = None
        if enrolling:
            secret = start_enrolment(account)
            qr = totp.qr_svg_data_uri(totp.provisioning_uri(secret, account.email, flow.issuer()))
            db.session.commit()
        status = 401 if g.get("attempt_failed") else 200
        return render_template("web/auth/code.html", form=form, flow=flow, enrolling=enrolling,
                               qr=qr, secret=secret), status

    @bp.route("/logout", methods=["POST"])
    def logout():
        if current_user.is_authenticated:
            record("logout", client_actor(current_user.account.email, current_user.account.id))
            db.session.commit()
        logout_user()
        session.clear()
        flash(_("Je bent uitgelogd."), "info")
        return redirect(url_for(f"{flow.endpoint_prefix}.login"))


def _complete_login(flow: LoginFlow, account, *, enrolled_now: bool):
    next_url = session.get("next")
    start_fresh_session()  # rotate again: the pre-code session never becomes the signed-in one
    login_user(SignedInUser(account))
    mark_logged_in(account)
    if enrolled_now:
        record("totp.enrolled", client_actor(account.email, account.id))
    record("login.succeeded", client_actor(account.email, account.id))
    db.session.commit()
    return redirect(next_url or url_for(flow.home_endpoint))


def _safe_next(target: str | None) -> str | None:
    """Only same-site paths: never let a login link send someone to another site."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    # Browsers read "/\\evil.example" as "//evil.example"; control characters are dropped by them too.
    if "\\" in target or any(ord(char) < 0x20 or ord(char) == 0x7F for char in target):
        return None
    return target
