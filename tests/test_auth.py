"""Login, sessions, throttling, CSRF, headers and user management, against the real app.

Every test makes its own tenant(s) and users, and every user logs in at most once per TOTP
secret (the app refuses a time step it has already accepted).
"""

from __future__ import annotations

import re
import time
from dataclasses import replace

import pyotp
import pytest
from sqlalchemy import select

from domain.accounts.models import StaffUser, TenantRole
from domain.audit.models import AuditEvent
from tenants.db import db
from tenants.models import Tenant, TenantStatus
from tenants.services import set_tenant_status, use_tenant
from tests.conftest import csrf_token, login, random_ip
from web.app import create_app

WRONG_CREDENTIALS = "Het e-mailadres of het wachtwoord klopt niet."
TOO_MANY = "Te veel pogingen"


# --------------------------------------------------------------------------------------------
# helpers


def password_step(client, prefix: str, email: str, password: str, *, next_url: str | None = None):
    token = csrf_token(client, f"{prefix}/login")
    return client.post(
        f"{prefix}/login",
        query_string={"next": next_url} if next_url is not None else None,
        data={"email": email, "password": password, "csrf_token": token},
    )


def code_step(client, prefix: str, code: str):
    token = csrf_token(client, f"{prefix}/login/code")
    return client.post(f"{prefix}/login/code", data={"code": code, "csrf_token": token})


def wrong_code(secret: str) -> str:
    """A six-digit code that is valid for none of the steps the server could accept."""
    totp = pyotp.TOTP(secret)
    now = int(time.time() // 30)
    valid = {totp.at(step * 30) for step in range(now - 2, now + 3)}
    return next(f"{n:06d}" for n in range(1_000_000) if f"{n:06d}" not in valid)


def audit_events(app, tenant_id: int, action: str) -> list[dict]:
    """Audit events of one tenant, read as the app role inside that tenant's context."""
    with app.app_context():
        use_tenant(tenant_id)
        events = db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
        ).all()
        rows = [
            {"actor_id": e.actor_id, "actor_label": e.actor_label, "object_id": e.object_id,
             "details": dict(e.details or {}), "tenant_id": e.tenant_id}
            for e in events
        ]
        db.session.remove()
    return rows


def staff_user(app, tenant_id: int, email: str) -> dict | None:
    with app.app_context():
        use_tenant(tenant_id)
        user = db.session.scalar(select(StaffUser).where(StaffUser.email == email.lower()))
        row = None if user is None else {
            "id": user.id, "role": str(user.role), "totp_secret": user.totp_secret,
            "enrolled": user.totp_enrolled, "session_token": user.session_token,
        }
        db.session.remove()
    return row


def set_cookie_header(response, name: str) -> str:
    headers = [h for h in response.headers.getlist("Set-Cookie") if h.startswith(f"{name}=")]
    assert headers, f"no Set-Cookie for {name}: {response.headers.getlist('Set-Cookie')}"
    return headers[-1]


def session_cookie(client, name: str = "session") -> str | None:
    cookie = client.get_cookie(name)
    return cookie.value if cookie else None


def is_login_redirect(response, prefix: str) -> bool:
    return response.status_code == 302 and response.headers["Location"].split("?")[0].endswith(f"{prefix}/login")


def logged_in(client, prefix: str) -> bool:
    response = client.get(f"{prefix}/app/")
    if response.status_code == 200:
        return True
    assert is_login_redirect(response, prefix), response.status_code
    return False


@pytest.fixture
def tenant_with_users(make):
    gemeente = make.tenant()
    return gemeente, f"/{gemeente.slug}"


@pytest.fixture(scope="module")
def https_app(settings):
    return create_app(replace(settings, base_url="https://x.example"))


# --------------------------------------------------------------------------------------------
# happy path and cookies


def test_password_then_code_reaches_staff_home_and_rotates_the_session(client, make, tenant_with_users):
    gemeente, prefix = tenant_with_users
    person = make.user(gemeente)

    client.get(f"{prefix}/login")
    with client.session_transaction() as sess:
        sess["planted"] = "by an attacker before login"
    before = session_cookie(client)
    assert before

    response = password_step(client, prefix, person.email, person.password)
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"{prefix}/login/code")
    after_password = session_cookie(client)

    response = code_step(client, prefix, pyotp.TOTP(person.totp_secret).now())
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"{prefix}/app/")
    header = set_cookie_header(response, "session")
    assert "HttpOnly" in header
    assert "SameSite=Lax" in header
    assert "Secure" not in header  # plain-http base_url
    after_code = session_cookie(client)
    assert after_code not in (before, after_password)

    with client.session_transaction() as sess:
        assert "planted" not in sess

    home = client.get(f"{prefix}/app/")
    assert home.status_code == 200
    assert "Test coordinator" in home.get_data(as_text=True)
    assert home.headers.get("Cache-Control") == "no-store"
    assert len(audit_events(client.application, gemeente.id, "login.succeeded")) >= 1


