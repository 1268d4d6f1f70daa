"""Match suggestions: the ranking on hand-made cases, the explanation per criterion, the VOG shown,
"niet geschikt" marks, weights per gemeente, proposing from the page — and never another gemeente."""

from __future__ import annotations

import re
from datetime import date

import pytest
from sqlalchemy import event, func, select

from domain.accounts.models import TenantRole
from domain.audit.models import AuditEvent
from domain.audit.services import Actor
from domain.families.intake import build_availability
from domain.families.models import Family
from domain.families.records import local_today
from domain.families.support_types import ensure_default_support_types
from domain.koppelingen.models import Koppeling, MatchExclusion
from domain.koppelingen.services import KoppelingError, propose
from domain.matching.scoring import distance_fit, match_weights
from domain.matching.services import (
    MatchError,
    families_for,
    mark_not_suitable,
    not_suitable_for,
    suggestions_for,
    unmark,
)
from tenants.db import db
from tenants.models import DEFAULT_TENANT_SETTINGS, Tenant
from tests.conftest import csrf_token, login
from tests.test_family_records import in_tenant, make_family
from tests.test_vog import steungezin
from tests.test_vog_reminders import received, set_settings

COORDINATOR = Actor(id=None, label="coordinator@example.org")
HOME = (53.1000, 6.1000)  # the vraaggezin's postcode point
KM_PER_DEGREE_LATITUDE = 111.19


def north(km: float) -> tuple[float, float]:
    return (HOME[0] + km / KM_PER_DEGREE_LATITUDE, HOME[1])


def born(age: int) -> int:
    return local_today().year - age


@pytest.fixture
def gemeente(make):
    gemeente = make.tenant()
    in_tenant_commit(make.app, gemeente, lambda: ensure_default_support_types(gemeente.id))
    return gemeente


def in_tenant_commit(app, gemeente, fn):
    def run():
        result = fn()
        db.session.commit()
        return result
    return in_tenant(app, gemeente, run)


def profile(app, gemeente, family_id, *, point=HOME, support=(), slots=(), weekend=False, overnight=False,
            distance="geen_voorkeur", experience="", capacity=1) -> int:
    def update():
        family = db.session.get(Family, family_id)
        family.latitude, family.longitude = point if point else (None, None)
        family.support_codes = list(support)
        family.availability = build_availability(slots, weekend=weekend, overnight=overnight)
        family.distance_preference = distance
        family.competence = {"opvoedervaring": experience} if family.kind == "steun" else {}
        family.capacity = capacity
    in_tenant_commit(app, gemeente, update)
    return family_id


def vraaggezin(app, gemeente, *, status="wachtend", children=None, adults=(("Anna", "Jansen", 1988),),
               **profile_args) -> int:
    children = (("Daan", born(4)), ("Mila", born(7))) if children is None else children
    profile_args.setdefault("support", ("opvang", "logeren"))
    profile_args.setdefault("slots", ("wo-middag",))
    profile_args.setdefault("weekend", True)
    family_id = make_family(app, gemeente, kind="vraag", status=status, adults=adults, children=children)
    return profile(app, gemeente, family_id, **profile_args)


def steun(app, gemeente, first_name, *, status="beschikbaar", children=None, **profile_args) -> int:
    children = (("Sanne", born(9)), ("Bram", born(12))) if children is None else children
    family_id = make_family(app, gemeente, kind="steun", status=status, children=children,
                            adults=((first_name, "Steun", 1975),))
    return profile(app, gemeente, family_id, **profile_args)


PERFECT = {"support": ("opvang", "logeren"), "slots": ("wo-middag",), "weekend": True,
           "experience": "Twee eigen kinderen groot gebracht, pleeggezin geweest."}


def suggestions(app, gemeente, vraag_id):
    def read():
        return suggestions_for(db.session.get(Family, vraag_id), today=local_today(),
                               tenant=db.session.get(Tenant, gemeente.id))
    return in_tenant(app, gemeente, read)


def ranked(app, gemeente, vraag_id) -> list[int]:
    return [s.family.id for s in suggestions(app, gemeente, vraag_id)]


def criterion(suggestion, key):
    return next(c for c in suggestion.criteria if c.key == key)


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).replace("&#39;", "'")


@pytest.fixture
def coordinator(app, make, gemeente):
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = "10.9.9.9"
    login(client, make.user(gemeente), f"/{gemeente.slug}")
    return client


