"""Provisioning at /landelijk/gemeenten/: a national admin adds a gemeente from the CBS list and its first
tenant admin is invited by e-mail (the link works), all or nothing and audited nationally; wrong input
is refused with nothing created; suspending closes the gemeente's login and reactivating opens it; an
analyst may read but not act, and a gemeente's staff cannot reach the pages."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, select

from domain.accounts.models import NationalRole, StaffUser, TenantRole
from domain.audit.models import NationalAuditEvent
from domain.geo.gemeenten import cbs_gemeente, cbs_gemeenten
from domain.provisioning.services import slug_for
from tenants.db import db
from tenants.models import Tenant
from tests.conftest import csrf_token, login, random_ip
from tests.test_invitations import NEW_PASSWORD, audit, in_tenant, mails, path_of, post_password

PAGE = "/landelijk/gemeenten/"


@pytest.fixture
def admin(make):
    return make.national_user(NationalRole.NATIONAL_ADMIN)


def client_of(app, person=None, prefix="/landelijk"):
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = random_ip()
    if person is not None:
        login(client, person, prefix)
    return client


def free_code(app) -> str:
    """A CBS gemeente without a tenant in this test database (other tests make tenants with random codes)."""
    with app.app_context():
        taken = set(db.session.scalars(select(Tenant.gemeentecode)))
        db.session.remove()
    return next(row.code for row in reversed(cbs_gemeenten()) if row.code not in taken and slug_for(row.name))


def tenant_of(app, code: str) -> Tenant | None:
    with app.app_context():
        tenant = db.session.scalar(select(Tenant).where(Tenant.gemeentecode == code))
        if tenant is not None:
            db.session.expunge(tenant)
        db.session.remove()
    return tenant


def national_events(app, action: str, tenant_id: int | None = None) -> list[NationalAuditEvent]:
    with app.app_context():
        statement = select(NationalAuditEvent).where(NationalAuditEvent.action == action)
        if tenant_id is not None:
            statement = statement.where(NationalAuditEvent.object_id == tenant_id)
        events = list(db.session.scalars(statement))
        db.session.expunge_all()
        db.session.remove()
    return events


def provision(client, code: str, name: str = "Eerste Beheerder", email: str | None = None):
    email = email or f"beheer-{uuid.uuid4().hex[:8]}@gemeente.example.nl"
    return client.post(f"{PAGE}nieuw", data={"gemeente": code, "admin_name": name, "admin_email": email,
                                             "csrf_token": csrf_token(client, PAGE)})


def set_status(client, tenant_id: int, status: str):
    return client.post(f"{PAGE}status", data={"gemeente": str(tenant_id), "status": status,
                                              "csrf_token": csrf_token(client, PAGE)})


def counts(app) -> tuple[int, int]:
    with app.app_context():
        result = (db.session.scalar(select(func.count(Tenant.id))),
                  db.session.scalar(select(func.count(NationalAuditEvent.id)).where(
                      NationalAuditEvent.action.like("tenant.%"))))
        db.session.remove()
    return result


def test_slugs_are_ascii_and_hyphenated():
    assert slug_for("Súdwest-Fryslân") == "sudwest-fryslan"
    assert slug_for("'s-Hertogenbosch") == "s-hertogenbosch"
    assert slug_for("Bergen (NH.)") == "bergen-nh"
    assert slug_for("Nuenen, Gerwen en Nederwetten") == "nuenen-gerwen-en-nederwetten"
    assert cbs_gemeente("GM0090").name == "Smallingerland" and cbs_gemeente("0090").provincie == "Friesland"
    assert len(cbs_gemeenten()) == 342


def test_an_admin_provisions_a_gemeente_and_the_invited_admin_sets_a_password(app, admin):
    client = client_of(app, admin)
    code = free_code(app)
    gemeente = cbs_gemeente(code)
    assert f'value="{code}"' in client.get(PAGE).get_data(as_text=True)
    email = f"beheer-{uuid.uuid4().hex[:8]}@gemeente.example.nl"
    response = provision(client, code, "Anna de Beheerder", email)
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]

    tenant = tenant_of(app, code)
    assert (tenant.name, tenant.slug, tenant.status) == (gemeente.name, slug_for(gemeente.name), "active")
    page = client.get(PAGE).get_data(as_text=True)
    assert gemeente.name in page and f'value="{code}"' not in page  # no longer offered

    # National audit: the tenant and the invitation, by this admin; the gemeente's own trail has the invite.
    [created] = national_events(app, "tenant.created", tenant.id)
    [invited] = national_events(app, "tenant.admin_invited", tenant.id)
    assert created.actor_label == invited.actor_label == admin.email
    user_id = in_tenant(app, tenant.id, lambda: db.session.scalar(select(StaffUser.id).where(StaffUser.email == email)))
    assert invited.details["user_id"] == user_id
    assert [e["object_id"] for e in audit(app, tenant.id, "user.invited")] == [user_id]
    role = in_tenant(app, tenant.id, lambda: db.session.get(StaffUser, user_id).role)
    assert role == TenantRole.TENANT_ADMIN

    [mail] = mails(app, tenant.id, to=email)
    assert mail["template"] == "staff_invitation" and mail["context"]["full_name"] == "Anna de Beheerder"
    path = path_of(app, mail["context"]["link"])
    assert path.startswith(f"/{tenant.slug}/uitnodiging/")
    invitee = client_of(app)
    assert invitee.get(path).status_code == 200
    response = post_password(invitee, path, NEW_PASSWORD)
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/{tenant.slug}/login")
    response = invitee.post(f"/{tenant.slug}/login", data={
        "email": email, "password": NEW_PASSWORD, "csrf_token": csrf_token(invitee, f"/{tenant.slug}/login")})
    assert response.status_code == 302 and response.headers["Location"].endswith("/login/code")


@pytest.mark.parametrize(("how", "field", "message"), [
    ("duplicate", "gemeente", "staat al op het platform"),
    ("unknown", "gemeente", "staat niet in de lijst van het CBS"),
    ("empty", "gemeente", "staat niet in de lijst van het CBS"),
    ("bad_email", "admin_email", "Dit e-mailadres klopt niet."),
    ("no_name", "admin_name", "Vul de naam van de beheerder in."),
])
def test_wrong_input_is_refused_and_nothing_is_created(app, admin, make, how, field, message):
    client = client_of(app, admin)
    code = free_code(app)
    data = {"code": code, "email": None, "name": "Eerste Beheerder"}
    if how == "duplicate":
        existing = make.tenant()
        data["code"] = in_tenant(app, None, lambda: db.session.get(Tenant, existing.id).gemeentecode)
        # A made tenant may carry a code that is not in the CBS list; make it a real one.
        if cbs_gemeente(data["code"]) is None:
            in_tenant(app, None, lambda: setattr(db.session.get(Tenant, existing.id), "gemeentecode", code))
            data["code"] = code
    elif how == "unknown":
        data["code"] = "9999"
    elif how == "empty":
        data["code"] = ""
    elif how == "bad_email":
        data["email"] = "geen-adres"
    elif how == "no_name":
        data["name"] = "  "
    before = counts(app)
    response = provision(client, data["code"], data["name"], data["email"])
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "De gemeente is niet aangemaakt" in html and message in html
    assert f'id="{field}-error"' in html and 'aria-invalid="true"' in html
    assert counts(app) == before  # no tenant, so no user, token or mail either
    if how != "duplicate":
        assert tenant_of(app, code) is None


def test_suspend_closes_login_and_reactivate_opens_it(app, admin, make):
    gemeente = make.tenant()
    prefix = f"/{gemeente.slug}"
    staff = make.user(gemeente)
    client = client_of(app, admin)

    assert set_status(client, gemeente.id, "suspended").status_code == 302
    assert "nu gepauzeerd" in client.get(PAGE).get_data(as_text=True)
    blocked = client_of(app)
    response = blocked.post(f"{prefix}/login", data={"email": staff.email, "password": staff.password,
                                                     "csrf_token": csrf_token(blocked, f"{prefix}/login")})
    assert response.status_code != 302 and "tijdelijk niet actief" in response.get_data(as_text=True)
    [event] = national_events(app, "tenant.suspended", gemeente.id)
    assert event.actor_label == admin.email and event.details["from"] == "active"

    # Suspending twice is refused with a message.
    set_status(client, gemeente.id, "suspended")
    assert "is al gepauzeerd" in client.get(PAGE).get_data(as_text=True)
    assert len(national_events(app, "tenant.suspended", gemeente.id)) == 1

    assert set_status(client, gemeente.id, "active").status_code == 302
    assert len(national_events(app, "tenant.active", gemeente.id)) == 1
    login(client_of(app), staff, prefix)  # works again

    assert set_status(client, gemeente.id, "archived").status_code == 302
    assert len(national_events(app, "tenant.archived", gemeente.id)) == 1
    set_status(client, gemeente.id, "active")
    assert "is gearchiveerd en kan niet meer actief worden" in client.get(PAGE).get_data(as_text=True)
    assert tenant_of(app, in_tenant(app, None, lambda: db.session.get(Tenant, gemeente.id).gemeentecode)
                     ).status == "archived"
    assert set_status(client, gemeente.id, "nonsense").status_code == 302
    assert set_status(client, 2_000_000_000, "suspended").status_code == 404


def test_an_analyst_reads_the_list_but_cannot_act(app, make):
    gemeente = make.tenant()
    analyst = make.national_user(NationalRole.NATIONAL_ANALYST)
    client = client_of(app, analyst)
    page = client.get(PAGE)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert gemeente.name in html and "Nieuwe gemeente" not in html and "Pauzeren" not in html
    token = csrf_token(client, "/landelijk/contracten/")
    before = counts(app)
    assert client.post(f"{PAGE}nieuw", data={"gemeente": free_code(app), "admin_name": "X",
                                             "admin_email": "x@example.org", "csrf_token": token}).status_code == 403
    response = client.post(f"{PAGE}status", data={"gemeente": str(gemeente.id), "status": "suspended",
                                                  "csrf_token": token})
    assert response.status_code == 403
    assert counts(app) == before
    assert tenant_of(app, in_tenant(app, None, lambda: db.session.get(Tenant, gemeente.id).gemeentecode)
                     ).status == "active"


def test_posts_need_csrf(app, admin, make):
    gemeente = make.tenant()
    client = client_of(app, admin)
    assert client.post(f"{PAGE}status", data={"gemeente": str(gemeente.id), "status": "suspended"}).status_code == 400
    assert client.post(f"{PAGE}nieuw", data={"gemeente": free_code(app), "admin_name": "X",
                                             "admin_email": "x@example.org"}).status_code == 400


@pytest.mark.parametrize("role", [TenantRole.TENANT_ADMIN, TenantRole.COORDINATOR])
def test_a_gemeentes_staff_cannot_reach_the_pages(app, make, role):
    gemeente = make.tenant()
    person = make.user(gemeente, role)
    client = client_of(app, person, f"/{gemeente.slug}")
    response = client.get(PAGE)
    assert response.status_code == 302 and response.headers["Location"].startswith("/landelijk/login")
    token = csrf_token(client, f"/{gemeente.slug}/app/")
    response = client.post(f"{PAGE}status", data={"gemeente": str(gemeente.id), "status": "suspended",
                                                     "csrf_token": token})
    assert response.status_code in {302, 403}
    assert tenant_of(app, in_tenant(app, None, lambda: db.session.get(Tenant, gemeente.id).gemeentecode)
                     ).status == "active"


def test_a_failing_invitation_undoes_the_tenant(app, admin, monkeypatch):
    import domain.provisioning.services as provisioning
    from domain.accounts.services import AccountError

    def fail(*args, **kwargs):
        raise AccountError("De uitnodiging kon niet worden gemaakt.")

    monkeypatch.setattr(provisioning, "invite_staff_user", fail)
    client = client_of(app, admin)
    code = free_code(app)
    before = counts(app)
    response = provision(client, code)
    assert response.status_code == 422 and "De uitnodiging kon niet worden gemaakt." in response.get_data(as_text=True)
    assert tenant_of(app, code) is None and counts(app) == before
