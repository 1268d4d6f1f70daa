"""Embedded PostgreSQL and Redis for machines that have neither.

`python -m devstack run [--profile dev|test] -- CMD ARGS...` starts the servers that
`DATABASE_URL` / `REDIS_URL` do not already point at, runs CMD with those variables set,
and stops what it started when CMD ends. Used by `make run` and `make test`.
"""
