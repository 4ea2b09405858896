"""Store payments per second through the real stack, against PostgreSQL's own TPC-B.

What it does, all in one run on the DATABASE_URL server:

1. Creates and migrates its own database (``anzenpay_bench_pay``), seeds
   customers whose balances come from real ledger transfers, one merchant with
   terminals, and one payment code per customer issued by ``payment_code_issue``.
2. Starts gunicorn with production settings (DJANGO_DEBUG=0) and drives
   ``POST /api/v1/terminal/payments/`` from many concurrent terminals, each
   request with its own Idempotency-Key, measuring latency client-side and
   server-side (gunicorn's access log).
3. Shows where the time goes: SQL statements and SQL time per payment (one
   request profiled in-process), PostgreSQL commits and rows per payment.
4. Runs ``pgbench -i -s 10`` and ``pgbench -c <same concurrency> -j 2 -T 30``
   on a scratch database: the baseline of what this server does for a simple
   write transaction. ``ratio`` = payments/s over pgbench's tps.
5. Proves the ledger (``ledger_verify``): drift = violations + |cached
   balances - wallet entries|, which must be 0.

Scale with BENCH_SECONDS (timed phase), BENCH_CUSTOMERS (most timed payments, one code each), BENCH_CONCURRENCY,
BENCH_TERMINALS, BENCH_WORKERS, PGBENCH_SECONDS, PGBENCH_SCALE. BENCH_KEEP_DB=1 keeps the
databases for inspection.
"""

from __future__ import annotations

import os
import random
import secrets
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common
from bench.common import _maintenance_execute, bench_database_create, bench_db_name, percentile, say
from bench.pgtools import db_counters, free_connections, pgbench_tps, profile_calls

CUSTOMERS = int(os.environ.get("BENCH_CUSTOMERS", "4000"))
SECONDS = float(os.environ.get("BENCH_SECONDS", "30"))
WARMUP = int(os.environ.get("BENCH_WARMUP", "300"))
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "32"))
TERMINALS = int(os.environ.get("BENCH_TERMINALS", "16"))
WORKERS = int(os.environ.get("BENCH_WORKERS", str(2 * (os.cpu_count() or 1) + 1)))
PGBENCH_SECONDS = int(os.environ.get("PGBENCH_SECONDS", "30"))
PGBENCH_SCALE = int(os.environ.get("PGBENCH_SCALE", "10"))
START_BALANCE_YEN = 20_000
BENCH_DB = bench_db_name("anzenpay_bench_pay")
PGBENCH_DB = bench_db_name("anzenpay_bench_pgbench")
SECRET_KEY = secrets.token_urlsafe(50)


# --- setup (in this process, through the services) -----------------------------------------


@dataclass(frozen=True)
class Seeded:
    terminal_keys: list[str]
    codes: list[str]  # one live payment code per customer


def django_setup(bench_url: str, redis_url: str) -> None:
    os.environ["DATABASE_URL"] = bench_url
    os.environ["REDIS_URL"] = redis_url
    os.environ["DJANGO_DEBUG"] = "0"
    os.environ["DJANGO_SECRET_KEY"] = SECRET_KEY  # gunicorn gets the same: code and key digests are keyed with it
    # Tasks queue on Redis as in production (common's default is eager); gunicorn inherits this environment.
    os.environ.setdefault("CELERY_TASK_ALWAYS_EAGER", "0")
    common.django_setup()


