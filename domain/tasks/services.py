"""The coordinator's task list, derived from the data every time it is shown.

There is no task table: a task is a fact in the data that asks for an action (a family registered
without an intake, a VOG requested long ago and not received), so it disappears as soon as the
fact is resolved, and can never disagree with the records. Each kind of task has one query;
the list is the union, overdue first.

A family's tasks belong to its coordinator (``Family.coordinator_id``); tasks of families
without one are on every coordinator's list, so nothing falls between two chairs. A tenant admin
sees everyone's. Signatures and evaluations join this list with the koppelingen and agreements.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum

from sqlalchemy import and_, or_, select, true
from sqlalchemy.orm import aliased

from domain.accounts.models import StaffUser
from domain.evaluations.services import PROEFPERIODE, conversations_due, moment_label
from domain.families.models import Family, FamilyKind, FamilyMember, FamilyStatus, MemberRole
from domain.families.records import LOCAL_TIME, dutch_day, local_today
from domain.koppelingen.models import OPEN_STATUSES, Kennismaking, Koppeling, KoppelingStatus
from domain.koppelingen.queries import contact_names, staff_names
from domain.vog.models import VogRecord, VogStatus
from domain.vog.services import overdue_days
from tenants.db import db
from tenants.models import Tenant

# A VOG that is needed should be requested within a week of the household being recorded.
VOG_REQUEST_WITHIN_DAYS = 7
# A renewal shows up as a task this long before its date.
RENEWAL_NOTICE_DAYS = 60
# Both families answer a proposal within two weeks; a kennismaking's outcome is recorded within days;
# the end of the guidance term shows up this long before it (close or extend).
PROPOSAL_ANSWER_DAYS = 14
MEETING_OUTCOME_DAYS = 3
GUIDANCE_END_NOTICE_DAYS = 30
LIMIT_PER_KIND = 200


class TaskKind(StrEnum):
    INTAKE = "intake"
    VOG_REQUEST = "vog_aanvragen"
    VOG_CHASE = "vog_navragen"
    VOG_REJECTED = "vog_afgewezen"
    VOG_RENEW = "vog_vernieuwen"
    PROPOSAL_ANSWER = "voorstel_akkoord"
    MEETING_OUTCOME = "kennismaking_uitkomst"
    KOPPELING_END = "koppeling_einde"
    EVALUATION_CONVERSATION = "evaluatiegesprek"


KIND_LABELS = {
    TaskKind.INTAKE: "Intakes",
    TaskKind.VOG_REQUEST: "VOG aanvragen",
    TaskKind.VOG_CHASE: "VOG navragen",
    TaskKind.VOG_REJECTED: "VOG afgewezen",
    TaskKind.VOG_RENEW: "VOG vernieuwen",
    TaskKind.PROPOSAL_ANSWER: "Akkoord op voorstellen",
    TaskKind.MEETING_OUTCOME: "Uitkomst kennismakingen",
    TaskKind.KOPPELING_END: "Koppelingen afsluiten of verlengen",
    TaskKind.EVALUATION_CONVERSATION: "Evaluatiegesprekken",
}


@dataclass(frozen=True)
class Task:
    kind: TaskKind
    title: str  # what to do, e.g. "Intake plannen"
    subject: str  # with whom: the family's contact, or the adult whose VOG it is
    detail: str  # why, e.g. "aangevraagd op 3 november 2026"
    due_on: date
    family_id: int
    vog_id: int | None = None
    coordinator: str | None = None  # the family's coordinator's name, for the admin's view
    koppeling_id: int | None = None  # a koppeling's task links to the koppeling page

    def days_overdue(self, today: date) -> int:
        return max(0, (today - self.due_on).days)


@dataclass(frozen=True)
class TaskList:
    today: date
    tasks: list[Task] = field(default_factory=list)

    @property
    def overdue(self) -> list[Task]:
        return [task for task in self.tasks if task.due_on < self.today]

    @property
    def upcoming(self) -> list[Task]:
        return [task for task in self.tasks if task.due_on >= self.today]

    def counts(self) -> list[tuple[str, int, int]]:
        """(label, open, of which overdue) per kind that has tasks, in the order of KIND_LABELS."""
        total = Counter(task.kind for task in self.tasks)
        late = Counter(task.kind for task in self.overdue)
        return [(label, total[kind], late[kind]) for kind, label in KIND_LABELS.items() if total[kind]]


def task_list(*, coordinator_id: int | None, today: date, tenant: Tenant) -> TaskList:
    """The tasks of the current tenant: one coordinator's (with the unassigned), or everyone's (None)."""
    tasks = [*intake_tasks(coordinator_id, today, tenant), *vog_tasks(coordinator_id, today, tenant),
             *koppeling_tasks(coordinator_id, today, tenant), *evaluation_tasks(coordinator_id, today, tenant)]
    tasks.sort(key=lambda task: (task.due_on, task.subject, task.family_id, task.vog_id or 0))
    return TaskList(today=today, tasks=tasks)


# --- the queries ----------------------------------------------------------------------------------


Coordinator = aliased(StaffUser)
Contact = aliased(FamilyMember)


def _open_family(coordinator_id: int | None):
    """A family that is still taking part, and (for one coordinator) theirs or nobody's."""
    clause = and_(Family.status != FamilyStatus.AFGEMELD, Family.anonymised_at.is_(None))
    if coordinator_id is not None:
        clause = and_(clause, or_(Family.coordinator_id == coordinator_id, Family.coordinator_id.is_(None)))
    return clause


