"""One reminder to someone who has not accepted their invitation three days after it was sent.

The raw invitation token is never stored, so the reminder cannot repeat the link: it points to the
invitation mail (and says who to ask for a new one) instead.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import String, and_, cast, exists, literal, select

from domain.accounts.invitations import dutch_date
from domain.accounts.models import AccountToken, StaffUser, TokenPurpose
from domain.email.models import OutboundEmail
from domain.email.services import email_dedupe_key, queue_email
from domain.outbox.models import OutboxJob
from domain.sweeps.framework import tenant_sweep
from tenants.db import db
from tenants.models import Tenant

NAME = "invitation_reminders"
TEMPLATE = "invitation_reminder"
REMIND_AFTER = timedelta(days=3)
BATCH = 1000  # per tenant and run; the rest is due in the next run


REMINDER_KEY_PREFIX = "invitation-reminder:"


def reminder_key(token_id: int) -> str:
    return f"{REMINDER_KEY_PREFIX}{token_id}"


def due_query(tenant_id: int, now: datetime):
    """Open invitations sent at least three days before ``now``, not expired, not yet reminded.

    Served by ``ix_account_tokens_open_invitations`` (tenant_id, created_at) WHERE purpose =
    'invitation' AND used_at IS NULL; the "not yet reminded" check is a lookup in the outbox's
    unique (tenant_id, dedupe_key) index.
    """
    # The outbox key queue_email makes of reminder_key(token.id), as SQL.
    outbox_key = literal(email_dedupe_key(REMINDER_KEY_PREFIX)) + cast(AccountToken.id, String)
    return (
        select(AccountToken, StaffUser)
        .join(StaffUser, and_(StaffUser.tenant_id == AccountToken.tenant_id, StaffUser.id == AccountToken.user_id))
        .where(
            AccountToken.tenant_id == tenant_id,
            # Literal, so the planner can match the partial index's predicate.
            AccountToken.purpose == literal(TokenPurpose.INVITATION.value, literal_execute=True),
            AccountToken.used_at.is_(None),
            AccountToken.created_at <= now - REMIND_AFTER,
            AccountToken.expires_at > now,
            StaffUser.active.is_(True),
            ~exists().where(OutboxJob.tenant_id == AccountToken.tenant_id, OutboxJob.dedupe_key == outbox_key),
        )
        .order_by(AccountToken.created_at, AccountToken.id)
        .limit(BATCH)
    )


def due(tenant: Tenant, now: datetime) -> Iterable[tuple[AccountToken, StaffUser]]:
    return [tuple(row) for row in db.session.execute(due_query(tenant.id, now))]


def act(tenant: Tenant, item: tuple[AccountToken, StaffUser], now: datetime) -> OutboundEmail | None:
    token, user = item
    return queue_email(
        tenant,
        to=user.email,
        template=TEMPLATE,
        context={"full_name": user.full_name, "sent_on": dutch_date(token.created_at),
                 "expires_on": dutch_date(token.expires_at)},
        dedupe_key=reminder_key(token.id),
    )


INVITATION_REMINDERS = tenant_sweep(
    NAME, due, act, description="Eén herinnering aan wie een uitnodiging na drie dagen nog niet aannam.",
)
