"""The family status flow: aangemeld → intake → wachtend/beschikbaar → gekoppeld → afgemeld.

Every change is kept in the family's status history and in the audit log.
"""

from __future__ import annotations

from datetime import UTC, datetime

from domain.audit.services import Actor, record
from domain.families.models import Family, FamilyKind, FamilyStatus, FamilyStatusChange
from tenants.db import db

S = FamilyStatus

ALLOWED: dict[FamilyStatus, frozenset[FamilyStatus]] = {
    S.AANGEMELD: frozenset({S.INTAKE, S.AFGEMELD}),
    S.INTAKE: frozenset({S.WACHTEND, S.BESCHIKBAAR, S.AFGEMELD}),
    S.WACHTEND: frozenset({S.GEKOPPELD, S.INTAKE, S.AFGEMELD}),
    S.BESCHIKBAAR: frozenset({S.GEKOPPELD, S.INTAKE, S.AFGEMELD}),
    # After a koppeling stops, the family waits (or is available) again.
    S.GEKOPPELD: frozenset({S.WACHTEND, S.BESCHIKBAAR, S.AFGEMELD}),
    S.AFGEMELD: frozenset({S.AANGEMELD}),  # a family that comes back registers anew
}

STATUS_LABELS = {
    S.AANGEMELD: "aangemeld",
    S.INTAKE: "intake",
    S.WACHTEND: "wachtend",
    S.BESCHIKBAAR: "beschikbaar",
    S.GEKOPPELD: "gekoppeld",
    S.AFGEMELD: "afgemeld",
}


class StatusError(ValueError):
    """A change the flow does not allow; the message says why, in Dutch."""


def allowed_next(family: Family) -> list[FamilyStatus]:
    return [status for status in ALLOWED[FamilyStatus(family.status)] if _fits_kind(family, status)]


def _fits_kind(family: Family, status: FamilyStatus) -> bool:
    if status == S.WACHTEND:
        return family.kind == FamilyKind.VRAAG
    if status == S.BESCHIKBAAR:
        return family.kind == FamilyKind.STEUN
    return True


def record_registration(family: Family, actor: Actor) -> None:
    """The first entry of the history, written when the family is created."""
    db.session.add(FamilyStatusChange(
        tenant_id=family.tenant_id, family_id=family.id, from_status=None, to_status=family.status,
        changed_by_id=actor.id, changed_by_label=actor.label,
    ))
    record("family.registered", actor, object_type="family", object_id=family.id,
           details={"kind": str(family.kind)})


def change_status(family: Family, new_status: FamilyStatus | str, actor: Actor, reason: str | None = None) -> None:
    try:
        new = FamilyStatus(new_status)
    except ValueError:
        raise StatusError(f"Onbekende status {new_status!r}.") from None
    current = FamilyStatus(family.status)
    if new not in allowed_next(family):
        raise StatusError(f"Van ‘{STATUS_LABELS[current]}’ kan een gezin niet naar ‘{STATUS_LABELS[new]}’.")
    reason = (reason or "").strip() or None
    if new == S.AFGEMELD and reason is None:
        raise StatusError("Geef een reden voor het afmelden.")
    now = datetime.now(UTC)
    family.status = new
    family.status_reason = reason if new == S.AFGEMELD else None
    if new == S.WACHTEND and family.waiting_since is None:
        family.waiting_since = now
    if new == S.GEKOPPELD:
        family.waiting_since = None
    family.closed_at = now if new == S.AFGEMELD else None
    db.session.add(FamilyStatusChange(
        tenant_id=family.tenant_id, family_id=family.id, from_status=current, to_status=new, reason=reason,
        changed_by_id=actor.id, changed_by_label=actor.label,
    ))
    record("family.status_changed", actor, object_type="family", object_id=family.id,
           details={"from": current.value, "to": new.value, **({"reason": reason} if reason else {})})