def seed(customers: int) -> Seeded:
    from django.contrib.auth.hashers import make_password
    from django.db import connection
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from wallet.models import LedgerAccount, Terminal, Transfer, User
    from wallet.services.ledger import Leg, system_account, transfer_post
    from wallet.services.payments import payment_code_issue
    from wallet.services.terminals import merchant_create, terminal_create

    merchant = merchant_create(name="Bench Mart", code="bench-mart")
    keys = [terminal_create(merchant=merchant, name=f"Register {i}", kind=Terminal.Kind.STORE_REGISTER)[1] for i in range(TERMINALS)]
    # Customers in bulk (a password hash each would take minutes and is not what is measured).
    unusable = make_password(None)
    users = User.objects.bulk_create(
        [User(email=f"bench{i}@example.jp", password=unusable, full_name=f"Bench {i}") for i in range(customers)], batch_size=2000
    )
    # Only an account with an authenticator moves money (A13): every bench customer has one.
    TOTPDevice.objects.bulk_create(
        [TOTPDevice(user=u, name="Authenticator app", confirmed=True, tolerance=1) for u in users], batch_size=2000
    )
    wallets = LedgerAccount.objects.bulk_create(
        [LedgerAccount(kind=LedgerAccount.Kind.CUSTOMER_WALLET, code=f"wallet:{u.pk}", owner=u, balance_yen=0) for u in users],
        batch_size=2000,
    )
    # Balances only through ledger transfers, so ledger_check holds from the first row.
    clearing = system_account("cash_clearing")
    for start in range(0, len(wallets), 500):
        batch = wallets[start : start + 500]
        transfer_post(
            kind=Transfer.Kind.TOPUP,
            legs=[Leg(clearing, -START_BALANCE_YEN * len(batch)), *(Leg(w, START_BALANCE_YEN) for w in batch)],
            idempotency_key=f"bench-seed:{start}",
            description="bench seed",
        )

    def issue(chunk: list[User]) -> list[str]:
        try:
            return [payment_code_issue(user=user).code for user in chunk]
        finally:
            connection.close()

    chunks = [users[i::8] for i in range(8)]
    with ThreadPoolExecutor(8) as pool:
        codes = [code for issued in pool.map(issue, chunks) for code in issued]
    random.Random(7).shuffle(codes)
    return Seeded(terminal_keys=keys, codes=codes)


# --- gunicorn -------------------------------------------------------------------------------


def gunicorn(bench_url: str, redis_url: str, access_log: Path, error_log: Path) -> AbstractContextManager[str]:
    env = {
        "DATABASE_URL": bench_url,
        "REDIS_URL": redis_url,
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": SECRET_KEY,
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "LOG_LEVEL": "WARNING",
    }
    return common.gunicorn(env, workers=WORKERS, access_log=access_log, error_log=error_log, probe="/api/v1/terminal/payments/")


# --- load -----------------------------------------------------------------------------------


@dataclass
class LoadResult:
    latencies_ms: list[float]
    statuses: Counter[str]
    seconds: float


def drive(base: str, keys: list[str], codes: list[str], concurrency: int, seconds: float = 0.0) -> LoadResult:
    """``concurrency`` terminals, each a keep-alive session taking the next customer in line,
    until the codes run out or ``seconds`` have passed."""
    url = f"{base}/api/v1/terminal/payments/"
    next_index = iter(range(len(codes)))
    lock = threading.Lock()
    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    start = threading.Barrier(concurrency + 1)
    stop_at = time.perf_counter() + 3600.0

    def terminal(index: int) -> None:
        session = requests.Session()
        headers = {"Authorization": f"Terminal {keys[index % len(keys)]}", "X-Forwarded-Proto": "https"}
        rng = random.Random(index)
        mine: list[float] = []
        seen: Counter[str] = Counter()
        start.wait()
        while not (seconds and time.perf_counter() > stop_at):
            with lock:
                i = next(next_index, None)
            if i is None:
                break
            body: dict[str, Any] = {"code": codes[i], "amount_yen": rng.randint(100, 2_000), "description": "bench"}
            began = time.perf_counter()
            try:
                response = session.post(url, json=body, headers={**headers, "Idempotency-Key": str(uuid.uuid4())}, timeout=60)
                outcome = str(response.status_code)
                if response.status_code != 201:
                    outcome += f" {response.json().get('code', '') if 'json' in response.headers.get('Content-Type', '') else ''}"
            except requests.RequestException as exc:
                outcome = f"error {type(exc).__name__}"
            mine.append((time.perf_counter() - began) * 1000)
            seen[outcome] += 1
        with lock:
            latencies.extend(mine)
            statuses.update(seen)

    threads = [threading.Thread(target=terminal, args=(i,)) for i in range(concurrency)]
    for thread in threads:
        thread.start()
    began = time.perf_counter()
    stop_at = began + seconds
    start.wait()
    for thread in threads:
        thread.join()
    return LoadResult(latencies_ms=latencies, statuses=statuses, seconds=time.perf_counter() - began)