def test_https_base_url_makes_a_secure_host_cookie_and_hsts(https_app, make):
    gemeente = make.tenant()
    client = https_app.test_client()
    client.environ_base["REMOTE_ADDR"] = random_ip()
    response = client.get(f"/{gemeente.slug}/login", base_url="https://x.example")
    assert response.status_code == 200
    header = set_cookie_header(response, "__Host-session")
    assert "Secure" in header
    assert "HttpOnly" in header
    assert "SameSite=Lax" in header
    assert "Path=/" in header
    assert "Domain=" not in header
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


# --------------------------------------------------------------------------------------------
# wrong credentials


def test_wrong_password_is_refused_with_dutch_message_and_audited(client, make, app, tenant_with_users):
    gemeente, prefix = tenant_with_users
    person = make.user(gemeente)

    response = password_step(client, prefix, person.email, "helemaal-niet-het-wachtwoord")
    assert response.status_code == 401
    assert WRONG_CREDENTIALS in response.get_data(as_text=True)

    events = [e for e in audit_events(app, gemeente.id, "login.failed") if e["actor_label"] == person.email]
    assert len(events) == 1
    assert events[0]["actor_id"] == person.id
    assert events[0]["details"]["step"] == "password"
    assert events[0]["tenant_id"] == gemeente.id

    # No pending login: the code page sends us back, and staff pages stay closed.
    assert is_login_redirect(client.get(f"{prefix}/login/code"), prefix)
    assert not logged_in(client, prefix)


def test_unknown_email_gets_the_same_answer(client, make, app, tenant_with_users):
    gemeente, prefix = tenant_with_users
    make.user(gemeente)
    email = "niemand-hier@example.org"

    response = password_step(client, prefix, email, "een-lang-testwachtwoord")
    assert response.status_code == 401
    assert WRONG_CREDENTIALS in response.get_data(as_text=True)
    events = [e for e in audit_events(app, gemeente.id, "login.failed") if e["actor_label"] == email]
    assert len(events) == 1 and events[0]["actor_id"] is None
    assert not logged_in(client, prefix)


def test_user_of_another_tenant_cannot_log_in_here(client, two_tenants):
    a, b_user = two_tenants["a"], two_tenants["b_coordinator"]
    response = password_step(client, f"/{a.slug}", b_user.email, b_user.password)
    assert response.status_code == 401
    assert WRONG_CREDENTIALS in response.get_data(as_text=True)


# --------------------------------------------------------------------------------------------
# TOTP


def test_wrong_code_is_refused(client, make, app, tenant_with_users):
    gemeente, prefix = tenant_with_users
    person = make.user(gemeente)
    assert password_step(client, prefix, person.email, person.password).status_code == 302

    response = code_step(client, prefix, wrong_code(person.totp_secret))
    assert response.status_code == 401
    assert "Deze code klopt niet" in response.get_data(as_text=True)
    assert not logged_in(client, prefix)
    events = [e for e in audit_events(app, gemeente.id, "login.failed") if e["actor_id"] == person.id]
    assert [e["details"]["step"] for e in events] == ["code"]


def test_a_code_cannot_be_used_twice(app, make, tenant_with_users):
    gemeente, prefix = tenant_with_users
    person = make.user(gemeente)
    first, second = app.test_client(), app.test_client()
    first.environ_base["REMOTE_ADDR"] = random_ip()
    second.environ_base["REMOTE_ADDR"] = random_ip()

    code = pyotp.TOTP(person.totp_secret).now()
    assert password_step(first, prefix, person.email, person.password).status_code == 302
    assert code_step(first, prefix, code).status_code == 302
    assert logged_in(first, prefix)

    # Someone who saw the code and knows the password tries it in the same time step.
    assert password_step(second, prefix, person.email, person.password).status_code == 302
    response = code_step(second, prefix, code)
    assert response.status_code == 401
    assert not logged_in(second, prefix)


def test_code_page_without_password_step_goes_to_login(client, make, tenant_with_users):
    gemeente, prefix = tenant_with_users
    person = make.user(gemeente)
    assert is_login_redirect(client.get(f"{prefix}/login/code"), prefix)

    # Posting a valid code without the password step does not log anyone in either.
    token = csrf_token(client, f"{prefix}/login")
    response = client.post(f"{prefix}/login/code",
                           data={"code": pyotp.TOTP(person.totp_secret).now(), "csrf_token": token})
    assert is_login_redirect(response, prefix)
    assert not logged_in(client, prefix)


