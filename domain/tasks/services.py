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
from datetime import date, datetime, timedelta
from enum import StrEnum

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import aliased

from domain.accounts.models import StaffUser
from domain.families.models import Family, FamilyKind, FamilyMember, FamilyStatus, MemberRole
from domain.families.records import LOCAL_TIME, dutch_day
from domain.vog.models import VogRecord, VogStatus
from domain.vog.services import overdue_days
from tenants.db import db
from tenants.models import Tenant

# A VOG that is needed should be requested within a week of the household being recorded.
VOG_REQUEST_WITHIN_DAYS = 7
# A renewal shows up as a task this long before its date.
RENEWAL_NOTICE_DAYS = 60
LIMIT_PER_KIND = 200


class TaskKind(StrEnum):
    INTAKE = "intake"
    VOG_REQUEST = "vog_aanvragen"
    VOG_CHASE = "vog_navragen"
    VOG_REJECTED = "vog_afgewezen"
    VOG_RENEW = "vog_vernieuwen"


KIND_LABELS = {
    TaskKind.INTAKE: "Intakes",
    TaskKind.VOG_REQUEST: "VOG aanvragen",
    TaskKind.VOG_CHASE: "VOG navragen",
    TaskKind.VOG_REJECTED: "VOG afgewezen",
    TaskKind.VOG_RENEW: "VOG vernieuwen",
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
    tasks = [*intake_tasks(coordinator_id, today, tenant), *vog_tasks(coordinator_id, today, tenant)]
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