def _with_coordinator(query):
    return query.outerjoin(Coordinator, and_(Coordinator.tenant_id == Family.tenant_id,
                                             Coordinator.id == Family.coordinator_id))


def _name(first: str | None, last: str | None) -> str:
    return " ".join(part for part in (first, last) if part)


def _local_date(moment: datetime) -> date:
    return moment.astimezone(LOCAL_TIME).date()


def intake_tasks(coordinator_id: int | None, today: date, tenant: Tenant) -> list[Task]:
    within = timedelta(days=int(tenant.setting("intake_within_days")))
    query = _with_coordinator(
        select(Family.id, Family.kind, Family.status, Family.registered_at, Contact.first_name, Contact.last_name,
               Coordinator.full_name)
        .outerjoin(Contact, and_(Contact.tenant_id == Family.tenant_id, Contact.family_id == Family.id,
                                 Contact.role == MemberRole.ADULT, Contact.is_contact.is_(True)))
        .where(Family.status.in_([FamilyStatus.AANGEMELD, FamilyStatus.INTAKE]), _open_family(coordinator_id))
        .order_by(Family.registered_at, Family.id)
        .limit(LIMIT_PER_KIND)
    )
    tasks = []
    for row in db.session.execute(query):
        kind = "vraaggezin" if row.kind == FamilyKind.VRAAG else "steungezin"
        registered = _local_date(row.registered_at)
        title = "Intake plannen" if row.status == FamilyStatus.AANGEMELD else "Intake afronden"
        tasks.append(Task(TaskKind.INTAKE, title, _name(row.first_name, row.last_name) or f"Gezin {row.id}",
                          f"{kind}, aangemeld op {dutch_day(registered)}", registered + within, row.id,
                          coordinator=row.full_name))
    return tasks


