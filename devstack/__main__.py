"""`python -m devstack run [--profile dev|test] -- CMD ARGS...`"""

from __future__ import annotations

import argparse
import fcntl
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import IO

from devstack import postgres_server, redis_server

# Signals that end CMD: forwarded to it, never acted on by us directly, so we always get to
# stop the servers after CMD has finished with them.
_FORWARDED = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT}
# si_code of a signal the tty driver sends to the whole foreground process group (Ctrl-C):
# CMD received it too, forwarding would make it a second Ctrl-C (pytest and honcho would
# then abort their own clean-up).
_SI_KERNEL = 0x80


def _say(message: str) -> None:
    print(f"devstack: {message}", file=sys.stderr, flush=True)


def _lock_profile(state_dir: Path) -> IO[str]:
    """One devstack per profile: two would share (and stop) each other's servers.

    flock dies with its process, so a crashed run never leaves the profile locked.
    """
    state_dir.mkdir(parents=True, exist_ok=True)
    handle = (state_dir / "devstack.lock").open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "?"
        raise SystemExit(
            f"devstack: another devstack (pid {holder}) is running with the servers in {state_dir}.\n"
            "Stop it first, use another --profile, or point DATABASE_URL and REDIS_URL at running servers."
        ) from None
    handle.truncate(0)
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle


def _run(cmd: list[str], env: dict[str, str]) -> int:
    """Run CMD in the foreground, forwarding signals sent to us; return its exit status."""
    watched = {*_FORWARDED, signal.SIGCHLD}
    # Blocked and collected with sigtimedwait, because only siginfo tells a Ctrl-C from a kill.
    signal.pthread_sigmask(signal.SIG_BLOCK, watched)
    try:
        child = subprocess.Popen(cmd, env=env, preexec_fn=lambda: signal.pthread_sigmask(signal.SIG_UNBLOCK, watched))
        while child.poll() is None:
            info = signal.sigtimedwait(watched, 0.5)
            if info is None or info.si_signo == signal.SIGCHLD:
                continue
            if info.si_signo == signal.SIGINT and info.si_code == _SI_KERNEL:
                continue
            child.send_signal(info.si_signo)
    finally:
        # From here on we are shutting down: a late Ctrl-C or kill must not cut the servers' stop short.
        for signum in _FORWARDED:
            signal.signal(signum, signal.SIG_IGN)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, watched)
    # A child killed by a signal exits like a shell reports it.
    return child.returncode if child.returncode >= 0 else 128 - child.returncode


def run(profile: str, cmd: list[str]) -> int:
    env = dict(os.environ)
    need_pg = not env.get("DATABASE_URL")
    need_redis = not env.get("REDIS_URL")
    if not (need_pg or need_redis):
        return _run(cmd, env)

    # cwd, not the package location: devstack may be installed non-editable into a venv.
    state_dir = Path.cwd().resolve() / "var" / profile
    lock = _lock_profile(state_dir)
    pg: postgres_server.EmbeddedPostgres | None = None
    rd: redis_server.EmbeddedRedis | None = None
    try:
        if need_pg:
            pg = postgres_server.start(state_dir / "pg")
            env["DATABASE_URL"] = pg.url
            _say(f"PostgreSQL in {pg.pgdata}: DATABASE_URL={pg.url}")
        if need_redis:
            rd = redis_server.start(state_dir)
            env["REDIS_URL"] = rd.url
            _say(f"Redis: REDIS_URL={rd.url}")
        return _run(cmd, env)
    except KeyboardInterrupt:
        return 130
    finally:
        # Ctrl-C during start-up or shut-down must not leave half-stopped servers behind.
        for signum in _FORWARDED:
            signal.signal(signum, signal.SIG_IGN)
        if rd is not None:
            rd.stop()
        if pg is not None:
            pg.stop()
        if pg is not None or rd is not None:
            _say("embedded servers stopped")
        lock.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run_parser = sub.add_parser("run", help="run CMD with DATABASE_URL and REDIS_URL pointing at servers")
    run_parser.add_argument(
        "--profile", choices=["dev", "test"], default="dev", help="servers' state under var/PROFILE"
    )
    run_parser.add_argument("cmd", nargs=argparse.REMAINDER, help="-- CMD ARGS...")
    args = parser.parse_args(argv)
    cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    if not cmd:
        parser.error("missing CMD after --")
    return run(args.profile, cmd)


if __name__ == "__main__":
    sys.exit(main())
