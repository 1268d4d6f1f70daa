"""Which function runs which kind of job: the one map of background work."""

from __future__ import annotations

from domain.outbox.models import OutboxJob
from domain.outbox.services import JobHandler


def _noop(job: OutboxJob) -> None:
    """Does nothing: measures the outbox's own cost (make bench) and probes the pipeline."""


def job_handlers() -> dict[str, JobHandler]:
    # Imported here, not at module level: features import the outbox, the map imports features.
    from domain.documents.finalising import FINALISE_JOB, FINALISE_JOB_KIND
    from domain.documents.services import RENDER_JOB, RENDER_JOB_KIND
    from domain.email.services import EMAIL_JOB
    from domain.reporting.effect_report import REPORT_JOB, REPORT_JOB_KIND

    return {
        "outbox.noop": JobHandler(run=_noop),
        "email.send": EMAIL_JOB,
        RENDER_JOB_KIND: RENDER_JOB,
        FINALISE_JOB_KIND: FINALISE_JOB,
        REPORT_JOB_KIND: REPORT_JOB,
    }
