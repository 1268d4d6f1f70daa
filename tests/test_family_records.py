"""Family records for coordinators: list filters and search, the family page, status, notes,
household, who looked at a family — and that none of it reaches another gemeente."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from domain.accounts.models import TenantRole
from domain.audit.models import AuditEvent
from domain.audit.services import SYSTEM
from domain.families.models import (
    Consent,
    Family,
    FamilyMember,
    FamilyNote,
    FamilyStatusChange,
)
from domain.families.records import FamilyFilters, local_today, search_families
from domain.families.status import record_registration
from tenants.db import db
from tenants.services import use_tenant
from tests.conftest import csrf_token, login


def make_family(app, gemeente, *, kind="vraag", status="aangemeld", adults=(("Anna", "Jansen", 1985),),
                children=(), postcode="9201 AB", place="Drachten", support=(), registered_days_ago=0,
                waiting_days_ago=None, consents=()) -> int:
    """A family made directly through the ORM in the tenant's context (not through registration)."""
    now = datetime.now(UTC)
    with app.app_context():
        use_tenant(gemeente.id)
        family = Family(tenant_id=gemeente.id, kind=kind, status=status, postcode=postcode,
                        pc4=postcode[:4], place=place, referral_source="buurtteam", referrer_name="Buurtteam Oost",
                        email=f"gezin-{uuid.uuid4().hex[:6]}@example.org", phone="0612345678",
                        street_address="Lindelaan 4", support_codes=list(support),
                        registered_at=now - timedelta(days=registered_days_ago),
                        waiting_since=now - timedelta(days=waiting_days_ago) if waiting_days_ago is not None else None)
        db.session.add(family)
        db.session.flush()
        record_registration(family, SYSTEM)
        for index, adult in enumerate(adults):
            first, last, born = adult
            db.session.add(FamilyMember(
                tenant_id=gemeente.id, family_id=family.id, role="volwassene", first_name=first, last_name=last,
                birth_year=born if isinstance(born, int) else born.year,
                birth_date=born if isinstance(born, date) else None, is_contact=index == 0))
        for first, born in children:
            db.session.add(FamilyMember(tenant_id=gemeente.id, family_id=family.id, role="kind", first_name=first,
                                        birth_year=born))
        for kind_, version, by, withdrawn in consents:
            db.session.add(Consent(tenant_id=gemeente.id, family_id=family.id, kind=kind_, text_version=version,
                                   given_by=by, withdrawn_at=now if withdrawn else None))
        db.session.commit()
        family_id = family.id
        db.session.remove()
    return family_id


def in_tenant(app, gemeente, fn):
    with app.app_context():
        use_tenant(gemeente.id)
        try:
            return fn()
        finally:
            db.session.remove()


def family_state(app, gemeente, family_id):
    """What a failed request must leave exactly as it was."""
    def read():
        family = db.session.get(Family, family_id)
        members = db.session.execute(
            select(FamilyMember.id, FamilyMember.first_name, FamilyMember.last_name, FamilyMember.birth_year,
                   FamilyMember.birth_date, FamilyMember.is_contact)
            .where(FamilyMember.family_id == family_id).order_by(FamilyMember.id)).all()
        count = lambda model: db.session.scalar(select(func.count()).select_from(model)  # noqa: E731
                                                .where(model.family_id == family_id))
        writes = db.session.scalar(select(func.count(AuditEvent.id)).where(
            AuditEvent.object_id == family_id, AuditEvent.action != "family.viewed"))
        return (family.status, family.status_reason, family.support_codes, family.availability,
                family.competence, family.distance_preference, family.closed_at, family.waiting_since,
                [tuple(m) for m in members], count(FamilyStatusChange), count(FamilyNote), writes)
    return in_tenant(app, gemeente, read)


@pytest.fixture
def gemeente(make):
    return make.tenant()


@pytest.fixture
def coordinator_client(app, client, make, gemeente):
    coordinator = make.user(gemeente)
    login(client, coordinator, f"/{gemeente.slug}")
    client.person = coordinator
    return client


