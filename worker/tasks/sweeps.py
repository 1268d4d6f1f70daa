"""The one task every periodic sweep runs through: ``sweeps.run`` with the sweep's registered name."""

from __future__ import annotations

import logging
from datetime import datetime

from celery import shared_task

from domain.sweeps import SWEEPS
from domain.sweeps.framework import utcnow

log = logging.getLogger(__name__)

RUN_SWEEP_TASK = "sweeps.run"


@shared_task(name=RUN_SWEEP_TASK)
def run_sweep(name: str, now: str | None = None) -> dict | None:
    """Run sweep ``name`` as of ``now`` (ISO 8601 with offset; default: the current time).

    Not given a tenant: the sweep visits every active tenant in its own context.
    """
    sweep = SWEEPS.get(name)
    if sweep is None:
        log.error("unknown sweep", extra={"sweep": name})
        return None
    moment = datetime.fromisoformat(now) if now else utcnow()
    return sweep.run(moment).as_dict()