def page_url(gemeente, family_id, action=""):
    return f"/{gemeente.slug}/app/gezinnen/{family_id}/suggesties{action}"


# --- the ranking ----------------------------------------------------------------------------------------


def test_a_perfect_fit_outranks_a_near_fit_and_each_criterion_is_explained(app, gemeente):
    vraag = vraaggezin(app, gemeente, distance="dichtbij")
    near_fit = steun(app, gemeente, "Bijna", point=north(0.5), support=("opvang",), slots=("wo-middag",),
                     children=(("Tim", born(5)),))
    perfect = steun(app, gemeente, "Perfect", point=north(0.6), **PERFECT)

    first, second = suggestions(app, gemeente, vraag)
    assert (first.family.id, second.family.id) == (perfect, near_fit)
    assert first.score == 100 and second.score < first.score
    assert {c.verdict for c in first.criteria} == {"past goed"}
    assert criterion(first, "steun").explanation == (
        "Biedt alle gezochte steun: Opvang een middag of avond en Weekend of logeren.")
    assert criterion(second, "steun").explanation == (
        "Biedt 1 van de 2 gezochte soorten steun: Opvang een middag of avond. Niet: Weekend of logeren.")
    assert criterion(second, "beschikbaarheid").explanation == (
        "Kan op 1 van de 2 gevraagde momenten: woensdagmiddag. Niet: weekend.")
    assert criterion(first, "afstand").explanation.startswith("De gezinnen wonen 0,6 km van elkaar.")
    assert "wil steun dichtbij: dat past" in criterion(first, "afstand").explanation
    assert criterion(second, "leeftijden").explanation.startswith(
        "Kinderen van het vraaggezin: 4 en 7 jaar. Eigen kinderen van het steungezin: 5 jaar; "
        "zij kennen 1 van deze 2 leeftijden.")
    assert "staat nog geen opvoedervaring" in criterion(second, "leeftijden").explanation
    assert criterion(first, "ruimte").explanation == "Het steungezin steunt nog niemand en heeft ruimte voor 1 gezin."


def test_only_available_steungezinnen_with_room_and_a_location_are_suggested(app, gemeente):
    vraag = vraaggezin(app, gemeente)
    available = steun(app, gemeente, "Beschikbaar", **PERFECT)
    with_room = steun(app, gemeente, "Ruimte", status="gekoppeld", capacity=2, **PERFECT)
    full = steun(app, gemeente, "Vol", status="gekoppeld", capacity=1, **PERFECT)
    steun(app, gemeente, "Intake", status="intake", **PERFECT)
    steun(app, gemeente, "Afgemeld", status="afgemeld", **PERFECT)
    steun(app, gemeente, "Zonderpostcode", point=None, **PERFECT)
    anonymised = steun(app, gemeente, "Anoniem", **PERFECT)
    vraaggezin(app, gemeente)  # another vraaggezin is no candidate
    other_vraag = [vraaggezin(app, gemeente) for _ in range(2)]

    def occupy():
        for vraag_id, steun_id in ((other_vraag[0], with_room), (other_vraag[1], full)):
            propose(db.session.get(Family, vraag_id), db.session.get(Family, steun_id), COORDINATOR)
        db.session.get(Family, anonymised).anonymised_at = func.now()
    in_tenant_commit(app, gemeente, occupy)

    found = suggestions(app, gemeente, vraag)
    assert [s.family.id for s in found] == [available, with_room]  # equal fit: more room first
    assert criterion(found[1], "ruimte").explanation == (
        "Het steungezin steunt al 1 gezin en heeft ruimte voor nog 1 gezin.")


def test_buiten_de_eigen_buurt_reverses_the_distance_criterion(app, gemeente):
    vraag = vraaggezin(app, gemeente, distance="dichtbij")
    close_by = steun(app, gemeente, "Dichtbij", point=north(0.5), **PERFECT)
    further = steun(app, gemeente, "Verder", point=north(6), **PERFECT)
    assert ranked(app, gemeente, vraag) == [close_by, further]

    wish = {key: value for key, value in PERFECT.items() if key != "experience"}
    profile(app, gemeente, vraag, distance="buiten_eigen_buurt", **wish)
    found = suggestions(app, gemeente, vraag)
    assert [s.family.id for s in found] == [further, close_by]
    assert "dit is waarschijnlijk dezelfde buurt" in criterion(found[1], "afstand").explanation
    assert criterion(found[1], "afstand").verdict == "past niet"
    assert criterion(found[0], "afstand").verdict == "past goed"

    # Without a preference, nearby is a little better: the same order as "dichtbij", closer scores.
    profile(app, gemeente, vraag, distance="geen_voorkeur", **wish)
    found = suggestions(app, gemeente, vraag)
    assert [s.family.id for s in found] == [close_by, further]
    assert found[0].score - found[1].score < 5


