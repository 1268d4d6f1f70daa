"""Public registration: /<slug>/aanmelden/vraaggezin and /steungezin, end to end.

Everything goes through the real forms (CSRF included) and is checked in the database through the
app role, under each tenant's context. The confirmation mail is sent by a real Celery worker.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import datetime
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select, text

from config.settings import SettingsError, load_settings
from devstack.celery_processes import celery_process, wait_until
from domain.audit.models import AuditEvent
from domain.email.models import EmailStatus, OutboundEmail
from domain.families.models import (
    Consent,
    ConsentKind,
    Family,
    FamilyMember,
    FamilyNote,
    FamilyStatusChange,
    MemberRole,
)
from domain.families.registration import CONSENT_VERSION, default_geocoder
from domain.geo.geocoder import ATTRIBUTION, Pc4Geocoder, PostcodeError, _pc4_table
from domain.geo.pdok import PdokGeocoder, PdokUnavailable, parse_response, search_url
from tenants.db import db
from tenants.services import use_tenant
from tests.conftest import csrf_token, login, random_ip
from web.app import create_app

T = TypeVar("T")
THIS_YEAR = datetime.now(ZoneInfo("Europe/Amsterdam")).year
TABLES = (Family, FamilyMember, Consent, FamilyStatusChange, FamilyNote, OutboundEmail)


# --- helpers ------------------------------------------------------------------------------------------


def acting(app: Flask, tenant_id: int, work: Callable[[], T]) -> T:
    """Run ``work`` as the app role under ``tenant_id``'s context; rolled back afterwards."""
    with app.app_context():
        use_tenant(tenant_id)
        try:
            return work()
        finally:
            db.session.rollback()
            db.session.remove()


def new_client(app: Flask) -> FlaskClient:
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = random_ip()
    return client


def unique_email(label: str) -> str:
    return f"{label}-{uuid.uuid4().hex[:10]}@example.org"


def postcode_outside(gemeentecode: str) -> str:
    """A real postcode whose gemeente is not ``gemeentecode`` (test tenants get random codes)."""
    return "9201 AB" if gemeentecode != "0090" else "1011 AB"


def vraag_data(**overrides: Any) -> dict[str, Any]:
    data = {
        "adults-0-first_name": "Anna", "adults-0-last_name": f"Vries{uuid.uuid4().hex[:6]}",
        "adults-0-birth_year": "1988",
        "adults-1-first_name": "Sjoerd", "adults-1-last_name": "de Boer", "adults-1-birth_year": "",
        "children-0-first_name": "Tess", "children-0-birth_year": str(THIS_YEAR - 6),
        "children-1-first_name": "Jelle", "children-1-birth_year": str(THIS_YEAR - 9),
        "street_address": "Stationsweg 12", "postcode": "9201ab", "place": "Drachten",
        "email": unique_email("gezin"), "phone": "06 12345678",
        "referral_source": "zelf",
        "wish": "Een middag in de week opvang na school voor Tess.",
        "support_codes": ["opvang", "sport_zwemles"],
        "availability": "Woensdagmiddag",
        "consent_processing": "y", "consent_contact": "y",
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


def steun_data(**overrides: Any) -> dict[str, Any]:
    data = vraag_data(**{
        "adults-0-first_name": "Petra", "adults-0-birth_year": "1970",
        "adults-1-first_name": "Kees", "adults-1-last_name": "Smit", "adults-1-birth_year": "1968",
        "children-0-first_name": None, "children-0-birth_year": None,
        "children-1-first_name": None, "children-1-birth_year": None,
        "wish": "Een kind één middag opvangen.", "support_codes": ["opvang"],
    })
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


def submit(client: FlaskClient, slug: str, kind: str, data: dict[str, Any]):
    url = f"/{slug}/aanmelden/{kind}"
    return client.post(url, data={**data, "csrf_token": csrf_token(client, url)})


def row_counts(app: Flask, tenant_id: int) -> dict[str, int]:
    def work() -> dict[str, int]:
        counts = {model.__tablename__: db.session.scalar(select(func.count()).select_from(model)) for model in TABLES}
        counts["audit family.registered"] = db.session.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "family.registered"))
        return counts

    return acting(app, tenant_id, work)