# --- the list ----------------------------------------------------------------------------------------


@pytest.fixture
def listed(app, make, gemeente):
    tag = uuid.uuid4().hex[:6]
    ids = {
        "jansen": make_family(app, gemeente, status="wachtend", adults=(("Anna", f"Jansen{tag}", 1985),),
                              children=(("Tim", 2016),), support=("opvang",), registered_days_ago=120,
                              waiting_days_ago=70),
        "bakker": make_family(app, gemeente, kind="steun", status="beschikbaar",
                              adults=(("Piet", f"Bakker{tag}", 1970),), postcode="9202 CD", support=("logeren",),
                              registered_days_ago=200),
        "devries": make_family(app, gemeente, adults=(("Sara", f"de Vries{tag}", 1990),),
                               children=(("Mila", 2019),), postcode="8401 EF", place="Gorredijk",
                               registered_days_ago=3),
    }
    other = make.tenant()
    ids["geheim"] = make_family(app, other, status="wachtend", adults=(("Zoë", f"Geheim{tag}", 1980),),
                                support=("opvang",), registered_days_ago=400, waiting_days_ago=300)
    ids["tag"] = tag
    return ids


def shown(html: str, tag: str) -> list[str]:
    """The families on a list page, in order, by the tagged last name."""
    return [name.lower() for name in re.findall(rf"(Jansen|Bakker|de Vries|Geheim){tag}", html)]


