"""Sweeps: periodic jobs that find due work in the database and enqueue it exactly once.

The invitation-reminder sweep is run directly (with an explicit ``now``), twice, concurrently from
two threads with their own app contexts, after a simulated outage, and through a real Celery worker.
Invitations are made "old" by moving their token's times back in the database, so a sweep at the
real time finds only this test's invitations due (other tests' rows share the database).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from sqlalchemy import create_engine, event, pool, select, text

from config.settings import Settings
from devstack.celery_processes import celery_process, wait_until
from domain.email.models import OutboundEmail
from domain.outbox.models import OutboxJob
from domain.sweeps import SWEEPS
from domain.sweeps.framework import run_per_tenant, tenant_sweep
from domain.sweeps.invitation_reminders import INVITATION_REMINDERS, REMIND_AFTER, due_query
from tenants.db import db
from tenants.models import TenantStatus
from tenants.services import set_tenant_status, use_tenant
from tests.test_invitations import NEW_PASSWORD, in_tenant, invite, mails, new_client, post_password, set_token_times
from web.app import create_app
from worker.schedule import beat_schedule

TEMPLATE = "invitation_reminder"


def sent_at(app: Flask, gemeente, invited: dict, moment: datetime) -> None:
    """Pretend the invitation was sent at ``moment`` (valid for 7 days from then)."""
    set_token_times(app, gemeente.id, invited["token_id"], created_at=moment, expires_at=moment + timedelta(days=7))


def reminders(app: Flask, gemeente, invited: dict) -> list[dict]:
    return mails(app, gemeente.id, to=invited["email"], template=TEMPLATE)


def run_sweep(app: Flask, now: datetime):
    with app.app_context():
        try:
            return INVITATION_REMINDERS.run(now)
        finally:
            db.session.remove()


@pytest.fixture
def gemeente(make):
    return make.tenant()


# --- registry and schedule -----------------------------------------------------------------------


def test_the_sweep_is_registered_and_scheduled_hourly(settings):
    assert SWEEPS["invitation_reminders"] is INVITATION_REMINDERS
    entry = beat_schedule(settings)["sweep-invitation-reminders"]
    assert entry == {"task": "sweeps.run", "schedule": 3600.0, "kwargs": {"name": "invitation_reminders"}}


# --- what is due -----------------------------------------------------------------------------------


def test_one_reminder_three_days_after_the_invitation(app, gemeente):
    now = datetime.now(UTC)
    due = invite(app, gemeente)
    sent_at(app, gemeente, due, now - REMIND_AFTER - timedelta(minutes=1))
    not_yet = invite(app, gemeente)
    sent_at(app, gemeente, not_yet, now - REMIND_AFTER + timedelta(minutes=5))

    report = run_sweep(app, now)
    assert report.failed_tenants == [] and report.enqueued >= 1

    [mail] = reminders(app, gemeente, due)
    assert mail["status"] in {"queued", "sent"}
    assert mail["context"]["full_name"] and mail["context"]["gemeente"] == gemeente.name
    assert mail["context"]["sent_on"] and mail["context"]["expires_on"]
    assert "link" not in mail["context"]  # the raw token is not stored, so it cannot be repeated
    jobs = in_tenant(app, gemeente.id, lambda: list(db.session.scalars(
        select(OutboxJob.dedupe_key).where(OutboxJob.dedupe_key == f"email:invitation-reminder:{due['token_id']}"))))
    assert len(jobs) == 1
    assert reminders(app, gemeente, not_yet) == []

    # The same moment again, and an hour later: nothing new.
    run_sweep(app, now)
    run_sweep(app, now + timedelta(hours=1))
    assert len(reminders(app, gemeente, due)) == 1
    # Five minutes later the second one is due too, once.
    run_sweep(app, now + timedelta(minutes=6))
    run_sweep(app, now + timedelta(minutes=6))
    assert len(reminders(app, gemeente, not_yet)) == 1
    assert len(reminders(app, gemeente, due)) == 1


def test_accepted_expired_and_revoked_invitations_get_no_reminder(app, gemeente):
    now = datetime.now(UTC)
    accepted, expired, blocked = invite(app, gemeente), invite(app, gemeente), invite(app, gemeente)
    for invited in (accepted, expired, blocked):
        sent_at(app, gemeente, invited, now - timedelta(days=4))
    assert post_password(new_client(app), accepted["path"], NEW_PASSWORD).status_code == 302
    set_token_times(app, gemeente.id, expired["token_id"], expires_at=now - timedelta(minutes=1))
    from domain.accounts.models import StaffUser
    from domain.accounts.services import set_active
    from domain.audit.services import SYSTEM
    in_tenant(app, gemeente.id, lambda: set_active(db.session.get(StaffUser, blocked["user_id"]), False, actor=SYSTEM))

    assert run_sweep(app, now).failed_tenants == []
    for invited in (accepted, expired, blocked):
        assert reminders(app, gemeente, invited) == []


def test_after_a_six_hour_outage_each_reminder_goes_out_exactly_once(app, gemeente):
    last_run = datetime.now(UTC)
    already_due = invite(app, gemeente)
    sent_at(app, gemeente, already_due, last_run - REMIND_AFTER - timedelta(hours=2))
    during_outage = []
    for hours in (0.5, 2, 4, 6):  # became due 0.5, 2, 4 and 6 hours after the last run
        invited = invite(app, gemeente)
        sent_at(app, gemeente, invited, last_run - REMIND_AFTER + timedelta(hours=hours))
        during_outage.append(invited)
    after_outage = invite(app, gemeente)
    sent_at(app, gemeente, after_outage, last_run - REMIND_AFTER + timedelta(hours=7))

    run_sweep(app, last_run)  # the last run before the outage
    assert len(reminders(app, gemeente, already_due)) == 1
    assert all(reminders(app, gemeente, invited) == [] for invited in during_outage)

    back = last_run + timedelta(hours=6)  # beat missed six hourly runs; the first one back:
    run_sweep(app, back)
    run_sweep(app, back)
    for invited in [already_due, *during_outage]:
        assert len(reminders(app, gemeente, invited)) == 1, invited
    assert reminders(app, gemeente, after_outage) == []


def test_the_sweep_for_tenant_a_never_enqueues_for_b(app, two_tenants):
    a, b = two_tenants["a"], two_tenants["b"]
    now = datetime.now(UTC)
    in_a, in_b = invite(app, a), invite(app, b)
    sent_at(app, a, in_a, now - timedelta(days=4))
    sent_at(app, b, in_b, now - timedelta(days=4))

    # The per-tenant query, in A's context, asking (wrongly) for B's rows: nothing.
    rows = in_tenant(app, a.id, lambda: db.session.execute(due_query(b.id, now)).all())
    assert rows == []

    # A sweep whose step records what it sees: every row it is given belongs to the tenant it acts for.
    seen: list[tuple[int, int]] = []

    def due(tenant, moment):
        rows = [tuple(row) for row in db.session.execute(due_query(tenant.id, moment))]
        seen.extend((tenant.id, token.tenant_id) for token, _ in rows)
        seen.extend((tenant.id, user.tenant_id) for _, user in rows)
        return rows

    from domain.sweeps.invitation_reminders import act

    with app.app_context():
        report = tenant_sweep("probe", due, act).run(now)
        db.session.remove()
    assert report.failed_tenants == []
    assert (a.id, a.id) in seen and (b.id, b.id) in seen
    assert all(acting == owner for acting, owner in seen)
    [mail_a] = reminders(app, a, in_a)
    [mail_b] = reminders(app, b, in_b)
    assert mail_a["to"] == in_a["email"] and mail_b["to"] == in_b["email"]
    # B's reminder lives in B (RLS): A cannot even see it.
    assert mails(app, a.id, to=in_b["email"]) == []


def test_suspended_tenants_are_skipped(app, gemeente):
    now = datetime.now(UTC)
    invited = invite(app, gemeente)
    sent_at(app, gemeente, invited, now - timedelta(days=4))
    with app.app_context():
        from tenants.models import Tenant

        set_tenant_status(db.session.get(Tenant, gemeente.id), TenantStatus.SUSPENDED)
        db.session.commit()
        db.session.remove()
    run_sweep(app, now)
    assert reminders(app, gemeente, invited) == []


def test_one_failing_tenant_does_not_stop_the_others(app, two_tenants):
    a, b = two_tenants["a"], two_tenants["b"]
    now = datetime.now(UTC)

    def due(tenant, moment):
        if tenant.id == a.id:
            raise RuntimeError("broken data in A")
        return [tenant.id]

    acted: list[int] = []

    def act(tenant, thing, moment):
        acted.append(thing)
        return thing

    with app.app_context():
        report = run_per_tenant("probe", due, act, now)
        db.session.remove()
    assert a.id in report.failed_tenants and b.id not in report.failed_tenants
    assert b.id in acted and a.id not in acted


def test_one_failing_thing_does_not_stop_the_rest_of_its_tenant(app, gemeente):
    now = datetime.now(UTC)
    first, second = invite(app, gemeente), invite(app, gemeente)
    for invited in (first, second):
        sent_at(app, gemeente, invited, now - timedelta(days=4))

    from domain.sweeps.invitation_reminders import act, due

    def only_ours(tenant, moment):
        return due(tenant, moment) if tenant.id == gemeente.id else []

    def flaky_act(tenant, item, moment):
        token, _ = item
        if token.id == first["token_id"]:
            act(tenant, item, moment)  # writes, then fails: its writes must go with its savepoint
            raise ValueError("this one is broken")
        return act(tenant, item, moment)

    with app.app_context():
        report = run_per_tenant("probe", only_ours, flaky_act, now)
        db.session.remove()
    assert (report.enqueued, report.failed, report.failed_tenants) == (1, 1, [])
    assert reminders(app, gemeente, first) == []
    assert len(reminders(app, gemeente, second)) == 1
    # The next (real) run picks up the one that failed.
    run_sweep(app, now)
    assert len(reminders(app, gemeente, first)) == 1 and len(reminders(app, gemeente, second)) == 1


def test_the_due_query_uses_the_partial_index(app, gemeente):
    now = datetime.now(UTC)
    with app.app_context():
        use_tenant(gemeente.id)
        db.session.execute(text("SET LOCAL enable_seqscan = off"))
        compiled = due_query(gemeente.id, now).compile(db.engine, compile_kwargs={"render_postcompile": True})
        rows = db.session.connection().exec_driver_sql(f"EXPLAIN {compiled}", compiled.params).all()
        plan = "\n".join(row[0] for row in rows)
        db.session.rollback()
        db.session.remove()
    assert "ix_account_tokens_open_invitations" in plan, plan


# --- concurrency -------------------------------------------------------------------------------------


def _waiting_on_a_lock(settings: Settings) -> bool:
    engine = create_engine(settings.database_url, poolclass=pool.NullPool)
    try:
        with engine.connect() as connection:
            return bool(connection.scalar(text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()")))
    finally:
        engine.dispose()


def test_two_sweeps_at_once_send_one_reminder_and_the_loser_carries_on(app, settings, gemeente):
    """Sweep 1 has enqueued but not committed when sweep 2 reaches the same invitation: sweep 2 waits
    on the dedupe key's unique index, then finds the key taken and skips it without failing."""
    now = datetime.now(UTC)
    invited = invite(app, gemeente)
    sent_at(app, gemeente, invited, now - timedelta(days=4))
    reports: dict[str, object] = {}
    errors: list[BaseException] = []

    def second_sweep():
        try:
            reports["second"] = run_sweep(app, now)
        except BaseException as error:  # reported below, not lost in the thread
            errors.append(error)

    second = threading.Thread(target=second_sweep)

    def first_sweep():
        try:
            with app.app_context():
                session = db.session()
                started = False

                def before_commit(sess):
                    nonlocal started
                    if started or not sess.info.get("outbox_after_commit"):
                        return
                    started = True
                    # Our reminder is written, not committed: now let the second sweep run into it.
                    second.start()
                    wait_until(lambda: _waiting_on_a_lock(settings) or not second.is_alive(), seconds=30,
                               message="the second sweep to wait on the first one's uncommitted reminder")
                    assert second.is_alive(), "the second sweep finished without waiting"

                event.listen(session, "before_commit", before_commit)
                try:
                    reports["first"] = INVITATION_REMINDERS.run(now)
                finally:
                    event.remove(session, "before_commit", before_commit)
                    db.session.remove()
                assert started, "the first sweep enqueued nothing"
        except BaseException as error:
            errors.append(error)

    first = threading.Thread(target=first_sweep)
    first.start()
    first.join(timeout=120)
    second.join(timeout=120)
    assert not first.is_alive() and not second.is_alive()
    assert errors == []
    assert reports["first"].failed_tenants == [] and reports["second"].failed_tenants == []
    assert reports["second"].skipped >= 1
    assert len(reminders(app, gemeente, invited)) == 1


