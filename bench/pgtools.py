"""PostgreSQL-side measurement helpers for the benches: not a bench itself.

- ``pgbench_tps``: PostgreSQL's own TPC-B on a scratch database, the baseline
  of what the server does for a simple write transaction (``pgbench_run`` and
  ``pgbench_parse`` separately).
- ``db_counters``: pg_stat_database's commits, rows and blocks of one database,
  to diff around a timed phase.
- ``free_connections``: how many more connections the server accepts.
- ``StatementTimer``: a Django ``connection.execute_wrapper`` counting and
  timing SQL statements.
- ``profile_calls`` and ``own_time_by_package``: run a callable in-process,
  half timed clean (statements, SQL time) and half under cProfile, and say
  which packages the Python time goes to.

``make bench`` runs every bench/*.py but common.py: run directly, this module
only defines its helpers and exits 0.
"""

from __future__ import annotations

import cProfile
import pstats
import re
import shutil
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, database_recreate, database_url_for

# --- pgbench ------------------------------------------------------------------------------------


def pgbench_run(url: str, clients: int, seconds: int, *, scale: int = 10, threads: int = 2) -> str:
    """``pgbench -i -s <scale>`` then ``pgbench -c <clients> -j <threads> -T <seconds>`` on ``url``; pgbench's report."""
    pgbench = shutil.which("pgbench")
    if pgbench is None:
        raise RuntimeError("pgbench is not installed (apt-get install postgresql-contrib or postgresql-client)")
    subprocess.run([pgbench, "-i", "-s", str(scale), "-q", url], check=True, capture_output=True)
    done = subprocess.run(
        [pgbench, "-c", str(clients), "-j", str(threads), "-T", str(seconds), url], check=True, capture_output=True, text=True
    )
    return done.stdout


def pgbench_parse(report: str) -> tuple[float, str]:
    """Transactions per second (without initial connection time) and the average latency in ms ("?" if absent)."""
    found = re.search(r"tps = ([\d.]+) \(without initial connection time\)", report)
    if found is None:
        raise RuntimeError(f"cannot read pgbench's tps:\n{report}")
    latency = re.search(r"latency average = ([\d.]+) ms", report)
    return float(found.group(1)), (latency.group(1) if latency else "?")


def pgbench_tps(base_url: str, database: str, clients: int, seconds: int, *, scale: int = 10, threads: int = 2) -> tuple[float, str]:
    """TPC-B on a freshly (re)created ``database`` on ``base_url``'s server: (tps, average latency in ms)."""
    url = database_recreate(database, base_url)
    return pgbench_parse(pgbench_run(url, clients, seconds, scale=scale, threads=threads))


# --- server statistics ----------------------------------------------------------------------------


def db_counters(url: str) -> dict[str, int]:
    """Cumulative commits, rollbacks, rows and blocks of the database of ``url`` (pg_stat_database)."""
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT xact_commit, xact_rollback, tup_inserted, tup_updated, tup_fetched, blks_read, blks_hit "
            "FROM pg_stat_database WHERE datname = current_database()"
        ).fetchone()
    assert row is not None
    names = ["commits", "rollbacks", "rows_inserted", "rows_updated", "rows_fetched", "blocks_read", "blocks_hit"]
    return dict(zip(names, (int(v) for v in row), strict=True))


def free_connections(base_url: str) -> int:
    """max_connections minus the connections open now, on ``base_url``'s server."""
    with psycopg.connect(database_url_for("postgres", base_url)) as conn:
        row = conn.execute("SELECT current_setting('max_connections')::int - (SELECT count(*) FROM pg_stat_activity)").fetchone()
    assert row is not None
    return int(row[0])


# --- in-process profile -----------------------------------------------------------------------------


class StatementTimer:
    """A connection execute wrapper: how many statements, of which kind, and how long they took."""

    def __init__(self) -> None:
        self.milliseconds: list[float] = []
        self.kinds: Counter[str] = Counter()

    def __call__(self, execute: Callable[..., Any], sql: str, params: Any, many: bool, context: dict[str, Any]) -> Any:
        began = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.milliseconds.append((time.perf_counter() - began) * 1000)
            self.kinds[sql.split(None, 1)[0].upper()] += 1


@dataclass(frozen=True)
class CallProfile:
    """Medians over the clean half of ``profile_calls``; ``mix`` of the last clean call, ``own_time`` of the profiled half."""

    calls: int
    total_ms: float
    statements: float
    sql_ms: float
    mix: str
    own_time: str


def profile_calls(calls: list[Callable[[], None]]) -> CallProfile:
    """Run ``calls`` in order on Django's default connection: the first half timed clean, the rest under
    cProfile (which slows Python down). A call raises to abort; the exception propagates."""
    from django.db import connection

    timers: list[tuple[StatementTimer, float]] = []
    profiler = cProfile.Profile()
    for index, call in enumerate(calls):
        timer = StatementTimer()
        began = time.perf_counter()
        profiling = index >= len(calls) // 2
        with connection.execute_wrapper(timer):
            if profiling:
                profiler.enable()
            try:
                call()
            finally:
                if profiling:
                    profiler.disable()
        if not profiling:
            timers.append((timer, (time.perf_counter() - began) * 1000))
    return CallProfile(
        calls=len(timers),
        total_ms=statistics.median(total for _t, total in timers),
        statements=statistics.median(len(t.milliseconds) for t, _total in timers),
        sql_ms=statistics.median(sum(t.milliseconds) for t, _total in timers),
        mix=", ".join(f"{kind} {count}" for kind, count in timers[-1][0].kinds.most_common()),
        own_time=own_time_by_package(profiler),
    )


def own_time_by_package(profiler: cProfile.Profile, top: int = 8) -> str:
    """Share of own (not cumulative) time per package: site-packages name, ``anzenpay:<top folder>``,
    stdlib, builtins, and time spent waiting for PostgreSQL or on sockets."""
    totals: Counter[str] = Counter()
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    for (filename, _line, name), (_calls, _primitive, own_seconds, _cumulative, _callers) in stats.items():
        path = filename.replace("\\", "/")
        if path.endswith("psycopg/connection.py") and name == "wait":
            # psycopg's C wait loop runs inside this frame: this is the time PostgreSQL took to answer.
            package = "waiting for PostgreSQL"
        elif filename == "~" and any(word in name for word in ("wait", "recv", "send", "select", "poll", "connect")):
            package = "waiting on sockets (Redis, PostgreSQL)"
        elif "site-packages/" in path:
            package = path.split("site-packages/", 1)[1].split("/", 1)[0]
        elif str(ROOT) in path:
            package = "anzenpay:" + path.split(str(ROOT) + "/", 1)[1].split("/", 1)[0]
        elif filename.startswith("<") or filename == "~":
            package = "builtins"
        else:
            package = "stdlib"
        totals[package] += own_seconds
    whole = sum(totals.values()) or 1.0
    return ", ".join(f"{package} {seconds / whole:.0%}" for package, seconds in totals.most_common(top))