def test_pending_login_expires(client, make, tenant_with_users):
    gemeente, prefix = tenant_with_users
    person = make.user(gemeente)
    assert password_step(client, prefix, person.email, person.password).status_code == 302
    token = csrf_token(client, f"{prefix}/login/code")  # still pending: the page renders

    with client.session_transaction() as sess:
        pending = dict(sess["pending_login"])
        pending["at"] -= 10 * 60
        sess["pending_login"] = pending

    response = client.post(f"{prefix}/login/code",
                           data={"code": pyotp.TOTP(person.totp_secret).now(), "csrf_token": token})
    assert is_login_redirect(response, prefix)
    assert not logged_in(client, prefix)


def test_pending_login_of_another_tenant_does_not_count(client, two_tenants):
    a, b = two_tenants["a"], two_tenants["b"]
    person = two_tenants["a_coordinator"]
    assert password_step(client, f"/{a.slug}", person.email, person.password).status_code == 302
    # The pending login of tenant A cannot be finished at tenant B.
    assert is_login_redirect(client.get(f"/{b.slug}/login/code"), f"/{b.slug}")


# --------------------------------------------------------------------------------------------
# enrolment


def _enrol(client, prefix: str, person) -> str:
    """Password step, then read the enrolment page; returns the secret shown."""
    assert password_step(client, prefix, person.email, person.password).status_code == 302
    page = client.get(f"{prefix}/login/code")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert re.search(r'<img[^>]+src="data:image/svg\+xml', html), "no inline SVG QR code"
    match = re.search(r'class="utrecht-code totp-secret">([A-Z2-7]+)</code>', html)
    assert match, "no secret on the enrolment page"
    return match.group(1)


def test_enrolment_then_admin_reset_forces_re_enrolment(app, make, tenant_with_users):
    gemeente, prefix = tenant_with_users
    admin = make.user(gemeente, TenantRole.TENANT_ADMIN)
    person = make.user(gemeente, enrolled=False)
    assert staff_user(app, gemeente.id, person.email)["enrolled"] is False

    user_client = app.test_client()
    user_client.environ_base["REMOTE_ADDR"] = random_ip()
    secret = _enrol(user_client, prefix, person)
    # Reloading the page keeps the same secret (the user may already have scanned it).
    assert _secret_on_page(user_client, prefix) == secret

    # A wrong code does not enrol.
    assert code_step(user_client, prefix, wrong_code(secret)).status_code == 401
    assert staff_user(app, gemeente.id, person.email)["enrolled"] is False

    response = code_step(user_client, prefix, pyotp.TOTP(secret).now())
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"{prefix}/app/")
    assert logged_in(user_client, prefix)
    row = staff_user(app, gemeente.id, person.email)
    assert row["enrolled"] is True and row["totp_secret"] == secret
    assert len([e for e in audit_events(app, gemeente.id, "totp.enrolled") if e["actor_id"] == person.id]) == 1

    # The tenant admin resets the authenticator.
    admin_client = app.test_client()
    admin_client.environ_base["REMOTE_ADDR"] = random_ip()
    login(admin_client, admin, prefix)
    detail = f"{prefix}/app/gebruikers/{row['id']}"
    response = admin_client.post(f"{detail}/authenticator", data={"csrf_token": csrf_token(admin_client, detail)})
    assert response.status_code == 302
    assert staff_user(app, gemeente.id, person.email)["enrolled"] is False
    assert [e["object_id"] for e in audit_events(app, gemeente.id, "user.totp_reset")] == [row["id"]]

    # The user's running session ended, and the next login enrols a new authenticator.
    assert not logged_in(user_client, prefix)
    new_secret = _enrol(user_client, prefix, person)
    assert new_secret != secret
    assert code_step(user_client, prefix, pyotp.TOTP(new_secret).now()).status_code == 302
    assert logged_in(user_client, prefix)
    assert staff_user(app, gemeente.id, person.email)["totp_secret"] == new_secret


def _secret_on_page(client, prefix: str) -> str:
    html = client.get(f"{prefix}/login/code").get_data(as_text=True)
    return re.search(r'class="utrecht-code totp-secret">([A-Z2-7]+)</code>', html).group(1)


# --------------------------------------------------------------------------------------------
# throttling