def test_list_shows_own_families_longest_waiting_first(coordinator_client, gemeente, listed):
    page = coordinator_client.get(f"/{gemeente.slug}/app/gezinnen/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    # Jansen waits 70 days (wachtend), de Vries 3 days since registering; Bakker (beschikbaar) does not wait.
    assert shown(html, listed["tag"]) == ["jansen", "de vries", "bakker"]
    assert "70 dagen" in html and "3 dagen" in html
    assert "Opvang een middag of avond" in html and "vraaggezin" in html and "steungezin" in html
    assert "Gorredijk (8401)" in html
    assert 'aria-current="page">Gezinnen<' in html


@pytest.mark.parametrize(("query", "expected"), [
    ("kind=steun", ["bakker"]),
    ("kind=vraag", ["jansen", "de vries"]),
    ("status=aangemeld", ["de vries"]),
    ("weeks=8", ["jansen"]),
    ("weeks=0", ["jansen", "de vries"]),
    ("support=logeren", ["bakker"]),
    ("area=9201", ["jansen"]),
    ("area=gorre", ["de vries"]),
    ("q=anna", ["jansen"]),
    ("q=mila", ["de vries"]),  # a child's name finds the family
    ("q=piet+bakker", ["bakker"]),
    ("q=9202cd", ["bakker"]),  # a postcode, written without the space
    ("q=8401+EF", ["de vries"]),
    ("q=nobody", []),
    ("q=%25", []),  # a LIKE wildcard is a literal character
    ("kind=vraag&status=wachtend&support=opvang", ["jansen"]),
    ("sort=nieuw", ["de vries", "jansen", "bakker"]),
])
def test_filters_and_search_narrow_the_list(coordinator_client, gemeente, listed, query, expected):
    tag = listed["tag"]
    if query.startswith("q=") and "bakker" in query:
        query = f"q=piet+bakker{tag}"
    html = coordinator_client.get(f"/{gemeente.slug}/app/gezinnen/?{query}").get_data(as_text=True)
    assert shown(html, tag) == expected
    assert f"Geheim{tag}" not in html


def test_b_families_never_show_for_a(coordinator_client, gemeente, listed):
    tag = listed["tag"]
    for query in ("", "q=Geheim", "q=zoë", "status=wachtend", "weeks=20", "area=9201", "support=opvang"):
        html = coordinator_client.get(f"/{gemeente.slug}/app/gezinnen/?{query}").get_data(as_text=True)
        assert f"Geheim{tag}" not in html, query
    for path in ("", "/intake", "/huishouden"):
        assert coordinator_client.get(f"/{gemeente.slug}/app/gezinnen/{listed['geheim']}{path}").status_code == 404
        assert coordinator_client.get(f"/{gemeente.slug}/app/gezinnen/2000000000{path}").status_code == 404


def test_bad_filter_input_gets_a_dutch_message_and_keeps_the_value(coordinator_client, gemeente, listed):
    html = coordinator_client.get(f"/{gemeente.slug}/app/gezinnen/?weeks=veel&kind=onzin").get_data(as_text=True)
    assert "Vul een heel getal in." in html
    assert 'value="veel"' in html
    # The bad filter is not applied: all three families still show.
    assert len(shown(html, listed["tag"])) == 3


def test_pagination(app, make, gemeente):
    tag = uuid.uuid4().hex[:6]
    for days in range(5):
        make_family(app, gemeente, adults=(("Ouder", f"P{tag}{days}", 1980),), registered_days_ago=days)

    def pages():
        first = search_families(FamilyFilters(q=f"P{tag}"), page=1, per_page=2)
        last = search_families(FamilyFilters(q=f"P{tag}"), page=3, per_page=2)
        beyond = search_families(FamilyFilters(q=f"P{tag}"), page=99, per_page=2)
        return ([r.contact_name for r in first.rows], first.total, first.pages,
                [r.contact_name for r in last.rows], beyond.page)

    first, total, count, last, beyond = in_tenant(app, gemeente, pages)
    assert (total, count, beyond) == (5, 3, 3)
    assert first == [f"Ouder P{tag}4", f"Ouder P{tag}3"]  # longest waiting first
    assert last == [f"Ouder P{tag}0"]


# --- the family page ---------------------------------------------------------------------------------


def test_detail_shows_household_contact_consents_and_history(app, coordinator_client, gemeente):
    family_id = make_family(
        app, gemeente, adults=(("Anna", "Jansen", date(1985, 4, 12)), ("Bram", "Jansen", 1983)),
        children=(("Tim", local_today().year - 7), ("Noor", local_today().year - 2)),
        consents=(("verwerking", "2024-1", "gezin", False), ("publicatie", "2024-1", "Buurtteam Oost", True)),
    )
    html = coordinator_client.get(f"/{gemeente.slug}/app/gezinnen/{family_id}").get_data(as_text=True)
    assert "Anna Jansen" in html and "(contactpersoon)" in html and "12 april 1985" in html
    assert "Bram Jansen" in html and "1983" in html
    assert "Tim" in html and "ca. 7 jaar" in html and "ca. 2 jaar" in html
    assert "Lindelaan 4, 9201 AB Drachten" in html and "0612345678" in html
    assert "buurtteam: Buurtteam Oost" in html
    assert "Verwerking van gegevens" in html and "Publicatie van een anoniem profiel" in html
    consents = html[html.index('id="toestemmingen"'):html.index('id="statusverloop"')]
    assert consents.count("2024-1") == 2 and consents.count(">nee<") == 1  # one withdrawn, one not
    history = html[html.index("Statusgeschiedenis"):html.index('id="profiel"')]
    assert "aangemeld" in history and "door systeem" in history


def test_every_view_is_audited_and_shown_under_wie_bekeek(app, make, client, gemeente):
    coordinator = make.user(gemeente)
    admin = make.user(gemeente, TenantRole.TENANT_ADMIN)
    family_id = make_family(app, gemeente)
    login(client, coordinator, f"/{gemeente.slug}")
    client.get(f"/{gemeente.slug}/app/gezinnen/{family_id}")
    client.get(f"/{gemeente.slug}/app/gezinnen/{family_id}")
    admin_client = app.test_client()
    login(admin_client, admin, f"/{gemeente.slug}")
    html = admin_client.get(f"/{gemeente.slug}/app/gezinnen/{family_id}").get_data(as_text=True)

    def viewed():
        return [(e.actor_id, e.object_type, e.details.get("page")) for e in db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "family.viewed", AuditEvent.object_id == family_id)
            .order_by(AuditEvent.id))]

    assert in_tenant(app, gemeente, viewed) == [(coordinator.id, "family", "detail")] * 2 + [
        (admin.id, "family", "detail")]
    seen = html[html.index("Wie bekeek dit gezin"):]
    assert seen.count(coordinator.email) == 2 and seen.count(admin.email) == 1
    # The list page itself shows no personal details beyond the name and records nothing.
    client.get(f"/{gemeente.slug}/app/gezinnen/")
    assert len(in_tenant(app, gemeente, viewed)) == 3


