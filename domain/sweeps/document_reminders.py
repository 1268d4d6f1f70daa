"""The signing reminder sweep: every ``REMINDER_EVERY_DAYS`` after a signer's link was sent, until they
signed, declined or the link expired, a reminder with a fresh link (the token is rotated: see
``domain.documents.signing``). Exactly once per (signer, period): the rotation only happens when the
signer was not reminded in the current period, and the mail's dedupe key names the period.

Defined here, not in ``domain.documents.signing``, so that importing the sweep registry does not
import the signing module while it is being imported (and the other way round).
"""

from __future__ import annotations

from domain.documents.signing import reminders_due, send_reminder
from domain.sweeps.framework import tenant_sweep

NAME = "document_reminders"

DOCUMENT_REMINDERS = tenant_sweep(
    NAME, reminders_due, send_reminder,
    description="Herinneringen (met een nieuwe link) aan wie een document nog moet ondertekenen, elke 7 dagen "
                "tot de link verloopt.",
)