def test_the_distance_curves():
    assert distance_fit(1.0, "dichtbij") == 1.0 and distance_fit(20, "dichtbij") == 0.0
    assert distance_fit(0.5, "buiten_eigen_buurt") == 0.0  # the own buurt
    assert distance_fit(2.0, "buiten_eigen_buurt") < 0.5  # still poor within about 2 km
    assert distance_fit(6.0, "buiten_eigen_buurt") == 1.0
    assert 0.5 <= distance_fit(40, "buiten_eigen_buurt") < 1.0  # a sane maximum: far is not better still
    assert distance_fit(0, "geen_voorkeur") == 1.0 and distance_fit(40, "geen_voorkeur") == 0.5
    assert distance_fit(None, "dichtbij") == 0.5


def test_weights_from_the_gemeentes_settings_change_the_order(app, gemeente):
    vraag = vraaggezin(app, gemeente, distance="dichtbij")
    good_support_far = steun(app, gemeente, "Steunvormen", point=north(9), **PERFECT)
    close_little_support = steun(app, gemeente, "Buurman", point=north(0.3), support=("opvang",),
                                 slots=("wo-middag",), weekend=True, experience=PERFECT["experience"])
    assert ranked(app, gemeente, vraag) == [good_support_far, close_little_support]

    set_settings(app, gemeente, match_weights={"afstand": 10})  # the others keep their default
    assert ranked(app, gemeente, vraag) == [close_little_support, good_support_far]

    # Bad values fall back to the defaults, all zero to the defaults as a whole.
    defaults = DEFAULT_TENANT_SETTINGS["match_weights"]
    assert match_weights({"steun": "veel", "afstand": -1, "ruimte": True}, defaults) == {
        key: float(value) for key, value in defaults.items()}
    assert match_weights(dict.fromkeys(defaults, 0), defaults) == {k: float(v) for k, v in defaults.items()}


# --- the VOG -----------------------------------------------------------------------------------------------


def test_a_vog_blocker_is_shown_with_the_adults_name(app, gemeente, coordinator):
    vraag = vraaggezin(app, gemeente)
    blocked = profile(app, gemeente, steungezin(app, gemeente, status="beschikbaar"), **PERFECT)  # Piet and Els Visser
    received(app, gemeente, blocked, "Piet", date(2026, 1, 10))
    in_order = profile(app, gemeente, steungezin(app, gemeente, status="beschikbaar", adults=(("Karin", "Bos", 1970),)),
                       **PERFECT)
    received(app, gemeente, in_order, "Karin", date(2026, 1, 10))

    found = {s.family.id: s for s in suggestions(app, gemeente, vraag)}
    assert [(b.name, b.missing) for b in found[blocked].vog_blockers] == [("Els Visser", "VOG nog niet aangevraagd")]
    assert found[in_order].vog_blockers == ()
    assert found[blocked].score == found[in_order].score  # shown, not scored …
    assert ranked(app, gemeente, vraag) == [in_order, blocked]  # … but among equals the valid VOG first

    page = coordinator.get(page_url(gemeente, vraag))
    assert page.status_code == 200
    text = text_of(page.get_data(as_text=True))
    assert "Let op: VOG nog niet in orde." in text
    assert "Els Visser: VOG nog niet aangevraagd" in text
    assert "VOG: in orde." in text


def test_vog_blockers_of_many_steungezinnen_take_a_fixed_number_of_queries(app, gemeente):
    vraag = vraaggezin(app, gemeente)
    steun(app, gemeente, "Eerste", **PERFECT)

    def statements() -> int:
        count = 0

        def counter(*_args):
            nonlocal count
            count += 1

        with app.app_context():
            from tenants.services import use_tenant
            use_tenant(gemeente.id)
            family, tenant = db.session.get(Family, vraag), db.session.get(Tenant, gemeente.id)
            event.listen(db.engine, "before_cursor_execute", counter)
            try:
                suggestions_for(family, today=local_today(), tenant=tenant)
            finally:
                event.remove(db.engine, "before_cursor_execute", counter)
                db.session.remove()
        return count

    few = statements()
    for index in range(6):
        profile(app, gemeente, steungezin(app, gemeente, status="beschikbaar"), **PERFECT)
        steun(app, gemeente, f"Extra{index}", **PERFECT)
    assert len(ranked(app, gemeente, vraag)) == 13
    assert statements() == few


