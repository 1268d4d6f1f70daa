"""GET /healthz: 200 when database, Redis and worker are up, 503 naming what is down.

Also reports the age of the oldest outbox job that is due but not done (``outbox.oldest_due_seconds``,
null when there is none), without letting it decide the status.
"""

from flask import Blueprint, current_app, jsonify

from domain.health.services import check_database, check_redis, check_worker, outbox_oldest_due_seconds

health = Blueprint("health", __name__)


@health.route("/healthz")
def healthz():
    redis = current_app.extensions["redis"]
    namespace = current_app.extensions["settings"].redis_namespace
    problems = {
        "database": check_database(),
        "redis": check_redis(redis),
        "worker": check_worker(redis, namespace),
    }
    body = {name: ("ok" if problem is None else f"down: {problem}") for name, problem in problems.items()}
    down = sorted(name for name, problem in problems.items() if problem is not None)
    # Reported only: a backlog does not make the app unhealthy, but the operator should see it.
    body["outbox"] = {"oldest_due_seconds": outbox_oldest_due_seconds()}
    body["status"] = "ok" if not down else "down"
    if down:
        body["down"] = down
    return jsonify(body), (200 if not down else 503)
