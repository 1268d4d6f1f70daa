"""The koppeling pages: the list and one koppeling's page in every state with exactly the forms for
the steps allowed then; a forbidden step by POST refused with its message and nothing changed; every
allowed step one audit event; kennismaking invitations with an .ics for both families and the
coordinator (and through a real worker and SMTP: a parseable calendar whose SEQUENCE goes up);
the koppeling tasks on the start page; and isolation: another gemeente's koppeling is not found,
the gemeente viewer is refused."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import pytest
from icalendar import Calendar
from sqlalchemy import func, select

from devstack.celery_processes import wait_until
from domain.accounts.models import TenantRole
from domain.audit.models import AuditEvent
from domain.email.models import OutboundEmail
from domain.email.rendering import render_email
from domain.email.services import ATTACHMENTS_KEY, attachments_of, queue_email
from domain.email.transport import Attachment
from domain.families.models import Family, FamilyStatus
from domain.families.records import LOCAL_TIME, local_today
from domain.koppelingen.kennismaking import cancel, plan_meeting, record_outcome, reschedule
from domain.koppelingen.models import Kennismaking, Koppeling, KoppelingStatus, KoppelingStatusChange
from domain.koppelingen.services import propose, start_proefperiode, stop
from domain.outbox.models import OutboxJob
from domain.tasks.services import TaskKind, task_list
from tenants.db import db
from tenants.models import Tenant
from tests.conftest import csrf_token, login
from tests.signing_helpers import signed_agreement
from tests.smtp_sink import SmtpSink, smtp_sink  # noqa: F401 - the fixture
from tests.test_email import WAIT, MailStack, mail, stack_for  # noqa: F401 - fixtures
from tests.test_koppelingen import COORDINATOR, pair, positive_evaluation, run, to_kennismaking
from tests.test_vog import TODAY, in_tenant

K = KoppelingStatus
STEPS = {  # the URL suffix of each step's form on the page
    "akkoord-vraaggezin", "akkoord-steungezin", "kennismakingsfase", "kennismakingen",
    "proefperiode", "definitief", "verlengen", "afsluiten", "stoppen",
}


@pytest.fixture
def gemeente(make):
    return make.tenant()


@pytest.fixture
def coordinator(make, gemeente):
    return make.user(gemeente)


@pytest.fixture
def staff(app, client, gemeente, coordinator):
    login(client, coordinator, f"/{gemeente.slug}")
    return client


# --- helpers -------------------------------------------------------------------------------------------


def now() -> datetime:
    return datetime.now(UTC)


def proposal(app, gemeente, coordinator=None, *, vogs=True) -> int:
    vraag, steun = pair(app, gemeente, vogs=vogs)
    return run(app, gemeente, lambda: propose(
        db.session.get(Family, vraag), db.session.get(Family, steun), COORDINATOR, support_codes=["opvang_middag"],
        schedule="woensdagmiddag, om de week", location="bij het steungezin thuis",
        coordinator_id=coordinator.id if coordinator else None, today=TODAY).id)


def koppeling(koppeling_id) -> Koppeling:
    return db.session.get(Koppeling, koppeling_id)


def to_proefperiode(app, gemeente, koppeling_id):
    to_kennismaking(app, gemeente, koppeling_id)

    signed_agreement(app, gemeente, koppeling_id)
    run(app, gemeente, lambda: start_proefperiode(koppeling(koppeling_id), COORDINATOR, start_on=TODAY, today=TODAY))


def to_definitief(app, gemeente, koppeling_id):
    from domain.koppelingen.services import make_definitief

    to_proefperiode(app, gemeente, koppeling_id)
    positive_evaluation(app, gemeente, koppeling_id)
    run(app, gemeente, lambda: make_definitief(koppeling(koppeling_id), COORDINATOR, on=TODAY + timedelta(days=60),
                                               today=TODAY + timedelta(days=60)))


def to_afgesloten(app, gemeente, koppeling_id):
    from domain.koppelingen.services import close

    to_definitief(app, gemeente, koppeling_id)
    run(app, gemeente, lambda: close(koppeling(koppeling_id), COORDINATOR, note="Doel bereikt.", today=TODAY))


def to_gestopt(app, gemeente, koppeling_id):
    run(app, gemeente, lambda: stop(koppeling(koppeling_id), "verhuizing", COORDINATOR, note="Verhuisd naar Sneek.",
                                    today=TODAY))


REACH = {
    K.VOORGESTELD: lambda app, g, k: None,
    K.KENNISMAKING: to_kennismaking,
    K.PROEFPERIODE: to_proefperiode,
    K.DEFINITIEF: to_definitief,
    K.AFGESLOTEN: to_afgesloten,
    K.GESTOPT: to_gestopt,
}
FORMS = {
    K.VOORGESTELD: {"akkoord-vraaggezin", "akkoord-steungezin", "kennismakingsfase", "stoppen"},
    K.KENNISMAKING: {"kennismakingen", "proefperiode", "stoppen"},
    K.PROEFPERIODE: {"definitief", "stoppen"},
    K.DEFINITIEF: {"verlengen", "afsluiten", "stoppen"},
    K.AFGESLOTEN: set(),
    K.GESTOPT: set(),
}


def url(gemeente, koppeling_id, step: str = "") -> str:
    return f"/{gemeente.slug}/app/koppelingen/{koppeling_id}" + (f"/{step}" if step else "")


def forms_on(page: str, gemeente, koppeling_id) -> set[str]:
    prefix = url(gemeente, koppeling_id) + "/"
    return {action[len(prefix):] for action in re.findall(r'<form method="post" action="([^"]+)"', page)
            if action.startswith(prefix)}


def state(app, gemeente, koppeling_id) -> tuple:
    """Everything a step could change: the koppeling, the families, the timeline, the meetings, the
    mail, and the audit trail (page views aside)."""
    def read():
        k = koppeling(koppeling_id)
        row = {c.key: getattr(k, c.key) for c in Koppeling.__table__.columns if c.key != "updated_at"}
        families = {f.id: f.status for f in db.session.scalars(
            select(Family).where(Family.id.in_([k.vraag_family_id, k.steun_family_id])))}
        events = db.session.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.action != "koppeling.viewed", AuditEvent.action != "family.viewed"))
        timeline = db.session.scalar(select(func.count()).select_from(KoppelingStatusChange)
                                     .where(KoppelingStatusChange.koppeling_id == k.id))
        meetings = [(m.id, m.starts_at, m.location, m.sequence, m.cancelled_at, m.outcome) for m in db.session.scalars(
            select(Kennismaking).where(Kennismaking.koppeling_id == k.id).order_by(Kennismaking.id))]
        mails = db.session.scalar(select(func.count()).select_from(OutboundEmail))
        return row, families, events, timeline, meetings, mails
    return in_tenant(app, gemeente, read)


def events_of(app, gemeente) -> list[str]:
    return in_tenant(app, gemeente, lambda: list(db.session.scalars(
        select(AuditEvent.action).where(AuditEvent.action != "koppeling.viewed", AuditEvent.action != "family.viewed")
        .order_by(AuditEvent.id))))


def post(client, gemeente, koppeling_id, step, data=None):
    token = csrf_token(client, f"/{gemeente.slug}/app/")
    return client.post(url(gemeente, koppeling_id, step), data={"csrf_token": token, **(data or {})})


def meeting_form(day: date, at: str = "15:30", duration: int = 60, location: str = "Buurthuis De Wiek, Drachten"):
    return {"day": day.isoformat(), "at": at, "duration_minutes": str(duration), "location": location}


def add_meeting(app, gemeente, koppeling_id, starts_at, **values) -> int:
    def add():
        meeting = Kennismaking(tenant_id=gemeente.id, koppeling_id=koppeling_id, starts_at=starts_at,
                               duration_minutes=values.get("duration", 60),
                               location=values.get("location", "Buurthuis"),
                               outcome=values.get("outcome"))
        db.session.add(meeting)
        db.session.commit()
        return meeting.id
    return in_tenant(app, gemeente, add)


def mails(app, gemeente, koppeling_id=None) -> list[OutboundEmail]:
    def read():
        rows = db.session.scalars(select(OutboundEmail).where(OutboundEmail.template.like("kennismaking_%"))
                                  .order_by(OutboundEmail.id)).all()
        db.session.expunge_all()
        return rows
    return in_tenant(app, gemeente, read)


def calendar_of(email: OutboundEmail) -> Calendar:
    [attachment] = attachments_of(email.context)
    assert (attachment.filename, attachment.mime_type) == ("kennismaking.ics", "text/calendar")
    return Calendar.from_ical(attachment.content)


def family_addresses(app, gemeente, koppeling_id) -> tuple[str, str]:
    def read():
        k = koppeling(koppeling_id)
        return db.session.get(Family, k.vraag_family_id).email, db.session.get(Family, k.steun_family_id).email
    return in_tenant(app, gemeente, read)


# --- pages in every state ---------------------------------------------------------------------------------


@pytest.mark.parametrize("target", list(REACH))
def test_the_page_shows_exactly_the_forms_of_the_steps_allowed_now(app, staff, gemeente, coordinator, target):
    koppeling_id = proposal(app, gemeente, coordinator)
    REACH[target](app, gemeente, koppeling_id)
    response = staff.get(url(gemeente, koppeling_id))
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert forms_on(page, gemeente, koppeling_id) == FORMS[target]
    assert f'<strong id="koppeling-status">{target.value}</strong>' in page
    assert "Anna Jansen" in page and "Piet Visser" in page and "Test coordinator" in page
    assert f'href="/{gemeente.slug}/app/gezinnen/' in page  # both families link to their page
    assert "woensdagmiddag, om de week" in page and "opvang" in page.lower()
    assert 'id="tijdlijn"' in page and "voorgesteld" in page
    if target in (K.VOORGESTELD, K.KENNISMAKING):
        assert 'id="vog-in-orde"' in page
    if target == K.GESTOPT:
        assert "verhuizing" in page and "Verhuisd naar Sneek." in page
    if target in (K.PROEFPERIODE, K.DEFINITIEF):
        assert "15 augustus 2026" in page  # end of the proefperiode
    listing = staff.get(f"/{gemeente.slug}/app/koppelingen/?status={target.value}").get_data(as_text=True)
    assert f'href="{url(gemeente, koppeling_id)}"' in listing and "Anna Jansen" in listing and "Piet Visser" in listing
    other = next(s for s in K if s != target)
    assert f'href="{url(gemeente, koppeling_id)}"' not in staff.get(
        f"/{gemeente.slug}/app/koppelingen/?status={other.value}").get_data(as_text=True)


def test_the_vog_guard_shows_before_the_proefperiode(app, staff, gemeente, coordinator):
    koppeling_id = proposal(app, gemeente, coordinator, vogs=False)
    page = staff.get(url(gemeente, koppeling_id)).get_data(as_text=True)
    assert 'id="vog-blokkade"' in page and "Piet Visser: VOG nog niet aangevraagd" in page


def test_the_family_page_lists_its_koppelingen_and_the_nav_links_here(app, staff, gemeente, coordinator):
    koppeling_id = proposal(app, gemeente, coordinator)
    vraag_id = in_tenant(app, gemeente, lambda: koppeling(koppeling_id).vraag_family_id)
    page = staff.get(f"/{gemeente.slug}/app/gezinnen/{vraag_id}").get_data(as_text=True)
    assert f'href="{url(gemeente, koppeling_id)}">Koppeling met Piet Visser</a>' in page
    assert f'href="/{gemeente.slug}/app/koppelingen/"' in page  # the main menu


# --- forbidden steps ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("step", "data", "message"), [
    ("definitief", {"definitief_on": "2026-06-20"}, "kan niet naar ‘definitief’"),
    ("afsluiten", {"close_note": "Klaar."}, "kan niet naar ‘afgesloten’"),
    ("proefperiode", {"start_on": "2026-06-20"}, "kan niet naar ‘proefperiode’"),
    ("verlengen", {"until": "2030-01-01"}, "Alleen een definitieve koppeling kan verlengd worden."),
    ("kennismakingsfase", {}, "nog niet vastgelegd voor het vraaggezin en het steungezin"),
    ("kennismakingen", meeting_form(date(2030, 1, 1)), "Een kennismaking plan je in de kennismakingsfase"),
    ("stoppen", {"reason": "anders", "stop_note": ""}, "Licht de reden ‘anders’ toe."),
    ("stoppen", {"reason": "", "stop_note": "Zomaar"}, "Kies een reden om te stoppen."),
    ("akkoord-vraaggezin", {"vraag_agreed_on": "2026-06-01"}, "Vul een datum in tussen het voorstel en vandaag."),
])
def test_a_forbidden_step_is_refused_with_its_message_and_changes_nothing(app, staff, gemeente, coordinator, step,
                                                                         data, message):
    koppeling_id = proposal(app, gemeente, coordinator)
    before = state(app, gemeente, koppeling_id)
    response = post(staff, gemeente, koppeling_id, step, data)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert 'role="alert"' in page and "Er is niets veranderd." in page
    assert message in page
    assert state(app, gemeente, koppeling_id) == before


def test_field_errors_are_shown_next_to_their_field(app, staff, gemeente, coordinator):
    koppeling_id = proposal(app, gemeente, coordinator)
    to_kennismaking(app, gemeente, koppeling_id)
    before = state(app, gemeente, koppeling_id)
    yesterday = local_today() - timedelta(days=1)
    for data, field_id, message in (
        (meeting_form(yesterday), "day", "Kies een moment in de toekomst."),
        (meeting_form(local_today() + timedelta(days=3), location="  "), "location", "Vul in waar de kennismaking is."),
        (meeting_form(local_today() + timedelta(days=3), duration=600), "duration_minutes", "Kies een duur van 15"),
    ):
        response = post(staff, gemeente, koppeling_id, "kennismakingen", data)
        assert response.status_code == 422
        page = response.get_data(as_text=True)
        assert re.search(rf'id="{field_id}-error">\s*<p class="utrecht-paragraph">{re.escape(message)}', page), message
        assert re.search(rf'id="{field_id}"[^>]*aria-invalid="true"|aria-invalid="true"[^>]*id="{field_id}"', page)
        assert state(app, gemeente, koppeling_id) == before
    # The VOG guard in the middle of a step: the message names the adult, nothing changes.
    signed_agreement(app, gemeente, koppeling_id)
    steun = in_tenant(app, gemeente, lambda: koppeling(koppeling_id).steun_family_id)
    from domain.vog.models import VogRecord

    def expire():
        for vog in db.session.scalars(select(VogRecord).where(VogRecord.family_id == steun)):
            vog.status, vog.renewal_due_on = "verlopen", TODAY
        db.session.commit()
    in_tenant(app, gemeente, expire)
    before = state(app, gemeente, koppeling_id)
    response = post(staff, gemeente, koppeling_id, "proefperiode", {"start_on": local_today().isoformat()})
    assert response.status_code == 422
    assert "Piet Visser: VOG verlopen" in response.get_data(as_text=True)
    assert state(app, gemeente, koppeling_id) == before


def test_a_post_without_csrf_token_is_refused(app, staff, gemeente, coordinator):
    koppeling_id = proposal(app, gemeente, coordinator)
    before = state(app, gemeente, koppeling_id)
    response = staff.post(url(gemeente, koppeling_id, "akkoord-vraaggezin"),
                          data={"vraag_agreed_on": local_today().isoformat()})
    assert response.status_code == 400
    assert state(app, gemeente, koppeling_id) == before


# --- allowed steps -----------------------------------------------------------------------------------------------


def step_ok(app, staff, gemeente, koppeling_id, step, data, action, flash):
    before = events_of(app, gemeente)
    response = post(staff, gemeente, koppeling_id, step, data)
    assert response.status_code == 302, response.get_data(as_text=True)[:3000]
    assert response.headers["Location"].startswith(url(gemeente, koppeling_id))
    assert events_of(app, gemeente)[len(before):] == [action]
    page = staff.get(response.headers["Location"]).get_data(as_text=True)
    assert flash in page
    return page


def test_every_allowed_step_writes_one_audit_event(app, staff, gemeente, coordinator):
    koppeling_id = proposal(app, gemeente, coordinator)
    today = local_today()
    step_ok(app, staff, gemeente, koppeling_id, "akkoord-vraaggezin", {"vraag_agreed_on": today.isoformat()},
            "koppeling.proposal_agreed", "Het akkoord van het vraaggezin is vastgelegd.")
    step_ok(app, staff, gemeente, koppeling_id, "akkoord-steungezin", {"steun_agreed_on": today.strftime("%d-%m-%Y")},
            "koppeling.proposal_agreed", "Het akkoord van het steungezin is vastgelegd.")
    step_ok(app, staff, gemeente, koppeling_id, "kennismakingsfase", {}, "koppeling.status_changed",
            "De kennismakingsfase is begonnen.")
    page = step_ok(app, staff, gemeente, koppeling_id, "kennismakingen", meeting_form(today + timedelta(days=5)),
                   "koppeling.meeting_planned", "De kennismaking is gepland.")
    assert "Buurthuis De Wiek, Drachten" in page and "gepland" in page
    meeting_id = in_tenant(app, gemeente, lambda: db.session.scalar(
        select(Kennismaking.id).where(Kennismaking.koppeling_id == koppeling_id)))
    page = step_ok(app, staff, gemeente, koppeling_id, f"kennismakingen/{meeting_id}/verplaatsen",
                   meeting_form(today + timedelta(days=6), at="10:00", location="Bibliotheek Drachten"),
                   "koppeling.meeting_rescheduled", "De kennismaking is verplaatst.")
    assert "Bibliotheek Drachten" in page
    step_ok(app, staff, gemeente, koppeling_id, f"kennismakingen/{meeting_id}/afzeggen", {},
            "koppeling.meeting_cancelled", "De kennismaking is afgezegd.")
    held = add_meeting(app, gemeente, koppeling_id, now() - timedelta(days=1))
    page = staff.get(url(gemeente, koppeling_id)).get_data(as_text=True)
    assert f"/kennismakingen/{held}/uitkomst" in page
    page = step_ok(app, staff, gemeente, koppeling_id, f"kennismakingen/{held}/uitkomst",
                   {"outcome": "goed", "notes": "Klikte meteen."}, "koppeling.meeting_outcome",
                   "De uitkomst van de kennismaking is vastgelegd.")
    assert "Klikte meteen." in page and f"/kennismakingen/{held}/uitkomst" not in page
    page = staff.get(url(gemeente, koppeling_id)).get_data(as_text=True)
    assert "Afsprakenovereenkomst laten ondertekenen" in page
    signed_agreement(app, gemeente, koppeling_id)  # signing itself: tests/test_signing.py
    before = events_of(app, gemeente)
    response = post(staff, gemeente, koppeling_id, "proefperiode", {"start_on": today.isoformat()})
    assert response.status_code == 302
    # The proefperiode moves both families to gekoppeld (their own audited status changes) with one koppeling event.
    new = events_of(app, gemeente)[len(before):]
    assert [a for a in new if a.startswith("koppeling.")] == ["koppeling.status_changed"]
    assert in_tenant(app, gemeente, lambda: {f.status for f in db.session.scalars(select(Family))}) == {
        FamilyStatus.GEKOPPELD}
    positive_evaluation(app, gemeente, koppeling_id)
    step_ok(app, staff, gemeente, koppeling_id, "definitief", {"definitief_on": today.isoformat()},
            "koppeling.status_changed", "De koppeling is definitief.")
    step_ok(app, staff, gemeente, koppeling_id, "verlengen", {"until": (today + timedelta(days=1000)).isoformat()},
            "koppeling.extended", "De begeleiding is verlengd.")
    before = events_of(app, gemeente)
    response = post(staff, gemeente, koppeling_id, "afsluiten", {"close_note": "Doelen bereikt."})
    assert response.status_code == 302
    assert [a for a in events_of(app, gemeente)[len(before):] if a.startswith("koppeling.")] == [
        "koppeling.status_changed"]
    page = staff.get(url(gemeente, koppeling_id)).get_data(as_text=True)
    assert "Doelen bereikt." in page and forms_on(page, gemeente, koppeling_id) == set()
    row = in_tenant(app, gemeente, lambda: koppeling(koppeling_id).status)
    assert row == K.AFGESLOTEN
    # Closing comes with the final evaluation: a link for each family.
    final = in_tenant(app, gemeente, lambda: db.session.scalars(
        select(OutboundEmail.context["moment"].astext).where(OutboundEmail.template == "evaluation_request")).all())
    assert final == ["afsluiting", "afsluiting"]


def test_a_too_long_location_names_the_limit_and_plans_nothing(app, staff, gemeente, coordinator):
    koppeling_id = proposal(app, gemeente, coordinator)
    to_kennismaking(app, gemeente, koppeling_id)
    response = post(staff, gemeente, koppeling_id, "kennismakingen",
                    meeting_form(local_today() + timedelta(days=4), location="x" * 201))
    assert response.status_code == 422
    assert "Hooguit 200 tekens." in response.get_data(as_text=True)
    assert mails(app, gemeente) == []


def test_a_stop_through_the_page_calls_off_the_planned_kennismaking(app, staff, gemeente, coordinator):
    koppeling_id = proposal(app, gemeente, coordinator)
    to_kennismaking(app, gemeente, koppeling_id)
    post(staff, gemeente, koppeling_id, "kennismakingen", meeting_form(local_today() + timedelta(days=4)))
    planned = len(mails(app, gemeente))
    before = events_of(app, gemeente)
    response = post(staff, gemeente, koppeling_id, "stoppen", {"reason": "mismatch", "stop_note": "Klikte niet."})
    assert response.status_code == 302
    assert [a for a in events_of(app, gemeente)[len(before):] if a.startswith("koppeling.")] == [
        "koppeling.status_changed", "koppeling.meeting_cancelled"]
    sent = mails(app, gemeente)[planned:]
    assert {m.template for m in sent} == {"kennismaking_cancelled"} and len(sent) == 3
    page = staff.get(response.headers["Location"]).get_data(as_text=True)
    assert "De geplande kennismaking is afgezegd" in page and "het klikt niet (mismatch)" in page


# --- kennismaking invitations ---------------------------------------------------------------------------------------


def test_planning_moving_and_cancelling_invite_both_families_and_the_coordinator(app, staff, gemeente, coordinator):
    koppeling_id = proposal(app, gemeente, coordinator)
    to_kennismaking(app, gemeente, koppeling_id)
    vraag_email, steun_email = family_addresses(app, gemeente, koppeling_id)
    day = local_today() + timedelta(days=10)
    response = post(staff, gemeente, koppeling_id, "kennismakingen", meeting_form(day, at="15:30"))
    assert response.status_code == 302
    flash = staff.get(response.headers["Location"]).get_data(as_text=True)
    assert "gaat naar het vraaggezin, het steungezin en de coördinator" in flash

    planned = mails(app, gemeente)
    assert sorted(m.to_address for m in planned) == sorted([vraag_email, steun_email, coordinator.email])
    by_address = {m.to_address: m for m in planned}
    uids = set()
    for email in planned:
        assert email.template == "kennismaking_invitation"
        calendar = calendar_of(email)
        [event] = calendar.events
        assert str(calendar["METHOD"]) == "REQUEST"
        assert int(event["SEQUENCE"]) == 0
        assert str(event["SUMMARY"]) == "Kennismaking Buurtgezinnen"
        assert str(event["LOCATION"]) == "Buurthuis De Wiek, Drachten"
        assert event.start == datetime.combine(day, datetime.min.time().replace(hour=15, minute=30), LOCAL_TIME)
        assert event.end - event.start == timedelta(minutes=60)
        assert event.start.tzinfo is not None and calendar.timezones  # with its VTIMEZONE
        assert str(event["ORGANIZER"]).startswith("mailto:")
        assert str(event["ATTENDEE"]) == f"mailto:{email.to_address}"  # only the recipient: no other address
        uids.add(str(event["UID"]))
    assert len(uids) == 1 and uids.pop().startswith(f"kennismaking-{gemeente.id}-")

    # Each family is addressed by its contact's first name; no family's mail names the other family.
    rendered = {address: render_email(m.template, m.language, m.context) for address, m in by_address.items()}
    assert "Beste Anna," in rendered[vraag_email].text and "Beste Piet," in rendered[steun_email].text
    assert "Beste Test coordinator," in rendered[coordinator.email].text
    assert "Anna Jansen" in rendered[coordinator.email].text and "Piet Visser" in rendered[coordinator.email].text
    for mine, theirs in ((vraag_email, ("Visser", steun_email)), (steun_email, ("Jansen", vraag_email))):
        whole = rendered[mine].subject + rendered[mine].text + rendered[mine].html + str(by_address[mine].context)
        assert not any(word in whole for word in theirs), mine
    assert "Buurthuis De Wiek, Drachten" in rendered[vraag_email].text
    assert coordinator.email in rendered[vraag_email].text

    meeting_id = in_tenant(app, gemeente, lambda: db.session.scalar(
        select(Kennismaking.id).where(Kennismaking.koppeling_id == koppeling_id)))
    post(staff, gemeente, koppeling_id, f"kennismakingen/{meeting_id}/verplaatsen",
         meeting_form(day, at="16:00", location="Bibliotheek Drachten"))
    moved = mails(app, gemeente)[3:]
    assert len(moved) == 3 and {int(calendar_of(m).events[0]["SEQUENCE"]) for m in moved} == {1}
    assert {str(calendar_of(m).events[0]["UID"]) for m in moved} == {str(calendar_of(planned[0]).events[0]["UID"])}
    subjects = [render_email(m.template, m.language, m.context).subject for m in moved]
    assert all(subject.startswith(("Nieuwe tijd", "Kennismaking verplaatst")) for subject in subjects)

    post(staff, gemeente, koppeling_id, f"kennismakingen/{meeting_id}/afzeggen")
    cancelled = mails(app, gemeente)[6:]
    assert len(cancelled) == 3 and {m.template for m in cancelled} == {"kennismaking_cancelled"}
    for email in cancelled:
        calendar = calendar_of(email)
        assert str(calendar["METHOD"]) == "CANCEL"
        assert int(calendar.events[0]["SEQUENCE"]) == 2 and str(calendar.events[0]["STATUS"]) == "CANCELLED"
    # One mail per (meeting, version, recipient): nine distinct dedupe keys.
    keys = in_tenant(app, gemeente, lambda: db.session.scalars(select(OutboxJob.dedupe_key).where(
        OutboxJob.dedupe_key.like("email:kennismaking:%"))).all())
    assert len(set(keys)) == 9


def test_a_family_without_email_and_no_coordinator_means_fewer_invitations(app, staff, gemeente):
    koppeling_id = proposal(app, gemeente, None)
    to_kennismaking(app, gemeente, koppeling_id)

    def forget_email():
        db.session.get(Family, koppeling(koppeling_id).steun_family_id).email = None
        db.session.commit()
    in_tenant(app, gemeente, forget_email)
    page = staff.get(url(gemeente, koppeling_id)).get_data(as_text=True)
    assert "Geen e-mailadres bekend van het steungezin en de coördinator" in page
    response = post(staff, gemeente, koppeling_id, "kennismakingen", meeting_form(local_today() + timedelta(days=3)))
    assert response.status_code == 302
    vraag_email, _ = family_addresses(app, gemeente, koppeling_id)
    assert [m.to_address for m in mails(app, gemeente)] == [vraag_email]
    assert "Geen e-mailadres bekend van het steungezin en de coördinator" in staff.get(
        response.headers["Location"]).get_data(as_text=True)


def test_a_second_meeting_needs_the_first_moved_or_called_off(app, gemeente, coordinator):
    from domain.koppelingen.services import KoppelingError

    koppeling_id = proposal(app, gemeente, coordinator)
    to_kennismaking(app, gemeente, koppeling_id)
    starts = now() + timedelta(days=3)

    def plan_twice():
        plan_meeting(koppeling(koppeling_id), starts, 60, "Buurthuis", COORDINATOR)
        with pytest.raises(KoppelingError, match="Er staat al een kennismaking gepland"):
            plan_meeting(koppeling(koppeling_id), starts + timedelta(days=1), 60, "Buurthuis", COORDINATOR)
        meeting = db.session.scalar(select(Kennismaking).where(Kennismaking.koppeling_id == koppeling_id))
        with pytest.raises(KoppelingError, match="niets veranderd"):
            reschedule(meeting, starts, 60, "Buurthuis", COORDINATOR)
        cancel(meeting, COORDINATOR)
        with pytest.raises(KoppelingError, match="al afgezegd"):
            cancel(meeting, COORDINATOR)
        with pytest.raises(KoppelingError, match="geen uitkomst"):
            record_outcome(meeting, "goed", None, COORDINATOR)
        plan_meeting(koppeling(koppeling_id), starts + timedelta(days=1), 60, "Buurthuis", COORDINATOR)
        db.session.rollback()
    in_tenant(app, gemeente, plan_twice)


def test_queue_email_refuses_a_bad_attachment_and_the_reserved_key(app, gemeente):
    def attempt(**kwargs):
        queue_email(db.session.get(Tenant, gemeente.id), to="iemand@example.org", template="staff_invitation",
                    context=kwargs.pop("context", {"full_name": "A", "invited_by": "B", "link": "x",
                                                   "expires_on": "y"}),
                    dedupe_key="probe", **kwargs)
    for kwargs, message in (
        ({"attachments": [Attachment("../etc/passwd", "text/plain", "x")]}, "plain file name"),
        ({"attachments": [Attachment("a.exe", "application/octet-stream", "x")]}, "text/"),
        ({"attachments": [Attachment("a.ics", "text/calendar", "x", (("method", "REQUEST\r\nX: y"),))]}, "token"),
        ({"context": {ATTACHMENTS_KEY: []}}, "reserved"),
    ):
        with pytest.raises(ValueError, match=message):
            in_tenant(app, gemeente, lambda kwargs=kwargs: attempt(**kwargs))


def test_the_invitation_goes_out_with_a_parseable_calendar_whose_sequence_goes_up(
        mail: MailStack, smtp_sink: SmtpSink, make):  # noqa: F811
    gemeente = make.tenant()
    coordinator = make.user(gemeente)
    koppeling_id = proposal(mail.app, gemeente, coordinator)
    to_kennismaking(mail.app, gemeente, koppeling_id)
    vraag_email, steun_email = family_addresses(mail.app, gemeente, koppeling_id)
    starts = now().replace(microsecond=0) + timedelta(days=8)

    def plan():
        meeting = plan_meeting(koppeling(koppeling_id), starts, 45, "Speeltuin ’t Hofke", COORDINATOR)
        db.session.commit()
        return meeting.id
    meeting_id = in_tenant(mail.app, gemeente, plan)
    wait_until(lambda: len(smtp_sink.messages_to(steun_email)) == 1, seconds=WAIT,
               message=f"the invitation\n{mail.worker.log()}")

    def move():
        reschedule(db.session.get(Kennismaking, meeting_id), starts + timedelta(hours=2), 45, "Speeltuin ’t Hofke",
                   COORDINATOR)
        db.session.commit()
    in_tenant(mail.app, gemeente, move)
    for address in (vraag_email, steun_email, coordinator.email):
        wait_until(lambda address=address: len(smtp_sink.messages_to(address)) == 2, seconds=WAIT,
                   message=f"both mails to {address}\n{mail.worker.log()}")

    uids = set()
    for sequence, message in enumerate(smtp_sink.messages_to(steun_email)):
        assert message.get_content_type() == "multipart/mixed"
        [part] = [p for p in message.walk() if p.get_content_type() == "text/calendar"]
        assert part.get_filename() == "kennismaking.ics" and part.get_param("method") == "REQUEST"
        calendar = Calendar.from_ical(part.get_content())
        [event] = calendar.events
        assert str(calendar["METHOD"]) == "REQUEST"
        assert int(event["SEQUENCE"]) == sequence
        assert event.start == starts + timedelta(hours=2 * sequence)
        assert str(event["LOCATION"]) == "Speeltuin ’t Hofke"
        uids.add(str(event["UID"]))
        assert {"text/plain", "text/html"} <= {p.get_content_type() for p in message.walk()}
    assert len(uids) == 1


# --- tasks ------------------------------------------------------------------------------------------------------------


def tasks_on(app, gemeente, day, coordinator_id=None):
    return in_tenant(app, gemeente, lambda: task_list(coordinator_id=coordinator_id, today=day,
                                                      tenant=db.session.get(Tenant, gemeente.id)).tasks)


def koppeling_tasks(app, gemeente, day, coordinator_id=None):
    return [(t.kind, t.due_on, t.koppeling_id) for t in tasks_on(app, gemeente, day, coordinator_id)
            if t.koppeling_id is not None]


def test_a_proposal_waits_for_both_answers_as_a_task(app, make, gemeente, coordinator):
    koppeling_id = proposal(app, gemeente, coordinator)
    due = TODAY + timedelta(days=14)
    assert koppeling_tasks(app, gemeente, TODAY) == [(TaskKind.PROPOSAL_ANSWER, due, koppeling_id)]
    assert koppeling_tasks(app, gemeente, TODAY, coordinator.id) == [(TaskKind.PROPOSAL_ANSWER, due, koppeling_id)]
    assert koppeling_tasks(app, gemeente, TODAY, make.user(gemeente).id) == []  # someone else's koppeling
    [task] = [t for t in tasks_on(app, gemeente, TODAY) if t.koppeling_id]
    assert task.subject == "Anna Jansen" and "nog geen ja van het vraaggezin en het steungezin" in task.detail
    to_kennismaking(app, gemeente, koppeling_id)
    assert koppeling_tasks(app, gemeente, TODAY) == []


def test_a_past_kennismaking_without_outcome_is_a_task(app, gemeente, coordinator):
    koppeling_id = proposal(app, gemeente, coordinator)
    to_kennismaking(app, gemeente, koppeling_id)
    held = datetime.combine(TODAY, datetime.min.time().replace(hour=15), LOCAL_TIME)
    meeting_id = add_meeting(app, gemeente, koppeling_id, held)
    assert koppeling_tasks(app, gemeente, TODAY) == []  # not yet past at the start of that day
    assert koppeling_tasks(app, gemeente, TODAY + timedelta(days=1)) == [
        (TaskKind.MEETING_OUTCOME, TODAY + timedelta(days=3), koppeling_id)]

    def record():
        db.session.get(Kennismaking, meeting_id).outcome = "goed"
        db.session.commit()
    in_tenant(app, gemeente, record)
    assert koppeling_tasks(app, gemeente, TODAY + timedelta(days=1)) == []


def test_the_end_of_the_guidance_term_asks_to_close_or_extend(app, client, gemeente, coordinator):
    koppeling_id = proposal(app, gemeente, coordinator)
    to_definitief(app, gemeente, koppeling_id)
    end = in_tenant(app, gemeente, lambda: koppeling(koppeling_id).guidance_end_on)
    assert end == date(2028, 6, 15)
    assert koppeling_tasks(app, gemeente, end - timedelta(days=31)) == []
    assert koppeling_tasks(app, gemeente, end - timedelta(days=30)) == [(TaskKind.KOPPELING_END, end, koppeling_id)]

    def near_the_end():  # the start page reads the real today: move the term's end close to it
        koppeling(koppeling_id).guidance_end_on = local_today() + timedelta(days=10)
        db.session.commit()
    in_tenant(app, gemeente, near_the_end)
    login(client, coordinator, f"/{gemeente.slug}")
    page = client.get(f"/{gemeente.slug}/app/").get_data(as_text=True)
    assert f'href="{url(gemeente, koppeling_id)}">Koppeling afsluiten of verlengen' in page
    assert "Koppelingen afsluiten of verlengen: 1" in page


# --- isolation and roles -------------------------------------------------------------------------------------------


def test_another_gemeentes_koppeling_is_not_found(app, make, staff, gemeente, coordinator):
    other = make.tenant()
    theirs = proposal(app, other, make.user(other))
    to_kennismaking(app, other, theirs)
    meeting = add_meeting(app, other, theirs, now() + timedelta(days=3))
    mine = proposal(app, gemeente, coordinator)
    before = state(app, other, theirs)
    assert staff.get(url(gemeente, mine)).status_code == 200  # positive control
    for koppeling_id in (theirs, 2_000_000_000):
        assert staff.get(url(gemeente, koppeling_id)).status_code == 404
        for step, data in (("akkoord-vraaggezin", {"vraag_agreed_on": local_today().isoformat()}),
                           ("stoppen", {"reason": "mismatch"}), ("kennismakingen", meeting_form(local_today()))):
            assert post(staff, gemeente, koppeling_id, step, data).status_code == 404
    # B's meeting through A's own koppeling: not found either.
    token = csrf_token(staff, f"/{gemeente.slug}/app/")
    assert staff.post(url(gemeente, mine, f"kennismakingen/{meeting}/afzeggen"),
                      data={"csrf_token": token}).status_code == 404
    assert staff.get(f"/{other.slug}/app/koppelingen/{theirs}").status_code == 302  # to the other gemeente's login
    assert state(app, other, theirs) == before
    listing = staff.get(f"/{gemeente.slug}/app/koppelingen/").get_data(as_text=True)
    assert url(gemeente, theirs) not in listing and url(gemeente, mine) in listing


def test_the_gemeente_viewer_is_refused(app, client, make, gemeente, coordinator):
    koppeling_id = proposal(app, gemeente, coordinator)
    viewer = make.user(gemeente, TenantRole.GEMEENTE_VIEWER)
    login(client, viewer, f"/{gemeente.slug}")
    before = state(app, gemeente, koppeling_id)
    assert client.get(f"/{gemeente.slug}/app/koppelingen/").status_code == 403
    assert client.get(url(gemeente, koppeling_id)).status_code == 403
    token = csrf_token(client, f"/{gemeente.slug}/app/")
    assert client.post(url(gemeente, koppeling_id, "stoppen"),
                       data={"csrf_token": token, "reason": "mismatch"}).status_code == 403
    assert state(app, gemeente, koppeling_id) == before
    assert "/app/koppelingen/" not in client.get(f"/{gemeente.slug}/app/").get_data(as_text=True)
