"""Signing a document through a personal link, at /<slug>/ondertekenen/<token>, without an account.

Step 1 confirms who is signing (a family adult's date of birth, or a code mailed to a gemeente or
stichting signer); step 2 shows the document (framed from a token-scoped PDF route, with a download
link), the tick, the typed name and an optional drawn signature, and a form to decline with a
reason. No JavaScript is needed: the drawing pad (web/static/js/signature-pad.js) is an extra.

The identity check holds for this browser session only (``VERIFIED_KEY``), so a forwarded link
still asks the date of birth again. "Hier laten ondertekenen" on the koppeling page marks the
coordinator's own session (the coordinator vouched for the signer) and sends the browser here.

The link is looked up in the gemeente of the URL only: another gemeente's link is as unknown as a
made-up one (404). A used, expired, withdrawn or declined link gets a page that says so (410) and
signs nothing. Posts are limited per IP address.
"""

from __future__ import annotations

from flask import Response, abort, g, redirect, render_template, request, session, url_for
from flask_babel import lazy_gettext as _l

from domain.documents.signing import (
    CODE_DIGITS,
    NAME_MAX_LENGTH,
    REASON_MAX_LENGTH,
    IdentityError,
    SigningError,
    SigningFormError,
    SigningLinkError,
    check_identity,
    check_link,
    decline,
    document_of,
    identity_method,
    open_link,
    parse_birth_date,
    send_code,
    sign,
)
from tenants.db import db
from web.extensions import limiter
from web.tenancy import tenant_blueprint

signing = tenant_blueprint("signing", __name__, "/ondertekenen")

VERIFIED_KEY = "signing_verified"  # signer ids whose identity was confirmed in this browser session
VERIFIED_MAX = 20
TOO_MANY = _l("Je hebt dit formulier te vaak verstuurd. Probeer het over een uur opnieuw, of neem contact op "
              "met je coördinator.")
PDF_POLICY = "default-src 'none'; frame-ancestors 'self'"
FIELD_ORDER = ("birth_date", "code", "agreed", "typed_name", "drawing", "reason")


def mark_verified(signer_id: int) -> None:
    """Remember in this browser session that the signer's identity was confirmed."""
    verified = [i for i in session.get(VERIFIED_KEY, []) if isinstance(i, int) and i != signer_id]
    session[VERIFIED_KEY] = [*verified, signer_id][-VERIFIED_MAX:]


def _verified(signer) -> bool:
    return signer.identity_checked_at is not None and signer.id in session.get(VERIFIED_KEY, [])


def _client() -> tuple[str | None, str]:
    return request.remote_addr, request.user_agent.string


@signing.after_request
def private_link_headers(response):
    # The token is in the URL and the page shows personal data: never keep it in a cache.
    response.headers["Cache-Control"] = "no-store"
    return response


def _link_not_working(error: SigningLinkError):
    db.session.rollback()
    status = 404 if error.reason == "unknown" else 410
    return render_template("web/public/signing/link_invalid.html", message=str(error), reason=error.reason), status


def _masked(email: str | None) -> str:
    if not email or "@" not in email:
        return ""
    local, domain = email.split("@", 1)
    return f"{local[:1]}…@{domain}"


def _render(token: str, signer, *, errors: dict[str, str] | None = None, values: dict[str, str] | None = None,
            notice: str | None = None, status: int = 200):
    errors = errors or {}
    document = document_of(signer)
    problems = [(name, errors[name]) for name in FIELD_ORDER if name in errors]
    common = {"token": token, "signer": signer, "document": document, "errors": errors, "values": values or {},
              "problems": problems, "notice": notice}
    if _verified(signer):
        page = render_template("web/public/signing/document.html", name_max=NAME_MAX_LENGTH,
                               reason_max=REASON_MAX_LENGTH, **common)
    else:
        page = render_template("web/public/signing/identity.html", method=identity_method(signer),
                               code_digits=CODE_DIGITS, masked_email=_masked(signer.email),
                               code_sent=signer.code_expires_at is not None, **common)
    return page, status


@signing.route("/klaar")
def done():
    return render_template("web/public/signing/done.html")


@signing.route("/geweigerd")
def declined():
    return render_template("web/public/signing/declined.html")


