"""A family's own coordinator: the staff member whose task list the family's tasks appear on.

Only an active coordinator or tenant admin of the family's own gemeente can be assigned. A user of
another gemeente, a missing one, a deactivated one and a gemeente viewer all get the same answer,
so the message never tells whether an id exists elsewhere. Every change is on record; a change to
the same coordinator is no change and leaves no trace.
"""

from __future__ import annotations

from sqlalchemy import select

from domain.accounts.models import StaffUser, TenantRole
from domain.audit.services import Actor, record
from domain.families.models import Family
from tenants.access import NotFoundError, get_for_tenant
from tenants.db import db, session_tenant

ASSIGNED = "family.coordinator_assigned"
ASSIGNABLE_ROLES = (TenantRole.COORDINATOR, TenantRole.TENANT_ADMIN)
MAX_ID = 2**31 - 1  # an INTEGER column
NOT_ASSIGNABLE = "Kies een actieve coördinator of beheerder van deze gemeente."


class AssignmentError(ValueError):
    """The coordinator cannot be assigned; the message says why, in Dutch."""


def assignable_coordinators() -> list[StaffUser]:
    """The current gemeente's active coordinators and tenant admins, by name."""
    tenant_id = session_tenant(db.session())
    if tenant_id is None:
        return []
    return list(db.session.scalars(
        select(StaffUser)
        .where(StaffUser.tenant_id == tenant_id, StaffUser.active.is_(True), StaffUser.role.in_(ASSIGNABLE_ROLES))
        .order_by(StaffUser.full_name, StaffUser.id)
    ))


def coordinator_of(family: Family) -> StaffUser | None:
    """The family's coordinator (also when deactivated since), or None."""
    if family.coordinator_id is None:
        return None
    try:
        return get_for_tenant(StaffUser, family.coordinator_id)
    except NotFoundError:
        return None


def _assignable(family: Family, user_id: int) -> StaffUser | None:
    if isinstance(user_id, bool) or not isinstance(user_id, int) or not 0 < user_id <= MAX_ID:
        return None
    try:
        user = get_for_tenant(StaffUser, user_id)
    except NotFoundError:
        return None
    if user.tenant_id != family.tenant_id or not user.active or user.role not in ASSIGNABLE_ROLES:
        return None
    return user


def _set(family: Family, user_id: int | None, actor: Actor) -> None:
    old = family.coordinator_id
    family.coordinator_id = user_id
    db.session.flush()
    record(ASSIGNED, actor, object_type="family", object_id=family.id, details={"from": old, "to": user_id})


def assign_coordinator(family: Family, user_id: int | None, actor: Actor) -> None:
    """Make ``user_id`` the family's coordinator; None unassigns. The caller commits or rolls back.

    Raises AssignmentError (nothing changed) for anyone who is not an active coordinator or
    tenant admin of the family's gemeente.
    """
    if user_id == family.coordinator_id:
        return
    if user_id is not None and _assignable(family, user_id) is None:
        raise AssignmentError(NOT_ASSIGNABLE)
    _set(family, user_id, actor)


def assign_if_unassigned(family: Family, actor: Actor) -> bool:
    """The intake: a family without a coordinator gets the one who visited it, if they can be one.

    Returns whether the family got a coordinator. Never raises for an actor who cannot be assigned
    (the visit itself is still recorded).
    """
    if family.coordinator_id is not None or actor.id is None or _assignable(family, actor.id) is None:
        return False
    _set(family, actor.id, actor)
    return True