def family_by_email(app: Flask, tenant_id: int, email: str) -> dict[str, Any] | None:
    def work():
        family = db.session.scalar(select(Family).where(Family.email == email))
        if family is None:
            return None
        where = {"family_id": family.id}
        return {
            "family": {c.key: getattr(family, c.key) for c in Family.__table__.columns},
            "members": [(m.role, m.first_name, m.last_name, m.birth_year, m.is_contact)
                        for m in db.session.scalars(select(FamilyMember).filter_by(**where).order_by(FamilyMember.id))],
            "consents": sorted((c.kind, c.text_version, c.given_by)
                               for c in db.session.scalars(select(Consent).filter_by(**where))),
            "history": [(h.from_status, h.to_status, h.changed_by_id, h.changed_by_label)
                        for h in db.session.scalars(select(FamilyStatusChange).filter_by(**where))],
            "notes": [n.body for n in db.session.scalars(select(FamilyNote).filter_by(**where))],
            "audit": [(e.action, e.ip and str(e.ip)) for e in db.session.scalars(
                select(AuditEvent).where(AuditEvent.object_type == "family", AuditEvent.object_id == family.id))],
        }

    return acting(app, tenant_id, work)


def mails_to(app: Flask, tenant_id: int, address: str) -> list[dict[str, Any]]:
    return acting(app, tenant_id, lambda: [
        {c.key: getattr(m, c.key) for c in OutboundEmail.__table__.columns}
        for m in db.session.scalars(select(OutboundEmail).where(OutboundEmail.to_address == address))
    ])


def rls_count(app: Flask, tenant_id: int, email: str) -> int:
    """Plain SQL, no ORM criteria: only row-level security decides what this sees."""
    return acting(app, tenant_id, lambda: db.session.execute(
        text("SELECT count(*) FROM families WHERE email = :e"), {"e": email}).scalar_one())


def error_next_to(html: str, field_id: str, message: str) -> bool:
    """``message`` inside the error block that belongs to the field ``field_id``."""
    block = re.search(rf'id="{re.escape(field_id)}-error">(.*?)</div>', html, re.S)
    return bool(block) and message in block.group(1)


# --- a worker that sends to the database sink ---------------------------------------------------------


@pytest.fixture
def mail_app(settings) -> Iterator[Flask]:
    """A fresh app and a real worker + beat on a queue of their own, mail kept in the database."""
    those = replace(settings, mail_backend="sink", outbox_sweep_seconds=1, outbox_lease_seconds=5,
                    outbox_retry_base_seconds=1,
                    redis_namespace=f"{settings.redis_namespace}-r{uuid.uuid4().hex[:6]}")
    app = create_app(those)
    with celery_process(those) as worker, celery_process(those, "beat"):
        app.extensions["test_worker"] = worker
        yield app
    with app.app_context():
        db.engine.dispose()


# --- the journey ----------------------------------------------------------------------------------------


