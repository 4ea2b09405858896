"""Mass password reset of a million customers, through the real job, against bare SQL.

What it does, all in one run on the DATABASE_URL server:

1. Creates and migrates its own database (``anzenpay_bench_reset``) and builds
   ``--accounts`` customers (1,000,000) inside PostgreSQL (INSERT … SELECT
   generate_series), each with a web session (``django_session`` and its
   ``UserSession`` index row) and an API token. Secondary indexes are built after
   the load, as a restore would.
2. Copies the customers into an identical table (``LIKE wallet_user INCLUDING ALL``)
   for the baseline.
3. Runs the reset the way production does: a supervisor requests it, a second one
   approves it, and a real ``celery worker`` (queue ``bulk``, one process per lane)
   runs the job's lanes; timed from the approval to the job's last commit.
   ``reset_per_s`` = accounts reset per second, everything included (password,
   flag, credentials time, sessions, tokens, one outbox notice each, cursor).
4. Baseline ``sql_per_s``: one bare ``UPDATE`` of the same column with the same
   expression on the identical table, in one statement. ``ratio`` = reset_per_s /
   sql_per_s; the target is >= 0.5 (16.5M accounts in under 10 minutes here).
5. The naive way on a sample (``--naive-sample``, 2,000 more customers with a
   session and a token each): a Python loop with one ``save()`` per customer, its
   token deleted, its sessions ended and a notice written, row by row.
6. ``missed``: customers of the population the job did not reset (must be 0); live
   sessions and tokens left are reported too.

Last line: ``RESULT accounts=… reset_per_s=… sql_per_s=… ratio=… naive_per_s=… missed=…``.
BENCH_KEEP_DB=1 (or ``--keep-db``) keeps the database for inspection; BENCH_WORKER_LOG=<path> keeps
the worker's log (one line per lane slice) there.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, _maintenance_execute, bench_database_create, bench_db_name, indexes_deferred, print_result, say, stopwatch

BENCH_DB = bench_db_name("anzenpay_bench_reset")
BASELINE_TABLE = "bench_reset_baseline"
# The same expression the job uses (backoffice.services.mass_reset.job._batch_sql).
UNUSABLE = "'!' || left(md5(random()::text) || md5(random()::text), 40)"
TABLES = ["wallet_user", "django_session", "wallet_usersession", "wallet_apitoken"]


def django_setup(bench_url: str) -> None:
    os.environ["DATABASE_URL"] = bench_url
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    # The job's lanes go through the broker to a real worker, as in production.
    os.environ["CELERY_TASK_ALWAYS_EAGER"] = "0"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()


def seed(cursor: object, accounts: int, prefix: str, *, first: int = 1) -> None:
    """``accounts`` verified customers with a session (and its index row) and an API token each, in SQL."""
    execute = cursor.execute  # type: ignore[attr-defined]
    execute(
        """
        INSERT INTO wallet_user (password, last_login, is_superuser, email, full_name, name_kana, phone, birth_date,
            email_verified_at, phone_verified_at, status, is_staff, is_active, date_joined, credentials_changed_at,
            must_reset_password, staff_enrollment_open_until, preferred_language)
        SELECT 'pbkdf2_sha256$1000000$benchsalt$' || md5(g::text) || md5('p' || g::text), now() - (g %% 90) * interval '1 day',
               FALSE, %(prefix)s || g || '@example.jp', 'Bench ' || g, 'ベンチ', '+8190' || lpad(g::text, 8, '0'), NULL,
               now(), now(), 'active', FALSE, TRUE, now() - interval '400 days' + g * interval '1 second',
               now() - interval '30 days', FALSE, NULL, CASE WHEN g %% 10 = 0 THEN 'en' ELSE 'ja' END
        FROM generate_series(%(first)s, %(last)s) g
        """,
        {"prefix": prefix, "first": first, "last": first + accounts - 1},
    )
    like = prefix.replace("%", r"\%") + "%"
    execute(
        """
        INSERT INTO django_session (session_key, session_data, expire_date)
        SELECT md5('s' || id::text) || lpad(to_hex(id), 8, '0'), 'e30:bench', now() + interval '12 hours'
        FROM wallet_user WHERE email LIKE %s
        """,
        [like],
    )
    execute(
        """
        INSERT INTO wallet_usersession (session_key, user_id, ip, user_agent, created_at, last_seen_at)
        SELECT md5('s' || id::text) || lpad(to_hex(id), 8, '0'), id, '198.51.100.7', 'Mozilla/5.0 (bench)',
               now() - interval '1 hour', now() - interval '5 minutes'
        FROM wallet_user WHERE email LIKE %s
        """,
        [like],
    )
    execute(
        """
        INSERT INTO wallet_apitoken (user_id, key_digest, key_prefix, label, created_at, last_used_at, second_factor_at)
        SELECT id, encode(sha256(('bench-token:' || id)::bytea), 'hex'), 'anz_ben', 'AnzenPay app', now() - interval '10 days',
               now() - interval '1 day', now() - interval '10 days'
        FROM wallet_user WHERE email LIKE %s
        """,
        [like],
    )


def worker(bench_url: str, log: Path, lanes: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "DATABASE_URL": bench_url, "CELERY_TASK_ALWAYS_EAGER": "0"}
    command = [str(ROOT / ".venv" / "bin" / "celery"), "-A", "config", "worker", "-Q", "bulk", "-c", str(lanes), "-P", "prefork"]
    command += ["-l", "INFO", "--without-gossip", "--without-mingle", "--without-heartbeat", "-n", "bench-reset@%h"]
    handle = log.open("w")
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 120
    while " ready." not in log.read_text():
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the celery worker did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.1)
    return process


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def purge_broker() -> None:
    import redis
    from django.conf import settings

    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    for pattern in ("bulk*", "notifications*", "unacked*"):
        keys = list(client.scan_iter(match=pattern))
        if keys:
            client.delete(*keys)


def run_job(bench_url: str, lanes: int, batch_size: int, tmp: Path) -> tuple[int, float, int]:
    """Request, approve, let the worker run it. Returns (job id, seconds from approval to the last commit, accounts reset)."""
    from backoffice.models import MassReset
    from backoffice.services.approvals import approval_approve
    from backoffice.services.mass_reset import mass_reset_request
    from wallet.models import User

    maker = User.objects.create_user("maker@anzenpay.example", "maker horse battery staple", full_name="Maker", is_staff=True)
    checker = User.objects.create_user("checker@anzenpay.example", "checker horse battery staple", full_name="Checker", is_staff=True)
    from django.contrib.auth.models import Group

    supervisors = Group.objects.get(name="supervisor")
    maker.groups.add(supervisors)
    checker.groups.add(supervisors)
    process = worker(bench_url, tmp / "worker.log", lanes)
    try:
        with stopwatch("request (counts the population)"):
            job = mass_reset_request(filters={"all": True}, reason="bench", acting_user=maker, batch_size=batch_size)
        assert job.approval is not None
        _maintenance_checkpoint(bench_url)
        began = time.perf_counter()
        approval_approve(approval=job.approval, checker=checker, note="bench")
        last_report = began
        while True:
            current = MassReset.objects.get(pk=job.pk)
            if current.state == MassReset.State.DONE:
                break
            if current.state not in (MassReset.State.QUEUED, MassReset.State.RUNNING):
                raise RuntimeError(f"the job stopped in state {current.state}:\n{(tmp / 'worker.log').read_text()[-3000:]}")
            if time.perf_counter() - last_report > 10:
                last_report = time.perf_counter()
                say(f"  … {current.accounts_reset:,} of {current.accounts_estimated:,} after {last_report - began:.0f} s")
            time.sleep(0.05)
        wall = time.perf_counter() - began
        assert current.started_at is not None and current.finished_at is not None
        say(
            f"  job: {current.accounts_reset:,} accounts, {current.sessions_ended:,} sessions, {current.tokens_deleted:,} tokens, "
            f"{current.notices_queued:,} notices in {wall:.1f} s from approval "
            f"({(current.finished_at - current.started_at).total_seconds():.1f} s from the first lane's start), "
            f"{lanes} lanes, batches of {batch_size:,}"
        )
        return job.pk, wall, current.accounts_reset
    finally:
        stop(process)


def _maintenance_checkpoint(bench_url: str) -> None:
    import psycopg

    with psycopg.connect(bench_url, autocommit=True) as conn:
        conn.execute("CHECKPOINT")


def run_baseline(bench_url: str) -> float:
    """The bare UPDATE of the same column, same expression, on the identical table, in one statement."""
    import psycopg

    with psycopg.connect(bench_url, autocommit=True) as conn:
        conn.execute(f"SELECT count(*) FROM {BASELINE_TABLE}")
        conn.execute("CHECKPOINT")
        began = time.perf_counter()
        conn.execute(f"UPDATE {BASELINE_TABLE} SET password = {UNUSABLE}")
        return time.perf_counter() - began


def run_naive(sample: int) -> float:
    """One customer at a time through the ORM: the per-row version of the same work."""
    from django.conf import settings
    from django.contrib.sessions.models import Session
    from django.db import transaction
    from django.utils import timezone

    from backoffice.selectors.mass_reset import NOTICE_KIND
    from wallet.models import ApiToken, Notification, User, UserSession

    began = time.perf_counter()
    for user in User.objects.filter(email__startswith="naive-").order_by("pk").iterator(chunk_size=500):
        with transaction.atomic():
            user.set_unusable_password()
            user.must_reset_password = True
            user.credentials_changed_at = timezone.now()
            user.save(update_fields=["password", "must_reset_password", "credentials_changed_at"])
            ApiToken.objects.filter(user=user).delete()
            keys = list(UserSession.objects.filter(user=user, ended_at__isnull=True).values_list("session_key", flat=True))
            Session.objects.filter(session_key__in=keys).delete()
            UserSession.objects.filter(session_key__in=keys).delete()
            Notification.objects.create(
                user=user, to_address=user.email, kind=NOTICE_KIND, language=user.preferred_language or settings.LANGUAGE_CODE
            )
    elapsed = time.perf_counter() - began
    assert User.objects.filter(email__startswith="naive-", must_reset_password=True).count() == sample
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--accounts", type=int, default=1_000_000, help="customers to reset (default 1,000,000)")
    parser.add_argument("--batch-size", type=int, default=5_000, help="accounts per batch (default 5,000, the job's default)")
    parser.add_argument("--naive-sample", type=int, default=2_000, help="customers reset the naive way (default 2,000)")
    parser.add_argument("--keep-db", action="store_true", default=os.environ.get("BENCH_KEEP_DB") == "1")
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith("postgres") or not os.environ.get("REDIS_URL"):
        say("bench/mass_reset.py needs DATABASE_URL (PostgreSQL) and REDIS_URL; run it with `make bench`.")
        return 2
    base_url = os.environ["DATABASE_URL"]
    say(f"mass reset bench: {args.accounts:,} customers with a session and a token each; database {BENCH_DB}; {os.cpu_count()} CPUs")
    bench_url = bench_database_create(BENCH_DB)
    django_setup(bench_url)
    from django.core.management import call_command
    from django.db import connection

    from backoffice.models import MassReset
    from backoffice.selectors.mass_reset import population_missed
    from backoffice.services.mass_reset import LANES
    from wallet.models import ApiToken, UserSession

    with stopwatch("migrate"):
        call_command("migrate", verbosity=0)
    with stopwatch(f"build {args.accounts:,} customers, sessions and tokens"), connection.cursor() as cursor:
        with indexes_deferred(cursor, TABLES):
            seed(cursor, args.accounts, "bench-")
        for table in TABLES:
            cursor.execute(f"VACUUM ANALYZE {table}")
    with stopwatch("copy the customers into the identical baseline table"), connection.cursor() as cursor:
        cursor.execute(f"CREATE TABLE {BASELINE_TABLE} (LIKE wallet_user INCLUDING ALL)")
        cursor.execute(f"INSERT INTO {BASELINE_TABLE} SELECT * FROM wallet_user WHERE NOT is_staff")
        cursor.execute(f"VACUUM ANALYZE {BASELINE_TABLE}")
    connection.close()

    purge_broker()
    with tempfile.TemporaryDirectory(prefix="anzenpay-bench-reset-") as tmp:
        job_id, job_seconds, reset = run_job(bench_url, LANES, args.batch_size, Path(tmp))
        if os.environ.get("BENCH_WORKER_LOG"):
            Path(os.environ["BENCH_WORKER_LOG"]).write_text((Path(tmp) / "worker.log").read_text())
    purge_broker()
    reset_per_s = reset / job_seconds

    job = MassReset.objects.get(pk=job_id)
    missed = population_missed(job)
    live_sessions = UserSession.objects.filter(ended_at__isnull=True, user__is_staff=False).count()
    live_tokens = ApiToken.objects.filter(user__is_staff=False).count()
    say(f"  left behind: {missed} customers not reset, {live_sessions} live sessions, {live_tokens} tokens")

    sql_seconds = run_baseline(bench_url)
    sql_per_s = args.accounts / sql_seconds
    say(f"  baseline: bare UPDATE of {args.accounts:,} rows of the identical table in one statement: {sql_seconds:.1f} s")

    with connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(max(id), 0) FROM wallet_user")
        row = cursor.fetchone()
        seed(cursor, args.naive_sample, "naive-", first=int(row[0]) + 1 if row else 1)
        cursor.execute("VACUUM ANALYZE wallet_user")
    naive_seconds = run_naive(args.naive_sample)
    naive_per_s = args.naive_sample / naive_seconds
    say(f"  naive: {args.naive_sample:,} customers one save() at a time in {naive_seconds:.1f} s")
    ratio = reset_per_s / sql_per_s
    say(
        f"  {reset_per_s:,.0f} accounts/s through the job = {ratio:.2f} × bare SQL ({sql_per_s:,.0f}/s), "
        f"{reset_per_s / naive_per_s:,.0f} × the naive loop ({naive_per_s:,.0f}/s); "
        f"16.5M accounts would take {16_500_000 / reset_per_s / 60:.1f} min"
    )
    connection.close()
    if not args.keep_db:
        _maintenance_execute(base_url, f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')
    print_result(
        accounts=args.accounts,
        reset_per_s=round(reset_per_s),
        sql_per_s=round(sql_per_s),
        ratio=ratio,
        naive_per_s=round(naive_per_s),
        missed=missed,
    )
    return 0 if missed == 0 and live_sessions == 0 and live_tokens == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
