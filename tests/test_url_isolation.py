"""Tenant isolation at the URL level: every registered route is walked, none shows another tenant.

The routes come from ``app.url_map``, so a new page is covered the moment it is registered. A route
with a URL parameter this file does not know how to fill makes the tests fail: add a filler to
``ID_FILLERS`` (an id of one of tenant B's objects).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, pool, text
from werkzeug.routing import Rule

from domain.accounts.models import TenantRole
from domain.accounts.services import create_staff_user
from domain.audit.services import SYSTEM
from domain.documents.models import DocumentSigner
from domain.email.models import OutboundEmail
from domain.families.models import Family, FamilyMember, FamilyNote
from domain.koppelingen.models import Kennismaking, Koppeling
from domain.outbox.models import OutboxJob
from domain.reporting.models import EffectReport
from domain.vog.models import VogRecord
from tenants.db import db
from tenants.models import Tenant
from tenants.services import use_tenant
from tests.conftest import csrf_token, login, random_ip
from tests.signing_helpers import add_document

MISSING_ID = 2_000_000_000  # fits in an int column, never used
SKIPPED_METHODS = {"HEAD", "OPTIONS"}

_PARAM = re.compile(
    r"<(?:(?P<converter>[a-zA-Z_][a-zA-Z0-9_]*)(?:\((?P<args>.*?)\))?:)?(?P<name>[a-zA-Z_][a-zA-Z0-9_]*)>"
)


@dataclass
class World:
    """Two tenants from the ``two_tenants`` fixture plus B's data that must never leak to A."""

    tenants: dict
    b_secret_name: str
    b_secret_email: str
    b_secret_id: int
    b_ids: dict[str, int]
    b_family_name: str = ""

    @property
    def a(self):
        return self.tenants["a"]

    @property
    def b(self):
        return self.tenants["b"]

    def b_markers(self) -> list[str]:
        """Strings only B's data contains: its users' e-mail addresses and a distinctive name."""
        return [
            self.tenants["b_coordinator"].email,
            self.tenants["b_admin"].email,
            self.b_secret_email,
            self.b_secret_name,
            *([self.b_family_name] if self.b_family_name else []),
        ]


# URL parameter name -> (converter, an id of one of tenant B's objects).
ID_FILLERS: dict[str, tuple[str, Callable[[World], int | str]]] = {
    # Mailed single-use links (invitation, password reset) outside /app: a token nobody was given.
    # Real tokens across tenants are tested in tests/test_invitations.py and test_password_reset.py.
    "token": ("default", lambda world: "nooit-uitgegeven-token-" + "x" * 20),
    "user_id": ("int", lambda world: world.tenants["b_admin"].id),
    "email_id": ("int", lambda world: world.b_ids["email_id"]),
    "job_id": ("int", lambda world: world.b_ids["job_id"]),
    "family_id": ("int", lambda world: world.b_ids["family_id"]),
    "vog_id": ("int", lambda world: world.b_ids["vog_id"]),
    "koppeling_id": ("int", lambda world: world.b_ids["koppeling_id"]),
    "meeting_id": ("int", lambda world: world.b_ids["meeting_id"]),
    "document_id": ("int", lambda world: world.b_ids["document_id"]),
    "signer_id": ("int", lambda world: world.b_ids["signer_id"]),
    "report_id": ("int", lambda world: world.b_ids["report_id"]),
}


