"""Recording audit events. Callers pass who and from where; this module never reads a request."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import insert

from domain.audit.models import AuditEvent, NationalAuditEvent
from tenants.db import db, session_tenant


@dataclass(frozen=True)
class Actor:
    """Who did it and from where. ``id``/``label`` are None for anonymous requests."""

    id: int | None = None
    label: str | None = None
    ip: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


SYSTEM = Actor(label="systeem")


def record(
    action: str,
    actor: Actor,
    *,
    object_type: str | None = None,
    object_id: int | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Record an event in the current tenant, or nationally when no tenant is set."""
    fields = {
        "actor_id": actor.id,
        "actor_label": actor.label,
        "ip": actor.ip,
        "action": action,
        "object_type": object_type,
        "object_id": object_id,
        "details": {**actor.extra, **(details or {})},
    }
    tenant_id = session_tenant(db.session())
    if tenant_id is None:
        db.session.add(NationalAuditEvent(**fields))
    else:
        db.session.add(AuditEvent(tenant_id=tenant_id, **fields))
    db.session.flush()


def record_many(action: str, actor: Actor, object_type: str, events: list[tuple[int, dict[str, Any]]]) -> None:
    """Record one ``action`` on many objects of the current tenant in one INSERT (for sweeps)."""
    tenant_id = session_tenant(db.session())
    if not events:
        return
    if tenant_id is None:
        raise ValueError("record_many() records tenant events; set the tenant first")
    db.session.execute(insert(AuditEvent), [
        {"tenant_id": tenant_id, "actor_id": actor.id, "actor_label": actor.label, "ip": actor.ip,
         "action": action, "object_type": object_type, "object_id": object_id,
         "details": {**actor.extra, **details}}
        for object_id, details in events
    ])
