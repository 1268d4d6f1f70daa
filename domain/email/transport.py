"""Getting a rendered e-mail out: over SMTP, or (demo) nowhere at all.

The SMTP answer decides what happens next. A 4xx reply, a timeout, a refused or dropped connection
raise ``TransientEmailError``: the outbox tries again later with backoff and jitter. A 5xx reply
raises ``PermanentJobError``: the mail is parked as failed and the coordinator sees why.

The ``sink`` backend sends nothing. The rendered mail is stored on its ``OutboundEmail`` row anyway,
and that row is the demo mailbox that staff can read.
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr

from config.settings import Settings
from domain.email.rendering import RenderedEmail
from domain.outbox.services import PermanentJobError

SMTP_BACKEND = "smtp"
SINK_BACKEND = "sink"


@dataclass(frozen=True)
class Attachment:
    """A small text file sent with a mail, e.g. ``Attachment("kennismaking.ics", "text/calendar", ics,
    (("method", "REQUEST"),))``; ``params`` are extra Content-Type parameters. Bytes content (a PDF)
    only ever comes from a reference resolved at send time (``domain.email.services.AttachmentRef``)."""

    filename: str
    mime_type: str  # text/… (or any type for bytes resolved from a reference)
    content: str | bytes
    params: tuple[tuple[str, str], ...] = ()


class TransientEmailError(Exception):
    """The mail server could not take the mail now; trying again later may work."""


def sender_domain(settings: Settings) -> str:
    address = parseaddr(settings.mail_from)[1]
    return address.rpartition("@")[2] or "localhost"


def message_id(settings: Settings, tenant_id: int, email_id: int) -> str:
    """Stable per mail: a re-send after a crash carries the same Message-ID, so it is recognisable."""
    return f"<bg-email.{tenant_id}.{email_id}@{sender_domain(settings)}>"


def build_message(settings: Settings, *, to: str, rendered: RenderedEmail, tenant_id: int, email_id: int,
                  sent_at: datetime | None = None, attachments: list[Attachment] | tuple[Attachment, ...] = (),
                  ) -> EmailMessage:
    """Text and HTML as alternatives; with attachments, that pair is the first part of a multipart/mixed."""
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = to
    message["Subject"] = rendered.subject
    message["Date"] = format_datetime(sent_at or datetime.now(UTC))
    message["Message-ID"] = message_id(settings, tenant_id, email_id)
    message["Content-Language"] = rendered.language
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(rendered.text)
    message.add_alternative(rendered.html, subtype="html")
    for attachment in attachments:
        maintype, _, subtype = attachment.mime_type.partition("/")
        if isinstance(attachment.content, bytes):
            message.add_attachment(attachment.content, maintype=maintype, subtype=subtype,
                                   filename=attachment.filename, params=dict(attachment.params))
        else:
            message.add_attachment(attachment.content, subtype=subtype, filename=attachment.filename,
                                   params=dict(attachment.params))
    return message


def deliver(settings: Settings, message: EmailMessage) -> None:
    """Hand ``message`` to the configured backend; raises TransientEmailError or PermanentJobError."""
    if settings.mail_backend == SINK_BACKEND:
        return
    if settings.mail_backend != SMTP_BACKEND:
        raise PermanentJobError(f"unknown mail backend {settings.mail_backend!r}")
    _send_smtp(settings, message)


def _send_smtp(settings: Settings, message: EmailMessage) -> None:
    where = f"{settings.smtp_host}:{settings.smtp_port}"
    try:
        # local_hostname: avoid socket.getfqdn(), which can hang on a machine with broken DNS.
        smtp = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=settings.smtp_timeout_seconds,
                            local_hostname=sender_domain(settings))
    except smtplib.SMTPResponseException as error:
        raise _classify(error.smtp_code, error.smtp_error, where) from error
    except OSError as error:  # refused, unreachable, timed out, name not resolved
        raise TransientEmailError(f"SMTP server {where} not reachable: {type(error).__name__}: {error}") from error
    try:
        if settings.smtp_use_tls:
            smtp.starttls(context=ssl.create_default_context())
        if settings.smtp_username:
            smtp.login(settings.smtp_username, settings.smtp_password or "")
        refused = smtp.send_message(message)
    except smtplib.SMTPRecipientsRefused as error:
        code, reply = _worst(error.recipients)
        raise _classify(code, reply, where) from error
    except smtplib.SMTPResponseException as error:  # sender refused, data refused, auth refused …
        raise _classify(error.smtp_code, error.smtp_error, where) from error
    except smtplib.SMTPNotSupportedError as error:  # e.g. STARTTLS configured but not offered
        raise PermanentJobError(f"SMTP server {where}: {error}") from error
    except OSError as error:  # timeout, connection dropped (SMTPServerDisconnected), TLS trouble
        raise TransientEmailError(f"SMTP to {where} failed: {type(error).__name__}: {error}") from error
    finally:
        _quit_quietly(smtp)
    if refused:  # some recipients refused while others were accepted; we only ever send to one
        code, reply = _worst(refused)
        raise _classify(code, reply, where)


def _quit_quietly(smtp: smtplib.SMTP) -> None:
    # Once the server has accepted the DATA the mail is gone: a failing QUIT must not make it a retry.
    try:
        smtp.quit()
    except (OSError, smtplib.SMTPException):
        smtp.close()


def _worst(recipients: dict) -> tuple[int, bytes | str]:
    """The most final answer among refused recipients (a 5xx beats a 4xx)."""
    return max(recipients.values(), key=lambda answer: answer[0])


def _classify(code: int, reply: bytes | str, where: str) -> Exception:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    summary = f"SMTP {code} from {where}: {text}"
    if 500 <= code <= 599:
        return PermanentJobError(summary)
    return TransientEmailError(summary)  # 4xx, and anything odd: try again (attempts are bounded)