# --- tenants ---------------------------------------------------------------------------------------------


def test_suggestions_never_include_another_gemeentes_families(app, make, gemeente, coordinator):
    other = make.tenant()
    ours = steun(app, gemeente, "Onsgezin", **PERFECT)
    theirs = [steun(app, other, "Anderegemeente", **PERFECT) for _ in range(2)]
    vraag = vraaggezin(app, gemeente)
    their_vraag = vraaggezin(app, other)

    assert ranked(app, gemeente, vraag) == [ours]
    assert sorted(ranked(app, other, their_vraag)) == sorted(theirs)

    def reverse(tenant, steun_id):
        def read():
            return [s.family.id for s in families_for(db.session.get(Family, steun_id), today=local_today(),
                                                         tenant=db.session.get(Tenant, tenant.id))]
        return in_tenant(app, tenant, read)
    assert reverse(gemeente, ours) == [vraag]
    assert reverse(other, theirs[0]) == [their_vraag]

    html = coordinator.get(page_url(gemeente, vraag)).get_data(as_text=True)
    assert "Onsgezin" in html and "Anderegemeente" not in html


def test_another_gemeentes_coordinator_gets_404_and_changes_nothing(app, make, gemeente, coordinator):
    other = make.tenant()
    their_vraag = vraaggezin(app, other)
    their_steun = steun(app, other, "Anders", **PERFECT)
    ours = steun(app, gemeente, "Ons", **PERFECT)
    assert coordinator.get(page_url(other, their_vraag)).status_code in (302, 404)  # B's URL: B's login
    assert coordinator.get(page_url(gemeente, their_vraag)).status_code == 404
    token = csrf_token(coordinator, f"/{gemeente.slug}/app/")
    for action, data in (("/voorstellen", {"candidate_id": their_steun}),
                         ("/niet-geschikt", {"candidate_id": their_steun, "reason": "Past niet."}),
                         ("/weer-meenemen", {"candidate_id": their_steun})):
        response = coordinator.post(page_url(gemeente, their_vraag, action), data={"csrf_token": token, **data})
        assert response.status_code == 404
    # Our own vraaggezin with their steungezin as the candidate: not found either.
    vraag = vraaggezin(app, gemeente)
    response = coordinator.post(page_url(gemeente, vraag, "/voorstellen"),
                                data={"csrf_token": token, "candidate_id": their_steun})
    assert response.status_code == 404
    assert in_tenant(app, other, lambda: db.session.scalar(select(func.count()).select_from(Koppeling))) == 0
    assert ranked(app, gemeente, vraag) == [ours]


def test_a_gemeente_viewer_may_not_see_suggestions(app, make, gemeente):
    vraag = vraaggezin(app, gemeente)
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = "10.9.9.8"
    login(client, make.user(gemeente, TenantRole.GEMEENTE_VIEWER), f"/{gemeente.slug}")
    assert client.get(page_url(gemeente, vraag)).status_code == 403


# --- "niet geschikt" -----------------------------------------------------------------------------------