def vog_tasks(coordinator_id: int | None, today: date, tenant: Tenant) -> list[Task]:
    overdue_after = timedelta(days=overdue_days(tenant))
    due = or_(
        VogRecord.status == VogStatus.NODIG,
        VogRecord.status == VogStatus.AFGEWEZEN,
        VogRecord.status == VogStatus.VERLOPEN,
        and_(VogRecord.status == VogStatus.AANGEVRAAGD, VogRecord.requested_on <= today - overdue_after),
        and_(VogRecord.status == VogStatus.ONTVANGEN,
             VogRecord.renewal_due_on <= today + timedelta(days=RENEWAL_NOTICE_DAYS)),
    )
    query = _with_coordinator(
        select(VogRecord, FamilyMember.first_name, FamilyMember.last_name, Coordinator.full_name)
        .join(FamilyMember, and_(FamilyMember.tenant_id == VogRecord.tenant_id, FamilyMember.id == VogRecord.member_id))
        .join(Family, and_(Family.tenant_id == VogRecord.tenant_id, Family.id == VogRecord.family_id))
        .where(due, Family.kind == FamilyKind.STEUN, _open_family(coordinator_id))
        .order_by(VogRecord.id)
        .limit(LIMIT_PER_KIND * 4)
    )
    tasks = []
    for vog, first, last, coordinator in db.session.execute(query):
        title, detail, due_on = _vog_task_text(vog, overdue_after)
        tasks.append(Task(_vog_kind(vog), title, _name(first, last), detail, due_on, vog.family_id, vog.id,
                          coordinator))
    return tasks


def _vog_kind(vog: VogRecord) -> TaskKind:
    return {VogStatus.NODIG: TaskKind.VOG_REQUEST, VogStatus.AANGEVRAAGD: TaskKind.VOG_CHASE,
            VogStatus.AFGEWEZEN: TaskKind.VOG_REJECTED}.get(VogStatus(vog.status), TaskKind.VOG_RENEW)


def _vog_task_text(vog: VogRecord, overdue_after: timedelta) -> tuple[str, str, date]:
    status = VogStatus(vog.status)
    if status == VogStatus.NODIG:
        created = _local_date(vog.created_at)
        return "VOG aanvragen", f"nodig sinds {dutch_day(created)}", created + timedelta(days=VOG_REQUEST_WITHIN_DAYS)
    if status == VogStatus.AANGEVRAAGD:
        return ("VOG navragen", f"aangevraagd op {dutch_day(vog.requested_on)}, nog niet ontvangen",
                vog.requested_on + overdue_after)
    if status == VogStatus.AFGEWEZEN:
        return "Afgewezen VOG bespreken", f"afgewezen op {dutch_day(vog.rejected_on)}", vog.rejected_on
    if status == VogStatus.VERLOPEN or vog.renewal_due_on is None:
        return "VOG vernieuwen", "verlopen", vog.renewal_due_on or _local_date(vog.updated_at)
    return "VOG vernieuwen", f"geldig tot en met {dutch_day(vog.renewal_due_on)}", vog.renewal_due_on


