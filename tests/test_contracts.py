"""Contracts (samenwerkingsovereenkomsten) for the national office: adding one for a gemeente
(validated, nothing saved on error, audited nationally and in the gemeente), the list across
gemeenten with "loopt binnenkort af" first, making and sending the samenwerkingsovereenkomst, the
national home page, reminders 90 and 30 days before the end (exactly once per occasion and end
date, with the clock moved by time-machine), and who may do what."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime, time, timedelta

import pytest
import time_machine
from sqlalchemy import select

from domain.accounts.models import NationalRole, TenantRole
from domain.audit.models import AuditEvent, NationalAuditEvent
from domain.documents.contracts import REMINDER_TEMPLATE, occasion
from domain.documents.models import Contract, Document, DocumentKind, DocumentSigner, DocumentStatus
from domain.documents.services import render_document
from domain.email.models import OutboundEmail
from domain.families.records import LOCAL_TIME, local_today
from domain.sweeps import SWEEPS
from domain.sweeps.contract_reminders import CONTRACT_REMINDERS
from tenants.db import db
from tests.conftest import csrf_token, login, random_ip
from tests.test_vog import in_tenant
from worker.schedule import beat_schedule

END = date(2027, 3, 31)


@pytest.fixture
def gemeente(make):
    return make.tenant()


@pytest.fixture
def admin(make):
    return make.national_user(NationalRole.NATIONAL_ADMIN)


def client_of(app, person=None, prefix="/landelijk"):
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = random_ip()
    if person is not None:
        login(client, person, prefix)
    return client


def form(target, /, **changes) -> dict:
    data = {"gemeente": str(target.id), "starts_on": "2025-04-01", "ends_on": END.isoformat(),
            "koppelingen_target": "25", "budget_eur": "45000", "contact_name": "Wethouder de Vries",
            "contact_email": f"wethouder-{uuid.uuid4().hex[:6]}@gemeente.example.nl"}
    return {**data, **changes}


def post_new(client, data):
    token = csrf_token(client, "/landelijk/contracten/nieuw")
    return client.post("/landelijk/contracten/nieuw", data={**data, "csrf_token": token})


def contracts_of(app, gemeente) -> list[Contract]:
    def read():
        rows = list(db.session.scalars(select(Contract).order_by(Contract.id)))
        db.session.expunge_all()
        return rows
    return in_tenant(app, gemeente, read)


def add_contract(app, gemeente, ends_on: date, starts_on: date = date(2024, 1, 1), email: str | None = None) -> int:
    def add():
        contract = Contract(tenant_id=gemeente.id, starts_on=starts_on, ends_on=ends_on, koppelingen_target=10,
                            budget_eur=20000, contact_name="Contact Gemeente",
                            contact_email=email or f"contact-{uuid.uuid4().hex[:6]}@gemeente.example.nl")
        db.session.add(contract)
        db.session.commit()
        return contract.id
    return in_tenant(app, gemeente, add)


# --- adding ---------------------------------------------------------------------------------------------------


def test_a_national_admin_adds_a_contract_audited_nationally_and_in_the_gemeente(app, gemeente, admin):
    client = client_of(app, admin)
    response = post_new(client, form(gemeente))
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    [contract] = contracts_of(app, gemeente)
    assert (contract.starts_on, contract.ends_on, contract.koppelingen_target, contract.budget_eur,
            contract.contact_name) == (date(2025, 4, 1), END, 25, 45000, "Wethouder de Vries")
    with app.app_context():
        national = db.session.scalar(select(NationalAuditEvent).where(
            NationalAuditEvent.action == "contract.created", NationalAuditEvent.object_id == contract.id,
            NationalAuditEvent.details["tenant_id"].as_integer() == gemeente.id))
        assert national is not None and national.actor_label == admin.email
        db.session.remove()
    local = in_tenant(app, gemeente, lambda: db.session.scalar(select(AuditEvent.action).where(
        AuditEvent.object_type == "contract", AuditEvent.object_id == contract.id)))
    assert local == "contract.created"
    page = client.get("/landelijk/contracten/", follow_redirects=True).get_data(as_text=True)
    assert gemeente.name in page and "31 maart 2027" in page


@pytest.mark.parametrize(("changes", "field", "message"), [
    ({"ends_on": "2025-03-01"}, "ends_on", "De einddatum moet na de begindatum liggen."),
    ({"ends_on": "2025-04-01"}, "ends_on", "De einddatum moet na de begindatum liggen."),
    ({"starts_on": ""}, "starts_on", "Vul de begindatum in."),
    ({"ends_on": "31-13-2027"}, "ends_on", "De einddatum klopt niet."),
    ({"koppelingen_target": "-3"}, "koppelingen_target", "Het aantal koppelingen kan niet negatief zijn."),
    ({"budget_eur": "-1"}, "budget_eur", "Het budget kan niet negatief zijn."),
    ({"budget_eur": "45.000,50"}, "budget_eur", "Het budget moet een heel getal zijn"),
    ({"budget_eur": ""}, "budget_eur", "Het budget ontbreekt."),
    ({"contact_name": "  "}, "contact_name", "Vul de naam in"),
    ({"contact_email": "geen-adres"}, "contact_email", "Dit e-mailadres klopt niet."),
    ({"gemeente": ""}, "gemeente", "Kies de gemeente van het contract."),
    ({"gemeente": "2000000000"}, "gemeente", "Kies de gemeente van het contract."),
])
def test_wrong_input_is_explained_and_nothing_is_saved(app, gemeente, admin, changes, field, message):
    client = client_of(app, admin)
    response = post_new(client, form(gemeente, **changes))
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Het contract is niet opgeslagen" in html
    assert re.search(rf'id="{field}-error"[^>]*>\s*<p class="utrecht-paragraph">{re.escape(message)}', html), html
    assert f'id="{field}"' in html and 'aria-invalid="true"' in html
    assert contracts_of(app, gemeente) == []
    with app.app_context():
        assert db.session.scalar(select(NationalAuditEvent.id).where(
            NationalAuditEvent.action == "contract.created",
            NationalAuditEvent.details["tenant_id"].as_integer() == gemeente.id)) is None
        db.session.remove()


def test_zero_is_a_valid_target_and_budget(app, gemeente, admin):
    response = post_new(client_of(app, admin), form(gemeente, koppelingen_target="0", budget_eur="0"))
    assert response.status_code == 302
    assert [(c.koppelingen_target, c.budget_eur) for c in contracts_of(app, gemeente)] == [(0, 0)]


def test_an_analyst_reads_the_list_but_cannot_add_or_send(app, gemeente, make):
    analyst = make.national_user(NationalRole.NATIONAL_ANALYST)
    contract_id = add_contract(app, gemeente, END)
    client = client_of(app, analyst)
    page = client.get("/landelijk/contracten/")
    assert page.status_code == 200 and gemeente.name in page.get_data(as_text=True)
    assert "Contract toevoegen" not in page.get_data(as_text=True)
    assert client.get("/landelijk/contracten/nieuw").status_code == 403
    token = csrf_token(client, "/landelijk/contracten/")
    assert client.post("/landelijk/contracten/nieuw", data={**form(gemeente), "csrf_token": token}).status_code == 403
    for action in ("overeenkomst", "versturen"):
        response = client.post(f"/landelijk/contracten/{action}",
                               data={"gemeente": gemeente.id, "contract": contract_id, "csrf_token": token})
        assert response.status_code == 403
    assert len(contracts_of(app, gemeente)) == 1
    assert in_tenant(app, gemeente, lambda: db.session.scalar(select(Document.id))) is None


def test_a_gemeentes_staff_cannot_reach_the_national_contract_pages(app, gemeente, make):
    contract_id = add_contract(app, gemeente, END)
    for role in (TenantRole.TENANT_ADMIN, TenantRole.COORDINATOR):
        client = client_of(app, make.user(gemeente, role), f"/{gemeente.slug}")
        token = csrf_token(client, f"/{gemeente.slug}/app/")
        for path in ("/landelijk/contracten/", "/landelijk/contracten/nieuw"):
            response = client.get(path)
            assert response.status_code == 302 and response.headers["Location"].startswith("/landelijk/login")
        for path in ("/landelijk/contracten/nieuw", "/landelijk/contracten/overeenkomst",
                     "/landelijk/contracten/versturen"):
            response = client.post(path, data={**form(gemeente), "contract": contract_id, "csrf_token": token})
            assert response.status_code in (302, 400, 403)
            assert "Wethouder" not in response.get_data(as_text=True)
    assert len(contracts_of(app, gemeente)) == 1


# --- the list and the home page -----------------------------------------------------------------------------


def test_contracts_ending_soon_come_first_and_show_on_the_home_page(app, make, admin):
    today = local_today()
    later, soon = make.tenant(), make.tenant()
    add_contract(app, later, today + timedelta(days=400))
    add_contract(app, soon, today + timedelta(days=60))
    client = client_of(app, admin)
    html = client.get("/landelijk/contracten/").get_data(as_text=True)
    assert html.index(soon.name) < html.index(later.name)
    assert html.count("loopt binnenkort af") >= 1
    home = client.get("/landelijk/").get_data(as_text=True)
    section = home[home.index('id="contracten-binnenkort"'):]
    from domain.families.records import dutch_day
    assert f"{soon.name}: loopt af op {dutch_day(today + timedelta(days=60))}" in section
    assert later.name not in section[:section.index("Alle contracten")]


# --- the samenwerkingsovereenkomst --------------------------------------------------------------------------


def test_the_admin_makes_and_sends_the_samenwerkingsovereenkomst(app, gemeente, admin):
    contract_id = add_contract(app, gemeente, END, email="contact@gemeente.example.nl")
    client = client_of(app, admin)
    token = csrf_token(client, "/landelijk/contracten/")
    ids = {"gemeente": gemeente.id, "contract": contract_id, "csrf_token": token}
    # Not made yet: nothing to send.
    response = client.post("/landelijk/contracten/versturen", data=ids, follow_redirects=True)
    assert "nog niet klaar om te versturen" in response.get_data(as_text=True)
    assert client.post("/landelijk/contracten/overeenkomst", data=ids).status_code == 302
    document = in_tenant(app, gemeente, lambda: db.session.scalar(select(Document)))
    assert document.kind == DocumentKind.SAMENWERKING and document.contract_id == contract_id
    page = client.get("/landelijk/contracten/").get_data(as_text=True)
    assert "wordt gemaakt" in page

    def render():  # the worker's job, here in the test
        render_document(db.session.get(Document, document.id))
        db.session.commit()
    in_tenant(app, gemeente, render)
    assert "Versturen ter ondertekening" in client.get("/landelijk/contracten/").get_data(as_text=True)
    response = client.post("/landelijk/contracten/versturen", data=ids)
    assert response.status_code == 302

    def signers():
        return [(s.role, s.name, s.email) for s in db.session.scalars(
            select(DocumentSigner).order_by(DocumentSigner.position))]
    assert in_tenant(app, gemeente, signers) == [("gemeente", "Contact Gemeente", "contact@gemeente.example.nl"),
                                                 ("stichting", "Test national_admin", admin.email)]
    assert in_tenant(app, gemeente, lambda: db.session.get(Document, document.id).status) == DocumentStatus.VERZONDEN
    mails = in_tenant(app, gemeente, lambda: sorted(db.session.scalars(
        select(OutboundEmail.to_address).where(OutboundEmail.template == "document_sign_request"))))
    assert mails == sorted(["contact@gemeente.example.nl", admin.email])
    with app.app_context():
        actions = set(db.session.scalars(select(NationalAuditEvent.action).where(
            NationalAuditEvent.object_id == contract_id,
            NationalAuditEvent.details["tenant_id"].as_integer() == gemeente.id)))
        db.session.remove()
    assert {"contract.document_created", "contract.document_sent"} <= actions
    # Sent: it cannot be sent again.
    again = client.post("/landelijk/contracten/versturen", data=ids, follow_redirects=True)
    assert "nog niet klaar" in again.get_data(as_text=True)


def test_another_gemeentes_contract_id_is_not_found(app, make, admin):
    a, b = make.tenant(), make.tenant()
    contract_id = add_contract(app, b, END)
    client = client_of(app, admin)
    token = csrf_token(client, "/landelijk/contracten/")
    response = client.post("/landelijk/contracten/overeenkomst",
                           data={"gemeente": a.id, "contract": contract_id, "csrf_token": token})
    assert response.status_code == 404
    assert in_tenant(app, b, lambda: db.session.scalar(select(Document.id))) is None


# --- reminders ------------------------------------------------------------------------------------------------


def morning(day: date) -> datetime:
    return datetime.combine(day, time(3, 0), tzinfo=LOCAL_TIME).astimezone(UTC)


def sweep_on(app, day: date, gemeente):
    with time_machine.travel(morning(day), tick=False), app.app_context():
        try:
            return CONTRACT_REMINDERS.run(datetime.now(UTC), tenant_ids=[gemeente.id])
        finally:
            db.session.remove()


def reminders(app, gemeente) -> list[tuple[str, int, str]]:
    return in_tenant(app, gemeente, lambda: [
        (m.to_address, m.context["days"], m.context["ends_on"]) for m in db.session.scalars(
            select(OutboundEmail).where(OutboundEmail.template == REMINDER_TEMPLATE).order_by(OutboundEmail.id))])


def test_the_sweep_is_registered_and_scheduled(settings):
    assert SWEEPS["contract_reminders"] is CONTRACT_REMINDERS
    assert any(entry.get("kwargs") == {"name": "contract_reminders"}
               for entry in beat_schedule(settings).values())


def test_occasions():
    assert occasion(END, END - timedelta(days=91)) is None
    assert occasion(END, END - timedelta(days=90)) == 90
    assert occasion(END, END - timedelta(days=31)) == 90
    assert occasion(END, END - timedelta(days=30)) == 30
    assert occasion(END, END) == 30
    assert occasion(END, END + timedelta(days=1)) is None


def test_reminders_90_and_30_days_before_exactly_once(app, gemeente, admin):
    contact = f"contact-{uuid.uuid4().hex[:6]}@gemeente.example.nl"
    contract_id = add_contract(app, gemeente, END, email=contact)
    assert sweep_on(app, END - timedelta(days=91), gemeente).enqueued == 0
    assert reminders(app, gemeente) == []

    first = sweep_on(app, END - timedelta(days=90), gemeente)
    assert first.enqueued == 1 and first.failed_tenants == []
    sent = reminders(app, gemeente)
    assert (contact, 90, "31 maart 2027") in sent and (admin.email, 90, "31 maart 2027") in sent
    count = len(sent)
    # Again the same day and the days after: nothing new.
    for day in (END - timedelta(days=90), END - timedelta(days=89), END - timedelta(days=31)):
        assert sweep_on(app, day, gemeente).enqueued == 0
    assert len(reminders(app, gemeente)) == count

    assert sweep_on(app, END - timedelta(days=30), gemeente).enqueued == 1
    thirty = [r for r in reminders(app, gemeente) if r[1] == 30]
    assert (contact, 30, "31 maart 2027") in thirty and (admin.email, 30, "31 maart 2027") in thirty
    assert sweep_on(app, END - timedelta(days=30), gemeente).enqueued == 0
    assert sweep_on(app, END - timedelta(days=5), gemeente).enqueued == 0
    assert sweep_on(app, END + timedelta(days=1), gemeente).enqueued == 0
    assert len([r for r in reminders(app, gemeente) if r[0] == contact]) == 2

    # A new end date: the reminders of that date come again.
    new_end = date(2028, 3, 31)

    def extend():
        db.session.get(Contract, contract_id).ends_on = new_end
        db.session.commit()
    in_tenant(app, gemeente, extend)
    assert sweep_on(app, new_end - timedelta(days=90), gemeente).enqueued == 1
    assert (contact, 90, "31 maart 2028") in reminders(app, gemeente)
    events = in_tenant(app, gemeente, lambda: list(db.session.scalars(select(AuditEvent.details).where(
        AuditEvent.action == "contract.reminded", AuditEvent.object_id == contract_id))))
    assert [(e["days"], e["ends_on"]) for e in events] == [(90, "2027-03-31"), (30, "2027-03-31"),
                                                           (90, "2028-03-31")]


def test_a_run_after_downtime_sends_only_the_reminder_that_applies(app, gemeente):
    contact = f"contact-{uuid.uuid4().hex[:6]}@gemeente.example.nl"
    add_contract(app, gemeente, END, email=contact)
    assert sweep_on(app, END - timedelta(days=20), gemeente).enqueued == 1
    assert [r[1] for r in reminders(app, gemeente) if r[0] == contact] == [30]