def test_gemeente_viewer_gets_403_everywhere(app, make, client, gemeente):
    family_id = make_family(app, gemeente)
    viewer = make.user(gemeente, TenantRole.GEMEENTE_VIEWER)
    login(client, viewer, f"/{gemeente.slug}")
    base = f"/{gemeente.slug}/app/gezinnen"
    assert f'href="{base}/"' not in client.get(f"/{gemeente.slug}/app/").get_data(as_text=True)  # no nav item
    token = csrf_token(client, f"/{gemeente.slug}/app/")
    for path in ("/", f"/{family_id}", f"/{family_id}/intake", f"/{family_id}/huishouden"):
        assert client.get(base + path).status_code == 403, path
    for path in (f"/{family_id}/status", f"/{family_id}/notities", f"/{family_id}/intake",
                 f"/{family_id}/intake/afronden", f"/{family_id}/huishouden"):
        response = client.post(base + path, data={"csrf_token": token, "status": "afgemeld", "reason": "x",
                                                  "body": "x"})
        assert response.status_code == 403, path
    assert family_state(app, gemeente, family_id)[0] == "aangemeld"
    assert in_tenant(app, gemeente, lambda: db.session.scalar(
        select(func.count(AuditEvent.id)).where(AuditEvent.action == "family.viewed"))) == 0


# --- status ------------------------------------------------------------------------------------------


def _post_status(client, gemeente, family_id, **data):
    page = f"/{gemeente.slug}/app/gezinnen/{family_id}"
    return client.post(f"{page}/status", data={"csrf_token": csrf_token(client, page), **data})


def test_invalid_transition_gives_a_dutch_error_and_changes_nothing(app, coordinator_client, gemeente):
    family_id = make_family(app, gemeente)
    before = family_state(app, gemeente, family_id)
    response = _post_status(coordinator_client, gemeente, family_id, status="gekoppeld", reason="")
    assert response.status_code == 200
    assert "Van ‘aangemeld’ kan een gezin niet naar ‘gekoppeld’." in response.get_data(as_text=True)
    # A steungezin status for a vraaggezin is refused the same way.
    response = _post_status(coordinator_client, gemeente, family_id, status="beschikbaar")
    assert "kan een gezin niet naar ‘beschikbaar’" in response.get_data(as_text=True)
    response = _post_status(coordinator_client, gemeente, family_id, status="bestaat-niet")
    assert "Onbekende status" in response.get_data(as_text=True)
    assert family_state(app, gemeente, family_id) == before


def test_afmelden_needs_a_reason(app, coordinator_client, gemeente):
    family_id = make_family(app, gemeente)
    before = family_state(app, gemeente, family_id)
    response = _post_status(coordinator_client, gemeente, family_id, status="afgemeld", reason="   ")
    html = response.get_data(as_text=True)
    assert "Geef een reden voor het afmelden." in html
    assert 'id="reason-error"' in html  # next to the reason field
    assert family_state(app, gemeente, family_id) == before

    response = _post_status(coordinator_client, gemeente, family_id, status="afgemeld",
                            reason="Gezin verhuist naar Leeuwarden")
    assert response.status_code == 302
    state = family_state(app, gemeente, family_id)
    assert state[0:2] == ("afgemeld", "Gezin verhuist naar Leeuwarden") and state[6] is not None