def test_niet_geschikt_removes_the_family_from_the_suggestions_and_shows_the_reason(app, gemeente, coordinator):
    vraag = vraaggezin(app, gemeente)
    marked = steun(app, gemeente, "Gemarkeerd", **PERFECT)
    kept = steun(app, gemeente, "Blijft", point=north(3), **PERFECT)
    url = page_url(gemeente, vraag)
    token = csrf_token(coordinator, url)

    refused = coordinator.post(page_url(gemeente, vraag, "/niet-geschikt"),
                               data={"csrf_token": token, "candidate_id": marked, "reason": "  "})
    assert refused.status_code == 422
    assert "Schrijf op waarom dit gezin niet geschikt is." in refused.get_data(as_text=True)
    assert in_tenant(app, gemeente, lambda: db.session.scalar(select(func.count()).select_from(MatchExclusion))) == 0

    done = coordinator.post(page_url(gemeente, vraag, "/niet-geschikt"), data={
        "csrf_token": token, "candidate_id": marked, "reason": "Hond in huis; Daan is allergisch."})
    assert done.status_code == 302 and done.headers["Location"].endswith(url + "#niet-geschikt")
    assert ranked(app, gemeente, vraag) == [kept]
    page = text_of(coordinator.get(url).get_data(as_text=True))
    assert "Niet geschikt (1)" in page
    assert "Hond in huis; Daan is allergisch." in page
    assert f"op {local_today().day} " in page  # "op 23 november 2026 door …"

    # The reverse view of the marked steungezin leaves the vraaggezin out as well, and says why.
    reverse = text_of(coordinator.get(page_url(gemeente, marked)).get_data(as_text=True))
    assert "Suggesties (0)" in reverse and "Hond in huis; Daan is allergisch." in reverse

    # Proposing the marked family is refused with the reason; nothing changes.
    refused = coordinator.post(page_url(gemeente, vraag, "/voorstellen"),
                               data={"csrf_token": token, "candidate_id": marked})
    assert refused.status_code == 422
    assert "Je hebt dit steungezin als niet geschikt gemarkeerd: Hond in huis" in refused.get_data(as_text=True)

    undone = coordinator.post(page_url(gemeente, vraag, "/weer-meenemen"),
                              data={"csrf_token": token, "candidate_id": marked})
    assert undone.status_code == 302
    assert sorted(ranked(app, gemeente, vraag)) == sorted([marked, kept])
    actions = in_tenant(app, gemeente, lambda: list(db.session.scalars(
        select(AuditEvent.action).where(AuditEvent.action.like("match.%")).order_by(AuditEvent.id))))
    assert actions == ["match.marked_not_suitable", "match.unmarked"]


def test_marking_checks_its_input_and_changes_nothing_when_refused(app, gemeente):
    vraag = vraaggezin(app, gemeente)
    other_vraag = vraaggezin(app, gemeente)
    steun_id = steun(app, gemeente, "Steun", **PERFECT)

    def attempt(fn):
        def run():
            try:
                fn(lambda family_id: db.session.get(Family, family_id))
            except MatchError as error:
                db.session.rollback()
                return str(error)
            db.session.commit()
            return None
        return in_tenant(app, gemeente, run)

    assert attempt(lambda f: mark_not_suitable(f(vraag), f(steun_id), "", COORDINATOR)) == (
        "Schrijf op waarom dit gezin niet geschikt is.")
    assert attempt(lambda f: mark_not_suitable(f(vraag), f(steun_id), "x" * 2001, COORDINATOR)).startswith("Schrijf")
    assert attempt(lambda f: mark_not_suitable(f(vraag), f(other_vraag), "Past niet.", COORDINATOR)) == (
        "Een markering ‘niet geschikt’ gaat over een vraaggezin en een steungezin.")
    assert attempt(lambda f: unmark(f(vraag), f(steun_id), COORDINATOR)) == (
        "Dit gezin stond niet als niet geschikt gemarkeerd.")
    assert attempt(lambda f: mark_not_suitable(f(vraag), f(steun_id), "Te druk.", COORDINATOR)) is None
    assert attempt(lambda f: mark_not_suitable(f(vraag), f(steun_id), "Nog eens.", COORDINATOR)) == (
        "Dit gezin staat al als niet geschikt gemarkeerd: Te druk.")
    marks = in_tenant(app, gemeente, lambda: [(m.family_id, m.reason) for m in
                                              not_suitable_for(db.session.get(Family, vraag))])
    assert marks == [(steun_id, "Te druk.")]

    # A pair with a proposal running cannot be marked: stop the proposal first.
    in_tenant_commit(app, gemeente, lambda: propose(db.session.get(Family, other_vraag),
                                                    db.session.get(Family, steun(app, gemeente, "Bezet", **PERFECT)),
                                                    COORDINATOR))
    busy = in_tenant(app, gemeente, lambda: db.session.scalar(select(Koppeling.steun_family_id)))
    assert attempt(lambda f: mark_not_suitable(f(other_vraag), f(busy), "Toch niet.", COORDINATOR)).startswith(
        "Er loopt al een voorstel of koppeling")


# --- proposing from the page ----------------------------------------------------------------------------


