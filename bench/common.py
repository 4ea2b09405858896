"""Helpers shared by the benchmarks (``make bench`` runs every bench/*.py but this one).

Each bench creates and migrates its own database on the server of
``DATABASE_URL``, so a run never touches the development or test data, and
ends with one ``RESULT name=value …`` line (``print_result``).
"""

from __future__ import annotations

import math
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlparse, urlunparse

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def say(message: str) -> None:
    print(message, flush=True)


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of ``values``; 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def _format(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value).replace(" ", "_")


def print_result(**values: object) -> None:
    """The last line of every bench: ``RESULT name=value …`` in the order given."""
    say("RESULT " + " ".join(f"{name}={_format(value)}" for name, value in values.items()))


@contextmanager
def stopwatch(label: str) -> Iterator[None]:
    started = time.perf_counter()
    yield
    say(f"  {label}: {time.perf_counter() - started:.1f} s")


def database_url_for(name: str, base: str | None = None) -> str:
    """``DATABASE_URL`` (or ``base``) pointing at database ``name`` on the same server."""
    base = base or os.environ.get("DATABASE_URL", "")
    if not base.startswith("postgres"):
        raise SystemExit("Benchmarks need DATABASE_URL pointing at PostgreSQL (make bench sets it).")
    return urlunparse(urlparse(base)._replace(path=f"/{name}"))


def _maintenance_execute(base: str, *statements: str) -> None:
    import psycopg

    with psycopg.connect(database_url_for("postgres", base), autocommit=True) as connection:
        for statement in statements:
            connection.execute(statement)  # type: ignore[arg-type]


def _safe_name(name: str) -> str:
    if not name.replace("_", "").isalnum():
        raise ValueError(f"unsafe database name {name!r}")
    return name


def bench_db_name(name: str) -> str:
    """``name`` with ``$BENCH_DB_SUFFIX`` appended (empty by default): the smoke tests (tests/bench) run each
    bench on databases of their own, so they never drop the ones a ``make bench`` beside them uses."""
    return _safe_name(name + os.environ.get("BENCH_DB_SUFFIX", ""))


def database_recreate(name: str, base: str | None = None, *, template: str = "") -> str:
    """Drop and create database ``name`` (a copy of ``template`` if given) on the server of ``base``
    (default DATABASE_URL). Returns its URL; unlike ``bench_database_create`` it leaves ``os.environ`` alone."""
    _safe_name(name)
    base = base or os.environ.get("DATABASE_URL", "")
    create = f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{_safe_name(template)}"' if template else "")
    _maintenance_execute(base, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', create)
    return database_url_for(name, base)


def bench_database_create(name: str) -> str:
    """Drop and create database ``name`` on DATABASE_URL's server; point DATABASE_URL at it. Returns the URL.

    With ``$BENCH_TEMPLATE_DB`` set, the database starts as a copy of that (migrated, otherwise empty)
    database, so the bench's ``migrate`` finds nothing to do: the smoke tests migrate once for all benches."""
    url = database_recreate(name, template=os.environ.get("BENCH_TEMPLATE_DB", ""))
    os.environ["DATABASE_URL"] = url
    return url


@contextmanager
def indexes_deferred(cursor: Any, tables: Sequence[str]) -> Iterator[None]:
    """Bulk loads: drop the secondary indexes and unique constraints of ``tables``
    (primary keys stay, so foreign keys still resolve) and build them again after
    the load, sorted, which is several times faster than maintaining them per row."""
    restore: list[str] = []
    for table in tables:
        cursor.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'u'", [table]
        )
        for name, definition in cursor.fetchall():
            cursor.execute(f'ALTER TABLE "{table}" DROP CONSTRAINT "{name}"')
            restore.append(f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" {definition}')
        cursor.execute(
            """SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s
               AND indexname NOT IN (SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass)""",
            [table, table],
        )
        for name, definition in cursor.fetchall():
            cursor.execute(f'DROP INDEX "{name}"')
            restore.append(definition)
    yield
    for statement in restore:
        cursor.execute(statement)


def django_setup(*, debug: bool = False) -> None:
    """Configure Django for a bench process: settings from the environment, tasks eager, quiet logs."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("CELERY_TASK_ALWAYS_EAGER", "1")
    os.environ.setdefault("DJANGO_DEBUG", "1" if debug else "0")
    os.environ.setdefault("DJANGO_SECRET_KEY", "bench-only-" + "x" * 50)
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()


def migrate() -> None:
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def gunicorn(
    env: Mapping[str, str], *, workers: int, access_log: Path, error_log: Path, probe: str = "/", access_format: str = "%(D)s %(s)s %(U)s"
) -> Iterator[str]:
    """gunicorn (sync workers) serving config.wsgi on a free local port, with ``env`` over this process's environment.
    Yields the base URL once ``probe`` answers at all (X-Forwarded-Proto https, so production settings do not redirect);
    stops it with SIGTERM on exit. The access log is written with ``access_format`` (default: µs, status, path)."""
    import requests

    port = free_port()
    command = [
        str(ROOT / ".venv" / "bin" / "gunicorn"),
        "config.wsgi",
        "-w",
        str(workers),
        "-b",
        f"127.0.0.1:{port}",
        "--access-logfile",
        str(access_log),
        "--access-logformat",
        access_format,
        "--error-logfile",
        str(error_log),
        "--backlog",
        "2048",
    ]
    process = subprocess.Popen(command, cwd=ROOT, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {process.returncode}; see {error_log}:\n{error_log.read_text()[-3000:]}")
            try:
                requests.get(f"{base}{probe}", headers={"X-Forwarded-Proto": "https"}, timeout=10)
                break
            except requests.RequestException:  # not listening yet, or a worker still importing Django
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        yield base
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
