"""Liveness of the platform's parts: database, Redis, worker."""
