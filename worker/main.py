"""Entry point for ``celery -A worker.main``: the one place the worker builds its app."""

from web.app import create_app
from worker.celery_app import celery_init_app

flask_app = create_app()
celery_app = celery_init_app(flask_app)
