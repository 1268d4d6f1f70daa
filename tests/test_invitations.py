"""Invitations: single-use tokens, the admin's invitation, and accepting it through the mailed link.

Everything runs against the real app and PostgreSQL with RLS; the mail is read from the
``outbound_emails`` row that ``queue_email`` wrote in the admin's transaction.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from datetime import UTC, datetime, timedelta

import pyotp
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update

from domain.accounts.invitations import invite_staff_user
from domain.accounts.models import AccountToken, StaffUser, TenantRole, TokenPurpose
from domain.accounts.passwords import password_matches
from domain.accounts.tokens import TOKEN_ERROR, TokenError, issue, issue_token, redeem_token
from domain.audit.models import AuditEvent
from domain.audit.services import SYSTEM
from domain.email.models import OutboundEmail
from domain.outbox.models import OutboxJob
from tenants.db import db
from tenants.models import Tenant
from tenants.services import use_tenant
from tests.conftest import Gemeente, csrf_token, login, random_ip

NEW_PASSWORD = "mijn-eigen-lange-wachtwoord"
TOKEN_MESSAGE = "Deze link is verlopen of al gebruikt. Vraag een nieuwe aan."


# --- helpers (also used by test_password_reset.py and test_sweeps.py) -----------------------------


def new_client(app: Flask) -> FlaskClient:
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = random_ip()
    return client


def invite(app: Flask, gemeente: Gemeente, *, email: str | None = None, name: str | None = None) -> dict:
    """Invite a coordinator through the domain service (as a system action); returns ids and the link path."""
    email = email or f"uitgenodigd-{uuid.uuid4().hex[:8]}@example.org"
    with app.app_context():
        use_tenant(gemeente.id)
        tenant = db.session.get(Tenant, gemeente.id)
        invitation = invite_staff_user(tenant, email=email, full_name=name or f"Nieuwe {uuid.uuid4().hex[:6]}",
                                       role=TenantRole.COORDINATOR, invited_by="De Beheerder",
                                       base_url=app.extensions["settings"].base_url, actor=SYSTEM)
        db.session.commit()
        result = {"user_id": invitation.user.id, "email": email, "token_id": invitation.token_id,
                  "path": path_of(app, invitation.link)}
        db.session.remove()
    return result


def path_of(app: Flask, link: str) -> str:
    base = app.extensions["settings"].base_url
    assert link.startswith(base + "/"), link
    return link[len(base):]


def in_tenant(app: Flask, tenant_id: int, work):
    """Run ``work()`` in an app context acting for ``tenant_id``; commit; return what it returned."""
    with app.app_context():
        use_tenant(tenant_id)
        result = work()
        db.session.commit()
        db.session.remove()
    return result


def user_row(app: Flask, tenant_id: int, user_id: int) -> dict:
    def read():
        user = db.session.get(StaffUser, user_id)
        return {"password_hash": user.password_hash, "has_password": user.has_password,
                "session_token": user.session_token, "totp_secret": user.totp_secret, "email": user.email}
    return in_tenant(app, tenant_id, read)


def mails(app: Flask, tenant_id: int, *, to: str | None = None, template: str | None = None) -> list[dict]:
    def read():
        statement = select(OutboundEmail).order_by(OutboundEmail.id)
        if to is not None:
            statement = statement.where(OutboundEmail.to_address == to)
        if template is not None:
            statement = statement.where(OutboundEmail.template == template)
        return [{"id": m.id, "to": m.to_address, "template": m.template, "context": dict(m.context),
                 "status": str(m.status)} for m in db.session.scalars(statement)]
    return in_tenant(app, tenant_id, read)


def audit(app: Flask, tenant_id: int, action: str) -> list[dict]:
    def read():
        events = db.session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id))
        return [{"actor_id": e.actor_id, "object_id": e.object_id, "details": dict(e.details or {})} for e in events]
    return in_tenant(app, tenant_id, read)


def token_row(app: Flask, tenant_id: int, token_id: int) -> dict:
    def read():
        token = db.session.get(AccountToken, token_id)
        return {"used_at": token.used_at, "expires_at": token.expires_at, "created_at": token.created_at,
                "token_hash": token.token_hash, "purpose": str(token.purpose), "user_id": token.user_id}
    return in_tenant(app, tenant_id, read)


def set_token_times(app: Flask, tenant_id: int, token_id: int, **values) -> None:
    in_tenant(app, tenant_id, lambda: db.session.execute(
        update(AccountToken).where(AccountToken.id == token_id).values(**values)))


def post_password(client: FlaskClient, path: str, password: str, again: str | None = None):
    token = csrf_token(client, path)
    return client.post(path, data={"password": password, "password_again": password if again is None else again,
                                   "csrf_token": token})


def login_with_next_code(client: FlaskClient, email: str, password: str, secret: str, prefix: str) -> None:
    """Log in with the code of the *next* time step, so a second login within one step is not a replay."""
    response = client.post(f"{prefix}/login", data={"email": email, "password": password,
                                                    "csrf_token": csrf_token(client, f"{prefix}/login")})
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    code = pyotp.TOTP(secret).at(int(time.time()) + 30)
    response = client.post(f"{prefix}/login/code", data={"code": code,
                                                         "csrf_token": csrf_token(client, f"{prefix}/login/code")})
    assert response.status_code == 302, response.get_data(as_text=True)[:500]


def staff_home_status(client: FlaskClient, prefix: str) -> int:
    return client.get(f"{prefix}/app/").status_code


# --- tokens (domain) -------------------------------------------------------------------------------


def test_tokens_store_only_a_hash_and_are_single_use(app, make):
    gemeente = make.tenant()
    person = make.user(gemeente)

    def issue_one():
        user = db.session.get(StaffUser, person.id)
        return issue(user, TokenPurpose.PASSWORD_RESET, timedelta(minutes=60))

    issued = in_tenant(app, gemeente.id, issue_one)
    assert len(issued.raw) >= 43  # token_urlsafe(32)
    row = token_row(app, gemeente.id, issued.id)
    assert row["token_hash"] == hashlib.sha256(issued.raw.encode()).hexdigest()
    assert issued.raw not in row.values()

    # The wrong purpose is refused and does not use the token up.
    with pytest.raises(TokenError, match=TOKEN_MESSAGE):
        in_tenant(app, gemeente.id, lambda: redeem_token(issued.raw, TokenPurpose.INVITATION))
    assert in_tenant(app, gemeente.id, lambda: redeem_token(issued.raw, TokenPurpose.PASSWORD_RESET).id) == person.id
    assert token_row(app, gemeente.id, issued.id)["used_at"] is not None
    with pytest.raises(TokenError) as refused:
        in_tenant(app, gemeente.id, lambda: redeem_token(issued.raw, TokenPurpose.PASSWORD_RESET))
    assert str(refused.value) == TOKEN_ERROR == TOKEN_MESSAGE


def test_redeeming_is_undone_with_the_transaction(app, make):
    gemeente = make.tenant()
    person = make.user(gemeente)
    raw = in_tenant(app, gemeente.id, lambda: issue_token(db.session.get(StaffUser, person.id),
                                                          TokenPurpose.PASSWORD_RESET, timedelta(minutes=60)))
    with app.app_context():
        use_tenant(gemeente.id)
        redeem_token(raw, TokenPurpose.PASSWORD_RESET)
        db.session.rollback()  # the change it authorised did not happen: neither did the use
        db.session.remove()
    assert in_tenant(app, gemeente.id, lambda: redeem_token(raw, TokenPurpose.PASSWORD_RESET).id) == person.id


def test_a_new_token_revokes_the_earlier_unused_one_of_that_purpose(app, make):
    gemeente = make.tenant()
    person = make.user(gemeente)

    def issue_for(purpose):
        return lambda: issue_token(db.session.get(StaffUser, person.id), purpose, timedelta(hours=1))

    first = in_tenant(app, gemeente.id, issue_for(TokenPurpose.PASSWORD_RESET))
    other_purpose = in_tenant(app, gemeente.id, issue_for(TokenPurpose.INVITATION))
    second = in_tenant(app, gemeente.id, issue_for(TokenPurpose.PASSWORD_RESET))
    with pytest.raises(TokenError):
        in_tenant(app, gemeente.id, lambda: redeem_token(first, TokenPurpose.PASSWORD_RESET))
    assert in_tenant(app, gemeente.id, lambda: redeem_token(second, TokenPurpose.PASSWORD_RESET).id) == person.id
    # A token of another purpose is not touched.
    assert in_tenant(app, gemeente.id, lambda: redeem_token(other_purpose, TokenPurpose.INVITATION).id) == person.id


def test_an_expired_token_is_refused(app, make):
    gemeente = make.tenant()
    person = make.user(gemeente)
    issued = in_tenant(app, gemeente.id, lambda: issue(db.session.get(StaffUser, person.id),
                                                       TokenPurpose.PASSWORD_RESET, timedelta(hours=1)))
    set_token_times(app, gemeente.id, issued.id, expires_at=datetime.now(UTC) - timedelta(seconds=1))
    with pytest.raises(TokenError):
        in_tenant(app, gemeente.id, lambda: redeem_token(issued.raw, TokenPurpose.PASSWORD_RESET))
    assert token_row(app, gemeente.id, issued.id)["used_at"] is None


def test_a_token_of_tenant_b_is_unknown_in_tenant_a(app, two_tenants):
    a, b = two_tenants["a"], two_tenants["b"]
    person = two_tenants["b_coordinator"]
    raw = in_tenant(app, b.id, lambda: issue_token(db.session.get(StaffUser, person.id),
                                                   TokenPurpose.PASSWORD_RESET, timedelta(hours=1)))
    with pytest.raises(TokenError):
        in_tenant(app, a.id, lambda: redeem_token(raw, TokenPurpose.PASSWORD_RESET))
    with pytest.raises(TokenError):  # and with no tenant at all
        in_tenant(app, None, lambda: redeem_token(raw, TokenPurpose.PASSWORD_RESET))
    assert in_tenant(app, b.id, lambda: redeem_token(raw, TokenPurpose.PASSWORD_RESET).id) == person.id


# --- invitation through the web, end to end ---------------------------------------------------------


def test_admin_invites_and_the_invitee_sets_a_password_and_enrols(app, make):
    gemeente = make.tenant()
    prefix = f"/{gemeente.slug}"
    admin = make.user(gemeente, TenantRole.TENANT_ADMIN)
    admin_client = new_client(app)
    login(admin_client, admin, prefix)
    email = f"collega-{uuid.uuid4().hex[:8]}@example.org"

    form_page = admin_client.get(f"{prefix}/app/gebruikers").get_data(as_text=True)
    assert "Eerste wachtwoord" not in form_page and 'name="password"' not in form_page
    response = admin_client.post(f"{prefix}/app/gebruikers", data={
        "full_name": "Nieuwe Collega", "email": email, "role": "coordinator",
        "csrf_token": csrf_token(admin_client, f"{prefix}/app/gebruikers"),
    })
    assert response.status_code == 302
    assert "uitgenodigd" in admin_client.get(f"{prefix}/app/gebruikers").get_data(as_text=True)

    # The user exists, without a usable password and without an authenticator.
    user_id = in_tenant(app, gemeente.id, lambda: db.session.scalar(
        select(StaffUser.id).where(StaffUser.email == email)))
    row = user_row(app, gemeente.id, user_id)
    assert row["has_password"] is False and row["totp_secret"] is None
    [event] = [e for e in audit(app, gemeente.id, "user.invited") if e["object_id"] == user_id]
    assert event["actor_id"] == admin.id

    # One mail, queued with its outbox job, carrying the link.
    [mail] = mails(app, gemeente.id, to=email)
    assert mail["template"] == "staff_invitation"
    assert mail["status"] in {"queued", "sent"}
    context = mail["context"]
    assert context["full_name"] == "Nieuwe Collega" and context["invited_by"] == "Test tenant_admin"
    assert context["gemeente"] == gemeente.name and context["expires_on"]
    base = app.extensions["settings"].base_url
    assert context["link"].startswith(f"{base}/{gemeente.slug}/uitnodiging/")
    path = path_of(app, context["link"])
    raw = path.rsplit("/", 1)[1]
    tokens = in_tenant(app, gemeente.id, lambda: [
        (t.id, t.token_hash, t.expires_at - t.created_at)
        for t in db.session.scalars(select(AccountToken).where(AccountToken.user_id == user_id))])
    [(token_id, token_hash, lifetime)] = tokens
    assert token_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert lifetime == timedelta(days=7)
    jobs = in_tenant(app, gemeente.id, lambda: list(db.session.scalars(
        select(OutboxJob.dedupe_key).where(OutboxJob.dedupe_key.like(f"%invitation:{token_id}")))))
    assert jobs == [f"email:invitation:{token_id}"]

    # Before accepting, no password logs the invitee in.
    invitee = new_client(app)
    response = invitee.post(f"{prefix}/login", data={"email": email, "password": NEW_PASSWORD,
                                                     "csrf_token": csrf_token(invitee, f"{prefix}/login")})
    assert response.status_code == 401

    page = invitee.get(path)
    assert page.status_code == 200
    assert "Nieuwe Collega" in page.get_data(as_text=True)
    response = post_password(invitee, path, NEW_PASSWORD)
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"{prefix}/login")
    assert "Je wachtwoord is ingesteld" in invitee.get(f"{prefix}/login").get_data(as_text=True)
    assert user_row(app, gemeente.id, user_id)["has_password"] is True
    assert token_row(app, gemeente.id, token_id)["used_at"] is not None
    [accepted] = audit(app, gemeente.id, "user.invitation_accepted")
    assert accepted["object_id"] == user_id and accepted["actor_id"] == user_id

    # Login: password, then enrolment of an authenticator as for every first login.
    response = invitee.post(f"{prefix}/login", data={"email": email, "password": NEW_PASSWORD,
                                                     "csrf_token": csrf_token(invitee, f"{prefix}/login")})
    assert response.status_code == 302 and response.headers["Location"].endswith("/login/code")
    html = invitee.get(f"{prefix}/login/code").get_data(as_text=True)
    secret = html.split('class="utrecht-code totp-secret">', 1)[1].split("<", 1)[0]
    response = invitee.post(f"{prefix}/login/code", data={
        "code": pyotp.TOTP(secret).now(), "csrf_token": csrf_token(invitee, f"{prefix}/login/code")})
    assert response.status_code == 302
    assert staff_home_status(invitee, prefix) == 200
    assert user_row(app, gemeente.id, user_id)["totp_secret"] == secret

    # The link is used up.
    again = invitee.get(path)
    assert again.status_code == 404 and TOKEN_MESSAGE in again.get_data(as_text=True)


def test_bad_passwords_give_dutch_errors_and_keep_the_link_usable(app, make):
    gemeente = make.tenant()
    invited = invite(app, gemeente)
    client = new_client(app)
    before = user_row(app, gemeente.id, invited["user_id"])

    for password, again, message in [
        ("kort", None, "Een wachtwoord heeft minstens 12 tekens."),
        (NEW_PASSWORD, NEW_PASSWORD + "x", "De twee wachtwoorden zijn niet hetzelfde."),
        ("", None, "Vul een wachtwoord in."),
    ]:
        response = post_password(client, invited["path"], password, again)
        assert response.status_code == 200
        html = response.get_data(as_text=True)
        assert message in html and "Controleer het formulier" in html
        assert user_row(app, gemeente.id, invited["user_id"]) == before
        assert token_row(app, gemeente.id, invited["token_id"])["used_at"] is None

    assert post_password(client, invited["path"], NEW_PASSWORD).status_code == 302
    assert password_matches(user_row(app, gemeente.id, invited["user_id"])["password_hash"], NEW_PASSWORD)


@pytest.mark.parametrize("how", ["expired", "used", "revoked", "unknown"])
def test_a_dead_link_says_so_clearly_and_changes_nothing(app, make, how):
    gemeente = make.tenant()
    invited = invite(app, gemeente)
    path = invited["path"]
    if how == "expired":
        set_token_times(app, gemeente.id, invited["token_id"], expires_at=datetime.now(UTC) - timedelta(minutes=1))
    elif how == "used":
        assert post_password(new_client(app), path, NEW_PASSWORD).status_code == 302
    elif how == "revoked":  # the admin sent a new invitation since
        in_tenant(app, gemeente.id, lambda: issue_token(db.session.get(StaffUser, invited["user_id"]),
                                                        TokenPurpose.INVITATION, timedelta(days=7)))
    else:
        path = path.rsplit("/", 1)[0] + "/" + "A" * 43
    before = user_row(app, gemeente.id, invited["user_id"])
    accepted_before = len(audit(app, gemeente.id, "user.invitation_accepted"))

    client = new_client(app)
    page = client.get(path)
    assert page.status_code == 404
    assert TOKEN_MESSAGE in page.get_data(as_text=True)
    assert 'name="password"' not in page.get_data(as_text=True)
    response = post_password(client, path, "een-ander-lang-wachtwoord")
    assert response.status_code == 404 and TOKEN_MESSAGE in response.get_data(as_text=True)

    assert user_row(app, gemeente.id, invited["user_id"]) == before
    assert len(audit(app, gemeente.id, "user.invitation_accepted")) == accepted_before


def test_an_invitation_of_tenant_b_does_nothing_in_tenant_a(app, two_tenants):
    a, b = two_tenants["a"], two_tenants["b"]
    invited = invite(app, b)
    foreign_path = invited["path"].replace(f"/{b.slug}/", f"/{a.slug}/", 1)
    assert foreign_path != invited["path"]
    before = user_row(app, b.id, invited["user_id"])

    client = new_client(app)
    page = client.get(foreign_path)
    assert page.status_code == 404 and TOKEN_MESSAGE in page.get_data(as_text=True)
    assert post_password(client, foreign_path, NEW_PASSWORD).status_code == 404
    assert user_row(app, b.id, invited["user_id"]) == before
    assert token_row(app, b.id, invited["token_id"])["used_at"] is None
    assert audit(app, a.id, "user.invitation_accepted") == []

    # Positive control: at B the same link works.
    assert post_password(client, invited["path"], NEW_PASSWORD).status_code == 302


def test_reinvite_sends_a_new_link_and_the_old_one_stops_working(app, make):
    gemeente = make.tenant()
    prefix = f"/{gemeente.slug}"
    admin = make.user(gemeente, TenantRole.TENANT_ADMIN)
    invited = invite(app, gemeente)
    admin_client = new_client(app)
    login(admin_client, admin, prefix)

    detail = f"{prefix}/app/gebruikers/{invited['user_id']}"
    page = admin_client.get(detail).get_data(as_text=True)
    assert "Opnieuw uitnodigen" in page
    response = admin_client.post(f"{detail}/uitnodiging", data={"csrf_token": csrf_token(admin_client, detail)})
    assert response.status_code == 302

    sent = mails(app, gemeente.id, to=invited["email"], template="staff_invitation")
    assert len(sent) == 2
    new_path = path_of(app, sent[1]["context"]["link"])
    assert new_path != invited["path"]
    assert sent[1]["context"]["invited_by"] == "Test tenant_admin"
    [event] = audit(app, gemeente.id, "user.reinvited")
    assert event["object_id"] == invited["user_id"] and event["actor_id"] == admin.id

    client = new_client(app)
    assert client.get(invited["path"]).status_code == 404
    assert post_password(client, new_path, NEW_PASSWORD).status_code == 302

    # Accepted: no button any more, and a forged post sends nothing.
    assert "Opnieuw uitnodigen" not in admin_client.get(detail).get_data(as_text=True)
    response = admin_client.post(f"{detail}/uitnodiging", data={"csrf_token": csrf_token(admin_client, detail)})
    assert response.status_code == 302
    assert "heeft de uitnodiging al aangenomen" in admin_client.get(detail).get_data(as_text=True)
    assert len(mails(app, gemeente.id, to=invited["email"], template="staff_invitation")) == 2


def test_existing_users_see_no_reinvite_button(app, make):
    gemeente = make.tenant()
    prefix = f"/{gemeente.slug}"
    admin, coordinator = make.user(gemeente, TenantRole.TENANT_ADMIN), make.user(gemeente)
    client = new_client(app)
    login(client, admin, prefix)
    assert "Opnieuw uitnodigen" not in client.get(f"{prefix}/app/gebruikers/{coordinator.id}").get_data(as_text=True)


def test_the_invitation_rolls_back_as_a_whole(app, make):
    """User, token, audit event and mail are one transaction: a rollback leaves none of them."""
    gemeente = make.tenant()
    email = f"teruggedraaid-{uuid.uuid4().hex[:8]}@example.org"
    with app.app_context():
        use_tenant(gemeente.id)
        invite_staff_user(db.session.get(Tenant, gemeente.id), email=email, full_name="Terug", role="coordinator",
                          invited_by="X", base_url="http://x.example", actor=SYSTEM)
        db.session.rollback()
        db.session.remove()
    assert in_tenant(app, gemeente.id, lambda: db.session.scalar(
        select(StaffUser.id).where(StaffUser.email == email))) is None
    assert mails(app, gemeente.id, to=email) == []
    assert in_tenant(app, gemeente.id, lambda: db.session.scalar(select(AccountToken.id))) is None


def test_invited_users_login_costs_the_same_as_a_wrong_password(app, make):
    """The unusable hash is a real Argon2 hash behind a prefix: it is verified, and never matches."""
    gemeente = make.tenant()
    invited = invite(app, gemeente)
    stored = user_row(app, gemeente.id, invited["user_id"])["password_hash"]
    assert stored.startswith("!$argon2id$")
    assert not password_matches(stored, "")
    assert not password_matches(stored, stored)
    assert not password_matches(stored[1:], "anything at all")