def test_status_change_writes_history_and_audit(app, coordinator_client, gemeente):
    family_id = make_family(app, gemeente)
    response = _post_status(coordinator_client, gemeente, family_id, status="intake")
    assert response.status_code == 302

    def rows():
        changes = db.session.execute(
            select(FamilyStatusChange.from_status, FamilyStatusChange.to_status, FamilyStatusChange.changed_by_id)
            .where(FamilyStatusChange.family_id == family_id).order_by(FamilyStatusChange.id)).all()
        audit = db.session.execute(
            select(AuditEvent.actor_id, AuditEvent.details).where(
                AuditEvent.action == "family.status_changed", AuditEvent.object_id == family_id)).all()
        return [tuple(c) for c in changes], [tuple(a) for a in audit]

    changes, audit = in_tenant(app, gemeente, rows)
    person = coordinator_client.person
    assert changes == [(None, "aangemeld", None), ("aangemeld", "intake", person.id)]
    assert [(actor, details["from"], details["to"]) for actor, details in audit] == [(person.id, "aangemeld", "intake")]
    html = coordinator_client.get(f"/{gemeente.slug}/app/gezinnen/{family_id}").get_data(as_text=True)
    history = html[html.index("Statusgeschiedenis"):html.index('id="profiel"')]
    assert "van aangemeld naar <strong>intake</strong>" in history and person.email in history
    # From intake a vraaggezin may go to wachtend, not to beschikbaar: the form offers only that.
    status_form = html[html.index('id="statusverloop"'):html.index("Statusgeschiedenis")]
    assert 'value="wachtend"' in status_form and 'value="beschikbaar"' not in status_form


# --- notes -------------------------------------------------------------------------------------------


def test_notes(app, coordinator_client, gemeente):
    family_id = make_family(app, gemeente)
    page = f"/{gemeente.slug}/app/gezinnen/{family_id}"
    before = family_state(app, gemeente, family_id)
    response = coordinator_client.post(f"{page}/notities", data={"csrf_token": csrf_token(coordinator_client, page),
                                                                  "body": "   "})
    assert "Schrijf eerst een notitie." in response.get_data(as_text=True)
    assert family_state(app, gemeente, family_id) == before
    response = coordinator_client.post(f"{page}/notities", data={"csrf_token": csrf_token(coordinator_client, page),
                                                                  "body": "x" * 5001})
    assert "Hooguit 5000 tekens." in response.get_data(as_text=True)  # the number, not a placeholder
    assert family_state(app, gemeente, family_id) == before

    response = coordinator_client.post(f"{page}/notities", data={
        "csrf_token": csrf_token(coordinator_client, page), "body": "Moeder belde: Tim is ziek, bezoek verzet."})
    assert response.status_code == 302
    html = coordinator_client.get(page).get_data(as_text=True)
    notes = html[html.index('id="notities"'):html.index('id="bekeken"')]
    assert "Moeder belde: Tim is ziek, bezoek verzet." in notes and "Test coordinator" in notes

    def note():
        row = db.session.scalars(select(FamilyNote).where(FamilyNote.family_id == family_id)).one()
        return row.author_id, row.body
    assert in_tenant(app, gemeente, note) == (coordinator_client.person.id, "Moeder belde: Tim is ziek, bezoek verzet.")


# --- household ---------------------------------------------------------------------------------------


def _members(app, gemeente, family_id):
    return in_tenant(app, gemeente, lambda: {m.first_name: m for m in db.session.scalars(
        select(FamilyMember).where(FamilyMember.family_id == family_id))})


