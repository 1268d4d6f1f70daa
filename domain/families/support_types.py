"""The forms support takes, per gemeente. Every gemeente starts with the ones the articles name."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert

from domain.families.models import SupportType
from tenants.db import db

DEFAULT_SUPPORT_TYPES = (
    ("opvang", "Opvang een middag of avond"),
    ("logeren", "Weekend of logeren"),
    ("huiswerkplek", "Huiswerkplek"),
    ("sport_zwemles", "Brengen naar sport of zwemles"),
    ("ouderavond", "Mee naar ouderavond"),
    ("verjaardag", "Verjaardag vieren"),
    ("uitje", "Samen een uitje"),
    ("luisterend_oor", "Luisterend oor"),
)


def ensure_default_support_types(tenant_id: int) -> None:
    """Idempotent: adds the defaults a gemeente does not have yet (its own additions stay)."""
    rows = [{"tenant_id": tenant_id, "code": code, "label": label, "position": position, "active": True}
            for position, (code, label) in enumerate(DEFAULT_SUPPORT_TYPES)]
    db.session.execute(insert(SupportType).values(rows).on_conflict_do_nothing(index_elements=["tenant_id", "code"]))


def active_support_types() -> list[SupportType]:
    """The current tenant's support types, in their order."""
    return list(db.session.scalars(
        select(SupportType).where(SupportType.active.is_(True)).order_by(SupportType.position, SupportType.label)
    ))


def support_labels() -> dict[str, str]:
    return {t.code: t.label for t in db.session.scalars(select(SupportType))}
