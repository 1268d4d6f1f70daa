"""Evaluations of a koppeling, with the clock moved by time-machine: prompts go out exactly once per
koppeling and moment to both families (each its own link), one reminder a week later with a fresh
link only to a family that did not answer, none to another gemeente, an anonymised family or one
without e-mail; links work once and expire; the vraaggezin scores the goals and the steungezin does
not; baseline and progress; the coordinator's conversation (which lets the koppeling become
definitief), its page and its task; the final evaluation at closing."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import event, func, select

from domain.audit.models import AuditEvent
from domain.audit.services import SYSTEM
from domain.email.models import OutboundEmail
from domain.email.rendering import render_email
from domain.evaluations.models import EvaluationConversation, EvaluationRequest
from domain.evaluations.services import (
    AFSLUITING,
    PROEFPERIODE,
    REMINDER_TEMPLATE,
    REQUEST_TEMPLATE,
    EvaluationAnswerError,
    EvaluationError,
    EvaluationLinkError,
    answer_evaluation,
    check_link,
    goal_progress,
    record_conversation,
    start_final_evaluation,
)
from domain.families.models import Family
from domain.families.privacy import anonymise_family
from domain.koppelingen.models import KoppelingStatus
from domain.koppelingen.services import PROEFPERIODE_MOMENT, KoppelingError, close, make_definitief
from domain.sweeps import SWEEPS
from domain.sweeps.evaluation_prompts import EVALUATION_PROMPTS
from domain.tasks.services import TaskKind, task_list
from domain.vog.services import add_months
from tenants.db import db
from tenants.models import Tenant
from tests.conftest import csrf_token, login
from tests.test_koppelingen import COORDINATOR, koppeling, pair, proposed, run, to_proefperiode
from tests.test_vog import TODAY, in_tenant
from tests.test_vog_reminders import morning
from worker.schedule import beat_schedule

TEMPLATES = (REQUEST_TEMPLATE, REMINDER_TEMPLATE)
PROEFPERIODE_END = date(2026, 8, 15)  # TODAY + 2 months (tenant default)
PROMPT_DAY = PROEFPERIODE_END - timedelta(days=7)  # 8 August 2026
GOOD_VRAAG = {"satisfied": "ja", "wants_to_continue": "ja", "goal_ontlasten": "2", "goal_sterker": "2",
              "goal_opvoedklimaat": "3", "goal_netwerk": "1", "remarks": "Het gaat goed.\r\nDank!"}
GOOD_STEUN = {"satisfied": "een_beetje", "wants_to_continue": "ja", "remarks": ""}


@pytest.fixture
def gemeente(make):
    return make.tenant()


# --- helpers ---------------------------------------------------------------------------------------


def started(app, gemeente) -> tuple[int, int, int]:
    """A koppeling in its proefperiode from TODAY: (koppeling, vraaggezin, steungezin)."""
    vraag, steun = pair(app, gemeente)
    koppeling_id = proposed(app, gemeente, vraag, steun)
    to_proefperiode(app, gemeente, koppeling_id)
    return koppeling_id, vraag, steun


def sweep_on(app, day: date, tenants, *, twice: bool = True):
    """Run the sweep at three in the morning on ``day`` (twice: the second run must change nothing)."""
    ids = [tenant.id for tenant in tenants]
    with time_machine.travel(morning(day), tick=False), app.app_context():
        try:
            report = EVALUATION_PROMPTS.run(datetime.now(UTC), tenant_ids=ids)
            assert report.failed_tenants == [] and report.failed == 0
            if twice:
                again = EVALUATION_PROMPTS.run(datetime.now(UTC), tenant_ids=ids)
                assert again.enqueued == 0, "a second run on the same day must change nothing"
            return report
        finally:
            db.session.remove()


def mails(app, gemeente) -> list[dict]:
    def read():
        rows = db.session.scalars(select(OutboundEmail).where(OutboundEmail.template.in_(TEMPLATES))
                                  .order_by(OutboundEmail.id))
        return [{"to": m.to_address, "template": m.template, **m.context} for m in rows]
    return in_tenant(app, gemeente, read)


def days_with_mail(app, gemeente, start: date, days: int) -> dict[int, list[str]]:
    """Sweep every day (twice) for ``days`` days from ``start``: which day offsets brought which mails."""
    seen: dict[int, list[str]] = {}
    before = len(mails(app, gemeente))
    for offset in range(days + 1):
        sweep_on(app, start + timedelta(days=offset), [gemeente])
        found = mails(app, gemeente)
        if len(found) > before:
            seen[offset] = sorted(f"{m['template']}:{m['role']}" for m in found[before:])
            before = len(found)
    return seen


def token_of(mail: dict) -> str:
    return mail["link"].rsplit("/", 1)[1]


def latest_token(app, gemeente, role: str) -> str:
    return token_of([m for m in mails(app, gemeente) if m["role"] == role][-1])


def email_of(app, gemeente, family_id: int) -> str:
    return in_tenant(app, gemeente, lambda: db.session.get(Family, family_id).email)


def at(moment_day: date, fn, app, gemeente, hour_offset: int = 6):
    """``fn`` in the tenant, committed, with the clock at ``moment_day`` (09:00 Dutch time)."""
    with time_machine.travel(morning(moment_day) + timedelta(hours=hour_offset), tick=False):
        return run(app, gemeente, fn)


def answer(app, gemeente, token: str, answers: dict, day: date):
    tenant = lambda: db.session.get(Tenant, gemeente.id)  # noqa: E731
    return at(day, lambda: answer_evaluation(tenant(), token, answers).id, app, gemeente)


def requests(app, gemeente, koppeling_id: int) -> list[EvaluationRequest]:
    def read():
        rows = list(db.session.scalars(select(EvaluationRequest).where(EvaluationRequest.koppeling_id == koppeling_id)
                                       .order_by(EvaluationRequest.id)))
        for row in rows:
            db.session.expunge(row)
        return rows
    return in_tenant(app, gemeente, read)


def audit_count(app, gemeente, action: str) -> int:
    return in_tenant(app, gemeente, lambda: db.session.scalar(
        select(func.count()).select_from(AuditEvent).where(AuditEvent.action == action)))


def conversations(app, gemeente) -> int:
    return in_tenant(app, gemeente, lambda: db.session.scalar(
        select(func.count()).select_from(EvaluationConversation)))


def tenant_of(gemeente) -> Tenant:
    return db.session.get(Tenant, gemeente.id)


# --- registry -------------------------------------------------------------------------------------------


def test_the_sweep_is_registered_and_scheduled_hourly(settings):
    assert SWEEPS["evaluation_prompts"] is EVALUATION_PROMPTS
    assert beat_schedule(settings)["sweep-evaluation-prompts"] == {
        "task": "sweeps.run", "schedule": 3600.0, "kwargs": {"name": "evaluation_prompts"}}
    assert PROEFPERIODE == PROEFPERIODE_MOMENT


# --- prompts and reminders ---------------------------------------------------------------------------------


def test_prompts_go_out_once_to_both_families_and_one_reminder_a_week_later(app, settings, gemeente):
    koppeling_id, vraag, steun = started(app, gemeente)
    assert days_with_mail(app, gemeente, PROMPT_DAY - timedelta(days=3), 30) == {
        3: [f"{REQUEST_TEMPLATE}:steun", f"{REQUEST_TEMPLATE}:vraag"],
        10: [f"{REMINDER_TEMPLATE}:steun", f"{REMINDER_TEMPLATE}:vraag"],
    }
    found = mails(app, gemeente)
    by_role = {m["role"]: m for m in found if m["template"] == REQUEST_TEMPLATE}
    assert by_role["vraag"]["to"] == email_of(app, gemeente, vraag)
    assert by_role["steun"]["to"] == email_of(app, gemeente, steun)
    assert all(m["moment"] == "proefperiode" and m["expires_on"] == "29 augustus 2026"
               and m["gemeente"] == gemeente.name for m in found)
    prefix = f"{settings.base_url.rstrip('/')}/{gemeente.slug}/evaluatie/"
    assert all(m["link"].startswith(prefix) for m in found)
    assert len({token_of(m) for m in found}) == 4  # each family its own link, the reminder a fresh one
    rows = requests(app, gemeente, koppeling_id)
    assert [(r.moment, r.role, r.due_on) for r in rows] == [
        (PROEFPERIODE, "vraag", PROMPT_DAY), (PROEFPERIODE, "steun", PROMPT_DAY)]
    assert all(r.sent_at == morning(PROMPT_DAY) and r.reminded_at == morning(PROMPT_DAY + timedelta(days=7))
               and r.expires_at == morning(PROMPT_DAY + timedelta(days=21)) for r in rows)
    # Only hashes in the database, never a raw token.
    assert {r.token_hash for r in rows}.isdisjoint({token_of(m) for m in found})
    assert audit_count(app, gemeente, "evaluation.sent") == 2
    # The mails render (a template error would fail them in the worker), with the link in both bodies.
    for mail in found:
        context = {key: value for key, value in mail.items() if key not in ("to", "template")}
        rendered = render_email(mail["template"], "nl", context)
        assert mail["link"] in rendered.text and mail["link"] in rendered.html
        assert "29 augustus 2026" in rendered.text and rendered.subject
    assert audit_count(app, gemeente, "evaluation.reminded") == 2


def test_the_reminder_goes_only_to_the_family_that_did_not_answer(app, gemeente):
    started(app, gemeente)
    sweep_on(app, PROMPT_DAY, [gemeente])
    answer(app, gemeente, latest_token(app, gemeente, "vraag"), GOOD_VRAAG, PROMPT_DAY + timedelta(days=2))
    assert days_with_mail(app, gemeente, PROMPT_DAY + timedelta(days=1), 25) == {
        6: [f"{REMINDER_TEMPLATE}:steun"]}


def test_no_reminder_after_the_steungezin_answered_and_none_for_a_stopped_koppeling(app, gemeente):
    from domain.koppelingen.services import stop

    koppeling_id, _, _ = started(app, gemeente)
    sweep_on(app, PROMPT_DAY, [gemeente])
    answer(app, gemeente, latest_token(app, gemeente, "steun"), GOOD_STEUN, PROMPT_DAY + timedelta(days=1))
    at(PROMPT_DAY + timedelta(days=2),
       lambda: stop(koppeling(koppeling_id), "mismatch", COORDINATOR, note=None, today=PROMPT_DAY + timedelta(days=2)),
       app, gemeente)
    assert days_with_mail(app, gemeente, PROMPT_DAY + timedelta(days=3), 20) == {}


def test_the_reminder_rotates_the_link_and_links_work_once(app, gemeente):
    koppeling_id, _, _ = started(app, gemeente)
    sweep_on(app, PROMPT_DAY, [gemeente])
    first = latest_token(app, gemeente, "vraag")
    sweep_on(app, PROMPT_DAY + timedelta(days=7), [gemeente])
    second = latest_token(app, gemeente, "vraag")
    assert first != second
    with pytest.raises(EvaluationLinkError) as refused:
        answer(app, gemeente, first, GOOD_VRAAG, PROMPT_DAY + timedelta(days=8))
    assert refused.value.reason == "unknown"
    answer(app, gemeente, second, GOOD_VRAAG, PROMPT_DAY + timedelta(days=8))
    with pytest.raises(EvaluationLinkError) as again:
        answer(app, gemeente, second, {**GOOD_VRAAG, "satisfied": "nee"}, PROMPT_DAY + timedelta(days=8))
    assert again.value.reason == "used" and "Deze link werkt niet meer" in str(again.value)
    vraag_request = requests(app, gemeente, koppeling_id)[0]
    assert (vraag_request.satisfied, vraag_request.wants_to_continue, vraag_request.remarks) == (
        "ja", True, "Het gaat goed.\nDank!")
    assert [vraag_request.goal_ontlasten, vraag_request.goal_sterker, vraag_request.goal_opvoedklimaat,
            vraag_request.goal_netwerk] == [2, 2, 3, 1]
    assert audit_count(app, gemeente, "evaluation.answered") == 1


def test_links_expire_after_the_gemeentes_link_days(app, gemeente):
    started(app, gemeente)
    sweep_on(app, PROMPT_DAY, [gemeente])
    token = latest_token(app, gemeente, "steun")
    last_moment = morning(PROMPT_DAY + timedelta(days=21))

    def check(when):
        with time_machine.travel(when, tick=False):
            return in_tenant(app, gemeente, lambda: check_link(tenant_of(gemeente), token).role)

    assert check(last_moment - timedelta(minutes=1)) == "steun"
    with pytest.raises(EvaluationLinkError) as expired:
        check(last_moment)
    assert expired.value.reason == "expired"
    # And no reminder for a link that has expired by the time the sweep runs.
    assert days_with_mail(app, gemeente, PROMPT_DAY + timedelta(days=21), 5) == {}


def test_no_prompt_for_another_gemeente_an_anonymised_family_or_one_without_email(app, make, gemeente):
    other = make.tenant()
    mine, _, my_steun = started(app, gemeente)
    theirs, their_vraag, _ = started(app, other)
    in_tenant(app, gemeente, lambda: (anonymise_family(db.session.get(Family, my_steun), SYSTEM,
                                                       datetime.now(UTC)), db.session.commit()))

    def no_email():
        db.session.get(Family, their_vraag).email = None
        db.session.commit()
    in_tenant(app, other, no_email)

    sweep_on(app, PROMPT_DAY, [gemeente])
    assert [m["role"] for m in mails(app, gemeente)] == ["vraag"]
    assert mails(app, other) == [] and requests(app, other, theirs) == []
    sweep_on(app, PROMPT_DAY, [other])
    assert [m["role"] for m in mails(app, other)] == ["steun"]
    assert [r.role for r in requests(app, gemeente, mine)] == ["vraag"]
    # A's links are unknown under B's address.
    token = latest_token(app, gemeente, "vraag")
    with time_machine.travel(morning(PROMPT_DAY + timedelta(days=1)), tick=False):
        with pytest.raises(EvaluationLinkError) as foreign:
            in_tenant(app, other, lambda: check_link(tenant_of(other), token))
    assert foreign.value.reason == "unknown"


# --- the answers ------------------------------------------------------------------------------------------------


def test_the_vraaggezin_must_score_the_goals_the_steungezin_not(app, gemeente):
    koppeling_id, _, _ = started(app, gemeente)
    sweep_on(app, PROMPT_DAY, [gemeente])
    day = PROMPT_DAY + timedelta(days=1)
    vraag_token, steun_token = latest_token(app, gemeente, "vraag"), latest_token(app, gemeente, "steun")
    without_goals = {"satisfied": "ja", "wants_to_continue": "nee"}
    with pytest.raises(EvaluationAnswerError) as refused:
        answer(app, gemeente, vraag_token, without_goals, day)
    assert set(refused.value.errors) == {"goal_ontlasten", "goal_sterker", "goal_opvoedklimaat", "goal_netwerk"}
    with pytest.raises(EvaluationAnswerError) as bad:
        answer(app, gemeente, vraag_token, {**GOOD_VRAAG, "satisfied": "misschien", "goal_netwerk": "6",
                                            "remarks": "x" * 2001}, day)
    assert set(bad.value.errors) == {"satisfied", "goal_netwerk", "remarks"}
    assert all(r.answered_at is None for r in requests(app, gemeente, koppeling_id))

    answer(app, gemeente, steun_token, {**without_goals, "goal_ontlasten": "5"}, day)
    steun_row = next(r for r in requests(app, gemeente, koppeling_id) if r.role == "steun")
    assert (steun_row.satisfied, steun_row.wants_to_continue, steun_row.goal_ontlasten) == ("ja", False, None)
    assert steun_row.answered_at is not None
    answer(app, gemeente, vraag_token, GOOD_VRAAG, day)  # the vraaggezin's link still works after its mistakes


def public_form(gemeente, token: str) -> str:
    return f"/{gemeente.slug}/evaluatie/{token}"


def test_the_public_form_works_once_and_bad_input_changes_nothing(app, make, gemeente):
    koppeling_id, _, _ = started(app, gemeente)
    sweep_on(app, PROMPT_DAY, [gemeente])
    token = latest_token(app, gemeente, "vraag")
    with time_machine.travel(morning(PROMPT_DAY + timedelta(days=1)), tick=False):
        client = app.test_client()
        url = public_form(gemeente, token)
        page = client.get(url)
        assert page.status_code == 200
        assert page.headers["Cache-Control"] == "no-store" and page.headers["Referrer-Policy"] == "same-origin"
        html = page.get_data(as_text=True)
        assert html.count("<fieldset") == 6 and html.count("<legend") == 6  # 2 questions, 4 goals
        assert "Wij voelen ons sterker als ouders." in html and 'for="goal_sterker-5"' in html

        csrf = csrf_token(client, url)
        bad = client.post(url, data={**GOOD_VRAAG, "satisfied": "misschien", "goal_netwerk": "", "csrf_token": csrf})
        assert bad.status_code == 422
        html = bad.get_data(as_text=True)
        assert "Kies een antwoord: ja, een beetje of nee." in html and "Kies een cijfer van 1 tot en met 5." in html
        assert 'aria-describedby="satisfied-error"' in html and 'href="#field-goal_netwerk"' in html
        assert 'value="2" checked' in html  # what was chosen stays chosen
        assert requests(app, gemeente, koppeling_id)[0].answered_at is None
        assert audit_count(app, gemeente, "evaluation.answered") == 0

        done = client.post(url, data={**GOOD_VRAAG, "csrf_token": csrf})
        assert done.status_code == 302 and done.headers["Location"].endswith(f"/{gemeente.slug}/evaluatie/bedankt")
        assert "Bedankt voor je antwoorden" in client.get(done.headers["Location"]).get_data(as_text=True)
        for response in (client.get(url), client.post(url, data={**GOOD_VRAAG, "csrf_token": csrf})):
            assert response.status_code == 410
            assert "Deze link werkt niet meer" in response.get_data(as_text=True)
        unknown = client.get(public_form(gemeente, "nooit-uitgegeven-" + "x" * 30))
        assert unknown.status_code == 404 and "Deze link werkt niet meer" in unknown.get_data(as_text=True)
    assert requests(app, gemeente, koppeling_id)[0].goal_ontlasten == 2

    # Another gemeente's slug with this gemeente's (steungezin) link: unknown there.
    other = make.tenant()
    steun_token = latest_token(app, gemeente, "steun")
    with time_machine.travel(morning(PROMPT_DAY + timedelta(days=1)), tick=False):
        client = app.test_client()
        assert client.get(public_form(other, steun_token)).status_code == 404
        assert client.get(public_form(gemeente, steun_token)).status_code == 200
    with time_machine.travel(morning(PROMPT_DAY + timedelta(days=40)), tick=False):
        expired = app.test_client().get(public_form(gemeente, steun_token))
        assert expired.status_code == 410 and "Deze link werkt niet meer" in expired.get_data(as_text=True)


# --- baseline and progress, periodic moments -------------------------------------------------------------------


def make_definitief_on(app, gemeente, koppeling_id, day: date) -> None:
    at(day, lambda: record_conversation(koppeling(koppeling_id), PROEFPERIODE, day, "positief", "Goed gesprek.",
                                        COORDINATOR, today=day), app, gemeente)
    at(day, lambda: make_definitief(koppeling(koppeling_id), COORDINATOR, on=day, today=day), app, gemeente)


def test_baseline_and_progress_over_the_periodic_moments(app, gemeente):
    koppeling_id, _, _ = started(app, gemeente)
    sweep_on(app, PROMPT_DAY, [gemeente])
    answer(app, gemeente, latest_token(app, gemeente, "vraag"), GOOD_VRAAG, PROMPT_DAY + timedelta(days=1))
    make_definitief_on(app, gemeente, koppeling_id, PROEFPERIODE_END)

    first, second = add_months(PROEFPERIODE_END, 6), add_months(PROEFPERIODE_END, 12)
    assert days_with_mail(app, gemeente, first - timedelta(days=2), 4) == {
        2: [f"{REQUEST_TEMPLATE}:steun", f"{REQUEST_TEMPLATE}:vraag"]}
    assert {m["moment"] for m in mails(app, gemeente)[-2:]} == {"periodiek"}
    answer(app, gemeente, latest_token(app, gemeente, "vraag"),
           {**GOOD_VRAAG, "goal_ontlasten": "4", "goal_sterker": "3", "goal_netwerk": "2"}, first)
    sweep_on(app, second, [gemeente])
    answer(app, gemeente, latest_token(app, gemeente, "vraag"),
           {**GOOD_VRAAG, "goal_ontlasten": "5", "goal_sterker": "4", "goal_opvoedklimaat": "2", "goal_netwerk": "2"},
           second)

    moments = [(r.moment, r.role, r.due_on) for r in requests(app, gemeente, koppeling_id)]
    assert moments == [(PROEFPERIODE, "vraag", PROMPT_DAY), (PROEFPERIODE, "steun", PROMPT_DAY),
                       ("periodiek-1", "vraag", first), ("periodiek-1", "steun", first),
                       ("periodiek-2", "vraag", second), ("periodiek-2", "steun", second)]
    progress = in_tenant(app, gemeente, lambda: goal_progress(koppeling(koppeling_id)))
    table = {goal.key: (goal.baseline.score, [(p.moment, p.score, p.change) for p in goal.later])
             for goal in progress}
    assert table == {
        "goal_ontlasten": (2, [("periodiek-1", 4, 2), ("periodiek-2", 5, 3)]),
        "goal_sterker": (2, [("periodiek-1", 3, 1), ("periodiek-2", 4, 2)]),
        "goal_opvoedklimaat": (3, [("periodiek-1", 3, 0), ("periodiek-2", 2, -1)]),
        "goal_netwerk": (1, [("periodiek-1", 2, 1), ("periodiek-2", 2, 1)]),
    }
    assert progress[0].baseline.moment == PROEFPERIODE and progress[0].latest_change == 3


def test_after_downtime_only_the_latest_periodic_moment_goes_out(app, gemeente):
    koppeling_id, _, _ = started(app, gemeente)
    make_definitief_on(app, gemeente, koppeling_id, PROEFPERIODE_END)
    sweep_on(app, add_months(PROEFPERIODE_END, 13), [gemeente])
    assert {(r.moment, r.due_on) for r in requests(app, gemeente, koppeling_id)} == {
        ("periodiek-2", add_months(PROEFPERIODE_END, 12))}
    sweep_on(app, add_months(PROEFPERIODE_END, 14), [gemeente])
    assert len(requests(app, gemeente, koppeling_id)) == 2
    # The guidance term ends 24 months after the start: no periodic prompt at or after its end.
    sweep_on(app, add_months(PROEFPERIODE_END, 30), [gemeente])
    assert {r.moment for r in requests(app, gemeente, koppeling_id)} == {"periodiek-2", "periodiek-3"}


def test_the_gemeentes_interval_and_offset_are_used(app, gemeente):
    with app.app_context():
        tenant = tenant_of(gemeente)
        tenant.settings = {**tenant.settings, "evaluation_before_proefperiode_end_days": 3,
                           "evaluation_interval_months": 3}
        db.session.commit()
        db.session.remove()
    koppeling_id, _, _ = started(app, gemeente)
    assert days_with_mail(app, gemeente, PROMPT_DAY, 5) == {
        4: [f"{REQUEST_TEMPLATE}:steun", f"{REQUEST_TEMPLATE}:vraag"]}
    make_definitief_on(app, gemeente, koppeling_id, PROEFPERIODE_END)
    sweep_on(app, add_months(PROEFPERIODE_END, 3), [gemeente])
    assert requests(app, gemeente, koppeling_id)[-1].moment == "periodiek-1"


# --- the coordinator's conversation, page and task ----------------------------------------------------------------


def test_the_conversation_lets_the_koppeling_become_definitief_and_is_correctable(app, gemeente):
    koppeling_id, _, _ = started(app, gemeente)
    day = PROEFPERIODE_END
    with pytest.raises(KoppelingError):
        at(day, lambda: make_definitief(koppeling(koppeling_id), COORDINATOR, on=day, today=day), app, gemeente)

    refusals = [
        ("periodiek-1", day, "positief", "moment"),
        (PROEFPERIODE, day + timedelta(days=1), "positief", "held_on"),
        (PROEFPERIODE, TODAY - timedelta(days=1), "positief", "held_on"),
        (PROEFPERIODE, day, "geweldig", "outcome"),
        (PROEFPERIODE, None, "positief", "held_on"),
    ]
    for moment, held_on, outcome, field in refusals:
        with pytest.raises(EvaluationError) as refused:
            at(day, lambda m=moment, h=held_on, o=outcome: record_conversation(
                koppeling(koppeling_id), m, h, o, None, COORDINATOR, today=day), app, gemeente)
        assert refused.value.field == field, (moment, held_on, outcome)

    at(day, lambda: record_conversation(koppeling(koppeling_id), PROEFPERIODE, day, "twijfel", "Nog even kijken.",
                                        COORDINATOR, today=day), app, gemeente)
    with pytest.raises(KoppelingError):
        at(day, lambda: make_definitief(koppeling(koppeling_id), COORDINATOR, on=day, today=day), app, gemeente)
    at(day, lambda: record_conversation(koppeling(koppeling_id), PROEFPERIODE, day, "positief", None, COORDINATOR,
                                        today=day), app, gemeente)
    at(day, lambda: make_definitief(koppeling(koppeling_id), COORDINATOR, on=day, today=day), app, gemeente)
    assert in_tenant(app, gemeente, lambda: koppeling(koppeling_id).status) == KoppelingStatus.DEFINITIEF
    rows = in_tenant(app, gemeente, lambda: [(c.moment, c.outcome, c.notes) for c in db.session.scalars(
        select(EvaluationConversation).where(EvaluationConversation.koppeling_id == koppeling_id))])
    assert rows == [(PROEFPERIODE, "positief", None)]
    assert audit_count(app, gemeente, "evaluation.conversation_recorded") == 1
    assert audit_count(app, gemeente, "evaluation.conversation_corrected") == 1
    with pytest.raises(EvaluationError):  # it decided on definitief: no longer to be changed
        at(day, lambda: record_conversation(koppeling(koppeling_id), PROEFPERIODE, day, "negatief", None,
                                            COORDINATOR, today=day), app, gemeente)


def test_the_coordinator_gets_a_task_until_the_conversation_is_recorded(app, make, client, gemeente):
    coordinator = make.user(gemeente)
    koppeling_id, _, _ = started(app, gemeente)

    def tasks(day):
        return in_tenant(app, gemeente, lambda: [
            (t.title, t.due_on, t.koppeling_id) for t in task_list(coordinator_id=None, today=day,
                                                                     tenant=tenant_of(gemeente)).tasks
            if t.kind == TaskKind.EVALUATION_CONVERSATION])

    assert tasks(PROMPT_DAY) == []
    sweep_on(app, PROMPT_DAY, [gemeente])
    assert tasks(PROMPT_DAY) == [("Evaluatiegesprek voeren", PROEFPERIODE_END, koppeling_id)]

    login(client, coordinator, f"/{gemeente.slug}")
    home = client.get(f"/{gemeente.slug}/app/").get_data(as_text=True)
    assert f'href="/{gemeente.slug}/app/koppelingen/{koppeling_id}/evaluaties"' in home

    at(PROMPT_DAY, lambda: record_conversation(koppeling(koppeling_id), PROEFPERIODE, PROMPT_DAY, "positief", None,
                                               COORDINATOR, today=PROMPT_DAY), app, gemeente)
    assert tasks(PROMPT_DAY) == []


def test_the_evaluations_page_shows_answers_and_progress_and_records_the_conversation(app, make, client, gemeente):
    coordinator = make.user(gemeente)
    koppeling_id, _, _ = started(app, gemeente)
    sweep_on(app, PROMPT_DAY, [gemeente])
    answer(app, gemeente, latest_token(app, gemeente, "vraag"), GOOD_VRAAG, PROMPT_DAY + timedelta(days=1))
    login(client, coordinator, f"/{gemeente.slug}")
    url = f"/{gemeente.slug}/app/koppelingen/{koppeling_id}/evaluaties"
    page = client.get(url)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Einde proefperiode" in html and "Het gaat goed." in html and "nog niet ingevuld" in html
    assert "Ouders ontlasten: 2" in html and "Nog geen cijfers" not in html
    assert "Het evaluatiegesprek is nog niet vastgelegd." in html

    token = csrf_token(client, url)
    bad = client.post(f"{url}/gesprek", data={"csrf_token": token, "moment": PROEFPERIODE, "held_on": "",
                                              "outcome": "positief"})
    assert bad.status_code == 422 and "Vul een datum in" in bad.get_data(as_text=True)
    assert conversations(app, gemeente) == 0
    held_on = PROEFPERIODE_END.strftime("%d-%m-%Y")
    saved = client.post(f"{url}/gesprek", data={"csrf_token": token, "moment": PROEFPERIODE, "held_on": held_on,
                                                "outcome": "positief", "notes": "Beide gezinnen willen door."})
    assert saved.status_code == 302 and saved.headers["Location"].endswith(url)
    html = client.get(url).get_data(as_text=True)
    assert "positief: we gaan door" in html and "Beide gezinnen willen door." in html

    # Another gemeente's koppeling: the same 404 as a missing one.
    other = make.tenant()
    theirs, _, _ = started(app, other)
    for path in (f"/{gemeente.slug}/app/koppelingen/{theirs}/evaluaties",
                 f"/{gemeente.slug}/app/koppelingen/2000000000/evaluaties"):
        assert client.get(path).status_code == 404
        assert client.post(f"{path}/gesprek", data={"csrf_token": token, "moment": PROEFPERIODE,
                                                    "held_on": held_on, "outcome": "positief"}).status_code == 404
    assert conversations(app, other) == 0


def test_the_page_is_not_for_the_gemeentes_viewer(app, make, client, gemeente):
    from domain.accounts.models import TenantRole

    viewer = make.user(gemeente, TenantRole.GEMEENTE_VIEWER)
    koppeling_id, _, _ = started(app, gemeente)
    login(client, viewer, f"/{gemeente.slug}")
    assert client.get(f"/{gemeente.slug}/app/koppelingen/{koppeling_id}/evaluaties").status_code == 403


def test_the_chart_and_progress_table_on_the_page(app, make, client, gemeente):
    coordinator = make.user(gemeente)
    koppeling_id, _, _ = started(app, gemeente)
    sweep_on(app, PROMPT_DAY, [gemeente])
    answer(app, gemeente, latest_token(app, gemeente, "vraag"), GOOD_VRAAG, PROMPT_DAY + timedelta(days=1))
    make_definitief_on(app, gemeente, koppeling_id, PROEFPERIODE_END)
    first = add_months(PROEFPERIODE_END, 6)
    sweep_on(app, first, [gemeente])
    answer(app, gemeente, latest_token(app, gemeente, "vraag"), {**GOOD_VRAAG, "goal_ontlasten": "4"}, first)
    login(client, coordinator, f"/{gemeente.slug}")
    html = client.get(f"/{gemeente.slug}/app/koppelingen/{koppeling_id}/evaluaties").get_data(as_text=True)
    assert '<svg role="img" aria-labelledby="grafiek-titel grafiek-uitleg"' in html
    row = re.search(r"<th scope=\"row\"[^>]*>Ouders ontlasten</th>(.*?)</tr>", html, re.S).group(1)
    assert re.findall(r">([^<]+)</td>", row) == ["2", "4 (+2)"]


# --- the final evaluation -------------------------------------------------------------------------------------------


def test_the_final_evaluation_sends_both_families_a_link_once(app, gemeente):
    koppeling_id, _, _ = started(app, gemeente)
    make_definitief_on(app, gemeente, koppeling_id, PROEFPERIODE_END)
    closing = add_months(TODAY, 24)

    def close_and_evaluate():
        k = koppeling(koppeling_id)
        close(k, COORDINATOR, note="Doelen bereikt.", today=closing)
        return start_final_evaluation(k, datetime.now(UTC))

    assert at(closing, close_and_evaluate, app, gemeente) == 2
    assert at(closing, lambda: start_final_evaluation(koppeling(koppeling_id), datetime.now(UTC)), app, gemeente) == 0
    finals = [m for m in mails(app, gemeente) if m["moment"] == AFSLUITING]
    assert sorted(m["role"] for m in finals) == ["steun", "vraag"]
    # Sent at nine on the closing day: the 03:00 sweep seven days later is a few hours early.
    assert days_with_mail(app, gemeente, closing + timedelta(days=1), 10) == {
        7: [f"{REMINDER_TEMPLATE}:steun", f"{REMINDER_TEMPLATE}:vraag"]}
    answer(app, gemeente, latest_token(app, gemeente, "vraag"), GOOD_VRAAG, closing + timedelta(days=8))
    # The final conversation can be recorded for the closed koppeling.
    at(closing + timedelta(days=9), lambda: record_conversation(
        koppeling(koppeling_id), AFSLUITING, closing + timedelta(days=9), "positief", None, COORDINATOR,
        today=closing + timedelta(days=9)), app, gemeente)


def test_a_koppeling_that_never_started_gets_no_final_evaluation(app, gemeente):
    vraag, steun = pair(app, gemeente)
    koppeling_id = proposed(app, gemeente, vraag, steun)
    assert run(app, gemeente, lambda: start_final_evaluation(koppeling(koppeling_id))) == 0
    assert mails(app, gemeente) == []


# --- cost ---------------------------------------------------------------------------------------------------------


def statements_of_one_sweep(app, gemeente, day: date) -> int:
    count = 0

    def counter(*_args, **_kwargs):
        nonlocal count
        count += 1

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", counter)
    try:
        sweep_on(app, day, [gemeente], twice=False)
    finally:
        event.remove(engine, "before_cursor_execute", counter)
    return count


def test_the_number_of_statements_does_not_grow_with_the_number_of_due_koppelingen(app, make, gemeente):
    few, many = gemeente, make.tenant()
    for tenant, koppelingen in ((few, 1), (many, 4)):
        for _ in range(koppelingen):
            started(app, tenant)
    assert statements_of_one_sweep(app, few, PROMPT_DAY) == statements_of_one_sweep(app, many, PROMPT_DAY)
    assert len(mails(app, many)) == 8
    reminder_day = PROMPT_DAY + timedelta(days=7)
    assert statements_of_one_sweep(app, few, reminder_day) == statements_of_one_sweep(app, many, reminder_day)
    assert len(mails(app, many)) == 16
