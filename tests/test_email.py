"""Outgoing e-mail end to end: queued in a transaction, rendered and sent by a real Celery worker.

Each worker test gets its own SMTP sink (aiosmtpd on a free port), its own Redis queue, and a real
worker and beat started with settings that point at that sink, with short leases and sweeps so
retries and lease expiry happen within seconds. Mail is always looked up by its own unique
recipient, so jobs left by other tests that the sweep happens to pick up cannot disturb a count.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from email.message import EmailMessage
from typing import Any, TypeVar

import pytest
from flask import Flask
from jinja2.exceptions import SecurityError
from sqlalchemy import func, select

from config.settings import Settings
from devstack.celery_processes import CeleryProcess, celery_process, wait_until
from domain.email.models import EmailStatus, OutboundEmail
from domain.email.rendering import EmailTemplateError, environment, render_email, template_exists
from domain.email.services import email_dedupe_key, queue_email
from domain.email.transport import message_id
from domain.outbox.models import JobStatus, OutboxJob
from domain.outbox.relay import install_dispatch
from domain.outbox.services import PermanentJobError, enqueue
from tenants.db import db
from tenants.models import Tenant
from tenants.services import use_tenant
from tests.conftest import Factory
from tests.smtp_sink import SmtpSink, free_port, smtp_sink  # noqa: F401 - the fixture
from web.app import create_app

T = TypeVar("T")
WAIT = 60

INVITATION = {
    "full_name": "Anna de Vries",
    "invited_by": "Piet Jansen",
    "link": "https://buurtgezinnen.example.org/uitnodiging/abc123",
    "expires_on": "1 december 2026",
}
RESET = {
    "full_name": "Anna de Vries",
    "link": "https://buurtgezinnen.example.org/wachtwoord/xyz",
    "expires_minutes": 30,
}


# --- helpers ----------------------------------------------------------------------------------------

def address(label: str) -> str:
    return f"{label}-{uuid.uuid4().hex[:10]}@example.org"


def acting(app: Flask, tenant_id: int | None, work: Callable[[], T]) -> T:
    """Run ``work`` in an app context acting for ``tenant_id``; rolled back unless ``work`` commits."""
    with app.app_context():
        use_tenant(tenant_id)
        try:
            return work()
        finally:
            db.session.rollback()
            db.session.remove()


def columns(row: Any) -> dict[str, Any] | None:
    return None if row is None else {c.key: getattr(row, c.key) for c in row.__table__.columns}


def queue_and_commit(app: Flask, tenant_id: int, to: str, template: str = "staff_invitation",
                     context: dict | None = None, language: str = "nl") -> tuple[int, str]:
    key = uuid.uuid4().hex

    def work() -> int:
        tenant = db.session.get(Tenant, tenant_id)
        email = queue_email(tenant, to=to, template=template, context=context or INVITATION,
                            dedupe_key=key, language=language)
        db.session.commit()
        return email.id

    return acting(app, tenant_id, work), email_dedupe_key(key)


def email_row(app: Flask, tenant_id: int, email_id: int) -> dict[str, Any] | None:
    return acting(app, tenant_id, lambda: columns(db.session.get(OutboundEmail, email_id)))


def job_row(app: Flask, tenant_id: int, dedupe_key: str) -> dict[str, Any] | None:
    return acting(app, tenant_id, lambda: columns(
        db.session.scalar(select(OutboxJob).where(OutboxJob.dedupe_key == dedupe_key))))


def sweeps_done(worker: CeleryProcess) -> int:
    """How many relay sweeps this worker has finished (from its own log)."""
    log = worker.log_path.read_text(errors="replace")
    return sum(1 for line in log.splitlines() if "outbox.relay_due[" in line and "succeeded" in line)


def let_sweeps_pass(worker: CeleryProcess, count: int = 3) -> None:
    """Wait until the relay has swept ``count`` more times: anything due would have gone out by then."""
    start = sweeps_done(worker)
    wait_until(lambda: sweeps_done(worker) >= start + count, seconds=WAIT,
               message=f"{count} relay sweeps\n{worker.log()}")


def subject(message: EmailMessage) -> str:
    # A folded header may start with the folding whitespace (the stdlib folds "Subject:\r\n text").
    return str(message["Subject"]).strip()


def body_parts(message: EmailMessage) -> dict[str, str]:
    return {part.get_content_type(): part.get_content() for part in message.walk() if not part.is_multipart()}


# --- a worker, beat and app per SMTP port -----------------------------------------------------------

@dataclass
class MailStack:
    settings: Settings
    app: Flask
    worker: CeleryProcess
    beat: CeleryProcess

    def wait_for_email(self, tenant_id: int, email_id: int, status: EmailStatus) -> dict[str, Any]:
        def reached():
            row = email_row(self.app, tenant_id, email_id)
            return row if row and row["status"] == status else None

        wait_until(lambda: reached() or not self.worker.alive(), seconds=WAIT,
                   message=f"e-mail {email_id} {status}\n{self.worker.log()}")
        assert self.worker.alive(), self.worker.log()
        return reached()

    def wait_for_job(self, tenant_id: int, dedupe_key: str, status: JobStatus) -> dict[str, Any]:
        def reached():
            row = job_row(self.app, tenant_id, dedupe_key)
            return row if row and row["status"] == status else None

        wait_until(lambda: reached() is not None, seconds=WAIT,
                   message=f"job {dedupe_key} {status}\n{self.worker.log()}")
        return reached()


def mail_settings(settings: Settings, port: int, backend: str = "smtp") -> Settings:
    return replace(
        settings, smtp_host="127.0.0.1", smtp_port=port, mail_backend=backend, smtp_timeout_seconds=20,
        outbox_retry_base_seconds=1, outbox_lease_seconds=3, outbox_sweep_seconds=1,
        # A queue of its own: no other test's worker (with other SMTP settings) takes these jobs.
        redis_namespace=f"{settings.redis_namespace}-m{uuid.uuid4().hex[:6]}",
    )


@pytest.fixture
def stack_for() -> Iterator[Callable[[Settings], MailStack]]:
    from contextlib import ExitStack

    with ExitStack() as stack:
        apps: list[Flask] = []

        def start(those: Settings) -> MailStack:
            app = create_app(those)  # its after-commit hand-over sends to the worker's queue
            apps.append(app)
            worker = stack.enter_context(celery_process(those))
            beat = stack.enter_context(celery_process(those, "beat"))
            return MailStack(those, app, worker, beat)

        yield start
        for app in apps:
            with app.app_context():
                db.engine.dispose()


@pytest.fixture
def mail(settings: Settings, smtp_sink: SmtpSink, stack_for) -> MailStack:  # noqa: F811
    return stack_for(mail_settings(settings, smtp_sink.port))


# --- through a real worker and a real SMTP conversation ---------------------------------------------

def test_rolled_back_mail_leaves_nothing_and_is_never_sent(mail: MailStack, smtp_sink: SmtpSink,  # noqa: F811
                                                           make: Factory):
    gemeente = make.tenant()
    to = address("rollback")
    key = uuid.uuid4().hex

    def queue_then_roll_back() -> None:
        email = queue_email(db.session.get(Tenant, gemeente.id), to=to, template="staff_invitation",
                            context=INVITATION, dedupe_key=key)
        assert email is not None and email.id is not None  # it existed inside the transaction
        db.session.rollback()

    acting(mail.app, gemeente.id, queue_then_roll_back)

    def leftovers() -> tuple[int, int]:
        emails = db.session.scalar(select(func.count()).where(OutboundEmail.to_address == to))
        jobs = db.session.scalar(select(func.count()).where(OutboxJob.dedupe_key == email_dedupe_key(key)))
        return emails, jobs

    assert acting(mail.app, gemeente.id, leftovers) == (0, 0)

    let_sweeps_pass(mail.worker, 3)
    # The pipeline does deliver: a committed mail queued now arrives, the rolled-back one never did.
    control = address("control")
    queue_and_commit(mail.app, gemeente.id, control)
    wait_until(lambda: smtp_sink.messages_to(control), seconds=WAIT, message=f"control mail\n{mail.worker.log()}")
    assert smtp_sink.rcpt_attempts(to) == 0
    assert smtp_sink.messages_to(to) == []


def test_committed_mail_arrives_once_with_text_and_html(mail: MailStack, smtp_sink: SmtpSink,  # noqa: F811
                                                        make: Factory):
    gemeente = make.tenant(name=f"Smallingerland {uuid.uuid4().hex[:6]}")
    to = address("invite")
    email_id, key = queue_and_commit(mail.app, gemeente.id, to)

    row = mail.wait_for_email(gemeente.id, email_id, EmailStatus.SENT)
    assert row["attempts"] == 1
    assert row["last_error"] is None
    assert row["sent_at"] is not None
    assert row["subject"] == f"Je bent uitgenodigd voor het Buurtgezinnen-platform van gemeente {gemeente.name}"
    assert "Anna de Vries" in row["body_text"] and "1 december 2026" in row["body_text"]
    assert row["context"]["gemeente"] == gemeente.name
    job = mail.wait_for_job(gemeente.id, key, JobStatus.DONE)
    assert job["attempts"] == 1

    wait_until(lambda: smtp_sink.messages_to(to), seconds=WAIT, message="the message at the sink")
    let_sweeps_pass(mail.worker, 2)  # no second copy comes later
    [message] = smtp_sink.messages_to(to)
    assert subject(message) == row["subject"]
    assert message["From"] == mail.settings.mail_from
    assert message["Message-ID"] == message_id(mail.settings, gemeente.id, email_id)
    assert message["Date"] is not None
    assert message.get_content_type() == "multipart/alternative"
    parts = body_parts(message)
    assert set(parts) == {"text/plain", "text/html"}
    assert "Beste Anna de Vries" in parts["text/plain"] and INVITATION["link"] in parts["text/plain"]
    assert '<html lang="nl">' in parts["text/html"] and f'href="{INVITATION["link"]}"' in parts["text/html"]
    assert smtp_sink.rcpt_attempts(to) == 1


def test_smtp_4xx_is_retried_with_backoff_and_delivered_once(mail: MailStack, smtp_sink: SmtpSink,  # noqa: F811
                                                             make: Factory):
    gemeente = make.tenant()
    to = address("greylisted")
    smtp_sink.script_rcpt(to, ["451 4.3.0 Try again later"])  # then 250 OK
    email_id, key = queue_and_commit(mail.app, gemeente.id, to, template="password_reset", context=RESET)

    row = mail.wait_for_email(gemeente.id, email_id, EmailStatus.SENT)
    assert row["attempts"] == 2
    assert row["last_error"] is None
    job = mail.wait_for_job(gemeente.id, key, JobStatus.DONE)
    assert job["attempts"] == 2
    wait_until(lambda: smtp_sink.messages_to(to), seconds=WAIT, message="the retried message")
    assert len(smtp_sink.messages_to(to)) == 1
    assert smtp_sink.rcpt_attempts(to) == 2
    assert subject(smtp_sink.messages_to(to)[0]).startswith("Nieuw wachtwoord instellen")


def test_smtp_5xx_fails_permanently_without_retry(mail: MailStack, smtp_sink: SmtpSink,  # noqa: F811
                                                  make: Factory):
    gemeente = make.tenant()
    to = address("unknown-user")
    smtp_sink.script_rcpt(to, ["550 5.1.1 No such user here"])
    email_id, key = queue_and_commit(mail.app, gemeente.id, to)

    row = mail.wait_for_email(gemeente.id, email_id, EmailStatus.FAILED)
    assert "550" in row["last_error"] and "No such user" in row["last_error"]
    assert row["attempts"] == 1
    assert row["sent_at"] is None
    job = mail.wait_for_job(gemeente.id, key, JobStatus.FAILED)
    assert "550" in job["last_error"]
    assert job["attempts"] == 1

    let_sweeps_pass(mail.worker, 3)
    assert smtp_sink.rcpt_attempts(to) == 1  # asked once, never again
    assert smtp_sink.messages_to(to) == []
    assert job_row(mail.app, gemeente.id, key)["status"] == JobStatus.FAILED
    assert email_row(mail.app, gemeente.id, email_id)["status"] == EmailStatus.FAILED


def test_worker_killed_mid_send_delivers_exactly_once_later(mail: MailStack, smtp_sink: SmtpSink,  # noqa: F811
                                                            make: Factory):
    gemeente = make.tenant()
    to = address("killed")
    smtp_sink.stall_rcpt(to, 8)  # the first attempt hangs at RCPT; later ones are accepted
    email_id, key = queue_and_commit(mail.app, gemeente.id, to)

    wait_until(lambda: smtp_sink.rcpt_attempts(to) == 1, seconds=WAIT, message=f"the send\n{mail.worker.log()}")
    assert job_row(mail.app, gemeente.id, key)["status"] == JobStatus.RUNNING
    mail.worker.kill()  # SIGKILL, main process and pool child, while the SMTP conversation hangs
    assert smtp_sink.messages_to(to) == []

    with celery_process(mail.settings) as second:
        # The lease runs out, the sweep hands the job out again, the new worker sends it.
        wait_until(lambda: email_row(mail.app, gemeente.id, email_id)["status"] == EmailStatus.SENT,
                   seconds=WAIT, message=f"the re-sent mail\n{second.log()}")
        job = mail.wait_for_job(gemeente.id, key, JobStatus.DONE)
        assert job["attempts"] == 2
        wait_until(lambda: smtp_sink.messages_to(to), seconds=WAIT, message="the message")
        mail.worker = second
        let_sweeps_pass(second, 3)
    assert len(smtp_sink.messages_to(to)) == 1
    assert smtp_sink.rcpt_attempts(to) == 2
    assert email_row(mail.app, gemeente.id, email_id)["attempts"] == 2


def test_a_job_cannot_send_another_tenants_mail(mail: MailStack, smtp_sink: SmtpSink,  # noqa: F811
                                                make: Factory):
    a, b = make.tenant(), make.tenant()
    b_to = address("tenant-b")

    def b_mail() -> int:  # a queued mail of B with no job of its own, so only A's job could touch it
        email = OutboundEmail(tenant_id=b.id, to_address=b_to, template="password_reset", language="nl",
                              context={**RESET, "gemeente": b.name}, status=EmailStatus.QUEUED, attempts=0)
        db.session.add(email)
        db.session.commit()
        return email.id

    b_email_id = acting(mail.app, b.id, b_mail)
    key = f"email:rls-{uuid.uuid4().hex}"

    def a_job() -> None:
        assert enqueue("email.send", {"email_id": b_email_id}, a.id, dedupe_key=key) is not None
        db.session.commit()

    acting(mail.app, a.id, a_job)

    job = mail.wait_for_job(a.id, key, JobStatus.FAILED)
    assert "not found" in job["last_error"]
    assert job["attempts"] == 1  # permanent: not retried
    untouched = email_row(mail.app, b.id, b_email_id)
    assert untouched["status"] == EmailStatus.QUEUED
    assert untouched["attempts"] == 0 and untouched["last_error"] is None
    assert untouched["subject"] is None and untouched["body_text"] is None and untouched["body_html"] is None
    assert smtp_sink.rcpt_attempts(b_to) == 0
    assert smtp_sink.messages_to(b_to) == []


def test_demo_sink_backend_stores_the_mail_without_smtp(settings: Settings, stack_for, make: Factory):
    nobody_listens = free_port()
    mail = stack_for(mail_settings(settings, nobody_listens, backend="sink"))
    gemeente = make.tenant()
    email_id, key = queue_and_commit(mail.app, gemeente.id, address("demo"), language="en")

    row = mail.wait_for_email(gemeente.id, email_id, EmailStatus.SENT)
    assert row["subject"].startswith("You have been invited to the Buurtgezinnen platform")
    assert "Dear Anna de Vries" in row["body_text"]
    assert '<html lang="en">' in row["body_html"]
    assert row["attempts"] == 1 and row["last_error"] is None
    assert mail.wait_for_job(gemeente.id, key, JobStatus.DONE)["attempts"] == 1


# --- queueing (no worker: everything rolled back) ---------------------------------------------------

@pytest.fixture
def gemeente(make: Factory):
    return make.tenant()


def test_queue_email_validates_address_template_and_context(app: Flask, gemeente):
    def attempt(**overrides) -> None:
        arguments = {"to": address("ok"), "template": "staff_invitation", "context": INVITATION,
                     "dedupe_key": uuid.uuid4().hex, **overrides}
        queue_email(db.session.get(Tenant, gemeente.id), **arguments)

    def check() -> None:
        with pytest.raises(ValueError, match="invalid e-mail address"):
            attempt(to="not an address")
        with pytest.raises(ValueError, match="does not exist"):
            attempt(template="no_such_template")
        with pytest.raises(ValueError, match="does not exist"):
            attempt(template="../web/base")
        with pytest.raises(ValueError, match="two-letter code"):
            attempt(language="nederlands")
        with pytest.raises(ValueError, match="plain JSON values"):
            attempt(context={**INVITATION, "expires_on": object()})
        assert db.session.scalar(select(func.count()).select_from(OutboundEmail)) == 0
        assert db.session.scalar(select(func.count()).select_from(OutboxJob)) == 0

    acting(app, gemeente.id, check)


def test_queue_email_twice_with_one_dedupe_key_keeps_one_mail(app: Flask, gemeente):
    key = uuid.uuid4().hex

    def check() -> None:
        tenant = db.session.get(Tenant, gemeente.id)
        first = queue_email(tenant, to=address("a"), template="password_reset", context=RESET, dedupe_key=key)
        second = queue_email(tenant, to=address("b"), template="password_reset", context=RESET, dedupe_key=key)
        assert first is not None and second is None
        assert db.session.scalar(select(func.count()).select_from(OutboundEmail)) == 1
        [job] = db.session.scalars(select(OutboxJob)).all()
        assert job.dedupe_key == f"email:{key}" and job.payload == {"email_id": first.id}
        assert first.status == EmailStatus.QUEUED and first.context["gemeente"] == gemeente.name
        assert json.loads(json.dumps(first.context)) == {**RESET, "gemeente": gemeente.name}

    acting(app, gemeente.id, check)


def test_mail_is_handed_over_at_the_real_commit_not_at_a_savepoint(settings: Settings, gemeente):
    """queue_email works in a savepoint: releasing it must not hand the job over yet (its row is not
    committed, so a worker would not find it), and rolling back a later savepoint must not forget it."""
    handed_over: list[int] = []
    recording = create_app(settings)
    install_dispatch(recording, lambda jobs: handed_over.extend(job.job_id for job in jobs) or len(handed_over))

    def work() -> int:
        tenant = db.session.get(Tenant, gemeente.id)
        email = queue_email(tenant, to=address("outer"), template="password_reset", context=RESET,
                            dedupe_key=uuid.uuid4().hex)
        assert handed_over == []  # released its savepoint, but nothing is committed yet
        savepoint = db.session.begin_nested()
        db.session.add(OutboundEmail(tenant_id=gemeente.id, to_address=address("inner"), template="password_reset",
                                     context={}, status=EmailStatus.QUEUED, attempts=0))
        db.session.flush()
        savepoint.rollback()
        assert handed_over == []
        job_id = db.session.scalar(select(OutboxJob.id).where(OutboxJob.payload["email_id"].as_integer() == email.id))
        # Park the job before committing, so no sweep of another test sends it.
        db.session.execute(OutboxJob.__table__.update().where(OutboxJob.id == job_id)
                           .values(status=JobStatus.FAILED))
        db.session.commit()
        return job_id

    try:
        job_id = acting(recording, gemeente.id, work)
    finally:
        with recording.app_context():
            db.engine.dispose()
    assert handed_over == [job_id]


# --- rendering (no worker) --------------------------------------------------------------------------

def test_templates_exist_in_dutch_and_english():
    for name in ("staff_invitation", "password_reset"):
        assert template_exists(name)
        assert render_email(name, "en", {**(INVITATION if name == "staff_invitation" else RESET),
                                         "gemeente": "Aalsmeer"}).language == "en"
    assert not template_exists("no_such_template")
    assert not template_exists("_layout.html")


def test_missing_language_falls_back_to_dutch():
    rendered = render_email("staff_invitation", "fy", {**INVITATION, "gemeente": "Smallingerland"})
    assert rendered.language == "nl"
    assert rendered.subject == "Je bent uitgenodigd voor het Buurtgezinnen-platform van gemeente Smallingerland"
    assert '<html lang="nl">' in rendered.html
    assert render_email("password_reset", "../../etc", {**RESET, "gemeente": "Aalsmeer"}).language == "nl"


def test_a_missing_variable_is_a_permanent_error_not_a_half_filled_mail():
    context = {**INVITATION, "gemeente": "Smallingerland"}
    del context["link"]
    with pytest.raises(PermanentJobError, match="link"):
        render_email("staff_invitation", "nl", context)
    with pytest.raises(EmailTemplateError):
        render_email("no_such_template", "nl", {})


def test_html_is_autoescaped_and_text_is_not():
    context = {**INVITATION, "full_name": "<script>alert(1)</script>", "gemeente": "Smallingerland"}
    rendered = render_email("staff_invitation", "nl", context)
    assert "<script>" not in rendered.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in rendered.html
    assert "Beste <script>alert(1)</script>," in rendered.text  # plain text is not HTML


def test_the_sandbox_refuses_attribute_tricks():
    env = environment()
    for source in ("{{ ''.__class__ }}", "{{ ''.__class__.__mro__[1].__subclasses__() }}",
                   "{{ link.__class__.__init__.__globals__ }}"):
        with pytest.raises(SecurityError):
            env.from_string(source).render(link="x")
    with pytest.raises(SecurityError):
        env.from_string("{{ f.__globals__ }}").render(f=render_email)
