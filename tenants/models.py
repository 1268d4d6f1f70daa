"""The tenant: one gemeente, with its own settings."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from sqlalchemy import CheckConstraint, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from tenants.db import Base, Timestamped


class TenantStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"  # staff cannot log in, public pages say the programme is paused
    ARCHIVED = "archived"


# Defaults from the design; a tenant's own settings override them key by key.
DEFAULT_TENANT_SETTINGS: dict[str, Any] = {
    "proefperiode_months": 2,
    "evaluation_interval_months": 6,
    "guidance_term_months": 24,
    "vog_renewal_months": 36,
    # VOG reminders (domain.vog.reminders): days after the request, to the volunteer; the request
    # becomes the coordinator's task after vog_request_overdue_days; days before the renewal date.
    "vog_request_reminder_days": [7, 14],
    "vog_request_overdue_days": 21,
    "vog_renewal_reminder_days": [60, 30, 7],
    # A family registered this many days ago without an intake is an overdue task.
    "intake_within_days": 14,
    # Match suggestions (domain.matching): the weight of each criterion in the score.
    "match_weights": {"steun": 3, "beschikbaarheid": 3, "afstand": 2, "leeftijden": 2, "ruimte": 1},
    # Evaluations (domain.evaluations): the first prompt this many days before the proefperiode ends,
    # a reminder after evaluation_reminder_days if unanswered; a link works evaluation_link_days.
    "evaluation_before_proefperiode_end_days": 7,
    "evaluation_reminder_days": 7,
    "evaluation_link_days": 21,
    "savings_per_koppeling_eur": 5500,
    # A family afgemeld this long ago is anonymised by the family_retention sweep (AVG).
    "family_retention_months": 24,
}


class Tenant(Timestamped, Base):
    __tablename__ = "tenants"
    __table_args__ = (
        CheckConstraint("slug ~ '^[a-z0-9]+(-[a-z0-9]+)*$'", name="slug_format"),
        CheckConstraint("gemeentecode ~ '^[0-9]{4}$'", name="gemeentecode_format"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    gemeentecode: Mapped[str] = mapped_column(String(4), unique=True)
    status: Mapped[TenantStatus] = mapped_column(String(16), default=TenantStatus.ACTIVE)
    settings: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)

    @property
    def is_active(self) -> bool:
        return self.status == TenantStatus.ACTIVE

    def setting(self, key: str) -> Any:
        return self.settings.get(key, DEFAULT_TENANT_SETTINGS[key])
