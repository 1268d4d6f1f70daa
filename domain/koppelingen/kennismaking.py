"""Kennismakingen: the meetings of both families and the coordinator before the proefperiode.

A meeting is planned, moved or cancelled only while the koppeling is in ``kennismaking`` (both
families said yes to the proposal; ``start_kennismaking`` guards that), and only one upcoming
meeting at a time. A meeting that has passed can no longer be moved or cancelled; its outcome is
recorded instead. Every step writes one audit event and, for planning, moving and cancelling, an
invitation e-mail to each family (its contact adult, when the family has an e-mail address) and to
the coordinator, with an ``.ics`` calendar file: ``METHOD:REQUEST`` (``CANCEL`` for a cancellation),
one stable UID per meeting and a ``SEQUENCE`` that goes up with every change, so calendar apps
update the appointment they already have.

Privacy: a family's mail and calendar file hold the place exactly as the coordinator wrote it,
the coordinator's name and the family's own first name; never the other family's name, address
or e-mail address (each file lists only its own recipient as attendee).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from email.utils import parseaddr

from babel.dates import format_datetime
from email_validator import EmailNotValidError, validate_email
from flask import current_app
from icalendar import Calendar, Event, vCalAddress, vText
from sqlalchemy import select

from domain.accounts.models import StaffUser
from domain.audit.services import Actor, record
from domain.email.services import queue_email
from domain.email.transport import Attachment, sender_domain
from domain.families.models import Family, FamilyMember, MemberRole
from domain.families.records import LOCAL_TIME, full_name
from domain.koppelingen.models import Kennismaking, Koppeling, KoppelingStatus, MeetingOutcome
from domain.koppelingen.services import NOTE_MAX_LENGTH, KoppelingError
from tenants.db import db
from tenants.models import Tenant

SUMMARY = "Kennismaking Buurtgezinnen"
INVITATION_TEMPLATE = "kennismaking_invitation"
CANCELLED_TEMPLATE = "kennismaking_cancelled"
LOCATION_MAX_LENGTH = 200
MIN_DURATION, MAX_DURATION, DEFAULT_DURATION = 15, 240, 60
PLAN_AHEAD_DAYS = 365

OUTCOME_LABELS = {
    MeetingOutcome.GOED: "goed: beide gezinnen willen verder",
    MeetingOutcome.TWIJFEL: "twijfel: nog een keer afspreken of erover nadenken",
    MeetingOutcome.NIET_GOED: "niet goed: het klikt niet",
}
AUDIENCES = ("vraag", "steun", "coordinator")


@dataclass(frozen=True)
class Recipient:
    audience: str  # "vraag", "steun" or "coordinator"
    address: str
    name: str  # how the mail addresses them: the contact adult's first name, the coordinator's name


# --- reading ----------------------------------------------------------------------------------------


def meetings_of(koppeling: Koppeling) -> list[Kennismaking]:
    return list(db.session.scalars(select(Kennismaking).where(Kennismaking.koppeling_id == koppeling.id)
                                   .order_by(Kennismaking.starts_at, Kennismaking.id)))


def ends_at(meeting: Kennismaking) -> datetime:
    return meeting.starts_at + timedelta(minutes=meeting.duration_minutes)


def is_upcoming(meeting: Kennismaking, now: datetime | None = None) -> bool:
    return meeting.cancelled_at is None and meeting.starts_at > (now or datetime.now(UTC))


def is_past(meeting: Kennismaking, now: datetime | None = None) -> bool:
    return meeting.cancelled_at is None and meeting.starts_at <= (now or datetime.now(UTC))


def local_start(day: date, at: time) -> datetime:
    """A Dutch calendar day and clock time as a moment (what the form asks for)."""
    return datetime.combine(day, at, tzinfo=LOCAL_TIME)


def recipients(koppeling: Koppeling) -> tuple[list[Recipient], list[str]]:
    """Who gets the invitation, and (in Dutch) who cannot be reached by e-mail."""
    found, missing = [], []
    for audience, family_id, label in (("vraag", koppeling.vraag_family_id, "het vraaggezin"),
                                       ("steun", koppeling.steun_family_id, "het steungezin")):
        family = db.session.scalar(select(Family).where(Family.id == family_id))
        if family is None or not _deliverable(family.email) or family.anonymised_at is not None:
            missing.append(label)
            continue
        found.append(Recipient(audience, family.email, _contact_first_name(family) or "gezin"))
    coordinator = _coordinator(koppeling)
    if coordinator is None or not _deliverable(coordinator.email):
        missing.append("de coördinator")
    else:
        found.append(Recipient("coordinator", coordinator.email, coordinator.full_name))
    return found, missing


# --- the steps -----------------------------------------------------------------------------------------


def plan_meeting(koppeling: Koppeling, starts_at: datetime | None, duration_minutes: int | None,
                 location: str | None, actor: Actor, *, now: datetime | None = None) -> Kennismaking:
    """A new meeting in the kennismaking phase; both families and the coordinator are invited."""
    now = now or datetime.now(UTC)
    _require_kennismaking(koppeling, "Een kennismaking plan je in de kennismakingsfase, nadat beide gezinnen "
                                     "akkoord zijn met het voorstel.")
    upcoming = [m for m in meetings_of(koppeling) if is_upcoming(m, now)]
    if upcoming:
        raise KoppelingError("Er staat al een kennismaking gepland. Verplaats die, of zeg hem eerst af.")
    starts_at, duration_minutes, location = _validated(starts_at, duration_minutes, location, now)
    meeting = Kennismaking(tenant_id=koppeling.tenant_id, koppeling_id=koppeling.id, starts_at=starts_at,
                           duration_minutes=duration_minutes, location=location, sequence=0)
    db.session.add(meeting)
    db.session.flush()
    record("koppeling.meeting_planned", actor, object_type="koppeling", object_id=koppeling.id,
           details={"meeting_id": meeting.id, "starts_at": starts_at.isoformat(), "duration": duration_minutes})
    _send(koppeling, meeting, cancelled=False, rescheduled=False, now=now)
    return meeting


def reschedule(meeting: Kennismaking, starts_at: datetime | None, duration_minutes: int | None,
               location: str | None, actor: Actor, *, now: datetime | None = None) -> Kennismaking:
    """Move an upcoming meeting (time, length or place); everyone gets the update (SEQUENCE + 1)."""
    now = now or datetime.now(UTC)
    koppeling = _koppeling_of(meeting)
    _require_kennismaking(koppeling, "Een kennismaking verplaats je alleen in de kennismakingsfase.")
    _require_upcoming(meeting, now, "Deze kennismaking is al geweest; leg de uitkomst vast of plan een nieuwe.")
    starts_at, duration_minutes, location = _validated(starts_at, duration_minutes, location, now)
    if (starts_at, duration_minutes, location) == (meeting.starts_at, meeting.duration_minutes, meeting.location):
        raise KoppelingError("Er is niets veranderd: kies een ander moment, een andere duur of een andere plek.")
    before = meeting.starts_at
    meeting.starts_at, meeting.duration_minutes, meeting.location = starts_at, duration_minutes, location
    meeting.sequence += 1
    db.session.flush()
    record("koppeling.meeting_rescheduled", actor, object_type="koppeling", object_id=koppeling.id,
           details={"meeting_id": meeting.id, "from": before.isoformat(), "to": starts_at.isoformat(),
                    "sequence": meeting.sequence})
    _send(koppeling, meeting, cancelled=False, rescheduled=True, now=now)
    return meeting


def cancel(meeting: Kennismaking, actor: Actor, *, now: datetime | None = None) -> Kennismaking:
    """Call off an upcoming meeting; everyone gets a cancellation (METHOD:CANCEL, SEQUENCE + 1)."""
    now = now or datetime.now(UTC)
    koppeling = _koppeling_of(meeting)
    if meeting.cancelled_at is not None:
        raise KoppelingError("Deze kennismaking is al afgezegd.")
    _require_upcoming(meeting, now, "Deze kennismaking is al geweest en kan niet meer afgezegd worden.")
    meeting.cancelled_at = now
    meeting.sequence += 1
    db.session.flush()
    record("koppeling.meeting_cancelled", actor, object_type="koppeling", object_id=koppeling.id,
           details={"meeting_id": meeting.id, "sequence": meeting.sequence})
    _send(koppeling, meeting, cancelled=True, rescheduled=False, now=now)
    return meeting


def cancel_upcoming(koppeling: Koppeling, actor: Actor, *, now: datetime | None = None) -> int:
    """Cancel every upcoming meeting (after a stop, nobody should turn up); returns how many."""
    now = now or datetime.now(UTC)
    upcoming = [m for m in meetings_of(koppeling) if is_upcoming(m, now)]
    for meeting in upcoming:
        cancel(meeting, actor, now=now)
    return len(upcoming)


def record_outcome(meeting: Kennismaking, outcome: MeetingOutcome | str | None, notes: str | None, actor: Actor,
                   *, now: datetime | None = None) -> None:
    """How the meeting went, once it has taken place (recording again corrects it)."""
    now = now or datetime.now(UTC)
    koppeling = _koppeling_of(meeting)
    if meeting.cancelled_at is not None:
        raise KoppelingError("Deze kennismaking is afgezegd; er is geen uitkomst vast te leggen.")
    if meeting.starts_at > now:
        raise KoppelingError("Deze kennismaking is nog niet geweest.")
    try:
        value = MeetingOutcome(outcome)
    except ValueError:
        raise KoppelingError("Kies hoe de kennismaking ging.", "outcome") from None
    notes = (notes or "").strip() or None
    if notes and len(notes) > NOTE_MAX_LENGTH:
        raise KoppelingError(f"Hooguit {NOTE_MAX_LENGTH} tekens.", "notes")
    corrected = meeting.outcome is not None
    meeting.outcome = value
    meeting.outcome_notes = notes
    meeting.outcome_recorded_by = actor.label
    meeting.outcome_recorded_at = now
    db.session.flush()
    record("koppeling.meeting_outcome", actor, object_type="koppeling", object_id=koppeling.id,
           details={"meeting_id": meeting.id, "outcome": value.value, "corrected": corrected})


# --- the calendar file ---------------------------------------------------------------------------------


def meeting_uid(meeting: Kennismaking, domain: str) -> str:
    """The same for every version of one meeting, so calendar apps update instead of adding."""
    return f"kennismaking-{meeting.tenant_id}-{meeting.id}@{domain}"


def meeting_ics(meeting: Kennismaking, *, cancelled: bool, organizer_address: str, organizer_name: str,
                attendee: Recipient | None, domain: str, description: str, now: datetime | None = None) -> str:
    """The iCalendar text for one recipient: METHOD:REQUEST or CANCEL, times in Europe/Amsterdam."""
    start = meeting.starts_at.astimezone(LOCAL_TIME)
    calendar = Calendar()
    calendar.add("prodid", "-//Stichting Buurtgezinnen//Kennismaking//NL")
    calendar.add("version", "2.0")
    calendar.add("method", "CANCEL" if cancelled else "REQUEST")
    event = Event()
    event.add("uid", meeting_uid(meeting, domain))
    event.add("dtstamp", (now or datetime.now(UTC)).astimezone(UTC))
    event.add("dtstart", start)
    event.add("dtend", ends_at(meeting).astimezone(LOCAL_TIME))
    event.add("sequence", meeting.sequence)
    event.add("summary", SUMMARY)
    event.add("location", meeting.location)
    event.add("description", description)
    event.add("status", "CANCELLED" if cancelled else "CONFIRMED")
    event.add("transp", "OPAQUE")
    organizer = vCalAddress(f"mailto:{organizer_address}")
    organizer.params["cn"] = vText(organizer_name)
    event.add("organizer", organizer)
    if attendee is not None:
        person = vCalAddress(f"mailto:{attendee.address}")
        person.params["cn"] = vText(attendee.name)
        person.params["role"] = vText("REQ-PARTICIPANT")
        person.params["partstat"] = vText("NEEDS-ACTION")
        person.params["rsvp"] = vText("FALSE")
        event.add("attendee", person)
    calendar.add_component(event)
    calendar.add_missing_timezones(first_date=date(start.year - 1, 1, 1), last_date=date(start.year + 1, 12, 31))
    return calendar.to_ical().decode("utf-8")


# --- internals ---------------------------------------------------------------------------------------


def _koppeling_of(meeting: Kennismaking) -> Koppeling:
    return db.session.scalar(select(Koppeling).where(Koppeling.id == meeting.koppeling_id))


def _require_kennismaking(koppeling: Koppeling, message: str) -> None:
    if KoppelingStatus(koppeling.status) != KoppelingStatus.KENNISMAKING:
        raise KoppelingError(message)


def _require_upcoming(meeting: Kennismaking, now: datetime, message: str) -> None:
    if meeting.cancelled_at is not None:
        raise KoppelingError("Deze kennismaking is afgezegd.")
    if meeting.starts_at <= now:
        raise KoppelingError(message)


def _validated(starts_at: datetime | None, duration_minutes: int | None, location: str | None,
               now: datetime) -> tuple[datetime, int, str]:
    if starts_at is None:
        raise KoppelingError("Vul de datum en het tijdstip van de kennismaking in.", "starts_at")
    if starts_at.tzinfo is None:
        starts_at = starts_at.replace(tzinfo=LOCAL_TIME)
    if starts_at <= now:
        raise KoppelingError("Kies een moment in de toekomst.", "starts_at")
    if starts_at > now + timedelta(days=PLAN_AHEAD_DAYS):
        raise KoppelingError("Kies een moment binnen een jaar.", "starts_at")
    if duration_minutes is None or not MIN_DURATION <= duration_minutes <= MAX_DURATION:
        raise KoppelingError(f"Kies een duur van {MIN_DURATION} tot {MAX_DURATION} minuten.", "duration_minutes")
    location = " ".join((location or "").split())
    if not location:
        raise KoppelingError("Vul in waar de kennismaking is.", "location")
    if len(location) > LOCATION_MAX_LENGTH:
        raise KoppelingError(f"Hooguit {LOCATION_MAX_LENGTH} tekens.", "location")
    return starts_at.astimezone(UTC), duration_minutes, location


def _deliverable(address: str | None) -> bool:
    """A well-formed address (a typo in a family's e-mail must not stop the planning)."""
    if not address:
        return False
    try:
        validate_email(address, check_deliverability=False)
    except EmailNotValidError:
        return False
    return True


def _contact_first_name(family: Family) -> str | None:
    adults = db.session.scalars(select(FamilyMember).where(
        FamilyMember.family_id == family.id, FamilyMember.role == MemberRole.ADULT)
        .order_by(FamilyMember.is_contact.desc(), FamilyMember.id)).all()
    return adults[0].first_name if adults else None


def _contact_full_name(family_id: int) -> str:
    adult = db.session.scalar(select(FamilyMember).where(
        FamilyMember.family_id == family_id, FamilyMember.role == MemberRole.ADULT)
        .order_by(FamilyMember.is_contact.desc(), FamilyMember.id).limit(1))
    return full_name(adult) if adult else f"Gezin {family_id}"


def _coordinator(koppeling: Koppeling) -> StaffUser | None:
    if koppeling.coordinator_id is None:
        return None
    user = db.session.scalar(select(StaffUser).where(StaffUser.id == koppeling.coordinator_id))
    return user if user is not None and user.active and user.email else None


def _moment_texts(meeting: Kennismaking) -> dict[str, str]:
    start = meeting.starts_at.astimezone(LOCAL_TIME)
    end = ends_at(meeting).astimezone(LOCAL_TIME)
    return {"day": format_datetime(start, "EEEE d MMMM y", locale="nl"), "start_time": start.strftime("%H:%M"),
            "end_time": end.strftime("%H:%M")}


def _description(recipient: Recipient, coordinator: StaffUser | None, names: dict[str, str]) -> str:
    with_whom = f" Je coördinator is {coordinator.full_name}." if coordinator else ""
    if recipient.audience == "vraag":
        return f"Kennismaking met het steungezin, samen met de coördinator van Buurtgezinnen.{with_whom}"
    if recipient.audience == "steun":
        return f"Kennismaking met het vraaggezin, samen met de coördinator van Buurtgezinnen.{with_whom}"
    return f"Kennismaking tussen vraaggezin {names['vraag']} en steungezin {names['steun']}."


def _send(koppeling: Koppeling, meeting: Kennismaking, *, cancelled: bool, rescheduled: bool,
          now: datetime) -> None:
    settings = current_app.extensions["settings"]
    domain = sender_domain(settings)
    tenant = db.session.get(Tenant, koppeling.tenant_id)
    organizer_address = parseaddr(settings.mail_from)[1] or f"noreply@{domain}"
    coordinator = _coordinator(koppeling)
    names = {"vraag": _contact_full_name(koppeling.vraag_family_id),
             "steun": _contact_full_name(koppeling.steun_family_id)}
    found, _ = recipients(koppeling)
    for recipient in found:
        ics = meeting_ics(meeting, cancelled=cancelled, organizer_address=organizer_address,
                          organizer_name=f"Buurtgezinnen {tenant.name}", attendee=recipient, domain=domain,
                          description=_description(recipient, coordinator, names), now=now)
        context = {
            "name": recipient.name, "audience": recipient.audience, "rescheduled": rescheduled,
            "location": meeting.location, "duration_minutes": meeting.duration_minutes,
            "coordinator_name": coordinator.full_name if coordinator else None,
            "coordinator_email": coordinator.email if coordinator else None,
            **_moment_texts(meeting),
        }
        if recipient.audience == "coordinator":
            context |= {"vraag_name": names["vraag"], "steun_name": names["steun"]}
        queue_email(
            tenant, to=recipient.address, template=CANCELLED_TEMPLATE if cancelled else INVITATION_TEMPLATE,
            context=context, dedupe_key=_dedupe_key(meeting, recipient),
            attachments=[Attachment("kennismaking.ics", "text/calendar", ics,
                                    (("method", "CANCEL" if cancelled else "REQUEST"),))],
        )


def _dedupe_key(meeting: Kennismaking, recipient: Recipient) -> str:
    """One mail per (meeting, version, recipient): a double click never invites twice."""
    address = hashlib.sha256(recipient.address.strip().lower().encode()).hexdigest()[:16]
    return f"kennismaking:{meeting.tenant_id}:{meeting.id}:{meeting.sequence}:{recipient.audience}:{address}"