def test_a_registered_family_lands_in_its_own_gemeente_only_and_gets_its_mail(mail_app, make):
    smallingerland = make.tenant(name=f"Smallingerland {uuid.uuid4().hex[:6]}")
    other = make.tenant()
    data = vraag_data()
    email = data["email"]
    client = new_client(mail_app)

    response = submit(client, smallingerland.slug, "vraaggezin", data)
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    assert response.headers["Location"].startswith(f"/{smallingerland.slug}/aanmelden/bedankt")
    thanks = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Bedankt, we hebben je aanmelding ontvangen" in thanks
    assert "Binnen twee weken belt de coördinator" in thanks

    record = family_by_email(mail_app, smallingerland.id, email)
    assert record is not None
    family = record["family"]
    assert (family["kind"], family["status"]) == ("vraag", "aangemeld")
    assert (family["postcode"], family["pc4"], family["place"]) == ("9201 AB", "9201", "Drachten")
    # Only the point of the PC4 area is kept.
    lat, lon = _pc4_table()["9201"][:2]
    assert (family["latitude"], family["longitude"]) == (lat, lon)
    assert family["street_address"] == "Stationsweg 12" and family["phone"] == "06 12345678"
    assert family["referral_source"] == "zelf" and family["support_codes"] == ["opvang", "sport_zwemles"]
    assert family["registration_wish"].startswith("Een middag in de week")
    assert family["registration_availability"] == "Woensdagmiddag"
    # Two adults, two children; the empty rows are skipped; children have no last name.
    assert record["members"] == [
        (MemberRole.ADULT, "Anna", data["adults-0-last_name"], 1988, True),
        (MemberRole.ADULT, "Sjoerd", "de Boer", None, False),
        (MemberRole.CHILD, "Tess", None, THIS_YEAR - 6, False),
        (MemberRole.CHILD, "Jelle", None, THIS_YEAR - 9, False),
    ]
    assert record["consents"] == [
        (ConsentKind.CONTACT, CONSENT_VERSION, "gezin"),
        (ConsentKind.PROCESSING, CONSENT_VERSION, "gezin"),
    ]
    assert record["history"] == [(None, "aangemeld", None, "aanmeldformulier")]
    assert [action for action, _ in record["audit"]] == ["family.registered"]
    assert record["audit"][0][1] == client.environ_base["REMOTE_ADDR"]

    # The other gemeente sees nothing: not through the ORM, not through plain SQL (RLS alone).
    assert family_by_email(mail_app, other.id, email) is None
    assert rls_count(mail_app, other.id, email) == 0
    assert rls_count(mail_app, smallingerland.id, email) == 1  # positive control for the query
    assert row_counts(mail_app, other.id)["families"] == 0
    assert mails_to(mail_app, other.id, email) == []

    # Its confirmation mail was sent by the worker.
    [mail] = mails_to(mail_app, smallingerland.id, email)
    assert mail["template"] == "registration_confirmation" and mail["language"] == "nl"
    worker = mail_app.extensions["test_worker"]
    wait_until(lambda: mails_to(mail_app, smallingerland.id, email)[0]["status"] == EmailStatus.SENT,
               seconds=60, message=f"confirmation mail sent\n{worker.log()}", process=worker)
    [sent] = mails_to(mail_app, smallingerland.id, email)
    assert "We hebben je aanmelding ontvangen" in sent["subject"]
    assert smallingerland.name in sent["subject"]
    assert "Beste Anna," in sent["body_text"]
    assert "Binnen twee weken belt de coördinator je" in sent["body_text"]
    assert "gesprek bij jou thuis" in sent["body_text"]
    assert "steungezin dat bij jullie past" in sent["body_html"]


def test_a_steungezin_without_children_registers(app, make, client):
    gemeente = make.tenant()
    data = steun_data()
    response = submit(client, gemeente.slug, "steungezin", data)
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    record = family_by_email(app, gemeente.id, data["email"])
    assert record["family"]["kind"] == "steun"
    assert [(m[0], m[3]) for m in record["members"]] == [(MemberRole.ADULT, 1970), (MemberRole.ADULT, 1968)]
    [mail] = mails_to(app, gemeente.id, data["email"])
    assert mail["context"]["kind"] == "steun" and mail["context"]["recipient"] == "gezin"


def test_grown_up_child_and_postcode_elsewhere_are_accepted_with_a_note_for_the_coordinator(app, make, client):
    gemeente = make.tenant()
    postcode = postcode_outside(app_gemeentecode(app, gemeente.id))
    data = vraag_data(**{"postcode": postcode, "children-1-first_name": "Sanne",
                         "children-1-birth_year": str(THIS_YEAR - 19)})
    response = submit(client, gemeente.slug, "vraaggezin", data)
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    record = family_by_email(app, gemeente.id, data["email"])
    [note] = record["notes"]
    assert "Sanne is 18 of 19 jaar" in note
    assert f"Postcode {postcode}" in note and gemeente.name in note


def app_gemeentecode(app: Flask, tenant_id: int) -> str:
    from tenants.models import Tenant

    return acting(app, tenant_id, lambda: db.session.get(Tenant, tenant_id).gemeentecode)


