"""Privacy: the export of everything about one family (AVG art. 15), and anonymisation after retention.

Families are written straight into the database (in their tenant's context, through the app role);
the retention sweep runs with an explicit ``now`` over all tenants, so assertions look only at this
test's families.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from flask import Flask
from sqlalchemy import func, select

from domain.accounts.models import TenantRole
from domain.audit.models import AuditEvent
from domain.audit.services import SYSTEM, record
from domain.email.models import OutboundEmail
from domain.families.models import (
    Consent,
    Family,
    FamilyMember,
    FamilyNote,
    FamilyStatusChange,
    IntakeVisit,
    PublicListing,
)
from domain.families.privacy import ANONYMISED_NAME, anonymise_family, family_export
from domain.sweeps import SWEEPS
from domain.sweeps.family_retention import FAMILY_RETENTION, due_query, months_before
from tenants.db import db
from tenants.models import DEFAULT_TENANT_SETTINGS, Tenant
from tests.conftest import login
from tests.test_invitations import in_tenant
from worker.schedule import beat_schedule


def add_family(app: Flask, tenant_id: int, *, status: str = "wachtend", closed_at: datetime | None = None,
               kind: str = "vraag") -> dict:
    """A family with everything the system can hold about it; returns its id and distinctive strings."""
    marker = uuid.uuid4().hex[:8]
    info = {"marker": marker, "first": f"Voornaam{marker}", "last": f"Achternaam{marker}",
            "email": f"gezin-{marker}@example.org", "note": f"Notitie {marker}", "wish": f"Wens {marker}",
            "intake": f"Opvoeding {marker}", "listing": f"Moeder met twee jongens {marker}",
            "subject": f"Bevestiging {marker}", "referrer": f"Buurtteam Noord {marker}"}

    def work():
        family = Family(tenant_id=tenant_id, kind=kind, status=status, email=info["email"], phone="06 12345678",
                        street_address=f"Dorpsstraat {marker}", postcode="9201 AB", pc4="9201", place="Drachten",
                        latitude=53.11, longitude=6.09, referral_source="buurtteam", referrer_name=info["referrer"],
                        referrer_email=f"verwijzer-{marker}@example.org", registration_wish=info["wish"],
                        registration_availability=f"Woensdag {marker}", support_codes=["opvang", "huiswerkplek"],
                        availability={"wo": ["middag"]}, competence={"opmerking": f"Geduldig {marker}"},
                        status_reason="verhuisd" if status == "afgemeld" else None, closed_at=closed_at,
                        registered_at=datetime(2020, 1, 6, tzinfo=UTC))
        db.session.add(family)
        db.session.flush()
        t, f = tenant_id, family.id
        db.session.add_all([
            FamilyMember(tenant_id=t, family_id=f, role="volwassene", first_name=info["first"], last_name=info["last"],
                         birth_year=1985, birth_date=date(1985, 4, 3), is_contact=True),
            FamilyMember(tenant_id=t, family_id=f, role="kind", first_name=f"Kind{marker}", birth_year=2016),
            Consent(tenant_id=t, family_id=f, kind="verwerking", text_version="v1", given_by=info["referrer"]),
            FamilyStatusChange(tenant_id=t, family_id=f, from_status=None, to_status=status,
                               reason=f"Reden {marker}"),
            FamilyNote(tenant_id=t, family_id=f, body=info["note"], author_label="coördinator"),
            IntakeVisit(tenant_id=t, family_id=f, visited_on=date(2020, 2, 1), support_wanted=f"Steun {marker}",
                        upbringing_values=info["intake"], expectations=f"Verwacht {marker}",
                        gives_back=f"Terug {marker}", notes=f"Intakenotitie {marker}"),
            PublicListing(tenant_id=t, family_id=f, title=info["listing"], situation="Druk gezin",
                          looking_for="Wij zoeken een gezin dat…", area_label="Drachten"),
            OutboundEmail(tenant_id=t, to_address=info["email"], template="registration_confirmation",
                          subject=info["subject"], body_text=f"Beste {info['first']}",
                          context={"name": info["first"]}, status="sent"),
        ])
        record("family.status_changed", SYSTEM, object_type="family", object_id=f, details={"to": status})
        return f

    info["id"] = in_tenant(app, tenant_id, work)
    return info


def set_retention(app: Flask, tenant_id: int, months: int | None) -> None:
    def work():
        tenant = db.session.get(Tenant, tenant_id)
        tenant.settings = {} if months is None else {**tenant.settings, "family_retention_months": months}
    in_tenant(app, tenant_id, work)


def snapshot(app: Flask, tenant_id: int, family_id: int) -> dict:
    def read():
        family = db.session.get(Family, family_id)
        rows = lambda model: db.session.scalars(select(model).where(model.family_id == family_id)  # noqa: E731
                                                .order_by(model.id)).all()
        return {
            "family": {c: getattr(family, c) for c in (
                "kind", "status", "email", "phone", "street_address", "postcode", "pc4", "place", "latitude",
                "longitude", "referral_source", "referrer_name", "referrer_email", "registration_wish",
                "registration_availability", "support_codes", "availability", "competence", "status_reason",
                "registered_at", "closed_at", "anonymised_at")},
            "members": [(m.role, m.first_name, m.last_name, m.birth_year, m.birth_date) for m in rows(FamilyMember)],
            "notes": [n.body for n in rows(FamilyNote)],
            "visits": [(v.visited_on, v.support_wanted, v.upbringing_values, v.expectations, v.gives_back, v.notes)
                       for v in rows(IntakeVisit)],
            "listing": [p.title for p in rows(PublicListing)],
            "consents": [(c.kind, c.text_version, c.given_by) for c in rows(Consent)],
            "history": [(h.to_status, h.reason) for h in rows(FamilyStatusChange)],
            "anonymised_events": db.session.scalar(select(func.count()).select_from(AuditEvent).where(
                AuditEvent.action == "family.anonymised", AuditEvent.object_id == family_id)),
        }
    return in_tenant(app, tenant_id, read)


def mails_with_subject(app: Flask, tenant_id: int, subject: str) -> int:
    return in_tenant(app, tenant_id, lambda: db.session.scalar(
        select(func.count()).select_from(OutboundEmail).where(OutboundEmail.subject == subject)))


def run_retention(app: Flask, now: datetime):
    with app.app_context():
        try:
            return FAMILY_RETENTION.run(now)
        finally:
            db.session.remove()


# --- the export ------------------------------------------------------------------------------------------


@pytest.fixture
def families(app, two_tenants):
    a, b = two_tenants["a"], two_tenants["b"]
    return {"mine": add_family(app, a.id), "neighbour": add_family(app, a.id), "b": add_family(app, b.id)}


def export_events(app: Flask, tenant_id: int, family_id: int) -> list[dict]:
    return in_tenant(app, tenant_id, lambda: db.session.scalars(select(AuditEvent.details).where(
        AuditEvent.action == "family.exported", AuditEvent.object_id == family_id).order_by(AuditEvent.id)).all())


@pytest.mark.parametrize("who", ["a_coordinator", "a_admin"])
def test_export_holds_everything_about_the_family_and_nothing_else(app, client, two_tenants, families, who):
    a = two_tenants["a"]
    login(client, two_tenants[who], f"/{a.slug}")
    mine, neighbour = families["mine"], families["neighbour"]
    response = client.get(f"/{a.slug}/app/gezinsbeheer/{mine['id']}/export.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert "attachment" in response.headers["Content-Disposition"]
    data = json.loads(response.data)
    assert data["family"]["id"] == mine["id"] and data["family"]["email"] == mine["email"]
    assert data["family"]["registration_wish"] == mine["wish"]
    assert {m["first_name"] for m in data["members"]} == {mine["first"], f"Kind{mine['marker']}"}
    assert [c["kind"] for c in data["consents"]] == ["verwerking"]
    assert [h["to_status"] for h in data["status_history"]] == ["wachtend"]
    assert [n["body"] for n in data["notes"]] == [mine["note"]]
    assert [v["upbringing_values"] for v in data["intake_visits"]] == [mine["intake"]]
    assert data["public_listing"]["title"] == mine["listing"]
    assert [e["subject"] for e in data["emails"]] == [mine["subject"]]
    assert "family.status_changed" in [e["action"] for e in data["audit_events"]]
    assert "tenant_id" not in data["family"]
    body = response.get_data(as_text=True)
    for other in (neighbour, families["b"]):
        for key in ("first", "email", "note", "intake", "listing", "subject"):
            assert other[key] not in body, (key, other[key])
    assert [event["format"] for event in export_events(app, a.id, mine["id"])] == ["json"]

    page = client.get(f"/{a.slug}/app/gezinsbeheer/{mine['id']}/inzage")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    for key in ("first", "email", "note", "intake", "listing", "subject", "wish"):
        assert mine[key] in html, key
    for other in (neighbour, families["b"]):
        assert other["first"] not in html and other["email"] not in html
    assert [event["format"] for event in export_events(app, a.id, mine["id"])] == ["json", "html"]


def test_another_tenants_family_is_404_like_a_missing_one(app, client, two_tenants, families):
    a, b = two_tenants["a"], two_tenants["b"]
    login(client, two_tenants["a_coordinator"], f"/{a.slug}")
    for path in ("export.json", "inzage"):
        foreign = client.get(f"/{a.slug}/app/gezinsbeheer/{families['b']['id']}/{path}")
        missing = client.get(f"/{a.slug}/app/gezinsbeheer/2000000000/{path}")
        assert foreign.status_code == missing.status_code == 404
        assert families["b"]["email"] not in foreign.get_data(as_text=True)
    # B's own URL, with A's session: to B's login, never B's data.
    response = client.get(f"/{b.slug}/app/gezinsbeheer/{families['b']['id']}/export.json")
    assert response.status_code == 302 and response.headers["Location"].startswith(f"/{b.slug}/login")
    assert export_events(app, b.id, families["b"]["id"]) == []


def test_gemeente_viewer_may_not_export(app, make):
    gemeente = make.tenant()
    viewer = make.user(gemeente, TenantRole.GEMEENTE_VIEWER)
    family = add_family(app, gemeente.id)
    client = app.test_client()
    login(client, viewer, f"/{gemeente.slug}")
    assert client.get(f"/{gemeente.slug}/app/gezinsbeheer/{family['id']}/export.json").status_code == 403
    assert client.get(f"/{gemeente.slug}/app/gezinsbeheer/{family['id']}/inzage").status_code == 403
    assert export_events(app, gemeente.id, family["id"]) == []


# --- retention ---------------------------------------------------------------------------------------------


def test_retention_is_a_tenant_setting_and_a_daily_registered_sweep(settings):
    assert DEFAULT_TENANT_SETTINGS["family_retention_months"] == 24
    assert SWEEPS["family_retention"] is FAMILY_RETENTION
    assert beat_schedule(settings)["sweep-family-retention"] == {
        "task": "sweeps.run", "schedule": 86400.0, "kwargs": {"name": "family_retention"}}


def test_months_before():
    assert months_before(datetime(2025, 3, 31, 8, tzinfo=UTC), 1) == datetime(2025, 2, 28, 8, tzinfo=UTC)
    assert months_before(datetime(2025, 1, 15, tzinfo=UTC), 24) == datetime(2023, 1, 15, tzinfo=UTC)
    assert months_before(datetime(2025, 1, 5, tzinfo=UTC), 1) == datetime(2024, 12, 5, tzinfo=UTC)
    assert months_before(datetime(2024, 12, 5, tzinfo=UTC), 12) == datetime(2023, 12, 5, tzinfo=UTC)


def test_a_family_afgemeld_beyond_the_retention_period_is_anonymised(app, make):
    gemeente = make.tenant()
    now = datetime.now(UTC)
    old = add_family(app, gemeente.id, status="afgemeld", closed_at=months_before(now, 25))
    recent = add_family(app, gemeente.id, status="afgemeld", closed_at=months_before(now, 23))
    active = add_family(app, gemeente.id, status="wachtend", closed_at=months_before(now, 30))  # not afgemeld
    before = {f["id"]: snapshot(app, gemeente.id, f["id"]) for f in (old, recent, active)}

    report = run_retention(app, now)
    assert gemeente.id not in report.failed_tenants and report.enqueued >= 1

    after = snapshot(app, gemeente.id, old["id"])
    family, was = after["family"], before[old["id"]]["family"]
    # Gone:
    for column in ("email", "phone", "street_address", "referrer_name", "referrer_email", "registration_wish",
                   "registration_availability", "status_reason"):
        assert family[column] is None, column
    assert family["competence"] == {}
    assert family["postcode"] == "9201"
    assert after["members"] == [("volwassene", ANONYMISED_NAME, None, None, None),
                                ("kind", ANONYMISED_NAME, None, 2016, None)]
    assert after["notes"] == [] and after["listing"] == []
    assert after["visits"] == [(date(2020, 2, 1), None, None, None, None, None)]
    assert after["history"] == [("afgemeld", None)]
    assert after["consents"] == [("verwerking", "v1", ANONYMISED_NAME)]
    assert mails_with_subject(app, gemeente.id, old["subject"]) == 0
    # Kept, for aggregates:
    for column in ("kind", "status", "pc4", "place", "latitude", "longitude", "referral_source", "support_codes",
                   "availability", "registered_at", "closed_at"):
        assert family[column] == was[column], column
    assert family["anonymised_at"] == now
    assert after["anonymised_events"] == 1

    # Not yet due, and not afgemeld: untouched.
    assert snapshot(app, gemeente.id, recent["id"]) == before[recent["id"]]
    assert snapshot(app, gemeente.id, active["id"]) == before[active["id"]]
    assert mails_with_subject(app, gemeente.id, recent["subject"]) == 1

    # Again, now and a day later: nothing more changes.
    run_retention(app, now)
    run_retention(app, now + timedelta(days=1))
    assert snapshot(app, gemeente.id, old["id"]) == after
    assert snapshot(app, gemeente.id, active["id"]) == before[active["id"]]
    # A month later the 23-month family is due too.
    run_retention(app, now + timedelta(days=62))
    assert snapshot(app, gemeente.id, recent["id"])["family"]["anonymised_at"] == now + timedelta(days=62)


def test_each_tenant_applies_its_own_retention_and_only_to_its_own_families(app, two_tenants):
    a, b = two_tenants["a"], two_tenants["b"]
    set_retention(app, a.id, 6)
    set_retention(app, b.id, 36)
    now = datetime.now(UTC)
    a_seven = add_family(app, a.id, status="afgemeld", closed_at=months_before(now, 7))
    a_five = add_family(app, a.id, status="afgemeld", closed_at=months_before(now, 5))
    b_25 = add_family(app, b.id, status="afgemeld", closed_at=months_before(now, 25))
    b_before = snapshot(app, b.id, b_25["id"])

    # In A's context, a query asking (wrongly) for B's due families sees nothing.
    assert in_tenant(app, a.id, lambda: db.session.execute(due_query(b.id, now + timedelta(days=9999))).all()) == []

    report = run_retention(app, now)
    assert a.id not in report.failed_tenants and b.id not in report.failed_tenants
    assert snapshot(app, a.id, a_seven["id"])["family"]["anonymised_at"] == now
    assert snapshot(app, a.id, a_five["id"])["family"]["anonymised_at"] is None
    assert snapshot(app, b.id, b_25["id"]) == b_before  # B keeps 36 months

    # With the default (24 months) B's family would be due: the setting, not a constant, decides.
    set_retention(app, b.id, None)
    run_retention(app, now)
    assert snapshot(app, b.id, b_25["id"])["family"]["anonymised_at"] == now


def test_a_broken_setting_fails_that_tenant_only(app, two_tenants):
    a, b = two_tenants["a"], two_tenants["b"]
    in_tenant(app, a.id, lambda: setattr(db.session.get(Tenant, a.id), "settings",
                                         {"family_retention_months": "twee jaar"}))
    now = datetime.now(UTC)
    a_old = add_family(app, a.id, status="afgemeld", closed_at=months_before(now, 30))
    b_old = add_family(app, b.id, status="afgemeld", closed_at=months_before(now, 30))
    report = run_retention(app, now)
    assert a.id in report.failed_tenants and b.id not in report.failed_tenants
    assert snapshot(app, a.id, a_old["id"])["family"]["anonymised_at"] is None
    assert snapshot(app, b.id, b_old["id"])["family"]["anonymised_at"] == now


def test_koppelingen_and_evaluations_are_in_the_export_and_their_free_texts_go_at_anonymisation(app, make):
    from domain.evaluations.models import EvaluationRequest
    from domain.koppelingen.models import Koppeling, MatchExclusion
    from tests.test_koppelingen import pair, proposed, run
    from tests.test_vog import TODAY

    gemeente = make.tenant()
    vraag, steun = pair(app, gemeente)
    koppeling_id = proposed(app, gemeente, vraag, steun)
    _, other_steun = pair(app, gemeente)

    def add_texts():
        koppeling = db.session.get(Koppeling, koppeling_id)
        koppeling.location = "Bij Piet thuis, Lindelaan 4"
        db.session.add(EvaluationRequest(tenant_id=gemeente.id, koppeling_id=koppeling_id, family_id=vraag,
                                         role="vraag", moment="proefperiode", due_on=TODAY, token_hash="f" * 64,
                                         expires_at=datetime.now(UTC), remarks="Tess slaapt slecht."))
        db.session.add(MatchExclusion(tenant_id=gemeente.id, vraag_family_id=vraag, steun_family_id=other_steun,
                                      reason="Kent de vader van Tess."))
    run(app, gemeente, add_texts)

    def export_and_anonymise():
        family = db.session.get(Family, vraag)
        exported = family_export(family)
        anonymise_family(family, SYSTEM, datetime.now(UTC))
        db.session.commit()
        koppeling = db.session.get(Koppeling, koppeling_id)
        remarks = db.session.scalar(select(EvaluationRequest.remarks).where(EvaluationRequest.family_id == vraag))
        exclusions = db.session.scalars(select(MatchExclusion).where(MatchExclusion.vraag_family_id == vraag)).all()
        return exported, koppeling.location, koppeling.status, remarks, exclusions
    exported, location, status, remarks, exclusions = in_tenant(app, gemeente.id, export_and_anonymise)
    assert [k["id"] for k in exported["koppelingen"]] == [koppeling_id]
    assert exported["evaluations"][0]["remarks"] == "Tess slaapt slecht."
    assert "token_hash" not in exported["evaluations"][0]
    assert exported["match_exclusions"][0]["reason"] == "Kent de vader van Tess."
    assert (location, remarks, exclusions) == (None, None, [])
    assert status == "voorgesteld"  # the facts stay for the figures