def server_times_ms(access_log: Path, skip: int) -> list[float]:
    times = []
    for line in access_log.read_text().splitlines()[skip:]:
        parts = line.split()
        if len(parts) >= 3 and parts[2] == "/api/v1/terminal/payments/" and parts[0].isdigit():
            times.append(int(parts[0]) / 1000)
    return times


# --- where the time goes ----------------------------------------------------------------------


class PaymentFailed(Exception):
    pass


def profile_in_process(key: str, codes: list[str]) -> list[str]:
    """Run a few payments through the same view in this process: SQL statements and time per request."""
    from django.test import Client

    client = Client(HTTP_HOST="127.0.0.1", HTTP_AUTHORIZATION=f"Terminal {key}", HTTP_X_FORWARDED_PROTO="https")

    def pay(code: str) -> None:
        response = client.post(
            "/api/v1/terminal/payments/",
            {"code": code, "amount_yen": 500},
            content_type="application/json",
            headers={"Idempotency-Key": str(uuid.uuid4())},
        )
        if response.status_code != 201:
            raise PaymentFailed(f"{response.status_code} {response.content[:300]!r}")

    try:  # half the requests are timed clean, half under the profiler (which slows Python down)
        found = profile_calls([partial(pay, code) for code in codes])
    except PaymentFailed as failed:
        return [f"  in-process profile failed: {failed}"]
    return [
        f"  in-process, one request at a time ({found.calls} payments, medians): {found.total_ms:.1f} ms per payment, "
        f"{found.statements:.0f} SQL statements taking {found.sql_ms:.1f} ms ({found.sql_ms / found.total_ms:.0%}); "
        "the rest is Python (DRF, Django, services)",
        f"  statement mix of one payment: {found.mix}",
        f"  own time by package under cProfile: {found.own_time}",
    ]


def purge_broker() -> int:
    """Each payment queues a notification relay; no worker runs here, so drop what piled up,
    and the risk counters this run left in Redis."""
    from django.core.cache import cache

    from config.celery import app

    purged = 0
    try:
        with app.connection_for_write() as conn:
            for queue in ("default", "notifications", "bulk", "payouts"):
                purged += conn.default_channel.queue_purge(queue) or 0  # type: ignore[attr-defined]
    except Exception as exc:
        say(f"  (could not purge the Celery queues: {exc})")
    cache.clear()
    return purged


# --- main -------------------------------------------------------------------------------------------