def test_a_postcode_in_the_own_gemeente_leaves_no_note(app, make):
    """The same check the other way round: with the tenant's own gemeente, nothing to flag."""
    from domain.audit.services import Actor
    from domain.families.models import FamilyKind
    from domain.families.registration import PersonInput, RegistrationData, register_family
    from domain.families.support_types import ensure_default_support_types
    from tenants.models import Tenant

    gemeente = make.tenant()

    class OwnGemeente(Pc4Geocoder):
        def locate(self, postcode):
            return replace(super().locate(postcode), gemeentecode=f"GM{tenant_code}")

    def work():
        tenant = db.session.get(Tenant, gemeente.id)
        ensure_default_support_types(tenant.id)
        data = RegistrationData(kind=FamilyKind.VRAAG, adults=[PersonInput("Anna", "Bos", None)],
                                children=[PersonInput("Tess", "", THIS_YEAR - 3)], street_address="Dorpsstraat 1",
                                postcode="9201 AB", place="Drachten", phone="0512 123456", consent_processing=True)
        result = register_family(tenant, data, Actor(ip="10.0.0.1"), geocoder=OwnGemeente())
        return result.notes, result.emails_queued, db.session.scalar(
            select(func.count()).select_from(FamilyNote).where(FamilyNote.family_id == result.family.id))

    tenant_code = app_gemeentecode(app, gemeente.id)
    notes, queued, stored_notes = acting(app, gemeente.id, work)  # rolled back afterwards
    assert notes == [] and stored_notes == 0
    assert queued == 0  # phone only: nobody to mail


# --- bad input ------------------------------------------------------------------------------------------

BAD_INPUT = [
    # (form, overrides, field id, message)
    ("vraaggezin", {"postcode": "12345"}, "postcode", "Vul een postcode in zoals 9201 AB."),
    ("vraaggezin", {"postcode": "1000 AA"}, "postcode", "Postcode 1000 AA kennen we niet."),
    ("vraaggezin", {"children-0-birth_year": str(THIS_YEAR + 1)}, "children-0-birth_year",
     "Dit jaartal ligt in de toekomst."),
    ("vraaggezin", {"adults-0-birth_year": "1850"}, "adults-0-birth_year", "van 1900 of later"),
    ("vraaggezin", {"adults-0-birth_year": "19a5"}, "adults-0-birth_year", "Vul een jaartal in met vier cijfers"),
    ("vraaggezin", {"children-1-birth_year": str(THIS_YEAR - 45)}, "children-1-birth_year",
     "Klopt het jaartal? Volwassenen vul je hierboven in."),
    ("vraaggezin", {"children-1-birth_year": ""}, "children-1-birth_year", "Vul het geboortejaar van het kind in."),
    ("vraaggezin", {"adults-0-first_name": "", "adults-0-last_name": "", "adults-0-birth_year": ""},
     "adults-0-first_name", "Vul de voornaam in van de contactpersoon."),
    ("vraaggezin", {"children-0-first_name": "", "children-0-birth_year": "",
                    "children-1-first_name": "", "children-1-birth_year": ""},
     "children-0-first_name", "Vul minstens één kind in."),
    ("vraaggezin", {"consent_processing": None}, "consent_processing", "Zonder deze toestemming"),
    ("vraaggezin", {"email": "anna@"}, "email", "Dit e-mailadres klopt niet."),
    ("vraaggezin", {"email": "", "phone": ""}, "phone", "Vul een e-mailadres of een telefoonnummer in"),
    ("vraaggezin", {"phone": "12"}, "phone", "Dit telefoonnummer klopt niet."),
    ("vraaggezin", {"by_professional": "y", "referral_source": "buurtteam", "referrer_name": "Els",
                    "referrer_organisation": "Buurtteam Noord", "referrer_email": unique_email("els")},
     "referral_consent", "Meld een gezin alleen aan als het gezin daar toestemming voor gaf."),
    ("vraaggezin", {"by_professional": "y", "referral_consent": "y", "referral_source": "school"},
     "referrer_email", "Vul je e-mailadres in."),
    ("steungezin", {"adults-1-birth_year": ""}, "adults-1-birth_year", "vraagt later een VOG aan"),
    ("steungezin", {"adults-1-birth_year": str(THIS_YEAR - 15)}, "adults-1-birth_year",
     "In een steungezin zijn de volwassenen 18 jaar of ouder."),
    ("steungezin", {"adults-1-last_name": ""}, "adults-1-last_name", "Vul de achternaam in."),
]