def test_many_sweeps_racing_send_one_reminder_each(app, make):
    """Four threads, released together, sweeping the same moment over a few invitations."""
    now = datetime.now(UTC)
    gemeente = make.tenant()
    invitations = [invite(app, gemeente) for _ in range(5)]
    for invited in invitations:
        sent_at(app, gemeente, invited, now - timedelta(days=4))
    barrier = threading.Barrier(4)
    reports, errors = [], []

    def sweep():
        try:
            barrier.wait(timeout=30)
            reports.append(run_sweep(app, now))
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=sweep) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == [] and len(reports) == 4
    assert all(report.failed_tenants == [] for report in reports)
    for invited in invitations:
        assert len(reminders(app, gemeente, invited)) == 1


# --- through a real worker and beat ----------------------------------------------------------------


@pytest.fixture
def sink_settings(settings: Settings) -> Iterator[Settings]:
    # A queue of its own (no other module's worker takes these tasks) and mail kept in the database.
    yield replace(settings, mail_backend="sink", outbox_sweep_seconds=1,
                  redis_namespace=f"{settings.redis_namespace}-sw{uuid.uuid4().hex[:6]}")


def test_the_sweeps_run_task_runs_in_a_real_worker(sink_settings: Settings, gemeente):
    from worker.celery_app import celery_init_app

    client_app = create_app(sink_settings)
    celery = celery_init_app(client_app)
    invited = invite(client_app, gemeente)
    sent_at(client_app, gemeente, invited, datetime.now(UTC) - timedelta(days=4))

    with celery_process(sink_settings) as worker, celery_process(sink_settings, "beat") as beat:
        def run_task_in_worker() -> None:
            sent = celery.send_task("sweeps.run", kwargs={"name": "invitation_reminders"},
                                    queue=sink_settings.task_queue)
            wait_until(lambda: f"sweeps.run[{sent.id}] succeeded" in worker.full_log(), seconds=60,
                       message=f"sweeps.run to finish in the worker\n{worker.log()}")

        run_task_in_worker()

        def reminder_sent():
            found = reminders(client_app, gemeente, invited)
            return found and found[0]["status"] == "sent"

        # The job the sweep enqueued is handed over at its commit (or by beat's relay) and sent.
        wait_until(reminder_sent, seconds=60, message=f"the reminder to be sent\n{worker.log()}\n{beat.log()}")
        assert worker.alive() and beat.alive()
        rendered = in_tenant(client_app, gemeente.id, lambda: db.session.scalar(
            select(OutboundEmail.subject).where(OutboundEmail.to_address == invited["email"],
                                                OutboundEmail.template == TEMPLATE)))
        assert rendered.startswith("Herinnering: je uitnodiging")

        # The task again (as beat does every hour): still one reminder.
        run_task_in_worker()
    assert len(reminders(client_app, gemeente, invited)) == 1
    with client_app.app_context():
        db.engine.dispose()
