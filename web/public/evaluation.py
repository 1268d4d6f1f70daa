"""The evaluation form a family reaches through its personal link, at /<slug>/evaluatie/<token>.

No account and no JavaScript. The link is looked up in the gemeente of the URL only, so a link of
another gemeente is as unknown as a made-up one (404). A used or expired link gets the same page
with 410 Gone. Posts are limited per IP address, like the registration forms.
"""

from __future__ import annotations

from flask import g, redirect, render_template, request, url_for
from flask_babel import lazy_gettext as _l

from domain.evaluations.models import EvaluationRole
from domain.evaluations.services import (
    CONTINUE_CHOICES,
    GOALS,
    REMARKS_MAX_LENGTH,
    SATISFIED_CHOICES,
    SCORES,
    EvaluationAnswerError,
    EvaluationLinkError,
    answer_evaluation,
    check_link,
    moment_kind,
)
from tenants.db import db
from web.auth.flow import client_actor
from web.extensions import limiter
from web.tenancy import tenant_blueprint

evaluation = tenant_blueprint("evaluation", __name__, "/evaluatie")

TOO_MANY = _l("Je hebt dit formulier te vaak verstuurd. Probeer het over een uur opnieuw, of neem contact op "
              "met je coördinator.")
FIELD_ORDER = ("satisfied", "wants_to_continue", *(key for key, _, _ in GOALS), "remarks")


@evaluation.after_request
def private_link_headers(response):
    # The token is in the URL: never keep the page in a cache. (The app-wide Referrer-Policy,
    # same-origin, already keeps it from other sites.)
    response.headers["Cache-Control"] = "no-store"
    return response


def _link_not_working(error: EvaluationLinkError):
    db.session.rollback()
    status = 404 if error.reason == "unknown" else 410
    return render_template("web/public/evaluation/link_invalid.html", message=str(error)), status


@evaluation.route("/bedankt")
def thanks():
    return render_template("web/public/evaluation/thanks.html")


@evaluation.route("/<token>", methods=["GET", "POST"])
@limiter.limit("30 per hour", methods=["POST"], error_message=lambda: str(TOO_MANY))
def form(token: str):
    try:
        found = check_link(g.tenant, token)
    except EvaluationLinkError as error:
        return _link_not_working(error)
    role = EvaluationRole(found.role)
    moment = moment_kind(found.moment)
    db.session.rollback()  # nothing is open yet; the answer is stored in its own transaction below
    values: dict[str, str] = {}
    errors: dict[str, str] = {}
    status = 200
    if request.method == "POST":
        values = {name: request.form.get(name, "") for name in FIELD_ORDER}
        try:
            answer_evaluation(g.tenant, token, values, client_actor("gezin (evaluatielink)"))
        except EvaluationLinkError as error:
            return _link_not_working(error)
        except EvaluationAnswerError as error:
            db.session.rollback()
            errors = error.errors
            status = 422
        else:
            db.session.commit()
            return redirect(url_for("evaluation.thanks"))
    problems = [(name, errors[name]) for name in FIELD_ORDER if name in errors]
    return render_template(
        "web/public/evaluation/form.html", token=token, role=role.value, moment=moment, values=values,
        errors=errors, problems=problems, satisfied_choices=SATISFIED_CHOICES, continue_choices=CONTINUE_CHOICES,
        goals=GOALS, scores=SCORES, remarks_max=REMARKS_MAX_LENGTH,
    ), status