@pytest.mark.parametrize(("form", "overrides", "field_id", "message"), BAD_INPUT,
                         ids=[f"{case[0]}-{case[2]}-{i}" for i, case in enumerate(BAD_INPUT)])
def test_bad_input_is_explained_next_to_the_field_and_writes_nothing(app, make, client, form, overrides,
                                                                     field_id, message):
    gemeente = make.tenant()
    data = (vraag_data if form == "vraaggezin" else steun_data)(**overrides)
    data = {key: value for key, value in data.items() if value is not None}
    before = row_counts(app, gemeente.id)
    response = submit(client, gemeente.slug, form, data)
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert error_next_to(html, field_id, message), f"{message!r} not next to {field_id}"
    assert f'id="{field_id}"' in html and 'aria-invalid="true"' in html
    assert "Controleer het formulier" in html
    # What was typed is still there.
    assert 'value="Stationsweg 12"' in html
    assert f'value="{data["adults-1-first_name"]}"' in html
    if data.get("email"):
        assert f'value="{data["email"]}"' in html
    assert "Een kind één middag opvangen." in html or "Een middag in de week opvang" in html
    assert row_counts(app, gemeente.id) == before


def test_the_control_case_of_the_bad_input_table_is_accepted(app, make, client):
    """Without the overrides, the same data goes through: the cases above fail for their own reason."""
    gemeente = make.tenant()
    for form, data in (("vraaggezin", vraag_data()), ("steungezin", steun_data())):
        before = row_counts(app, gemeente.id)["families"]
        assert submit(client, gemeente.slug, form, data).status_code == 302
        assert row_counts(app, gemeente.id)["families"] == before + 1


# --- spam -------------------------------------------------------------------------------------------------


def test_honeypot_looks_like_success_and_writes_nothing(app, make, client):
    gemeente = make.tenant()
    before = row_counts(app, gemeente.id)
    response = submit(client, gemeente.slug, "vraaggezin", vraag_data(website="http://spam.example"))
    assert response.status_code == 302
    assert response.headers["Location"].startswith(f"/{gemeente.slug}/aanmelden/bedankt")
    assert "Bedankt, we hebben je aanmelding ontvangen" in client.get(response.headers["Location"]).get_data(
        as_text=True)
    assert row_counts(app, gemeente.id) == before


def test_honeypot_is_hidden_from_people_and_screen_readers(client, make):
    gemeente = make.tenant()
    html = client.get(f"/{gemeente.slug}/aanmelden/vraaggezin").get_data(as_text=True)
    wrapper = re.search(r'<div class="form-honeypot" aria-hidden="true">(.*?)</div>', html, re.S)
    assert wrapper, "honeypot wrapper missing"
    assert 'name="website"' in wrapper.group(1)
    assert 'tabindex="-1"' in wrapper.group(1) and 'autocomplete="off"' in wrapper.group(1)


def test_too_many_registrations_from_one_address_get_429_in_dutch(app, make, client):
    gemeente = make.tenant()
    # Mistakes do not use up the budget: a family that needs several tries is not locked out.
    for _ in range(6):
        assert submit(client, gemeente.slug, "vraaggezin", vraag_data(postcode="12345")).status_code == 200
    # Accepted submissions (here: bots caught by the honeypot) do, across both forms.
    for form in ("vraaggezin", "steungezin", "vraaggezin", "steungezin", "vraaggezin"):
        assert submit(client, gemeente.slug, form, vraag_data(website="x")).status_code == 302
    before = row_counts(app, gemeente.id)
    response = submit(client, gemeente.slug, "steungezin", steun_data())
    assert response.status_code == 429
    assert "Je hebt dit formulier te vaak verstuurd" in response.get_data(as_text=True)
    assert row_counts(app, gemeente.id) == before
    # Another address is not affected.
    other = new_client(app)
    assert submit(other, gemeente.slug, "steungezin", steun_data()).status_code == 302