def test_proposing_through_the_page_creates_a_koppeling_and_a_refusal_changes_nothing(app, gemeente, coordinator):
    vraag = vraaggezin(app, gemeente)
    first = steun(app, gemeente, "Eerste", support=("opvang", "huiswerkplek"), slots=("wo-middag",))
    second = steun(app, gemeente, "Tweede", **PERFECT)
    url = page_url(gemeente, vraag)
    token = csrf_token(coordinator, url)

    response = coordinator.post(page_url(gemeente, vraag, "/voorstellen"), data={
        "csrf_token": token, "candidate_id": first, "schedule": "Woensdagmiddag na school", "location": ""})
    assert response.status_code == 302
    location = response.headers["Location"]
    if "koppelingen.detail" in app.view_functions:
        assert "/koppelingen/" in location
    else:
        assert location.endswith(f"/{gemeente.slug}/app/gezinnen/{vraag}")

    def koppelingen():
        return [(k.vraag_family_id, k.steun_family_id, k.status, k.support_codes, k.schedule)
                for k in db.session.scalars(select(Koppeling).order_by(Koppeling.id))]
    expected = [(vraag, first, "voorgesteld", ["opvang"], "Woensdagmiddag na school")]
    assert in_tenant(app, gemeente, koppelingen) == expected

    # The page says a proposal is running; a second proposal is refused with the service's message.
    page = text_of(coordinator.get(url).get_data(as_text=True))
    assert "Dit gezin heeft al een voorstel of koppeling die loopt" in page
    refused = coordinator.post(page_url(gemeente, vraag, "/voorstellen"),
                               data={"csrf_token": token, "candidate_id": second, "schedule": "Zaterdag"})
    assert refused.status_code == 422
    html = refused.get_data(as_text=True)
    assert "Dit vraaggezin heeft al een lopende koppeling of voorstel." in html
    assert "Zaterdag</textarea>" in html  # what was typed stays
    assert in_tenant(app, gemeente, koppelingen) == expected

    # The same message as the service gives directly.
    def direct():
        with pytest.raises(KoppelingError, match="al een lopende koppeling"):
            propose(db.session.get(Family, vraag), db.session.get(Family, second), COORDINATOR)
    in_tenant(app, gemeente, direct)


def test_the_reverse_view_lists_waiting_vraaggezinnen_for_a_steungezin(app, gemeente, coordinator):
    steun_id = steun(app, gemeente, "Helper", **PERFECT)
    best = vraaggezin(app, gemeente)
    weaker = vraaggezin(app, gemeente, support=("huiswerkplek",), slots=("ma-avond",), weekend=False)
    vraaggezin(app, gemeente, status="intake")
    with_proposal = vraaggezin(app, gemeente)
    in_tenant_commit(app, gemeente, lambda: propose(db.session.get(Family, with_proposal),
                                                    db.session.get(Family, steun(app, gemeente, "Ander", **PERFECT)),
                                                    COORDINATOR))

    def read():
        return families_for(db.session.get(Family, steun_id), today=local_today(),
                            tenant=db.session.get(Tenant, gemeente.id))
    found = in_tenant(app, gemeente, read)
    assert [s.family.id for s in found] == [best, weaker]
    assert found[0].score == 100

    page = coordinator.get(page_url(gemeente, steun_id))
    assert page.status_code == 200
    text = text_of(page.get_data(as_text=True))
    assert "Passende vraaggezinnen voor Helper Steun" in text
    assert "Ruimte voor nog 1 gezin" in text and "wacht sinds" in text

    # Proposing from the steungezin's page links the chosen vraaggezin to it.
    token = csrf_token(coordinator, page_url(gemeente, steun_id))
    response = coordinator.post(page_url(gemeente, steun_id, "/voorstellen"),
                                data={"csrf_token": token, "candidate_id": best})
    assert response.status_code == 302
    pair = in_tenant(app, gemeente, lambda: db.session.execute(
        select(Koppeling.vraag_family_id, Koppeling.steun_family_id)
        .where(Koppeling.steun_family_id == steun_id)).one())
    assert tuple(pair) == (best, steun_id)


def test_the_family_page_links_to_the_suggestions_when_the_family_can_be_matched(app, gemeente, coordinator):
    waiting = vraaggezin(app, gemeente)
    in_intake = vraaggezin(app, gemeente, status="intake")
    available = steun(app, gemeente, "Beschikbaar", **PERFECT)
    for family_id, linked in ((waiting, True), (in_intake, False), (available, True)):
        html = coordinator.get(f"/{gemeente.slug}/app/gezinnen/{family_id}").get_data(as_text=True)
        assert ("Passende gezinnen zoeken" in html) is linked
        assert (page_url(gemeente, family_id) in html) is linked
    # The page itself still opens for a family in intake, and says why a proposal must wait.
    text = text_of(coordinator.get(page_url(gemeente, in_intake)).get_data(as_text=True))
    assert "Een koppeling voorstellen kan pas als het gezin wacht op een steungezin" in text
