"""The reliability tests run one at a time and with half the server's connections taken.

- Under pytest-xdist they are one unit of work (tests/conftest.py, ``pytest_xdist_make_scheduler``),
  so they run one after the other on one xdist worker: they start real Celery workers, kill
  processes and open up to the connection budget (tests/helpers.py: 40) each, which two of
  them at once would exceed.
- While they run, ``_connections_held_elsewhere`` holds ``TEST_HELD_CONNECTIONS`` (50) idle
  PostgreSQL connections, as another application on the same server would: every
  ``make test`` proves the suite passes with 50 of the server's 100 connections in use.
  50 held + 40 for the test (its own, its threads', its Celery workers') + the other xdist
  worker's few stays under ``max_connections``; the fixture refuses to start otherwise.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from urllib.parse import urlparse, urlunparse

import psycopg
import pytest

from tests.helpers import CONNECTION_BUDGET

HELD_CONNECTIONS = int(os.environ.get("TEST_HELD_CONNECTIONS", "50"))
# Connections left for the other xdist worker's tests and for psql, on top of the held ones and the budget.
MARGIN = 8


def _maintenance_url() -> str:
    """DATABASE_URL's server, its ``postgres`` database: idle connections there count against
    ``max_connections`` like any other, and keep no test database from being dropped."""
    return urlunparse(urlparse(os.environ["DATABASE_URL"])._replace(path="/postgres"))


@pytest.fixture(scope="package", autouse=True)
def _connections_held_elsewhere() -> Iterator[int]:
    """Hold ``HELD_CONNECTIONS`` idle connections while this package's tests run."""
    url = _maintenance_url()
    with psycopg.connect(url, autocommit=True) as probe:
        row = probe.execute("SELECT current_setting('max_connections')::int, (SELECT count(*) FROM pg_stat_activity)").fetchone()
    assert row is not None
    max_connections, in_use = int(row[0]), int(row[1])
    if max_connections < HELD_CONNECTIONS + CONNECTION_BUDGET + MARGIN:
        pytest.fail(
            f"{HELD_CONNECTIONS} held + {CONNECTION_BUDGET} for a test + {MARGIN} spare connections pass the server's "
            f"max_connections={max_connections}: lower TEST_HELD_CONNECTIONS"
        )
    # Another suite on this server (a developer's, next to CI's) already uses some: hold fewer, and say so.
    count = max(0, min(HELD_CONNECTIONS, max_connections - in_use - CONNECTION_BUDGET - MARGIN))
    if count < HELD_CONNECTIONS:
        warnings.warn(
            f"the reliability tests ran with {count} idle connections held, not {HELD_CONNECTIONS}: {in_use} were already in use",
            stacklevel=1,
        )
    held = [psycopg.connect(url, autocommit=True, application_name="anzenpay-tests-held") for _ in range(count)]
    try:
        yield count
    finally:
        for connection in held:
            connection.close()