@pytest.fixture
def world(app: Flask, two_tenants) -> World:
    name = f"Bewoner Geheim {uuid.uuid4().hex[:8]}"
    email = f"geheim-{uuid.uuid4().hex[:8]}@b.example.org"
    with app.app_context():
        use_tenant(two_tenants["b"].id)
        user = create_staff_user(db.session.get(Tenant, two_tenants["b"].id), email=email, full_name=name,
                                 role=TenantRole.COORDINATOR, password="een-lang-testwachtwoord", actor=SYSTEM)
        # A mail to B's secret person, and a failed job: objects the message pages show.
        mail = OutboundEmail(tenant_id=two_tenants["b"].id, to_address=email, template="staff_invitation",
                             subject=f"Voor {name}", body_text=f"Beste {name}", context={"full_name": name},
                             status="failed", last_error="550 geweigerd")
        db.session.add(mail)
        db.session.flush()
        job = OutboxJob(tenant_id=two_tenants["b"].id, kind="email.send", payload={"email_id": mail.id},
                        dedupe_key=f"probe-{uuid.uuid4().hex}", status="failed", attempts=1, max_attempts=1,
                        last_error=f"550 geweigerd voor {email}")
        db.session.add(job)
        # A family of B's, with a name only B's pages could show.
        family_name = f"Geheimgezin{uuid.uuid4().hex[:8]}"
        family = Family(tenant_id=two_tenants["b"].id, kind="vraag", status="aangemeld", postcode="9201 AB",
                        pc4="9201", place="Drachten", referral_source="zelf", email=f"gezin-{email}")
        db.session.add(family)
        db.session.flush()
        member = FamilyMember(tenant_id=two_tenants["b"].id, family_id=family.id, role="volwassene",
                              first_name=family_name, last_name="Geheim", birth_year=1985, is_contact=True)
        db.session.add_all([
            member,
            FamilyNote(tenant_id=two_tenants["b"].id, family_id=family.id, body=f"Notitie over {family_name}"),
        ])
        db.session.flush()
        vog = VogRecord(tenant_id=two_tenants["b"].id, family_id=family.id, member_id=member.id, status="nodig")
        db.session.add(vog)
        # A koppeling of B's (with a steungezin), for the koppeling and evaluation pages.
        steun = Family(tenant_id=two_tenants["b"].id, kind="steun", status="beschikbaar", postcode="9201 AB",
                       pc4="9201", place="Drachten", referral_source="zelf", email=f"steun-{email}")
        db.session.add(steun)
        db.session.flush()
        koppeling = Koppeling(tenant_id=two_tenants["b"].id, vraag_family_id=family.id, steun_family_id=steun.id,
                              status="voorgesteld", proposed_on=date(2026, 6, 15))
        db.session.add(koppeling)
        db.session.flush()
        # A kennismaking of that koppeling, for the meeting steps (its place names B's secret family).
        meeting = Kennismaking(tenant_id=two_tenants["b"].id, koppeling_id=koppeling.id, location=f"Bij {family_name}",
                               starts_at=datetime.now(UTC) + timedelta(days=7), duration_minutes=60)
        db.session.add(meeting)
        # A sent agreement of that koppeling with a signer named after B's secret family.
        document = add_document(two_tenants["b"].id, koppeling_id=koppeling.id, status="verzonden")
        signer = DocumentSigner(tenant_id=two_tenants["b"].id, document_id=document.id, role="vraaggezin",
                                name=f"{family_name} Geheim", email=f"gezin-{email}", family_id=family.id,
                                member_id=member.id, token_hash=uuid.uuid4().hex, sent_at=datetime.now(UTC),
                                expires_at=datetime.now(UTC) + timedelta(days=14))
        db.session.add(signer)
        # A finished yearly report of B's (its "PDF" names the secret family, so a leak would show).
        report = EffectReport(tenant_id=two_tenants["b"].id, year=2025, status="klaar",
                              pdf=f"%PDF-1.7 {family_name}".encode(), sha256="0" * 64)
        db.session.add(report)
        db.session.commit()
        user_id = user.id
        b_ids = {"email_id": mail.id, "job_id": job.id, "family_id": family.id, "vog_id": vog.id,
                 "koppeling_id": koppeling.id, "meeting_id": meeting.id, "document_id": document.id,
                 "signer_id": signer.id, "report_id": report.id}
        db.session.remove()
    return World(two_tenants, name, email, user_id, b_ids, family_name)


def new_client(app: Flask) -> FlaskClient:
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = random_ip()
    return client