# --- referral by a professional ---------------------------------------------------------------------------


def test_a_professional_registers_a_family_with_its_consent(app, make, client):
    gemeente = make.tenant()
    referrer_email = unique_email("els")
    data = vraag_data(by_professional="y", referral_consent="y", referral_source="buurtteam",
                      referrer_name="Els Visser", referrer_organisation="Buurtteam Noord",
                      referrer_email=referrer_email)
    response = submit(client, gemeente.slug, "vraaggezin", data)
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    record = family_by_email(app, gemeente.id, data["email"])
    label = "Els Visser (Buurtteam Noord)"
    assert record["family"]["referral_source"] == "buurtteam"
    assert (record["family"]["referrer_name"], record["family"]["referrer_email"]) == (label, referrer_email)
    assert record["consents"] == [
        (ConsentKind.CONTACT, CONSENT_VERSION, label),
        (ConsentKind.REFERRAL, CONSENT_VERSION, label),
        (ConsentKind.PROCESSING, CONSENT_VERSION, label),
    ]
    assert record["history"][0][3] == label
    [to_family] = mails_to(app, gemeente.id, data["email"])
    [to_referrer] = mails_to(app, gemeente.id, referrer_email)
    assert to_family["context"]["recipient"] == "gezin" and to_family["context"]["by_professional"] is True
    assert to_referrer["template"] == "registration_confirmation"
    assert to_referrer["context"]["recipient"] == "verwijzer" and to_referrer["context"]["referrer"] == label


def test_a_referral_without_the_familys_email_mails_the_referrer_only(app, make, client):
    gemeente = make.tenant()
    referrer_email = unique_email("huisarts")
    data = vraag_data(email="", by_professional="y", referral_consent="y", referral_source="huisarts",
                      referrer_name="Dr. Jansen", referrer_organisation="Huisartsenpraktijk De Wiek",
                      referrer_email=referrer_email)
    assert submit(client, gemeente.slug, "vraaggezin", data).status_code == 302
    [to_referrer] = mails_to(app, gemeente.id, referrer_email)
    assert to_referrer["context"]["recipient"] == "verwijzer"
    assert row_counts(app, gemeente.id)["outbound_emails"] == 1


# --- the coordinator's start page -------------------------------------------------------------------------


def test_the_new_registration_shows_on_its_own_gemeentes_start_page_only(app, make, two_tenants):
    a, b = two_tenants["a"], two_tenants["b"]
    data = vraag_data()
    assert submit(new_client(app), a.slug, "vraaggezin", data).status_code == 302
    name = f"Anna {data['adults-0-last_name']}"

    a_client = new_client(app)
    login(a_client, two_tenants["a_coordinator"], f"/{a.slug}")
    page = a_client.get(f"/{a.slug}/app/").get_data(as_text=True)
    assert "Intakes: 1" in page and "Intake plannen" in page
    assert name in page and "vraaggezin, aangemeld op" in page

    b_client = new_client(app)
    login(b_client, two_tenants["b_coordinator"], f"/{b.slug}")
    b_page = b_client.get(f"/{b.slug}/app/").get_data(as_text=True)
    assert name not in b_page
    assert "Intake plannen" not in b_page


def test_the_gemeente_contact_does_not_see_family_names(app, make):
    from domain.accounts.models import TenantRole

    gemeente = make.tenant()
    data = vraag_data()
    assert submit(new_client(app), gemeente.slug, "vraaggezin", data).status_code == 302
    viewer = make.user(gemeente, TenantRole.GEMEENTE_VIEWER)
    client = new_client(app)
    login(client, viewer, f"/{gemeente.slug}")
    page = client.get(f"/{gemeente.slug}/app/").get_data(as_text=True)
    assert data["adults-0-last_name"] not in page


# --- public pages -----------------------------------------------------------------------------------------


