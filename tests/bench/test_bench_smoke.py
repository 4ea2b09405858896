"""Every benchmark of ``make bench`` runs once at a tiny size inside ``make test``, so a rename or a
changed signature in the code a bench drives breaks the suite, not the next measurement.

Each bench runs as ``make bench`` runs it (``python bench/<name>.py``, production settings, its own
database on DATABASE_URL's server), only smaller: a few seconds each. The figures mean nothing at this
size; what is checked is that the bench runs to its end, passes its own checks (exit status 0) and
prints its final ``RESULT name=value …`` line.

The benches migrate one template database made here instead of five fresh ones
(``BENCH_TEMPLATE_DB``), and their databases carry a suffix of this process
(``BENCH_DB_SUFFIX``), so a ``make bench`` or another suite on the same server is left alone. Under
pytest-xdist they run together on one worker (tests/conftest.py), so the template is made once.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from bench.common import database_url_for

ROOT = Path(__file__).resolve().parents[2]
SUFFIX = f"_smoke{os.getpid()}"
TEMPLATE = f"anzenpay_bench_template{SUFFIX}"

# (bench, arguments, environment): the smallest sizes each accepts that still run every step.
BENCHES: list[tuple[str, list[str], dict[str, str]]] = [
    (
        "payments",
        [],
        {
            "BENCH_CUSTOMERS": "30",
            "BENCH_SECONDS": "1",
            "BENCH_WARMUP": "10",
            "BENCH_WORKERS": "2",
            "BENCH_CONCURRENCY": "4",
            "BENCH_TERMINALS": "4",
            "PGBENCH_SECONDS": "1",
            "PGBENCH_SCALE": "1",
        },
    ),
    ("risk", [], {"BENCH_RISK_USERS": "200", "BENCH_RISK_TRANSACTIONS": "2000", "BENCH_RISK_DECISIONS": "50", "BENCH_RISK_WARMUP": "20"}),
    ("hunt", ["--transactions", "10000"], {}),
    ("mass_reset", ["--accounts", "2000", "--batch-size", "500", "--naive-sample", "20"], {}),
    ("payouts", ["--claims", "50"], {}),
]


def _environment(**extra: str) -> dict[str, str]:
    """This process's environment as `make bench` would give it: production settings, tasks queued."""
    env = {key: value for key, value in os.environ.items() if key not in {"DJANGO_DEBUG", "CELERY_TASK_ALWAYS_EAGER"}}
    return {**env, "DJANGO_SETTINGS_MODULE": "config.settings", "DJANGO_SECRET_KEY": "bench-smoke-" + "x" * 50, **extra}


def _maintenance(*statements: str) -> None:
    with psycopg.connect(database_url_for("postgres"), autocommit=True) as connection:
        for statement in statements:
            connection.execute(statement.encode())


@pytest.fixture(scope="module")
def template() -> Iterator[str]:
    """A migrated, otherwise empty database every bench starts as a copy of."""
    _maintenance(f'DROP DATABASE IF EXISTS "{TEMPLATE}" WITH (FORCE)', f'CREATE DATABASE "{TEMPLATE}"')
    try:
        done = subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
            cwd=ROOT,
            env=_environment(DATABASE_URL=database_url_for(TEMPLATE), LOG_LEVEL="WARNING"),
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, f"migrating the benches' template failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        yield TEMPLATE
    finally:
        # The template, and whatever a bench that failed half-way left behind.
        with psycopg.connect(database_url_for("postgres"), autocommit=True) as connection:
            names = [row[0] for row in connection.execute("SELECT datname FROM pg_database WHERE datname LIKE %s", [f"%{SUFFIX}"])]
        _maintenance(*(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)' for name in names))


@pytest.mark.parametrize(("bench", "arguments", "extra"), BENCHES, ids=[bench for bench, _a, _e in BENCHES])
def test_bench_runs_to_its_result_line_at_a_tiny_size(template: str, bench: str, arguments: list[str], extra: dict[str, str]) -> None:
    script = ROOT / "bench" / f"{bench}.py"
    done = subprocess.run(
        [sys.executable, str(script), *arguments],
        cwd=ROOT,
        env=_environment(BENCH_TEMPLATE_DB=template, BENCH_DB_SUFFIX=SUFFIX, **extra),
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = f"{done.stdout[-4000:]}\n--- stderr ---\n{done.stderr[-4000:]}"
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    assert done.returncode == 0, f"bench/{bench}.py exited with {done.returncode}:\n{output}"
    assert lines and lines[-1].startswith("RESULT "), f"bench/{bench}.py did not end with its RESULT line:\n{output}"
    assert "=" in lines[-1]
