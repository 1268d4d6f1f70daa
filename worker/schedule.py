"""The beat schedule, in one place."""

from config.settings import Settings


def beat_schedule(settings: Settings) -> dict:
    return {
        "worker-heartbeat": {"task": "health.heartbeat", "schedule": 15.0},
        "outbox-relay": {"task": "outbox.relay_due", "schedule": float(settings.outbox_sweep_seconds)},
        # Sweeps (domain.sweeps): idempotent, so a missed or doubled run changes nothing.
        "sweep-invitation-reminders": {"task": "sweeps.run", "schedule": 3600.0,
                                       "kwargs": {"name": "invitation_reminders"}},
        "sweep-vog-reminders": {"task": "sweeps.run", "schedule": 3600.0, "kwargs": {"name": "vog_reminders"}},
        "sweep-evaluation-prompts": {"task": "sweeps.run", "schedule": 3600.0,
                                     "kwargs": {"name": "evaluation_prompts"}},
        "sweep-document-reminders": {"task": "sweeps.run", "schedule": 3600.0,
                                     "kwargs": {"name": "document_reminders"}},
        "sweep-contract-reminders": {"task": "sweeps.run", "schedule": 3600.0,
                                     "kwargs": {"name": "contract_reminders"}},
        "sweep-family-retention": {"task": "sweeps.run", "schedule": 86400.0,
                                   "kwargs": {"name": "family_retention"}},
    }
