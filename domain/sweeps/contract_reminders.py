"""The contract sweep: 90 and 30 days before a gemeente's samenwerkingsovereenkomst ends, a reminder
to the national admins and the gemeente's contact. Exactly once per (contract, occasion, end date):
see ``domain.documents.contracts``."""

from __future__ import annotations

from domain.documents.contracts import reminders_due, send_reminder
from domain.sweeps.framework import tenant_sweep

NAME = "contract_reminders"

CONTRACT_REMINDERS = tenant_sweep(
    NAME, reminders_due, send_reminder,
    description="Herinneringen aan het landelijk bureau en de contactpersoon van de gemeente, 90 en 30 dagen "
                "voordat de samenwerkingsovereenkomst afloopt.",
)
