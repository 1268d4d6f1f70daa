"""JSON log lines for worker and beat: one object per line, with the job's context when there is one.

Celery configures logging itself (root logger for the worker's and beat's own lines, ``celery.task``
for task loggers); its ``after_setup_logger`` / ``after_setup_task_logger`` signals hand us those
loggers, and we swap their handlers' formatters for a JSON one. Domain code keeps using plain
``logging`` with ``extra={"job_id": ..., "tenant_id": ...}``; those fields come out as JSON keys.
Inside a task every line also carries the task's name and id, and the ``job_id`` / ``tenant_id``
the task was sent with, unless the line names them itself.
"""

from __future__ import annotations

import logging

from celery import current_task
from celery.signals import after_setup_logger, after_setup_task_logger, task_prerun
from pythonjsonlogger.json import JsonFormatter

# The fields a task's kwargs may carry that are worth having on every line it logs.
CONTEXT_KWARGS = ("job_id", "tenant_id")
_DISPATCH_UID = "buurtgezinnen-json-logging"

log = logging.getLogger(__name__)


def json_formatter() -> JsonFormatter:
    return JsonFormatter(
        "{levelname}{name}{message}",
        style="{",
        rename_fields={"levelname": "level", "name": "logger"},
        timestamp=True,  # ISO 8601, UTC, under "timestamp"
    )


class TaskContextFilter(logging.Filter):
    """Adds task_name / task_id, and the task's job_id / tenant_id, to lines logged inside a task."""

    def filter(self, record: logging.LogRecord) -> bool:
        task = current_task
        request = getattr(task, "request", None) if task else None
        task_id = getattr(request, "id", None)
        if task_id is None:
            return True
        if not hasattr(record, "task_name"):
            record.task_name = task.name
        if not hasattr(record, "task_id"):
            record.task_id = task_id
        kwargs = getattr(request, "kwargs", None) or {}
        for key in CONTEXT_KWARGS:
            if key in kwargs and not hasattr(record, key):
                setattr(record, key, kwargs[key])
        return True


def use_json(logger: logging.Logger) -> None:
    """Give every handler of ``logger`` the JSON formatter and the task context filter (once)."""
    for handler in logger.handlers:
        handler.setFormatter(json_formatter())
        if not any(isinstance(existing, TaskContextFilter) for existing in handler.filters):
            handler.addFilter(TaskContextFilter())


def _on_setup_logger(logger: logging.Logger, **_: object) -> None:
    use_json(logger)


def _on_task_prerun(task_id: str, task, kwargs: dict | None = None, **_: object) -> None:
    # One line per task start, with the job and tenant it was sent for: shows what a worker was
    # asked to do even when the task then finds nothing to do (a job that is not its tenant's, say).
    log.info("task started", extra={key: (kwargs or {})[key] for key in CONTEXT_KWARGS if key in (kwargs or {})})


def install_json_logging() -> None:
    """Connect the signals; idempotent, called when the worker's Celery app is made."""
    after_setup_logger.connect(_on_setup_logger, weak=False, dispatch_uid=f"{_DISPATCH_UID}-root")
    after_setup_task_logger.connect(_on_setup_logger, weak=False, dispatch_uid=f"{_DISPATCH_UID}-task")
    task_prerun.connect(_on_task_prerun, weak=False, dispatch_uid=f"{_DISPATCH_UID}-prerun")