@signing.route("/<token>", methods=["GET", "POST"])
@limiter.limit("30 per hour", methods=["POST"], error_message=lambda: str(TOO_MANY))
def page(token: str):
    ip, ua = _client()
    if request.method == "GET":
        try:
            signer = open_link(g.tenant, token, ip, ua)
        except SigningLinkError as error:
            return _link_not_working(error)
        db.session.commit()
        return _render(token, signer)
    try:
        signer = check_link(g.tenant, token)
    except SigningLinkError as error:
        return _link_not_working(error)
    step = request.form.get("step", "")
    values = {name: request.form.get(name, "")[:20] for name in ("day", "month", "year")}
    try:
        if step == "code_aanvragen":
            send_code(signer, ip, ua)
            db.session.commit()
            return _render(token, signer, notice="code_sent")
        if step == "geboortedatum":
            answer = parse_birth_date(values["day"], values["month"], values["year"])
            if answer is None and any(values.values()):
                raise SigningFormError({"birth_date": "Deze datum bestaat niet. Vul dag, maand en jaar in cijfers in, "
                                                      "bijvoorbeeld 7 3 1985."})
            check_identity(signer, answer, ip, ua)
        elif step == "code":
            check_identity(signer, request.form.get("code", "")[:20], ip, ua)
        else:
            abort(400)
    except SigningLinkError as error:
        return _link_not_working(error)
    except IdentityError as error:
        db.session.commit()  # the failed attempt counts
        return _after_failure(token, signer, error, values)
    except (SigningFormError, SigningError) as error:
        db.session.rollback()
        field = "code" if step.startswith("code") else "birth_date"
        errors = error.errors if isinstance(error, SigningFormError) else {field: str(error)}
        return _render(token, check_link(g.tenant, token), errors=errors, values=values, status=422)
    db.session.commit()
    mark_verified(signer.id)
    return redirect(url_for("signing.page", token=token), 303)


def _after_failure(token: str, signer, error: IdentityError, values: dict[str, str]):
    try:
        signer = check_link(g.tenant, token)
    except SigningLinkError as locked:
        return _link_not_working(locked)
    return _render(token, signer, errors=error.errors, values=values, status=422)


def _verified_signer(token: str):
    signer = check_link(g.tenant, token)
    if not _verified(signer):
        raise _NotVerified(signer)
    return signer


class _NotVerified(Exception):
    def __init__(self, signer):
        self.signer = signer


@signing.route("/<token>/document.pdf")
def pdf(token: str):
    try:
        signer = _verified_signer(token)
    except SigningLinkError as error:
        return _link_not_working(error)
    except _NotVerified:
        db.session.rollback()
        abort(403)
    document = document_of(signer)
    if not document.pdf:
        abort(404)
    disposition = "attachment" if request.args.get("download") else "inline"
    response = Response(document.pdf, mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'{disposition}; filename="document-{document.id}.pdf"'
    # Framed by the signing page itself, and by nothing else.
    response.headers["Content-Security-Policy"] = PDF_POLICY
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    db.session.rollback()
    return response


@signing.route("/<token>/ondertekenen", methods=["POST"])
@limiter.limit("30 per hour", error_message=lambda: str(TOO_MANY))
def sign_document(token: str):
    ip, ua = _client()
    try:
        signer = _verified_signer(token)
        sign(signer, request.form.get("typed_name", "")[:NAME_MAX_LENGTH * 2], request.form.get("agreed") == "ja",
             request.form.get("drawing") or None, ip, ua)
    except SigningLinkError as error:
        return _link_not_working(error)
    except _NotVerified:
        db.session.rollback()
        return redirect(url_for("signing.page", token=token), 303)
    except SigningFormError as error:
        db.session.rollback()
        values = {"typed_name": request.form.get("typed_name", "")[:NAME_MAX_LENGTH],
                  "agreed": request.form.get("agreed", "")}
        return _render(token, check_link(g.tenant, token), errors=error.errors, values=values, status=422)
    except SigningError as error:
        db.session.rollback()
        return render_template("web/public/signing/refused.html", message=str(error)), 409
    db.session.commit()
    return redirect(url_for("signing.done"), 303)


@signing.route("/<token>/weigeren", methods=["POST"])
@limiter.limit("30 per hour", error_message=lambda: str(TOO_MANY))
def decline_document(token: str):
    ip, ua = _client()
    reason = request.form.get("reason", "")[:REASON_MAX_LENGTH * 2]
    try:
        signer = _verified_signer(token)
        decline(signer, reason, ip, ua)
    except SigningLinkError as error:
        return _link_not_working(error)
    except _NotVerified:
        db.session.rollback()
        return redirect(url_for("signing.page", token=token), 303)
    except SigningFormError as error:
        db.session.rollback()
        return _render(token, check_link(g.tenant, token), errors=error.errors,
                       values={"reason": reason[:REASON_MAX_LENGTH]}, status=422)
    db.session.commit()
    return redirect(url_for("signing.declined"), 303)
