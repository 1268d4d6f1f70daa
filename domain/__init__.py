"""The core, one sub-package per feature. Never imports web, worker or flask.request."""
