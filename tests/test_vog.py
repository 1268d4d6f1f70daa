"""VOG records of steungezin adults: who gets one, the steps and their checks, the renewal date,
the overview with filters, the CSV export — and that none of it reaches another gemeente."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from domain.audit.models import AuditEvent
from domain.audit.services import SYSTEM, Actor
from domain.families.household import MemberEdit, NewMember, update_household
from domain.families.models import Family, FamilyKind, FamilyMember
from domain.families.privacy import anonymise_family, family_export
from domain.families.records import local_today
from domain.families.registration import PersonInput, RegistrationData, register_family
from domain.geo.geocoder import Location
from domain.vog.models import VogRecord
from domain.vog.services import (
    VogError,
    add_months,
    ensure_vog_records,
    mark_expired,
    record_received,
    record_rejected,
    request_vog,
    vog_rows,
)
from tenants.db import db
from tenants.models import Tenant
from tenants.services import use_tenant
from tests.conftest import csrf_token, login
from tests.test_family_records import make_family

TODAY = date(2026, 6, 15)
COORDINATOR = Actor(id=None, label="coordinator@example.org")


@pytest.fixture
def gemeente(make):
    return make.tenant()


@pytest.fixture
def coordinator_client(app, client, make, gemeente):
    login(client, make.user(gemeente), f"/{gemeente.slug}")
    return client


def in_tenant(app, gemeente, fn):
    with app.app_context():
        use_tenant(gemeente.id)
        try:
            return fn()
        finally:
            db.session.remove()


def records_of(family_id: int) -> dict[str, VogRecord]:
    rows = db.session.execute(
        select(FamilyMember.first_name, VogRecord).join(VogRecord, VogRecord.member_id == FamilyMember.id)
        .where(VogRecord.family_id == family_id)).all()
    return {name: vog for name, vog in rows}


def steungezin(app, gemeente, **kwargs) -> int:
    kwargs.setdefault("adults", (("Piet", "Visser", 1970), ("Els", "Visser", date(1972, 3, 1))))
    kwargs.setdefault("children", (("Sanne", 2010), ("Bram", 2009)))
    family_id = make_family(app, gemeente, kind="steun", **kwargs)

    def ensure():
        ensure_vog_records(db.session.get(Family, family_id), today=TODAY)
        db.session.commit()
    in_tenant(app, gemeente, ensure)
    return family_id


def one_vog(app, gemeente, family_id, name="Piet") -> int:
    return in_tenant(app, gemeente, lambda: records_of(family_id)[name].id)


# --- who needs a VOG --------------------------------------------------------------------------------


def test_every_adult_of_a_steungezin_gets_one_children_and_vraaggezinnen_none(app, gemeente):
    family_id = steungezin(app, gemeente)

    def check():
        records = records_of(family_id)
        assert sorted(records) == ["Els", "Piet"]
        assert {vog.status for vog in records.values()} == {"nodig"}
        # Idempotent: a second run adds nothing.
        assert ensure_vog_records(db.session.get(Family, family_id), today=TODAY) == []
        assert len(records_of(family_id)) == 2
    in_tenant(app, gemeente, check)

    vraag_id = make_family(app, gemeente, kind="vraag", adults=(("Anna", "Jansen", 1985),), children=(("Tim", 2015),))
    assert in_tenant(app, gemeente, lambda: ensure_vog_records(db.session.get(Family, vraag_id), today=TODAY)) == []


def test_an_adult_of_unknown_age_counts_and_a_child_turning_18_gets_one_on_the_next_run(app, gemeente):
    family_id = make_family(app, gemeente, kind="steun", adults=(("Piet", "Visser", 1970),),
                            children=(("Sanne", 2010),))

    def setup():
        db.session.add(FamilyMember(tenant_id=gemeente.id, family_id=family_id, role="volwassene",
                                    first_name="Onbekend", birth_year=None))
        db.session.add(FamilyMember(tenant_id=gemeente.id, family_id=family_id, role="kind",
                                    first_name="Daan", birth_year=2008, birth_date=date(2008, 9, 1)))
        db.session.commit()
    in_tenant(app, gemeente, setup)

    def run(today):
        ensure_vog_records(db.session.get(Family, family_id), today=today)
        db.session.commit()
        return sorted(records_of(family_id))
    # Daan turns 18 on 1 September 2026 (birth date counts), Sanne (year only) in 2028.
    assert in_tenant(app, gemeente, lambda: run(date(2026, 8, 31))) == ["Onbekend", "Piet"]
    assert in_tenant(app, gemeente, lambda: run(date(2026, 9, 1))) == ["Daan", "Onbekend", "Piet"]
    assert in_tenant(app, gemeente, lambda: run(date(2028, 1, 1))) == ["Daan", "Onbekend", "Piet", "Sanne"]


def test_registration_of_a_steungezin_records_a_vog_per_adult(app, gemeente):
    class OwnGemeente:
        def locate(self, postcode):
            return Location("9201 AB", "9201", 53.1, 6.1, "Drachten", "GM0090", "Smallingerland")

    def register():
        tenant = db.session.get(Tenant, gemeente.id)
        data = RegistrationData(kind=FamilyKind.STEUN, adults=[PersonInput("Piet", "Visser", 1970),
                                                                PersonInput("Els", "Visser", 1972)],
                                children=[PersonInput("Sanne", "", 2014)], street_address="Lindelaan 4",
                                postcode="9201 AB", place="Drachten", email="visser@example.org",
                                consent_processing=True)
        family = register_family(tenant, data, Actor(ip="10.0.0.1"), geocoder=OwnGemeente(), today=TODAY).family
        db.session.commit()
        return sorted(records_of(family.id))
    assert in_tenant(app, gemeente, register) == ["Els", "Piet"]


def test_a_new_adult_in_the_household_gets_one(app, gemeente):
    family_id = steungezin(app, gemeente)

    def add():
        family = db.session.get(Family, family_id)
        update_household(family, [], NewMember(role="volwassene", first_name="Oma", last_name="Visser",
                                               birth_year=1950), COORDINATOR, today=TODAY)
        db.session.commit()
        return sorted(records_of(family_id))
    assert in_tenant(app, gemeente, add) == ["Els", "Oma", "Piet"]

    def remove():
        family = db.session.get(Family, family_id)
        oma = db.session.scalar(select(FamilyMember).where(FamilyMember.first_name == "Oma",
                                                           FamilyMember.family_id == family_id))
        update_household(family, [MemberEdit(oma.id, "Oma", remove=True)], None, COORDINATOR, today=TODAY)
        db.session.commit()
        return sorted(records_of(family_id))
    assert in_tenant(app, gemeente, remove) == ["Els", "Piet"]  # the record goes with the member


# --- the steps ---------------------------------------------------------------------------------------


def audit_actions(vog_id: int) -> list[str]:
    return list(db.session.scalars(select(AuditEvent.action).where(AuditEvent.object_type == "vog",
                                                                   AuditEvent.object_id == vog_id)
                                   .order_by(AuditEvent.id)))


def test_steps_checks_corrections_and_audit(app, gemeente):
    family_id = steungezin(app, gemeente)
    vog_id = one_vog(app, gemeente, family_id)

    def flow():
        vog = db.session.get(VogRecord, vog_id)
        with pytest.raises(VogError, match="Leg eerst vast dat de VOG is aangevraagd"):
            record_received(vog, date(2026, 5, 1), date(2026, 5, 2), COORDINATOR, today=TODAY)
        with pytest.raises(VogError, match="ligt in de toekomst"):
            request_vog(vog, TODAY + timedelta(days=1), None, COORDINATOR, today=TODAY)
        with pytest.raises(VogError, match="Vul de datum van de aanvraag in"):
            request_vog(vog, None, None, COORDINATOR, today=TODAY)
        request_vog(vog, date(2026, 5, 1), " JUS-123 ", COORDINATOR, today=TODAY)
        assert (vog.status, vog.requested_on, vog.request_reference) == ("aangevraagd", date(2026, 5, 1), "JUS-123")
        # Correcting the date: the same step again.
        request_vog(vog, date(2026, 5, 3), "JUS-123", COORDINATOR, today=TODAY)
        assert vog.requested_on == date(2026, 5, 3)
        request_vog(vog, date(2026, 5, 3), "JUS-123", COORDINATOR, today=TODAY)  # nothing changed: no event
        with pytest.raises(VogError, match="vóór de aanvraag"):
            record_received(vog, date(2026, 5, 2), date(2026, 5, 20), COORDINATOR, today=TODAY)
        with pytest.raises(VogError, match="vóór de datum van afgifte"):
            record_received(vog, date(2026, 5, 20), date(2026, 5, 19), COORDINATOR, today=TODAY)
        with pytest.raises(VogError, match="ligt in de toekomst"):
            record_received(vog, date(2026, 5, 20), TODAY + timedelta(days=1), COORDINATOR, today=TODAY)
        with pytest.raises(VogError, match="Alleen een ontvangen VOG kan verlopen"):
            mark_expired(vog, COORDINATOR)
        record_received(vog, date(2026, 5, 20), date(2026, 5, 22), COORDINATOR, today=TODAY)
        assert vog.status == "ontvangen" and vog.checked_by_label == "coordinator@example.org"
        assert vog.renewal_due_on == date(2029, 5, 20)  # 36 months, the default
        record_received(vog, date(2026, 5, 21), date(2026, 5, 22), COORDINATOR, today=TODAY)  # correction
        assert vog.renewal_due_on == date(2029, 5, 21)
        with pytest.raises(VogError, match="kan niet opnieuw aangevraagd"):
            request_vog(vog, TODAY, None, COORDINATOR, today=TODAY)
        with pytest.raises(VogError, match="Alleen een aangevraagde VOG kan afgewezen"):
            record_rejected(vog, TODAY, COORDINATOR, today=TODAY)
        mark_expired(vog, SYSTEM)
        assert vog.status == "verlopen"
        # A new request after expiry starts clean.
        request_vog(vog, TODAY, None, COORDINATOR, today=TODAY)
        assert (vog.status, vog.issued_on, vog.renewal_due_on, vog.request_reference) == (
            "aangevraagd", None, None, None)
        with pytest.raises(VogError, match="vóór de aanvraag"):
            record_rejected(vog, TODAY - timedelta(days=1), COORDINATOR, today=TODAY)
        record_rejected(vog, TODAY, COORDINATOR, today=TODAY)
        assert (vog.status, vog.rejected_on) == ("afgewezen", TODAY)
        db.session.commit()
        return audit_actions(vog_id)
    assert in_tenant(app, gemeente, flow) == [
        "vog.needed", "vog.requested", "vog.corrected", "vog.received", "vog.corrected", "vog.expired",
        "vog.requested", "vog.rejected",
    ]


def test_renewal_date_follows_the_gemeente_setting(app, gemeente):
    assert add_months(date(2024, 2, 29), 36) == date(2027, 2, 28)
    family_id = steungezin(app, gemeente)
    vog_id = one_vog(app, gemeente, family_id)

    def flow():
        tenant = db.session.get(Tenant, gemeente.id)
        tenant.settings = {**(tenant.settings or {}), "vog_renewal_months": 24}
        vog = db.session.get(VogRecord, vog_id)
        request_vog(vog, date(2026, 1, 10), None, COORDINATOR, today=TODAY)
        record_received(vog, date(2026, 1, 31), date(2026, 2, 2), COORDINATOR, today=TODAY)
        db.session.commit()
        return vog.renewal_due_on
    assert in_tenant(app, gemeente, flow) == date(2028, 1, 31)


# --- overview, filters, export -------------------------------------------------------------------------


def test_overview_filters(app, gemeente):
    today = local_today()
    family_id = steungezin(app, gemeente, adults=(("Nodig", "A", 1970), ("Lang", "B", 1970), ("Kort", "C", 1970),
                                                  ("Bijna", "D", 1970), ("Later", "E", 1970), ("Oud", "F", 1970),
                                                  ("Weg", "G", 1970)), children=())

    def setup():
        records = records_of(family_id)
        request_vog(records["Lang"], today - timedelta(days=22), None, COORDINATOR)
        request_vog(records["Kort"], today - timedelta(days=21), None, COORDINATOR)
        for name, issued_months_ago in (("Bijna", 35), ("Later", 30), ("Oud", 37), ("Weg", 40)):
            issued = add_months(today, -issued_months_ago)
            request_vog(records[name], issued - timedelta(days=10), None, COORDINATOR)
            record_received(records[name], issued, issued, COORDINATOR)
        mark_expired(records["Weg"], COORDINATOR)
        db.session.commit()

        def names(key):
            return sorted(row.member.first_name for row in vog_rows(key))
        return {key: names(key) for key in ("alle", "ontbreekt", "aangevraagd", "verloopt", "verlopen")}
    result = in_tenant(app, gemeente, setup)
    assert result == {
        "alle": ["Bijna", "Kort", "Lang", "Later", "Nodig", "Oud", "Weg"],
        "ontbreekt": ["Nodig"],
        "aangevraagd": ["Lang"],
        "verloopt": ["Bijna"],
        "verlopen": ["Oud", "Weg"],  # past its renewal date, or marked expired
    }


def test_pages_forms_and_csv_export(app, coordinator_client, gemeente):
    family_id = steungezin(app, gemeente, adults=(("=HYPERLINK(\"http://x\")", "Visser", 1970),), children=())
    vog_id = in_tenant(app, gemeente, lambda: db.session.scalar(
        select(VogRecord.id).where(VogRecord.family_id == family_id)))
    base = f"/{gemeente.slug}/app/vog"

    page = coordinator_client.get(f"{base}/").get_data(as_text=True)
    assert f"{base}/{vog_id}" in page and f"/{gemeente.slug}/app/gezinnen/{family_id}" in page
    assert ">VOG</a>" in page  # the nav item
    family_page = coordinator_client.get(f"/{gemeente.slug}/app/gezinnen/{family_id}").get_data(as_text=True)
    assert f"{base}/{vog_id}" in family_page and "nodig" in family_page

    token = csrf_token(coordinator_client, f"{base}/{vog_id}")
    response = coordinator_client.post(f"{base}/{vog_id}/aangevraagd",
                                       data={"csrf_token": token, "requested_on": "31-12-2999"})
    assert response.status_code == 422 and "ligt in de toekomst" in response.get_data(as_text=True)
    requested = local_today() - timedelta(days=30)
    response = coordinator_client.post(f"{base}/{vog_id}/aangevraagd", data={
        "csrf_token": token, "requested_on": requested.strftime("%d-%m-%Y"), "reference": "JUS-9"})
    assert response.status_code == 302
    assert "aangevraagd" in coordinator_client.get(f"{base}/?filter=aangevraagd").get_data(as_text=True)
    response = coordinator_client.post(f"{base}/{vog_id}/ontvangen", data={
        "csrf_token": token, "issued_on": (requested + timedelta(days=10)).strftime("%d-%m-%Y"),
        "checked_on": "niet-een-datum"})
    assert response.status_code == 422 and "dag-maand-jaar" in response.get_data(as_text=True)
    response = coordinator_client.post(f"{base}/{vog_id}/ontvangen", data={
        "csrf_token": token, "issued_on": (requested + timedelta(days=10)).strftime("%d-%m-%Y"),
        "checked_on": local_today().strftime("%d-%m-%Y")})
    assert response.status_code == 302
    vog = in_tenant(app, gemeente, lambda: db.session.get(VogRecord, vog_id))
    assert vog.status == "ontvangen" and vog.checked_by_label

    response = coordinator_client.get(f"{base}/export.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff")), delimiter=";"))
    assert rows[0][0] == "Naam" and len(rows) == 2
    assert rows[1][0] == "'=HYPERLINK(\"http://x\") Visser"  # inert text, not a formula
    assert rows[1][2] == "ontvangen" and rows[1][4] == "JUS-9"
    assert in_tenant(app, gemeente, lambda: db.session.scalar(
        select(AuditEvent.id).where(AuditEvent.action == "vog.exported"))) is not None


def test_gemeente_viewer_has_no_access(app, client, make, gemeente):
    from domain.accounts.models import TenantRole
    login(client, make.user(gemeente, TenantRole.GEMEENTE_VIEWER), f"/{gemeente.slug}")
    assert client.get(f"/{gemeente.slug}/app/vog/").status_code == 403
    assert client.get(f"/{gemeente.slug}/app/vog/export.csv").status_code == 403


# --- tenant isolation ----------------------------------------------------------------------------------


def test_another_gemeentes_vogs_are_invisible(app, make, client):
    a, b = make.tenant(), make.tenant()
    family_b = steungezin(app, b, adults=(("Geheimpiet", "B", 1970),), children=())
    family_a = steungezin(app, a, adults=(("Eigenpiet", "A", 1970),), children=())
    vog_b = one_vog(app, b, family_b, "Geheimpiet")
    login(client, make.user(a), f"/{a.slug}")
    base = f"/{a.slug}/app/vog"
    for filter_key in ("", "?filter=ontbreekt"):
        page = client.get(f"{base}/{filter_key}").get_data(as_text=True)
        assert "Eigenpiet" in page and "Geheimpiet" not in page
    assert "Geheimpiet" not in client.get(f"{base}/export.csv").get_data(as_text=True)
    assert client.get(f"{base}/{vog_b}").status_code == 404
    own = one_vog(app, a, family_a, "Eigenpiet")
    token = csrf_token(client, f"{base}/{own}")
    response = client.post(f"{base}/{vog_b}/aangevraagd", data={"csrf_token": token, "requested_on": "01-01-2026"})
    assert response.status_code == 404
    assert in_tenant(app, b, lambda: db.session.get(VogRecord, vog_b).status) == "nodig"


def test_privacy_export_lists_vogs_and_anonymisation_removes_them(app, gemeente):
    family_id = steungezin(app, gemeente)

    def run():
        family = db.session.get(Family, family_id)
        assert len(family_export(family)["vog_records"]) == 2
        anonymise_family(family, SYSTEM, datetime.now(UTC))
        db.session.commit()
        assert records_of(family_id) == {}
        # An anonymised family gets none back.
        assert ensure_vog_records(family, today=TODAY) == []
    in_tenant(app, gemeente, run)
