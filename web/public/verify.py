"""The public verify page, /verifieer: anyone uploads a PDF and learns whether it is a sealed
document of this platform, unchanged, who signed it and when.

It belongs to no gemeente: the record is found by the file's SHA-256 through a narrow database
function (see domain/documents/verification.py). Nothing uploaded is stored or logged. The upload
may be larger than the app-wide request limit, so the CSRF check runs in the view, after the
larger limit for this one request is set. Posts are limited per IP address, like the other public
forms. No JavaScript.
"""

from __future__ import annotations

from flask import Blueprint, current_app, render_template, request
from flask_babel import lazy_gettext as _l
from werkzeug.exceptions import RequestEntityTooLarge

from domain.documents.finalising import ROLE_LABELS
from domain.documents.verification import verify_upload
from tenants.db import db
from web.extensions import csrf, limiter

verify = Blueprint("verify", __name__)

MAX_UPLOAD_BYTES = 10 * 1024 * 1024
TOO_MANY = _l("Je hebt te vaak een bestand laten controleren. Probeer het over een uur opnieuw.")
TOO_LARGE = _l("Dit bestand is te groot. Een document van het platform is kleiner dan 10 MB.")
NO_FILE = _l("Kies het PDF-bestand dat je wilt controleren.")
NOT_PDF = _l("Dit is geen PDF-bestand. Kies het PDF-bestand van het document.")


@verify.after_request
def no_caching(response):
    # The answer names the people who signed: never keep it in a shared cache.
    response.headers["Cache-Control"] = "no-store"
    return response


@verify.route("/verifieer", methods=["GET", "POST"])
@csrf.exempt  # checked below, once this request's larger upload limit is in force
@limiter.limit("30 per hour", methods=["POST"], error_message=lambda: str(TOO_MANY))
def index():
    if request.method == "GET":
        return render_template("web/public/verify.html", error=None, outcome=None, roles=ROLE_LABELS)
    request.max_content_length = MAX_UPLOAD_BYTES
    try:
        csrf.protect()
        upload = request.files.get("pdf")
        data = upload.read(MAX_UPLOAD_BYTES + 1) if upload is not None else b""
    except RequestEntityTooLarge:
        return _form_error(str(TOO_LARGE), 413)
    if not data:
        return _form_error(str(NO_FILE), 422)
    if len(data) > MAX_UPLOAD_BYTES:
        return _form_error(str(TOO_LARGE), 413)
    if not data.lstrip()[:5].startswith(b"%PDF-") and b"%PDF-" not in data[:1024]:
        return _form_error(str(NOT_PDF), 422)
    outcome = verify_upload(data, settings=current_app.extensions["settings"])
    db.session.rollback()  # read only
    return render_template("web/public/verify.html", error=None, outcome=outcome, roles=ROLE_LABELS)


def _form_error(message: str, status: int):
    return render_template("web/public/verify.html", error=message, outcome=None, roles=ROLE_LABELS), status