def params_of(rule: Rule) -> list[tuple[str, str]]:
    """(name, converter) of every URL parameter except the tenant slug."""
    return [(m["name"], m["converter"] or "default") for m in _PARAM.finditer(rule.rule) if m["name"] != "slug"]


def fill(rule: Rule, slug: str | None, ids: dict[str, int]) -> str:
    def value(match: re.Match) -> str:
        name = match["name"]
        return slug if name == "slug" else str(ids[name])

    url = _PARAM.sub(value, rule.rule)
    assert "<" not in url, url
    return url


def id_values(rule: Rule, world: World) -> tuple[dict[str, int], dict[str, int]]:
    """The ids for ``rule``: of B's objects, and ones that do not exist. Unknown parameters fail."""
    foreign, missing = {}, {}
    for name, converter in params_of(rule):
        if name not in ID_FILLERS:
            pytest.fail(f"route {rule.rule} has a parameter <{converter}:{name}> this test cannot fill: "
                        "add it to ID_FILLERS in tests/test_url_isolation.py")
        expected_converter, filler = ID_FILLERS[name]
        assert converter == expected_converter, f"{rule.rule}: <{name}> is a {converter}, expected {expected_converter}"
        foreign[name] = filler(world)
        missing[name] = MISSING_ID
    return foreign, missing


def rules_under(app: Flask, prefix: str) -> list[Rule]:
    rules = [rule for rule in app.url_map.iter_rules() if rule.rule.startswith(prefix)]
    # Logging out (anywhere) ends the one session cookie: do it last.
    return sorted(rules, key=lambda rule: (rule.endpoint.endswith("logout"), rule.rule))


def methods_of(rule: Rule) -> list[str]:
    return sorted((rule.methods or set()) - SKIPPED_METHODS)


def send(client: FlaskClient, method: str, url: str, token: str):
    if method == "GET":
        return client.get(url)
    # Valid-looking form data, so a view that wrongly got this far would act on it.
    return client.open(url, method=method, data={"csrf_token": token, "role": TenantRole.COORDINATOR.value})


def assert_no_b_data(response, world: World, where: str) -> None:
    body = response.get_data()  # bytes: downloads (xlsx, csv) are walked too
    for marker in world.b_markers():
        assert marker.encode() not in body, f"{where} shows tenant B's {marker!r}"


