"""A family's own coordinator: assigning and unassigning (audited), who may be one (an active
coordinator or admin of the same gemeente, nobody else, with one message), the intake that assigns
the visiting coordinator, the family page and list, the demo families — and another gemeente."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select

from domain.accounts.models import StaffUser, TenantRole
from domain.accounts.services import create_staff_user, set_active
from domain.audit.models import AuditEvent
from domain.audit.services import SYSTEM, Actor
from domain.demo.families import DEMO_EMAIL_DOMAIN, assign_demo_coordinator
from domain.demo.services import DEMO_TENANTS, seed_demo
from domain.families.assignment import (
    NOT_ASSIGNABLE,
    AssignmentError,
    assign_coordinator,
    assignable_coordinators,
)
from domain.families.intake import ProfileInput, VisitInput, save_intake
from domain.families.models import Family
from domain.families.records import local_today
from tenants.db import db
from tenants.models import Tenant
from tenants.services import tenant_by_slug, use_tenant
from tests.conftest import csrf_token, login
from tests.test_family_records import family_state, in_tenant, make_family

ASSIGNED = "family.coordinator_assigned"


def detail_url(gemeente, family_id):
    return f"/{gemeente.slug}/app/gezinnen/{family_id}"


def post_coordinator(client, gemeente, family_id, value, *, token_from=None):
    token = csrf_token(client, token_from or detail_url(gemeente, family_id))
    return client.post(f"{detail_url(gemeente, family_id)}/coordinator",
                       data={"csrf_token": token, "coordinator": value})


def coordinator_id(app, gemeente, family_id):
    return in_tenant(app, gemeente, lambda: db.session.get(Family, family_id).coordinator_id)


def assignments(app, gemeente, family_id):
    return in_tenant(app, gemeente, lambda: [
        (event.actor_id, event.details["from"], event.details["to"])
        for event in db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == ASSIGNED, AuditEvent.object_type == "family", AuditEvent.object_id == family_id,
        ).order_by(AuditEvent.id))
    ])


def staff(app, gemeente, full_name, role=TenantRole.COORDINATOR, *, active=True) -> int:
    def create():
        user = create_staff_user(db.session.get(Tenant, gemeente.id), email=f"{uuid.uuid4().hex[:8]}@example.org",
                                 full_name=full_name, role=role, password="een-lang-testwachtwoord", actor=SYSTEM)
        if not active:
            set_active(user, False, actor=SYSTEM)
        db.session.commit()
        return user.id
    return in_tenant(app, gemeente, create)


@pytest.fixture
def a_client(app, client, two_tenants):
    login(client, two_tenants["a_coordinator"], f"/{two_tenants['a'].slug}")
    return client


# --- assigning ---------------------------------------------------------------------------------------


def test_assigning_a_coordinator_is_shown_and_audited(app, a_client, two_tenants):
    a, me, admin = two_tenants["a"], two_tenants["a_coordinator"], two_tenants["a_admin"]
    family_id = make_family(app, a)
    page = a_client.get(detail_url(a, family_id)).get_data(as_text=True)
    assert "Coördinator: nog niet toegewezen" in page
    assert '<label class="utrecht-form-label" for="coordinator">Coördinator</label>' in page
    assert "— niemand —" in page and "Toewijzen" in page
    assert page.count('id="coordinator"') == 1  # the select; the section's heading has an id of its own

    response = post_coordinator(a_client, a, family_id, str(admin.id))
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"{detail_url(a, family_id)}#gezinscoordinator")
    assert coordinator_id(app, a, family_id) == admin.id
    assert assignments(app, a, family_id) == [(me.id, None, admin.id)]
    page = a_client.get(detail_url(a, family_id)).get_data(as_text=True)
    assert "Coördinator toegewezen." in page
    assert "Coördinator: <strong>Test tenant_admin</strong>" in page
    assert f'<option selected value="{admin.id}">' in page

    # The same coordinator again changes nothing and leaves no trace.
    assert post_coordinator(a_client, a, family_id, str(admin.id)).status_code == 302
    assert assignments(app, a, family_id) == [(me.id, None, admin.id)]

    # Another one, then nobody: both on record, from → to.
    assert post_coordinator(a_client, a, family_id, str(me.id)).status_code == 302
    assert post_coordinator(a_client, a, family_id, "").status_code == 302
    assert coordinator_id(app, a, family_id) is None
    assert assignments(app, a, family_id) == [(me.id, None, admin.id), (me.id, admin.id, me.id),
                                              (me.id, me.id, None)]


@pytest.mark.parametrize("who", ["other_gemeente", "deactivated", "viewer", "missing", "not_a_number"])
def test_who_cannot_be_coordinator_is_refused_and_nothing_changes(app, a_client, two_tenants, make, who):
    a, b = two_tenants["a"], two_tenants["b"]
    family_id = make_family(app, a)
    assert post_coordinator(a_client, a, family_id, str(two_tenants["a_admin"].id)).status_code == 302
    value = {
        "other_gemeente": lambda: str(two_tenants["b_coordinator"].id),
        "deactivated": lambda: str(staff(app, a, "Oud Coördinator", active=False)),
        "viewer": lambda: str(make.user(a, TenantRole.GEMEENTE_VIEWER).id),
        "missing": lambda: "2000000000",
        "not_a_number": lambda: "iemand",
    }[who]()
    before = family_state(app, a, family_id), assignments(app, a, family_id)

    response = post_coordinator(a_client, a, family_id, value)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert NOT_ASSIGNABLE in page
    assert re.search(r'id="coordinator-error">\s*<p class="utrecht-paragraph">' + re.escape(NOT_ASSIGNABLE), page)
    assert 'aria-invalid="true"' in page
    assert (family_state(app, a, family_id), assignments(app, a, family_id)) == before
    assert coordinator_id(app, a, family_id) == two_tenants["a_admin"].id
    assert b.slug not in page and two_tenants["b_coordinator"].email not in page


def test_the_service_refuses_with_a_value_error_and_changes_nothing(app, two_tenants):
    a = two_tenants["a"]
    family_id = make_family(app, a)
    viewer = staff(app, a, "Gemeente Kijker", TenantRole.GEMEENTE_VIEWER)

    def attempt(user_id):
        family = db.session.get(Family, family_id)
        with pytest.raises(AssignmentError) as raised:
            assign_coordinator(family, user_id, Actor(id=two_tenants["a_admin"].id, label="beheer"))
        assert isinstance(raised.value, ValueError) and str(raised.value) == NOT_ASSIGNABLE
        assert family.coordinator_id is None
        db.session.rollback()
    for user_id in (two_tenants["b_coordinator"].id, two_tenants["b_admin"].id, viewer, 2_000_000_000, 2**40, 0):
        in_tenant(app, a, lambda user_id=user_id: attempt(user_id))
    assert coordinator_id(app, a, family_id) is None
    assert assignments(app, a, family_id) == []


def test_only_active_coordinators_and_admins_of_the_gemeente_are_offered(app, a_client, two_tenants, make):
    a, b = two_tenants["a"], two_tenants["b"]
    tag = uuid.uuid4().hex[:6]
    zeger = staff(app, a, f"Zeger {tag}")
    anna = staff(app, a, f"Anna {tag}", TenantRole.TENANT_ADMIN)
    staff(app, a, f"Gestopt {tag}", active=False)
    staff(app, a, f"Kijker {tag}", TenantRole.GEMEENTE_VIEWER)
    staff(app, b, f"Bert {tag}")

    offered = in_tenant(app, a, lambda: [(u.id, u.full_name) for u in assignable_coordinators()])
    ids = [user_id for user_id, _ in offered]
    assert set(ids) == {two_tenants["a_coordinator"].id, two_tenants["a_admin"].id, zeger, anna}
    assert [name for _, name in offered] == sorted(name for _, name in offered)
    assert in_tenant(app, b, lambda: [u.full_name for u in assignable_coordinators() if tag in u.full_name]) == [
        f"Bert {tag}"]

    page = a_client.get(detail_url(a, make_family(app, a))).get_data(as_text=True)
    options = re.findall(r'<option[^>]*value="(\d*)">([^<]*)</option>', page)
    assert options[0] == ("", "— niemand —")
    assert f"Anna {tag}" in page and f"Zeger {tag}" in page
    assert f"Gestopt {tag}" not in page and f"Kijker {tag}" not in page and f"Bert {tag}" not in page


def test_a_deactivated_coordinator_stays_visible_until_changed(app, a_client, two_tenants):
    a = two_tenants["a"]
    family_id = make_family(app, a)
    tag = uuid.uuid4().hex[:6]
    leaving = staff(app, a, f"Vertrekt {tag}")
    assert post_coordinator(a_client, a, family_id, str(leaving)).status_code == 302
    in_tenant(app, a, lambda: (set_active(db.session.get(StaffUser, leaving), False, actor=SYSTEM),
                               db.session.commit()))
    page = a_client.get(detail_url(a, family_id)).get_data(as_text=True)
    assert f"Coördinator: <strong>Vertrekt {tag}</strong>" in page and "(niet meer actief)" in page
    assert f'<option selected value="{leaving}">Vertrekt {tag} (niet meer actief)</option>' in page
    # Saving the form unchanged keeps them; choosing them anew is not possible.
    assert post_coordinator(a_client, a, family_id, str(leaving)).status_code == 302
    assert coordinator_id(app, a, family_id) == leaving
    assert len(assignments(app, a, family_id)) == 1


# --- another gemeente ---------------------------------------------------------------------------------


def test_a_coordinator_cannot_assign_in_another_gemeentes_family(app, a_client, two_tenants):
    a, b = two_tenants["a"], two_tenants["b"]
    b_family = make_family(app, b)
    before = family_state(app, b, b_family)
    token = csrf_token(a_client, f"/{a.slug}/app/gezinnen/")
    for value in (str(two_tenants["a_coordinator"].id), str(two_tenants["b_coordinator"].id), ""):
        response = a_client.post(f"/{a.slug}/app/gezinnen/{b_family}/coordinator",
                                 data={"csrf_token": token, "coordinator": value})
        assert response.status_code == 404
    # Through B's own URL: not signed in there.
    response = a_client.post(f"/{b.slug}/app/gezinnen/{b_family}/coordinator",
                             data={"csrf_token": token, "coordinator": str(two_tenants["b_coordinator"].id)})
    assert response.status_code == 302 and response.headers["Location"].startswith(f"/{b.slug}/login")
    assert family_state(app, b, b_family) == before
    assert coordinator_id(app, b, b_family) is None
    assert assignments(app, b, b_family) == []


def test_the_gemeente_viewer_may_not_assign(app, client, make):
    gemeente = make.tenant()
    viewer = make.user(gemeente, TenantRole.GEMEENTE_VIEWER)
    coordinator = make.user(gemeente)
    family_id = make_family(app, gemeente)
    login(client, viewer, f"/{gemeente.slug}")
    token = csrf_token(client, f"/{gemeente.slug}/app/")
    response = client.post(f"{detail_url(gemeente, family_id)}/coordinator",
                           data={"csrf_token": token, "coordinator": str(coordinator.id)})
    assert response.status_code == 403
    assert coordinator_id(app, gemeente, family_id) is None


def test_without_a_csrf_token_nothing_is_assigned(app, a_client, two_tenants):
    a = two_tenants["a"]
    family_id = make_family(app, a)
    response = a_client.post(f"{detail_url(a, family_id)}/coordinator",
                             data={"coordinator": str(two_tenants["a_admin"].id)})
    assert response.status_code in {200, 400}
    assert coordinator_id(app, a, family_id) is None


# --- the intake ---------------------------------------------------------------------------------------


def test_the_first_intake_visit_assigns_the_visiting_coordinator(app, a_client, two_tenants):
    a, me = two_tenants["a"], two_tenants["a_coordinator"]
    family_id = make_family(app, a)
    url = f"{detail_url(a, family_id)}/intake"
    response = a_client.post(url, data={"csrf_token": csrf_token(a_client, url),
                                        "visited_on": (local_today() - timedelta(days=1)).isoformat(),
                                        "support_wanted": "Opvang op woensdag.", "distance_preference": "dichtbij"})
    assert response.status_code == 302, response.get_data(as_text=True)
    assert coordinator_id(app, a, family_id) == me.id
    assert assignments(app, a, family_id) == [(me.id, None, me.id)]
    actions = in_tenant(app, a, lambda: list(db.session.scalars(select(AuditEvent.action).where(
        AuditEvent.object_id == family_id, AuditEvent.action != "family.viewed").order_by(AuditEvent.id))))
    assert actions[-3:] == [ASSIGNED, "family.intake_saved", "family.status_changed"]
    assert "Coördinator: <strong>Test coordinator</strong>" in a_client.get(detail_url(a, family_id)).get_data(
        as_text=True)


def test_a_later_visit_keeps_the_assigned_coordinator(app, two_tenants):
    a = two_tenants["a"]
    family_id = make_family(app, a)
    first, second = two_tenants["a_coordinator"], two_tenants["a_admin"]
    profile = ProfileInput(support_codes=(), availability={}, distance_preference="dichtbij")

    def visit(person, with_visit=True):
        family = db.session.get(Family, family_id)
        save_intake(family, VisitInput(local_today()) if with_visit else None, profile,
                    Actor(id=person.id, label=person.email))
        db.session.commit()
        return family.coordinator_id

    assert in_tenant(app, a, lambda: visit(first)) == first.id
    assert in_tenant(app, a, lambda: visit(second)) == first.id
    assert in_tenant(app, a, lambda: visit(second, with_visit=False)) == first.id
    assert assignments(app, a, family_id) == [(first.id, None, first.id)]

    # Unassigned later on, the profile alone (no visit) assigns nobody; a new visit does.
    def unassign():
        assign_coordinator(db.session.get(Family, family_id), None, SYSTEM)
        db.session.commit()
    in_tenant(app, a, unassign)
    assert in_tenant(app, a, lambda: visit(second, with_visit=False)) is None
    assert in_tenant(app, a, lambda: visit(second)) == second.id
    assert assignments(app, a, family_id) == [(first.id, None, first.id), (None, first.id, None),
                                              (second.id, None, second.id)]


def test_a_visit_by_someone_who_cannot_be_coordinator_assigns_nobody(app, two_tenants):
    a = two_tenants["a"]
    family_id = make_family(app, a)
    profile = ProfileInput(support_codes=(), availability={}, distance_preference="dichtbij")
    for actor in (Actor(id=None, label="systeem"), Actor(id=two_tenants["b_coordinator"].id, label="b")):
        def save(actor=actor):
            save_intake(db.session.get(Family, family_id), VisitInput(local_today()), profile, actor)
            db.session.commit()
        in_tenant(app, a, save)
    assert coordinator_id(app, a, family_id) is None
    assert assignments(app, a, family_id) == []


# --- the list -----------------------------------------------------------------------------------------


def test_the_list_shows_coordinators_and_filters_my_families(app, a_client, two_tenants):
    a, me, admin = two_tenants["a"], two_tenants["a_coordinator"], two_tenants["a_admin"]
    tag = uuid.uuid4().hex[:6]
    mine = make_family(app, a, adults=(("Mijn", f"Gezin{tag}", 1985),))
    theirs = make_family(app, a, adults=(("Hun", f"Gezin{tag}", 1985),))
    nobodys = make_family(app, a, adults=(("Geen", f"Gezin{tag}", 1985),))
    assert post_coordinator(a_client, a, mine, str(me.id)).status_code == 302
    assert post_coordinator(a_client, a, theirs, str(admin.id)).status_code == 302

    index = f"/{a.slug}/app/gezinnen/"
    page = a_client.get(index).get_data(as_text=True)
    assert '<th scope="col" class="utrecht-table__header-cell">Coördinator</th>' in page
    assert '<label class="utrecht-form-label" for="coordinator">Coördinator</label>' in page
    assert "mijn gezinnen" in page
    shown = {mine: "Test coordinator", theirs: "Test tenant_admin", nobodys: "nog niet toegewezen"}
    for family_id, name in shown.items():
        row = re.search(rf'gezinnen/{family_id}".*?</tr>', page, re.S).group(0)
        assert name in row

    def listed(query):
        html = a_client.get(f"{index}?{query}").get_data(as_text=True)
        return {family_id for family_id in (mine, theirs, nobodys) if f'gezinnen/{family_id}"' in html}
    assert listed("coordinator=mij") == {mine}
    assert listed("coordinator=geen") == {nobodys}
    assert listed(f"q=Gezin{tag}") == {mine, theirs, nobodys}
    assert listed(f"q=Gezin{tag}&coordinator=iets") == {mine, theirs, nobodys}  # unknown: no filter
    filtered = a_client.get(f"{index}?coordinator=mij").get_data(as_text=True)
    assert "Alle filters wissen" in filtered and '<option selected value="mij">' in filtered


# --- demo ---------------------------------------------------------------------------------------------


def test_demo_families_have_their_gemeentes_demo_coordinator(app_ctx):
    use_tenant(None)
    seed_demo()
    for demo in DEMO_TENANTS:
        use_tenant(tenant_by_slug(demo.slug))
        coordinator = db.session.scalar(select(StaffUser).where(
            StaffUser.email == f"coordinator@{demo.slug}.example.org"))
        demo_families = select(Family).where(Family.email.like(f"%@{DEMO_EMAIL_DOMAIN}"))
        families = list(db.session.scalars(demo_families))
        assert families and {f.coordinator_id for f in families} == {coordinator.id}, demo.slug
        # Seeding again changes nothing; a database seeded before coordinators existed gets them once.
        assert assign_demo_coordinator(demo.slug) == 0
    use_tenant(tenant_by_slug(DEMO_TENANTS[0].slug))
    families = list(db.session.scalars(select(Family).where(Family.email.like(f"%@{DEMO_EMAIL_DOMAIN}"))))
    for family in families:
        family.coordinator_id = None
    db.session.flush()
    assert assign_demo_coordinator(DEMO_TENANTS[0].slug) == len(families)
    db.session.commit()
    assert assign_demo_coordinator(DEMO_TENANTS[0].slug) == 0
    use_tenant(None)
    assert seed_demo() == []