def test_five_failed_passwords_lock_the_account_even_from_another_ip(app, make, tenant_with_users):
    gemeente, prefix = tenant_with_users
    person = make.user(gemeente)
    attacker = app.test_client()
    attacker.environ_base["REMOTE_ADDR"] = random_ip()

    for _ in range(5):
        response = password_step(attacker, prefix, person.email, "fout-wachtwoord-123")
        assert response.status_code == 401

    owner = app.test_client()
    owner.environ_base["REMOTE_ADDR"] = random_ip()
    response = password_step(owner, prefix, person.email, person.password)
    assert response.status_code == 429
    assert TOO_MANY in response.get_data(as_text=True)
    assert is_login_redirect(owner.get(f"{prefix}/login/code"), prefix)  # no pending login

    # Another account from the attacker's address is not affected by this account's lock.
    other = make.user(gemeente)
    assert password_step(attacker, prefix, other.email, other.password).status_code == 302


def test_the_account_throttle_ignores_e_mail_case(app, make, tenant_with_users):
    gemeente, prefix = tenant_with_users
    person = make.user(gemeente)
    attacker = app.test_client()
    for i in range(5):
        attacker.environ_base["REMOTE_ADDR"] = random_ip()
        email = person.email.upper() if i % 2 else person.email
        assert password_step(attacker, prefix, email, "fout-wachtwoord-123").status_code == 401
    attacker.environ_base["REMOTE_ADDR"] = random_ip()
    assert password_step(attacker, prefix, person.email.upper(), person.password).status_code == 429


def test_successful_password_steps_do_not_count_towards_the_lock(client, make, tenant_with_users):
    gemeente, prefix = tenant_with_users
    person = make.user(gemeente)
    for _ in range(4):
        assert password_step(client, prefix, person.email, "fout-wachtwoord-123").status_code == 401
    # Two right passwords: if they counted, the second would be the sixth attempt and refused.
    assert password_step(client, prefix, person.email, person.password).status_code == 302
    assert password_step(client, prefix, person.email, person.password).status_code == 302
    # The fifth failure is still allowed and answered normally; the sixth is throttled.
    assert password_step(client, prefix, person.email, "fout-wachtwoord-123").status_code == 401
    assert password_step(client, prefix, person.email, person.password).status_code == 429


def test_account_lock_is_per_tenant(app, two_tenants):
    """Failures for an e-mail at tenant A do not lock the account with that e-mail at tenant B."""
    a, b = two_tenants["a"], two_tenants["b"]
    person = two_tenants["b_coordinator"]
    attacker = app.test_client()
    attacker.environ_base["REMOTE_ADDR"] = random_ip()
    for _ in range(5):
        assert password_step(attacker, f"/{a.slug}", person.email, "fout-wachtwoord-123").status_code == 401
    assert password_step(attacker, f"/{a.slug}", person.email, "fout-wachtwoord-123").status_code == 429

    owner = app.test_client()
    owner.environ_base["REMOTE_ADDR"] = random_ip()
    assert password_step(owner, f"/{b.slug}", person.email, person.password).status_code == 302


def test_national_login_is_throttled_too(app, make):
    person = make.national_user()
    attacker = app.test_client()
    attacker.environ_base["REMOTE_ADDR"] = random_ip()
    for _ in range(5):
        assert password_step(attacker, "/landelijk", person.email, "fout-wachtwoord-123").status_code == 401
    owner = app.test_client()
    owner.environ_base["REMOTE_ADDR"] = random_ip()
    response = password_step(owner, "/landelijk", person.email, person.password)
    assert response.status_code == 429
    assert TOO_MANY in response.get_data(as_text=True)


def test_thirty_failures_from_one_ip_block_that_ip(app, make, tenant_with_users):
    gemeente, prefix = tenant_with_users
    person = make.user(gemeente)
    attacker = app.test_client()
    attacker.environ_base["REMOTE_ADDR"] = random_ip()
    token = csrf_token(attacker, f"{prefix}/login")
    for i in range(30):
        response = attacker.post(f"{prefix}/login", data={
            "email": f"gok-{i}@example.org", "password": "fout-wachtwoord-123", "csrf_token": token,
        })
        assert response.status_code == 401, i

    response = attacker.post(f"{prefix}/login", data={
        "email": person.email, "password": person.password, "csrf_token": token,
    })
    assert response.status_code == 429
    assert TOO_MANY in response.get_data(as_text=True)

    # The account itself is not locked: from another address it still works.
    elsewhere = app.test_client()
    elsewhere.environ_base["REMOTE_ADDR"] = random_ip()
    assert password_step(elsewhere, prefix, person.email, person.password).status_code == 302


# --------------------------------------------------------------------------------------------
# CSRF


