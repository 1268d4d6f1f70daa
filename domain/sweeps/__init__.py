"""Periodic sweeps run by beat (``sweeps.run`` with the sweep's name); the registry is here."""

from domain.sweeps.contract_reminders import CONTRACT_REMINDERS
from domain.sweeps.document_reminders import DOCUMENT_REMINDERS
from domain.sweeps.evaluation_prompts import EVALUATION_PROMPTS
from domain.sweeps.family_retention import FAMILY_RETENTION
from domain.sweeps.framework import Sweep, SweepReport, tenant_sweep
from domain.sweeps.invitation_reminders import INVITATION_REMINDERS
from domain.vog.reminders import VOG_REMINDERS

# Every sweep by its stable name: the name beat passes to the task.
SWEEPS: dict[str, Sweep] = {sweep.name: sweep for sweep in (INVITATION_REMINDERS, FAMILY_RETENTION, VOG_REMINDERS,
                                                            EVALUATION_PROMPTS, DOCUMENT_REMINDERS,
                                                            CONTRACT_REMINDERS)}

__all__ = ["SWEEPS", "Sweep", "SweepReport", "tenant_sweep"]
