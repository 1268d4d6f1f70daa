"""Browser fixtures: the test app served on a free localhost port, the demo data, and Debian's
Chromium driven by Playwright. No browser is ever downloaded: ``make test`` installs
/usr/bin/chromium, and without it these tests fail (they do not skip)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pyotp
import pytest
from flask import Flask
from playwright.sync_api import Browser, BrowserContext, Playwright, sync_playwright
from werkzeug.serving import make_server

from domain.demo.services import DEMO_PASSWORD, DEMO_TOTP_SECRET, seed_demo
from tenants.db import db

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
TOTP_STEP_SECONDS = 30


@pytest.fixture(scope="session")
def live_server(app: Flask) -> Iterator[str]:
    """The session's app, served by a threaded werkzeug server in a background thread."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture(scope="session")
def demo(app: Flask) -> None:
    """The demo tenants and users (idempotent) in this process's test database."""
    with app.app_context():
        seed_demo()
        db.session.remove()


@pytest.fixture(scope="session")
def playwright_instance() -> Iterator[Playwright]:
    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture(scope="session")
def browser(playwright_instance: Playwright) -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's Chromium (apt-get install -y chromium, "
                    "or `make test`, which does). The browser tests never download a browser.", pytrace=False)
    browser = playwright_instance.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    try:
        yield browser
    finally:
        browser.close()


class DemoLogin:
    """Credentials of the demo users, with a fresh TOTP code each time.

    The app burns a code's time step per user, so a second login of the same user within 30 s
    needs the next step's code (one step of drift is accepted); beyond that we wait."""

    password = DEMO_PASSWORD

    def __init__(self) -> None:
        self._totp = pyotp.TOTP(DEMO_TOTP_SECRET)
        self._last_step: dict[str, int] = {}

    def code(self, email: str) -> str:
        while True:
            current = int(time.time()) // TOTP_STEP_SECONDS
            step = max(current, self._last_step.get(email, -1) + 1)
            if step <= current + 1:
                self._last_step[email] = step
                return self._totp.at(step * TOTP_STEP_SECONDS)
            time.sleep((current + 1) * TOTP_STEP_SECONDS - time.time() + 0.5)


@pytest.fixture(scope="session")
def demo_login(demo) -> DemoLogin:
    return DemoLogin()


@pytest.fixture
def context(browser: Browser, live_server: str, demo) -> Iterator[BrowserContext]:
    context = browser.new_context(base_url=live_server, locale="nl-NL")
    context.set_default_timeout(10_000)
    try:
        yield context
    finally:
        context.close()