def test_login_post_without_csrf_token_is_refused(client, make, app, tenant_with_users):
    gemeente, prefix = tenant_with_users
    person = make.user(gemeente)
    client.get(f"{prefix}/login")
    response = client.post(f"{prefix}/login", data={"email": person.email, "password": person.password})
    assert response.status_code == 400
    assert "Het formulier was verlopen" in response.get_data(as_text=True)
    assert is_login_redirect(client.get(f"{prefix}/login/code"), prefix)
    assert not [e for e in audit_events(app, gemeente.id, "login.failed") if e["actor_label"] == person.email]


def test_user_creation_without_csrf_token_is_refused(client, make, app, tenant_with_users):
    gemeente, prefix = tenant_with_users
    admin = make.user(gemeente, TenantRole.TENANT_ADMIN)
    login(client, admin, prefix)
    email = "zonder-token@example.org"
    response = client.post(f"{prefix}/app/gebruikers", data={
        "full_name": "Zonder Token", "email": email, "role": "coordinator", "password": "een-lang-wachtwoord-1",
    })
    assert response.status_code == 400
    assert staff_user(app, gemeente.id, email) is None
    # A wrong token is no better than none.
    response = client.post(f"{prefix}/app/gebruikers", data={
        "full_name": "Zonder Token", "email": email, "role": "coordinator", "password": "een-lang-wachtwoord-1",
        "csrf_token": "not-a-token",
    })
    assert response.status_code == 400
    assert staff_user(app, gemeente.id, email) is None


# --------------------------------------------------------------------------------------------
# security headers


def _check_headers(response, *, hsts: bool) -> None:
    csp = response.headers["Content-Security-Policy"]
    directives = {d.strip().split()[0]: d.strip().split()[1:] for d in csp.split(";") if d.strip()}
    assert "script-src" in directives
    assert "'unsafe-inline'" not in directives["script-src"]
    assert "'unsafe-eval'" not in directives["script-src"]
    assert "'unsafe-inline'" not in directives.get("default-src", [])
    assert directives["frame-ancestors"] == ["'none'"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] in {"same-origin", "no-referrer", "strict-origin-when-cross-origin"}
    if hsts:
        assert "max-age=" in response.headers["Strict-Transport-Security"]
    else:
        assert "Strict-Transport-Security" not in response.headers


def test_security_headers_on_public_staff_and_health_pages(client, make, tenant_with_users):
    gemeente, prefix = tenant_with_users
    person = make.user(gemeente)
    _check_headers(client.get(f"{prefix}/"), hsts=False)
    _check_headers(client.get("/healthz"), hsts=False)
    _check_headers(client.get(f"{prefix}/login"), hsts=False)
    login(client, person, prefix)
    staff_page = client.get(f"{prefix}/app/")
    assert staff_page.status_code == 200
    _check_headers(staff_page, hsts=False)


def test_hsts_only_for_https_app(https_app, make):
    gemeente = make.tenant()
    client = https_app.test_client()
    client.environ_base["REMOTE_ADDR"] = random_ip()
    _check_headers(client.get(f"/{gemeente.slug}/", base_url="https://x.example"), hsts=True)
    _check_headers(client.get("/healthz", base_url="https://x.example"), hsts=True)


# --------------------------------------------------------------------------------------------
# sessions: tenant binding, logout, idle timeout, suspended tenants


def test_session_belongs_to_one_tenant(client, two_tenants):
    a, b = two_tenants["a"], two_tenants["b"]
    login(client, two_tenants["a_coordinator"], f"/{a.slug}")
    assert logged_in(client, f"/{a.slug}")
    response = client.get(f"/{b.slug}/app/")
    assert is_login_redirect(response, f"/{b.slug}")
    # Tenant A's session still works: visiting B did not log us out.
    assert logged_in(client, f"/{a.slug}")


def test_logout_ends_the_session(client, make, app, tenant_with_users):
    gemeente, prefix = tenant_with_users
    person = make.user(gemeente)
    login(client, person, prefix)
    assert logged_in(client, prefix)
    token = csrf_token(client, f"{prefix}/app/")
    response = client.post(f"{prefix}/logout", data={"csrf_token": token})
    assert is_login_redirect(response, prefix)
    assert not logged_in(client, prefix)
    assert [e["actor_id"] for e in audit_events(app, gemeente.id, "logout")] == [person.id]


def test_logout_needs_csrf(client, make, tenant_with_users):
    gemeente, prefix = tenant_with_users
    login(client, make.user(gemeente), prefix)
    assert client.post(f"{prefix}/logout").status_code == 400
    assert logged_in(client, prefix)


