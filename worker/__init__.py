"""Celery worker and beat: thin tasks that call domain services."""
