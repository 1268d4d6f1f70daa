"""The transactional outbox: background work written in the caller's transaction, run by the worker."""