def test_idle_session_is_logged_out(client, make, tenant_with_users):
    gemeente, prefix = tenant_with_users
    login(client, make.user(gemeente), prefix)

    with client.session_transaction() as sess:
        sess["last_seen"] = int(time.time()) - 10 * 60  # ten minutes: still fine
    assert logged_in(client, prefix)

    with client.session_transaction() as sess:
        sess["last_seen"] = int(time.time()) - 2 * 60 * 60
    response = client.get(f"{prefix}/app/")
    assert is_login_redirect(response, prefix)
    assert not logged_in(client, prefix)


def _set_status(app, tenant_id: int, status: TenantStatus) -> None:
    with app.app_context():
        set_tenant_status(db.session.get(Tenant, tenant_id), status)
        db.session.commit()
        db.session.remove()


def test_suspended_tenant_allows_no_login_and_ends_sessions(app, make, tenant_with_users):
    gemeente, prefix = tenant_with_users
    existing, newcomer = make.user(gemeente), make.user(gemeente)
    running = app.test_client()
    running.environ_base["REMOTE_ADDR"] = random_ip()
    login(running, existing, prefix)
    assert logged_in(running, prefix)

    _set_status(app, gemeente.id, TenantStatus.SUSPENDED)

    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = random_ip()
    page = client.get(f"{prefix}/login")
    assert page.status_code == 200
    assert "tijdelijk niet actief" in page.get_data(as_text=True)

    response = password_step(client, prefix, newcomer.email, newcomer.password)
    assert response.status_code != 302
    assert "tijdelijk niet actief" in response.get_data(as_text=True)
    assert is_login_redirect(client.get(f"{prefix}/login/code"), prefix)
    assert not logged_in(client, prefix)

    assert not logged_in(running, prefix)

    # Reactivated: the earlier session does not come back by itself, but logging in works again.
    _set_status(app, gemeente.id, TenantStatus.ACTIVE)
    login(client, newcomer, prefix)
    assert logged_in(client, prefix)


def test_pending_login_stops_when_tenant_is_suspended(app, make, tenant_with_users):
    gemeente, prefix = tenant_with_users
    person = make.user(gemeente)
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = random_ip()
    assert password_step(client, prefix, person.email, person.password).status_code == 302
    token = csrf_token(client, f"{prefix}/login/code")
    _set_status(app, gemeente.id, TenantStatus.SUSPENDED)
    response = client.post(f"{prefix}/login/code",
                           data={"code": pyotp.TOTP(person.totp_secret).now(), "csrf_token": token})
    assert is_login_redirect(response, prefix)
    assert not logged_in(client, prefix)


# --------------------------------------------------------------------------------------------
# roles and user management


def test_coordinator_may_not_manage_users(client, two_tenants):
    a = two_tenants["a"]
    login(client, two_tenants["a_coordinator"], f"/{a.slug}")
    assert client.get(f"/{a.slug}/app/gebruikers").status_code == 403
    assert client.get(f"/{a.slug}/app/audit").status_code == 403
    other = two_tenants["a_admin"]
    assert client.get(f"/{a.slug}/app/gebruikers/{other.id}").status_code == 403


def _create_user_form(client, prefix: str, **fields):
    """The admin's "new user" form: an invitation by e-mail (no first password any more)."""
    data = {"full_name": "Nieuwe Collega", "email": "nieuw@example.org", "role": "coordinator", **fields}
    data["csrf_token"] = csrf_token(client, f"{prefix}/app/gebruikers")
    return client.post(f"{prefix}/app/gebruikers", data=data)


def _invitation_link(app, tenant_id: int, email: str) -> str:
    """The path of the invitation link in the mail queued for ``email``."""
    from domain.email.models import OutboundEmail

    with app.app_context():
        use_tenant(tenant_id)
        mail = db.session.scalar(select(OutboundEmail).where(
            OutboundEmail.to_address == email, OutboundEmail.template == "staff_invitation",
        ).order_by(OutboundEmail.id.desc()))
        link = mail.context["link"]
        db.session.remove()
    return "/" + link.split("/", 3)[3]