def main() -> int:
    base_url = os.environ.get("DATABASE_URL", "")
    redis_url = os.environ.get("REDIS_URL", "")
    if not base_url.startswith("postgres") or not redis_url:
        say("bench/payments.py needs DATABASE_URL (PostgreSQL) and REDIS_URL; run it with `make bench`.")
        return 2
    concurrency = min(CONCURRENCY, max(4, free_connections(base_url) - WORKERS - 10))
    say(
        f"payments bench: up to {CUSTOMERS:,} payments or {SECONDS:.0f} s (+{WARMUP} warm-up), one customer and code each, "
        f"{TERMINALS} terminals, {concurrency} concurrent terminals, "
        f"gunicorn -w {WORKERS} (sync), {os.cpu_count()} CPUs; database {BENCH_DB}"
    )
    bench_url = bench_database_create(BENCH_DB)
    django_setup(bench_url, redis_url)
    from django.core.management import call_command
    from django.db import connection

    began = time.perf_counter()
    call_command("migrate", verbosity=0)
    # Risk velocity counters live in Redis under user ids, which restart in a fresh database:
    # last run's counters would decline this run's payments.
    from django.core.cache import cache

    cache.clear()
    migrated = time.perf_counter()
    seeded = seed(CUSTOMERS + WARMUP + 20)
    say(f"  setup: migrate {migrated - began:.1f} s, seed and issue {len(seeded.codes):,} codes {time.perf_counter() - migrated:.1f} s")
    connection.close()
    warmup_codes, profile_codes, timed_codes = seeded.codes[:WARMUP], seeded.codes[WARMUP : WARMUP + 20], seeded.codes[WARMUP + 20 :]

    with tempfile.TemporaryDirectory(prefix="anzenpay-bench-") as tmp:
        access_log, error_log = Path(tmp) / "access.log", Path(tmp) / "error.log"
        with gunicorn(bench_url, redis_url, access_log, error_log) as base:
            drive(base, seeded.terminal_keys, warmup_codes, concurrency)
            time.sleep(0.5)
            skip = len(access_log.read_text().splitlines())
            before = db_counters(bench_url)
            load = drive(base, seeded.terminal_keys, timed_codes, concurrency, SECONDS)
            time.sleep(1.0)  # gunicorn writes its access log after the response
        after = db_counters(bench_url)  # the workers have exited, so their statistics are flushed
        server_ms = server_times_ms(access_log, skip)
        errors_tail = error_log.read_text()[-2000:] if load.statuses.get("201", 0) != sum(load.statuses.values()) else ""

    ok = load.statuses.get("201", 0)
    payments_per_s = ok / load.seconds
    p50, p99 = percentile(load.latencies_ms, 50), percentile(load.latencies_ms, 99)
    sent = sum(load.statuses.values())
    say(f"  load: {sent:,} requests in {load.seconds:.1f} s; answers {dict(load.statuses)}")
    say(f"  client latency: p50 {p50:.1f} ms, p90 {percentile(load.latencies_ms, 90):.1f} ms, p99 {p99:.1f} ms")
    if server_ms:
        say(
            f"  server time (gunicorn, request in to response out): p50 {percentile(server_ms, 50):.1f} ms, "
            f"p99 {percentile(server_ms, 99):.1f} ms; the rest of the client's time is queueing for one of {WORKERS} workers"
        )
    if ok:
        delta = {name: after[name] - before[name] for name in after}
        say(
            "  PostgreSQL per payment: "
            + ", ".join(f"{name.replace('_', ' ')} {value / ok:.1f}" for name, value in delta.items() if name != "blocks_read")
        )
    if errors_tail:
        say(f"  gunicorn error log (tail):\n{errors_tail}")

    say("Where the time goes:")
    for line in profile_in_process(seeded.terminal_keys[0], profile_codes):
        say(line)
    say(f"  (dropped {purge_broker():,} queued notification relays: no Celery worker runs in the bench)")

    from wallet.services.ledger_audit import ledger_verify

    report = ledger_verify()
    for line in report.lines():
        say(f"  {line}")
    connection.close()

    say(f"pgbench TPC-B on {PGBENCH_DB}: scale {PGBENCH_SCALE}, {concurrency} clients, 2 threads, {PGBENCH_SECONDS} s ...")
    tps, pg_latency = pgbench_tps(base_url, PGBENCH_DB, concurrency, PGBENCH_SECONDS, scale=PGBENCH_SCALE)
    say(f"  pgbench: {tps:,.0f} tps, latency average {pg_latency} ms")

    if os.environ.get("BENCH_KEEP_DB") != "1":
        _maintenance_execute(base_url, *(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)' for name in (BENCH_DB, PGBENCH_DB)))

    ratio = payments_per_s / tps if tps else 0.0
    say(
        f"RESULT payments_per_s={payments_per_s:.1f} pgbench_tps={tps:.1f} ratio={ratio:.3f} "
        f"p50_ms={p50:.1f} p99_ms={p99:.1f} drift={report.drift}"
    )
    return 0 if report.drift == 0 and ok == sent else 1


if __name__ == "__main__":
    sys.exit(main())