def b_users_snapshot(settings, world: World) -> list[tuple]:
    engine = create_engine(settings.database_url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        rows = connection.execute(
            text("SELECT id, role, active, session_token, totp_secret FROM staff_users "
                 "WHERE tenant_id = :t ORDER BY id"), {"t": world.b.id}
        ).all()
        audit = connection.scalar(text("SELECT count(*) FROM audit_events WHERE tenant_id = :t"), {"t": world.b.id})
        families = connection.execute(
            text("SELECT f.id, f.status, f.support_codes, f.availability::text, "
                 "(SELECT count(*) FROM family_members m WHERE m.family_id = f.id), "
                 "(SELECT count(*) FROM family_notes n WHERE n.family_id = f.id), "
                 "(SELECT count(*) FROM intake_visits v WHERE v.family_id = f.id), "
                 "(SELECT count(*) FROM family_status_changes c WHERE c.family_id = f.id) "
                 "FROM families f WHERE f.tenant_id = :t ORDER BY f.id"), {"t": world.b.id}
        ).all()
    engine.dispose()
    return [tuple(row) for row in rows] + [("audit events", audit)] + [tuple(row) for row in families]


@pytest.fixture
def signed_in(app: Flask, world: World) -> Iterator[dict[str, tuple[FlaskClient, str]]]:
    """A's coordinator and A's admin, each logged in, with a CSRF token from one of A's pages."""
    clients = {}
    for key in ("a_coordinator", "a_admin"):
        client = new_client(app)
        login(client, world.tenants[key], f"/{world.a.slug}")
        clients[key] = (client, csrf_token(client, f"/{world.a.slug}/app/"))
    yield clients


# --- staff pages of A, with ids of B's objects ------------------------------------------------------


def test_staff_routes_exist(app):
    assert rules_under(app, "/<slug>/app"), "no staff routes registered under /<slug>/app"
    assert any(params_of(rule) for rule in rules_under(app, "/<slug>/app")), "no staff route takes an id"


@pytest.mark.parametrize("who", ["a_coordinator", "a_admin"])
def test_staff_routes_never_reach_another_tenants_objects(app, settings, world, signed_in, who):
    client, token = signed_in[who]
    before = b_users_snapshot(settings, world)
    checked = 0
    for rule in rules_under(app, "/<slug>/app"):
        foreign, missing = id_values(rule, world)
        for method in methods_of(rule):
            where = f"{who}: {method} {rule.rule}"
            if foreign:
                foreign_response = send(client, method, fill(rule, world.a.slug, foreign), token)
                missing_response = send(client, method, fill(rule, world.a.slug, missing), token)
                assert foreign_response.status_code == missing_response.status_code, (
                    f"{where}: {foreign_response.status_code} for B's id, "
                    f"{missing_response.status_code} for a missing one"
                )
                expected = {404} if who == "a_admin" else {403, 404}
                assert foreign_response.status_code in expected, where
                assert_no_b_data(foreign_response, world, where)
                assert_no_b_data(missing_response, world, where)
            else:
                response = send(client, method, fill(rule, world.a.slug, {}), token)
                assert response.status_code in {200, 302, 403}, f"{where}: {response.status_code}"
                if response.status_code == 302:
                    assert response.headers["Location"].startswith(f"/{world.a.slug}/"), where
                assert_no_b_data(response, world, where)
            checked += 1
    assert checked
    # The session is still A's and still valid (nothing above logged it out or broke it).
    assert client.get(f"/{world.a.slug}/app/").status_code == 200
    # And nothing of B changed.
    assert b_users_snapshot(settings, world) == before


def test_admin_sees_own_users_but_not_b(world, signed_in):
    """Positive control: the same pages do show tenant A's own data to A's admin."""
    client, _ = signed_in["a_admin"]
    page = client.get(f"/{world.a.slug}/app/gebruikers")
    assert page.status_code == 200
    assert world.tenants["a_coordinator"].email in page.get_data(as_text=True)
    assert_no_b_data(page, world, "users page")
    detail = client.get(f"/{world.a.slug}/app/gebruikers/{world.tenants['a_coordinator'].id}")
    assert detail.status_code == 200
    assert world.tenants["a_coordinator"].email in detail.get_data(as_text=True)
    audit = client.get(f"/{world.a.slug}/app/audit")
    assert audit.status_code == 200
    assert_no_b_data(audit, world, "audit page")


# --- every URL of tenant B, and every national URL, as A's coordinator -------------------------------

# Pages anyone may open (login forms, the public page): 200 is fine, B's data still never shows.
PUBLIC_ENDPOINTS = {"public.index", "auth.login", "national_auth.login", "auth.password_forgotten",
                    "registration.vraaggezin", "registration.steungezin", "registration.thanks", "listings.index",
                    "evaluation.thanks", "verify.index", "signing.done", "signing.declined"}


def sweep(app: Flask, client: FlaskClient, token: str, world: World, prefix: str, slug: str | None,
          login_path: str) -> int:
    checked = 0
    for rule in rules_under(app, prefix):
        foreign, missing = id_values(rule, world)
        for ids in ([foreign, missing] if foreign else [{}]):
            url = fill(rule, slug, ids)
            for method in methods_of(rule):
                response = send(client, method, url, token)
                where = f"{method} {url} ({rule.endpoint})"
                status = response.status_code
                if status == 302:
                    location = response.headers["Location"]
                    assert location.startswith(login_path), f"{where} redirects to {location}"
                elif status == 200:
                    assert rule.endpoint in PUBLIC_ENDPOINTS, f"{where} answers 200"
                else:
                    assert status in {403, 404}, f"{where}: {status}"
                assert_no_b_data(response, world, where)
                checked += 1
    return checked


def test_a_coordinator_gets_nothing_from_b_urls(app, world, signed_in):
    client, token = signed_in["a_coordinator"]
    b = world.b
    assert sweep(app, client, token, world, "/<slug>", b.slug, f"/{b.slug}/login") > 0
    # Specifically: B's staff start page sends A's coordinator to B's login, not into B.
    response = client.get(f"/{b.slug}/app/")
    assert response.status_code == 302 and response.headers["Location"].startswith(f"/{b.slug}/login")


def test_a_coordinator_gets_nothing_from_national_urls(app, world, signed_in):
    client, token = signed_in["a_coordinator"]
    assert sweep(app, client, token, world, "/landelijk", None, "/landelijk/login") > 0
    response = client.get("/landelijk/")
    assert response.status_code == 302 and response.headers["Location"].startswith("/landelijk/login")


# --- declared roles -----------------------------------------------------------------------------------


def test_every_staff_and_national_view_declares_its_roles(app):
    seen = {"staff": 0, "national": 0}
    for endpoint, view in app.view_functions.items():
        blueprint = endpoint.split(".")[0] if "." in endpoint else None
        if blueprint in seen:
            roles = getattr(view, "allowed_roles", None)
            assert roles, f"{endpoint} declares no allowed_roles (use @roles_allowed)"
            assert isinstance(roles, frozenset)
            seen[blueprint] += 1
    assert all(seen.values()), seen


def test_gemeente_viewer_may_not_manage_users(app, make):
    gemeente = make.tenant()
    viewer = make.user(gemeente, TenantRole.GEMEENTE_VIEWER)
    client = new_client(app)
    login(client, viewer, f"/{gemeente.slug}")
    assert client.get(f"/{gemeente.slug}/app/").status_code == 200  # positive control
    token = csrf_token(client, f"/{gemeente.slug}/app/")
    assert client.get(f"/{gemeente.slug}/app/gebruikers").status_code == 403
    response = client.post(f"/{gemeente.slug}/app/gebruikers", data={
        "csrf_token": token, "full_name": "Niet Toegestaan", "email": "niet@example.org",
        "role": "tenant_admin", "password": "een-lang-testwachtwoord",
    })
    assert response.status_code == 403
    assert client.get(f"/{gemeente.slug}/app/gebruikers/{viewer.id}").status_code == 403


def test_a_view_without_declared_roles_is_refused(settings, make):
    """Fail closed: the guard refuses a staff view that forgot @roles_allowed, even to an admin."""
    from web.access import guard_blueprint
    from web.app import create_app
    from web.tenancy import tenant_blueprint

    probe_app = create_app(settings)
    probe = tenant_blueprint("probe", __name__, "/probe")
    guard_blueprint(probe, realm="tenant", login_endpoint="auth.login")
    probe.add_url_rule("/", "forgotten", lambda: "secret")
    probe_app.register_blueprint(probe)

    gemeente = make.tenant()
    admin = make.user(gemeente, TenantRole.TENANT_ADMIN)
    client = new_client(probe_app)
    login(client, admin, f"/{gemeente.slug}")
    response = client.get(f"/{gemeente.slug}/probe/")
    assert response.status_code == 403
    assert "secret" not in response.get_data(as_text=True)


def test_a_route_with_an_unknown_parameter_fails_the_walk(world):
    """A new route with an id this file cannot fill must not be skipped silently."""
    with pytest.raises(pytest.fail.Exception, match="ID_FILLERS"):
        id_values(Rule("/<slug>/app/ergens/<int:nooit_gevuld_id>"), world)
    assert id_values(Rule("/<slug>/app/gebruikers/<int:user_id>"), world) == (
        {"user_id": world.tenants["b_admin"].id}, {"user_id": MISSING_ID},
    )