def test_household_edit_add_and_remove(app, coordinator_client, gemeente):
    family_id = make_family(app, gemeente, adults=(("Anna", "Jansen", 1985),), children=(("Tim", 2016),
                                                                                         ("Noor", 2019)))
    members = _members(app, gemeente, family_id)
    anna, tim, noor = members["Anna"].id, members["Tim"].id, members["Noor"].id
    page = f"/{gemeente.slug}/app/gezinnen/{family_id}/huishouden"
    form = coordinator_client.get(page).get_data(as_text=True)
    assert f'name="m{anna}-birth_date"' in form and f'name="m{tim}-remove"' in form
    response = coordinator_client.post(page, data={
        "csrf_token": csrf_token(coordinator_client, page),
        f"m{anna}-first_name": "Anna", f"m{anna}-last_name": "Jansen-de Boer",
        f"m{anna}-birth_year": "", f"m{anna}-birth_date": "1985-04-12",
        f"m{tim}-first_name": "Tim", f"m{tim}-birth_year": "2015",
        f"m{noor}-first_name": "Noor", f"m{noor}-birth_year": "2019", f"m{noor}-remove": "y",
        "new-role": "kind", "new-first_name": "Sem", "new-birth_year": str(local_today().year),
    })
    assert response.status_code == 302, response.get_data(as_text=True)
    after = _members(app, gemeente, family_id)
    assert set(after) == {"Anna", "Tim", "Sem"}
    assert (after["Anna"].last_name, after["Anna"].birth_year, after["Anna"].birth_date) == (
        "Jansen-de Boer", 1985, date(1985, 4, 12))
    assert after["Tim"].birth_year == 2015 and after["Sem"].role == "kind" and after["Sem"].last_name is None
    assert in_tenant(app, gemeente, lambda: db.session.scalar(select(func.count(AuditEvent.id)).where(
        AuditEvent.action == "family.household_changed", AuditEvent.object_id == family_id))) == 1


def test_household_bad_input_keeps_values_and_writes_nothing(app, coordinator_client, gemeente):
    family_id = make_family(app, gemeente, adults=(("Anna", "Jansen", 1985),), children=(("Tim", 2016),))
    members = _members(app, gemeente, family_id)
    anna, tim = members["Anna"].id, members["Tim"].id
    page = f"/{gemeente.slug}/app/gezinnen/{family_id}/huishouden"
    before = family_state(app, gemeente, family_id)
    next_year = str(local_today().year + 1)
    response = coordinator_client.post(page, data={
        "csrf_token": csrf_token(coordinator_client, page),
        f"m{anna}-first_name": "Anneke", f"m{anna}-last_name": "Jansen", f"m{anna}-birth_year": "1985",
        f"m{tim}-first_name": "Tim", f"m{tim}-birth_year": next_year,
        "new-role": "kind", "new-first_name": "Sem", "new-birth_date": "31-02-2020",
    })
    html = response.get_data(as_text=True)
    assert "Het geboortejaar ligt in de toekomst." in html and f'value="{next_year}"' in html
    assert "Vul een datum in als dag-maand-jaar" in html and 'value="31-02-2020"' in html
    assert 'value="Anneke"' in html  # the valid edit is kept on screen, not saved
    assert family_state(app, gemeente, family_id) == before

    # Removing the only adult is refused as a whole.
    response = coordinator_client.post(page, data={
        "csrf_token": csrf_token(coordinator_client, page),
        f"m{anna}-first_name": "Anna", f"m{anna}-last_name": "Jansen", f"m{anna}-birth_year": "1985",
        f"m{anna}-remove": "y", f"m{tim}-first_name": "Timmy", f"m{tim}-birth_year": "2016",
    })
    assert "Een gezin houdt minstens één volwassene." in response.get_data(as_text=True)
    assert family_state(app, gemeente, family_id) == before


def test_household_birth_date_and_year_must_agree(app, coordinator_client, gemeente):
    family_id = make_family(app, gemeente)
    anna = _members(app, gemeente, family_id)["Anna"].id
    page = f"/{gemeente.slug}/app/gezinnen/{family_id}/huishouden"
    before = family_state(app, gemeente, family_id)
    response = coordinator_client.post(page, data={
        "csrf_token": csrf_token(coordinator_client, page),
        f"m{anna}-first_name": "Anna", f"m{anna}-birth_year": "1984", f"m{anna}-birth_date": "1985-04-12",
    })
    assert "Het geboortejaar past niet bij de geboortedatum." in response.get_data(as_text=True)
    assert family_state(app, gemeente, family_id) == before
