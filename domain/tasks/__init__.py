"""The coordinator's task list: what is due, derived from the records (no task table)."""
