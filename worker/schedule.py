"""The beat schedule, in one place."""

BEAT_SCHEDULE = {
    "worker-heartbeat": {"task": "health.heartbeat", "schedule": 15.0},
}