def koppeling_tasks(coordinator_id: int | None, today: date, tenant: Tenant) -> list[Task]:
    """Proposals still waiting for a family's yes, kennismakingen without an outcome, and the end of the
    guidance term. A koppeling's tasks belong to its coordinator (or to everyone when it has none)."""
    mine = true() if coordinator_id is None else or_(Koppeling.coordinator_id == coordinator_id,
                                                     Koppeling.coordinator_id.is_(None))
    # "In the past": before now on the real today; before the start of the day for any other day.
    cutoff = datetime.now(UTC) if today == local_today() else datetime.combine(today, time.min, LOCAL_TIME)
    proposals = db.session.scalars(select(Koppeling).where(
        Koppeling.status == KoppelingStatus.VOORGESTELD, mine,
        or_(Koppeling.vraag_agreed_on.is_(None), Koppeling.steun_agreed_on.is_(None)))
        .order_by(Koppeling.id).limit(LIMIT_PER_KIND)).all()
    endings = db.session.scalars(select(Koppeling).where(
        Koppeling.status == KoppelingStatus.DEFINITIEF, mine,
        Koppeling.guidance_end_on <= today + timedelta(days=GUIDANCE_END_NOTICE_DAYS))
        .order_by(Koppeling.id).limit(LIMIT_PER_KIND)).all()
    meetings = db.session.execute(select(Kennismaking, Koppeling).join(Koppeling, and_(
        Koppeling.tenant_id == Kennismaking.tenant_id, Koppeling.id == Kennismaking.koppeling_id)).where(
        Koppeling.status.in_(OPEN_STATUSES), mine, Kennismaking.cancelled_at.is_(None),
        Kennismaking.outcome.is_(None), Kennismaking.starts_at < cutoff)
        .order_by(Kennismaking.starts_at, Kennismaking.id).limit(LIMIT_PER_KIND)).all()
    koppelingen = [*proposals, *endings, *(k for _, k in meetings)]
    names = contact_names({k.vraag_family_id for k in koppelingen} | {k.steun_family_id for k in koppelingen})
    coordinators = staff_names({k.coordinator_id for k in koppelingen if k.coordinator_id is not None})

    def task(kind: TaskKind, title: str, detail: str, due_on: date, k: Koppeling) -> Task:
        return Task(kind, title, names[k.vraag_family_id], detail, due_on, k.vraag_family_id,
                    coordinator=coordinators.get(k.coordinator_id), koppeling_id=k.id)

    tasks = []
    for k in proposals:
        missing = " en ".join(label for label, on in (("het vraaggezin", k.vraag_agreed_on),
                                                      ("het steungezin", k.steun_agreed_on)) if on is None)
        tasks.append(task(TaskKind.PROPOSAL_ANSWER, "Akkoord op het voorstel navragen",
                          f"voorstel met steungezin {names[k.steun_family_id]} van {dutch_day(k.proposed_on)}; "
                          f"nog geen ja van {missing}", k.proposed_on + timedelta(days=PROPOSAL_ANSWER_DAYS), k))
    for meeting, k in meetings:
        day = _local_date(meeting.starts_at)
        tasks.append(task(TaskKind.MEETING_OUTCOME, "Uitkomst kennismaking vastleggen",
                          f"kennismaking met steungezin {names[k.steun_family_id]} op {dutch_day(day)}",
                          day + timedelta(days=MEETING_OUTCOME_DAYS), k))
    for k in endings:
        tasks.append(task(TaskKind.KOPPELING_END, "Koppeling afsluiten of verlengen",
                          f"begeleiding met steungezin {names[k.steun_family_id]} loopt tot "
                          f"{dutch_day(k.guidance_end_on)}", k.guidance_end_on, k))
    return tasks


def evaluation_tasks(coordinator_id: int | None, today: date, tenant: Tenant) -> list[Task]:
    """"Evaluatiegesprek voeren": the families got their evaluation links and no conversation is recorded
    yet (by the end of the proefperiode, else within two weeks of the links). Links to the koppeling's
    evaluations page (``kind`` tells the start page which koppeling page)."""
    due = conversations_due(coordinator_id, LIMIT_PER_KIND)
    koppelingen = {k.id: k for k in db.session.scalars(select(Koppeling).where(
        Koppeling.id.in_({item.koppeling_id for item in due})))} if due else {}
    names = contact_names({k.vraag_family_id for k in koppelingen.values()}
                          | {k.steun_family_id for k in koppelingen.values()})
    coordinators = staff_names({k.coordinator_id for k in koppelingen.values() if k.coordinator_id is not None})
    tasks = []
    for item in due:
        k = koppelingen[item.koppeling_id]
        when = (f"proefperiode loopt tot {dutch_day(k.proefperiode_end_on)}" if item.moment == PROEFPERIODE
                else f"links verstuurd op {dutch_day(item.first_sent_on)}")
        tasks.append(Task(TaskKind.EVALUATION_CONVERSATION, "Evaluatiegesprek voeren", names[k.vraag_family_id],
                          f"{moment_label(item.moment).lower()} met steungezin {names[k.steun_family_id]}; {when}",
                          item.due_on, k.vraag_family_id, coordinator=coordinators.get(k.coordinator_id),
                          koppeling_id=k.id))
    return tasks
