"""GET /healthz: 200 when database, Redis and worker are up, 503 naming what is down."""

from flask import Blueprint, current_app, jsonify

from domain.health.services import check_database, check_redis, check_worker

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
    body["status"] = "ok" if not down else "down"
    if down:
        body["down"] = down
    return jsonify(body), (200 if not down else 503)
