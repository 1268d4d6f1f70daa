"""Response headers and session hygiene that apply to every request."""

from __future__ import annotations

import time

from flask import Flask, Response, flash, session
from flask_login import current_user, logout_user

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",  # no inline script anywhere
        "style-src 'self'",
        "img-src 'self' data:",  # data: for the TOTP enrolment QR code
        "font-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "object-src 'none'",
    ]
)

LAST_SEEN_KEY = "last_seen"


def init_security(app: Flask, *, hsts: bool, idle_seconds: int) -> None:
    @app.after_request
    def add_security_headers(response: Response) -> Response:
        # A view may set its own policy and framing (the signing page frames its own PDF); all others get these.
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers["Referrer-Policy"] = "same-origin"
        response.headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=()"
        response.headers["Cross-Origin-Opener-Policy"] = "same-origin"
        if hsts:
            response.headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
        if current_user.is_authenticated:
            # Pages with personal data must not linger in shared browser caches.
            response.headers["Cache-Control"] = "no-store"
        return response

    @app.before_request
    def end_idle_sessions() -> None:
        if LAST_SEEN_KEY not in session:
            return
        now = int(time.time())
        if now - session[LAST_SEEN_KEY] > idle_seconds:
            logout_user()
            session.clear()
            flash("Je was een tijd niet actief en bent daarom uitgelogd. Log opnieuw in.", "info")
            return
        session[LAST_SEEN_KEY] = now


def start_fresh_session() -> None:
    """Drop everything from before the login, so nothing planted earlier survives it."""
    session.clear()
    session[LAST_SEEN_KEY] = int(time.time())
