"""Real Celery workers for the reliability tests (T4, T5, T6, T12).

A ``Worker`` is a ``celery -A config worker`` subprocess on the test database, fed
through the Redis broker of ``REDIS_URL``, in its own process group so ``kill()``
(SIGKILL of the group) takes the pool's children with it, as ``kill -9`` of a
container would. Nothing about the worker is faked: the test only chooses its
queues, its concurrency, extra environment and, where the scenario needs one,
settings laid over ``config.settings`` (``settings=``).

``preload`` names test modules the overlay imports too, such as
``tests.reliability.build_pause``, which connects to Celery's signals to hold a payout build
at a checkpoint inside its transaction (T4).

Settings overlays exist because ``config/settings.py`` reads no environment variable
for Celery's broker transport options, and the redelivery scenarios need a short Redis
visibility timeout. The overlay is a generated module next to the worker's log,
``from config.settings import *`` plus the overrides, named by the worker's
``DJANGO_SETTINGS_MODULE``; the worker is still ``celery -A config``.

Tests take workers through ``workers_running()`` (each module's ``workers`` fixture):
it turns this process's eager mode off (it publishes to the broker as the web
process does), empties the broker before and after, and stops every worker it was
handed.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlparse, urlunparse

import redis
from django.conf import settings as django_settings
from django.db import connection

from config.celery import app as celery_app
from config.queues import BULK_QUEUE, WORKER_QUEUES

ROOT = Path(__file__).resolve().parents[2]
CELERY = ROOT / ".venv" / "bin" / "celery"
QUEUES = WORKER_QUEUES
# Every key the Redis transport keeps for our queues and for unacknowledged messages.
BROKER_KEY_PATTERNS = (*(f"{queue}*" for queue in QUEUES), "unacked*")


def redelivery_settings(visibility_timeout: float, *, restore_every: float = 0.5) -> dict[str, Any]:
    """Broker transport options that make Redis hand an unacknowledged message to a worker
    again ``visibility_timeout`` seconds after it was delivered, checked every ``restore_every``
    seconds (kombu's defaults: one hour, checked every 10 × 10 s). The restore mutex expires
    after 5 s instead of 300, so a worker killed while holding it does not stall the others."""
    return {
        "CELERY_BROKER_TRANSPORT_OPTIONS": {
            "visibility_timeout": visibility_timeout,
            "unacked_restore_interval": restore_every,
            "unacked_restore_throttle": 1,
            "unacked_mutex_expire": 5,
        }
    }


def worker_database_url() -> str:
    """DATABASE_URL pointing at the database this test runs on (pytest-django's ``test_…``)."""
    base = urlparse(os.environ["DATABASE_URL"])
    return urlunparse(base._replace(path=f"/{connection.settings_dict['NAME']}"))


def _settings_module(directory: Path, name: str, overrides: Mapping[str, Any], preload: Iterable[str] = ()) -> str:
    module = "anzen_worker_settings_" + re.sub(r"\W", "_", name)
    lines = [
        f'"""Settings of the test worker {name}: config.settings with the overrides below."""',
        "",
        "from config.settings import *  # noqa: F403",
        "",
    ]
    lines += [f"import {preloaded}  # noqa: E402, F401" for preloaded in preload]
    lines += [f"{key} = {value!r}" for key, value in overrides.items()]
    (directory / f"{module}.py").write_text("\n".join(lines) + "\n")
    return module


class Worker:
    """A real ``celery worker`` in its own process group so SIGKILL takes its children too."""

    def __init__(
        self,
        name: str,
        log: Path,
        *,
        queues: Iterable[str] = (BULK_QUEUE,),
        concurrency: int = 2,
        pool: str = "prefork",
        env: Mapping[str, str] | None = None,
        settings: Mapping[str, Any] | None = None,
        preload: Iterable[str] = (),
    ) -> None:
        self.name = name
        self.hostname = f"{name}@{socket.gethostname()}"
        self.log = log
        environment = {**os.environ, "DATABASE_URL": worker_database_url(), "CELERY_TASK_ALWAYS_EAGER": "0", **(env or {})}
        if settings or preload:
            module = _settings_module(log.parent, name, settings or {}, preload)
            environment["DJANGO_SETTINGS_MODULE"] = module
            environment["PYTHONPATH"] = os.pathsep.join([str(log.parent), str(ROOT), environment.get("PYTHONPATH", "")]).rstrip(os.pathsep)
        self.handle = log.open("w")
        command = [str(CELERY), "-A", "config", "worker", "-Q", ",".join(queues), "-c", str(concurrency), "-P", pool, "-l", "INFO"]
        command += ["--without-gossip", "--without-mingle", "--without-heartbeat", "-n", self.hostname]
        self.process = subprocess.Popen(
            command, cwd=ROOT, env=environment, stdout=self.handle, stderr=subprocess.STDOUT, start_new_session=True
        )

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_ready(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while " ready." not in self.text():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the worker did not start:\n{self.text()[-3000:]}")
            time.sleep(0.05)

    def consume(self, queue: str, timeout: float = 10) -> None:
        """Start consuming ``queue`` now (remote control), so a worker started in advance takes
        over the moment the previous one is killed instead of after its 2–3 s start-up."""
        replies = celery_app.control.add_consumer(queue, destination=[self.hostname], reply=True, timeout=timeout)
        if not any(self.hostname in reply for reply in replies or []):
            raise AssertionError(f"{self.hostname} did not answer add_consumer({queue}): {replies}\n{self.text()[-3000:]}")

    def stop_consuming(self, queue: str, timeout: float = 10) -> None:
        """Stop taking messages from ``queue`` (remote control); what is published next waits in the queue."""
        replies = celery_app.control.cancel_consumer(queue, destination=[self.hostname], reply=True, timeout=timeout)
        if not any(self.hostname in reply for reply in replies or []):
            raise AssertionError(f"{self.hostname} did not answer cancel_consumer({queue}): {replies}\n{self.text()[-3000:]}")

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def received(self, task_name: str) -> list[str]:
        """Ids of the ``task_name`` messages this worker took from the broker, one per delivery."""
        return re.findall(rf"Task {re.escape(task_name)}\[([0-9a-f-]+)\] received", self.text())

    def succeeded(self, task_name: str) -> list[str]:
        return re.findall(rf"Task {re.escape(task_name)}\[([0-9a-f-]+)\] succeeded", self.text())

    def kill(self) -> None:
        """``kill -9`` of the worker and its pool children: no shutdown, no acknowledgement."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)
        self.handle.close()

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()
        self.handle.close()


def broker_clear() -> None:
    """Drop every queued and unacknowledged message of our queues (this test's Redis db)."""
    client = redis.Redis.from_url(django_settings.CELERY_BROKER_URL)
    for pattern in BROKER_KEY_PATTERNS:
        keys = list(client.scan_iter(match=pattern))
        if keys:
            client.delete(*keys)


def broker_pending(queue: str) -> tuple[int, int]:
    """(messages waiting in ``queue``, messages delivered but not yet acknowledged, any queue)."""
    client = redis.Redis.from_url(django_settings.CELERY_BROKER_URL)
    return int(client.llen(queue)), int(client.hlen("unacked"))


def sessions_waiting_for_a_lock() -> int:
    """Other sessions on this test database blocked on a lock (an advisory lock, a row another session holds)."""
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()
               AND wait_event_type = 'Lock'"""
        )
        row = cursor.fetchone()
    return int(row[0]) if row else 0


def transactions_open_elsewhere() -> int:
    """Other sessions on this test database inside a transaction (a worker's, until it commits or its
    backend notices the worker was killed and rolls back)."""
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()
               AND backend_type = 'client backend' AND xact_start IS NOT NULL"""
        )
        row = cursor.fetchone()
    return int(row[0]) if row else 0


def wait_until(condition: Callable[[], object], *, timeout: float, message: Callable[[], str] | str, every: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(message() if callable(message) else message)
        time.sleep(every)


@contextmanager
def workers_running() -> Iterator[list[Worker]]:
    """A list to append started workers to; every one is stopped at the end.

    Test modules wrap it in their ``workers`` fixture (three lines, and no plugin
    registration that would make pytest warn about assertion rewriting)."""
    # This process publishes to the broker like the web process does.
    eager = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = False
    broker_clear()
    started: list[Worker] = []
    try:
        yield started
    finally:
        celery_app.conf.task_always_eager = eager
        for worker in started:
            worker.stop()
        broker_clear()
