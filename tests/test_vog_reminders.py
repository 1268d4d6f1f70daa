"""The VOG sweep: reminders to volunteers on exactly the configured days (with the clock moved by
time-machine), renewal reminders that follow a corrected date, expiry with the coordinator's alert,
and none of it for another gemeente, an anonymised or afgemeld family, or twice on one day."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
import time_machine
from sqlalchemy import event, select

from domain.audit.models import AuditEvent
from domain.audit.services import SYSTEM
from domain.email.models import OutboundEmail
from domain.families.models import Family
from domain.families.privacy import anonymise_family
from domain.families.records import LOCAL_TIME
from domain.koppelingen.models import Koppeling
from domain.sweeps import SWEEPS
from domain.vog.models import VogRecord, VogStatus
from domain.vog.reminders import RENEWAL_TEMPLATE, REQUEST_TEMPLATE, VOG_REMINDERS
from domain.vog.services import add_months, record_received, request_vog
from tenants.db import db
from tenants.models import Tenant
from tests.test_family_records import make_family
from tests.test_vog import COORDINATOR, TODAY, in_tenant, records_of, steungezin
from worker.schedule import beat_schedule

TEMPLATES = (REQUEST_TEMPLATE, RENEWAL_TEMPLATE)


@pytest.fixture
def gemeente(make):
    return make.tenant()


def morning(day: date) -> datetime:
    """Three in the morning, Dutch time, on ``day``: when the sweep typically runs."""
    return datetime.combine(day, time(3, 0), tzinfo=LOCAL_TIME).astimezone(UTC)


def sweep_on(app, day: date, tenants=None, *, twice: bool = False):
    """Run the sweep with the clock at ``day`` (time-machine moves datetime.now, as the task reads it)."""
    with time_machine.travel(morning(day), tick=False), app.app_context():
        try:
            report = VOG_REMINDERS.run(datetime.now(UTC), tenant_ids=[t.id for t in tenants] if tenants else None)
            if twice:
                again = VOG_REMINDERS.run(datetime.now(UTC), tenant_ids=[t.id for t in tenants] if tenants else None)
                assert again.enqueued == 0, "a second run on the same day must change nothing"
            return report
        finally:
            db.session.remove()


def vog_mails(app, gemeente) -> list[dict]:
    def read():
        mails = db.session.scalars(select(OutboundEmail).where(OutboundEmail.template.in_(TEMPLATES))
                                   .order_by(OutboundEmail.id))
        return [{"to": m.to_address, "template": m.template, **m.context} for m in mails]
    return in_tenant(app, gemeente, read)


def with_vog(app, gemeente, family_id: int, name: str, change) -> None:
    def apply():
        change(records_of(family_id)[name])
        db.session.commit()
    in_tenant(app, gemeente, apply)


def requested(app, gemeente, family_id: int, name: str, on: date) -> None:
    with_vog(app, gemeente, family_id, name,
             lambda vog: request_vog(vog, on, "JUS-1", COORDINATOR, today=max(on, TODAY)))


def received(app, gemeente, family_id: int, name: str, issued: date, *, checked: date | None = None) -> None:
    def change(vog):
        if vog.status == VogStatus.NODIG:
            request_vog(vog, issued - timedelta(days=20), None, COORDINATOR, today=issued)
        record_received(vog, issued, checked or issued, COORDINATOR, today=checked or issued)
    with_vog(app, gemeente, family_id, name, change)


def family_email(app, gemeente, family_id: int) -> str:
    return in_tenant(app, gemeente, lambda: db.session.get(Family, family_id).email)


def set_settings(app, gemeente, **values) -> None:
    def apply():
        tenant = db.session.get(Tenant, gemeente.id)
        tenant.settings = {**tenant.settings, **values}
        db.session.commit()
    with app.app_context():
        try:
            apply()
        finally:
            db.session.remove()


def days_with_mail(app, gemeente, start: date, days: int) -> dict[int, list[str]]:
    """Sweep every day (twice) for ``days`` days from ``start``; which day offsets brought which mails."""
    seen: dict[int, list[str]] = {}
    before = len(vog_mails(app, gemeente))
    for offset in range(days + 1):
        sweep_on(app, start + timedelta(days=offset), [gemeente], twice=True)
        mails = vog_mails(app, gemeente)
        if len(mails) > before:
            seen[offset] = [f"{m['template']}:{m['first_name']}" for m in mails[before:]]
            before = len(mails)
    return seen


# --- registry -------------------------------------------------------------------------------------


def test_the_sweep_is_registered_and_scheduled(settings):
    assert SWEEPS["vog_reminders"] is VOG_REMINDERS
    assert beat_schedule(settings)["sweep-vog-reminders"] == {
        "task": "sweeps.run", "schedule": 3600.0, "kwargs": {"name": "vog_reminders"}}


# --- after the request -----------------------------------------------------------------------------


def test_a_requested_vog_brings_reminders_on_day_7_and_14_and_nothing_else(app, gemeente):
    family_id = steungezin(app, gemeente)
    requested(app, gemeente, family_id, "Piet", TODAY)  # Els stays at "nodig": no reminders for her

    assert days_with_mail(app, gemeente, TODAY, 30) == {
        7: [f"{REQUEST_TEMPLATE}:Piet"], 14: [f"{REQUEST_TEMPLATE}:Piet"]}
    mails = vog_mails(app, gemeente)
    assert {m["to"] for m in mails} == {family_email(app, gemeente, family_id)}
    assert [m["days"] for m in mails] == [7, 14]
    assert all(m["date"] == "15 juni 2026" and m["gemeente"] == gemeente.name for m in mails)


def test_none_after_the_vog_is_received(app, gemeente):
    family_id = steungezin(app, gemeente)
    requested(app, gemeente, family_id, "Piet", TODAY)
    assert days_with_mail(app, gemeente, TODAY, 9) == {7: [f"{REQUEST_TEMPLATE}:Piet"]}
    received(app, gemeente, family_id, "Piet", TODAY + timedelta(days=9), checked=TODAY + timedelta(days=10))
    assert days_with_mail(app, gemeente, TODAY + timedelta(days=10), 30) == {}


def test_the_gemeentes_own_offsets_are_used(app, gemeente):
    set_settings(app, gemeente, vog_request_reminder_days=[3, 10, 20])
    family_id = steungezin(app, gemeente)
    requested(app, gemeente, family_id, "Els", TODAY)
    found = days_with_mail(app, gemeente, TODAY, 30)
    assert sorted(found) == [3, 10, 20]


def test_a_corrected_request_date_moves_the_reminders(app, gemeente):
    family_id = steungezin(app, gemeente)
    requested(app, gemeente, family_id, "Piet", TODAY)
    assert days_with_mail(app, gemeente, TODAY, 5) == {}
    # On day 6 the coordinator corrects the request date to day 3: reminders on day 10 and 17.
    with_vog(app, gemeente, family_id, "Piet", lambda vog: request_vog(
        vog, TODAY + timedelta(days=3), "JUS-1", COORDINATOR, today=TODAY + timedelta(days=6)))
    found = days_with_mail(app, gemeente, TODAY + timedelta(days=6), 20)
    assert {offset + 6 for offset in found} == {10, 17}


def test_a_request_found_late_gets_only_the_latest_reminder(app, gemeente):
    """After downtime (or an import) a 16-day-old request gets the 14-day reminder, not two at once."""
    family_id = steungezin(app, gemeente)
    requested(app, gemeente, family_id, "Piet", TODAY)
    assert days_with_mail(app, gemeente, TODAY + timedelta(days=16), 0) == {0: [f"{REQUEST_TEMPLATE}:Piet"]}
    assert [m["days"] for m in vog_mails(app, gemeente)] == [14]
    # and a request long forgotten gets none: that is the coordinator's task, not a mail
    other = steungezin(app, gemeente, adults=(("Kees", "Bakker", 1980),))
    requested(app, gemeente, other, "Kees", TODAY - timedelta(days=60))
    assert days_with_mail(app, gemeente, TODAY, 0) == {}


# --- before renewal ----------------------------------------------------------------------------------


def test_renewal_reminders_60_30_and_7_days_before_and_following_a_corrected_issue_date(app, gemeente):
    family_id = steungezin(app, gemeente)
    issued = date(2023, 9, 1)
    received(app, gemeente, family_id, "Els", issued)
    renewal = add_months(issued, 36)
    start = renewal - timedelta(days=65)

    found = days_with_mail(app, gemeente, start, 36)  # up to 29 days before the renewal date
    assert {(start + timedelta(days=o)) for o in found} == {renewal - timedelta(days=60), renewal - timedelta(days=30)}

    # The coordinator corrects the issue date: one month later, so renewal one month later too.
    corrected = date(2023, 10, 1)
    with_vog(app, gemeente, family_id, "Els", lambda vog: record_received(
        vog, corrected, corrected, COORDINATOR, today=start + timedelta(days=37)))
    new_renewal = add_months(corrected, 36)
    found = days_with_mail(app, gemeente, start + timedelta(days=37), (new_renewal - start).days - 37)
    days = sorted(start + timedelta(days=37 + o) for o in found)
    corrected_on = start + timedelta(days=37)
    # The new date's 60-day moment (2 August) passed before the correction (4 August): it goes
    # on the day of the correction, not lost; then the new 30- and 7-day reminders. No stale one
    # for the old date (old renewal minus 7).
    assert new_renewal - timedelta(days=60) < corrected_on < new_renewal - timedelta(days=30)
    assert days == [corrected_on, new_renewal - timedelta(days=30), new_renewal - timedelta(days=7)]
    assert renewal - timedelta(days=7) not in days
    contexts = vog_mails(app, gemeente)
    assert [m["days"] for m in contexts] == [60, 30, 60, 30, 7]
    assert contexts[-1]["date"] == "1 oktober 2026" and contexts[-1]["template"] == RENEWAL_TEMPLATE


# --- expiry --------------------------------------------------------------------------------------------


def koppeling_with(app, gemeente, steun_id: int, status: str, coordinator_id: int | None) -> int:
    vraag_id = make_family(app, gemeente, status="gekoppeld", adults=(("Anna", "Jansen", 1985),))

    def add():
        koppeling = Koppeling(tenant_id=gemeente.id, vraag_family_id=vraag_id, steun_family_id=steun_id,
                              status=status, coordinator_id=coordinator_id, support_codes=[], proposed_on=TODAY)
        db.session.add(koppeling)
        db.session.commit()
        return koppeling.id
    return in_tenant(app, gemeente, add)


def test_the_day_after_the_renewal_date_the_vog_expires_and_each_active_koppelings_coordinator_hears(
        app, make, gemeente):
    coordinator, colleague = make.user(gemeente), make.user(gemeente)
    two_koppelingen = steungezin(app, gemeente, status="gekoppeld")
    without = steungezin(app, gemeente, status="gekoppeld", adults=(("Kees", "Bakker", 1980),))

    def capacity_two():
        db.session.get(Family, two_koppelingen).capacity = 2
        db.session.commit()
    in_tenant(app, gemeente, capacity_two)
    first = koppeling_with(app, gemeente, two_koppelingen, "proefperiode", coordinator.id)
    second = koppeling_with(app, gemeente, two_koppelingen, "definitief", colleague.id)
    koppeling_with(app, gemeente, without, "gestopt", coordinator.id)  # ended: nothing depends on it
    issued = date(2023, 3, 1)
    renewal = add_months(issued, 36)
    received(app, gemeente, two_koppelingen, "Piet", issued)
    received(app, gemeente, without, "Kees", issued)

    sweep_on(app, renewal, [gemeente])
    assert in_tenant(app, gemeente, lambda: records_of(two_koppelingen)["Piet"].status) == VogStatus.ONTVANGEN
    report = sweep_on(app, renewal + timedelta(days=1), [gemeente], twice=True)
    assert report.enqueued == 2

    def state():
        events = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "vog.expired")).all()
        alerts = db.session.scalars(select(OutboundEmail).where(OutboundEmail.template == "vog_expired_alert")
                                    .order_by(OutboundEmail.id)).all()
        return (records_of(two_koppelingen)["Piet"].status, records_of(without)["Kees"].status,
                [(e.actor_label, e.details["renewal_due_on"]) for e in events],
                [(a.to_address, a.context["name"], a.context["link"].rsplit("/", 1)[-1]) for a in alerts])
    piet, kees, events, alerts = in_tenant(app, gemeente, state)
    assert piet == kees == VogStatus.VERLOPEN
    assert events == [(SYSTEM.label, renewal.isoformat())] * 2
    # One alert per active koppeling, to that koppeling's coordinator; none for the stopped one.
    assert alerts == [(coordinator.email, "Piet Visser", str(first)), (colleague.email, "Piet Visser", str(second))]


# --- who never gets one --------------------------------------------------------------------------------


def test_no_reminders_for_another_gemeente_an_anonymised_or_an_afgemeld_family(app, make, gemeente):
    other = make.tenant()
    ours = steungezin(app, gemeente)
    theirs = steungezin(app, other)
    anonymised = steungezin(app, gemeente, status="afgemeld", adults=(("Kees", "Bakker", 1980),))
    stopped = steungezin(app, gemeente, status="afgemeld", adults=(("Joke", "Smit", 1975),))
    for gem, family_id, name in ((gemeente, ours, "Piet"), (other, theirs, "Piet"), (gemeente, anonymised, "Kees"),
                                 (gemeente, stopped, "Joke")):
        requested(app, gem, family_id, name, TODAY)

    def anonymise():
        anonymise_family(db.session.get(Family, anonymised), SYSTEM, datetime.now(UTC))
        db.session.commit()
    in_tenant(app, gemeente, anonymise)

    sweep_on(app, TODAY + timedelta(days=7))  # every gemeente, as beat runs it
    ours_mails, theirs_mails = vog_mails(app, gemeente), vog_mails(app, other)
    assert [m["to"] for m in ours_mails] == [family_email(app, gemeente, ours)]
    assert [m["to"] for m in theirs_mails] == [family_email(app, other, theirs)]
    assert theirs_mails[0]["gemeente"] == other.name


def test_a_suspended_gemeente_is_skipped(app, make, gemeente):
    from tenants.services import set_tenant_status
    family_id = steungezin(app, gemeente)
    requested(app, gemeente, family_id, "Piet", TODAY)
    with app.app_context():
        set_tenant_status(db.session.get(Tenant, gemeente.id), "suspended")
        db.session.commit()
        db.session.remove()
    sweep_on(app, TODAY + timedelta(days=7), [gemeente])
    assert vog_mails(app, gemeente) == []


# --- cost ------------------------------------------------------------------------------------------------


def statements_of_one_sweep(app, gemeente, day: date) -> int:
    count = 0

    def counter(*_args, **_kwargs):
        nonlocal count
        count += 1

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", counter)
    try:
        sweep_on(app, day, [gemeente])
    finally:
        event.remove(engine, "before_cursor_execute", counter)
    return count


def test_the_number_of_statements_does_not_grow_with_the_number_of_due_rows(app, make, gemeente):
    few, many = gemeente, make.tenant()
    issued = date(2024, 1, 10)
    for tenant, households in ((few, 2), (many, 20)):
        for _ in range(households):
            family_id = steungezin(app, tenant, adults=(("Piet", "Visser", 1970), ("Els", "Visser", 1972)))
            requested(app, tenant, family_id, "Piet", TODAY)
            received(app, tenant, family_id, "Els", issued)
    # On TODAY + 7: a request reminder for each Piet; on the renewal date + 1: each Els expires.
    day = TODAY + timedelta(days=7)
    assert statements_of_one_sweep(app, few, day) == statements_of_one_sweep(app, many, day)
    assert len(vog_mails(app, many)) == 20
    expiry = add_months(issued, 36) + timedelta(days=1)
    assert statements_of_one_sweep(app, few, expiry) == statements_of_one_sweep(app, many, expiry)
    assert in_tenant(app, many, lambda: db.session.scalar(
        select(db.func.count()).select_from(VogRecord).where(VogRecord.status == VogStatus.VERLOPEN))) == 20