def test_admin_creates_a_user(client, make, app, tenant_with_users):
    gemeente, prefix = tenant_with_users
    admin = make.user(gemeente, TenantRole.TENANT_ADMIN)
    login(client, admin, prefix)
    email = f"nieuw-{gemeente.slug}@example.org"

    response = _create_user_form(client, prefix, email=email, role="gemeente_viewer")
    assert response.status_code == 302
    listing = client.get(f"{prefix}/app/gebruikers").get_data(as_text=True)
    assert email in listing and "Nieuwe Collega" in listing

    row = staff_user(app, gemeente.id, email)
    assert row is not None and row["role"] == "gemeente_viewer" and row["enrolled"] is False
    events = [e for e in audit_events(app, gemeente.id, "user.invited") if e["object_id"] == row["id"]]
    assert len(events) == 1
    assert events[0]["actor_id"] == admin.id
    assert events[0]["details"]["email"] == email

    # The new user chooses a password through the invitation link, logs in and enrols an authenticator.
    from tests.conftest import Person

    newcomer = Person(email, "een-lang-wachtwoord-1", "", row["id"], "gemeente_viewer")
    other = app.test_client()
    other.environ_base["REMOTE_ADDR"] = random_ip()
    link = _invitation_link(app, gemeente.id, email)
    assert other.post(link, data={"password": newcomer.password, "password_again": newcomer.password,
                                  "csrf_token": csrf_token(other, link)}).status_code == 302
    secret = _enrol(other, prefix, newcomer)
    assert code_step(other, prefix, pyotp.TOTP(secret).now()).status_code == 302
    assert logged_in(other, prefix)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"email": ""}, "Vul het e-mailadres in."),
        ({"email": "geen-e-mailadres"}, "geen geldig e-mailadres"),
        ({"full_name": "   "}, "Vul de naam in."),
        ({"role": "superuser"}, None),
    ],
)
def test_bad_user_input_gives_a_dutch_error_and_creates_nothing(client, make, app, tenant_with_users, fields, message):
    gemeente, prefix = tenant_with_users
    admin = make.user(gemeente, TenantRole.TENANT_ADMIN)
    login(client, admin, prefix)
    invited_before = len(audit_events(app, gemeente.id, "user.invited"))
    email = fields.get("email", f"fout-{gemeente.slug}@example.org")
    response = _create_user_form(client, prefix, **{"email": email, **fields})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Controleer het formulier" in html
    if message:
        assert message in html
    if email:
        assert staff_user(app, gemeente.id, email) is None
    assert len(audit_events(app, gemeente.id, "user.invited")) == invited_before


def test_duplicate_email_is_refused(client, make, app, tenant_with_users):
    gemeente, prefix = tenant_with_users
    admin = make.user(gemeente, TenantRole.TENANT_ADMIN)
    existing = make.user(gemeente)
    login(client, admin, prefix)
    before = len(audit_events(app, gemeente.id, "user.invited"))

    response = _create_user_form(client, prefix, email=existing.email.upper(), full_name="Dubbel")
    assert response.status_code == 200
    assert "Er is al een account met e-mailadres" in response.get_data(as_text=True)
    assert len(audit_events(app, gemeente.id, "user.invited")) == before
    with app.app_context():
        use_tenant(gemeente.id)
        assert db.session.scalars(select(StaffUser).where(StaffUser.full_name == "Dubbel")).all() == []
        db.session.remove()


def test_same_email_may_exist_in_another_tenant(client, two_tenants, app):
    a, b = two_tenants["a"], two_tenants["b"]
    login(client, two_tenants["a_admin"], f"/{a.slug}")
    email = two_tenants["b_coordinator"].email
    assert _create_user_form(client, f"/{a.slug}", email=email).status_code == 302
    assert staff_user(app, a.id, email) is not None
    assert staff_user(app, b.id, email)["id"] == two_tenants["b_coordinator"].id


def test_role_change_is_audited_and_ends_the_users_sessions(app, make, tenant_with_users):
    gemeente, prefix = tenant_with_users
    admin, coordinator = make.user(gemeente, TenantRole.TENANT_ADMIN), make.user(gemeente)
    admin_client, user_client = app.test_client(), app.test_client()
    admin_client.environ_base["REMOTE_ADDR"] = random_ip()
    user_client.environ_base["REMOTE_ADDR"] = random_ip()
    login(admin_client, admin, prefix)
    login(user_client, coordinator, prefix)
    assert logged_in(user_client, prefix)
    token_before = staff_user(app, gemeente.id, coordinator.email)["session_token"]

    detail = f"{prefix}/app/gebruikers/{coordinator.id}"
    response = admin_client.post(detail, data={"role": "gemeente_viewer",
                                               "csrf_token": csrf_token(admin_client, detail)})
    assert response.status_code == 302

    row = staff_user(app, gemeente.id, coordinator.email)
    assert row["role"] == "gemeente_viewer"
    assert row["session_token"] != token_before
    events = [e for e in audit_events(app, gemeente.id, "user.role_changed") if e["object_id"] == coordinator.id]
    assert len(events) == 1
    assert events[0]["details"] == {**events[0]["details"], "from": "coordinator", "to": "gemeente_viewer"}
    assert events[0]["actor_id"] == admin.id

    assert not logged_in(user_client, prefix)
    assert logged_in(admin_client, prefix)  # the admin's own session is untouched