def test_public_page_links_to_both_forms_and_every_page_credits_geonames(client, make):
    gemeente = make.tenant()
    index = client.get(f"/{gemeente.slug}/").get_data(as_text=True)
    assert f'href="/{gemeente.slug}/aanmelden/vraaggezin"' in index
    assert f'href="/{gemeente.slug}/aanmelden/steungezin"' in index
    assert ATTRIBUTION in index
    form = client.get(f"/{gemeente.slug}/aanmelden/vraaggezin").get_data(as_text=True)
    assert ATTRIBUTION in form
    assert "Ik meld een gezin aan als professional" in form
    assert "Het gezin heeft toestemming gegeven" in form
    assert CONSENT_VERSION in form and "<script" not in form
    # The tenant's support types are offered as checkboxes.
    assert 'name="support_codes" value="luisterend_oor"' in form
    steun = client.get(f"/{gemeente.slug}/aanmelden/steungezin").get_data(as_text=True)
    assert "Ik meld een gezin aan als professional" not in steun
    assert "Nodig voor de VOG" in steun


def test_registration_of_an_unknown_gemeente_is_not_found(client):
    assert client.get("/bestaat-niet-xyz/aanmelden/vraaggezin").status_code == 404


# --- geocoder selection and PDOK (never called: a recorded answer) ----------------------------------------

PDOK_ANSWER = """{"response":{"numFound":1,"start":0,"maxScore":16.5,"numFoundExact":true,"docs":[
 {"type":"postcode","woonplaatsnaam":"Drachten","gemeentecode":"0090","gemeentenaam":"Smallingerland",
  "centroide_ll":"POINT(6.09123456 53.11598765)","postcode":"9201AB"}]}}"""
PDOK_EMPTY = '{"response":{"numFound":0,"start":0,"maxScore":0.0,"numFoundExact":true,"docs":[]}}'


def test_pdok_answer_is_parsed_and_kept_at_pc4_precision():
    location = parse_response(PDOK_ANSWER, "9201ab")
    assert (location.postcode, location.pc4, location.place) == ("9201 AB", "9201", "Drachten")
    assert (location.gemeentecode, location.gemeentenaam) == ("GM0090", "Smallingerland")
    # Not PDOK's exact centroid: the PC4 point the offline geocoder stores too.
    assert (location.latitude, location.longitude) == _pc4_table()["9201"][:2]


def test_pdok_point_is_rounded_when_the_pc4_table_lacks_the_area():
    answer = PDOK_ANSWER.replace("9201AB", "9090AB")
    location = parse_response(answer, "9090 AB")
    assert (location.latitude, location.longitude) == (53.12, 6.09)


def test_pdok_unknown_postcode_and_bad_answers():
    with pytest.raises(PostcodeError, match="kennen we niet"):
        parse_response(PDOK_EMPTY, "9201 AB")
    with pytest.raises(PdokUnavailable):
        parse_response("<html>fout</html>", "9201 AB")
    assert "fq=type%3Apostcode" in search_url("9201 AB") and "q=9201AB" in search_url("9201 AB")


def test_pdok_falls_back_to_the_offline_table_when_unreachable():
    class Offline(PdokGeocoder):
        def _fetch(self, postcode):
            raise PdokUnavailable("no network in tests")

    assert Offline().locate("9201 AB") == Pc4Geocoder().locate("9201 AB")
    with pytest.raises(PostcodeError):
        Offline().locate("12")


def test_geocoder_setting(settings):
    assert load_settings({"DATABASE_URL": "postgresql://x@h/db", "REDIS_URL": "redis://h"}).geocoder == "pc4"
    assert load_settings({"DATABASE_URL": "postgresql://x@h/db", "REDIS_URL": "redis://h",
                          "GEOCODER": "PDOK"}).geocoder == "pdok"
    with pytest.raises(SettingsError, match="GEOCODER"):
        load_settings({"DATABASE_URL": "postgresql://x@h/db", "REDIS_URL": "redis://h", "GEOCODER": "google"})
    pdok_app = create_app(replace(settings, geocoder="pdok"))
    with pdok_app.app_context():
        assert isinstance(default_geocoder(), PdokGeocoder)
        db.engine.dispose()
    plain_app = create_app(settings)
    with plain_app.app_context():
        assert type(default_geocoder()) is Pc4Geocoder
        db.engine.dispose()
