"""The task list on the coordinator's start page: derived from the records, overdue first, the
21-day VOG task on the right day, gone once the fact is resolved, per coordinator, per gemeente."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest

from domain.accounts.models import TenantRole
from domain.families.models import Family
from domain.families.records import LOCAL_TIME
from domain.tasks.services import TaskKind, task_list
from domain.vog.services import record_received
from tenants.db import db
from tenants.models import Tenant
from tests.conftest import login
from tests.test_family_records import make_family
from tests.test_vog import COORDINATOR, TODAY, in_tenant, steungezin
from tests.test_vog_reminders import requested, set_settings, with_vog


@pytest.fixture
def gemeente(make):
    return make.tenant()


def tasks_on(app, gemeente, day, coordinator_id=None):
    def read():
        return task_list(coordinator_id=coordinator_id, today=day, tenant=db.session.get(Tenant, gemeente.id))
    return in_tenant(app, gemeente, read)


def assign(app, gemeente, family_id, user) -> None:
    def apply():
        db.session.get(Family, family_id).coordinator_id = user.id
        db.session.commit()
    in_tenant(app, gemeente, apply)


def home_page(client, gemeente) -> str:
    # Pages are read at the real time (a login does not survive days of time travel: idle timeout);
    # the records are dated relative to today instead.
    response = client.get(f"/{gemeente.slug}/app/")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def section(page: str, caption: str) -> str:
    match = re.search(rf"<caption[^>]*>{caption}</caption>(.*?)</table>", page, re.S)
    return match.group(1) if match else ""


def test_the_coordinator_gets_the_vog_task_21_days_after_the_request(app, gemeente):
    family_id = steungezin(app, gemeente, status="beschikbaar")
    requested(app, gemeente, family_id, "Piet", TODAY)
    requested(app, gemeente, family_id, "Els", TODAY)
    for days, expected in ((0, []), (20, []), (21, ["Els Visser", "Piet Visser"]), (40, ["Els Visser", "Piet Visser"])):
        tasks = tasks_on(app, gemeente, TODAY + timedelta(days=days))
        assert sorted(t.subject for t in tasks.tasks if t.kind == TaskKind.VOG_CHASE) == expected, days
    late = tasks_on(app, gemeente, TODAY + timedelta(days=25))
    assert [t.days_overdue(TODAY + timedelta(days=25)) for t in late.overdue] == [4, 4]


def test_the_task_shows_on_the_start_page_and_goes_when_the_vog_is_received(app, client, make, gemeente):
    today = datetime.now(LOCAL_TIME).date()
    coordinator = make.user(gemeente)
    family_id = steungezin(app, gemeente, status="beschikbaar")
    assign(app, gemeente, family_id, coordinator)
    requested(app, gemeente, family_id, "Piet", today - timedelta(days=25))
    requested(app, gemeente, family_id, "Els", today - timedelta(days=21))
    login(client, coordinator, f"/{gemeente.slug}")

    page = home_page(client, gemeente)
    assert "VOG navragen: 2 (1 te laat)" in page
    overdue, upcoming = section(page, "Te laat"), section(page, "Binnenkort")
    assert "Piet Visser" in overdue and "4 dagen te laat" in overdue and "Els Visser" in upcoming
    assert f'href="/{gemeente.slug}/app/vog/' in overdue  # the task links to where it is done

    with_vog(app, gemeente, family_id, "Piet", lambda vog: record_received(
        vog, today - timedelta(days=3), today, COORDINATOR, today=today))
    page = home_page(client, gemeente)
    assert "Piet Visser" not in page and "Els Visser" in page and "VOG navragen: 1" in page


def test_the_overdue_days_follow_the_gemeentes_setting(app, gemeente):
    set_settings(app, gemeente, vog_request_overdue_days=10)
    family_id = steungezin(app, gemeente)
    requested(app, gemeente, family_id, "Piet", TODAY)
    def chase(days):
        return [t.subject for t in tasks_on(app, gemeente, TODAY + timedelta(days=days)).tasks
                if t.kind == TaskKind.VOG_CHASE]
    assert chase(9) == [] and chase(10) == ["Piet Visser"]


def test_overdue_first_then_by_due_date_with_counts(app, gemeente):
    today = datetime.now(LOCAL_TIME).date()
    late = make_family(app, gemeente, adults=(("Anna", "Jansen", 1985),), registered_days_ago=20)
    fresh = make_family(app, gemeente, adults=(("Bea", "de Vries", 1990),), registered_days_ago=1)
    tasks = tasks_on(app, gemeente, today)
    assert [t.subject for t in tasks.overdue] == ["Anna Jansen"]
    assert [t.subject for t in tasks.upcoming] == ["Bea de Vries"]
    assert tasks.overdue[0].days_overdue(today) == 6 and tasks.overdue[0].title == "Intake plannen"
    assert tasks.counts() == [("Intakes", 2, 1)]
    assert {t.family_id for t in tasks.tasks} == {late, fresh}


def test_each_coordinator_sees_their_own_and_the_unassigned_and_the_admin_sees_all(app, client, make, gemeente):
    mine, theirs = make.user(gemeente), make.user(gemeente)
    admin = make.user(gemeente, TenantRole.TENANT_ADMIN)
    for first, owner in (("Mien", mine), ("Theo", theirs), ("Nora", None)):
        family_id = make_family(app, gemeente, adults=((first, "Bakker", 1980),))
        if owner:
            assign(app, gemeente, family_id, owner)
    today = datetime.now(LOCAL_TIME).date()
    assert {t.subject for t in tasks_on(app, gemeente, today, mine.id).tasks} == {"Mien Bakker", "Nora Bakker"}
    assert {t.subject for t in tasks_on(app, gemeente, today).tasks} == {"Mien Bakker", "Theo Bakker", "Nora Bakker"}

    login(client, admin, f"/{gemeente.slug}")
    page = client.get(f"/{gemeente.slug}/app/").get_data(as_text=True)
    assert "Taken van alle coördinatoren" in page
    assert "Theo Bakker" in page and "Test coordinator" in page and "nog niemand" in page


def test_tasks_end_with_the_fact_afgemeld_anonymised_or_intake_done(app, gemeente):
    today = datetime.now(LOCAL_TIME).date()
    make_family(app, gemeente, status="afgemeld", adults=(("Gert", "Stop", 1980),))
    make_family(app, gemeente, status="wachtend", adults=(("Wil", "Wacht", 1980),))
    steun = steungezin(app, gemeente, status="afgemeld")  # its VOGs at "nodig" no longer ask for anything
    assert in_tenant(app, gemeente, lambda: db.session.get(Family, steun).status) == "afgemeld"
    assert tasks_on(app, gemeente, today).tasks == []


def test_a_gemeente_never_sees_another_gemeentes_tasks(app, client, make, gemeente):
    other = make.tenant()
    make_family(app, other, adults=(("Buur", "Anders", 1980),))
    other_steun = steungezin(app, other)
    requested(app, other, other_steun, "Piet", TODAY)
    coordinator = make.user(gemeente)
    assert tasks_on(app, gemeente, TODAY + timedelta(days=30)).tasks == []
    assert {t.subject for t in tasks_on(app, other, TODAY + timedelta(days=30)).tasks} >= {"Buur Anders", "Piet Visser"}
    login(client, coordinator, f"/{gemeente.slug}")
    page = home_page(client, gemeente)
    assert "Buur Anders" not in page and "Piet Visser" not in page and "geen taken" in page


def test_the_gemeentes_contact_gets_no_task_list(app, client, make, gemeente):
    make_family(app, gemeente, adults=(("Anna", "Jansen", 1985),))
    login(client, make.user(gemeente, TenantRole.GEMEENTE_VIEWER), f"/{gemeente.slug}")
    page = client.get(f"/{gemeente.slug}/app/").get_data(as_text=True)
    assert "Anna Jansen" not in page and "taken" not in page.lower().split("<main", 1)[-1]