def test_admin_cannot_demote_themself(client, make, app, tenant_with_users):
    gemeente, prefix = tenant_with_users
    admin = make.user(gemeente, TenantRole.TENANT_ADMIN)
    login(client, admin, prefix)
    detail = f"{prefix}/app/gebruikers/{admin.id}"
    response = client.post(detail, data={"role": "coordinator", "csrf_token": csrf_token(client, detail)})
    assert response.status_code == 200
    assert "Je kunt je eigen beheerrol niet afnemen" in response.get_data(as_text=True)
    assert staff_user(app, gemeente.id, admin.email)["role"] == "tenant_admin"
    assert logged_in(client, prefix)
    assert not [e for e in audit_events(app, gemeente.id, "user.role_changed") if e["object_id"] == admin.id]


def test_admin_cannot_manage_users_of_another_tenant(client, two_tenants, app):
    a, b = two_tenants["a"], two_tenants["b"]
    login(client, two_tenants["a_admin"], f"/{a.slug}")
    victim = two_tenants["b_coordinator"]
    detail = f"/{a.slug}/app/gebruikers/{victim.id}"
    assert client.get(detail).status_code == 404
    token = csrf_token(client, f"/{a.slug}/app/gebruikers")
    assert client.post(detail, data={"role": "tenant_admin", "csrf_token": token}).status_code == 404
    assert staff_user(app, b.id, victim.email)["role"] == "coordinator"


# --------------------------------------------------------------------------------------------
# national office


def test_national_login_and_realm_separation(app, make, two_tenants):
    a = two_tenants["a"]
    national = make.national_user()
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = random_ip()

    login(client, national, "/landelijk")
    page = client.get("/landelijk/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert a.name in html and two_tenants["b"].name in html

    # A national session is no tenant session: a gemeente's pages are "not found" for it.
    assert client.get(f"/{a.slug}/app/").status_code == 404
    assert client.get(f"/{a.slug}/app/gebruikers").status_code == 404

    # And a tenant session is no national session.
    tenant_client = app.test_client()
    tenant_client.environ_base["REMOTE_ADDR"] = random_ip()
    login(tenant_client, two_tenants["a_admin"], f"/{a.slug}")
    assert is_login_redirect(tenant_client.get("/landelijk/"), "/landelijk")


def test_tenant_user_cannot_log_in_nationally(client, two_tenants):
    person = two_tenants["a_admin"]
    response = password_step(client, "/landelijk", person.email, person.password)
    assert response.status_code == 401


# --------------------------------------------------------------------------------------------
# open redirect


@pytest.mark.parametrize(
    "target",
    ["//evil.example", "https://evil.example", "https://evil.example/x", "/\\evil.example",
     "/\t/evil.example", "evil.example"],
)
def test_next_to_another_site_is_ignored(client, make, tenant_with_users, target):
    gemeente, prefix = tenant_with_users
    person = make.user(gemeente)
    assert password_step(client, prefix, person.email, person.password, next_url=target).status_code == 302
    response = code_step(client, prefix, pyotp.TOTP(person.totp_secret).now())
    assert response.status_code == 302
    assert response.headers["Location"] == f"{prefix}/app/"


def test_local_next_is_honoured(client, make, tenant_with_users):
    gemeente, prefix = tenant_with_users
    admin = make.user(gemeente, TenantRole.TENANT_ADMIN)

    # The guard sends an anonymous visitor to login with next=<the page>.
    response = client.get(f"{prefix}/app/gebruikers")
    assert is_login_redirect(response, prefix)
    assert "next=" in response.headers["Location"]

    target = f"{prefix}/app/gebruikers"
    assert password_step(client, prefix, admin.email, admin.password, next_url=target).status_code == 302
    response = code_step(client, prefix, pyotp.TOTP(admin.totp_secret).now())
    assert response.status_code == 302
    assert response.headers["Location"] == target
    assert client.get(target).status_code == 200


@pytest.mark.parametrize("target", ["//evil.example", "https://evil.example", "/\\evil.example", "/\t/evil.example"])
def test_language_switch_does_not_redirect_off_site(client, target):
    token = csrf_token(client, "/")
    response = client.post("/taal/en", data={"next": target, "csrf_token": token})
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


def test_language_switch_returns_to_a_local_page(client, make):
    gemeente = make.tenant()
    token = csrf_token(client, "/")
    response = client.post("/taal/en", data={"next": f"/{gemeente.slug}/", "csrf_token": token})
    assert response.headers["Location"] == f"/{gemeente.slug}/"
