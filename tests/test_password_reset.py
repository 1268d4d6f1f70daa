"""Forgotten passwords: the same answer for every address, a 60-minute single-use link, all sessions end."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import time_machine
from sqlalchemy import select

from domain.accounts.models import AccountToken, StaffUser, TenantRole
from domain.accounts.passwords import password_matches
from domain.accounts.services import set_active
from domain.audit.services import SYSTEM
from tenants.db import db
from tests.conftest import csrf_token, login
from tests.test_invitations import (
    TOKEN_MESSAGE,
    audit,
    in_tenant,
    invite,
    login_with_next_code,
    mails,
    new_client,
    path_of,
    post_password,
    staff_home_status,
    token_row,
    user_row,
)

SAME_ANSWER = "Als dit adres bij ons bekend is, sturen we een link."
NEW_PASSWORD = "een-gloednieuw-wachtwoord"


def ask_reset(client, prefix: str, email: str):
    path = f"{prefix}/wachtwoord-vergeten"
    return client.post(path, data={"email": email, "csrf_token": csrf_token(client, path)})


def reset_link(app, tenant_id: int, email: str) -> tuple[str, int]:
    """The path of the newest reset link mailed to ``email``, and the id of its token."""
    sent = mails(app, tenant_id, to=email, template="password_reset")
    assert sent, f"no reset mail to {email}"
    path = path_of(app, sent[-1]["context"]["link"])
    token_id = in_tenant(app, tenant_id, lambda: db.session.scalar(
        select(AccountToken.id).order_by(AccountToken.id.desc())
        .where(AccountToken.purpose == "password_reset", AccountToken.user_id == select(StaffUser.id).where(
            StaffUser.email == email).scalar_subquery())))
    return path, token_id


def test_login_page_links_to_the_reset_page(client, make):
    gemeente = make.tenant()
    page = client.get(f"/{gemeente.slug}/login").get_data(as_text=True)
    assert f'href="/{gemeente.slug}/wachtwoord-vergeten"' in page
    form = client.get(f"/{gemeente.slug}/wachtwoord-vergeten")
    assert form.status_code == 200
    assert "authenticator-app blijft gekoppeld" in form.get_data(as_text=True)
    assert "wachtwoord-vergeten" not in client.get("/landelijk/login").get_data(as_text=True)


def test_known_and_unknown_addresses_get_the_same_answer(app, make):
    gemeente = make.tenant()
    prefix = f"/{gemeente.slug}"
    person = make.user(gemeente)
    unknown = f"niemand-{uuid.uuid4().hex[:8]}@example.org"

    answers = []
    for email in (person.email, unknown):
        client = new_client(app)
        response = ask_reset(client, prefix, email)
        follow = client.get(response.headers["Location"]).get_data(as_text=True)
        answers.append((response.status_code, response.headers["Location"], SAME_ANSWER in follow))
    assert answers[0] == answers[1] == (302, f"{prefix}/login", True)

    assert mails(app, gemeente.id, to=unknown) == []
    [mail] = mails(app, gemeente.id, to=person.email)
    assert mail["template"] == "password_reset" and mail["status"] in {"queued", "sent"}
    assert mail["context"]["expires_minutes"] == 60
    assert mail["context"]["link"].startswith(f"{app.extensions['settings'].base_url}{prefix}/wachtwoord-herstellen/")
    [event] = audit(app, gemeente.id, "password_reset.requested")
    assert event["object_id"] == person.id
    _, token_id = reset_link(app, gemeente.id, person.email)
    row = token_row(app, gemeente.id, token_id)
    assert row["expires_at"] - row["created_at"] == timedelta(minutes=60)


def test_no_link_for_invited_blocked_or_other_tenants_users(app, two_tenants):
    a, b = two_tenants["a"], two_tenants["b"]
    invited = invite(app, a)
    blocked = two_tenants["a_coordinator"]
    in_tenant(app, a.id, lambda: set_active(db.session.get(StaffUser, blocked.id), False, actor=SYSTEM))
    foreign = two_tenants["b_coordinator"]

    for email in (invited["email"], blocked.email, foreign.email):
        response = ask_reset(new_client(app), f"/{a.slug}", email)
        assert response.status_code == 302 and response.headers["Location"] == f"/{a.slug}/login"
    assert mails(app, a.id, template="password_reset") == []
    assert mails(app, b.id, template="password_reset") == []
    assert audit(app, a.id, "password_reset.requested") == []


def test_full_reset_ends_old_sessions_keeps_totp_and_is_single_use(app, make):
    gemeente = make.tenant()
    prefix = f"/{gemeente.slug}"
    person = make.user(gemeente)
    running = new_client(app)
    login(running, person, prefix)
    assert staff_home_status(running, prefix) == 200
    before = user_row(app, gemeente.id, person.id)

    visitor = new_client(app)
    assert ask_reset(visitor, prefix, person.email.upper()).status_code == 302
    path, token_id = reset_link(app, gemeente.id, person.email)
    page = visitor.get(path)
    assert page.status_code == 200
    assert "authenticator-app blijft gekoppeld" in page.get_data(as_text=True)

    response = post_password(visitor, path, NEW_PASSWORD)
    assert response.status_code == 302 and response.headers["Location"] == f"{prefix}/login"
    after = user_row(app, gemeente.id, person.id)
    assert password_matches(after["password_hash"], NEW_PASSWORD)
    assert not password_matches(after["password_hash"], person.password)
    assert after["session_token"] != before["session_token"]
    assert after["totp_secret"] == before["totp_secret"] == person.totp_secret  # not reset
    assert token_row(app, gemeente.id, token_id)["used_at"] is not None
    [event] = audit(app, gemeente.id, "password_reset.completed")
    assert event["object_id"] == person.id

    # The session from before the reset is over.
    assert staff_home_status(running, prefix) == 302

    # The link is used up.
    again = new_client(app)
    assert again.get(path).status_code == 404
    response = post_password(again, path, "nog-een-ander-wachtwoord")
    assert response.status_code == 404 and TOKEN_MESSAGE in response.get_data(as_text=True)
    assert password_matches(user_row(app, gemeente.id, person.id)["password_hash"], NEW_PASSWORD)

    # Old password refused; the new one with the same authenticator works.
    fresh = new_client(app)
    response = fresh.post(f"{prefix}/login", data={"email": person.email, "password": person.password,
                                                   "csrf_token": csrf_token(fresh, f"{prefix}/login")})
    assert response.status_code == 401
    login_with_next_code(fresh, person.email, NEW_PASSWORD, person.totp_secret, prefix)
    assert staff_home_status(fresh, prefix) == 200


def test_bad_passwords_keep_the_reset_link_usable(app, make):
    gemeente = make.tenant()
    prefix = f"/{gemeente.slug}"
    person = make.user(gemeente)
    client = new_client(app)
    ask_reset(client, prefix, person.email)
    path, token_id = reset_link(app, gemeente.id, person.email)
    before = user_row(app, gemeente.id, person.id)

    for password, again, message in [("te-kort", None, "Een wachtwoord heeft minstens 12 tekens."),
                                     (NEW_PASSWORD, "iets-heel-anders-1", "De twee wachtwoorden zijn niet hetzelfde.")]:
        response = post_password(client, path, password, again)
        assert response.status_code == 200 and message in response.get_data(as_text=True)
    assert user_row(app, gemeente.id, person.id) == before
    assert token_row(app, gemeente.id, token_id)["used_at"] is None
    assert post_password(client, path, NEW_PASSWORD).status_code == 302


def test_the_link_expires_after_sixty_minutes(app, make):
    gemeente = make.tenant()
    prefix = f"/{gemeente.slug}"
    person = make.user(gemeente)
    ask_reset(new_client(app), prefix, person.email)
    path, _ = reset_link(app, gemeente.id, person.email)
    before = user_row(app, gemeente.id, person.id)
    now = datetime.now(UTC)

    with time_machine.travel(now + timedelta(minutes=59), tick=True):
        assert new_client(app).get(path).status_code == 200  # still valid
    with time_machine.travel(now + timedelta(minutes=61), tick=True):
        client = new_client(app)
        page = client.get(path)
        assert page.status_code == 404 and TOKEN_MESSAGE in page.get_data(as_text=True)
        response = post_password(client, path, NEW_PASSWORD)
        assert response.status_code == 404
    assert user_row(app, gemeente.id, person.id) == before
    assert audit(app, gemeente.id, "password_reset.completed") == []


def test_a_new_request_revokes_the_earlier_link(app, make):
    gemeente = make.tenant()
    prefix = f"/{gemeente.slug}"
    person = make.user(gemeente)
    ask_reset(new_client(app), prefix, person.email)
    first, _ = reset_link(app, gemeente.id, person.email)
    ask_reset(new_client(app), prefix, person.email)
    second, _ = reset_link(app, gemeente.id, person.email)
    assert first != second
    assert new_client(app).get(first).status_code == 404
    assert post_password(new_client(app), second, NEW_PASSWORD).status_code == 302


def test_links_work_only_in_their_tenant_and_for_their_purpose(app, two_tenants):
    a, b = two_tenants["a"], two_tenants["b"]
    person = two_tenants["b_coordinator"]
    ask_reset(new_client(app), f"/{b.slug}", person.email)
    path, token_id = reset_link(app, b.id, person.email)
    raw = path.rsplit("/", 1)[1]
    before = user_row(app, b.id, person.id)

    for wrong in (f"/{a.slug}/wachtwoord-herstellen/{raw}", f"/{b.slug}/uitnodiging/{raw}"):
        client = new_client(app)
        assert client.get(wrong).status_code == 404
        response = post_password(client, wrong, NEW_PASSWORD)
        assert response.status_code == 404 and TOKEN_MESSAGE in response.get_data(as_text=True)
    assert user_row(app, b.id, person.id) == before
    assert token_row(app, b.id, token_id)["used_at"] is None
    assert post_password(new_client(app), path, NEW_PASSWORD).status_code == 302  # positive control


def test_requests_are_throttled_per_address_and_per_ip(app, make):
    gemeente = make.tenant()
    prefix = f"/{gemeente.slug}"
    person = make.user(gemeente, TenantRole.COORDINATOR)

    # Per address: from ever new addresses, the fourth request within 15 minutes is refused.
    for _ in range(3):
        assert ask_reset(new_client(app), prefix, person.email).status_code == 302
    refused = ask_reset(new_client(app), prefix, person.email.upper())
    assert refused.status_code == 429 and "Te veel pogingen" in refused.get_data(as_text=True)
    assert len(mails(app, gemeente.id, to=person.email, template="password_reset")) == 3

    # Per IP: one client trying many addresses.
    client = new_client(app)
    statuses = [ask_reset(client, prefix, f"raden-{n}-{uuid.uuid4().hex[:6]}@example.org").status_code
                for n in range(11)]
    assert statuses[:10] == [302] * 10 and statuses[10] == 429
