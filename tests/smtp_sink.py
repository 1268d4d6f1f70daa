"""A local SMTP server for tests (aiosmtpd), with scripted answers per recipient.

It keeps every message it accepted, parsed, and every RCPT it was asked for. Per recipient address
a test can script the answers to RCPT (in order; then ``250 OK``), make DATA refuse, or make RCPT
stall for a while (to kill a worker in the middle of a send). Scripts are keyed by recipient, so
mail for other recipients (another test's leftovers) never consumes them.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

import pytest
from aiosmtpd.controller import Controller


@dataclass(frozen=True)
class Stall:
    seconds: float
    then: str = "250 OK"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class SmtpSink:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.messages: list[EmailMessage] = []
        self.rcpt_log: list[str] = []  # every RCPT TO, in order, whatever the answer
        self._rcpt_scripts: dict[str, list[str | Stall]] = {}
        self._data_scripts: dict[str, list[str]] = {}
        self.port = free_port()
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)

    # --- scripting ---------------------------------------------------------------------------------

    def script_rcpt(self, address: str, answers: list[str | Stall]) -> None:
        """Answer RCPT TO:<address> with these, one per attempt, then 250 OK."""
        with self._lock:
            self._rcpt_scripts[address.lower()] = list(answers)

    def stall_rcpt(self, address: str, seconds: float) -> None:
        self.script_rcpt(address, [Stall(seconds)])

    def script_data(self, address: str, answers: list[str]) -> None:
        """Answer DATA of a mail to ``address`` with these, one per attempt, then accept."""
        with self._lock:
            self._data_scripts[address.lower()] = list(answers)

    # --- reading -----------------------------------------------------------------------------------

    def messages_to(self, address: str) -> list[EmailMessage]:
        with self._lock:
            return [m for m in self.messages if address.lower() in str(m["To"]).lower()]

    def rcpt_attempts(self, address: str) -> int:
        with self._lock:
            return sum(1 for a in self.rcpt_log if a == address.lower())

    # --- aiosmtpd handler hooks --------------------------------------------------------------------

    async def handle_RCPT(self, server, session, envelope, address: str, rcpt_options):
        with self._lock:
            self.rcpt_log.append(address.lower())
            script = self._rcpt_scripts.get(address.lower())
            answer = script.pop(0) if script else "250 OK"
        if isinstance(answer, Stall):
            await asyncio.sleep(answer.seconds)  # the event loop keeps serving other connections
            answer = answer.then
        if answer.startswith("250"):
            envelope.rcpt_tos.append(address)
        return answer

    async def handle_DATA(self, server, session, envelope):
        with self._lock:
            for address in envelope.rcpt_tos:
                script = self._data_scripts.get(address.lower())
                if script:
                    return script.pop(0)
            message = BytesParser(policy=policy.default).parsebytes(envelope.original_content or envelope.content)
            self.messages.append(message)
        return "250 Message accepted for delivery"

    # --- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> SmtpSink:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    sink = SmtpSink().start()
    try:
        yield sink
    finally:
        sink.stop()
