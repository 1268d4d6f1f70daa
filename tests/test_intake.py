"""Intake: visits with the four questions, the family's profile (support types, availability,
distance, competentieprofiel), the status moves it makes, and bad input that changes nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from domain.accounts.models import TenantRole
from domain.audit.models import AuditEvent
from domain.families.models import Family, FamilyStatusChange, IntakeVisit
from domain.families.records import local_today
from tenants.db import db
from tests.conftest import csrf_token, login
from tests.test_family_records import family_state, in_tenant, make_family

ANSWERS = {
    "support_wanted": "Opvang voor Tim op woensdagmiddag, zodat moeder naar de Voedselbank kan.",
    "upbringing_values": "Rust, regelmaat en veel buiten spelen.",
    "expectations": "Een gezin in de buurt met tijd en geduld.",
    "gives_back": "Moeder bakt graag en helpt met een verjaardag.",
    "notes": "Eerste bezoek, vader was aan het werk.",
}


@pytest.fixture
def gemeente(make):
    return make.tenant()


@pytest.fixture
def coordinator_client(client, make, gemeente):
    coordinator = make.user(gemeente)
    login(client, coordinator, f"/{gemeente.slug}")
    client.person = coordinator
    return client


def intake_url(gemeente, family_id):
    return f"/{gemeente.slug}/app/gezinnen/{family_id}/intake"


def post_intake(client, gemeente, family_id, data):
    url = intake_url(gemeente, family_id)
    return client.post(url, data={"csrf_token": csrf_token(client, url), **data})


def visits(app, gemeente, family_id):
    return in_tenant(app, gemeente, lambda: [
        (v.visited_on, v.support_wanted, v.upbringing_values, v.expectations, v.gives_back, v.notes, v.coordinator_id)
        for v in db.session.scalars(select(IntakeVisit).where(IntakeVisit.family_id == family_id)
                                    .order_by(IntakeVisit.id))])


def family(app, gemeente, family_id):
    return in_tenant(app, gemeente, lambda: _detached(db.session.get(Family, family_id)))


def _detached(row):
    db.session.expunge(row)
    return row


def test_intake_form_shows_questions_support_types_and_a_labelled_grid(app, coordinator_client, gemeente):
    family_id = make_family(app, gemeente)
    html = coordinator_client.get(intake_url(gemeente, family_id)).get_data(as_text=True)
    for question in ("Welke steun zoekt het gezin?", "Wat vindt het gezin belangrijk in de opvoeding?",
                     "Wat verwacht het gezin van het andere gezin?", "Wat kan het gezin zelf bieden?"):
        assert question in html
    assert "Huiswerkplek" in html and "Luisterend oor" in html  # the default support types
    assert '<label class="visually-hidden" for="slot-wo-middag">woensdag middag</label>' in html
    assert "Logeren" in html and "In het weekend" in html and "Bewust buiten de eigen buurt" in html
    assert "Competentieprofiel" not in html  # only for steungezinnen
    assert f'value="{local_today().isoformat()}"' in html  # today as the visit date
    assert "Intake afronden" not in html  # still aangemeld


def test_first_intake_saves_answers_and_profile_and_starts_the_intake(app, coordinator_client, gemeente):
    family_id = make_family(app, gemeente)
    visit_day = local_today() - timedelta(days=2)
    response = post_intake(coordinator_client, gemeente, family_id, {
        "visited_on": visit_day.isoformat(), **ANSWERS,
        "support_codes": ["opvang", "luisterend_oor"],
        "availability": ["wo-middag", "ma-ochtend", "ma-avond"], "weekend": "y",
        "distance_preference": "buiten_eigen_buurt",
    })
    assert response.status_code == 302, response.get_data(as_text=True)
    person = coordinator_client.person
    assert visits(app, gemeente, family_id) == [(visit_day, *ANSWERS.values(), person.id)]
    saved = family(app, gemeente, family_id)
    assert saved.status == "intake"
    assert saved.support_codes == ["opvang", "luisterend_oor"]
    assert saved.availability == {"ma": ["ochtend", "avond"], "di": [], "wo": ["middag"], "do": [], "vr": [],
                                  "weekend": True, "overnacht": False}
    assert saved.distance_preference == "buiten_eigen_buurt"
    assert saved.competence == {}

    def trail():
        changes = db.session.execute(select(FamilyStatusChange.from_status, FamilyStatusChange.to_status)
                                     .where(FamilyStatusChange.family_id == family_id)
                                     .order_by(FamilyStatusChange.id)).all()
        actions = db.session.scalars(select(AuditEvent.action).where(
            AuditEvent.object_id == family_id, AuditEvent.action != "family.viewed").order_by(AuditEvent.id)).all()
        return [tuple(c) for c in changes], list(actions)
    changes, actions = in_tenant(app, gemeente, trail)
    assert changes == [(None, "aangemeld"), ("aangemeld", "intake")]
    assert actions[-2:] == ["family.intake_saved", "family.status_changed"]

    # The family page shows the visit and the profile; the intake page now offers "Intake afronden".
    page = coordinator_client.get(f"/{gemeente.slug}/app/gezinnen/{family_id}").get_data(as_text=True)
    assert ANSWERS["upbringing_values"] in page and "Opvang een middag of avond, Luisterend oor" in page
    assert "maandag ochtend, avond; woensdag middag; weekend" in page
    form = coordinator_client.get(intake_url(gemeente, family_id)).get_data(as_text=True)
    assert "Intake afronden" in form and 'id="slot-wo-middag" checked' in form


def test_finishing_the_intake_makes_a_vraaggezin_wachtend(app, coordinator_client, gemeente):
    family_id = make_family(app, gemeente)
    post_intake(coordinator_client, gemeente, family_id, {
        "visited_on": local_today().isoformat(), **ANSWERS, "distance_preference": "dichtbij"})
    url = intake_url(gemeente, family_id)
    response = coordinator_client.post(f"{url}/afronden", data={"csrf_token": csrf_token(coordinator_client, url)})
    assert response.status_code == 302
    saved = family(app, gemeente, family_id)
    assert saved.status == "wachtend" and saved.waiting_since is not None
    # Finishing again is refused: the family is no longer in the intake.
    response = coordinator_client.post(f"{url}/afronden", data={"csrf_token": csrf_token(coordinator_client, url)},
                                       follow_redirects=True)
    assert "Alleen een gezin dat in de intake zit" in response.get_data(as_text=True)
    assert family(app, gemeente, family_id).status == "wachtend"


def test_steungezin_competentieprofiel_is_stored_as_json_and_finishing_makes_it_beschikbaar(
        app, coordinator_client, gemeente):
    family_id = make_family(app, gemeente, kind="steun", adults=(("Piet", "Bakker", 1970),))
    assert "Competentieprofiel" in coordinator_client.get(intake_url(gemeente, family_id)).get_data(as_text=True)
    response = post_intake(coordinator_client, gemeente, family_id, {
        "visited_on": local_today().isoformat(), **ANSWERS,
        "support_codes": ["logeren", "huiswerkplek"], "availability": ["vr-avond"], "overnight": "y",
        "distance_preference": "dichtbij",
        "opvoedervaring": "Drie eigen kinderen, nu de deur uit.", "motivatie": "Iets terugdoen voor de buurt.",
        "wat_kan_het_gezin_aan": "Jonge kinderen, geen zware zorg.", "huisgenoten_18_plus": "2",
    })
    assert response.status_code == 302, response.get_data(as_text=True)
    saved = family(app, gemeente, family_id)
    assert saved.competence == {"opvoedervaring": "Drie eigen kinderen, nu de deur uit.",
                                "motivatie": "Iets terugdoen voor de buurt.",
                                "wat_kan_het_gezin_aan": "Jonge kinderen, geen zware zorg.",
                                "huisgenoten_18_plus": 2}
    assert saved.availability["vr"] == ["avond"] and saved.availability["overnacht"] is True
    url = intake_url(gemeente, family_id)
    coordinator_client.post(f"{url}/afronden", data={"csrf_token": csrf_token(coordinator_client, url)})
    assert family(app, gemeente, family_id).status == "beschikbaar"


def test_bad_intake_input_keeps_values_and_writes_nothing(app, coordinator_client, gemeente):
    family_id = make_family(app, gemeente, kind="steun")
    before = family_state(app, gemeente, family_id)
    tomorrow = (local_today() + timedelta(days=1)).isoformat()
    response = post_intake(coordinator_client, gemeente, family_id, {
        "visited_on": tomorrow, **ANSWERS, "support_codes": ["opvang"], "availability": ["di-middag"],
        "distance_preference": "dichtbij", "huisgenoten_18_plus": "veel", "motivatie": "Graag helpen",
    })
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "De datum van het bezoek ligt in de toekomst." in html
    assert "Vul een heel getal in." in html and 'value="veel"' in html
    assert ANSWERS["expectations"] in html and "Graag helpen" in html  # typed answers kept
    assert 'id="slot-di-middag" checked' in html
    assert visits(app, gemeente, family_id) == []
    assert family_state(app, gemeente, family_id) == before


@pytest.mark.parametrize(("data", "message"), [
    ({"visited_on": "", "support_wanted": "Opvang"}, "Vul de datum van het bezoek in."),
    ({"visited_on": "gisteren"}, "Vul een datum in als dag-maand-jaar"),
    ({"support_codes": ["bestaat_niet"]}, "Kies steunvormen uit de lijst."),
    ({"availability": ["za-nacht"]}, "Kies dagdelen uit het rooster."),
    ({"distance_preference": "maan"}, "Kies een voorkeur voor de afstand."),
    ({"distance_preference": None}, "Kies een voorkeur voor de afstand."),
    ({"visited_on": "", "support_wanted": ""}, "Vul de datum van het intakebezoek in."),  # no visit yet at all
])
def test_intake_refusals_are_dutch_and_write_nothing(app, coordinator_client, gemeente, data, message):
    family_id = make_family(app, gemeente)
    before = family_state(app, gemeente, family_id)
    payload = {"visited_on": local_today().isoformat(), "distance_preference": "dichtbij", **data}
    payload = {key: value for key, value in payload.items() if value is not None}
    response = post_intake(coordinator_client, gemeente, family_id, payload)
    assert response.status_code == 200
    assert message in response.get_data(as_text=True)
    assert visits(app, gemeente, family_id) == []
    assert family_state(app, gemeente, family_id) == before


def test_profile_update_without_a_new_visit(app, coordinator_client, gemeente):
    family_id = make_family(app, gemeente)
    post_intake(coordinator_client, gemeente, family_id, {
        "visited_on": local_today().isoformat(), **ANSWERS, "support_codes": ["opvang"],
        "distance_preference": "dichtbij"})
    response = post_intake(coordinator_client, gemeente, family_id, {
        "visited_on": "", "support_codes": ["uitje"], "availability": ["do-middag"],
        "distance_preference": "geen_voorkeur"})
    assert response.status_code == 302
    assert len(visits(app, gemeente, family_id)) == 1
    saved = family(app, gemeente, family_id)
    assert (saved.support_codes, saved.availability["do"], saved.distance_preference) == (
        ["uitje"], ["middag"], "geen_voorkeur")
    # A second visit is a second row.
    post_intake(coordinator_client, gemeente, family_id, {
        "visited_on": local_today().isoformat(), "notes": "Tweede gesprek", "distance_preference": "dichtbij"})
    assert [v[5] for v in visits(app, gemeente, family_id)] == [ANSWERS["notes"], "Tweede gesprek"]


def test_finishing_needs_a_visit_and_afgemeld_families_take_no_intake(app, coordinator_client, gemeente):
    family_id = make_family(app, gemeente, status="intake")
    url = intake_url(gemeente, family_id)
    response = coordinator_client.post(f"{url}/afronden", data={"csrf_token": csrf_token(coordinator_client, url)},
                                       follow_redirects=True)
    assert "Leg eerst een intakebezoek vast." in response.get_data(as_text=True)
    assert family(app, gemeente, family_id).status == "intake"

    gone = make_family(app, gemeente, status="afgemeld")
    before = family_state(app, gemeente, gone)
    response = post_intake(coordinator_client, gemeente, gone, {
        "visited_on": local_today().isoformat(), **ANSWERS, "distance_preference": "dichtbij"})
    assert "Dit gezin is afgemeld." in response.get_data(as_text=True)
    assert family_state(app, gemeente, gone) == before


def test_intake_of_another_gemeentes_family_is_not_found(app, make, coordinator_client, gemeente):
    other = make.tenant()
    foreign = make_family(app, other)
    before = family_state(app, other, foreign)
    url = intake_url(gemeente, foreign)
    assert coordinator_client.get(url).status_code == 404
    token = csrf_token(coordinator_client, f"/{gemeente.slug}/app/gezinnen/")
    response = coordinator_client.post(url, data={"csrf_token": token, "visited_on": local_today().isoformat(),
                                                  **ANSWERS, "distance_preference": "dichtbij"})
    assert response.status_code == 404
    assert coordinator_client.post(f"{url}/afronden", data={"csrf_token": token}).status_code == 404
    assert family_state(app, other, foreign) == before
    assert visits(app, other, foreign) == []


def test_intake_is_audited_as_a_view_and_closed_to_gemeente_viewers(app, make, client, gemeente):
    family_id = make_family(app, gemeente)
    viewer = make.user(gemeente, TenantRole.GEMEENTE_VIEWER)
    login(client, viewer, f"/{gemeente.slug}")
    assert client.get(intake_url(gemeente, family_id)).status_code == 403

    coordinator_client = app.test_client()
    coordinator = make.user(gemeente)
    login(coordinator_client, coordinator, f"/{gemeente.slug}")
    coordinator_client.get(intake_url(gemeente, family_id))
    pages = in_tenant(app, gemeente, lambda: [(e.actor_id, e.details["page"]) for e in db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "family.viewed", AuditEvent.object_id == family_id))])
    assert pages == [(coordinator.id, "intake")]
